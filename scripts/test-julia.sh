#!/usr/bin/env bash
# RankRelax.jl's tests: builds the C library (cargo build --release -p rank-relax-ffi), then runs
# packages/julia/RankRelax/test/runtests.jl offline with the Test stdlib: every reference case
# (RANK_RELAX_REFERENCE, default testdata/reference/ops-v1.json from the repository root, and the
# wave2-*.json and masks.json files beside it) in Float64 and Float32, finite differences of every pullback, zero copy, errors, the loader, the
# ChainRulesCore extension against a test stub, docstrings. Its last line is Test's summary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

if ! command -v julia >/dev/null 2>&1; then
  echo "test-julia: julia not found; run scripts/setup.sh (it installs .tools/bin/julia)" >&2
  exit 1
fi
cargo build --release -p rank-relax-ffi
julia --startup-file=no --history-file=no --project=packages/julia/RankRelax \
  packages/julia/RankRelax/test/runtests.jl "$@"
