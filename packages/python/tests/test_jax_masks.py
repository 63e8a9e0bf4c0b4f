"""rank_relax.jax with ``mask=``: every op against the call on the compacted rows (each row's
present items alone), in float64 and float32, outputs and gradients; an all-true mask gives the
bits of no mask; NaN and ±inf at absent positions are never read; absent positions get zero
gradients; ``check_grads`` (first order in both modes, second order in reverse mode) with a mask;
``vmap`` over a batched mask, ``jit``, ``jacfwd``/``jacrev``/``hessian``, both kernel calls (XLA
FFI and ``pure_callback``); the unmasked call stays the call of before; bad masks are refused by
name. The masks reference file runs through JAX in test_reference_masks.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations

jax = pytest.importorskip("jax")
jnp = jax.numpy

from jax.test_util import check_grads  # noqa: E402

import rank_relax.jax as rj  # noqa: E402
from rank_relax.jax import _plumbing  # noqa: E402

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]
EPS = 0.7
#: ε where EPS leaves an op nearly hard on these inputs (its derivatives nearly zero).
EPS_OF = {"soft_topk": 4.0}
TOL = {"atol": 1e-5, "rtol": 1e-5, "eps": 1e-6}
#: Ops whose ``[..., n]`` output is in row order (the n_valid values first), not in the items'.
ROW_ORDERED = {"soft_sort", "neural_sort_apply"}
#: Present items per row of :func:`mask_of` for 7 items: several, the fewest spearman_loss takes
#: (2), all, none.
PRESENT = [(0, 2, 3, 5), (1, 6), tuple(range(7)), (), (4, 0, 2)]
N = 7


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


def mask_of(rows: int = len(PRESENT), n: int = N) -> np.ndarray:
    mask = np.zeros((rows, n), bool)
    for r in range(rows):
        mask[r, [i for i in PRESENT[r % len(PRESENT)] if i < n]] = True
    return mask


def names(op: str) -> tuple[list[str], list[str]]:
    return OPS[op]["inputs"], OPS[op]["differentiable"]


def call(op: str, inputs: dict[str, Any], mask: Any = None, **params: Any) -> Any:
    """The op on its inputs (by name), with ``mask`` when one is given."""
    extra = {} if mask is None else {"mask": mask}
    return op_fn(rj, op)(*(inputs[n] for n in names(op)[0]), **params, **extra)


def vjp_parts(
    op: str, inputs: dict[str, Any], mask: Any, eps: Any, cot: Any, **params: Any
) -> tuple[Any, tuple[Any, ...], Any]:
    """The output, the gradient of ⟨cot, output⟩ for each differentiable input, and for ε (as
    JAX arrays: traceable)."""
    diff = names(op)[1]

    def f(e: Any, *args: Any) -> Any:
        given = dict(inputs) | dict(zip(diff, args))
        return call(op, given, mask, regularization_strength=e, **params)

    dtype = inputs[diff[0]].dtype
    out, pullback = jax.vjp(f, jnp.asarray(eps, dtype), *(inputs[n] for n in diff))
    grads = pullback(jnp.asarray(cot, out.dtype))
    return out, grads[1:], grads[0]


def value_and_grads(
    op: str,
    inputs: dict[str, Any],
    mask: Any,
    eps: float,
    cot: Any,
    *,
    jit: bool = False,
    **params: Any,
) -> tuple[np.ndarray, list[np.ndarray], float]:
    """:func:`vjp_parts` as NumPy values, eager or under ``jit`` (the mask then traced)."""
    if jit:
        run = jax.jit(lambda ins, m, c: vjp_parts(op, ins, m, eps, c, **params))
        out, grads, eps_grad = run(inputs, None if mask is None else jnp.asarray(mask), cot)
    else:
        out, grads, eps_grad = vjp_parts(op, inputs, mask, eps, cot, **params)
    return np.asarray(out), [np.asarray(g) for g in grads], float(eps_grad)


def differentiable_fn(op: str, inputs: dict[str, Any], mask: Any, **params: Any) -> Any:
    """``f(*differentiable inputs, eps)`` with the other inputs and the mask fixed."""
    diff = names(op)[1]

    def f(*args: Any) -> Any:
        given = dict(inputs) | dict(zip(diff, args[:-1]))
        return call(op, given, mask, regularization_strength=args[-1], **params)

    return f, [inputs[n] for n in diff]


def arrays(op: str, shape: tuple[int, ...], seed: int = 0, dtype: Any = np.float64) -> dict:
    return {n: jnp.asarray(a) for n, a in make_inputs(op, shape, dtype, seed).items()}


def output_dims(op: str) -> list[str]:
    (dims,) = (OPS[op]["outputs"][o] for o in OPS[op]["diff_outputs"])
    return dims


# ------------------------------------------------------------------------------------------------
# Masked rows are the compacted rows


def compact(op: str, row: np.ndarray, present: np.ndarray) -> np.ndarray:
    """A row of an output (or of its cotangent) as the call on the present items alone has it."""
    dims, n_valid = output_dims(op), int(present.sum())
    if dims == ["n"]:
        return row[:n_valid] if op in ROW_ORDERED else row[present]
    if dims == ["n", "n"]:
        return row[:n_valid][:, present]
    if dims == ["k"]:  # the first min(k, n_valid) sorted values, then zeros
        return row[:n_valid]
    return row  # one value per row, or a row of quantiles


def scatter_zeros(op: str, row: np.ndarray, present: np.ndarray) -> np.ndarray:
    """The part of a masked output's row that must be zero: what :func:`compact` leaves out."""
    dims, n_valid = output_dims(op), int(present.sum())
    if dims == ["n"]:
        return row[n_valid:] if op in ROW_ORDERED else row[~present]
    if dims == ["n", "n"]:
        return np.concatenate([row[n_valid:].ravel(), row[:n_valid][:, ~present].ravel()])
    if dims == ["k"]:
        return row[n_valid:]
    return np.zeros(0)


def params_for(op: str, params: dict[str, Any], n_valid: int) -> dict[str, Any]:
    """A row with fewer present items than ``k`` selects them all: k is clamped to n_valid."""
    if "k" in OPS[op]["ints"]:
        return params | {"k": min(params.get("k", OPS[op]["ints"]["k"]), n_valid)}
    return params


def compacted_rows(
    op: str, inputs: dict[str, Any], mask: np.ndarray, cot: np.ndarray, **params: Any
) -> Iterator[tuple[int, np.ndarray, Any]]:
    """Per row with enough present items: the row index, its present items and the unmasked
    call on them alone, (output, grads, ε grad), with the cotangent compacted the same way."""
    for r in range(mask.shape[0]):
        present = mask[r]
        n_valid = int(present.sum())
        if n_valid < max(OPS[op]["min_n"], 1):
            continue
        row = {n: v[r : r + 1][:, present] for n, v in inputs.items()}
        c = compact(op, cot[r], present)[None]
        yield r, present, value_and_grads(op, row, None, EPS, c, **params_for(op, params, n_valid))


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_masked_rows_are_the_compacted_rows(case: tuple[str, dict[str, str]], dtype: Any) -> None:
    op, params = case
    extra = {"k": 3} if "k" in OPS[op]["ints"] else {}
    inputs = arrays(op, (len(PRESENT), N), seed=1, dtype=dtype)
    mask = mask_of()
    out_shape = jax.eval_shape(lambda: call(op, inputs, **params, **extra)).shape
    cot = np.random.default_rng(2).standard_normal(out_shape).astype(dtype)
    out, grads, eps_grad = value_and_grads(op, inputs, mask, EPS, cot, **params, **extra)
    assert out.dtype == dtype
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-6, "atol": 2e-6}
    eps_total = 0.0
    seen = set()
    for r, present, (c_out, c_grads, c_eps) in compacted_rows(
        op, inputs, mask, cot, **params, **extra
    ):
        seen.add(r)
        where = f"{op} row {r}"
        np.testing.assert_allclose(compact(op, out[r], present), c_out[0], **tol, err_msg=where)
        assert not scatter_zeros(op, out[r], present).any(), where
        for g, c_g in zip(grads, c_grads, strict=True):
            np.testing.assert_allclose(g[r][present], c_g[0], **tol, err_msg=f"{where} grad")
            assert not g[r][~present].any(), f"{where}: a gradient at an absent position"
        eps_total += c_eps
    # The row without items, and spearman_loss's rows of fewer than 2: zeros, zero gradients.
    for r in set(range(mask.shape[0])) - seen:
        assert not out[r].any(), f"{op} row {r}"
        assert not any(g[r].any() for g in grads), f"{op} row {r}"
    eps_tol = {"rtol": 1e-9, "atol": 1e-12} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    np.testing.assert_allclose(eps_grad, eps_total, **eps_tol)


@pytest.mark.parametrize("op", OP_NAMES)
def test_an_all_true_mask_is_no_mask_bit_for_bit(op: str) -> None:
    inputs = arrays(op, (3, 6), seed=3)
    full = np.ones((3, 6), bool)
    out_shape = jax.eval_shape(lambda: call(op, inputs)).shape
    cot = np.random.default_rng(4).standard_normal(out_shape)
    for jit in (False, True):
        want = value_and_grads(op, inputs, None, EPS, cot, jit=jit)
        got = value_and_grads(op, inputs, full, EPS, cot, jit=jit)
        np.testing.assert_array_equal(got[0], want[0])
        for g, w in zip(got[1], want[1], strict=True):
            np.testing.assert_array_equal(g, w)
        assert got[2] == want[2]


@pytest.mark.parametrize("fill", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("op", OP_NAMES)
def test_absent_positions_are_never_read(op: str, fill: float) -> None:
    """NaN or ±inf padding gives the bits of finite padding, under jit too."""
    inputs = arrays(op, (len(PRESENT), N), seed=5)
    mask = mask_of()
    padded = {
        n: v if n in OPS[op]["int_inputs"] else jnp.where(mask, v, fill) for n, v in inputs.items()
    }
    out_shape = jax.eval_shape(lambda: call(op, inputs)).shape
    cot = np.random.default_rng(6).standard_normal(out_shape)
    want = value_and_grads(op, inputs, mask, EPS, cot)
    for jit in (False, True):
        got = value_and_grads(op, padded, mask, EPS, cot, jit=jit)
        np.testing.assert_array_equal(got[0], want[0])
        for g, w in zip(got[1], want[1], strict=True):
            np.testing.assert_array_equal(g, w)
        assert got[2] == want[2]


# ------------------------------------------------------------------------------------------------
# Derivatives with a mask


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_fwd_and_rev(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (len(PRESENT), N), seed=7), mask_of(), **params)
    check_grads(f, (*diff, EPS_OF.get(op, EPS)), order=1, modes=["fwd", "rev"], **TOL)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_check_grads_order_2_rev(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    f, diff = differentiable_fn(op, arrays(op, (len(PRESENT), N), seed=8), mask_of(), **params)
    check_grads(f, (*diff, EPS_OF.get(op, EPS)), order=2, modes=["rev"], **TOL)


@pytest.mark.parametrize("op", OP_NAMES)
def test_jacobians_and_hessian_vanish_at_absent_positions(op: str) -> None:
    """jacfwd and jacrev agree; the Hessian of a scalar loss is symmetric; neither has an entry
    in a row or column of an absent item; jit gives the same."""
    inputs = arrays(op, (2, 5), seed=9)
    mask = np.array([[True, False, True, True, False], [False, True, True, False, True]])
    x = names(op)[1][0]

    def f(v: Any) -> Any:
        return call(op, inputs | {x: v}, mask, regularization_strength=EPS_OF.get(op, EPS))

    def loss(v: Any) -> Any:
        y = f(v)
        return jnp.sum(jnp.sin(y)) + 0.5 * jnp.sum(y**2)

    fwd = np.asarray(jax.jacfwd(f)(inputs[x]))
    rev = np.asarray(jax.jit(jax.jacrev(f))(inputs[x]))
    np.testing.assert_allclose(fwd, rev, rtol=1e-12, atol=1e-12)
    absent = ~mask
    assert not fwd[..., absent].any()
    hess = np.asarray(jax.hessian(loss)(inputs[x]))
    np.testing.assert_allclose(hess, np.asarray(jax.jit(jax.hessian(loss))(inputs[x])))
    flat = hess.reshape(mask.size, mask.size)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-10, atol=1e-12)
    assert not flat[absent.ravel()].any()
    assert not flat[:, absent.ravel()].any()


def test_the_mask_has_no_tangent() -> None:
    """The mask is not differentiated: a tangent given for it (float0) is ignored, and
    differentiating with respect to it is JAX's own error for a bool input."""
    x = arrays("soft_rank", (2, 5), seed=10)["values"]
    mask = jnp.asarray(mask_of(2, 5))
    f = rj.soft_rank
    _, tangent = jax.jvp(
        lambda v, m: f(v, EPS, mask=m),
        (x, mask),
        (jnp.ones_like(x), np.zeros(mask.shape, jax.dtypes.float0)),
    )
    _, want = jax.jvp(lambda v: f(v, EPS, mask=mask), (x,), (jnp.ones_like(x),))
    np.testing.assert_array_equal(np.asarray(tangent), np.asarray(want))
    with pytest.raises(TypeError, match="bool"):
        jax.grad(lambda m: f(x, EPS, mask=m).sum())(mask)


# ------------------------------------------------------------------------------------------------
# Transforms


@pytest.mark.parametrize("op", OP_NAMES)
def test_vmap_over_a_batched_mask(op: str) -> None:
    """vmap over the inputs and the mask (and over the mask alone) is the loop over the samples,
    for the value and the gradient; under jit too."""
    inputs = arrays(op, (3, len(PRESENT), N), seed=11)
    masks = np.stack([mask_of(), mask_of()[::-1], np.roll(mask_of(), 1, axis=1)])
    diff = names(op)[1]

    def value(ins: dict[str, Any], m: Any) -> Any:
        return call(op, ins, m, regularization_strength=EPS)

    def grad(ins: dict[str, Any], m: Any) -> Any:
        return jax.grad(lambda d: jnp.sum(jnp.sin(value(ins | d, m))))({n: ins[n] for n in diff})

    for fn in (value, grad):
        want = [fn({n: v[s] for n, v in inputs.items()}, masks[s]) for s in range(3)]
        for mapped in (jax.vmap(fn), jax.jit(jax.vmap(fn))):
            got = mapped(inputs, jnp.asarray(masks))
            for s in range(3):
                for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want[s]), strict=True):
                    np.testing.assert_array_equal(np.asarray(a)[s], np.asarray(b))
        one = {n: v[0] for n, v in inputs.items()}
        got = jax.vmap(fn, in_axes=(None, 0))(one, jnp.asarray(masks))
        for s in range(3):
            want_s = fn(one, masks[s])
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want_s), strict=True):
                np.testing.assert_array_equal(np.asarray(a)[s], np.asarray(b))


@pytest.fixture(params=["ffi", "callback"])
def kernel_call(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "ffi" and _plumbing._register() is None:
        pytest.skip(f"XLA FFI handlers unavailable: {_plumbing._ffi_error}")
    previous = rj.set_kernel_call(request.param)
    yield request.param
    rj.set_kernel_call(previous)


@pytest.mark.parametrize("op", OP_NAMES)
def test_jit_ffi_and_callback_agree_with_eager(op: str, kernel_call: str) -> None:
    inputs = arrays(op, (len(PRESENT), N), seed=12)
    mask = mask_of()
    out_shape = jax.eval_shape(lambda: call(op, inputs)).shape
    cot = np.random.default_rng(13).standard_normal(out_shape)
    want = value_and_grads(op, inputs, mask, EPS, cot)
    got = value_and_grads(op, inputs, mask, EPS, cot, jit=True)
    np.testing.assert_array_equal(got[0], want[0])
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_allclose(got[2], want[2], rtol=1e-14)


@pytest.mark.parametrize("op", OP_NAMES)
def test_the_mask_moves_with_the_items_axis(op: str) -> None:
    if any(len(d) > 1 for d in OPS[op]["outputs"].values()):
        pytest.skip("an [..., n, n] output takes only the last axis")
    inputs = arrays(op, (len(PRESENT), N), seed=14)
    mask = mask_of()
    want = np.asarray(call(op, inputs, mask))
    got = call(op, {n: v.T for n, v in inputs.items()}, mask.T, axis=0)
    moved = np.asarray(got) if np.ndim(got) == 1 else np.asarray(got).T
    np.testing.assert_array_equal(moved, want)


def test_the_unmasked_call_is_the_call_of_before() -> None:
    """Without a mask the FFI calls take the operands they took before there were masks (no
    bool buffer) and the derivative primitives are those of before; with one, one PRED operand
    more, last."""
    if _plumbing._register() is None:
        pytest.skip(f"XLA FFI handlers unavailable: {_plumbing._ffi_error}")
    previous = rj.set_kernel_call("ffi")
    try:
        x = jnp.ones((2, 4))

        def loss(v: Any, m: Any = None) -> Any:
            return jnp.sum(rj.soft_rank(v, 0.5, mask=m) ** 2)

        def custom_calls(*args: Any) -> list[str]:
            text = jax.jit(jax.grad(loss)).lower(*args).as_text()
            return [line for line in text.splitlines() if "custom_call @rank_relax_" in line]

        plain = custom_calls(x)
        masked = custom_calls(x, jnp.ones((2, 4), bool))
        # The forward and the backward, each with one operand more: a PRED (i1) buffer, last.
        assert len(plain) == len(masked) == 2, (plain, masked)
        assert not any("i1>" in line for line in plain), plain
        for line in masked:
            assert "xi1>)" in line, line
        jaxpr = str(jax.make_jaxpr(jax.grad(loss))(x))
        assert "rr_soft_rank_vjp" in jaxpr
        assert "with_mask" not in jaxpr
        masked_jaxpr = str(jax.make_jaxpr(jax.grad(loss))(x, jnp.ones((2, 4), bool)))
        assert "rr_soft_rank_vjp_with_mask" in masked_jaxpr
    finally:
        rj.set_kernel_call(previous)


# ------------------------------------------------------------------------------------------------
# Bad masks


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bad_masks_are_refused_by_name(jit: bool) -> None:
    x = jnp.ones((2, 3))

    def run(m: Any) -> Any:
        f = (
            (lambda v: rj.soft_rank(v, 0.5, mask=m))
            if not jit
            else jax.jit(lambda v: rj.soft_rank(v, 0.5, mask=m))
        )
        return f(x)

    for bad, dtype in [(np.ones((2, 3)), "float64"), (np.ones((2, 3), np.int32), "int32")]:
        with pytest.raises(
            TypeError,
            match=rf"^soft_rank: mask must be an array of bool \(true = present\), got an array of "
            rf"{dtype}",
        ):
            run(bad)
    want = r"^soft_rank: values has shape \[2, 3\] but mask has shape \[2, 4\]"
    with pytest.raises(ValueError, match=want):
        run(np.ones((2, 4), bool))
    with pytest.raises(
        ValueError, match=r"^soft_rank: values has shape \[2, 3\] but mask has shape \[3\]"
    ):
        run(np.ones(3, bool))
    # Two inputs: the mask is checked against the first.
    want = r"^spearman_loss: predictions has shape \[2, 3\] but mask has shape \[3, 2\]"
    with pytest.raises(ValueError, match=want):
        rj.spearman_loss(x, x, mask=np.ones((3, 2), bool))


def test_a_mask_given_as_a_list_of_bools() -> None:
    x = arrays("soft_sort", (2, 4), seed=15)["values"]
    rows = [[True, False, True, True], [False, True, True, False]]
    np.testing.assert_array_equal(
        np.asarray(rj.soft_sort(x, mask=rows)), np.asarray(rj.soft_sort(x, mask=np.array(rows)))
    )
