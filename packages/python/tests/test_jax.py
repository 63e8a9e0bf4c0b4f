"""rank_relax.jax: check_grads under jit and vmap for every op, compositions of transforms, the
ε gradient, dtypes (x64 on and off), errors."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations

jax = pytest.importorskip("jax")
jnp = jax.numpy

from jax.test_util import check_grads  # noqa: E402

import rank_relax.jax as rj  # noqa: E402

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]


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


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_jit(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (3, 6)), **params)
    check_grads(jax.jit(f), (*diff, 0.7), order=1, modes=["rev"], atol=1e-5, rtol=1e-5, eps=1e-6)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_vmap(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    inputs = arrays(op, (4, 2, 5), seed=1)
    shared = {n: v[0] for n, v in inputs.items() if n not in OPS[op]["differentiable"]}
    f, diff = differentiable_fn(op, inputs | shared, **params)
    g = jax.vmap(f, in_axes=(*([0] * len(diff)), None))
    check_grads(g, (*diff, 0.7), order=1, modes=["rev"], atol=1e-5, rtol=1e-5, eps=1e-6)


@pytest.mark.parametrize("op", OP_NAMES)
def test_compositions(op: str) -> None:
    inputs = arrays(op, (5, 3, 6), seed=2)
    f, diff = differentiable_fn(op, inputs)

    def full(*args: Any) -> Any:
        return jnp.sum(f(*args) ** 2)

    eager = jax.grad(full)(*diff, 0.5)
    for transform in (jax.jit(jax.grad(full)), jax.grad(jax.jit(full))):
        np.testing.assert_allclose(transform(*diff, 0.5), eager, rtol=1e-10, atol=1e-12)

    # Per-sample gradients: the differentiable inputs mapped, the others shared.
    shared = {n: v[0] for n, v in inputs.items() if n not in OPS[op]["differentiable"]}
    f, diff = differentiable_fn(op, inputs | shared)

    def scalar(*args: Any) -> Any:
        return jnp.sum(f(*args) ** 2)

    per_sample = jax.vmap(jax.grad(scalar), in_axes=(*([0] * len(diff)), None))
    want = np.stack([jax.grad(scalar)(*(d[i] for d in diff), 0.5) for i in range(5)])
    np.testing.assert_allclose(jax.jit(per_sample)(*diff, 0.5), want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        jax.vmap(jax.jit(jax.grad(scalar)), in_axes=(*([0] * len(diff)), None))(*diff, 0.5),
        want,
        rtol=1e-10,
        atol=1e-12,
    )


@pytest.mark.parametrize("op", OP_NAMES)
def test_vmap_matches_loop_and_batch_dims(op: str) -> None:
    inputs = arrays(op, (3, 4, 5), seed=3)
    names = OPS[op]["inputs"]
    fn = op_fn(rj, op)
    batched = fn(*(inputs[n] for n in names), regularization_strength=0.4)
    mapped = jax.vmap(lambda *a: fn(*a, regularization_strength=0.4))(*(inputs[n] for n in names))
    looped = jnp.stack(
        [fn(*(inputs[n][i] for n in names), regularization_strength=0.4) for i in range(3)]
    )
    np.testing.assert_allclose(mapped, batched, rtol=1e-12)
    np.testing.assert_allclose(looped, batched, rtol=1e-12)
    # One input mapped, the others shared (vmap_method="broadcast_all" broadcasts them).
    if len(names) > 1:
        shared = {n: inputs[n][0] for n in names[1:]}
        got = jax.vmap(lambda a: fn(a, *shared.values(), regularization_strength=0.4))(
            inputs[names[0]]
        )
        want = jnp.stack(
            [
                fn(inputs[names[0]][i], *shared.values(), regularization_strength=0.4)
                for i in range(3)
            ]
        )
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_vmap_over_regularization_strength() -> None:
    x = arrays("soft_rank", (2, 6))["values"]
    eps = jnp.array([0.1, 0.5, 2.0])
    got = jax.jit(jax.vmap(lambda e: rj.soft_rank(x, e, "kl")))(eps)
    want = jnp.stack([rj.soft_rank(x, float(e), "kl") for e in eps])
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_regularization_strength_gradient() -> None:
    x, w = (arrays("soft_sort", (3, 6), seed=s)["values"] for s in (4, 5))

    def f(eps: Any) -> Any:
        return jnp.sum(rj.soft_sort(x, eps, "l2", "descending") * w)

    g = jax.grad(f)(0.8)
    h = 1e-6
    assert float(g) == pytest.approx(float((f(0.8 + h) - f(0.8 - h)) / (2 * h)), rel=1e-6)
    assert float(jax.jit(jax.grad(f))(0.8)) == pytest.approx(float(g), rel=1e-12)


@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64])
def test_dtypes(op: str, dtype: Any) -> None:
    inputs = {
        k: v.astype(dtype) if v.dtype.kind == "f" else v for k, v in arrays(op, (2, 5)).items()
    }
    fn = op_fn(rj, op)
    out = fn(*(inputs[n] for n in OPS[op]["inputs"]), regularization_strength=0.5)
    assert out.dtype == dtype
    f, diff = differentiable_fn(op, inputs)
    grads = jax.grad(lambda *a: jnp.sum(f(*a).astype(jnp.float32)), argnums=0)(*diff, 0.5)
    assert grads.dtype == dtype
    assert bool(jnp.isfinite(grads.astype(jnp.float32)).all())


def test_float32_by_default_without_x64() -> None:
    """With jax_enable_x64 off (JAX's default), float64 input is float32, and so is the result."""
    code = textwrap.dedent(
        """
        import jax, jax.numpy as jnp, numpy as np
        import rank_relax.jax as rj
        assert not jax.config.jax_enable_x64
        x = np.random.default_rng(0).standard_normal((3, 5))
        out = jax.jit(rj.soft_rank)(x, 0.5)
        g = jax.grad(lambda v: rj.spearman_loss(v, x).sum())(x)
        assert out.dtype == jnp.float32 and g.dtype == jnp.float32, (out.dtype, g.dtype)
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


def test_errors_eager_and_under_jit() -> None:
    bad = jnp.array([[1.0, jnp.nan, 2.0]])
    with pytest.raises(ValueError, match=r"^soft_rank: values\[0, 1\] is NaN"):
        rj.soft_rank(bad)
    with pytest.raises(ValueError, match=r"^soft_rank: values\[0, 1\] is NaN"):
        jax.grad(lambda v: rj.soft_rank(v).sum())(bad)
    # Under jit the value is known only when the kernel runs: JAX reports the callback's error.
    with pytest.raises(Exception, match=r"soft_rank: values\[0, 1\] is NaN"):
        jax.jit(rj.soft_rank)(bad).block_until_ready()
    # Params are checked when the function is traced, even under jit.
    with pytest.raises(ValueError, match=r"^soft_rank: regularization_strength must be finite"):
        jax.jit(lambda v: rj.soft_rank(v, -1.0))(bad)
    with pytest.raises(ValueError, match=r'^soft_sort: direction must be one of "ascending"'):
        jax.jit(lambda v: rj.soft_sort(v, direction="up"))(bad)
    # So is what depends on the row length: shapes are known when tracing.
    with pytest.raises(ValueError, match=r"^spearman_loss: needs n >= 2 items per row, got n = 1"):
        jax.jit(rj.spearman_loss)(jnp.ones((2, 1)), jnp.ones((2, 1)))
    with pytest.raises(Exception, match="soft_rank: regularization_strength must be finite"):
        jax.jit(rj.soft_rank)(jnp.ones((2, 3)), jnp.array(-1.0)).block_until_ready()
