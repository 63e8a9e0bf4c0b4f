"""rank_relax.jax forward mode: every op is a ``custom_jvp`` whose tangent map runs the JVP kernel
and whose transpose runs the backward kernel. check_grads in both modes for every op and enum
combination (order 2 in reverse mode through the HVP kernel; forward over forward from it too),
adjointness, jacfwd against jacrev, compositions with vmap and jit, float32, bad tangents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations

jax = pytest.importorskip("jax")
jnp = jax.numpy

from jax.test_util import check_grads  # noqa: E402

import rank_relax  # noqa: E402
import rank_relax.jax as rj  # noqa: E402

CASES = [(op, params) for op in sorted(OPS) for params in param_combinations(op)]
EPS = 0.7
TOL = {"atol": 1e-5, "rtol": 1e-5, "eps": 1e-6}

#: With these enum values the op is piecewise linear in its inputs (for a fixed ε): the Hessian of
#: ½‖f‖² is JᵀJ there.
PIECEWISE_LINEAR = {
    "soft_rank": {"regularization": "l2"},
    "soft_rank_grouped": {"regularization": "l2"},
    "soft_sort": {"regularization": "l2"},
    "soft_sort_topk": {"regularization": "l2"},
    "soft_topk": {"regularization": "l2"},
    "soft_quantile": {"regularization": "l2"},
}


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


def is_piecewise_linear(op: str, params: dict[str, str]) -> bool:
    rule = PIECEWISE_LINEAR.get(op)
    return rule is not None and all(params.get(k, v) == v for k, v in rule.items())


PIECEWISE = [c for c in CASES if is_piecewise_linear(*c)]
SMOOTH = [c for c in CASES if not is_piecewise_linear(*c)]


def arrays(op: str, shape: tuple[int, ...], seed: int = 0, dtype: Any = np.float64) -> dict:
    return {n: jnp.asarray(a) for n, a in make_inputs(op, shape, dtype, seed).items()}


def differentiable_fn(op: str, inputs: dict[str, Any], **params: Any) -> Any:
    """``f(*differentiable inputs, eps)`` with the other inputs fixed."""
    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]

    def f(*args: Any) -> Any:
        given = dict(inputs) | dict(zip(diff, args[:-1]))
        return op_fn(rj, op)(*(given[n] for n in names), regularization_strength=args[-1], **params)

    return f, [inputs[n] for n in diff]


def batched(op: str, shape: tuple[int, ...], seed: int) -> dict:
    """Inputs with a leading dim to ``vmap`` over; those that receive no gradient (closed over)
    without it."""
    inputs = arrays(op, shape, seed)
    return {n: v if n in OPS[op]["differentiable"] else v[0] for n, v in inputs.items()}


def fixed_eps(f: Any) -> Any:
    """``f`` of the differentiable inputs only, ε fixed (a constant: no tangent)."""
    return lambda *xs: f(*xs, EPS)


def random_like(tree: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: jnp.asarray(rng.standard_normal(jnp.shape(a))), tree)


def inner(a: Any, b: Any) -> float:
    return float(sum(jnp.vdot(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))))


# ------------------------------------------------------------------------------------------------
# First order: check_grads in both modes (JVP against finite differences, VJP against the JVP)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_fwd_and_rev(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (3, 6)), **params)
    check_grads(f, (*diff, EPS), order=1, modes=["fwd", "rev"], **TOL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_under_jit(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (2, 5), seed=3), **params)
    check_grads(jax.jit(f), (*diff, EPS), order=1, modes=["fwd", "rev"], **TOL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_adjoint(case: tuple[str, dict[str, str]]) -> None:
    """⟨u, jvp(t, t_ε)⟩ = ⟨vjp(u), t⟩ + t_ε · ∂/∂ε: the JVP and backward kernels agree."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (3, 7), seed=2), **params)
    primals = (*diff, jnp.asarray(EPS))
    tangents = random_like(primals, seed=5)
    out, jvp_out = jax.jvp(f, primals, tangents)
    u = random_like(out, seed=6)
    _, pullback = jax.vjp(f, *primals)
    grads = pullback(u)
    lhs, rhs = inner(u, jvp_out), inner(grads, tangents)
    assert abs(lhs - rhs) <= 1e-10 * max(1.0, abs(lhs)), (lhs, rhs)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_jacfwd_equals_jacrev(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (6,), seed=4), **params)
    argnums = tuple(range(len(diff) + 1))
    args = (*diff, jnp.asarray(EPS))
    fwd, rev = jax.jacfwd(f, argnums)(*args), jax.jacrev(f, argnums)(*args)
    for a, b in zip(jax.tree.leaves(fwd), jax.tree.leaves(rev)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    jitted = jax.jit(jax.jacfwd(f, argnums))(*args)
    for a, b in zip(jax.tree.leaves(jitted), jax.tree.leaves(fwd)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_eps_tangent_against_finite_difference(case: tuple[str, dict[str, str]]) -> None:
    """The ε tangent alone: (f(ε + h) − f(ε − h)) / 2h."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (3, 6), seed=7), **params)
    h = 1e-6
    _, tangent = jax.jvp(lambda e: f(*diff, e), (jnp.asarray(EPS),), (jnp.asarray(1.0),))
    fd = (f(*diff, EPS + h) - f(*diff, EPS - h)) / (2 * h)
    np.testing.assert_allclose(tangent, fd, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_against_numpy_jvp(case: tuple[str, dict[str, str]]) -> None:
    """The same numbers as the NumPy API's JVP (one core kernel behind both)."""
    op, params = case
    numpy_jvp = getattr(rank_relax, f"{op}_jvp", None)
    if numpy_jvp is None:
        pytest.skip(f"rank_relax.{op}_jvp is not in this build")
    inputs = arrays(op, (3, 6), seed=8)
    f, diff = differentiable_fn(op, inputs, **params)
    tangents = random_like(diff, seed=9)
    _, want = jax.jvp(f, (*diff, jnp.asarray(EPS)), (*tangents, jnp.asarray(0.25)))
    names = OPS[op]["inputs"]
    got = numpy_jvp(
        *(np.asarray(inputs[n]) for n in names),
        *(np.asarray(t) for t in tangents),
        regularization_strength=EPS,
        tangent_regularization_strength=0.25,
        **params,
    )
    np.testing.assert_allclose(np.asarray(want), got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_ffi_and_callback_agree(case: tuple[str, dict[str, str]]) -> None:
    """The JVP under jit through the XLA FFI handler and through pure_callback (the NumPy
    kernel): the same bits."""
    from rank_relax._generated import KERNELS

    op, params = case
    if f"{op}_jvp" not in KERNELS:
        pytest.skip(f"the NumPy kernel {op}_jvp is not in this build")
    f, diff = differentiable_fn(op, arrays(op, (3, 6), seed=21), **params)
    tangents = random_like(diff, seed=22)
    run = lambda: jax.jit(jax.jvp, static_argnums=0)(  # noqa: E731
        f, (*diff, jnp.asarray(EPS)), (*tangents, jnp.asarray(0.4))
    )
    got = {}
    for mode in ("ffi", "callback"):
        previous = rj.set_kernel_call(mode)
        try:
            got[mode] = jax.tree.map(np.asarray, run())
        finally:
            rj.set_kernel_call(previous)
    for a, b in zip(jax.tree.leaves(got["ffi"]), jax.tree.leaves(got["callback"]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_float32_against_float64() -> None:
    """float32 computes in float32: close to float64 on the rounded inputs."""
    for op, params in CASES:
        f, diff = differentiable_fn(op, arrays(op, (2, 6), seed=10, dtype=np.float32), **params)
        tangents = random_like(diff, seed=11)
        t32 = [t.astype(jnp.float32) for t in tangents]
        _, lo = jax.jvp(f, (*diff, jnp.float32(EPS)), (*t32, jnp.float32(0.5)))
        hi_args = [d.astype(jnp.float64) for d in diff]
        hi_tangents = [t.astype(jnp.float64) for t in t32]
        _, hi = jax.jvp(
            f, (*hi_args, jnp.float64(np.float32(EPS))), (*hi_tangents, jnp.float64(0.5))
        )
        assert lo.dtype == jnp.float32, op
        np.testing.assert_allclose(lo, hi, rtol=2e-3, atol=2e-4, err_msg=case_id((op, params)))


# ------------------------------------------------------------------------------------------------
# Compositions


@pytest.mark.parametrize("op", sorted(OPS))
def test_vmap_of_jvp_with_per_sample_eps(op: str) -> None:
    """vmap over ε and its tangent (the kernel splits the rows per sample) against a loop."""
    f, diff = differentiable_fn(op, batched(op, (3, 2, 5), seed=12))
    tangents = random_like(diff, seed=13)
    eps = jnp.asarray([0.4, 0.9, 1.7])
    t_eps = jnp.asarray([1.0, -0.5, 2.0])

    def one(*args: Any) -> Any:
        k = len(diff)
        return jax.jvp(f, (*args[:k], args[2 * k]), (*args[k : 2 * k], args[2 * k + 1]))[1]

    got = jax.vmap(one)(*diff, *tangents, eps, t_eps)
    for i in range(3):
        want = one(*(d[i] for d in diff), *(t[i] for t in tangents), eps[i], t_eps[i])
        np.testing.assert_allclose(got[i], want, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(jax.jit(jax.vmap(one))(*diff, *tangents, eps, t_eps), got)


@pytest.mark.parametrize("op", sorted(OPS))
def test_vmap_grad_and_jit_jacfwd(op: str) -> None:
    f, diff = differentiable_fn(op, batched(op, (4, 6), seed=14))
    loss = lambda *a: jnp.sum(jnp.sin(f(*a)))  # noqa: E731
    per_row = jax.vmap(jax.grad(loss), in_axes=(*([0] * len(diff)), None))(*diff, EPS)
    for i in range(4):
        want = jax.grad(loss)(*(d[i] for d in diff), EPS)
        np.testing.assert_allclose(per_row[i], want, rtol=1e-12, atol=1e-14)
    # vmap of jit(jacfwd): each row's Jacobian, as jacrev gives it.
    axes = (*([0] * len(diff)), None)
    rows = jax.vmap(jax.jit(jax.jacfwd(f)), in_axes=axes)(*diff, EPS)
    for i in range(4):
        want = jax.jacrev(f)(*(d[i] for d in diff), EPS)
        np.testing.assert_allclose(rows[i], want, rtol=1e-12, atol=1e-14)


def test_grad_of_eps_through_jvp_transpose() -> None:
    """The ε cotangent of the JVP's transpose is the backward's per-row gradient summed."""
    x = arrays("soft_rank", (5, 6), seed=15)["values"]
    u = random_like(x, seed=16)
    grad_eps = jax.grad(lambda e: jnp.vdot(u, rj.soft_rank(x, regularization_strength=e)))(EPS)
    h = 1e-6
    fd = (
        jnp.vdot(u, rj.soft_rank(x, regularization_strength=EPS + h))
        - jnp.vdot(u, rj.soft_rank(x, regularization_strength=EPS - h))
    ) / (2 * h)
    np.testing.assert_allclose(grad_eps, fd, rtol=1e-6)


# ------------------------------------------------------------------------------------------------
# Second order (the HVP kernel; test_jax_hvp.py checks it in depth)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_order_2_rev(case: tuple[str, dict[str, str]]) -> None:
    """The derivative of the VJP (the backward of the cotangent plus the HVP kernel) and of the
    JVP in its tangents: exact for every op, in the inputs and in ε."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (3, 6), seed=17), **params)
    check_grads(f, (*diff, EPS), order=2, modes=["rev"], **TOL)


@pytest.mark.parametrize("case", PIECEWISE, ids=case_id)
def test_hessian_piecewise_linear(case: tuple[str, dict[str, str]]) -> None:
    """hessian of ½‖f‖² is JᵀJ (f piecewise linear: the HVP kernel adds nothing in the inputs),
    by every reverse nesting of the modes."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (7,), seed=18), **params)
    g = fixed_eps(f)
    loss = lambda x: 0.5 * jnp.sum(g(x) ** 2)  # noqa: E731
    jac = jax.jacfwd(g)(diff[0]).reshape(-1, diff[0].size)
    want = jac.T @ jac
    for name, hess in [
        ("hessian", jax.hessian(loss)),
        ("jacrev(jacrev)", jax.jacrev(jax.jacrev(loss))),
        ("jit(hessian)", jax.jit(jax.hessian(loss))),
    ]:
        np.testing.assert_allclose(hess(diff[0]), want, rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("case", SMOOTH, ids=case_id)
def test_hessian_smooth_is_not_gauss_newton(case: tuple[str, dict[str, str]]) -> None:
    """Where the op is not piecewise linear the HVP kernel's term is there: the Hessian of
    ½‖f‖² differs from JᵀJ by Σ f_i ∇²f_i, and equals the central differences of the gradient."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (5,), seed=19), **params)
    # A large ε: far from the hard result, where the curvature is small.
    g = lambda x: f(x, *diff[1:], 4.0)  # noqa: E731
    loss = lambda x: 0.5 * jnp.sum(g(x) ** 2)  # noqa: E731
    x = diff[0]
    hess = np.asarray(jax.hessian(loss)(x)).reshape(x.size, x.size)
    grad = jax.grad(loss)
    h = 1e-6
    fd = np.stack(
        [
            (
                np.asarray(grad(x.ravel().at[i].add(h).reshape(x.shape)))
                - np.asarray(grad(x.ravel().at[i].add(-h).reshape(x.shape)))
            ).ravel()
            / (2 * h)
            for i in range(x.size)
        ],
        axis=1,
    )
    np.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-6)
    jac = np.asarray(jax.jacfwd(g)(x)).reshape(-1, x.size)
    assert np.abs(hess - jac.T @ jac).max() > 1e-6


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_over_forward(case: tuple[str, dict[str, str]]) -> None:
    """The derivative of the JVP in its point (the HVP kernel at one-hot cotangents): the op's own
    second derivatives by jacfwd(jacfwd) equal jacrev(jacrev), piecewise-linear ops too, and a
    jvp of a jvp is the Hessian's quadratic form; in ε too."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (5,), seed=20), **params)
    g = lambda x: fixed_eps(f)(x, *diff[1:])  # noqa: E731
    x = diff[0]
    np.testing.assert_allclose(
        jax.jacfwd(jax.jacfwd(g))(x), jax.jacrev(jax.jacrev(g))(x), rtol=1e-10, atol=1e-12
    )
    loss = lambda x: jnp.sum(g(x) ** 3)  # noqa: E731
    t = jnp.linspace(-1.0, 1.0, x.size).reshape(x.shape)
    second = jax.jvp(lambda x: jax.jvp(loss, (x,), (t,))[1], (x,), (t,))[1]
    hess = np.asarray(jax.hessian(loss)(x)).reshape(x.size, x.size)
    np.testing.assert_allclose(second, t.ravel() @ hess @ t.ravel(), rtol=1e-10, atol=1e-12)
    in_eps = lambda e: jnp.sum(f(*diff, e) ** 3)  # noqa: E731
    np.testing.assert_allclose(
        jax.jacfwd(jax.jacfwd(in_eps))(EPS), jax.hessian(in_eps)(EPS), rtol=1e-10, atol=1e-12
    )


# ------------------------------------------------------------------------------------------------
# Bad tangents


def test_nan_tangent_names_the_op_and_argument() -> None:
    x = arrays("soft_rank", (2, 4))["values"]
    f = lambda x, e: rj.soft_rank(x, regularization_strength=e)  # noqa: E731
    bad = jnp.zeros_like(x).at[0, 1].set(jnp.nan)
    with pytest.raises(Exception, match=r"soft_rank: tangent_values\[0, 1\] is NaN"):
        jax.jvp(f, (x, EPS), (bad, 0.0))
    with pytest.raises(Exception, match=r"soft_rank: tangent_values\[0, 1\] is NaN"):
        jax.jit(lambda x, t: jax.jvp(f, (x, EPS), (t, 0.0)))(x, bad)
    with pytest.raises(Exception, match="soft_rank: tangent_regularization_strength"):
        jax.jvp(f, (x, EPS), (jnp.zeros_like(x), jnp.inf))
    y = arrays("spearman_loss", (2, 4))
    g = lambda p: rj.spearman_loss(p, y["targets"])  # noqa: E731
    with pytest.raises(Exception, match=r"spearman_loss: tangent_predictions\[0, 1\] is NaN"):
        jax.jvp(g, (y["predictions"],), (bad,))
