"""Forward mode: the NumPy JVPs (``soft_rank_jvp``, …) and the PyTorch forward-mode entry points
(``torch.autograd.forward_ad``, ``torch.func.jvp``, ``jacfwd``, ``vmap`` of a JVP, gradcheck's
forward-AD check), against finite differences, the VJP (adjointness) and each other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from inputs import make_inputs, op_fn, param_combinations

OP_NAMES = sorted(OPS)
CASES = [(op, params) for op in OP_NAMES for params in param_combinations(op)]
EPS = 0.7


def case_id(case: tuple[str, dict[str, str]]) -> str:
    op, params = case
    return "-".join([op, *params.values()])


def as_tuple(value: Any) -> tuple[Any, ...]:
    return value if isinstance(value, tuple) else (value,)


def forward(op: str, inputs: dict[str, Any], **params: Any) -> tuple[np.ndarray, ...]:
    return as_tuple(op_fn(rank_relax, op)(*(inputs[n] for n in OPS[op]["inputs"]), **params))


def jvp(
    op: str, inputs: dict[str, Any], tangents: dict[str, Any], **params: Any
) -> tuple[np.ndarray, ...]:
    args = [
        *(inputs[n] for n in OPS[op]["inputs"]),
        *(tangents[n] for n in OPS[op]["differentiable"]),
    ]
    return as_tuple(getattr(rank_relax, f"{op}_jvp")(*args, **params))


def vjp(
    op: str, inputs: dict[str, Any], cotangents: tuple[np.ndarray, ...], **params: Any
) -> tuple[np.ndarray, ...]:
    args = [*(inputs[n] for n in OPS[op]["inputs"]), *cotangents]
    return as_tuple(getattr(rank_relax, f"{op}_vjp")(*args, **params))


def random_tangents(op: str, shape: tuple[int, ...], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal(shape) for n in OPS[op]["differentiable"]}


# --- NumPy ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numpy_jvp_matches_finite_differences(case: tuple[str, dict[str, str]]) -> None:
    """Central differences of the forward along a random direction, inputs without ties (the l2
    ops are piecewise linear: between breakpoints the difference is exact up to rounding)."""
    op, params = case
    inputs = make_inputs(op, (3, 6), np.float64, seed=11)
    t = random_tangents(op, (3, 6), seed=12)
    h = 1e-6
    plus = forward(
        op, inputs | {n: inputs[n] + h * t[n] for n in t}, regularization_strength=EPS, **params
    )
    minus = forward(
        op, inputs | {n: inputs[n] - h * t[n] for n in t}, regularization_strength=EPS, **params
    )
    got = jvp(op, inputs, t, regularization_strength=EPS, **params)
    assert len(got) == len(plus)
    for g, p, m in zip(got, plus, minus):
        assert g.shape == p.shape
        assert g.dtype == np.float64
        want = (p - m) / (2 * h)
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(want).max()))
        assert np.abs(g).max() > 0  # a direction every op moves along


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numpy_jvp_regularization_strength_tangent(case: tuple[str, dict[str, str]]) -> None:
    """The ε tangent alone against the central difference in ε; with input tangents, the sum."""
    op, params = case
    inputs = make_inputs(op, (3, 6), np.float64, seed=13)
    zero = {n: np.zeros((3, 6)) for n in OPS[op]["differentiable"]}
    h = 1e-6
    plus = forward(op, inputs, regularization_strength=EPS + h, **params)
    minus = forward(op, inputs, regularization_strength=EPS - h, **params)
    got = jvp(
        op, inputs, zero, regularization_strength=EPS, tangent_regularization_strength=1.0, **params
    )
    for g, p, m in zip(got, plus, minus):
        want = (p - m) / (2 * h)
        np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-6 * max(1.0, np.abs(want).max()))
    t = random_tangents(op, (3, 6), seed=14)
    both = jvp(
        op, inputs, t, regularization_strength=EPS, tangent_regularization_strength=-0.5, **params
    )
    alone = jvp(op, inputs, t, regularization_strength=EPS, **params)
    for b, a, e in zip(both, alone, got):
        np.testing.assert_allclose(b, a - 0.5 * e, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numpy_jvp_is_adjoint_of_vjp(case: tuple[str, dict[str, str]]) -> None:
    """⟨u, J t⟩ = ⟨Jᵀ u, t⟩ for random u and t, to rounding."""
    op, params = case
    inputs = make_inputs(op, (4, 7), np.float64, seed=15)
    t = random_tangents(op, (4, 7), seed=16)
    outs = forward(op, inputs, regularization_strength=EPS, **params)
    rng = np.random.default_rng(17)
    u = tuple(rng.standard_normal(o.shape) for o in outs)
    jt = jvp(op, inputs, t, regularization_strength=EPS, **params)
    grads = vjp(op, inputs, u, regularization_strength=EPS, **params)
    left = sum(float(np.vdot(a, b)) for a, b in zip(u, jt))
    right = sum(float(np.vdot(g, t[n])) for g, n in zip(grads, OPS[op]["differentiable"]))
    scale = sum(float(np.abs(a).sum() * np.abs(b).max()) for a, b in zip(u, jt))
    assert abs(left - right) <= 1e-12 * max(1.0, scale)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_numpy_jvp_float32_matches_float64(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    inputs = {
        k: v.astype(np.float32) if v.dtype.kind == "f" else v
        for k, v in make_inputs(op, (3, 6), np.float64, seed=18).items()
    }
    t = {k: v.astype(np.float32) for k, v in random_tangents(op, (3, 6), seed=19).items()}
    low = jvp(
        op, inputs, t, regularization_strength=EPS, tangent_regularization_strength=0.25, **params
    )
    high = jvp(
        op,
        {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in inputs.items()},
        {k: v.astype(np.float64) for k, v in t.items()},
        regularization_strength=EPS,
        tangent_regularization_strength=0.25,
        **params,
    )
    for lo, hi in zip(low, high):
        assert lo.dtype == np.float32
        np.testing.assert_allclose(lo, hi, rtol=1e-4, atol=1e-4 * max(1.0, np.abs(hi).max()))


def test_numpy_jvp_of_soft_rank_example() -> None:
    """The issue's example: ∂ranks along e₀ at [0.3, −1.2, 2.0, 0.7], ε = 0.5, is [1, 0, 0, −1]."""
    x = np.array([[0.3, -1.2, 2.0, 0.7]])
    got = rank_relax.soft_rank_jvp(x, np.array([[1.0, 0, 0, 0]]), regularization_strength=0.5)
    np.testing.assert_array_equal(got, [[1.0, 0.0, 0.0, -1.0]])


@pytest.mark.parametrize(
    "op", [op for op in OP_NAMES if not any(len(d) > 1 for d in OPS[op]["outputs"].values())]
)
def test_numpy_jvp_axis(op: str) -> None:
    """Items along axis 0: the same tangents as the transposed call."""
    inputs = make_inputs(op, (5, 3), np.float64, seed=20)
    t = random_tangents(op, (5, 3), seed=21)
    moved = jvp(op, inputs, t, regularization_strength=EPS, axis=0)
    last = jvp(
        op,
        {k: v.T for k, v in inputs.items()},
        {k: v.T for k, v in t.items()},
        regularization_strength=EPS,
    )
    for a, b in zip(moved, last):
        np.testing.assert_array_equal(a, b.T if b.ndim == 2 else b)


@pytest.mark.parametrize("op", OP_NAMES)
def test_numpy_jvp_bad_input(op: str) -> None:
    """The core's messages, naming the op and the argument."""
    inputs = make_inputs(op, (2, 4), np.float64, seed=22)
    first = OPS[op]["differentiable"][0]
    t = random_tangents(op, (2, 4), seed=23)
    with pytest.raises(ValueError, match=rf"^{op}: .*tangent_{first} has shape \[2, 3\]"):
        jvp(op, inputs, t | {first: t[first][:, :3]})
    nan = t[first].copy()
    nan[1, 2] = np.nan
    with pytest.raises(ValueError, match=rf"^{op}: tangent_{first}\[1, 2\] is NaN"):
        jvp(op, inputs, t | {first: nan})
    with pytest.raises(ValueError, match=rf"^{op}: tangent_regularization_strength is \+inf"):
        jvp(op, inputs, t, tangent_regularization_strength=float("inf"))
    with pytest.raises(
        TypeError, match=rf"^{op}: tangent_{first} must be an array of float32 or float64"
    ):
        jvp(op, inputs, t | {first: np.ones((2, 4), dtype=np.int64)})
    with pytest.raises(TypeError, match=rf"^{op}: tangent_regularization_strength must be a real"):
        jvp(op, inputs, t, tangent_regularization_strength="1")


# --- PyTorch -------------------------------------------------------------------------------------

torch = pytest.importorskip("torch")
import rank_relax.torch as rt  # noqa: E402
from rank_relax.torch import _plumbing  # noqa: E402

fwAD = torch.autograd.forward_ad


@pytest.fixture(params=["eager", "custom_ops"])
def path(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs a test through the eager autograd.Function and through the custom ops."""
    _plumbing._FORCE_CUSTOM_OPS = request.param == "custom_ops"
    yield request.param
    _plumbing._FORCE_CUSTOM_OPS = False


def tensors(op: str, shape: tuple[int, ...], seed: int) -> dict[str, Any]:
    return {n: torch.tensor(a) for n, a in make_inputs(op, shape, np.float64, seed).items()}


def torch_fn(op: str, inputs: dict[str, Any], **params: Any) -> Any:
    """The op as a function of its differentiable inputs."""

    def f(*args: Any) -> Any:
        given = inputs | dict(zip(OPS[op]["differentiable"], args))
        return op_fn(rt, op)(*(given[n] for n in OPS[op]["inputs"]), **params)

    return f


def test_torch_jvp_of_soft_rank_example(path: str) -> None:
    """The issue's example, in every forward-mode entry point: [1, 0, 0, −1] exactly."""
    x = torch.tensor([[0.3, -1.2, 2.0, 0.7]], dtype=torch.float64)
    t = torch.tensor([[1.0, 0.0, 0.0, 0.0]], dtype=torch.float64)
    want = torch.tensor([[1.0, 0.0, 0.0, -1.0]], dtype=torch.float64)

    def f(v: Any) -> Any:
        return rt.soft_rank(v, regularization_strength=0.5)

    with fwAD.dual_level():
        dual = f(fwAD.make_dual(x, t))
        torch.testing.assert_close(fwAD.unpack_dual(dual).tangent, want, rtol=0, atol=0)
    _, tangent = torch.func.jvp(f, (x,), (t,))
    torch.testing.assert_close(tangent, want, rtol=0, atol=0)
    torch.testing.assert_close(torch.func.jacfwd(f)(x)[0, :, 0, 0], want[0], rtol=0, atol=0)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_gradcheck_forward_ad(case: tuple[str, dict[str, str]], path: str) -> None:
    """gradcheck's forward-mode check (dual numbers) for the inputs and a tensor ε."""
    op, params = case
    inputs = tensors(op, (3, 5), seed=30)
    diff = [inputs[n].clone().requires_grad_() for n in OPS[op]["differentiable"]]
    eps = torch.tensor(0.6, dtype=torch.float64, requires_grad=True)

    def f(e: Any, *args: Any) -> Any:
        return torch_fn(op, inputs, regularization_strength=e, **params)(*args)

    assert torch.autograd.gradcheck(
        f,
        [eps, *diff],
        eps=1e-6,
        atol=1e-6,
        rtol=1e-5,
        check_forward_ad=True,
        check_backward_ad=False,
        check_undefined_grad=False,
        check_batched_forward_grad=True,
    )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_torch_jvp_matches_numpy(case: tuple[str, dict[str, str]], path: str) -> None:
    """torch.func.jvp and forward_ad give the NumPy JVP, ε tangent included."""
    op, params = case
    inputs = tensors(op, (3, 6), seed=31)
    t = {n: torch.tensor(a) for n, a in random_tangents(op, (3, 6), seed=32).items()}
    want = jvp(
        op,
        {n: v.numpy() for n, v in inputs.items()},
        {n: v.numpy() for n, v in t.items()},
        regularization_strength=EPS,
        tangent_regularization_strength=0.3,
        **params,
    )[0]
    eps = torch.tensor(EPS, dtype=torch.float64)
    diff = OPS[op]["differentiable"]

    def f(e: Any, *args: Any) -> Any:
        return torch_fn(op, inputs, regularization_strength=e, **params)(*args)

    primals = (eps, *(inputs[n] for n in diff))
    tangents = (torch.tensor(0.3, dtype=torch.float64), *(t[n] for n in diff))
    _, got = torch.func.jvp(f, primals, tangents)
    torch.testing.assert_close(got.numpy(), want, rtol=1e-13, atol=1e-13)
    with fwAD.dual_level():
        dual = f(*(fwAD.make_dual(p, d) for p, d in zip(primals, tangents)))
        torch.testing.assert_close(
            fwAD.unpack_dual(dual).tangent.numpy(), want, rtol=1e-13, atol=1e-13
        )


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_jacfwd_equals_jacrev(case: tuple[str, dict[str, str]]) -> None:
    op, params = case
    inputs = tensors(op, (2, 5), seed=33)
    f = torch_fn(op, inputs, regularization_strength=EPS, **params)
    args = tuple(inputs[n] for n in OPS[op]["differentiable"])
    argnums = tuple(range(len(args)))
    fwd = torch.func.jacfwd(f, argnums=argnums)(*args)
    rev = torch.func.jacrev(f, argnums=argnums)(*args)
    for a, b in zip(fwd, rev):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", OP_NAMES)
def test_vmap_of_jvp(op: str) -> None:
    """One JVP per sample under vmap, each equal to its own call."""
    inputs = tensors(op, (3, 5), seed=34)
    first, *others = OPS[op]["differentiable"]
    f = torch_fn(op, inputs, regularization_strength=EPS)
    xs = torch.tensor(make_inputs(op, (4, 3, 5), np.float64, seed=35)[first])
    ts = torch.randn(4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(36))

    def one(x: Any, t: Any) -> Any:
        return torch.func.jvp(lambda v: f(v, *(inputs[n] for n in others)), (x,), (t,))[1]

    batched = torch.func.vmap(one)(xs, ts)
    for i in range(4):
        torch.testing.assert_close(batched[i], one(xs[i], ts[i]), rtol=0, atol=1e-14)


def _jvp_op_args(op: str) -> tuple[Any, ...]:
    """Arguments of the custom op ``<op>_jvp``: a forward run's results and random tangents."""
    inputs = tensors(op, (3, 5), seed=37)
    params = [
        torch.tensor(0.5, dtype=torch.float64)
        if p in OPS[op]["reals"]
        else OPS[op]["enums"][p][0]
        if p in OPS[op]["enums"]
        else {**OPS[op]["ints"], **OPS[op]["lists"]}[p]
        for p in OPS[op]["params"]
    ]
    forward_op = getattr(torch.ops.rank_relax, f"{op}_forward").default
    absent = (None,) * len(OPS[op]["optional"])  # the optional inputs come last: no mask
    outs = forward_op(*(inputs[n] for n in OPS[op]["inputs"]), *absent, *params)
    outs = (outs,) if isinstance(outs, torch.Tensor) else outs
    known = inputs | dict(zip([*OPS[op]["outputs"], *OPS[op]["residuals"]], outs))
    known |= dict.fromkeys(OPS[op]["optional"])
    for name in OPS[op]["differentiable"]:
        known[f"tangent_{name}"] = torch.randn_like(known[name])
    schema = getattr(torch.ops.rank_relax, f"{op}_jvp").default._schema
    tensor_args = [a.name for a in schema.arguments if a.name in known]
    return (*(known[n] for n in tensor_args), *params, torch.tensor(0.25, dtype=torch.float64))


@pytest.mark.parametrize("op", OP_NAMES)
def test_opcheck_jvp(op: str) -> None:
    torch.library.opcheck(getattr(torch.ops.rank_relax, f"{op}_jvp").default, _jvp_op_args(op))


@pytest.mark.parametrize("op", OP_NAMES)
def test_forward_mode_bad_tangent(op: str, path: str) -> None:
    """A NaN tangent gets the core's message through forward_ad and torch.func.jvp."""
    inputs = tensors(op, (2, 4), seed=38)
    first = OPS[op]["differentiable"][0]
    f = torch_fn(op, inputs, regularization_strength=EPS)
    rest = [inputs[n] for n in OPS[op]["differentiable"][1:]]
    t = torch.zeros_like(inputs[first])
    t[1, 2] = float("nan")
    with pytest.raises(ValueError, match=rf"^{op}: tangent_{first}\[1, 2\] is NaN"):
        torch.func.jvp(lambda v: f(v, *rest), (inputs[first],), (t,))
    with (
        pytest.raises(ValueError, match=rf"^{op}: tangent_{first}\[1, 2\] is NaN"),
        fwAD.dual_level(),
    ):
        f(fwAD.make_dual(inputs[first], t), *rest)
