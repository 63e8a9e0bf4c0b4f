"""The NumPy HVPs (``soft_rank_hvp``, …): the derivative of ``<op>_vjp`` along input tangents and an
ε tangent, against central differences of the VJP, symmetric, float32 against float64, bad input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]
EPS = 0.7
SHAPE = (3, 6)


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


def as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def forward(op: str, inputs: dict[str, Any], **params: Any) -> tuple[np.ndarray, ...]:
    return as_tuple(op_fn(rank_relax, op)(*(inputs[n] for n in OPS[op]["inputs"]), **params))


def vjp(
    op: str, inputs: dict[str, Any], cotangents: tuple[Any, ...], **params: Any
) -> tuple[np.ndarray, ...]:
    args = [*(inputs[n] for n in OPS[op]["inputs"]), *cotangents]
    return as_tuple(getattr(rank_relax, f"{op}_vjp")(*args, **params))


def hvp(
    op: str,
    inputs: dict[str, Any],
    cotangents: tuple[Any, ...],
    tangents: dict[str, Any],
    **params: Any,
) -> tuple[np.ndarray, ...]:
    args = [
        *(inputs[n] for n in OPS[op]["inputs"]),
        *cotangents,
        *(tangents[n] for n in OPS[op]["differentiable"]),
    ]
    return as_tuple(getattr(rank_relax, f"{op}_hvp")(*args, **params))


def setup(
    op: str, dtype: type = np.float64, seed: int = 0
) -> tuple[dict[str, np.ndarray], tuple[np.ndarray, ...], dict[str, np.ndarray]]:
    """Inputs without ties, random cotangents of the outputs and random input tangents."""
    inputs = make_inputs(op, SHAPE, dtype, seed=seed)
    outs = forward(op, inputs, regularization_strength=EPS)
    rng = np.random.default_rng(seed + 1)
    cotangents = tuple(rng.standard_normal(o.shape).astype(dtype) for o in outs)
    tangents = {n: rng.standard_normal(SHAPE).astype(dtype) for n in OPS[op]["differentiable"]}
    return inputs, cotangents, tangents


def close(got: np.ndarray, want: np.ndarray) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(want).max()))


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hvp_matches_finite_differences_of_vjp(case: tuple[str, dict[str, str]]) -> None:
    """Along input tangents, then along the ε tangent alone, then both: central differences of the
    VJP at fixed cotangents (f64; the l2 ops are piecewise linear, so their HVP is zero in the
    inputs between breakpoints, which the difference reproduces)."""
    op, params = case
    inputs, u, t = setup(op, seed=21)
    zero = {n: np.zeros(SHAPE) for n in t}
    h = 1e-6

    def at(shift: float, eps_shift: float) -> tuple[np.ndarray, ...]:
        moved = inputs | {n: inputs[n] + shift * t[n] for n in t}
        return vjp(op, moved, u, regularization_strength=EPS + eps_shift, **params)

    got = hvp(op, inputs, u, t, regularization_strength=EPS, **params)
    plus, minus = at(h, 0.0), at(-h, 0.0)
    assert len(got) == len(plus) == len(OPS[op]["differentiable"])
    for g, p, m in zip(got, plus, minus):
        assert g.shape == p.shape
        assert g.dtype == np.float64
        close(g, (p - m) / (2 * h))

    in_eps = hvp(
        op,
        inputs,
        u,
        zero,
        regularization_strength=EPS,
        tangent_regularization_strength=1.0,
        **params,
    )
    plus, minus = at(0.0, h), at(0.0, -h)
    for g, p, m in zip(in_eps, plus, minus):
        close(g, (p - m) / (2 * h))

    both = hvp(
        op,
        inputs,
        u,
        t,
        regularization_strength=EPS,
        tangent_regularization_strength=-0.5,
        **params,
    )
    for b, a, e in zip(both, got, in_eps):
        np.testing.assert_allclose(b, a - 0.5 * e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hvp_is_symmetric(case: tuple[str, dict[str, str]]) -> None:
    """⟨s, H t⟩ = ⟨t, H s⟩ for random input tangents s and t: the Hessian of ⟨u, f(x)⟩."""
    op, params = case
    inputs, u, t = setup(op, seed=23)
    rng = np.random.default_rng(24)
    s = {n: rng.standard_normal(SHAPE) for n in t}
    ht = hvp(op, inputs, u, t, regularization_strength=EPS, **params)
    hs = hvp(op, inputs, u, s, regularization_strength=EPS, **params)
    names = OPS[op]["differentiable"]
    left = sum(float(np.vdot(s[n], a)) for n, a in zip(names, ht))
    right = sum(float(np.vdot(t[n], b)) for n, b in zip(names, hs))
    scale = sum(float(np.abs(a).sum() * np.abs(s[n]).max()) for n, a in zip(names, ht))
    assert abs(left - right) <= 1e-10 * max(1.0, scale)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_hvp_float32_matches_float64(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    inputs, u, t = setup(op, np.float32, seed=25)
    up = {n: a.astype(np.float64) if a.dtype.kind == "f" else a for n, a in inputs.items()}
    u64 = tuple(c.astype(np.float64) for c in u)
    t64 = {n: a.astype(np.float64) for n, a in t.items()}
    kw = dict(regularization_strength=EPS, tangent_regularization_strength=0.3, **params)
    got = hvp(op, inputs, u, t, **kw)
    want = hvp(op, up, u64, t64, **kw)
    for g, w in zip(got, want):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, w, rtol=2e-3, atol=2e-3 * max(1.0, np.abs(w).max()))


def test_hvp_of_soft_rank_example() -> None:
    """kl soft_rank is smooth: its HVP in the values is nonzero; l2's is zero between ties."""
    x = np.array([[0.3, -1.2, 2.0, 0.7]])
    u = np.array([[1.0, -2.0, 0.5, 3.0]])
    t = np.array([[0.2, 0.1, -0.4, 1.0]])
    kl = rank_relax.soft_rank_hvp(x, u, t, regularization="kl")
    assert kl.shape == (1, 4)
    assert np.abs(kl).max() > 1e-3
    l2 = rank_relax.soft_rank_hvp(x, u, t, regularization="l2", regularization_strength=0.5)
    np.testing.assert_allclose(l2, 0.0, atol=1e-12)


@pytest.mark.parametrize(
    "op", [op for op in OP_NAMES if not any(len(d) > 1 for d in OPS[op]["outputs"].values())]
)
def test_hvp_axis(op: str) -> None:
    """Items along axis 0: cotangents, tangents and results transposed like the inputs."""
    inputs, u, t = setup(op, seed=27)
    kw = dict(regularization_strength=EPS, tangent_regularization_strength=0.2)
    want = hvp(op, inputs, u, t, **kw)
    moved = hvp(
        op,
        {n: a.T for n, a in inputs.items()},
        tuple(c.T for c in u),
        {n: a.T for n, a in t.items()},
        axis=0,
        **kw,
    )
    for g, w in zip(moved, want):
        np.testing.assert_array_equal(g, w.T)


@pytest.mark.parametrize("op", OP_NAMES)
def test_hvp_bad_input(op: str) -> None:
    inputs, u, t = setup(op, seed=29)
    first = OPS[op]["differentiable"][0]
    cot = next(iter(OPS[op]["outputs"]))

    def call(**change: Any) -> Any:
        uu = change.pop("u", u)
        tt = t | change.pop("t", {})
        return hvp(op, inputs, uu, tt, regularization_strength=EPS, **change)

    with pytest.raises(ValueError, match=rf"^{op}: .*tangent_{first} has shape \[2, 3\]"):
        call(t={first: np.zeros((2, 3))})
    bad = t[first].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=rf"^{op}: tangent_{first}\[1, 2\] is NaN"):
        call(t={first: bad})
    nan_u = (np.full_like(u[0], np.nan), *u[1:])
    with pytest.raises(ValueError, match=rf"^{op}: cotangent_{cot}.* is NaN"):
        call(u=nan_u)
    with pytest.raises(
        ValueError, match=rf"^{op}: {cot} has shape .* but cotangent_{cot} has shape"
    ):
        call(u=(np.zeros((7, *u[0].shape[1:])), *u[1:]))
    with pytest.raises(ValueError, match=rf"^{op}: tangent_regularization_strength is \+inf"):
        call(tangent_regularization_strength=np.inf)
    with pytest.raises(
        TypeError, match=rf"^{op}: tangent_{first} must be an array of float32 or float64"
    ):
        call(t={first: t[first].astype(np.int64)})
    with pytest.raises(TypeError, match=rf"^{op}: tangent_regularization_strength must be a real"):
        call(tangent_regularization_strength="1")
