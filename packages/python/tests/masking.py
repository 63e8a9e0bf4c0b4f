"""What a masked call must equal: each row computed on its present items alone (the compacted row,
``n_valid`` items in their order) and scattered back, zeros elsewhere (ALGORITHMS.md, "Masks").

Helpers shared by the mask tests of every API: random masks (empty and full rows included), the
compacted view of one row of an input- or output-shaped array, and the scatter back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from _spec import OPS

#: Where each op's output puts a row's present items: ``items`` at their own positions, ``sorted``
#: first (``n_valid`` values, then zeros), ``matrix`` (neural_sort's P: rows are sorted positions,
#: columns items), ``row`` a result of the row as a whole (a loss, the quantiles).
LAYOUT = {
    "soft_rank": "items",
    "soft_rank_grouped": "items",
    "sigmoid_rank": "items",
    "soft_topk": "items",
    "soft_sort": "sorted",
    # [..., k]: the first min(k, n_valid) sorted values (the compacted call's k), then zeros.
    "soft_sort_topk": "sorted",
    "neural_sort_apply": "sorted",
    "neural_sort": "matrix",
    "soft_quantile": "row",
    "spearman_loss": "row",
    "ndcg_loss": "row",
}


def random_mask(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A bool mask of ``shape`` (``[..., n]``) with about 60 % present; among its rows one with no
    item present, one with every item present and one with a single item, when there are rows
    enough."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.6
    rows = mask.reshape(-1, shape[-1])
    special = [
        np.zeros(shape[-1], bool),
        np.ones(shape[-1], bool),
        np.eye(1, shape[-1], 1, bool)[0],
    ]
    for i, row in enumerate(special[: max(len(rows) - 1, 0)]):
        rows[i] = row
    return rows.reshape(shape)


def take_items(array: np.ndarray, b: int, present: np.ndarray) -> np.ndarray:
    """Row ``b`` of an input-shaped ``[batch, n]`` array, compacted: ``[1, n_valid]``."""
    return array[b : b + 1, present]


def take_output(op: str, array: np.ndarray, b: int, present: np.ndarray) -> np.ndarray:
    """Row ``b`` of an output-shaped array (an output, its cotangent or tangent) as the compacted
    row's output has it."""
    nv = int(present.sum())
    layout = LAYOUT[op]
    if layout == "items":
        return array[b : b + 1, present]
    if layout == "sorted":
        return array[b : b + 1, :nv]
    if layout == "matrix":
        return array[b][np.ix_(np.arange(nv), np.flatnonzero(present))][None]
    return array[b : b + 1]


def put_items(dst: np.ndarray, b: int, present: np.ndarray, src: np.ndarray) -> None:
    dst[b, present] = src[0]


def put_output(op: str, dst: np.ndarray, b: int, present: np.ndarray, src: np.ndarray) -> None:
    nv = int(present.sum())
    layout = LAYOUT[op]
    if layout == "items":
        dst[b, present] = src[0]
    elif layout == "sorted":
        dst[b, :nv] = src[0]
    elif layout == "matrix":
        dst[b][np.ix_(np.arange(nv), np.flatnonzero(present))] = src[0]
    else:
        dst[b] = src[0]


def computed(op: str, inputs: dict[str, np.ndarray], b: int, present: np.ndarray) -> bool:
    """Whether row ``b`` is computed at all: a row with fewer present items than the op takes
    (none; one for spearman_loss) gives zeros and zero gradients, as does an ndcg_loss row whose
    present relevance is all zero."""
    nv = int(present.sum())
    if nv == 0 or nv < OPS[op]["min_n"]:
        return False
    return all(np.any(inputs[name][b, present] != 0) for name in OPS[op]["nonnegative"])


def row_params(op: str, params: dict[str, Any], present: np.ndarray) -> dict[str, Any]:
    """The params of the compacted row: soft_topk's ``k`` clamped to ``n_valid``."""
    if "k" in OPS[op]["ints"]:
        k = params.get("k", OPS[op]["ints"]["k"])
        return params | {"k": min(k, int(present.sum()))}
    return params


def per_row(
    op: str,
    inputs: dict[str, np.ndarray],
    mask: np.ndarray,
    params: dict[str, Any],
    like: np.ndarray,
    row: Callable[[int, np.ndarray, dict[str, np.ndarray], dict[str, Any]], np.ndarray],
    scatter: Callable[[np.ndarray, int, np.ndarray, np.ndarray], None],
) -> np.ndarray:
    """Zeros like ``like`` with each computed row ``b`` filled by ``scatter`` from
    ``row(b, present, compacted inputs, params)``."""
    want = np.zeros_like(like)
    for b in range(mask.shape[0]):
        present = mask[b]
        if not computed(op, inputs, b, present):
            continue
        compact = {name: take_items(a, b, present) for name, a in inputs.items()}
        scatter(want, b, present, row(b, present, compact, row_params(op, params, present)))
    return want


def pad_absent(inputs: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs with NaN, +inf and −inf (in turn) at every absent position: a mask's padding,
    which the op must never read."""
    junk = np.array([np.nan, np.inf, -np.inf])
    out = {}
    for name, a in inputs.items():
        a = a.copy()
        absent = ~mask
        a[absent] = junk[np.arange(absent.sum()) % 3].astype(a.dtype)
        out[name] = a
    return out
