"""The ``mask`` of every op through the NumPy and PyTorch APIs (ALGORITHMS.md, "Masks").

A masked row equals the op on its present items alone, scattered back (outputs and gradients),
in float64 and float32; an all-true mask is the call without one, bit for bit; NaN and ±inf at
absent positions are never read; absent positions get zero gradients; the mask moves with the
items axis and the leading dims; a mask of another dtype or shape is refused, naming the op and
``mask``. The NumPy JVP and HVP take the mask too. PyTorch's autograd, torch.func and
torch.compile with a mask are in test_masks_torch.py.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from frameworks import api
from inputs import make_inputs, op_fn, param_combinations
from masking import (
    LAYOUT,
    pad_absent,
    per_row,
    put_items,
    put_output,
    random_mask,
    take_items,
    take_output,
)

APIS = ("numpy", "torch")
OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]
DTYPES = {"float64": np.float64, "float32": np.float32}
SHAPE = (7, 6)
EPS = 0.6


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


def setup(
    op: str, params: dict[str, str], dtype: Any, seed: int, shape: tuple[int, ...] = SHAPE
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    inputs = make_inputs(op, shape, dtype, seed)
    return inputs, random_mask(shape, seed), {"regularization_strength": EPS, **params}


def cotangent_like(out: np.ndarray, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)


def test_every_op_has_an_optional_bool_mask() -> None:
    for op in OP_NAMES:
        assert OPS[op]["optional"] == ["mask"], op
        assert OPS[op]["bool_inputs"] == ["mask"], op
        assert op in LAYOUT, f"{op}: say where its output puts a row's present items"


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_masked_rows_are_the_compacted_rows(
    case: tuple[str, dict[str, str]], dtype: str, name: str
) -> None:
    fw = api(name)
    op = case[0]
    inputs, mask, params = setup(op, case[1], DTYPES[dtype], seed=1)
    got = fw.call(op, inputs | {"mask": mask}, params)
    assert got.dtype == DTYPES[dtype]
    want = per_row(
        op,
        inputs,
        mask,
        params,
        got,
        lambda b, present, compact, ps: fw.call(op, compact, ps),
        partial(put_output, op),
    )
    np.testing.assert_array_equal(got, want)
    cot = cotangent_like(got, seed=2)
    grads = fw.vjp(op, inputs | {"mask": mask}, params, cot)
    for x in OPS[op]["differentiable"]:
        want_grad = per_row(
            op,
            inputs,
            mask,
            params,
            inputs[x],
            lambda b, present, compact, ps, x=x: fw.vjp(
                op, compact, ps, take_output(op, cot, b, present)
            )[x],
            put_items,
        )
        assert grads[x].dtype == DTYPES[dtype]
        np.testing.assert_array_equal(grads[x], want_grad, err_msg=f"grad of {x}")


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_all_true_mask_is_no_mask(case: tuple[str, dict[str, str]], dtype: str, name: str) -> None:
    fw = api(name)
    op = case[0]
    inputs, _, params = setup(op, case[1], DTYPES[dtype], seed=3)
    full = np.ones(SHAPE, bool)
    out = fw.call(op, inputs, params)
    np.testing.assert_array_equal(fw.call(op, inputs | {"mask": full}, params), out)
    cot = cotangent_like(out, seed=4)
    want = fw.vjp(op, inputs, params, cot)
    got = fw.vjp(op, inputs | {"mask": full}, params, cot)
    for x in OPS[op]["differentiable"]:
        np.testing.assert_array_equal(got[x], want[x])


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_absent_positions_are_never_read(case: tuple[str, dict[str, str]], name: str) -> None:
    """NaN and ±inf padding at absent positions: the same outputs and gradients as any other
    padding, finite, and zero gradients there."""
    fw = api(name)
    op = case[0]
    inputs, mask, params = setup(op, case[1], np.float64, seed=5)
    padded = pad_absent(inputs, mask)
    out = fw.call(op, inputs | {"mask": mask}, params)
    got = fw.call(op, padded | {"mask": mask}, params)
    np.testing.assert_array_equal(got, out)
    assert np.isfinite(got).all()
    cot = cotangent_like(out, seed=6)
    want = fw.vjp(op, inputs | {"mask": mask}, params, cot)
    grads = fw.vjp(op, padded | {"mask": mask}, params, cot)
    for x in OPS[op]["differentiable"]:
        np.testing.assert_array_equal(grads[x], want[x])
        assert np.isfinite(grads[x]).all()
        assert (grads[x][~mask] == 0).all()


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_empty_rows_are_zeros(case: tuple[str, dict[str, str]], name: str) -> None:
    fw = api(name)
    op = case[0]
    inputs, _, params = setup(op, case[1], np.float64, seed=7, shape=(2, 5))
    mask = np.zeros((2, 5), bool)
    out = fw.call(op, pad_absent(inputs, mask) | {"mask": mask}, params)
    np.testing.assert_array_equal(out, np.zeros_like(out))
    grads = fw.vjp(op, inputs | {"mask": mask}, params, np.ones_like(out))
    for x in OPS[op]["differentiable"]:
        np.testing.assert_array_equal(grads[x], np.zeros_like(inputs[x]))


def one_row_dim(op: str) -> bool:
    """Whether the op's output has one dim per row (``[..., n]``, ``[..., m]``): it then sits at
    the items axis."""
    return len(next(iter(OPS[op]["outputs"].values()))) == 1


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("op", OP_NAMES)
def test_mask_moves_with_the_items_axis(op: str, name: str) -> None:
    fw = api(name)
    inputs, mask, params = setup(op, {}, np.float64, seed=8)
    want = fw.call(op, inputs | {"mask": mask}, params)
    # Leading dims: rows of a 3-D input, the mask of the same shape.
    lead = {k: v.reshape(7, 1, 6) for k, v in inputs.items()}
    got = fw.call(op, lead | {"mask": mask.reshape(7, 1, 6)}, params)
    np.testing.assert_array_equal(got.reshape(want.shape), want)
    if len(next(iter(OPS[op]["outputs"].values()))) > 1:
        return  # an [..., n, n] output takes only the last axis
    key = "dim" if name == "torch" else "axis"
    moved = {k: np.ascontiguousarray(v.T) for k, v in inputs.items()}
    got = fw.call(op, moved | {"mask": np.ascontiguousarray(mask.T)}, params | {key: 0})
    np.testing.assert_array_equal(got, want.T if one_row_dim(op) else want)
    # The items in the middle of three axes.
    middle = {
        k: np.ascontiguousarray(np.moveaxis(v.reshape(7, 1, 6), -1, 1)) for k, v in lead.items()
    }
    mask3 = np.ascontiguousarray(np.moveaxis(mask.reshape(7, 1, 6), -1, 1))
    got = fw.call(op, middle | {"mask": mask3}, params | {key: 1})
    lead_want = want.reshape(7, 1, *want.shape[1:])
    np.testing.assert_array_equal(
        got, np.moveaxis(lead_want, -1, 1) if one_row_dim(op) else lead_want
    )


# --- the NumPy JVP and HVP ---------------------------------------------------------------------


def numpy_args(op: str, arrays: dict[str, np.ndarray], *roles: str) -> list[np.ndarray]:
    """Positional arguments: the required inputs, then each role's arrays (``cotangent_…`` of the
    outputs, ``tangent_…`` of the differentiable inputs)."""
    args = [arrays[n] for n in OPS[op]["inputs"]]
    for role in roles:
        names = OPS[op]["diff_outputs"] if role == "cotangent" else OPS[op]["differentiable"]
        args += [arrays[f"{role}_{n}"] for n in names]
    return args


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numpy_jvp_and_hvp_with_a_mask(case: tuple[str, dict[str, str]], dtype: str) -> None:
    op = case[0]
    inputs, mask, params = setup(op, case[1], DTYPES[dtype], seed=9)
    rng = np.random.default_rng(10)
    out = op_fn(rank_relax, op)(*numpy_args(op, inputs), **params, mask=mask)
    (output,) = OPS[op]["diff_outputs"]
    tangents = {
        f"tangent_{n}": rng.standard_normal(SHAPE).astype(DTYPES[dtype])
        for n in OPS[op]["differentiable"]
    }
    cot = {f"cotangent_{output}": cotangent_like(out, seed=11)}
    scalar = {"tangent_regularization_strength": 0.3}
    jvp = getattr(rank_relax, f"{op}_jvp")
    hvp = getattr(rank_relax, f"{op}_hvp")

    def compact(b: int, present: np.ndarray, rows: dict[str, np.ndarray]) -> dict[str, Any]:
        return rows | {k: take_items(v, b, present) for k, v in tangents.items()}

    got = jvp(*numpy_args(op, inputs | tangents, "tangent"), **params, **scalar, mask=mask)
    want = per_row(
        op,
        inputs,
        mask,
        params,
        out,
        lambda b, present, rows, ps: jvp(
            *numpy_args(op, compact(b, present, rows), "tangent"), **ps, **scalar
        ),
        partial(put_output, op),
    )
    np.testing.assert_array_equal(got, want)
    everything = inputs | tangents | cot
    grads = hvp(*numpy_args(op, everything, "cotangent", "tangent"), **params, **scalar, mask=mask)
    grads = grads if isinstance(grads, tuple) else (grads,)
    for k, x in enumerate(OPS[op]["differentiable"]):

        def row(
            b: int, present: np.ndarray, rows: dict[str, Any], ps: dict[str, Any], k: int = k
        ) -> Any:
            given = compact(b, present, rows) | {
                name: take_output(op, c, b, present) for name, c in cot.items()
            }
            result = hvp(*numpy_args(op, given, "cotangent", "tangent"), **ps, **scalar)
            return result[k] if isinstance(result, tuple) else result

        want_grad = per_row(op, inputs, mask, params, inputs[x], row, put_items)
        np.testing.assert_array_equal(grads[k], want_grad, err_msg=f"hvp of {x}")


@pytest.mark.parametrize("op", OP_NAMES)
def test_numpy_derivatives_with_an_all_true_mask_are_unmasked(op: str) -> None:
    inputs, _, params = setup(op, {}, np.float64, seed=12)
    full = np.ones(SHAPE, bool)
    rng = np.random.default_rng(13)
    out = op_fn(rank_relax, op)(*numpy_args(op, inputs), **params)
    (output,) = OPS[op]["diff_outputs"]
    arrays = inputs | {f"cotangent_{output}": cotangent_like(out, seed=14)}
    arrays |= {f"tangent_{n}": rng.standard_normal(SHAPE) for n in OPS[op]["differentiable"]}
    for fn, roles in (("vjp", ("cotangent",)), ("jvp", ("tangent",))):
        f = getattr(rank_relax, f"{op}_{fn}")
        args = numpy_args(op, arrays, *roles)
        np.testing.assert_array_equal(f(*args, **params, mask=full), f(*args, **params))
    f = getattr(rank_relax, f"{op}_hvp")
    args = numpy_args(op, arrays, "cotangent", "tangent")
    got, want = f(*args, **params, mask=full), f(*args, **params)
    for g, w in zip(*(r if isinstance(r, tuple) else (r,) for r in (got, want))):
        np.testing.assert_array_equal(g, w)


# --- bad masks ---------------------------------------------------------------------------------


def call_with_mask(name: str, op: str, mask: Any) -> Any:
    inputs = make_inputs(op, (2, 3))
    if name == "numpy":
        return op_fn(rank_relax, op)(*(inputs[n] for n in OPS[op]["inputs"]), mask=mask)
    import torch

    import rank_relax.torch as rt

    tensors = [torch.as_tensor(inputs[n]) for n in OPS[op]["inputs"]]
    return op_fn(rt, op)(*tensors, mask=mask)


def as_api(name: str, array: np.ndarray) -> Any:
    if name == "numpy":
        return array
    import torch

    return torch.as_tensor(array)


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("op", OP_NAMES)
def test_a_mask_of_another_dtype_is_a_type_error(op: str, name: str) -> None:
    api(name)
    for dtype in (np.float64, np.int32, np.uint8):
        mask = as_api(name, np.ones((2, 3), dtype))
        with pytest.raises(
            TypeError,
            match=rf"^{op}: mask must be an array of bool \(true = present\), got an array of ",
        ):
            call_with_mask(name, op, mask)


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("op", OP_NAMES)
def test_a_mask_of_another_shape_is_a_value_error(op: str, name: str) -> None:
    api(name)
    first = OPS[op]["inputs"][0]
    for shape in ((2, 4), (3,), (1, 3), (2, 3, 1)):
        text = f"{op}: {first} has shape [2, 3] but mask has shape {list(shape)}"
        with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
            call_with_mask(name, op, as_api(name, np.ones(shape, bool)))


@pytest.mark.parametrize("name", APIS)
def test_a_bool_byte_other_than_0_or_1_is_a_value_error(name: str) -> None:
    """A bool array viewing other memory may hold any byte: it is refused, not read as a bool."""
    api(name)
    raw = np.ones((2, 3), np.uint8)
    raw[1, 2] = 2
    mask = raw.view(np.bool_) if name == "numpy" else as_api(name, raw).view(torch_bool())
    text = "soft_rank: mask[1, 2] is 2; each element must be 0 (false) or 1 (true)"
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        call_with_mask(name, "soft_rank", mask)


def torch_bool() -> Any:
    import torch

    return torch.bool


def test_the_kernels_read_a_mask_of_any_layout() -> None:
    from rank_relax._generated import KERNELS

    x = np.random.default_rng(1).standard_normal((4, 6))
    mask = random_mask((4, 6), seed=2)
    forward = KERNELS["soft_rank_forward"]["float64"]
    want = forward(x, mask, 0.3, "l2", "ascending")
    for view in (np.asfortranarray(mask), np.repeat(mask, 2, axis=1)[:, ::2]):
        got = forward(x, view, 0.3, "l2", "ascending")
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_torch_takes_a_mask_tensor_only() -> None:
    pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^soft_rank: mask must be a torch\.Tensor, got ndarray$"):
        call_with_mask("torch", "soft_rank", np.ones((2, 3), bool))


def test_numpy_takes_any_bool_array_like() -> None:
    x = np.array([[3.0, 1.0, 2.0], [0.5, 2.5, 1.5]])
    mask = [[True, False, True], [True, True, True]]
    got = rank_relax.soft_rank(x, 0.1, mask=mask)
    np.testing.assert_array_equal(got, rank_relax.soft_rank(x, 0.1, mask=np.array(mask)))
    row = rank_relax.soft_rank(x[0, [0, 2]], 0.1)
    np.testing.assert_array_equal(got[0], [row[0], 0.0, row[1]])


@pytest.mark.parametrize("fn", ["vjp", "jvp", "hvp"])
def test_numpy_derivatives_check_the_mask(fn: str) -> None:
    x = np.array([[3.0, 1.0, 2.0], [0.5, 2.5, 1.5]])
    args = {"vjp": (x, x), "jvp": (x, x), "hvp": (x, x, x)}[fn]
    f = getattr(rank_relax, f"soft_rank_{fn}")
    with pytest.raises(
        TypeError,
        match=r"^soft_rank: mask must be an array of bool \(true = present\), got an array of "
        r"float64$",
    ):
        f(*args, mask=np.ones((2, 3)))
    text = "soft_rank: values has shape [2, 3] but mask has shape [3, 2]"
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        f(*args, mask=np.ones((3, 2), bool))
