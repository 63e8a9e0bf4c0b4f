"""Random valid inputs for any op of the spec (so tests cover ops by their table entry)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from _spec import OPS


def make_inputs(
    op: str, shape: tuple[int, ...], dtype: type = np.float64, seed: int = 0
) -> dict[str, np.ndarray]:
    """Inputs of ``op`` with ``shape``: distinct normal values; graded relevance (0..3) for
    nonnegative inputs, with at least one positive grade per row; int32 ids of a few groups for
    an int32 input."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in OPS[op]["inputs"]:
        if name in OPS[op]["int_inputs"]:
            # Group ids: a few groups per row, negative and positive, in any order.
            out[name] = rng.integers(-1, 1, size=shape).astype(np.int32)
        elif name in OPS[op]["nonnegative"]:
            grades = rng.integers(0, 4, size=shape).astype(dtype)
            grades[..., 0] = 3
            out[name] = grades
        else:
            out[name] = rng.standard_normal(shape).astype(dtype)
    return out


def param_combinations(op: str) -> list[dict[str, str]]:
    """Every combination of the op's enum values (``[{}]`` when it has none)."""
    combos: list[dict[str, str]] = [{}]
    for name, values in OPS[op]["enums"].items():
        combos = [c | {name: v} for c in combos for v in values]
    return combos


def output_shape(
    op: str, output: str, lead: tuple[int, ...], n: int, params: dict[str, object] | None = None
) -> tuple[int, ...]:
    """The shape of an op's output for inputs of shape ``lead + (n,)``: the leading dims, then the
    output's own dims (``n``, ``len(quantiles)``) evaluated with ``params`` over the defaults."""
    scope: dict[str, object] = {"n": n, **OPS[op]["ints"], **OPS[op]["lists"], **(params or {})}
    dims = OPS[op]["outputs"][output]
    return (*lead, *(int(eval(d, {"len": len}, scope)) for d in dims))


def first_output(op: str) -> str:
    return next(iter(OPS[op]["outputs"]))


def primary(op: str, out: Any) -> Any:
    """What the generic suites check of an op's result: its one output, or of an op with several
    (a named tuple) its differentiable ones (one: itself). The int32 outputs are checked where
    the op is (test_sort_topk.py)."""
    if len(OPS[op]["outputs"]) == 1:
        return out
    named = out._asdict()
    diff = [named[n] for n in OPS[op]["diff_outputs"]]
    return diff[0] if len(diff) == 1 else tuple(diff)


def op_fn(module: Any, op: str) -> Callable[..., Any]:
    """``module.<op>`` returning :func:`primary` of its result."""
    fn = getattr(module, op)
    return lambda *args, **kwargs: primary(op, fn(*args, **kwargs))
