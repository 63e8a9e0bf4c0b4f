#!/usr/bin/env bash
# The main job (the README's first command): set up every toolchain, generate every binding from
# bindings-spec/, build every package, and run the end-to-end demos.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

bash scripts/setup.sh
# shellcheck source=scripts/env.sh
source scripts/env.sh

printf '\n==> generate bindings from bindings-spec/\n'
pnpm -s generate
printf '\n==> build the core and the C library\n'
cargo build --release --workspace --locked
printf '\n==> demo: C\n'
bash scripts/demo-c.sh
printf '\n==> demo: Node\n'
bash scripts/demo-node.sh
printf '\n==> demo: Julia\n'
bash scripts/demo-julia.sh
printf '\n==> demo: Python (PyTorch and JAX)\n'
bash scripts/demo-python.sh
