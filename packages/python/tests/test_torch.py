"""rank_relax.torch: gradcheck for every op, both paths (eager autograd.Function and the custom
ops), torch.library.opcheck, torch.compile(fullgraph=True), torch.func transforms, dtypes and
devices, torchsort. Forward mode is in test_jvp.py, second order in test_second_order.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import first_output, make_inputs, op_fn, output_shape, param_combinations

torch = pytest.importorskip("torch")

import rank_relax.torch as rt  # noqa: E402
from rank_relax.torch import _plumbing  # noqa: E402

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


@pytest.fixture(params=["eager", "custom_ops"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test through the eager autograd.Function and through the custom ops."""
    _plumbing._FORCE_CUSTOM_OPS = request.param == "custom_ops"
    yield request.param
    _plumbing._FORCE_CUSTOM_OPS = False


def tensors(op: str, shape: tuple[int, ...], dtype: Any = torch.float64, seed: int = 0) -> dict:
    arrays = make_inputs(op, shape, np.float64, seed)
    return {
        name: torch.tensor(a)
        if name in OPS[op]["int_inputs"]
        else torch.tensor(a, dtype=dtype, requires_grad=name in OPS[op]["differentiable"])
        for name, a in arrays.items()
    }


def apply(op: str, inputs: dict[str, Any], **params: Any) -> Any:
    return op_fn(rt, op)(*(inputs[n] for n in OPS[op]["inputs"]), **params)


@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("shape", [(3, 6), (2, 2, 5), (7,)], ids=str)
def test_gradcheck(case: tuple[str, dict[str, str]], shape: tuple[int, ...], path: str) -> None:
    op, params = case
    inputs = tensors(op, shape)
    diff = [inputs[n] for n in OPS[op]["differentiable"]]

    def f(*args: Any) -> Any:
        given = dict(inputs) | dict(zip(OPS[op]["differentiable"], args))
        return apply(op, given, regularization_strength=0.7, **params)

    assert torch.autograd.gradcheck(f, diff, eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradcheck_regularization_strength(case: tuple[str, dict[str, str]], path: str) -> None:
    op, params = case
    inputs = tensors(op, (3, 5), seed=1)
    eps = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)
    diff = [inputs[n] for n in OPS[op]["differentiable"]]

    def f(eps: Any, *args: Any) -> Any:
        given = dict(inputs) | dict(zip(OPS[op]["differentiable"], args))
        return apply(op, given, regularization_strength=eps, **params)

    assert torch.autograd.gradcheck(f, [eps, *diff], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_paths_agree(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    results = []
    for force in (False, True):
        _plumbing._FORCE_CUSTOM_OPS = force
        try:
            inputs = tensors(op, (4, 6), seed=2)
            eps = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
            out = apply(op, inputs, regularization_strength=eps, **params)
            grads = torch.autograd.grad(
                out.sum(), [inputs[n] for n in OPS[op]["differentiable"]] + [eps]
            )
            results.append((out.detach(), grads))
        finally:
            _plumbing._FORCE_CUSTOM_OPS = False
    (a, ga), (b, gb) = results
    assert torch.equal(a, b)
    for x, y in zip(ga, gb):
        assert torch.equal(x, y)


def param_value(op: str, name: str) -> Any:
    """A value of a param of the op as its custom ops take it (a real param as a 0-d tensor)."""
    spec = OPS[op]
    if name in spec["reals"]:
        return torch.tensor(0.5, dtype=torch.float64)
    if name in spec["enums"]:
        return spec["enums"][name][0]
    if name in spec["bools"]:
        return spec["bools"][name]
    return {**spec["ints"], **spec["lists"]}[name]


def _op_args(op: str, pass_: str) -> tuple[Any, ...]:
    """Arguments of the custom op ``<op>_<pass_>``: random inputs, or a forward run's results."""
    inputs = tensors(op, (3, 5), seed=3)
    params = [param_value(op, p) for p in OPS[op]["params"]]
    absent = (None,) * len(OPS[op]["optional"])  # the optional inputs come last: no mask
    if pass_ == "forward":
        return (*(inputs[n] for n in OPS[op]["inputs"]), *absent, *params)
    known = {n: t.detach() for n, t in inputs.items()} | dict.fromkeys(OPS[op]["optional"])
    forward = getattr(torch.ops.rank_relax, f"{op}_forward").default
    outs = forward(*(known[n] for n in OPS[op]["inputs"]), *absent, *params)
    outs = (outs,) if isinstance(outs, torch.Tensor) else outs
    known |= dict(zip([*OPS[op]["outputs"], *OPS[op]["residuals"]], outs))
    for name in OPS[op]["diff_outputs"]:
        known[f"cotangent_{name}"] = torch.randn_like(known[name])
    schema = getattr(torch.ops.rank_relax, f"{op}_backward").default._schema
    tensor_args = [a.name for a in schema.arguments if a.name in known]
    return (*(known[n] for n in tensor_args), *params)


@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("pass_", ["forward", "backward"])
def test_opcheck(op: str, pass_: str) -> None:
    custom_op = getattr(torch.ops.rank_relax, f"{op}_{pass_}").default
    torch.library.opcheck(custom_op, _op_args(op, pass_))


@pytest.mark.parametrize("op", OP_NAMES)
def test_compile_fullgraph(op: str) -> None:
    torch._dynamo.reset()
    enums = {k: v[-1] for k, v in OPS[op]["enums"].items()}

    def loss(inputs: dict[str, Any], eps: Any) -> Any:
        return (apply(op, inputs, regularization_strength=eps, **enums) ** 2).sum()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    for seed in range(2):
        inputs = tensors(op, (3, 5), seed=seed)
        eps = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
        diff = [inputs[n] for n in OPS[op]["differentiable"]] + [eps]
        want = loss(inputs, eps)
        want_grads = torch.autograd.grad(want, diff)
        got = compiled(inputs, eps)
        got_grads = torch.autograd.grad(got, diff)
        torch.testing.assert_close(got, want)
        for g, w in zip(got_grads, want_grads):
            torch.testing.assert_close(g, w)


def test_compile_inductor_float_strength() -> None:
    torch._dynamo.reset()
    x = torch.randn(4, 8, dtype=torch.float32, requires_grad=True)
    y = torch.randn(4, 8, dtype=torch.float32)

    def loss(x: Any, y: Any) -> Any:
        return rt.spearman_loss(x, y, regularization_strength=0.1).mean() + rt.soft_rank(x).sum()

    compiled = torch.compile(loss, fullgraph=True)
    (g,) = torch.autograd.grad(compiled(x, y), [x])
    (w,) = torch.autograd.grad(loss(x, y), [x])
    torch.testing.assert_close(g, w)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("op", OP_NAMES)
def test_dtypes(op: str, dtype: Any, path: str) -> None:
    inputs = tensors(op, (2, 6), dtype=dtype)
    out = apply(op, inputs, regularization_strength=0.5)
    assert out.dtype == dtype
    diff = [inputs[n] for n in OPS[op]["differentiable"]]
    grads = torch.autograd.grad(out.float().sum(), diff)
    for g in grads:
        assert g.dtype == dtype
        assert torch.isfinite(g.float()).all()
    want = apply(
        op,
        {k: v.detach().float() if v.is_floating_point() else v for k, v in inputs.items()},
        regularization_strength=0.5,
    )
    torch.testing.assert_close(
        out.float(), want, atol=2e-2 if dtype != torch.float32 else 0, rtol=1e-2
    )


@pytest.mark.parametrize("op", OP_NAMES)
def test_batch_dims_and_1d(op: str, path: str) -> None:
    inputs = tensors(op, (2, 3, 5))
    out = apply(op, inputs)
    name = first_output(op)
    assert out.shape == output_shape(op, name, (2, 3), 5)
    flat = apply(op, {k: v.reshape(6, 5) for k, v in inputs.items()})
    assert flat.shape == output_shape(op, name, (6,), 5)
    torch.testing.assert_close(out.reshape(flat.shape), flat)
    one = apply(op, {k: v[1, 2] for k, v in inputs.items()})
    assert one.shape == output_shape(op, name, (), 5)
    torch.testing.assert_close(one, out[1, 2])


def test_non_contiguous_and_cotangent_layouts(path: str) -> None:
    x = torch.randn(6, 4, dtype=torch.float64).t().requires_grad_()
    out = rt.soft_rank(x, regularization_strength=0.3)
    want = rt.soft_rank(x.detach().contiguous(), regularization_strength=0.3)
    torch.testing.assert_close(out, want)
    (g,) = torch.autograd.grad(out.sum(), [x])  # an expanded (stride 0) cotangent
    assert torch.allclose(g, torch.zeros_like(g), atol=1e-12)  # ranks sum to a constant


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
@pytest.mark.parametrize("op", OP_NAMES)
def test_cuda_computed_on_cpu_returned_on_device(op: str, path: str) -> None:
    cpu = tensors(op, (3, 7))
    cuda = {k: v.detach().cuda().requires_grad_(v.requires_grad) for k, v in cpu.items()}
    out = apply(op, cuda, regularization_strength=0.5)
    assert out.device.type == "cuda"
    want = apply(op, cpu, regularization_strength=0.5)
    torch.testing.assert_close(out.cpu(), want)
    diff = [cuda[n] for n in OPS[op]["differentiable"]]
    for g, w in zip(
        torch.autograd.grad(out.sum(), diff),
        torch.autograd.grad(want.sum(), [cpu[n] for n in OPS[op]["differentiable"]]),
    ):
        assert g.device.type == "cuda"
        torch.testing.assert_close(g.cpu(), w)


def test_regularization_strength_gradient_matches_finite_difference(path: str) -> None:
    x = torch.randn(3, 6, dtype=torch.float64)
    w = torch.randn(3, 6, dtype=torch.float64)
    eps = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad((rt.soft_rank(x, eps, "kl") * w).sum(), [eps])
    h = 1e-6
    up = (rt.soft_rank(x, 0.8 + h, "kl") * w).sum()
    down = (rt.soft_rank(x, 0.8 - h, "kl") * w).sum()
    assert g.item() == pytest.approx(((up - down) / (2 * h)).item(), rel=1e-6, abs=1e-8)


def test_vmap() -> None:
    x = torch.randn(4, 3, 6, dtype=torch.float64)
    y = torch.randn(3, 6, dtype=torch.float64)
    got = torch.func.vmap(lambda v: rt.spearman_loss(v, y, 0.5))(x)
    want = torch.stack([rt.spearman_loss(v, y, 0.5) for v in x])
    torch.testing.assert_close(got, want)
    got = torch.func.vmap(lambda v: rt.soft_rank(v, 0.5, "kl", "descending"), in_dims=1)(x)
    want = torch.stack([rt.soft_rank(x[:, i], 0.5, "kl", "descending") for i in range(3)])
    torch.testing.assert_close(got, want)


def test_inference_mode_and_no_grad(path: str) -> None:
    x = torch.randn(3, 5)
    with torch.inference_mode():
        a = rt.soft_sort(x, 0.2)
    with torch.no_grad():
        b = rt.soft_sort(x, 0.2)
    torch.testing.assert_close(a, b)


# --- torch.func and derivatives no kernel computes yet --------------------------------------


def _diff_and_fn(
    op: str, shape: tuple[int, ...] = (3, 5), seed: int = 4, **params: Any
) -> tuple[Any, Any]:
    """The op's first differentiable input and the op as a function of it, ε = 0.6."""
    inputs = {n: t.detach() for n, t in tensors(op, shape, seed=seed).items()}
    first = OPS[op]["differentiable"][0]

    def f(v: Any) -> Any:
        return apply(op, inputs | {first: v}, regularization_strength=0.6, **params)

    return inputs[first], f


@pytest.mark.parametrize("op", OP_NAMES)
def test_func_grad_vjp_jacrev_match_autograd(op: str) -> None:
    x, f = _diff_and_fn(op)
    w = torch.randn_like(f(x))
    v = x.clone().requires_grad_()
    (want,) = torch.autograd.grad(f(v), [v], w)
    got = torch.func.grad(lambda a: (f(a) * w).sum())(x)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-14)
    out, pullback = torch.func.vjp(f, x)
    torch.testing.assert_close(out, f(x), rtol=0, atol=0)
    torch.testing.assert_close(pullback(w)[0], want, rtol=0, atol=1e-14)
    jac = torch.func.jacrev(f)(x)
    torch.testing.assert_close(
        (jac * w.reshape(*w.shape, *(1,) * x.dim())).sum(tuple(range(w.dim()))),
        want,
        rtol=0,
        atol=1e-12,
    )


@pytest.mark.parametrize("op", OP_NAMES)
def test_per_sample_gradients_vmap_grad(op: str) -> None:
    """``vmap(grad(...))``: one gradient per sample, each equal to its own autograd gradient."""
    inputs = {n: t.detach() for n, t in tensors(op, (4, 3, 5), seed=6).items()}
    names, first = OPS[op]["inputs"], OPS[op]["differentiable"][0]

    def loss(a: Any, sample: dict[str, Any]) -> Any:
        return apply(op, sample | {first: a}, regularization_strength=0.6).square().sum()

    per_sample = torch.func.vmap(
        lambda *xs: torch.func.grad(loss)(xs[names.index(first)], dict(zip(names, xs)))
    )(*(inputs[n] for n in names))
    for i in range(per_sample.shape[0]):
        sample = {n: t[i] for n, t in inputs.items()}
        v = sample[first].clone().requires_grad_()
        (want,) = torch.autograd.grad(loss(v, sample), [v])
        torch.testing.assert_close(per_sample[i], want, rtol=0, atol=1e-13)


def test_jacrev_of_soft_rank_is_exact() -> None:
    """The issue's example: ∂ranks/∂x₀ of [0.3, −1.2, 2.0, 0.7] at ε = 0.5 is [1, 0, 0, −1]."""
    x = torch.tensor([[0.3, -1.2, 2.0, 0.7]], dtype=torch.float64)
    jac = torch.func.jacrev(lambda v: rt.soft_rank(v, regularization_strength=0.5))(x)
    want = torch.tensor([1.0, 0.0, 0.0, -1.0], dtype=torch.float64)
    torch.testing.assert_close(jac[0, :, 0, 0], want, rtol=0, atol=1e-15)


# --- torchsort -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def torchsort() -> Any:
    return pytest.importorskip("torchsort")


@pytest.mark.parametrize("fn", ["soft_rank", "soft_sort"])
@pytest.mark.parametrize("regularization", ["l2", "kl"])
@pytest.mark.parametrize("eps", [0.1, 1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_same_as_torchsort(
    torchsort: Any, fn: str, regularization: str, eps: float, dtype: Any
) -> None:
    """A torchsort user migrates by changing the import: equal outputs and gradients."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(8, 50, generator=gen, dtype=dtype)
    cotangent = torch.randn(8, 50, generator=gen, dtype=dtype)
    results = []
    for module in (torchsort, rt):
        v = x.clone().requires_grad_()
        out = getattr(module, fn)(v, regularization=regularization, regularization_strength=eps)
        (g,) = torch.autograd.grad(out, [v], cotangent)
        results.append((out.detach(), g))
    (want, want_g), (got, got_g) = results
    tol = {"atol": 1e-9, "rtol": 1e-9} if dtype == torch.float64 else {"atol": 2e-4, "rtol": 1e-4}
    torch.testing.assert_close(got, want, **tol)
    torch.testing.assert_close(got_g, want_g, **tol)


def test_torchsort_issue_63_finite_gradients() -> None:
    """torchsort #63: kl at ε = 1e-4 on values near 0.9 gave NaN gradients."""
    x = torch.tensor([[0.1, 0.3, 0.5, 0.03, 0.2, 0.15, 0.65, 0.7, 0.9]], requires_grad=True)
    y = rt.soft_rank(x.view(1, -1), regularization="kl", regularization_strength=1e-4).view(-1)
    y = (y - y.min()) / (y.max() - y.min())
    loss = -torch.log(1 - torch.abs(y - x.flatten()) + 1e-10)
    (g,) = torch.autograd.grad(loss.mean(), x)
    assert torch.isfinite(y).all()
    assert torch.isfinite(g).all()


def test_export() -> None:
    class Model(torch.nn.Module):
        def forward(self, x: Any, y: Any) -> Any:
            return rt.spearman_loss(x, y, 0.1) + rt.soft_rank(x, 0.5, "kl").sum(-1)

    x, y = torch.randn(3, 5), torch.randn(3, 5)
    program = torch.export.export(Model(), (x, y))
    assert "rank_relax.soft_rank_forward" in program.graph_module.code
    torch.testing.assert_close(program.module()(x, y), Model()(x, y))
