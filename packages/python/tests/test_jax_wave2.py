"""rank_relax.jax on soft_topk, soft_quantile, neural_sort and neural_sort_apply: both wave2
reference files under jit (float64 against the files, float32 against the same API's float64 on
the float32-rounded inputs: output, VJP of every differentiable input, ε/τ gradient), check_grads
with their int, list and enum params, jit against eager, vmap, leading dims and single rows, the
static params checked with the op's and the argument's name, and the XLA FFI attributes decoded
with errors, never a crash."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from compare import assert_close, assert_close_rows
from conftest import load_wave2
from inputs import make_inputs, op_fn

jax = pytest.importorskip("jax")
jnp = jax.numpy

from jax.test_util import check_grads  # noqa: E402

import rank_relax.jax as rj  # noqa: E402
from rank_relax.jax import _plumbing  # noqa: E402

CASES: list[dict[str, Any]] = load_wave2()
NEW_OPS = sorted({c["op"] for c in CASES})


def case_id(index: int) -> str:
    case = CASES[index]
    params = ",".join(str(v) for v in case["params"].values()).replace(" ", "")
    return f"{index}-{case['op']}-{params}"


def static_params(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The params other than ε, hashable (a list as a tuple)."""
    return tuple(
        sorted(
            (k, tuple(v) if isinstance(v, list) else v)
            for k, v in params.items()
            if k != "regularization_strength"
        )
    )


_JITTED: dict[tuple[str, tuple[tuple[str, Any], ...]], Callable[..., Any]] = {}


def jitted(op: str, static: tuple[tuple[str, Any], ...]) -> Callable[..., Any]:
    """``f(eps, fixed, *diff) -> output`` and ``vjp(eps, fixed, cot, *diff) -> (output, (dε,
    *ddiff))``, both jitted, with ε traced and the other params static."""
    key = (op, static)
    if key not in _JITTED:
        names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]

        def f(eps: Any, fixed: dict[str, Any], *args: Any) -> Any:
            given = fixed | dict(zip(diff, args))
            return op_fn(rj, op)(
                *(given[n] for n in names), regularization_strength=eps, **dict(static)
            )

        def vjp(eps: Any, fixed: dict[str, Any], cot: Any, *args: Any) -> Any:
            out, pullback = jax.vjp(lambda e, *a: f(e, fixed, *a), eps, *args)
            return out, pullback(cot)

        _JITTED[key] = (jax.jit(f), jax.jit(vjp))
    return _JITTED[key]


def run(
    case: dict[str, Any], dtype: type, eps: float
) -> tuple[np.ndarray, dict[str, np.ndarray] | None, float | None]:
    """Output, VJP by input (or None without a cotangent) and summed ε gradient, under jit."""
    op = case["op"]
    diff = OPS[op]["differentiable"]
    arrays = {k: jnp.asarray(np.asarray(v, dtype)) for k, v in case["inputs"].items()}
    fixed = {k: v for k, v in arrays.items() if k not in diff}
    forward, vjp = jitted(op, static_params(case["params"]))
    eps_array = jnp.asarray(eps, dtype)
    if "cotangent" not in case:
        return np.asarray(forward(eps_array, fixed, *(arrays[n] for n in diff))), None, None
    cot = jnp.asarray(np.asarray(case["cotangent"], dtype))
    out, (grad_eps, *grads) = vjp(eps_array, fixed, cot, *(arrays[n] for n in diff))
    for g in grads:
        assert g.dtype == dtype
    by_name = {n: np.asarray(g) for n, g in zip(diff, grads)}
    return np.asarray(out), by_name, float(grad_eps)


# ------------------------------------------------------------------------------------------------
# Reference vectors


def test_wave2_files_cover_the_new_ops() -> None:
    assert NEW_OPS == ["neural_sort", "neural_sort_apply", "soft_quantile", "soft_topk"]
    assert all(op in OPS for op in NEW_OPS)
    assert sum("vjp" in c for c in CASES) > 300
    assert any("grad_regularization_strength" in c for c in CASES)


@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_reference_float64_under_jit(index: int) -> None:
    case = CASES[index]
    op = case["op"]
    out, grads, grad_eps = run(case, np.float64, case["params"]["regularization_strength"])
    assert out.dtype == np.float64
    assert_close(f"{op} output", out, case["output"], 1e-9, 1e-9)
    if "vjp" in case:
        assert grads is not None
        for name, want in case["vjp"].items():
            assert_close(f"{op} vjp[{name}]", grads[name], want, 1e-7, 1e-9)
    if "grad_regularization_strength" in case:
        # The wrapper's ε is one scalar for every row: its gradient is the rows' sum.
        per_row = np.asarray(case["grad_regularization_strength"])
        assert_close(f"{op} grad ε", grad_eps, per_row.sum(), 1e-7 * per_row.size, 1e-9)


@pytest.mark.parametrize("index", range(len(CASES)), ids=case_id)
def test_reference_float32_under_jit(index: int) -> None:
    case = CASES[index]
    op = case["op"]
    eps = float(np.float32(case["params"]["regularization_strength"]))
    rounded = case | {"inputs": {k: np.asarray(v, np.float32) for k, v in case["inputs"].items()}}
    out32, grads32, eps32 = run(rounded, np.float32, eps)
    out64, grads64, eps64 = run(rounded, np.float64, eps)
    assert out32.dtype == np.float32
    assert_close_rows(f"{op} output", out32, out64, 1e-4, 0.0)
    if grads32 is not None and grads64 is not None:
        for name, g in grads32.items():
            assert_close_rows(f"{op} vjp[{name}]", g, grads64[name], 1e-4, 1e-8)
        assert eps32 is not None
        assert eps64 is not None
        # dε sums terms ⟨cotangent, ∂output/∂ε⟩ that can cancel, each at most about
        # |cotangent| · max|output| / ε: float32 rounds relative to that bound, not to the sum.
        cot = np.asarray(case["cotangent"], np.float64)
        scale = max(abs(eps64), float(np.abs(cot).sum()) * float(np.abs(out64).max()) / eps)
        assert abs(eps32 - eps64) <= 1e-6 * scale + 1e-12, f"{op} grad ε: {eps32} vs {eps64}"


# ------------------------------------------------------------------------------------------------
# Gradients, transforms, shapes

STATIC_CASES = [
    ("soft_topk", {"k": 2}),
    ("soft_topk", {"k": 3, "regularization": "p43", "direction": "ascending"}),
    ("soft_topk", {"k": 0}),
    ("soft_quantile", {"quantiles": (0.0, 0.3, 0.5, 1.0)}),
    ("soft_quantile", {"quantiles": [0.9, 0.1], "regularization": "kl"}),
    ("neural_sort", {"direction": "ascending"}),
    ("neural_sort", {"direction": "descending"}),
    ("neural_sort_apply", {"direction": "ascending"}),
    ("neural_sort_apply", {}),
]


def static_id(case: tuple[str, dict[str, Any]]) -> str:
    op, params = case
    return "-".join([op, *(f"{k}={v}" for k, v in params.items())]).replace(" ", "")


def function_of(
    op: str, inputs: dict[str, Any], **params: Any
) -> tuple[Callable[..., Any], list[Any]]:
    """``f(*differentiable inputs, eps)`` with the other inputs fixed."""
    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]

    def f(*args: Any) -> Any:
        given = inputs | dict(zip(diff, args[:-1]))
        return op_fn(rj, op)(*(given[n] for n in names), regularization_strength=args[-1], **params)

    return f, [inputs[n] for n in diff]


def arrays(op: str, shape: tuple[int, ...], seed: int = 0) -> dict[str, Any]:
    return {n: jnp.asarray(a) for n, a in make_inputs(op, shape, np.float64, seed).items()}


@pytest.mark.parametrize("case", STATIC_CASES, ids=static_id)
def test_check_grads(case: tuple[str, dict[str, Any]]) -> None:
    """Every differentiable input (neural_sort_apply's payload too) and ε, under jit."""
    op, params = case
    f, diff = function_of(op, arrays(op, (3, 6), seed=7), **params)
    check_grads(jax.jit(f), (*diff, 0.6), order=1, modes=["rev"], atol=1e-5, rtol=1e-5, eps=1e-6)
    check_grads(f, (*diff, 0.6), order=1, modes=["rev"], atol=1e-5, rtol=1e-5, eps=1e-6)


@pytest.mark.parametrize("case", STATIC_CASES, ids=static_id)
def test_jit_matches_eager(case: tuple[str, dict[str, Any]]) -> None:
    op, params = case
    f, diff = function_of(op, arrays(op, (4, 7), seed=8), **params)
    np.testing.assert_array_equal(jax.jit(f)(*diff, 0.3), f(*diff, 0.3))
    every = tuple(range(len(diff) + 1))

    def loss(*a: Any) -> Any:
        return jnp.sum(f(*a) * jnp.cos(f(*a)))

    for got, want in zip(
        jax.jit(jax.grad(loss, argnums=every))(*diff, 0.3),
        jax.grad(loss, argnums=every)(*diff, 0.3),
    ):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def row_extents(op: str, n: int, params: dict[str, Any]) -> tuple[int, ...]:
    """The extents of the op's output after the leading dims, from the op table."""
    (dims,) = (OPS[op]["outputs"][o] for o in OPS[op]["diff_outputs"])
    scope = {"n": n, **OPS[op]["ints"], **OPS[op]["lists"], **params}
    return tuple(eval(d, {"len": len}, scope) for d in dims)


@pytest.mark.parametrize("case", STATIC_CASES, ids=static_id)
def test_leading_dims_and_single_rows(case: tuple[str, dict[str, Any]]) -> None:
    op, params = case
    names = OPS[op]["inputs"]
    inputs = arrays(op, (2, 3, 5), seed=9)
    fn = jax.jit(lambda *a: op_fn(rj, op)(*a, regularization_strength=0.5, **params))
    out = fn(*(inputs[n] for n in names))
    assert out.shape == (2, 3, *row_extents(op, 5, params))
    flat = fn(*(inputs[n].reshape(6, 5) for n in names))
    np.testing.assert_array_equal(out.reshape(flat.shape), flat)
    one = fn(*(inputs[n][1, 2] for n in names))
    assert one.shape == row_extents(op, 5, params)
    np.testing.assert_array_equal(one, out[1, 2])


@pytest.mark.parametrize("case", STATIC_CASES, ids=static_id)
def test_vmap(case: tuple[str, dict[str, Any]]) -> None:
    """vmap of the function and of its gradient, with ε shared and mapped (distinct values)."""
    op, params = case
    names = OPS[op]["inputs"]
    inputs = arrays(op, (3, 2, 6), seed=10)
    fn = op_fn(rj, op)

    def g(eps: Any, *a: Any) -> Any:
        return fn(*a, regularization_strength=eps, **params)

    args = [inputs[n] for n in names]
    mapped = (0,) * len(args)
    np.testing.assert_allclose(
        jax.jit(jax.vmap(g, in_axes=(None, *mapped)))(0.4, *args), g(0.4, *args), rtol=1e-12
    )
    eps = jnp.array([0.2, 0.5, 1.5])
    want = jnp.stack([g(e, *(a[i] for a in args)) for i, e in enumerate(eps)])
    np.testing.assert_allclose(jax.jit(jax.vmap(g, in_axes=(0, *mapped)))(eps, *args), want)

    def loss(eps: Any, *a: Any) -> Any:
        return jnp.sum(g(eps, *a) ** 2)

    every = tuple(range(len(args) + 1))
    per_sample = jax.jit(jax.vmap(jax.grad(loss, argnums=every), in_axes=(0, *mapped)))(eps, *args)
    for i, e in enumerate(eps):
        one = jax.grad(loss, argnums=every)(e, *(a[i] for a in args))
        for got, w in zip(per_sample, one):
            np.testing.assert_allclose(got[i], w, rtol=1e-10, atol=1e-12)


def test_topk_mask_sums_to_k_and_quantiles_follow_numpy() -> None:
    """What the ops are, through jit: masks sum to k, small-ε quantiles are numpy.quantile."""
    x = arrays("soft_topk", (4, 9), seed=11)["values"]
    for k in (0, 1, 4, 9):
        mask = jax.jit(lambda v, k=k: rj.soft_topk(v, k, 0.05))(x)
        np.testing.assert_allclose(mask.sum(axis=-1), k, atol=1e-12)
    q = (0.0, 0.25, 0.5, 1.0)
    got = jax.jit(lambda v: rj.soft_quantile(v, q, 1e-6))(x)
    np.testing.assert_allclose(got, np.quantile(np.asarray(x), q, axis=-1).T, atol=1e-6)
    p = jax.jit(lambda v: rj.neural_sort(v, 1e-3, "ascending"))(x)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(p @ x[..., None], np.sort(np.asarray(x))[..., None], atol=1e-6)
    y = arrays("neural_sort_apply", (4, 9), seed=12)["payload"]
    np.testing.assert_allclose(
        jax.jit(rj.neural_sort_apply)(x, y, 0.7), (rj.neural_sort(x, 0.7) @ y[..., None])[..., 0]
    )


def test_float32_without_x64() -> None:
    """With jax_enable_x64 off, the list attribute is float32 like the call, and jit, grad and
    the eager kernels agree."""
    code = textwrap.dedent(
        """
        import jax, jax.numpy as jnp, numpy as np
        import rank_relax.jax as rj
        assert not jax.config.jax_enable_x64
        x = np.random.default_rng(0).standard_normal((3, 5))
        calls = [
            lambda v: rj.soft_topk(v, 2, 0.3, "p43"),
            lambda v: rj.soft_quantile(v, [0.2, 0.8], 0.3, "kl"),
            lambda v: rj.neural_sort(v, 0.3),
            lambda v: rj.neural_sort_apply(v, 2 * v, 0.3),
        ]
        for f in calls:
            out = jax.jit(f)(x)
            g = jax.jit(jax.grad(lambda v: jnp.sum(f(v) ** 2)))(x)
            assert out.dtype == g.dtype == jnp.float32, (out.dtype, g.dtype)
            np.testing.assert_array_equal(out, f(x))
            np.testing.assert_array_equal(g, jax.grad(lambda v: jnp.sum(f(v) ** 2))(x))
        print("ok")
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("ok")


# ------------------------------------------------------------------------------------------------
# Bad input: static params are checked when the function is traced, jit or not

X = jnp.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.5]])

BAD_PARAMS = [
    ("soft_topk", {"k": 2.5}, TypeError, r"^soft_topk: k must be an integer, got a float \(2.5\)"),
    ("soft_topk", {"k": 2.0}, TypeError, r"^soft_topk: k must be an integer, got a float \(2.0\)"),
    ("soft_topk", {"k": True}, TypeError, r"^soft_topk: k must be an integer, got a bool"),
    (
        "soft_topk",
        {"k": np.bool_(True)},
        TypeError,
        r"^soft_topk: k must be an integer, got a bool",
    ),
    ("soft_topk", {"k": 2**70}, ValueError, r"^soft_topk: k = 1180591620717411303424 does not fit"),
    ("soft_topk", {"k": "2"}, TypeError, r"^soft_topk: k must be an integer, got a string"),
    ("soft_topk", {"k": -1}, ValueError, r"^soft_topk: k must be in \[0, n\] = \[0, 3\], got -1"),
    ("soft_topk", {"k": 4}, ValueError, r"^soft_topk: k must be in \[0, n\] = \[0, 3\], got 4"),
    ("soft_topk", {"regularization": "kl"}, ValueError, r'^soft_topk: regularization .*"p43"'),
    ("soft_topk", {"direction": "up"}, ValueError, r"^soft_topk: direction must be one of"),
    ("soft_quantile", {"quantiles": []}, ValueError, r"^soft_quantile: quantiles is empty"),
    (
        "soft_quantile",
        {"quantiles": [0.5, float("nan")]},
        ValueError,
        r"^soft_quantile: quantiles\[1\] is NaN",
    ),
    (
        "soft_quantile",
        {"quantiles": (1.5,)},
        ValueError,
        r"^soft_quantile: quantiles\[0\] = 1.5 is not in \[0, 1\]",
    ),
    ("soft_quantile", {"quantiles": "0.5"}, TypeError, r"^soft_quantile: quantiles must be a list"),
    (
        "soft_quantile",
        {"quantiles": 0.5},
        TypeError,
        r"quantiles must be a list of real numbers, got a float \(0.5\)",
    ),
    ("soft_quantile", {"quantiles": [[0.5]]}, TypeError, r"quantiles\[0\] must be a real .* list"),
    (
        "soft_quantile",
        {"quantiles": np.array([[0.5]])},
        ValueError,
        r"^soft_quantile: quantiles must be a 1-D sequence .* shape \[1, 1\]",
    ),
    ("soft_quantile", {"quantiles": [0.5, None]}, TypeError, r"quantiles\[1\] must be a real num"),
    ("soft_quantile", {"quantiles": [True]}, TypeError, r"quantiles\[0\] must be a real .* bool"),
    ("soft_quantile", {"quantiles": ["0.5"]}, TypeError, r"quantiles\[0\] must be a real .* str"),
    ("soft_quantile", {"regularization": "p43"}, ValueError, r"^soft_quantile: regularization"),
    (
        "neural_sort",
        {"regularization_strength": 0.0},
        ValueError,
        r"^neural_sort: regularization_strength must be",
    ),
    (
        "neural_sort_apply",
        {"regularization_strength": -1.0},
        ValueError,
        r"^neural_sort_apply: regularization_strength must be",
    ),
]


def call_bad(op: str, params: dict[str, Any], jit: bool) -> Any:
    inputs = [X] * len(OPS[op]["inputs"])
    fn = op_fn(rj, op)
    if jit:
        return jax.jit(lambda *a: fn(*a, **params))(*inputs)
    return fn(*inputs, **params)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize(
    ("op", "params", "error", "match"),
    BAD_PARAMS,
    ids=[f"{op}-{next(iter(p))}={next(iter(p.values()))!r}" for op, p, *_ in BAD_PARAMS],
)
def test_bad_params(op: str, params: dict[str, Any], error: type, match: str, jit: bool) -> None:
    with pytest.raises(error, match=match):
        call_bad(op, params, jit)


def test_traced_static_params_are_refused() -> None:
    with pytest.raises(TypeError, match=r"^soft_topk: k must be a static int, got a traced value"):
        jax.jit(lambda k: rj.soft_topk(X, k))(2)
    with pytest.raises(TypeError, match=r"^soft_quantile: quantiles must be a static sequence"):
        jax.jit(lambda q: rj.soft_quantile(X, q))(jnp.array([0.5]))
    with pytest.raises(TypeError, match=r"^soft_quantile: quantiles\[1\] must be a static real"):
        jax.jit(lambda q: rj.soft_quantile(X, [0.1, q]))(0.5)


def test_static_params_accept_numpy_values() -> None:
    want = rj.soft_topk(X, 2, 0.5)
    np.testing.assert_array_equal(rj.soft_topk(X, np.int64(2), 0.5), want)
    np.testing.assert_array_equal(jax.jit(lambda v: rj.soft_topk(v, np.int32(2), 0.5))(X), want)
    want = rj.soft_quantile(X, (0.25, 0.75))
    np.testing.assert_array_equal(rj.soft_quantile(X, np.array([0.25, 0.75])), want)
    np.testing.assert_array_equal(rj.soft_quantile(X, [0.25, 0.75]), want)
    np.testing.assert_array_equal(rj.soft_quantile(X, jnp.array([0.25, 0.75])), want)
    np.testing.assert_array_equal(rj.soft_quantile(X, (q for q in (0.25, 0.75))), want)
    np.testing.assert_array_equal(jax.jit(lambda v: rj.soft_quantile(v, [0.25, 0.75]))(X), want)


def test_bad_inputs() -> None:
    with pytest.raises(
        ValueError, match=r"^neural_sort_apply: values has shape \[2, 3\] but payload has shape"
    ):
        rj.neural_sort_apply(X, jnp.ones((2, 4)))
    with pytest.raises(
        TypeError, match=r"^neural_sort_apply: payload must be an array of float32 or float64"
    ):
        rj.neural_sort_apply(X, jnp.ones((2, 3), jnp.int32))
    # The row length is known when the function is traced, so what depends on it is checked
    # then, even where XLA drops the kernel call (a gradient that needs no forward value).
    with pytest.raises(ValueError, match=r"^soft_quantile: needs n >= 1 items per row, got n = 0"):
        jax.jit(jax.grad(lambda v: rj.soft_quantile(v).sum()))(jnp.zeros((3, 0)))
    with pytest.raises(ValueError, match=r"^soft_topk: k must be in \[0, n\] = \[0, 0\], got 1"):
        jax.jit(jax.grad(lambda v: rj.soft_topk(v).sum()))(jnp.zeros((3, 0)))
    bad = X.at[1, 2].set(jnp.nan)
    for op in NEW_OPS:
        fn = op_fn(rj, op)
        args = [bad] * len(OPS[op]["inputs"])
        with pytest.raises(ValueError, match=rf"^{op}: values\[1, 2\] is NaN"):
            fn(*args)
        # Under jit the value is known only when the kernel runs: XLA reports the kernel's error.
        with pytest.raises(Exception, match=rf"{op}: values\[1, 2\] is NaN"):
            jax.jit(fn)(*args).block_until_ready()


# ------------------------------------------------------------------------------------------------
# The XLA FFI attributes, decoded by the handlers


needs_ffi = pytest.mark.skipif(
    _plumbing._register() is None, reason=f"XLA FFI handlers unavailable: {_plumbing._ffi_error}"
)


def raw_ffi(kernel: str, dtype: Any, results: Any, *operands: Any, **attrs: Any) -> Any:
    """The handler of ``kernel`` called directly, with attributes as given."""
    target = f"rank_relax_{kernel}_{'f64' if dtype == jnp.float64 else 'f32'}"
    call = jax.ffi.ffi_call(target, results, vmap_method="broadcast_all")
    return jax.jit(lambda *a: call(*a, **attrs))(*operands)


@needs_ffi
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_ffi_list_attribute_of_either_float_type(dtype: Any) -> None:
    x = X.astype(dtype)
    eps = jnp.asarray(0.5, dtype)
    want = rj.soft_quantile(x, (0.25, 0.75), 0.5)
    shapes = (jax.ShapeDtypeStruct((2, 2), dtype), jax.ShapeDtypeStruct((2, 3), jnp.int32))
    for q in (np.array([0.25, 0.75], np.float32), np.array([0.25, 0.75], np.float64)):
        got, _ = raw_ffi(
            "soft_quantile_forward", dtype, shapes, x, eps, quantiles=q, regularization="l2"
        )
        np.testing.assert_array_equal(got, want)


@needs_ffi
@pytest.mark.parametrize(
    ("attrs", "match"),
    [
        (
            {"k": np.float64(2.0)},
            "soft_topk: XLA FFI handler: attribute k is not an int32 or int64",
        ),
        ({"k": "2"}, "soft_topk: XLA FFI handler: attribute k is not an int32 or int64 scalar"),
        ({"k": np.array([2, 3])}, "soft_topk: XLA FFI handler: attribute k is not an int32 or"),
        ({}, "soft_topk: XLA FFI handler: no attribute k in the call frame"),
        ({"k": np.int64(5)}, r"soft_topk: k must be in \[0, n\] = \[0, 3\], got 5"),
        ({"k": np.int32(2), "regularization": "kl"}, "soft_topk: regularization must be one of"),
    ],
)
def test_ffi_int_attribute_errors(attrs: dict[str, Any], match: str) -> None:
    attrs = {"regularization": "l2", "direction": "descending"} | attrs
    shapes = (jax.ShapeDtypeStruct((2, 3), jnp.float64), jax.ShapeDtypeStruct((2, 3), jnp.int32))
    with pytest.raises(Exception, match=match):
        jax.block_until_ready(
            raw_ffi("soft_topk_forward", jnp.float64, shapes, X, jnp.asarray(0.5), **attrs)
        )


@needs_ffi
@pytest.mark.parametrize(
    ("quantiles", "match"),
    [
        (np.array([1, 2], np.int64), "attribute quantiles is not a float32 or float64 array"),
        (np.float64(0.5), "attribute quantiles is not a float32 or float64 array"),
        ("0.5", "attribute quantiles is not a float32 or float64 array"),
        (np.array([0.5, math.nan]), r"soft_quantile: quantiles\[1\] is NaN"),
        (np.array([2.0]), r"soft_quantile: quantiles\[0\] = 2 is not in \[0, 1\]"),
    ],
)
def test_ffi_list_attribute_errors(quantiles: Any, match: str) -> None:
    shapes = (jax.ShapeDtypeStruct((2, 2), jnp.float64), jax.ShapeDtypeStruct((2, 3), jnp.int32))
    with pytest.raises(Exception, match=match):
        jax.block_until_ready(
            raw_ffi(
                "soft_quantile_forward",
                jnp.float64,
                shapes,
                X,
                jnp.asarray(0.5),
                quantiles=quantiles,
                regularization="l2",
            )
        )


@needs_ffi
def test_ffi_result_of_the_wrong_extent_is_an_error() -> None:
    """A result buffer that does not match the shapes is the core's length error, not a write
    out of bounds."""
    shapes = (jax.ShapeDtypeStruct((2, 3), jnp.float64), jax.ShapeDtypeStruct((2, 3), jnp.int32))
    with pytest.raises(Exception, match="soft_quantile: result has 6 elements"):
        jax.block_until_ready(
            raw_ffi(
                "soft_quantile_forward",
                jnp.float64,
                shapes,
                X,
                jnp.asarray(0.5),
                quantiles=np.array([0.5, 0.6]),
                regularization="l2",
            )
        )
    shapes = (jax.ShapeDtypeStruct((2, 3, 2), jnp.float64),)
    with pytest.raises(Exception, match="neural_sort: permutation_matrix has 12 elements"):
        jax.block_until_ready(
            raw_ffi(
                "neural_sort_forward",
                jnp.float64,
                shapes,
                X,
                jnp.asarray(0.5),
                direction="ascending",
            )
        )
