"""soft_sort_topk, the op with two outputs (``top_values``, int32 ``indices`` without a
derivative), through the NumPy, PyTorch and JAX APIs.

The reference file (testdata/reference/soft-sort-topk.json): float64 against the file (values to
1e-9 of the row's scale, indices exactly, VJPs to 1e-7, torch's and JAX's ε gradient against the
sum of the file's per-row values), float32 against the same API's float64 on the float32-rounded
inputs (indices exactly). Then the named tuple, the indices' dtype and values, k = 0 and k = n,
masks (−1/0 padding), the items axis, errors, and every derivative API of each framework.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import rank_relax
from compare import assert_close, assert_close_rows
from conftest import load_sort_topk
from frameworks import NAMES, api
from replay import inputs_of

OP = "soft_sort_topk"
CASES: list[dict[str, Any]] = load_sort_topk()


def case_id(index: int) -> str:
    case = CASES[index]
    params = ",".join(str(v) for v in case["params"].values())
    return f"{index}-{params}{'-mask' if 'mask' in case['inputs'] else ''}"


def test_the_file_covers_the_op() -> None:
    assert {c["op"] for c in CASES} == {OP}
    assert any(c["params"]["k"] == 0 for c in CASES)
    assert any("mask" in c["inputs"] for c in CASES)
    assert any("vjp" in c for c in CASES)


def scale(values: Any) -> float:
    return max(1.0, float(np.max(np.abs(values), initial=0.0)))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float64(name: str, index: int) -> None:
    fw = api(name)
    case = CASES[index]
    params = case["params"]
    inputs = inputs_of(case, np.float64)
    out = fw.outputs(OP, inputs, params)
    tol = 1e-9 * scale(inputs["values"])
    assert out["top_values"].dtype == np.float64
    assert_close("top_values", out["top_values"], case["outputs"]["top_values"], tol, 1e-9)
    assert out["indices"].dtype == np.int32
    want_indices = np.asarray(case["outputs"]["indices"], np.int32).reshape(out["indices"].shape)
    np.testing.assert_array_equal(out["indices"], want_indices)
    if "vjp" not in case:
        return
    cot = {n: np.asarray(v, np.float64) for n, v in case["cotangents"].items()}
    cot = {n: v.reshape(out[n].shape) for n, v in cot.items()}
    grads = fw.vjps(OP, inputs, params, cot)
    want = np.asarray(case["vjp"]["values"], np.float64)
    assert_close("vjp[values]", grads["values"], want, 1e-7 * scale(want), 1e-9)
    if name != "numpy" and "grad_regularization_strength" in case:
        got = eps_gradient(name, inputs, params, cot["top_values"])
        want_eps = float(np.sum(case["grad_regularization_strength"]))
        assert_close("grad_regularization_strength", got, want_eps, 1e-7 * scale(want_eps), 1e-9)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float32(name: str, index: int) -> None:
    fw = api(name)
    case = CASES[index]
    params = dict(case["params"])
    params["regularization_strength"] = float(np.float32(params["regularization_strength"]))
    inputs32 = inputs_of(case, np.float32)
    inputs64 = {k: v.astype(np.float64) if v.dtype != np.bool_ else v for k, v in inputs32.items()}
    got = fw.outputs(OP, inputs32, params)
    want = fw.outputs(OP, inputs64, params)
    assert got["top_values"].dtype == np.float32
    assert got["indices"].dtype == np.int32
    np.testing.assert_array_equal(got["indices"], want["indices"])
    if want["top_values"].size == 0:  # k = 0: nothing to compare
        return
    assert_close_rows("top_values", got["top_values"], want["top_values"], 1e-4, 0.0)
    if "vjp" in case:
        cot = np.asarray(case["cotangents"]["top_values"], np.float32)
        cot = cot.reshape(got["top_values"].shape)
        g32 = fw.vjps(OP, inputs32, params, {"top_values": cot})["values"]
        g64 = fw.vjps(OP, inputs64, params, {"top_values": cot.astype(np.float64)})["values"]
        assert g32.dtype == np.float32
        assert_close_rows("vjp[values]", g32, g64, 1e-4, 1e-8)


def eps_gradient(name: str, inputs: dict[str, np.ndarray], params: dict[str, Any], cot: Any) -> Any:
    """The gradient of ⟨cotangent, top_values⟩ with respect to a differentiable ε."""
    given = dict(params)
    eps0 = given.pop("regularization_strength")
    mask = {"mask": inputs["mask"]} if "mask" in inputs else {}
    if name == "torch":
        import torch

        import rank_relax.torch as rt

        eps = torch.tensor(eps0, dtype=torch.float64, requires_grad=True)
        m = {k: torch.as_tensor(v) for k, v in mask.items()}
        out = rt.soft_sort_topk(
            torch.as_tensor(inputs["values"]), **given, **m, regularization_strength=eps
        )
        (grad,) = torch.autograd.grad(out.top_values, [eps], torch.as_tensor(cot))
        return grad.item()
    import jax
    import jax.numpy as jnp

    import rank_relax.jax as rj

    m = {k: jnp.asarray(v) for k, v in mask.items()}

    def f(e: Any) -> Any:
        out = rj.soft_sort_topk(
            jnp.asarray(inputs["values"]), **given, **m, regularization_strength=e
        )
        return out.top_values

    _, pullback = jax.vjp(f, jnp.asarray(eps0, jnp.float64))
    return float(pullback(jnp.asarray(cot))[0])


# --- behaviour --------------------------------------------------------------------------------

X = np.array([[3.0, 1.0, 2.0, 0.5], [0.1, 0.4, 0.3, 0.2], [5.0, 5.0, -1.0, 2.0]])
#: X without ties: derivatives are smooth there (at a tie the one-sided ones differ).
SMOOTH = X + np.linspace(0.0, 0.11, 12).reshape(3, 4)
MASK = np.array([[True, False, True, True], [False, False, True, False], [True, True, True, True]])


def result_class(name: str) -> Any:
    if name == "numpy":
        return rank_relax.SoftSortTopkResult
    if name == "torch":
        import rank_relax.torch as rt

        return rt.SoftSortTopkResult
    import rank_relax.jax as rj

    return rj.SoftSortTopkResult


def module(name: str) -> Any:
    api(name)
    return {"numpy": "rank_relax", "torch": "rank_relax.torch", "jax": "rank_relax.jax"}[name]


def call(name: str, x: np.ndarray, **kw: Any) -> Any:
    """The op of API ``name`` on NumPy data, its named tuple and fields as NumPy arrays."""
    import importlib

    mod = importlib.import_module(module(name))
    if name == "numpy":
        return mod.soft_sort_topk(x, **kw)
    if name == "torch":
        import torch

        conv = {k: torch.as_tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        out = mod.soft_sort_topk(torch.as_tensor(x), **conv)
        return type(out)(*(t.detach().numpy() for t in out))
    import jax.numpy as jnp

    conv = {k: jnp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    out = mod.soft_sort_topk(jnp.asarray(x), **conv)
    return type(out)(*(np.asarray(t) for t in out))


@pytest.mark.parametrize("name", NAMES)
def test_named_tuple_and_hard_limit(name: str) -> None:
    out = call(name, X, k=2, regularization_strength=1e-3)
    assert type(out) is result_class(name)
    assert out._fields == ("top_values", "indices")
    top_values, indices = out
    assert indices.dtype == np.int32
    assert top_values.dtype == np.float64
    np.testing.assert_array_equal(indices, [[0, 2], [1, 2], [0, 1]])
    np.testing.assert_allclose(top_values, np.take_along_axis(X, indices, -1), atol=1e-12)
    ascending = call(name, X, k=2, regularization_strength=1e-3, direction="ascending")
    np.testing.assert_array_equal(ascending.indices, [[3, 1], [0, 3], [2, 3]])


@pytest.mark.parametrize("name", NAMES)
def test_k_zero_and_k_n(name: str) -> None:
    empty = call(name, X, k=0)
    assert empty.top_values.shape == (3, 0)
    assert empty.indices.shape == (3, 0)
    assert empty.indices.dtype == np.int32
    full = call(name, X, k=4, regularization_strength=0.3)
    sort = np.asarray(rank_relax.soft_sort(X, regularization_strength=0.3, direction="descending"))
    np.testing.assert_allclose(full.top_values, sort, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.sort(full.indices, -1), np.tile(np.arange(4), (3, 1)))


@pytest.mark.parametrize("name", NAMES)
def test_mask_is_a_compacted_call_then_padding(name: str) -> None:
    out = call(name, X, k=3, regularization_strength=0.2, mask=MASK)
    for row in range(3):
        present = np.flatnonzero(MASK[row])
        kept = min(3, present.size)
        alone = call(name, X[row, present][None], k=kept, regularization_strength=0.2)
        np.testing.assert_allclose(out.top_values[row, :kept], alone.top_values[0], atol=1e-12)
        np.testing.assert_array_equal(out.indices[row, :kept], present[alone.indices[0]])
        np.testing.assert_array_equal(out.top_values[row, kept:], 0.0)
        np.testing.assert_array_equal(out.indices[row, kept:], -1)
    assert out.indices[1].tolist() == [2, -1, -1]


@pytest.mark.parametrize("name", NAMES)
def test_items_axis_and_leading_dims(name: str) -> None:
    x = np.random.default_rng(3).normal(size=(2, 5, 3))
    last = call(name, np.moveaxis(x, 1, -1), k=2, regularization_strength=0.4)
    key = "dim" if name == "torch" else "axis"
    moved = call(name, x, k=2, regularization_strength=0.4, **{key: 1})
    assert moved.top_values.shape == (2, 2, 3)
    assert moved.indices.shape == (2, 2, 3)
    np.testing.assert_allclose(np.moveaxis(moved.top_values, 1, -1), last.top_values, atol=1e-12)
    np.testing.assert_array_equal(np.moveaxis(moved.indices, 1, -1), last.indices)
    one = call(name, x[0, :, 0], k=3)
    assert one.top_values.shape == (3,)
    assert one.indices.shape == (3,)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("k", "error", "message"),
    [
        (5, ValueError, "soft_sort_topk: k must be in [0, n] = [0, 4], got 5"),
        (-1, ValueError, "soft_sort_topk: k must be in [0, n] = [0, 4], got -1"),
        (2.0, TypeError, "soft_sort_topk: k must be an integer, got a float (2.0)"),
        (True, TypeError, "soft_sort_topk: k must be an integer, got a bool"),
    ],
)
def test_bad_k(name: str, k: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call(name, X, k=k)


def test_numpy_derivatives_take_and_give_only_differentiable_outputs() -> None:
    x, rng = SMOOTH, np.random.default_rng(5)
    kw: dict[str, Any] = dict(k=2, regularization_strength=0.7, mask=MASK)
    cot, tangent = rng.normal(size=(3, 2)), rng.normal(size=X.shape)
    h = 1e-6

    def f(v: np.ndarray) -> np.ndarray:
        return np.asarray(rank_relax.soft_sort_topk(v, **kw).top_values)

    jvp = rank_relax.soft_sort_topk_jvp(x, tangent, **kw)
    assert isinstance(jvp, np.ndarray)
    assert jvp.shape == (3, 2)
    np.testing.assert_allclose(jvp, (f(x + h * tangent) - f(x - h * tangent)) / (2 * h), atol=1e-6)
    vjp = rank_relax.soft_sort_topk_vjp(x, cot, **kw)
    assert isinstance(vjp, np.ndarray)
    assert vjp.shape == X.shape
    np.testing.assert_allclose(np.sum(vjp * tangent), np.sum(cot * jvp), rtol=1e-10)
    hvp = rank_relax.soft_sort_topk_hvp(x, cot, tangent, **kw, tangent_regularization_strength=0.3)
    kw_p = kw | {"regularization_strength": 0.7 + 0.3 * h}
    kw_m = kw | {"regularization_strength": 0.7 - 0.3 * h}
    fd = (
        rank_relax.soft_sort_topk_vjp(x + h * tangent, cot, **kw_p)
        - rank_relax.soft_sort_topk_vjp(x - h * tangent, cot, **kw_m)
    ) / (2 * h)
    np.testing.assert_allclose(hvp, fd, atol=1e-5)


# --- PyTorch ---------------------------------------------------------------------------------


@pytest.fixture
def torch_mod() -> Any:
    pytest.importorskip("torch")
    import rank_relax.torch as rt

    return rt


def test_torch_indices_never_require_grad(torch_mod: Any) -> None:
    import torch
    import torch.autograd.forward_ad as fwAD

    x = torch.tensor(X, requires_grad=True)
    out = torch_mod.soft_sort_topk(x, k=2)
    assert out.top_values.requires_grad
    assert not out.indices.requires_grad
    assert out.indices.dtype == torch.int32
    with fwAD.dual_level():
        dual = fwAD.make_dual(torch.tensor(X), torch.ones(3, 4, dtype=torch.float64))
        fwd = torch_mod.soft_sort_topk(dual, k=2)
        assert fwAD.unpack_dual(fwd.indices).tangent is None
        assert fwAD.unpack_dual(fwd.top_values).tangent is not None


@pytest.mark.parametrize("masked", [False, True])
def test_torch_gradcheck(torch_mod: Any, masked: bool) -> None:
    import torch

    mask = {"mask": torch.as_tensor(MASK)} if masked else {}
    x = torch.tensor(SMOOTH, requires_grad=True)
    eps = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)

    def f(v: Any, e: Any) -> Any:
        return torch_mod.soft_sort_topk(v, k=3, regularization_strength=e, **mask).top_values

    kw: dict[str, Any] = dict(eps=1e-6, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradcheck(f, (x, eps), check_forward_ad=True, **kw)
    assert torch.autograd.gradgradcheck(f, (x, eps), check_fwd_over_rev=True, **kw)


def test_torch_func_transforms(torch_mod: Any) -> None:
    import torch
    import torch.func as tf

    x = torch.tensor(SMOOTH)

    def f(v: Any) -> Any:
        return torch_mod.soft_sort_topk(v, k=2, regularization_strength=0.5).top_values

    jac = tf.jacrev(f)(x)
    torch.testing.assert_close(tf.jacfwd(f)(x), jac)
    assert jac.shape == (3, 2, 3, 4)
    cot = torch.ones(3, 2, dtype=torch.float64)
    _, pullback = tf.vjp(f, x)
    torch.testing.assert_close(pullback(cot)[0], jac.sum((0, 1)))
    torch.testing.assert_close(tf.grad(lambda v: f(v).sum())(x), jac.sum((0, 1)))
    _, tangent = tf.jvp(f, (x,), (torch.ones_like(x),))
    torch.testing.assert_close(tangent, jac.sum((2, 3)))
    batched = tf.vmap(lambda v: torch_mod.soft_sort_topk(v, k=2, regularization_strength=0.5))(
        x[None].expand(2, 3, 4)
    )
    assert batched.indices.dtype == torch.int32
    assert batched.indices.shape == (2, 3, 2)
    torch.testing.assert_close(batched.top_values[1], f(x))
    hess = tf.hessian(lambda v: f(v).pow(2).sum())(x)
    assert hess.shape == (3, 4, 3, 4)


def test_torch_opcheck(torch_mod: Any) -> None:
    import torch
    from torch.library import opcheck

    x, mask = torch.tensor(X), torch.as_tensor(MASK)
    eps = torch.tensor(0.5, dtype=torch.float64)
    params = (2, eps, "l2", "descending")
    top, _indices, perm = torch.ops.rank_relax.soft_sort_topk_forward(x, mask, *params)
    ops = torch.ops.rank_relax
    opcheck(ops.soft_sort_topk_forward, (x, mask, *params))
    opcheck(ops.soft_sort_topk_backward, (x, mask, perm, torch.ones_like(top), *params))
    opcheck(ops.soft_sort_topk_jvp, (x, mask, perm, torch.ones_like(x), *params, eps))
    opcheck(
        ops.soft_sort_topk_hvp,
        (x, mask, perm, torch.ones_like(top), torch.ones_like(x), *params, eps),
    )


@pytest.mark.parametrize("backend", ["aot_eager", "inductor"])
def test_torch_compile(torch_mod: Any, backend: str) -> None:
    import torch

    def f(v: Any) -> Any:
        out = torch_mod.soft_sort_topk(v, k=2, regularization_strength=0.5, dim=0)
        return out.top_values.sum() * 2, out.indices

    compiled = torch.compile(f, backend=backend, fullgraph=True)
    x = torch.tensor(X.T, requires_grad=True)
    loss, indices = compiled(x)
    loss.backward()
    y = torch.tensor(X.T, requires_grad=True)
    want_loss, want_indices = f(y)
    want_loss.backward()
    torch.testing.assert_close(loss, want_loss)
    torch.testing.assert_close(indices, want_indices)
    assert indices.dtype == torch.int32
    torch.testing.assert_close(x.grad, y.grad)


# --- JAX -------------------------------------------------------------------------------------


@pytest.fixture
def jax_mod() -> Any:
    pytest.importorskip("jax")
    import rank_relax.jax as rj

    return rj


def test_jax_transforms(jax_mod: Any) -> None:
    import jax
    import jax.numpy as jnp
    from jax.test_util import check_grads

    x, mask = jnp.asarray(SMOOTH), jnp.asarray(MASK)

    def f(v: Any, e: Any) -> Any:
        return jax_mod.soft_sort_topk(v, k=3, regularization_strength=e, mask=mask).top_values

    check_grads(f, (x, 0.6), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
    check_grads(f, (x, 0.6), order=2, modes=("rev",), atol=1e-6, rtol=1e-6)
    out = jax.jit(lambda v: jax_mod.soft_sort_topk(v, k=2, axis=0))(x.T)
    assert type(out) is jax_mod.SoftSortTopkResult
    assert out.indices.dtype == jnp.int32
    np.testing.assert_array_equal(out.indices, jax_mod.soft_sort_topk(x, k=2).indices.T)
    batched = jax.vmap(lambda v: jax_mod.soft_sort_topk(v, k=2))(jnp.stack([x, -x]))
    assert batched.indices.shape == (2, 3, 2)
    np.testing.assert_array_equal(batched.indices[1], jax_mod.soft_sort_topk(-x, k=2).indices)
    _primal, tangent = jax.jvp(lambda v: jax_mod.soft_sort_topk(v, k=2), (x,), (jnp.ones_like(x),))
    assert tangent.indices.dtype == jax.dtypes.float0
    np.testing.assert_allclose(tangent.top_values, np.ones((3, 2)), atol=1e-12)
