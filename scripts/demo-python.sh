#!/usr/bin/env bash
# Python demo: trains a small MLP scorer on synthetic queries with spearman_loss, once with
# rank_relax.torch (autograd, Adam) and once with rank_relax.jax (jit + grad), printing the
# held-out Spearman correlation rising well above its start; then learns to select the k best items
# of each query with soft_topk (PyTorch), printing the held-out precision@k rising from chance;
# then learns to rank padded queries of different lengths with a mask, by the masked ndcg_loss and
# by a NeuralNDCG-style loss on neural_sort_apply (PyTorch and JAX), printing the held-out NDCG@10
# before and after. Builds and installs the wheel into .venv first (maturin build --release;
# REBUILD=0 keeps an installed one). About a minute.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

PY="$ROOT/.venv/bin/python"
PKG="$ROOT/packages/python"
[ -x "$PY" ] || { echo "demo-python.sh: no .venv: run scripts/setup.sh" >&2; exit 1; }
if [ "${REBUILD:-1}" = 1 ] || ! (cd / && "$PY" -c 'import rank_relax') 2>/dev/null; then
  WHEELS="${CARGO_TARGET_DIR:-$ROOT/target}/python-wheels"
  rm -rf "$WHEELS"
  (cd "$PKG" && maturin build --release --quiet --out "$WHEELS")
  "$PY" -m pip install --quiet --force-reinstall --no-deps "$WHEELS"/rank_relax-*.whl
fi
cd "$PKG/examples"
"$PY" train_torch.py
"$PY" train_jax.py
"$PY" select_topk_torch.py
"$PY" ltr_torch.py
"$PY" ltr_jax.py
