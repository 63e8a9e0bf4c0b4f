"""Second order in PyTorch, for every op, regularization and direction: the backward is
differentiated exactly through the JVP kernel (in the cotangent) and the HVP kernel (in the
inputs and ε): double backward, ``gradgradcheck`` (ε a tensor that requires grad too),
``torch.func.hessian`` (forward over reverse) against ``jacrev(jacrev)``, a gradient penalty
against finite differences.
A forward-mode tangent is differentiated exactly too, in forward mode (``jacfwd(jacfwd)``) and in
reverse mode (``jacrev(jacfwd)``); a third derivative raises, naming the op and the order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, param_combinations, primary

torch = pytest.importorskip("torch")
import rank_relax.torch as rt  # noqa: E402
from rank_relax.torch import _plumbing  # noqa: E402

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]
EPS = 0.7
SHAPE = (3, 5)


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


@pytest.fixture(params=["eager", "custom_ops"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    _plumbing._FORCE_CUSTOM_OPS = request.param == "custom_ops"
    yield request.param
    _plumbing._FORCE_CUSTOM_OPS = False


def op_fn(op: str, seed: int, **params: Any) -> tuple[list[Any], Any]:
    """The op's differentiable inputs (distinct values: no ties) and the op as a function of them,
    the other inputs fixed."""
    inputs = {n: torch.tensor(a) for n, a in make_inputs(op, SHAPE, np.float64, seed).items()}
    names = OPS[op]["differentiable"]

    def f(*args: Any) -> Any:
        given = inputs | dict(zip(names, args))
        out = primary(op, getattr(rt, op)(*(given[n] for n in OPS[op]["inputs"]), **params))
        return out if isinstance(out, Tensor) else out[0]

    return [inputs[n] for n in names], f


Tensor = torch.Tensor


def cubic(f: Any) -> Any:
    """A scalar loss with curvature of its own: even where the op's Hessian is zero (l2 between
    ties), ``Jᵀ diag(6 f) J`` is not."""
    return lambda *xs: f(*xs).pow(3).sum()


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradgradcheck(case: tuple[str, dict[str, str]], path: str) -> None:
    op, params = case
    xs, f = op_fn(op, seed=40, regularization_strength=EPS, **params)
    vs = [x.clone().requires_grad_() for x in xs]
    kw: dict[str, Any] = dict(eps=1e-6, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradgradcheck(f, vs, check_fwd_over_rev=True, **kw)
    # ε a tensor that requires grad: its second derivatives too (the HVP kernel's ε parts).
    eps = torch.tensor(EPS, dtype=torch.float64, requires_grad=True)

    def g(e: Any, *args: Any) -> Any:
        _, h = op_fn(op, seed=40, regularization_strength=e, **params)
        return h(*args)

    assert torch.autograd.gradgradcheck(g, [eps, *vs], check_fwd_over_rev=True, **kw)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hessian_matches_reverse_over_reverse(case: tuple[str, dict[str, str]], path: str) -> None:
    """torch.func.hessian (forward over reverse) equals jacrev(jacrev), is symmetric and not zero;
    with respect to ε too."""
    op, params = case
    (x, *rest), f = op_fn(op, seed=41, regularization_strength=EPS, **params)
    loss = cubic(lambda v: f(v, *rest))
    hess = torch.func.hessian(loss)(x)
    rev = torch.func.jacrev(torch.func.jacrev(loss))(x)
    torch.testing.assert_close(hess, rev, rtol=1e-10, atol=1e-10)
    assert hess.abs().max() > 1e-3
    torch.testing.assert_close(hess, hess.permute(2, 3, 0, 1), rtol=1e-10, atol=1e-10)

    def in_eps(e: Any, v: Any) -> Any:
        _, h = op_fn(op, seed=41, regularization_strength=e, **params)
        return cubic(lambda a: h(a, *rest))(v)

    eps = torch.tensor(EPS, dtype=torch.float64)
    fwd = torch.func.hessian(in_eps, argnums=(0, 1))(eps, x)
    rev2 = torch.func.jacrev(torch.func.jacrev(in_eps, argnums=(0, 1)), argnums=(0, 1))(eps, x)
    for a, b in zip(torch.utils._pytree.tree_leaves(fwd), torch.utils._pytree.tree_leaves(rev2)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    # d²/dε² against the central difference of the first derivative in ε.
    h = 1e-6
    d_eps = torch.func.grad(in_eps)
    want = (d_eps(eps + h, x) - d_eps(eps - h, x)) / (2 * h)
    torch.testing.assert_close(fwd[0][0], want, rtol=1e-5, atol=1e-6 * max(1.0, want.abs().item()))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradient_penalty_matches_finite_differences(
    case: tuple[str, dict[str, str]], path: str
) -> None:
    """d/dx ‖∇ₓ L‖² by double backward against central differences of the first-order gradient."""
    op, params = case
    (x, *rest), f = op_fn(op, seed=42, regularization_strength=EPS, **params)
    w = torch.tensor(np.random.default_rng(43).standard_normal(f(x, *rest).shape))

    def loss(v: Any) -> Any:
        return (w * f(v, *rest)).pow(3).sum()

    def penalty(v: Any, create_graph: bool) -> tuple[Any, Any]:
        v = v.clone().requires_grad_()
        (g,) = torch.autograd.grad(loss(v), [v], create_graph=create_graph)
        return v, g.square().sum()

    v, p = penalty(x, create_graph=True)
    (got,) = torch.autograd.grad(p, [v])
    h = 1e-6
    want = torch.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        e = torch.zeros_like(x)
        e[idx] = h
        want[idx] = (penalty(x + e, False)[1] - penalty(x - e, False)[1]) / (2 * h)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6 * max(1.0, want.abs().max().item()))
    assert got.abs().max() > 0


@pytest.mark.parametrize("op", OP_NAMES)
def test_create_graph_gradient_equals_plain(op: str, path: str) -> None:
    (x, *rest), f = op_fn(op, seed=44, regularization_strength=EPS)
    v = x.clone().requires_grad_()
    (plain,) = torch.autograd.grad(f(v, *rest).square().sum(), [v])
    (g,) = torch.autograd.grad(f(v, *rest).square().sum(), [v], create_graph=True)
    assert g.requires_grad
    torch.testing.assert_close(g.detach(), plain, rtol=0, atol=0)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_over_forward_matches_reverse_over_reverse(
    case: tuple[str, dict[str, str]], path: str
) -> None:
    """A forward-mode tangent differentiated again, in forward mode (``jacfwd(jacfwd)``, a jvp of a
    jvp) and in reverse mode (``jacrev(jacfwd)``, a gradient of a jvp), equals the reverse-mode
    second derivative, of the op itself (not only of a loss) and with respect to ε."""
    op, params = case
    (x, *rest), f = op_fn(op, seed=45, regularization_strength=EPS, **params)

    def g(v: Any) -> Any:
        return f(v, *rest)

    want = torch.func.jacrev(torch.func.jacrev(g))(x)
    torch.testing.assert_close(
        torch.func.jacfwd(torch.func.jacfwd(g))(x), want, rtol=1e-10, atol=1e-10
    )
    torch.testing.assert_close(
        torch.func.jacrev(torch.func.jacfwd(g))(x), want, rtol=1e-10, atol=1e-10
    )
    loss = cubic(g)
    t = torch.linspace(-1.0, 1.0, x.numel(), dtype=x.dtype).reshape(x.shape)
    hess = torch.func.jacrev(torch.func.jacrev(loss))(x).reshape(x.numel(), x.numel())

    def directional(a: Any) -> Any:
        return torch.func.jvp(loss, (a,), (t,))[1]

    _, second = torch.func.jvp(directional, (x,), (t,))
    torch.testing.assert_close(second, t.flatten() @ hess @ t.flatten(), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(
        torch.func.grad(directional)(x).flatten(), hess @ t.flatten(), rtol=1e-10, atol=1e-10
    )

    assert hess.abs().max() > 1e-3

    def in_eps(e: Any, v: Any) -> Any:
        _, h = op_fn(op, seed=45, regularization_strength=e, **params)
        return cubic(lambda a: h(a, *rest))(v)

    eps = torch.tensor(EPS, dtype=torch.float64)
    both = (0, 1)
    fwd = torch.func.jacfwd(torch.func.jacfwd(in_eps, argnums=both), argnums=both)(eps, x)
    rev = torch.func.jacrev(torch.func.jacrev(in_eps, argnums=both), argnums=both)(eps, x)
    for a, b in zip(torch.utils._pytree.tree_leaves(fwd), torch.utils._pytree.tree_leaves(rev)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    assert max(a.abs().max().item() for a in torch.utils._pytree.tree_leaves(fwd)) > 1e-3


@pytest.mark.parametrize("op", OP_NAMES)
def test_forward_over_forward_matches_finite_differences(op: str, path: str) -> None:
    """``jacfwd(jacfwd)`` of the op against central differences of its first-order ``jacfwd``."""
    # the last combination of the op's enums: kl where the op has it (curved, unlike l2)
    (x, *rest), f = op_fn(op, seed=46, regularization_strength=EPS, **param_combinations(op)[-1])
    jac = torch.func.jacfwd(lambda v: f(v, *rest))
    got = torch.func.jacfwd(jac)(x)
    h = 1e-6
    for idx in [(0, 0), (1, 2), (2, 4)]:
        e = torch.zeros_like(x)
        e[idx] = h
        want = (jac(x + e) - jac(x - e)) / (2 * h)
        scale = max(1.0, want.abs().max().item())
        torch.testing.assert_close(got[(..., *idx)], want, rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("op", OP_NAMES)
def test_third_order_raises(op: str, path: str) -> None:
    """No kernel differentiates the HVP: a third derivative raises, naming the op and the order,
    never a zero."""
    (x, *rest), f = op_fn(op, seed=47, regularization_strength=EPS)
    loss = cubic(lambda v: f(v, *rest))
    message = rf"^{op}: second-order derivatives .* not implemented beyond second order"
    v = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(loss(v), [v], create_graph=True)
    (h,) = torch.autograd.grad(g.square().sum(), [v], create_graph=True)
    with pytest.raises(NotImplementedError, match=message):
        torch.autograd.grad(h.square().sum(), [v])
    grad, jacfwd = torch.func.grad, torch.func.jacfwd
    with pytest.raises(NotImplementedError, match=message):
        grad(lambda a: grad(lambda b: grad(loss)(b).square().sum())(a).sum())(x)
    with pytest.raises(NotImplementedError, match=message):
        jacfwd(jacfwd(jacfwd(loss)))(x)


def _hvp_op_args(op: str) -> tuple[Any, ...]:
    """Arguments of ``torch.ops.rank_relax.<op>_hvp``: the forward's saves and residuals, random
    cotangents and tangents, the params and an ε tangent."""
    inputs = {n: torch.tensor(a) for n, a in make_inputs(op, SHAPE, np.float64, 48).items()}
    params = [
        torch.tensor(EPS, dtype=torch.float64)
        if p in OPS[op]["reals"]
        else OPS[op]["enums"][p][0]
        if p in OPS[op]["enums"]
        else {**OPS[op]["ints"], **OPS[op]["lists"]}[p]
        for p in OPS[op]["params"]
    ]
    fwd = getattr(torch.ops.rank_relax, f"{op}_forward").default
    absent = (None,) * len(OPS[op]["optional"])  # the optional inputs come last: no mask
    outs = fwd(*(inputs[n] for n in OPS[op]["inputs"]), *absent, *params)
    outs = (outs,) if isinstance(outs, Tensor) else outs
    known = inputs | dict(zip([*OPS[op]["outputs"], *OPS[op]["residuals"]], outs))
    known |= dict.fromkeys(OPS[op]["optional"])
    for name in OPS[op]["diff_outputs"]:
        known[f"cotangent_{name}"] = torch.randn_like(known[name])
    for name in OPS[op]["differentiable"]:
        known[f"tangent_{name}"] = torch.randn_like(known[name])
    schema = getattr(torch.ops.rank_relax, f"{op}_hvp").default._schema
    tensor_args = [a.name for a in schema.arguments if a.name in known]
    return (*(known[n] for n in tensor_args), *params, torch.tensor(0.25, dtype=torch.float64))


@pytest.mark.parametrize("op", OP_NAMES)
def test_opcheck_hvp(op: str) -> None:
    torch.library.opcheck(getattr(torch.ops.rank_relax, f"{op}_hvp").default, _hvp_op_args(op))
