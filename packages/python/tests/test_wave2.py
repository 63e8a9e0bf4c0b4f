"""soft_topk, soft_quantile, neural_sort and neural_sort_apply through the NumPy and PyTorch APIs.

Both wave2 reference files: float64 against the file (outputs to 1e-9 absolute + relative, VJPs to
1e-7 absolute + 1e-9 relative, torch's ε/τ gradient against the sum of the file's per-row values),
float32 against the same API's own float64 result on the float32-rounded inputs, to 1e-4 of the
row's largest magnitude. Then what the generic suites run with the default ``k`` and
``quantiles`` again with other values: gradcheck, opcheck, torch.compile, leading dims and a
single row; and their int and list params refused with the op and the argument named.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from conftest import load_wave2
from frameworks import api
from inputs import make_inputs, op_fn
from replay import case_ids, check_float32, check_float64

CASES: list[dict[str, Any]] = load_wave2()
case_id = case_ids(CASES)
NEW_OPS = sorted({c["op"] for c in CASES})
APIS = ("numpy", "torch")


def test_both_files_cover_every_new_op() -> None:
    assert NEW_OPS == ["neural_sort", "neural_sort_apply", "soft_quantile", "soft_topk"]
    assert all(op in OPS for op in NEW_OPS)
    assert sum("vjp" in c for c in CASES) > 300
    assert sum("grad_regularization_strength" in c for c in CASES) == 116


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float64(name: str, index: int) -> None:
    check_float64(name, CASES[index])


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_float32(name: str, index: int) -> None:
    check_float32(name, CASES[index])


# --- params other than the defaults -----------------------------------------------------------

#: Each new op with params the generic suites (which take the defaults) do not reach.
PARAMS: list[tuple[str, dict[str, Any]]] = [
    ("soft_topk", {"k": 2, "regularization": "l2", "direction": "descending"}),
    ("soft_topk", {"k": 3, "regularization": "p43", "direction": "ascending"}),
    ("soft_topk", {"k": 0, "regularization": "p43", "direction": "descending"}),
    ("soft_quantile", {"quantiles": [0.0, 0.3, 1.0], "regularization": "l2"}),
    ("soft_quantile", {"quantiles": (0.9, 0.25), "regularization": "kl"}),
    ("neural_sort", {"direction": "ascending"}),
    ("neural_sort", {"direction": "descending"}),
    ("neural_sort_apply", {"direction": "ascending"}),
    ("neural_sort_apply", {"direction": "descending"}),
]


def params_id(case: tuple[str, dict[str, Any]]) -> str:
    op, params = case
    return "-".join([op, *(str(v).replace(" ", "") for v in params.values())])


def numpy_call(op: str, inputs: dict[str, np.ndarray], **params: Any) -> Any:
    return op_fn(rank_relax, op)(*(inputs[n] for n in OPS[op]["inputs"]), **params)


def out_dims(op: str, n: int, params: dict[str, Any]) -> tuple[int, ...]:
    if "quantiles" in params:
        return (len(params["quantiles"]),)
    return {"neural_sort": (n, n)}.get(op, (n,))


@pytest.mark.parametrize("case", PARAMS, ids=params_id)
def test_numpy_leading_dims_single_row_and_vjp(case: tuple[str, dict[str, Any]]) -> None:
    op, params = case
    inputs = make_inputs(op, (2, 3, 5), seed=11)
    out = numpy_call(op, inputs, regularization_strength=0.4, **params)
    assert out.shape == (2, 3, *out_dims(op, 5, params))
    one = numpy_call(
        op, {k: v[1, 2] for k, v in inputs.items()}, regularization_strength=0.4, **params
    )
    assert one.shape == out_dims(op, 5, params)
    np.testing.assert_array_equal(one, out[1, 2])
    # The VJP against central differences of the forward.
    cot = np.random.default_rng(12).standard_normal(out.shape)
    grads = getattr(rank_relax, f"{op}_vjp")(
        *(inputs[n] for n in OPS[op]["inputs"]), cot, regularization_strength=0.4, **params
    )
    grads = grads if isinstance(grads, tuple) else (grads,)
    h = 1e-6
    for name, grad in zip(OPS[op]["differentiable"], grads):
        assert grad.shape == inputs[name].shape
        for index in [(0, 0, 0), (1, 2, 4), (0, 1, 2)]:
            up, down = dict(inputs), dict(inputs)
            up[name], down[name] = inputs[name].copy(), inputs[name].copy()
            up[name][index] += h
            down[name][index] -= h
            f_up = numpy_call(op, up, regularization_strength=0.4, **params)
            f_down = numpy_call(op, down, regularization_strength=0.4, **params)
            numeric = np.sum((f_up - f_down) * cot) / (2 * h)
            assert grad[index] == pytest.approx(numeric, rel=1e-5, abs=1e-6), (name, index)


def test_properties() -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4, 7))
    mask = rank_relax.soft_topk(x, k=3, regularization_strength=0.5)
    np.testing.assert_allclose(mask.sum(axis=1), 3.0, atol=1e-12)
    assert ((mask >= 0) & (mask <= 1)).all()
    hard = rank_relax.soft_topk(x, k=3, regularization_strength=1e-6)
    top = np.argsort(-x, axis=1)[:, :3]
    want = np.zeros_like(x)
    np.put_along_axis(want, top, 1.0, axis=1)
    np.testing.assert_allclose(hard, want, atol=1e-9)
    levels = [0.0, 0.25, 0.5, 1.0]
    q = rank_relax.soft_quantile(x, quantiles=levels, regularization_strength=1e-6)
    np.testing.assert_allclose(q, np.quantile(x, levels, axis=1).T, atol=1e-9)
    p = rank_relax.neural_sort(x, regularization_strength=0.3)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
    payload = rng.standard_normal((4, 7))
    np.testing.assert_allclose(
        rank_relax.neural_sort_apply(x, payload, regularization_strength=0.3),
        np.einsum("bij,bj->bi", p, payload),
        atol=1e-12,
    )
    sorted_hard = rank_relax.neural_sort_apply(x, x, regularization_strength=1e-6)
    np.testing.assert_allclose(sorted_hard, np.sort(x, axis=1), atol=1e-6)


# --- bad params, with the op and the argument named --------------------------------------------

BAD_K: list[tuple[Any, type, str]] = [
    (2.5, TypeError, "soft_topk: k must be an integer, got a float (2.5)"),
    (2.0, TypeError, "soft_topk: k must be an integer, got a float (2.0)"),
    (True, TypeError, "soft_topk: k must be an integer, got a bool"),
    (np.float64(2.0), TypeError, "soft_topk: k must be an integer, got a float (2.0)"),
    (np.bool_(True), TypeError, "soft_topk: k must be an integer, got a bool"),
    ("2", TypeError, "soft_topk: k must be an integer, got a string"),
    (None, TypeError, "soft_topk: k must be an integer, got nothing"),
    (5, ValueError, "soft_topk: k must be in [0, n] = [0, 4], got 5"),
    (-1, ValueError, "soft_topk: k must be in [0, n] = [0, 4], got -1"),
    (2**70, ValueError, f"soft_topk: k = {2**70} does not fit in 64 bits"),
]

BAD_QUANTILES: list[tuple[Any, type, str]] = [
    ([], ValueError, "soft_quantile: quantiles is empty; needs at least one quantile"),
    ([0.5, float("nan")], ValueError, "soft_quantile: quantiles[1] is NaN"),
    ([1.5], ValueError, "soft_quantile: quantiles[0] = 1.5 is not in [0, 1]"),
    ([0.5, -0.25], ValueError, "soft_quantile: quantiles[1] = -0.25 is not in [0, 1]"),
    ([float("inf")], ValueError, "soft_quantile: quantiles[0] is +inf"),
    ("0.5", TypeError, "soft_quantile: quantiles must be a list of real numbers, got a string"),
    (0.5, TypeError, "soft_quantile: quantiles must be a list of real numbers, got a float (0.5)"),
    ([0.5, "a"], TypeError, "soft_quantile: quantiles[1] must be a real number, got str"),
    ([True], TypeError, "soft_quantile: quantiles[0] must be a real number, got bool"),
    (
        np.array([[0.5]]),
        ValueError,
        "soft_quantile: quantiles must be a 1-D sequence of real numbers, got an array of shape "
        "[1, 1]",
    ),
]


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize(("k", "kind", "text"), BAD_K, ids=[repr(k) for k, _, _ in BAD_K])
def test_bad_k(name: str, k: Any, kind: type, text: str) -> None:
    with pytest.raises(kind, match=f"^{re.escape(text)}$"):
        api(name).call("soft_topk", make_inputs("soft_topk", (2, 4)), {"k": k})


@pytest.mark.parametrize("name", APIS)
@pytest.mark.parametrize(
    ("quantiles", "kind", "text"), BAD_QUANTILES, ids=[repr(q) for q, _, _ in BAD_QUANTILES]
)
def test_bad_quantiles(name: str, quantiles: Any, kind: type, text: str) -> None:
    with pytest.raises(kind, match=f"^{re.escape(text)}$"):
        api(name).call(
            "soft_quantile", make_inputs("soft_quantile", (2, 4)), {"quantiles": quantiles}
        )


@pytest.mark.parametrize("name", APIS)
def test_good_k_and_quantiles_of_other_types(name: str) -> None:
    fw = api(name)
    inputs = make_inputs("soft_topk", (2, 4))
    want = fw.call("soft_topk", inputs, {"k": 2})
    np.testing.assert_array_equal(fw.call("soft_topk", inputs, {"k": np.int64(2)}), want)
    want = fw.call("soft_quantile", inputs, {"quantiles": [0.25, 0.75]})
    for same in ((0.25, 0.75), np.array([0.25, 0.75]), [np.float32(0.25), 0.75]):
        np.testing.assert_array_equal(fw.call("soft_quantile", inputs, {"quantiles": same}), want)


@pytest.mark.parametrize("name", APIS)
def test_regularization_of_another_op_is_refused(name: str) -> None:
    text = 'soft_topk: regularization must be one of "l2", "p43", got "kl"'
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        api(name).call("soft_topk", make_inputs("soft_topk", (2, 4)), {"regularization": "kl"})


@pytest.mark.parametrize("name", APIS)
def test_payload_of_the_wrong_shape(name: str) -> None:
    inputs = make_inputs("neural_sort_apply", (2, 4))
    inputs["payload"] = inputs["payload"][:, :3]
    text = "neural_sort_apply: values has shape [2, 4] but payload has shape [2, 3]"
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        api(name).call("neural_sort_apply", inputs, {})


def test_numpy_cotangent_of_the_wrong_shape() -> None:
    x = make_inputs("neural_sort", (2, 4))["values"]
    text = (
        "neural_sort: permutation_matrix has shape [2, 4, 4] but cotangent_permutation_matrix has "
        "shape [2, 4]"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(text)}"):
        rank_relax.neural_sort_vjp(x, np.ones((2, 4)))
    text = "soft_quantile: result has shape [2, 2] but cotangent_result has shape [2, 1]"
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        rank_relax.soft_quantile_vjp(x, np.ones((2, 1)), quantiles=[0.1, 0.2])


def test_native_kernels_check_every_shape() -> None:
    """The kernel table (what torch calls) checks buffers of shape [batch, n, n] dim by dim."""
    from rank_relax._generated import KERNELS

    x = make_inputs("neural_sort", (2, 3))["values"]
    (p,) = KERNELS["neural_sort_forward"]["float64"](x, None, 0.5, "ascending")
    assert p.shape == (2, 3, 3)
    backward = KERNELS["neural_sort_backward"]["float64"]
    text = "neural_sort: cotangent_permutation_matrix has shape [3, 2, 3] but must be [2, 3, 3]"
    with pytest.raises(ValueError, match=f"^{re.escape(text)}$"):
        backward(x, None, p, np.ones((3, 2, 3)), 0.5, "ascending")


def test_check_params_takes_the_row_length() -> None:
    from rank_relax._generated import CHECK_PARAMS

    check = CHECK_PARAMS["soft_topk"]
    check(7, 0.5, "l2", "descending")  # n unknown: any k some row allows
    check(3, 0.5, "l2", "descending", n=3)
    with pytest.raises(ValueError, match=r"^soft_topk: k must be in \[0, n\] = \[0, 2\], got 3$"):
        check(3, 0.5, "l2", "descending", n=2)
    with pytest.raises(ValueError, match=r"^soft_quantile: quantiles is empty"):
        CHECK_PARAMS["soft_quantile"]([], 0.5, "l2")


# --- PyTorch with those params: gradcheck, opcheck, torch.compile, torch.func -------------------


@pytest.fixture(params=["eager", "custom_ops"])
def path(request: pytest.FixtureRequest) -> Any:
    """Runs a test through the eager autograd.Function and through the custom ops."""
    pytest.importorskip("torch")
    from rank_relax.torch import _plumbing

    _plumbing._FORCE_CUSTOM_OPS = request.param == "custom_ops"
    yield request.param
    _plumbing._FORCE_CUSTOM_OPS = False


def torch_inputs(op: str, shape: tuple[int, ...], seed: int = 0) -> dict[str, Any]:
    import torch

    return {
        name: torch.tensor(a, requires_grad=name in OPS[op]["differentiable"])
        for name, a in make_inputs(op, shape, np.float64, seed).items()
    }


def torch_call(op: str, inputs: dict[str, Any], **params: Any) -> Any:
    import rank_relax.torch as rt

    return op_fn(rt, op)(*(inputs[n] for n in OPS[op]["inputs"]), **params)


@pytest.mark.parametrize("case", PARAMS, ids=params_id)
@pytest.mark.parametrize("shape", [(3, 6), (2, 2, 5), (7,)], ids=str)
def test_gradcheck(case: tuple[str, dict[str, Any]], shape: tuple[int, ...], path: str) -> None:
    import torch

    op, params = case
    inputs = torch_inputs(op, shape, seed=14)
    eps = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    diff = [inputs[n] for n in OPS[op]["differentiable"]]

    def f(eps: Any, *args: Any) -> Any:
        given = dict(inputs) | dict(zip(OPS[op]["differentiable"], args))
        return torch_call(op, given, regularization_strength=eps, **params)

    assert torch.autograd.gradcheck(f, [eps, *diff], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case", PARAMS, ids=params_id)
def test_opcheck(case: tuple[str, dict[str, Any]]) -> None:
    torch = pytest.importorskip("torch")
    import rank_relax.torch  # noqa: F401  (defines the custom ops)

    op, given = case
    inputs = {n: t.detach() for n, t in torch_inputs(op, (3, 5), seed=15).items()}
    params: list[Any] = []
    for p in OPS[op]["params"]:
        if p == "regularization_strength":
            params.append(torch.tensor(0.5, dtype=torch.float64))
        elif p in given:
            params.append(list(given[p]) if p == "quantiles" else given[p])
        else:
            params.append(
                {**OPS[op]["ints"], **OPS[op]["lists"]}.get(p, OPS[op]["enums"].get(p, [None])[0])
            )
    forward = getattr(torch.ops.rank_relax, f"{op}_forward").default
    backward = getattr(torch.ops.rank_relax, f"{op}_backward").default
    absent = (None,) * len(OPS[op]["optional"])  # the optional inputs come last: no mask
    args = (*(inputs[n] for n in OPS[op]["inputs"]), *absent, *params)
    torch.library.opcheck(forward, args)
    outs = forward(*args)
    outs = (outs,) if isinstance(outs, torch.Tensor) else outs
    known = inputs | dict(zip([*OPS[op]["outputs"], *OPS[op]["residuals"]], outs))
    known |= dict.fromkeys(OPS[op]["optional"])
    for name in OPS[op]["diff_outputs"]:
        known[f"cotangent_{name}"] = torch.randn_like(known[name])
    tensors = [a.name for a in backward._schema.arguments if a.name in known]
    torch.library.opcheck(backward, (*(known[n] for n in tensors), *params))


@pytest.mark.parametrize("case", PARAMS, ids=params_id)
def test_compile_matches_eager(case: tuple[str, dict[str, Any]]) -> None:
    torch = pytest.importorskip("torch")
    op, params = case
    torch._dynamo.reset()

    def loss(inputs: dict[str, Any], eps: Any) -> Any:
        return (torch_call(op, inputs, regularization_strength=eps, **params) ** 2).sum()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    for seed in range(2):
        inputs = torch_inputs(op, (3, 5), seed=seed)
        eps = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
        diff = [inputs[n] for n in OPS[op]["differentiable"]] + [eps]
        want = loss(inputs, eps)
        want_grads = torch.autograd.grad(want, diff)
        got = compiled(inputs, eps)
        got_grads = torch.autograd.grad(got, diff)
        torch.testing.assert_close(got, want)
        for g, w in zip(got_grads, want_grads):
            torch.testing.assert_close(g, w)


@pytest.mark.parametrize("case", PARAMS, ids=params_id)
def test_leading_dims_single_row_and_func(case: tuple[str, dict[str, Any]], path: str) -> None:
    torch = pytest.importorskip("torch")
    op, params = case
    inputs = {n: t.detach() for n, t in torch_inputs(op, (2, 3, 5), seed=16).items()}
    out = torch_call(op, inputs, regularization_strength=0.6, **params)
    assert out.shape == (2, 3, *out_dims(op, 5, params))
    one = torch_call(
        op, {k: v[1, 2] for k, v in inputs.items()}, regularization_strength=0.6, **params
    )
    assert one.shape == out_dims(op, 5, params)
    torch.testing.assert_close(one, out[1, 2], rtol=0, atol=0)
    # vmap over the leading dim is one call on the flattened rows.
    names = OPS[op]["inputs"]
    mapped = torch.func.vmap(
        lambda *xs: torch_call(op, dict(zip(names, xs)), regularization_strength=0.6, **params)
    )(*(inputs[n] for n in names))
    torch.testing.assert_close(mapped, out, rtol=0, atol=0)
    # grad and jacrev of the first differentiable input agree with autograd.
    first = OPS[op]["differentiable"][0]
    w = torch.randn_like(out)

    def f(v: Any) -> Any:
        return torch_call(op, inputs | {first: v}, regularization_strength=0.6, **params)

    v = inputs[first].clone().requires_grad_()
    (want,) = torch.autograd.grad(f(v), [v], w)
    got = torch.func.grad(lambda a: (f(a) * w).sum())(inputs[first])
    torch.testing.assert_close(got, want, rtol=0, atol=1e-14)
    jac = torch.func.jacrev(f)(inputs[first])
    torch.testing.assert_close(
        (jac * w.reshape(*w.shape, 1, 1, 1)).sum(tuple(range(w.dim()))), want, rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("op", NEW_OPS)
def test_second_order_is_exact(op: str, path: str) -> None:
    """Double backward runs the JVP and HVP kernels (test_second_order.py covers every op and
    regularization): gradgradcheck with the op's non-default enum values."""
    torch = pytest.importorskip("torch")
    inputs = {n: t.detach() for n, t in torch_inputs(op, (3, 5), seed=17).items()}
    first = OPS[op]["differentiable"][0]
    other = {p: values[-1] for p, values in OPS[op]["enums"].items()}

    def f(v: Any) -> Any:
        return torch_call(op, inputs | {first: v}, regularization_strength=0.6, **other)

    v = inputs[first].clone().requires_grad_()
    assert torch.autograd.gradgradcheck(f, [v], eps=1e-6, atol=1e-6, rtol=1e-5)


def test_export() -> None:
    """torch.export keeps the custom ops, with k and quantiles in the graph as constants."""
    torch = pytest.importorskip("torch")
    import rank_relax.torch as rt

    class Model(torch.nn.Module):
        def forward(self, x: Any, y: Any) -> Any:
            mask = rt.soft_topk(x, k=2, regularization_strength=0.5, regularization="p43")
            q = rt.soft_quantile(x, quantiles=[0.25, 0.75], regularization_strength=0.5)
            p = rt.neural_sort(x, regularization_strength=0.5)
            return mask.sum(-1) + q.sum(-1) + p.sum((-2, -1)) + rt.neural_sort_apply(x, y).sum(-1)

    x, y = torch.randn(3, 5, dtype=torch.float64), torch.randn(3, 5, dtype=torch.float64)
    program = torch.export.export(Model(), (x, y))
    code = program.graph_module.code
    for op in NEW_OPS:
        assert f"rank_relax.{op}_forward" in code, op
    torch.testing.assert_close(program.module()(x, y), Model()(x, y), rtol=0, atol=0)
