"""The items axis (``axis=`` in NumPy and JAX, ``dim=`` in torch), for every op of the table and
each framework: a call with the items on another axis equals the last-axis call on the moved
input, outputs and gradients; the default reads the input without a copy; bad axes are refused;
an ``[..., n, n]`` output allows only the last axis."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from frameworks import NAMES, api
from inputs import make_inputs

N = 5
#: (shape with the items last, the axis they are moved to)
LAYOUTS = [((3, N), 0), ((2, 3, N), 1), ((2, 3, N), -3), ((N,), 0)]
MATRIX_OPS = [op for op, spec in OPS.items() if any(len(d) > 1 for d in spec["outputs"].values())]
PLACED_OPS = [op for op in OPS if op not in MATRIX_OPS]


def _axis_name(framework: str) -> str:
    return "dim" if framework == "torch" else "axis"


def _params(op: str) -> dict[str, Any]:
    """Default params, with more than one level for a list param (so its output dim is not 1)."""
    return {name: [0.2, 0.5, 0.9] for name in OPS[op]["lists"]}


def _output(op: str) -> str:
    (name,) = OPS[op]["diff_outputs"]
    return str(name)


def _place(op: str, value: np.ndarray, axis: int) -> np.ndarray:
    """An output of the last-axis call as the call with the items at ``axis`` returns it."""
    return np.moveaxis(value, -1, axis) if len(OPS[op]["outputs"][_output(op)]) == 1 else value


def _moved(inputs: dict[str, np.ndarray], axis: int) -> dict[str, np.ndarray]:
    return {name: np.moveaxis(a, -1, axis) for name, a in inputs.items()}


@pytest.mark.parametrize("framework", NAMES)
@pytest.mark.parametrize("op", PLACED_OPS)
@pytest.mark.parametrize(("shape", "axis"), LAYOUTS)
def test_axis_equals_the_last_axis_call(
    framework: str, op: str, shape: tuple[int, ...], axis: int
) -> None:
    fw = api(framework)
    last = make_inputs(op, shape, seed=1)
    given = _moved(last, axis)
    params = _params(op)
    on_axis = params | {_axis_name(framework): axis}

    want = _place(op, fw.call(op, last, params), axis)
    got = fw.call(op, given, on_axis)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)

    cotangent = np.random.default_rng(2).standard_normal(got.shape)
    back = np.moveaxis(cotangent, axis, -1) if got.ndim == len(shape) else cotangent
    want_grads = fw.vjp(op, last, params, back)
    got_grads = fw.vjp(op, given, on_axis, cotangent)
    for name, grad in want_grads.items():
        moved = np.moveaxis(grad, -1, axis)
        assert got_grads[name].shape == given[name].shape
        np.testing.assert_allclose(got_grads[name], moved, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("framework", NAMES)
@pytest.mark.parametrize("op", OPS)
def test_default_and_explicit_last_axis_agree(framework: str, op: str) -> None:
    fw = api(framework)
    inputs = make_inputs(op, (2, 3, N), seed=3)
    want = fw.call(op, inputs, _params(op))
    for axis in (-1, 2):
        got = fw.call(op, inputs, _params(op) | {_axis_name(framework): axis})
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("framework", NAMES)
@pytest.mark.parametrize("op", MATRIX_OPS)
@pytest.mark.parametrize("axis", [0, 1, -2])
def test_matrix_output_refuses_any_other_axis(framework: str, op: str, axis: int) -> None:
    fw = api(framework)
    inputs = make_inputs(op, (2, 3, N), seed=4)
    name = _axis_name(framework)
    with pytest.raises(ValueError, match=rf"^{op}: {name} = {axis} is not the last axis.*n, n"):
        fw.call(op, inputs, {name: axis})


@pytest.mark.parametrize("framework", NAMES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize(
    ("axis", "error", "message"),
    [
        (3, ValueError, "= 3 is out of range for an input with 3 dimensions"),
        (-4, ValueError, "= -4 is out of range for an input with 3 dimensions"),
        (1.0, TypeError, "must be an integer, got a float (1.0)"),
        ("0", TypeError, "must be an integer, got a string"),
        (True, TypeError, "must be an integer, got a bool"),
        (None, TypeError, "must be an integer, got nothing"),
    ],
)
def test_bad_axis(framework: str, op: str, axis: Any, error: type, message: str) -> None:
    fw = api(framework)
    inputs = make_inputs(op, (2, 3, N), seed=5)
    name = _axis_name(framework)
    with pytest.raises(error, match=f"^{re.escape(f'{op}: {name} {message}')}$"):
        fw.call(op, inputs, {name: axis})


def test_numpy_accepts_numpy_integers() -> None:
    x = make_inputs("soft_rank", (N, 3))["values"]
    got = rank_relax.soft_rank(x, axis=np.int64(0))
    np.testing.assert_array_equal(got, rank_relax.soft_rank(x.T.copy()).T)


# --- zero copy on the default path -----------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 2])
def test_numpy_last_axis_reads_the_input_in_place(axis: int) -> None:
    x = make_inputs("soft_rank", (2, 3, N))["values"]
    call = rank_relax._plumbing.Call("soft_rank", ("values", x), axis=axis)
    assert np.shares_memory(call.arrays[0], x)
    assert call.axis == -1


def test_numpy_other_axis_copies_once_and_returns_the_callers_layout() -> None:
    x = make_inputs("soft_rank", (N, 3))["values"]
    call = rank_relax._plumbing.Call("soft_rank", ("values", x), axis=0)
    assert call.arrays[0].flags.c_contiguous
    assert call.arrays[0].shape == (3, N)
    assert call.axis == -2
    out = rank_relax.soft_rank(x, axis=0)
    assert out.shape == (N, 3)
    assert rank_relax.soft_rank(x).flags.c_contiguous


def test_torch_last_dim_rows_are_views() -> None:
    torch = pytest.importorskip("torch")
    from rank_relax.torch import _plumbing

    x = torch.randn(2, 3, N, dtype=torch.float64)
    for dim in (-1, 2):
        _, back, _, (view,) = _plumbing.rows("soft_rank", ("values", x), axis=dim)
        assert back == -1
        assert view.data_ptr() == x.data_ptr()
        assert view.shape == (6, N)
    x2 = torch.randn(3, N, dtype=torch.float64)
    _, _, _, (same,) = _plumbing.rows("soft_rank", ("values", x2))
    assert same is x2


# --- NumPy VJP cotangents are in the caller's layout ------------------------------------------


def test_numpy_vjp_cotangent_shape_is_the_outputs() -> None:
    x = make_inputs("soft_rank", (N, 3))["values"]
    with pytest.raises(
        ValueError, match=r"ranks has shape \[5, 3\] but cotangent_ranks has shape \[3, 5\]"
    ):
        rank_relax.soft_rank_vjp(x, np.ones((3, N)), axis=0)
    loss_x = make_inputs("spearman_loss", (N, 3))
    grads = rank_relax.spearman_loss_vjp(
        loss_x["predictions"], loss_x["targets"], np.ones(3), axis=0
    )
    assert [g.shape for g in grads] == [(N, 3), (N, 3)]


# --- transforms -------------------------------------------------------------------------------


def test_torch_compile_and_func_on_dim_0() -> None:
    torch = pytest.importorskip("torch")
    import rank_relax.torch as rt

    x = torch.randn(N, 3, dtype=torch.float64)
    w = torch.randn(N, 3, dtype=torch.float64)

    def loss(v: Any) -> Any:
        return (rt.soft_rank(v, 0.5, dim=0) * w).sum()

    want = torch.func.grad(lambda v: (rt.soft_rank(v.T, 0.5) * w.T).sum())(x)
    np.testing.assert_allclose(torch.func.grad(loss)(x), want, rtol=1e-12)
    leaf = x.clone().requires_grad_(True)
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    (g,) = torch.autograd.grad(compiled(leaf), [leaf])
    np.testing.assert_allclose(g, want, rtol=1e-12)
    # vmap over a leading batch dim: each sample has its items on its dim 0.
    xs = torch.randn(4, N, 3, dtype=torch.float64)
    got = torch.func.vmap(lambda v: rt.soft_sort(v, 0.5, dim=0))(xs)
    np.testing.assert_allclose(got, rt.soft_sort(xs, 0.5, dim=1), rtol=1e-12)


def test_jax_jit_vmap_grad_on_axis_0() -> None:
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import rank_relax.jax as rj

    x = jnp.asarray(make_inputs("soft_rank", (3, N))["values"]).T
    w = jnp.asarray(np.random.default_rng(6).standard_normal((N, 3)))

    def loss(v: Any) -> Any:
        return (rj.soft_rank(v, 0.5, axis=0) * w).sum()

    want = jax.grad(lambda v: (rj.soft_rank(v.T, 0.5) * w.T).sum())(x)
    np.testing.assert_allclose(jax.jit(jax.grad(loss))(x), want, rtol=1e-12)
    xs = jnp.stack([x, 2 * x])
    got = jax.vmap(lambda v: rj.soft_sort(v, 0.5, axis=0))(xs)
    np.testing.assert_allclose(got, rj.soft_sort(xs, 0.5, axis=1), rtol=1e-12)
