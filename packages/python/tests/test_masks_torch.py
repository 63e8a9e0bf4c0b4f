"""``rank_relax.torch`` with a ``mask``: through the eager ``autograd.Function`` and the custom ops,
gradcheck with forward AD and batched gradients, gradgradcheck (forward over reverse too), the
custom ops' ``Tensor? mask`` under opcheck, torch.compile(fullgraph=True), torch.export,
torch.func (grad, vjp, jvp, jacrev, jacfwd, hessian, vmap with a mask per sample or one shared),
forward-mode AD and double backward against the NumPy derivatives with the same mask. The masks
have a row with no item present, one with every item, one with a single item.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations
from masking import pad_absent, random_mask

torch = pytest.importorskip("torch")

import torch.autograd.forward_ad as fwAD  # noqa: E402
from torch.func import grad, hessian, jacfwd, jacrev, jvp, vjp, vmap  # noqa: E402

import rank_relax.torch as rt  # noqa: E402
from rank_relax.torch import _plumbing  # noqa: E402

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]
EPS = 0.7
SHAPE = (4, 5)
Tensor = torch.Tensor


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


@pytest.fixture(params=["eager", "custom_ops"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test through the eager autograd.Function and through the custom ops."""
    _plumbing._FORCE_CUSTOM_OPS = request.param == "custom_ops"
    yield request.param
    _plumbing._FORCE_CUSTOM_OPS = False


class Masked:
    """An op on random inputs with a random mask, as a function of its differentiable inputs (the
    other inputs fixed), and the same call through the NumPy API for reference."""

    def __init__(self, op: str, seed: int, shape: tuple[int, ...] = SHAPE, **params: Any) -> None:
        self.op = op
        self.params = {"regularization_strength": EPS, **params}
        self.arrays = make_inputs(op, shape, np.float64, seed)
        self.mask_array = random_mask(shape, seed)
        self.mask = torch.from_numpy(self.mask_array)
        self.inputs = {n: torch.from_numpy(a) for n, a in self.arrays.items()}
        self.names = OPS[op]["differentiable"]
        self.xs = [self.inputs[n].clone() for n in self.names]

    def __call__(self, *args: Tensor, mask: Tensor | None = None, **params: Any) -> Tensor:
        given = self.inputs | dict(zip(self.names, args))
        return op_fn(rt, self.op)(
            *(given[n] for n in OPS[self.op]["inputs"]),
            **(self.params | params),
            mask=self.mask if mask is None else mask,
        )

    def numpy(self, suffix: str, *args: np.ndarray, **params: Any) -> tuple[np.ndarray, ...]:
        """``rank_relax.<op><suffix>`` with the mask: the required inputs, then ``args``."""
        fn = getattr(rank_relax, f"{self.op}{suffix}")
        inputs = [self.arrays[n] for n in OPS[self.op]["inputs"]]
        out = fn(*inputs, *args, **(self.params | params), mask=self.mask_array)
        return out if isinstance(out, tuple) else (out,)


def random_like(value: Tensor, seed: int) -> Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(value.shape, dtype=value.dtype, generator=generator)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradcheck_with_a_mask(case: tuple[str, dict[str, str]], path: str) -> None:
    op, params = case
    f = Masked(op, seed=1, **params)
    xs = [x.requires_grad_() for x in f.xs]
    kw: dict[str, Any] = dict(eps=1e-6, atol=1e-6, rtol=1e-5)
    # Batched gradients (a vmap over the backward) through the custom ops: the eager path's
    # backward runs outside the dispatcher, which has no batching rule for it, mask or not.
    batched = path == "custom_ops"
    assert torch.autograd.gradcheck(
        f,
        xs,
        check_forward_ad=True,
        check_batched_grad=batched,
        check_batched_forward_grad=True,
        **kw,
    )
    assert torch.autograd.gradgradcheck(f, xs, check_fwd_over_rev=True, **kw)
    # ε a tensor that requires grad: its gradient and second derivatives with the mask too.
    eps = torch.tensor(EPS, dtype=torch.float64, requires_grad=True)

    def g(e: Tensor, *args: Tensor) -> Tensor:
        return f(*args, regularization_strength=e)

    assert torch.autograd.gradcheck(g, [eps, *xs], check_forward_ad=True, **kw)
    assert torch.autograd.gradgradcheck(g, [eps, *xs], check_fwd_over_rev=True, **kw)


@pytest.mark.parametrize("op", OP_NAMES)
def test_gradcheck_with_random_masks_and_leading_dims(op: str, path: str) -> None:
    for seed in range(3):
        f = Masked(op, seed=10 + seed, shape=(2, 3, 4))
        xs = [x.requires_grad_() for x in f.xs]
        assert torch.autograd.gradcheck(
            f, xs, eps=1e-6, atol=1e-6, rtol=1e-5, check_forward_ad=True
        )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_paths_agree_with_a_mask(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    results = []
    for force in (False, True):
        _plumbing._FORCE_CUSTOM_OPS = force
        try:
            f = Masked(op, seed=2, **params)
            xs = [x.requires_grad_() for x in f.xs]
            eps = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
            out = f(*xs, regularization_strength=eps)
            results.append((out.detach(), torch.autograd.grad(out.sum(), [*xs, eps])))
        finally:
            _plumbing._FORCE_CUSTOM_OPS = False
    (a, ga), (b, gb) = results
    assert torch.equal(a, b)
    for x, y in zip(ga, gb):
        assert torch.equal(x, y)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_autograd_matches_the_numpy_derivatives(
    case: tuple[str, dict[str, str]], path: str
) -> None:
    """Reverse mode, forward mode and double backward with a mask against the NumPy VJP, JVP and
    HVP with the same mask; zero at absent positions."""
    op, params = case
    f = Masked(op, seed=3, **params)
    xs = [x.requires_grad_() for x in f.xs]
    out = f(*xs)
    np.testing.assert_array_equal(out.detach().numpy(), f.numpy("", **params)[0])
    cot = random_like(out, seed=4)
    grads = torch.autograd.grad(out, xs, cot, create_graph=True)
    want = f.numpy("_vjp", cot.numpy(), **params)
    for g, w in zip(grads, want):
        np.testing.assert_allclose(g.detach().numpy(), w, rtol=1e-12, atol=1e-12)
        assert (g.detach().numpy()[~f.mask_array] == 0).all()
    tangents = [random_like(x, seed=5 + k) for k, x in enumerate(xs)]
    want_jvp = f.numpy("_jvp", *(t.numpy() for t in tangents), **params)[0]
    with fwAD.dual_level():
        dual = f(*(fwAD.make_dual(x.detach(), t) for x, t in zip(xs, tangents)))
        got_jvp = fwAD.unpack_dual(dual).tangent
    np.testing.assert_allclose(got_jvp.numpy(), want_jvp, rtol=1e-12, atol=1e-12)
    # Double backward: d⟨grads, t⟩/dx is the HVP along t at the cotangent.
    inner = sum((g * t).sum() for g, t in zip(grads, tangents))
    second = torch.autograd.grad(inner, xs)
    want_hvp = f.numpy("_hvp", cot.numpy(), *(t.numpy() for t in tangents), **params)
    for g, w in zip(second, want_hvp):
        np.testing.assert_allclose(g.numpy(), w, rtol=1e-10, atol=1e-10)
        assert (g.numpy()[~f.mask_array] == 0).all()


@pytest.mark.parametrize("op", OP_NAMES)
def test_torch_func_with_a_mask(op: str, path: str) -> None:
    f = Masked(op, seed=6)
    x, *rest = f.xs

    def h(v: Tensor) -> Tensor:
        return f(v, *rest)

    out = h(x)
    cot = random_like(out, seed=7)
    t = random_like(x, seed=8)
    vjp_x = f.numpy("_vjp", cot.numpy())[0]
    jvp_x = f.numpy("_jvp", t.numpy(), *(torch.zeros_like(r).numpy() for r in rest))[0]
    hvp_args = [t.numpy(), *(torch.zeros_like(r).numpy() for r in rest)]
    hvp_x = f.numpy("_hvp", cot.numpy(), *hvp_args)[0]

    def loss(v: Tensor) -> Tensor:
        return (h(v) * cot).sum()

    close = dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grad(loss)(x).numpy(), vjp_x, **close)
    _, pullback = vjp(h, x)
    np.testing.assert_allclose(pullback(cot)[0].numpy(), vjp_x, **close)
    np.testing.assert_allclose(jvp(h, (x,), (t,))[1].numpy(), jvp_x, **close)
    rev, fwd = jacrev(h)(x), jacfwd(h)(x)
    torch.testing.assert_close(rev, fwd, rtol=1e-10, atol=1e-10)
    # Absent items move nothing: their columns of the Jacobian are zero.
    columns = rev.reshape(-1, *x.shape)
    assert (columns[:, ~f.mask] == 0).all()
    hess = hessian(loss)(x).reshape(x.numel(), x.numel())
    np.testing.assert_allclose((hess @ t.reshape(-1)).reshape(x.shape).numpy(), hvp_x, **close)


@pytest.mark.parametrize("op", OP_NAMES)
def test_vmap_over_a_mask_per_sample(op: str, path: str) -> None:
    samples = [Masked(op, seed=20 + s) for s in range(3)]
    names = OPS[op]["inputs"]
    stacked = [torch.stack([s.inputs[n] for s in samples]) for n in names]
    masks = torch.stack([s.mask for s in samples])
    fn = op_fn(rt, op)

    def call(*args: Tensor) -> Tensor:
        return fn(*args[:-1], regularization_strength=EPS, mask=args[-1])

    want = torch.stack([call(*(s.inputs[n] for n in names), s.mask) for s in samples])
    torch.testing.assert_close(vmap(call)(*stacked, masks), want, rtol=0, atol=0)
    # One mask for every sample, and one input for every mask.
    shared = torch.stack([call(*(s.inputs[n] for n in names), samples[0].mask) for s in samples])
    in_dims = (0,) * len(names) + (None,)
    torch.testing.assert_close(
        vmap(call, in_dims=in_dims)(*stacked, samples[0].mask), shared, rtol=0, atol=0
    )
    first = [samples[0].inputs[n] for n in names]
    each = torch.stack([call(*first, s.mask) for s in samples])
    in_dims = (None,) * len(names) + (0,)
    torch.testing.assert_close(vmap(call, in_dims=in_dims)(*first, masks), each, rtol=0, atol=0)
    # Per-sample gradients with per-sample masks.
    diff = names.index(OPS[op]["differentiable"][0])

    def loss(x: Tensor, *args: Tensor) -> Tensor:
        given = [*args[:diff], x, *args[diff:]]
        return call(*given).pow(2).sum()

    others = [a for k, a in enumerate(stacked) if k != diff]
    got = vmap(grad(loss))(stacked[diff], *others, masks)
    for k, s in enumerate(samples):
        x = s.inputs[names[diff]].clone().requires_grad_()
        given = [x if n == names[diff] else s.inputs[n] for n in names]
        (w,) = torch.autograd.grad(call(*given, s.mask).pow(2).sum(), [x])
        torch.testing.assert_close(got[k], w, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", OP_NAMES)
def test_compile_fullgraph_with_a_mask(op: str) -> None:
    torch._dynamo.reset()
    f = Masked(op, seed=30)

    def loss(mask: Tensor, eps: Tensor, *xs: Tensor) -> Tensor:
        return (f(*xs, mask=mask, regularization_strength=eps) ** 2).sum()

    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    for seed in range(2):
        mask = torch.from_numpy(random_mask(SHAPE, 31 + seed))
        xs = [x.clone().requires_grad_() for x in f.xs]
        eps = torch.tensor(0.4, dtype=torch.float64, requires_grad=True)
        want = loss(mask, eps, *xs)
        want_grads = torch.autograd.grad(want, [*xs, eps])
        got = compiled(mask, eps, *xs)
        got_grads = torch.autograd.grad(got, [*xs, eps])
        torch.testing.assert_close(got, want)
        for g, w in zip(got_grads, want_grads):
            torch.testing.assert_close(g, w)


def test_compile_inductor_with_a_mask() -> None:
    torch._dynamo.reset()
    x = torch.randn(4, 6, dtype=torch.float64)
    mask = torch.from_numpy(random_mask((4, 6), 32))
    compiled = torch.compile(lambda v, m: rt.soft_rank(v, 0.5, mask=m), fullgraph=True)
    torch.testing.assert_close(compiled(x, mask), rt.soft_rank(x, 0.5, mask=mask))


def test_export_with_a_mask() -> None:
    class Model(torch.nn.Module):
        def forward(self, x: Tensor, y: Tensor, mask: Tensor) -> Tensor:
            return rt.spearman_loss(x, y, 0.1, mask=mask) + rt.soft_rank(x, 0.5, mask=mask).sum(-1)

    x, y = torch.randn(4, 5), torch.randn(4, 5)
    mask = torch.from_numpy(random_mask((4, 5), 33))
    program = torch.export.export(Model(), (x, y, mask))
    assert "rank_relax.soft_rank_forward" in program.graph_module.code
    torch.testing.assert_close(program.module()(x, y, mask), Model()(x, y, mask), rtol=0, atol=0)


# --- the custom ops with a mask ------------------------------------------------------------------


def param_value(op: str, name: str) -> Any:
    spec = OPS[op]
    if name in spec["reals"]:
        return torch.tensor(0.5, dtype=torch.float64)
    if name in spec["enums"]:
        return spec["enums"][name][0]
    return {**spec["ints"], **spec["lists"]}[name]


def op_args(op: str, pass_: str, mask: Tensor | None) -> tuple[Any, ...]:
    """Arguments of ``torch.ops.rank_relax.<op>_<pass_>`` with ``mask``: a forward run's saves
    and residuals, random cotangents and tangents, the params (and an ε tangent)."""
    f = Masked(op, seed=40)
    params = [param_value(op, p) for p in OPS[op]["params"]]
    forward = getattr(torch.ops.rank_relax, f"{op}_forward").default
    outs = forward(*(f.inputs[n] for n in OPS[op]["inputs"]), mask, *params)
    if pass_ == "forward":
        return (*(f.inputs[n] for n in OPS[op]["inputs"]), mask, *params)
    outs = (outs,) if isinstance(outs, Tensor) else outs
    known: dict[str, Any] = f.inputs | {"mask": mask}
    known |= dict(zip([*OPS[op]["outputs"], *OPS[op]["residuals"]], outs))
    for name in OPS[op]["diff_outputs"]:
        known[f"cotangent_{name}"] = random_like(known[name], 41)
    for name in OPS[op]["differentiable"]:
        known[f"tangent_{name}"] = random_like(known[name], 42)
    schema = getattr(torch.ops.rank_relax, f"{op}_{pass_}").default._schema
    tensors = [known[a.name] for a in schema.arguments if a.name in known]
    scalar = [torch.tensor(0.25, dtype=torch.float64)] if pass_ in ("jvp", "hvp") else []
    return (*tensors, *params, *scalar)


@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("pass_", ["forward", "backward", "jvp", "hvp"])
def test_opcheck_with_a_mask(op: str, pass_: str) -> None:
    schema = getattr(torch.ops.rank_relax, f"{op}_{pass_}").default._schema
    (arg,) = [a for a in schema.arguments if a.name == "mask"]
    assert str(arg.type) == "Optional[Tensor]"
    custom_op = getattr(torch.ops.rank_relax, f"{op}_{pass_}").default
    torch.library.opcheck(custom_op, op_args(op, pass_, torch.from_numpy(random_mask(SHAPE, 43))))
    torch.library.opcheck(custom_op, op_args(op, pass_, None))


def test_mask_gets_no_gradient() -> None:
    """The backward rule returns None for the mask (a bool tensor cannot hold a gradient); the
    values at absent positions get exact zeros, even padded with NaN."""
    x = torch.tensor([[3.0, float("nan"), 2.0, float("inf")]], dtype=torch.float64)
    mask = torch.tensor([[True, False, True, False]])
    for force in (False, True):
        _plumbing._FORCE_CUSTOM_OPS = force
        try:
            v = x.clone().requires_grad_()
            out = rt.soft_rank(v, 0.5, mask=mask)
            out.backward(torch.ones_like(out))
            assert v.grad is not None
            assert torch.equal(v.grad[~mask], torch.zeros(2, dtype=torch.float64))
            assert mask.grad is None
        finally:
            _plumbing._FORCE_CUSTOM_OPS = False


@pytest.mark.parametrize("op", OP_NAMES)
def test_nan_padding_under_autograd_and_torch_func(op: str, path: str) -> None:
    f = Masked(op, seed=50)
    padded = pad_absent(f.arrays, f.mask_array)
    xs = [torch.from_numpy(padded[n]).requires_grad_() for n in f.names]
    fixed = {n: torch.from_numpy(padded[n]) for n in OPS[op]["inputs"] if n not in f.names}
    f.inputs |= fixed
    out = f(*xs)
    assert torch.isfinite(out).all()
    for g in torch.autograd.grad(out.sum(), xs):
        assert torch.isfinite(g).all()
        assert (g[~f.mask] == 0).all()
    jac = jacfwd(lambda v: f(v, *xs[1:]))(xs[0].detach())
    assert torch.isfinite(jac).all()


@pytest.mark.parametrize("op", OP_NAMES)
def test_other_dtypes_with_a_mask(op: str) -> None:
    """float32 against float64 on the float32-rounded inputs; float16 and bfloat16 are the float32
    computation on their values, rounded."""
    f = Masked(op, seed=60)
    fn = op_fn(rt, op)

    def call(dtype: torch.dtype, compute: torch.dtype | None = None) -> Tensor:
        def cast(t: Tensor, to: torch.dtype) -> Tensor:
            return t.to(to) if t.is_floating_point() else t  # group ids stay integers

        inputs = [cast(f.inputs[n], dtype) for n in OPS[op]["inputs"]]
        if compute is not None:
            inputs = [cast(t, compute) for t in inputs]
        return fn(*inputs, regularization_strength=EPS, mask=f.mask)

    got = call(torch.float32)
    assert got.dtype == torch.float32
    want = call(torch.float32, torch.float64)
    scale = max(1.0, want.abs().max().item())
    torch.testing.assert_close(got.double(), want, rtol=0, atol=1e-4 * scale)
    for dtype in (torch.float16, torch.bfloat16):
        got = call(dtype)
        assert got.dtype == dtype
        assert torch.equal(got, call(dtype, torch.float32).to(dtype))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_with_a_mask() -> None:
    f = Masked("soft_rank", seed=70)
    x = f.xs[0].cuda().requires_grad_()
    out = rt.soft_rank(x, EPS, mask=f.mask.cuda())
    assert out.device == x.device
    out.sum().backward()
    assert x.grad is not None
    assert x.grad.device == x.device
    torch.testing.assert_close(out.cpu(), f(f.xs[0]))
