#!/usr/bin/env bash
# The Python checks of the `rank-relax` distribution (packages/python), run against the INSTALLED
# wheel, never the source tree:
#   1. the generated Python files (pyo3 glue, rank_relax/_generated.py, torch/jax modules, stub,
#      test table) are what rank-relax-codegen makes from bindings-spec/ now;
#   2. `maturin build --release` makes the abi3 wheel, installed into .venv with
#      pip --force-reinstall --no-deps;
#   3. ruff check + ruff format --check over packages/python, mypy over the installed package;
#   4. pytest over packages/python/tests from a directory where the source is not importable:
#      every reference case (RANK_RELAX_REFERENCE, default testdata/reference/ops-v1.json from the
#      repository root) through the NumPy, torch and JAX APIs in f64 and f32 with VJPs, the shared
#      bad-input matrix (RANK_RELAX_BAD_INPUT, default testdata/bad-input.json), gradcheck,
#      opcheck, torch.compile, check_grads, torchsort parity, the ABI check, …;
#   5. a fresh venv with only numpy (+ pytest to run the tests) gets the wheel, and the suite runs
#      there: the NumPy tests pass, the torch and JAX ones skip.
# Needs scripts/setup.sh (the .venv with maturin, torch, jax, torchsort). RANK_RELAX_SKIP_SMOKE=1
# skips step 5 (it downloads numpy and pytest into the fresh venv unless pip has them cached).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

PY="$ROOT/.venv/bin/python"
PKG="$ROOT/packages/python"
WHEELS="${CARGO_TARGET_DIR:-$ROOT/target}/python-wheels"
[ -x "$PY" ] && "$PY" -c 'import maturin, pytest, torch, jax' 2>/dev/null ||
  { echo "test-python.sh: .venv is missing or incomplete: run scripts/setup.sh" >&2; exit 1; }
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

echo "==> generated Python files up to date (rank-relax-codegen generate into a scratch root)"
mkdir -p "$SCRATCH/root"
cp -r bindings-spec "$SCRATCH/root/"
node codegen/bin/rank-relax-codegen.mjs generate --root "$SCRATCH/root" >/dev/null
stale=0
while IFS= read -r path; do
  rel="${path#"$SCRATCH/root/"}"
  case "$rel" in
    crates/rank-relax-python/* | packages/python/*) ;;
    *) continue ;;
  esac
  if ! cmp -s "$path" "$rel"; then
    echo "stale: $rel (run pnpm generate)" >&2
    stale=1
  fi
done < <(find "$SCRATCH/root" -type f | LC_ALL=C sort)
[ "$stale" -eq 0 ] || exit 1
echo "generated Python files: up to date"

echo "==> maturin build --release (abi3 wheel)"
rm -rf "$WHEELS"
(cd "$PKG" && maturin build --release --out "$WHEELS")
WHEEL="$(find "$WHEELS" -name 'rank_relax-*.whl' | head -n 1)"
[ -n "$WHEEL" ] || { echo "no wheel in $WHEELS" >&2; exit 1; }

echo "==> pip install --force-reinstall --no-deps $(basename "$WHEEL")"
"$PY" -m pip install --quiet --force-reinstall --no-deps "$WHEEL"

echo "==> ruff check + ruff format --check; mypy on the installed package (its stub and py.typed)"
(cd "$PKG" && ruff check . && ruff format --check .)
mkdir -p "$SCRATCH/run"
(cd "$SCRATCH/run" && "$PY" -m mypy --no-incremental -p rank_relax)

echo "==> pytest against the installed package"
(cd "$SCRATCH/run" && "$PY" -m pytest "$PKG/tests" -p no:cacheprovider -q "$@")

if [ -n "${RANK_RELAX_SKIP_SMOKE:-}" ]; then
  echo "==> fresh-venv smoke test skipped (RANK_RELAX_SKIP_SMOKE)"
  exit 0
fi
echo "==> fresh venv with numpy only: install the wheel, run the suite (torch/JAX tests skip)"
pin() { sed -n "s/^$1==\([^ ]*\).*/\1/p" "$PKG/requirements-dev.txt"; }
"$PY" -m venv "$SCRATCH/smoke"
SMOKE="$SCRATCH/smoke/bin/python"
"$SMOKE" -m pip install --quiet --disable-pip-version-check "numpy==$(pin numpy)" "pytest==$(pin pytest)"
"$SMOKE" -m pip install --quiet --disable-pip-version-check --no-index --no-deps "$WHEEL"
(cd "$SCRATCH/run" && "$SMOKE" -c 'import rank_relax, sys; assert "torch" not in sys.modules' &&
  "$SMOKE" -m pytest "$PKG/tests" -p no:cacheprovider -q -o addopts="" --no-header)
