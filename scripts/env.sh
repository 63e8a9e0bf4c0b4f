# shellcheck shell=bash
# Project environment. Source it, don't run it:
#
#   source scripts/env.sh        (from anywhere; paths come from this file's location)
#
# Puts the tools that scripts/setup.sh installs first on PATH (.tools/bin for the
# julia wrapper, .venv/bin for python/maturin/pytest/ruff), and sets the project's
# environment variables. Safe to source repeatedly; changes no shell options.

if [ -n "${BASH_SOURCE[0]:-}" ]; then
  __rr_env_file="${BASH_SOURCE[0]}"
elif [ -n "${ZSH_VERSION:-}" ]; then
  # shellcheck disable=SC2296
  __rr_env_file="${(%):-%x}"
else
  __rr_env_file="$0"
fi
RANK_RELAX_ROOT="$(cd "$(dirname "$__rr_env_file")/.." && pwd -P)"
export RANK_RELAX_ROOT
unset __rr_env_file

# PATH: .tools/bin, then .venv/bin, then whatever was there (without duplicates).
__rr_path=":${PATH:-}:"
for __rr_dir in "$RANK_RELAX_ROOT/.venv/bin" "$RANK_RELAX_ROOT/.tools/bin"; do
  __rr_path="${__rr_path//:$__rr_dir:/:}"
  __rr_path=":$__rr_dir$__rr_path"
done
__rr_path="${__rr_path#:}"
PATH="${__rr_path%:}"
export PATH
unset __rr_path __rr_dir

# Python: the project's virtual environment (maturin develop needs VIRTUAL_ENV).
if [ -x "$RANK_RELAX_ROOT/.venv/bin/python" ]; then
  export VIRTUAL_ENV="$RANK_RELAX_ROOT/.venv"
fi
unset PYTHONHOME
export PYTHONDONTWRITEBYTECODE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Julia: a project-local depot (holds the empty offline registry setup.sh makes).
export JULIA_DEPOT_PATH="${JULIA_DEPOT_PATH:-$RANK_RELAX_ROOT/.tools/julia-depot}"

# Node / turbo.
export TURBO_TELEMETRY_DISABLED=1
export TURBO_NO_UPDATE_NOTIFIER=1
export DO_NOT_TRACK=1

# Rust: no colour codes in CI logs.
if [ -n "${CI:-}" ] && [ "${CI:-}" != "false" ] && [ "${CI:-}" != "0" ]; then
  export CARGO_TERM_COLOR=never
fi

# Reference vectors (expected op outputs): the repository's copy (testdata/reference/) by default.
if [ -z "${RANK_RELAX_REFERENCE:-}" ]; then
  RANK_RELAX_REFERENCE="$RANK_RELAX_ROOT/testdata/reference/ops-v1.json"
fi
export RANK_RELAX_REFERENCE
# The reference vectors of the later ops (testdata/README.md), for readers that run outside the
# repository (the release test's copies of the binding tests).
if [ -z "${RANK_RELAX_REFERENCE_WAVE2:-}" ]; then
  RANK_RELAX_REFERENCE_WAVE2="$RANK_RELAX_ROOT/testdata/reference/wave2-topk-quantile.json"
fi
export RANK_RELAX_REFERENCE_WAVE2
if [ -z "${RANK_RELAX_REFERENCE_NEURAL_SORT:-}" ]; then
  RANK_RELAX_REFERENCE_NEURAL_SORT="$RANK_RELAX_ROOT/testdata/reference/wave2-neural-sort.json"
fi
export RANK_RELAX_REFERENCE_NEURAL_SORT
if [ -z "${RANK_RELAX_REFERENCE_MASKS:-}" ]; then
  RANK_RELAX_REFERENCE_MASKS="$RANK_RELAX_ROOT/testdata/reference/masks.json"
fi
export RANK_RELAX_REFERENCE_MASKS
if [ -z "${RANK_RELAX_REFERENCE_SORT_TOPK:-}" ]; then
  RANK_RELAX_REFERENCE_SORT_TOPK="$RANK_RELAX_ROOT/testdata/reference/soft-sort-topk.json"
fi
export RANK_RELAX_REFERENCE_SORT_TOPK
if [ -z "${RANK_RELAX_REFERENCE_GROUPED:-}" ]; then
  RANK_RELAX_REFERENCE_GROUPED="$RANK_RELAX_ROOT/testdata/reference/soft-rank-grouped.json"
fi
export RANK_RELAX_REFERENCE_GROUPED
