"""rank_relax.jax's two ways of running a kernel under a transform: XLA FFI custom calls (the
handlers of the extension module) and ``jax.pure_callback``. They give bit-identical results on
every reference case and under jit, grad and vmap (ε mapped too); errors keep the core's message;
the callback is the fallback when the handlers cannot be registered; the switch and the
environment variable pick either."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from conftest import load_reference, load_wave2
from inputs import make_inputs, op_fn

jax = pytest.importorskip("jax")
jnp = jax.numpy

import rank_relax.jax as rj  # noqa: E402
from rank_relax.jax import _plumbing  # noqa: E402

CASES: list[dict[str, Any]] = load_reference()["cases"]
OP_NAMES = sorted(OPS)
MODES = ("ffi", "callback")

pytestmark = pytest.mark.skipif(
    _plumbing._register() is None, reason=f"XLA FFI handlers unavailable: {_plumbing._ffi_error}"
)


@pytest.fixture
def restore_mode() -> Iterator[None]:
    previous = _plumbing._mode
    yield
    _plumbing._mode = previous
    jax.clear_caches()


def in_mode(mode: str, fn: Callable[[], Any]) -> Any:
    """``fn()`` with traced calls running the kernels as ``mode``, traced afresh."""
    previous = rj.set_kernel_call(mode)
    jax.clear_caches()
    try:
        assert rj.kernel_call() == mode
        return jax.tree.map(np.asarray, fn())
    finally:
        rj.set_kernel_call(previous)
        jax.clear_caches()


def assert_same(fn: Callable[[], Any]) -> None:
    """FFI and callback give the same bits (and the same dtypes and shapes)."""
    ffi, callback = (in_mode(m, fn) for m in MODES)
    for a, b in zip(jax.tree.leaves(ffi), jax.tree.leaves(callback)):
        assert a.dtype == b.dtype
        assert a.shape == b.shape
        np.testing.assert_array_equal(a, b)


_JITTED: dict[tuple[str, tuple[tuple[str, Any], ...]], Callable[..., Any]] = {}


def forward_and_vjp(op: str, inputs: dict[str, Any], params: dict[str, Any], cot: Any) -> Any:
    """The jitted output and VJP (differentiable inputs and ε) of one call."""
    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]
    static = tuple(
        sorted(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in params.items()
            if k != "regularization_strength"
        )
    )
    key = (op, static)
    if key not in _JITTED:

        def f(eps: Any, fixed: dict[str, Any], cot: Any, *args: Any) -> Any:
            def g(eps: Any, *args: Any) -> Any:
                given = fixed | dict(zip(diff, args))
                return op_fn(rj, op)(
                    *(given[n] for n in names), regularization_strength=eps, **dict(static)
                )

            out, pullback = jax.vjp(g, eps, *args)
            return out, pullback(cot)

        _JITTED[key] = jax.jit(f)
    fixed = {n: v for n, v in inputs.items() if n not in diff}
    args = (inputs[n] for n in diff)
    return _JITTED[key](params["regularization_strength"], fixed, cot, *args)


def test_handlers_are_registered_for_every_kernel() -> None:
    targets = _plumbing._register()
    assert targets is not None
    for op in OPS:
        for kernel in ("forward", "backward"):
            for dtype in ("f32", "f64"):
                assert targets[f"{op}_{kernel}_{dtype}"] == f"rank_relax_{op}_{kernel}_{dtype}"


@pytest.mark.parametrize("wave2", [False, True], ids=["ops-v1", "wave2"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reference_cases_bit_identical(dtype: type, wave2: bool, restore_mode: None) -> None:
    """Every reference case (every third of the wave2 files'): output and VJP under jit, FFI
    against callback, bit for bit."""
    calls = []
    for case in load_wave2()[::3] if wave2 else CASES:
        inputs = {k: jnp.asarray(np.asarray(v, dtype)) for k, v in case["inputs"].items()}
        params = dict(case["params"])
        params["regularization_strength"] = jnp.asarray(params["regularization_strength"], dtype)
        want_shape = np.asarray(case["output"]).shape
        cot = jnp.asarray(np.asarray(case.get("cotangent", np.ones(want_shape)), dtype))
        calls.append((case["op"], inputs, params, cot))
    assert_same(lambda: [forward_and_vjp(*c) for c in calls])


@pytest.mark.parametrize("op", OP_NAMES)
def test_transforms_bit_identical(op: str, restore_mode: None) -> None:
    """jit, grad (inputs and ε), vmap with ε shared and mapped, vmap of grad, leading dims."""
    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]
    inputs = {n: jnp.asarray(v) for n, v in make_inputs(op, (3, 4, 7), seed=5).items()}
    shared = {n: v[0] for n, v in inputs.items() if n not in diff}
    fn = op_fn(rj, op)

    def f(eps: Any, *args: Any) -> Any:
        given = inputs | dict(zip(diff, args))
        return fn(*(given[n] for n in names), regularization_strength=eps)

    def g(eps: Any, *args: Any) -> Any:
        given = shared | dict(zip(diff, args))
        return fn(*(given[n] for n in names), regularization_strength=eps)

    def loss(eps: Any, *args: Any) -> Any:
        return jnp.sum(g(eps, *args) ** 2)

    args = [inputs[n] for n in diff]
    eps = jnp.array([0.3, 0.3, 0.3])
    distinct = jnp.array([0.1, 0.7, 2.0])
    mapped = (0,) * len(args)
    every = tuple(range(len(args) + 1))
    assert_same(lambda: jax.jit(f)(0.4, *args))
    grad_all = jax.grad(lambda *a: jnp.sum(f(*a) ** 2), argnums=every)
    assert_same(lambda: jax.jit(grad_all)(0.4, *args))
    assert_same(lambda: jax.jit(jax.vmap(g, in_axes=(None, *mapped)))(0.4, *args))
    assert_same(lambda: jax.jit(jax.vmap(g, in_axes=(0, *mapped)))(eps, *args))
    assert_same(lambda: jax.jit(jax.vmap(g, in_axes=(0, *mapped)))(distinct, *args))
    per_sample = jax.vmap(jax.grad(loss, argnums=every), in_axes=(0, *mapped))
    assert_same(lambda: per_sample(distinct, *args))
    assert_same(lambda: jax.jit(jax.vmap(lambda e: f(e, *args)))(distinct))


def test_matches_the_eager_kernels(restore_mode: None) -> None:
    """Under jit, the FFI path computes what the NumPy kernels compute on concrete arrays."""
    x = jnp.asarray(make_inputs("soft_rank", (5, 9), seed=2)["values"])
    rj.set_kernel_call("ffi")
    jax.clear_caches()
    for params in ({"regularization": "kl"}, {"direction": "descending"}):
        np.testing.assert_array_equal(
            jax.jit(lambda v: rj.soft_rank(v, 0.3, **params))(x),  # noqa: B023
            rj.soft_rank(x, 0.3, **params),
        )


def test_errors_keep_the_core_message(restore_mode: None) -> None:
    rj.set_kernel_call("ffi")
    jax.clear_caches()
    bad = jnp.array([[1.0, jnp.nan, 2.0]])
    with pytest.raises(Exception, match=r"soft_rank: values\[0, 1\] is NaN"):
        jax.jit(rj.soft_rank)(bad).block_until_ready()
    with pytest.raises(Exception, match=r"spearman_loss: predictions\[0, 1\] is NaN"):
        jax.jit(jax.grad(lambda v: rj.spearman_loss(v, jnp.ones(3)).sum()))(bad[0])
    with pytest.raises(Exception, match="soft_rank: regularization_strength must be finite"):
        jax.jit(rj.soft_rank)(jnp.ones((2, 3)), jnp.array(-1.0)).block_until_ready()
    # One bad ε among mapped ones: that sample's kernel call reports it.
    eps = jnp.array([0.5, 0.0])
    with pytest.raises(Exception, match="soft_sort: regularization_strength must be finite"):
        jax.jit(jax.vmap(lambda e: rj.soft_sort(jnp.ones((2, 3)), e)))(eps).block_until_ready()


def test_fallback_when_the_handlers_cannot_register(
    monkeypatch: pytest.MonkeyPatch, restore_mode: None
) -> None:
    monkeypatch.setattr(_plumbing, "_targets", None)
    monkeypatch.setattr(_plumbing, "_ffi_error", "RuntimeError: simulated")
    rj.set_kernel_call("auto")
    jax.clear_caches()
    assert rj.kernel_call() == "callback"
    x = jnp.asarray(make_inputs("soft_rank", (3, 5))["values"])
    jaxpr = str(jax.make_jaxpr(lambda v: rj.soft_rank(v, 0.5))(x))
    assert "pure_callback" in jaxpr
    assert "ffi_call" not in jaxpr
    np.testing.assert_array_equal(jax.jit(rj.soft_rank)(x, 0.5), rj.soft_rank(x, 0.5))
    with pytest.raises(RuntimeError, match="simulated"):
        rj.set_kernel_call("ffi")


def test_kernel_call_switch(restore_mode: None) -> None:
    x = jnp.ones((2, 3))

    def f(v: Any) -> Any:
        return jax.vjp(lambda w: rj.soft_rank(w, 0.5), v)[1](v)

    modes = [("ffi", "ffi_call", "@rank_relax_soft_rank_forward_f"), ("callback", "pure_callback")]
    for mode, primitive, *target in [*modes, modes[0]]:
        rj.set_kernel_call(mode)  # the same function switches, without clear_caches()
        assert primitive in str(jax.make_jaxpr(f)(x))
        hlo = jax.jit(f).lower(x).as_text()
        assert (target[0] if target else "@xla_ffi_python_cpu_callback") in hlo
    with pytest.raises(ValueError, match="mode must be one of auto, ffi, callback"):
        rj.set_kernel_call("fast")


@pytest.mark.parametrize(("value", "want"), [("callback", "callback"), ("ffi", "ffi"), ("", "ffi")])
def test_environment_variable(value: str, want: str) -> None:
    code = textwrap.dedent(
        """
        import jax.numpy as jnp, rank_relax.jax as rj
        print(rj.kernel_call(), float(rj.soft_rank(jnp.array([2.0, 1.0]), 0.1)[0]))
        """
    )
    env = dict(os.environ, RANK_RELAX_JAX_KERNEL_CALL=value)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [want, "2.0"]


def test_environment_variable_checked() -> None:
    env = dict(os.environ, RANK_RELAX_JAX_KERNEL_CALL="gpu")
    result = subprocess.run(
        [sys.executable, "-c", "import rank_relax.jax"], capture_output=True, text=True, env=env
    )
    assert result.returncode != 0
    want = "RANK_RELAX_JAX_KERNEL_CALL must be one of auto, ffi, callback, got 'gpu'"
    assert want in result.stderr
