#!/usr/bin/env bash
# crates/rank-relax-julia-check: RankRelax.jl driven from Rust through jlrs 0.8 (Julia 1.5.3
# embedded), against the core called directly on the same Rust-owned buffers. Builds the C library
# (cargo build --release -p rank-relax-ffi), lints the crate with its `julia` feature, then runs
# its test: every reference case (RANK_RELAX_REFERENCE, and testdata/reference/wave2-*.json for
# soft_topk, soft_quantile, neural_sort and neural_sort_apply, masks.json for masked rows) in Float64 and Float32, bit for bit, the
# in-place forms and where they write, the bad-input matrix's `julia` cases. Last line:
# `rank-relax-julia-check: N passed, M failed`.
#
# Needs what `scripts/setup.sh julia` installs (the private julia, Julia's C headers and libclang,
# scripts/lib/julia_dev.sh). Where they are missing it prints one line saying why and exits 0 --
# except under CI (CI set), where that is a failure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh
# shellcheck source=scripts/lib/common.sh
source scripts/lib/common.sh
# shellcheck source=scripts/lib/julia.sh
source scripts/lib/julia.sh
# shellcheck source=scripts/lib/julia_dev.sh
source scripts/lib/julia_dev.sh

why="$(rr_julia_dev_missing)"
if [ -n "$why" ]; then
  if [ -n "${CI:-}" ]; then
    echo "test-julia-check: cannot run: $why" >&2
    exit 1
  fi
  echo "test-julia-check: skipped: $why"
  exit 0
fi
rr_julia_dev_env
cargo build --release --locked -p rank-relax-ffi
cargo clippy --release --locked -p rank-relax-julia-check --all-targets --features julia -- -D warnings
cargo test --release --locked -p rank-relax-julia-check --features julia --test julia -- "$@"
