"""rank_relax.jax second order: the derivative of each op's backward runs the HVP kernel, so
``jax.hessian`` (jacfwd over jacrev), ``jacrev(jacrev)`` and ``grad`` of a gradient are exact for
every op and enum combination, in the inputs and in ε. For every case: the Hessian of a scalar loss
against central differences of ``jax.grad``, symmetric, equal by every reverse nesting;
``check_grads(order=2)`` in both modes; forward over forward (from the HVP kernel) equal to the
Hessian; third order raises, naming the op and the order. Compositions with vmap (per-sample ε)
and jit, FFI against callback, bad tangents."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations

jax = pytest.importorskip("jax")
jnp = jax.numpy

from jax.test_util import check_grads  # noqa: E402

import rank_relax  # noqa: E402, F401
import rank_relax.jax as rj  # noqa: E402

CASES = [(op, params) for op in sorted(OPS) for params in param_combinations(op)]
EPS = 0.7
#: ε where EPS leaves an op nearly hard on these inputs (its Hessian zero: nothing tested).
EPS_OF = {"soft_topk": 4.0}
TOL = {"atol": 1e-5, "rtol": 1e-5, "eps": 1e-6}


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


def arrays(op: str, shape: tuple[int, ...], seed: int = 0, dtype: Any = np.float64) -> dict:
    return {n: jnp.asarray(a) for n, a in make_inputs(op, shape, dtype, seed).items()}


def differentiable_fn(op: str, inputs: dict[str, Any], **params: Any) -> Any:
    """``f(*differentiable inputs, eps)`` with the other inputs fixed."""
    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]

    def f(*args: Any) -> Any:
        given = dict(inputs) | dict(zip(diff, args[:-1]))
        return op_fn(rj, op)(*(given[n] for n in names), regularization_strength=args[-1], **params)

    return f, [inputs[n] for n in diff]


def scalar_loss(f: Any, seed: int) -> Any:
    """A smooth scalar of f's output with a nonzero second derivative (so both the cotangent's
    derivative and the HVP kernel contribute): Σ w·y + ½ Σ y²·v."""
    cache: dict[str, Any] = {}

    def loss(*args: Any) -> Any:
        y = f(*args)
        if "w" not in cache:
            # NumPy constants: the loss is traced under jit too.
            rng = np.random.default_rng(seed)
            cache["w"] = rng.standard_normal(jnp.shape(y)).astype(y.dtype)
            cache["v"] = rng.uniform(0.5, 1.5, jnp.shape(y)).astype(y.dtype)
        return jnp.sum(cache["w"] * y) + 0.5 * jnp.sum(cache["v"] * y**2)

    return loss


def flat(op: str, params: dict[str, str], shape: tuple[int, ...], seed: int) -> Any:
    """The loss as a function of one vector: the differentiable inputs, then ε; and that vector."""
    f, diff = differentiable_fn(op, arrays(op, shape, seed=seed), **params)
    loss = scalar_loss(f, seed + 1)
    sizes = [d.size for d in diff]

    def of_vector(z: Any) -> Any:
        parts, at = [], 0
        for d, s in zip(diff, sizes):
            parts.append(z[at : at + s].reshape(d.shape))
            at += s
        return loss(*parts, z[at])

    z = jnp.concatenate([*(d.ravel() for d in diff), jnp.asarray([EPS_OF.get(op, EPS)])])
    return of_vector, z


def central_hessian(loss: Any, z: Any, h: float = 1e-6) -> np.ndarray:
    grad = jax.jit(jax.grad(loss))
    cols = []
    for i in range(z.size):
        e = jnp.zeros_like(z).at[i].set(h)
        cols.append((np.asarray(grad(z + e)) - np.asarray(grad(z - e))) / (2 * h))
    return np.stack(cols, axis=1)


# ------------------------------------------------------------------------------------------------
# Exact second order in reverse mode


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hessian_against_central_differences(case: tuple[str, dict[str, str]]) -> None:
    """The Hessian in the inputs and ε together, against central differences of jax.grad."""
    op, params = case
    loss, z = flat(op, params, (2, 5), seed=30)
    got = np.asarray(jax.hessian(loss)(z))
    want = central_hessian(loss, z)
    scale = max(1.0, float(np.abs(want).max()))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)
    assert np.abs(got).max() > 0, "a Hessian of zeros tests nothing"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hessian_is_symmetric_and_nestings_agree(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    loss, z = flat(op, params, (3, 4), seed=31)
    hess = np.asarray(jax.hessian(loss)(z))
    np.testing.assert_allclose(hess, hess.T, rtol=1e-10, atol=1e-12)
    for name, nest in [
        ("jacrev(jacrev)", jax.jacrev(jax.jacrev(loss))),
        ("jit(hessian)", jax.jit(jax.hessian(loss))),
        ("jacrev(grad)", jax.jacrev(jax.grad(loss))),
    ]:
        np.testing.assert_allclose(nest(z), hess, rtol=1e-12, atol=1e-12, err_msg=name)
    # grad of a gradient: ∇(⟨u, ∇L⟩) = H u.
    u = jnp.asarray(np.random.default_rng(32).standard_normal(z.shape))
    hu = jax.grad(lambda z: jnp.vdot(u, jax.grad(loss)(z)))(z)
    np.testing.assert_allclose(hu, hess @ np.asarray(u), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_order_2_rev(case: tuple[str, dict[str, str]]) -> None:
    """JAX's own checker on the op itself (vector output), inputs and ε differentiated."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (2, 5), seed=33), **params)
    check_grads(f, (*diff, EPS), order=2, modes=["rev"], **TOL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_order_2_both_modes(case: tuple[str, dict[str, str]]) -> None:
    """JAX's own checker with forward over forward too (the JVP's derivative in its point, from
    the HVP kernel), inputs and ε differentiated."""
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (2, 3), seed=37), **params)
    check_grads(f, (*diff, EPS), order=2, modes=["fwd", "rev"], **TOL)


# ------------------------------------------------------------------------------------------------
# Forward over forward; what has no kernel raises, naming the op and the order


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_forward_over_forward_equals_the_hessian_and_third_order_is_refused(
    case: tuple[str, dict[str, str]],
) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (4,), seed=34), **params)
    loss = scalar_loss(f, 35)
    x = diff[0]
    rest = lambda x: loss(x, *diff[1:], EPS)  # noqa: E731
    hess = jax.hessian(rest)(x)
    for name, nest in [
        ("jacfwd(jacfwd)", jax.jacfwd(jax.jacfwd(rest))),
        ("jit(jacfwd(jacfwd))", jax.jit(jax.jacfwd(jax.jacfwd(rest)))),
        ("jacrev(jacfwd)", jax.jacrev(jax.jacfwd(rest))),
    ]:
        np.testing.assert_allclose(nest(x), hess, rtol=1e-10, atol=1e-12, err_msg=name)
    # in ε: d²/dε² by forward over forward against reverse over reverse
    in_eps = lambda e: loss(*diff, e)  # noqa: E731
    np.testing.assert_allclose(
        jax.jacfwd(jax.jacfwd(in_eps))(EPS), jax.grad(jax.grad(in_eps))(EPS), rtol=1e-10, atol=1e-12
    )
    third = rf"^{op}: .*third-order derivatives"
    for nest3 in (jax.jacrev, jax.jacfwd, jax.hessian):
        with pytest.raises(NotImplementedError, match=third):
            nest3(jax.hessian(rest))(x)
    with pytest.raises(NotImplementedError, match=third):
        jax.jacfwd(jax.jacfwd(jax.jacfwd(rest)))(x)


def test_second_order_in_an_input_without_gradient_is_refused() -> None:
    inputs = arrays("ndcg_loss", (2, 5), seed=36)
    f = lambda s, r: jnp.sum(rj.ndcg_loss(s, r) ** 2)  # noqa: E731
    with pytest.raises(NotImplementedError, match=r"^ndcg_loss: .*relevance"):
        jax.jacfwd(jax.grad(f), argnums=1)(inputs["scores"], inputs["relevance"])


# ------------------------------------------------------------------------------------------------
# Compositions


@pytest.mark.parametrize("op", sorted(OPS))
def test_vmap_and_jit_of_hessian_with_per_sample_eps(op: str) -> None:
    """vmap of hessian over the inputs and ε (the kernel splits the rows per sample) against a
    loop, and under jit."""
    inputs = arrays(op, (3, 2, 4), seed=37)
    # Inputs that receive no gradient are closed over, without the vmapped dim.
    inputs = {n: v if n in OPS[op]["differentiable"] else v[0] for n, v in inputs.items()}
    f, diff = differentiable_fn(op, inputs)
    loss = scalar_loss(f, 38)
    k = len(diff)
    hess = jax.hessian(loss, argnums=tuple(range(k + 1)))
    eps = jnp.asarray([0.4, 0.9, 1.7])
    got = jax.vmap(hess)(*diff, eps)
    for i in range(3):
        want = hess(*(d[i] for d in diff), eps[i])
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a[i], b, rtol=1e-12, atol=1e-12)
    for a, b in zip(
        jax.tree.leaves(jax.jit(jax.vmap(hess))(*diff, eps)), jax.tree.leaves(got), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_ffi_and_callback_agree(case: tuple[str, dict[str, str]]) -> None:
    """The Hessian under jit through the XLA FFI handlers and through pure_callback (the NumPy
    kernels): the same bits."""
    from rank_relax._generated import KERNELS

    op, params = case
    if f"{op}_hvp" not in KERNELS:
        pytest.skip(f"the NumPy kernel {op}_hvp is not in this build")
    loss, z = flat(op, params, (2, 4), seed=39)
    got = {}
    for mode in ("ffi", "callback"):
        previous = rj.set_kernel_call(mode)
        try:
            got[mode] = np.asarray(jax.jit(jax.hessian(loss))(z))
        finally:
            rj.set_kernel_call(previous)
    np.testing.assert_array_equal(got["ffi"], got["callback"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_float32_against_float64(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (2, 5), seed=40, dtype=np.float32), **params)
    loss = scalar_loss(f, 41)
    lo = jax.hessian(lambda x: loss(x, *diff[1:], jnp.float32(EPS)))(diff[0])
    hi_diff = [d.astype(jnp.float64) for d in diff]
    hi = jax.hessian(lambda x: loss(x, *hi_diff[1:], jnp.float64(np.float32(EPS))))(hi_diff[0])
    assert lo.dtype == jnp.float32
    scale = max(1.0, float(np.abs(hi).max()))
    np.testing.assert_allclose(lo, hi, rtol=2e-3, atol=2e-4 * scale)


def test_nan_tangent_of_the_hvp_names_the_op_and_argument() -> None:
    x = arrays("soft_rank", (2, 4), seed=42)["values"]
    g = jax.grad(lambda x: jnp.sum(rj.soft_rank(x, regularization_strength=EPS) ** 2))
    bad = jnp.zeros_like(x).at[0, 1].set(jnp.nan)
    with pytest.raises(Exception, match=r"soft_rank: tangent_values\[0, 1\] is NaN"):
        jax.jvp(g, (x,), (bad,))
    with pytest.raises(Exception, match=r"soft_rank: tangent_values\[0, 1\] is NaN"):
        jax.jit(lambda x, t: jax.jvp(g, (x,), (t,)))(x, bad)
