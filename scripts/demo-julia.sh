#!/usr/bin/env bash
# The Julia demo: builds the C library, then learns a linear scorer by gradient descent on
# RankRelax.spearman_loss with the gradient from spearman_loss_pullback, printing the Spearman
# correlation rising (packages/julia/RankRelax/examples/demo.jl). Exits non-zero if it does not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

if ! command -v julia >/dev/null 2>&1; then
  echo "demo-julia: julia not found; run scripts/setup.sh (it installs .tools/bin/julia)" >&2
  exit 1
fi
cargo build --release -p rank-relax-ffi
julia --startup-file=no --history-file=no --project=packages/julia/RankRelax \
  packages/julia/RankRelax/examples/demo.jl
