#!/usr/bin/env bash
# The documentation's checks: every code example in docs/index.md, docs/guides/*.md and the
# generated API reference docs/api/*.md runs against the built packages (scripts/docs_examples.py:
# python in .venv, julia with RankRelax.jl on the load path, ts type-checked and run with node
# against packages/node, c compiled against include/ + the static library, sh with bash), and
# scripts/docs_figure.py still draws the figure. A broken example is reported as file:line; the
# last line is `docs: N passed, M failed`.
#
# Builds what is missing first: the C library (cargo build --release -p rank-relax-ffi, cheap when
# up to date), the Node addon and package (packages/node: when dist/ or the addon is missing), the
# Python wheel (maturin build + pip install into .venv, as scripts/test-python.sh does: when
# `import rank_relax` fails). RANK_RELAX_DOCS_REBUILD=1 rebuilds Node and Python anyway.
# Arguments go to docs_examples.py: `--lang python,julia`, `--list`, or Markdown files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || { echo "check-docs.sh: no .venv: run scripts/setup.sh" >&2; exit 1; }
REBUILD="${RANK_RELAX_DOCS_REBUILD:-0}"

echo "==> C library (cargo build --release -p rank-relax-ffi)"
cargo build --release --quiet -p rank-relax-ffi

NODE_PKG=packages/node
if [ "$REBUILD" = 1 ] || [ ! -f "$NODE_PKG/dist/index.mjs" ] || ! compgen -G "$NODE_PKG/rank-relax.*.node" >/dev/null; then
  echo "==> Node addon and package"
  [ -x "$NODE_PKG/node_modules/.bin/napi" ] || pnpm install --frozen-lockfile --filter @rank-relax/node
  pnpm -C "$NODE_PKG" -s run build
fi
[ -x "$NODE_PKG/node_modules/.bin/tsc" ] || pnpm install --frozen-lockfile --filter @rank-relax/node

if [ "$REBUILD" = 1 ] || ! "$PY" -c 'import rank_relax, rank_relax.torch, rank_relax.jax' 2>/dev/null; then
  echo "==> Python wheel (maturin build --release, pip install into .venv)"
  WHEELS="${CARGO_TARGET_DIR:-$ROOT/target}/python-wheels"
  rm -rf "$WHEELS"
  (cd packages/python && maturin build --release --quiet --out "$WHEELS")
  "$PY" -m pip install --quiet --force-reinstall --no-deps "$(find "$WHEELS" -name 'rank_relax-*.whl' | head -n 1)"
fi

echo "==> the figure script runs (scripts/docs_figure.py into a scratch file)"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
"$PY" scripts/docs_figure.py --out "$SCRATCH/convergence.png"

echo "==> every example in the docs"
"$PY" scripts/docs_examples.py "$@"
