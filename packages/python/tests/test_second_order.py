"""Second order in PyTorch: exact where an op is piecewise linear (l2 soft_rank, soft_sort,
soft_topk, soft_quantile with a constant ε: its backward's derivative is the JVP in the cotangent
and zero elsewhere), a clear error everywhere else."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, param_combinations

torch = pytest.importorskip("torch")
import rank_relax.torch as rt  # noqa: E402
from rank_relax.torch import _plumbing  # noqa: E402

LINEAR = sorted(op for op in OPS if OPS[op]["piecewise_linear"] is not None)
OTHERS = sorted(op for op in OPS if OPS[op]["piecewise_linear"] is None)
EPS = 0.7


def linear_cases() -> list[tuple[str, dict[str, str]]]:
    """Every op and enum combination under which the op is piecewise linear."""
    return [
        (op, params)
        for op in LINEAR
        for params in param_combinations(op)
        if all(params[p] in ok for p, ok in OPS[op]["piecewise_linear"].items())
    ]


def smooth_cases() -> list[tuple[str, dict[str, str]]]:
    """The enum combinations of the piecewise-linear ops under which they are not."""
    return [
        (op, params)
        for op in LINEAR
        for params in param_combinations(op)
        if any(params[p] not in ok for p, ok in OPS[op]["piecewise_linear"].items())
    ]


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


@pytest.fixture(params=["eager", "custom_ops"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    _plumbing._FORCE_CUSTOM_OPS = request.param == "custom_ops"
    yield request.param
    _plumbing._FORCE_CUSTOM_OPS = False


def op_fn(op: str, seed: int, **params: Any) -> tuple[Any, Any]:
    """The op's first differentiable input (distinct values: no ties) and the op as a function of
    it, the other inputs fixed."""
    inputs = {n: torch.tensor(a) for n, a in make_inputs(op, (3, 5), np.float64, seed).items()}
    first = OPS[op]["differentiable"][0]

    def f(v: Any) -> Any:
        given = inputs | {first: v}
        return getattr(rt, op)(*(given[n] for n in OPS[op]["inputs"]), **params)

    return inputs[first], f


@pytest.mark.parametrize("case", linear_cases(), ids=case_id)
def test_gradgradcheck(case: tuple[str, dict[str, str]], path: str) -> None:
    op, params = case
    x, f = op_fn(op, seed=40, regularization_strength=EPS, **params)
    v = x.clone().requires_grad_()
    assert torch.autograd.gradgradcheck(f, [v], eps=1e-6, atol=1e-6, rtol=1e-5)
    # ε as a tensor that does not require grad is a constant too.
    _, g = op_fn(op, seed=40, regularization_strength=torch.tensor(EPS), **params)
    assert torch.autograd.gradgradcheck(g, [v], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("case", linear_cases(), ids=case_id)
def test_hessian_matches_reverse_over_reverse(case: tuple[str, dict[str, str]], path: str) -> None:
    """torch.func.hessian (forward over reverse) equals jacrev(jacrev) and is not zero: a cubic
    of the output has a curvature the op passes through."""
    op, params = case
    x, f = op_fn(op, seed=41, regularization_strength=EPS, **params)

    def loss(v: Any) -> Any:
        return f(v).pow(3).sum()

    hess = torch.func.hessian(loss)(x)
    rev = torch.func.jacrev(torch.func.jacrev(loss))(x)
    torch.testing.assert_close(hess, rev, rtol=1e-12, atol=1e-12)
    assert hess.abs().max() > 0.1
    torch.testing.assert_close(hess, hess.transpose(0, 2).transpose(1, 3), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", LINEAR)
def test_gradient_penalty_matches_finite_differences(op: str, path: str) -> None:
    """d/dx ‖∇ₓ L‖² by double backward against central differences of the first-order gradient."""
    x, f = op_fn(op, seed=42, regularization_strength=EPS)
    w = torch.tensor(np.random.default_rng(43).standard_normal(f(x).shape))

    def loss(v: Any) -> Any:
        return (w * f(v)).pow(3).sum()

    def penalty(v: Any, create_graph: bool) -> Any:
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


MESSAGE = r"^{op}: second-order derivatives \(differentiating its gradient"


def _raises(op: str, match: str, f: Any, x: Any) -> None:
    """Every way of differentiating the gradient raises, naming the op and why."""
    pattern = MESSAGE.format(op=op) + ".*" + match
    v = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(f(v).square().sum(), [v], create_graph=True)
    with pytest.raises(NotImplementedError, match=pattern):
        torch.autograd.grad(g.square().sum(), [v])
    with pytest.raises(NotImplementedError, match=pattern):
        torch.func.hessian(lambda a: f(a).square().sum())(x)
    with pytest.raises(NotImplementedError, match=pattern):
        torch.autograd.gradgradcheck(lambda a: f(a).square().sum(), [v])


@pytest.mark.parametrize("case", smooth_cases(), ids=case_id)
def test_errors_name_the_regularization(case: tuple[str, dict[str, str]], path: str) -> None:
    op, params = case
    (name, value), *_ = params.items()
    x, f = op_fn(op, seed=44, regularization_strength=EPS, **params)
    _raises(op, f'not implemented for {name}="{value}"', f, x)


@pytest.mark.parametrize("op", OTHERS)
def test_errors_name_the_op(op: str, path: str) -> None:
    x, f = op_fn(op, seed=45, regularization_strength=EPS)
    _raises(op, "not implemented for this op: it has no second-order kernel", f, x)


@pytest.mark.parametrize("op", LINEAR)
def test_errors_name_epsilon(op: str, path: str) -> None:
    """A piecewise-linear op is not so in ε: an ε that requires grad or has a tangent raises."""
    eps = torch.tensor(EPS, dtype=torch.float64, requires_grad=True)
    x, g = op_fn(op, seed=46, regularization_strength=eps)
    _raises(op, "with respect to regularization_strength", g, x)

    def grad_in_x(e: Any) -> Any:
        _, h = op_fn(op, seed=46, regularization_strength=e)
        return torch.func.grad(lambda v: h(v).square().sum())(x)

    with pytest.raises(NotImplementedError, match="with respect to regularization_strength"):
        torch.func.jacfwd(grad_in_x)(torch.tensor(EPS, dtype=torch.float64))
    with pytest.raises(NotImplementedError, match="with respect to regularization_strength"):
        torch.func.jacrev(grad_in_x)(torch.tensor(EPS, dtype=torch.float64))


@pytest.mark.parametrize("op", LINEAR)
def test_third_order_and_reverse_over_forward_raise(op: str, path: str) -> None:
    x, f = op_fn(op, seed=47, regularization_strength=EPS)
    v = x.clone().requires_grad_()
    (g,) = torch.autograd.grad(f(v).pow(3).sum(), [v], create_graph=True)
    (h,) = torch.autograd.grad(g.square().sum(), [v], create_graph=True)
    with pytest.raises(NotImplementedError, match="beyond second order"):
        torch.autograd.grad(h.square().sum(), [v])
    with pytest.raises(NotImplementedError, match="for a forward-mode derivative"):
        torch.func.jacrev(torch.func.jacfwd(lambda a: f(a).pow(3).sum()))(x)
