"""soft_rank_grouped, the op with an int32 input (``groups``), through NumPy, PyTorch and JAX:
every case of ``soft-rank-grouped.json`` in float64 against the file and in float32 against the
same API's float64 (``replay.py``), each group against soft_rank of its items alone, and the ids'
dtypes: any integer dtype whose values fit, refused otherwise with the op and the argument named,
under torch.compile and jax.jit too."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import rank_relax
from conftest import load_grouped
from frameworks import NAMES, api
from replay import case_ids, check_float32, check_float64

OP = "soft_rank_grouped"


def as_v1(case: dict[str, Any]) -> dict[str, Any]:
    """A case in the replay's spelling: one output, its cotangent and the VJP."""
    return {
        "op": case["op"],
        "params": case["params"],
        "inputs": case["inputs"],
        "output": case["outputs"]["ranks"],
        "cotangent": case["cotangents"]["ranks"],
        "vjp": case["vjp"],
        "grad_regularization_strength": case["grad_regularization_strength"],
    }


CASES = [as_v1(c) for c in load_grouped()]
case_id = case_ids(CASES)


def test_the_file_covers_the_op() -> None:
    assert len(CASES) >= 80
    assert {c["op"] for c in CASES} == {OP}
    assert sum("mask" in c["inputs"] for c in CASES) >= 40
    ids = {g for c in CASES for row in c["inputs"]["groups"] for g in row}
    assert {-(2**31), 2**31 - 1} <= ids


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_reference_float64(name: str, index: int) -> None:
    check_float64(name, CASES[index])


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_reference_float32(name: str, index: int) -> None:
    check_float32(name, CASES[index])


@pytest.mark.parametrize("regularization", ["l2", "kl"])
def test_each_group_is_soft_rank_of_its_items(regularization: str) -> None:
    rng = np.random.default_rng(3)
    values = rng.standard_normal((4, 11))
    groups = rng.choice(np.array([-7, 0, 2**31 - 1]), size=(4, 11))
    got = rank_relax.soft_rank_grouped(
        values, groups, regularization_strength=0.3, regularization=regularization
    )
    for b in range(4):
        for g in np.unique(groups[b]):
            at = groups[b] == g
            want = rank_relax.soft_rank(
                values[b, at], regularization_strength=0.3, regularization=regularization
            )
            np.testing.assert_array_equal(got[b, at], want)


def test_axis_moves_the_groups_with_the_values() -> None:
    rng = np.random.default_rng(4)
    values = rng.standard_normal((3, 7, 2))
    groups = rng.integers(0, 3, size=(3, 7, 2)).astype(np.int32)
    want = rank_relax.soft_rank_grouped(np.moveaxis(values, 1, -1), np.moveaxis(groups, 1, -1))
    for name in NAMES:
        axis = {"dim" if name == "torch" else "axis": 1}
        got = api(name).call(OP, {"values": values, "groups": groups}, axis)
        np.testing.assert_allclose(got, np.moveaxis(want, -1, 1), rtol=0, atol=1e-12)


def test_torch_converts_int64_under_compile_and_refuses_what_does_not_fit() -> None:
    torch = pytest.importorskip("torch")
    import rank_relax.torch as rt

    values = torch.randn(2, 5, dtype=torch.float64)
    groups = torch.tensor([[0, 1, 0, 1, 1], [5, 5, 5, -3, -3]])  # int64, torch's default
    want = rt.soft_rank_grouped(values, groups.to(torch.int32))
    compiled = torch.compile(rt.soft_rank_grouped, fullgraph=True)
    torch.testing.assert_close(compiled(values, groups), want, rtol=0, atol=0)
    wide = groups.clone()
    wide[1, 2] = 2**40
    text = f"{OP}: groups holds {2**40}, which does not fit in int32"
    for fn in (rt.soft_rank_grouped, compiled):
        with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
            fn(values, wide)


def test_jax_takes_narrow_ints_under_jit_and_refuses_traced_wide_ones() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import rank_relax.jax as rj

    values = jnp.asarray(np.random.default_rng(5).standard_normal((2, 5)))
    groups = np.array([[0, 1, 0, 1, 1], [5, 5, 5, 3, 3]])
    want = rj.soft_rank_grouped(values, groups.astype(np.int32))
    jitted = jax.jit(rj.soft_rank_grouped)
    for dtype in (np.int8, np.uint8, np.int16, np.uint16, np.int32):
        np.testing.assert_array_equal(jitted(values, jnp.asarray(groups.astype(dtype))), want)
    # A concrete wide array is checked on the host; a traced one cannot be and is refused.
    np.testing.assert_array_equal(rj.soft_rank_grouped(values, groups.astype(np.int64)), want)
    assert jax.config.jax_enable_x64  # the suite's setting (conftest.py): int64 stays int64
    wide = jnp.asarray(groups, dtype=jnp.int64)
    text = f"{OP}: groups must be int32 (or narrower) under a transformation, got an array of int64"
    with pytest.raises(TypeError, match=f"^{re.escape(text)}"):  # JAX appends a traceback note
        jax.jit(rj.soft_rank_grouped)(values, wide)
    # Groups receive no gradient; the values' gradient is exact (check_grads in the generic suites).
    grad = jax.grad(lambda v: rj.soft_rank_grouped(v, groups, regularization_strength=0.5).sum())
    assert np.all(np.isfinite(np.asarray(grad(values))))
