"""The NumPy API: shapes and dtypes, zero copy, the GIL, the VJPs, properties of the ops."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from inputs import first_output, make_inputs, op_fn, output_shape, param_combinations
from rank_relax import _plumbing

OP_NAMES = sorted(OPS)


def call(op: str, inputs: dict[str, np.ndarray], **params: object) -> np.ndarray:
    return op_fn(rank_relax, op)(*(inputs[n] for n in OPS[op]["inputs"]), **params)


@pytest.mark.parametrize("op", OP_NAMES)
def test_leading_dims_and_1d(op: str) -> None:
    inputs = make_inputs(op, (2, 3, 5))
    out = call(op, inputs)
    name = first_output(op)
    assert out.shape == output_shape(op, name, (2, 3), 5)
    flat = call(op, {k: v.reshape(6, 5) for k, v in inputs.items()})
    assert flat.shape == output_shape(op, name, (6,), 5)
    np.testing.assert_array_equal(out.reshape(flat.shape), flat)
    one = call(op, {k: v[1, 2] for k, v in inputs.items()})
    assert one.shape == output_shape(op, name, (), 5)
    np.testing.assert_array_equal(one, out[1, 2])
    empty = call(op, {k: v[:0] for k, v in inputs.items()})
    assert empty.shape == output_shape(op, name, (0, 3), 5)


@pytest.mark.parametrize("op", OP_NAMES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_dtype_is_kept(op: str, dtype: type) -> None:
    inputs = make_inputs(op, (2, 6), dtype)
    out = call(op, inputs, regularization_strength=0.5)
    assert out.dtype == dtype
    want = call(op, make_inputs(op, (2, 6), np.float64), regularization_strength=0.5)
    np.testing.assert_allclose(out.astype(np.float64), want, rtol=2e-3, atol=2e-3)


def test_lists_and_non_contiguous_input() -> None:
    x = np.random.default_rng(0).standard_normal((6, 4))
    want = rank_relax.soft_rank(np.ascontiguousarray(x.T), 0.3)
    np.testing.assert_array_equal(rank_relax.soft_rank(x.T, 0.3), want)
    np.testing.assert_array_equal(rank_relax.soft_rank(np.asfortranarray(x.T), 0.3), want)
    np.testing.assert_array_equal(rank_relax.soft_rank(x.T.tolist(), 0.3), want)
    strided = x[:, ::2]
    np.testing.assert_array_equal(
        rank_relax.soft_rank(strided, 0.3), rank_relax.soft_rank(strided.copy(), 0.3)
    )


@pytest.mark.parametrize("layout", ["fortran", "transposed", "strided"])
def test_kernels_read_any_layout_in_row_major_order(layout: str) -> None:
    # The kernel tables themselves (what the torch and JAX modules call), not the public API
    # that makes arrays C-contiguous first.
    from rank_relax._generated import KERNELS

    x = np.random.default_rng(1).standard_normal((4, 6))
    view = {
        "fortran": np.asfortranarray(x),
        "transposed": np.ascontiguousarray(x.T).T,
        "strided": np.repeat(x, 2, axis=1)[:, ::2],
    }[layout]
    np.testing.assert_array_equal(view, x)
    forward = KERNELS["soft_rank_forward"]["float64"]
    got, got_perm = forward(view, None, 0.3, "l2", "ascending")
    want, want_perm = forward(np.ascontiguousarray(x), None, 0.3, "l2", "ascending")
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got_perm, want_perm)


def test_contiguous_input_of_the_kernel_dtype_is_not_copied() -> None:
    for dtype in (np.float32, np.float64):
        x = np.random.default_rng(1).standard_normal((3, 4, 5)).astype(dtype)
        (view,) = _plumbing.Call("soft_rank", ("values", x)).arrays
        assert view.shape == (12, 5)
        assert np.shares_memory(view, x)
    y = np.random.default_rng(1).standard_normal((5, 4)).T  # not C-contiguous: one copy
    (view,) = _plumbing.Call("soft_rank", ("values", y)).arrays
    assert view.flags.c_contiguous
    assert not np.shares_memory(view, y)


def test_gil_is_released_while_the_kernel_runs() -> None:
    x = np.random.default_rng(2).standard_normal((512, 4000))
    rank_relax.soft_rank(x[:8])
    done = threading.Event()
    elapsed: list[float] = []

    def work() -> None:
        start = time.perf_counter()
        for _ in range(3):
            rank_relax.sigmoid_rank(x[:, :400], 0.5)
        elapsed.append(time.perf_counter() - start)
        done.set()

    thread = threading.Thread(target=work)
    ticks = 0
    thread.start()
    while not done.is_set():
        ticks += 1
        time.sleep(0.0005)
    thread.join()
    # With the GIL held for the whole kernel call this thread could not tick at all meanwhile.
    assert elapsed[0] > 0.05, "the kernel call was too short to tell"
    assert ticks >= 20, f"the main thread ran {ticks} times in {elapsed[0]:.3f} s"


@pytest.mark.parametrize("op", OP_NAMES)
def test_vjp_matches_finite_differences(op: str) -> None:
    for params in param_combinations(op):
        inputs = make_inputs(op, (2, 5), seed=3)
        out = call(op, inputs, regularization_strength=0.6, **params)
        cot = np.random.default_rng(4).standard_normal(out.shape)
        grads = getattr(rank_relax, f"{op}_vjp")(
            *(inputs[n] for n in OPS[op]["inputs"]), cot, regularization_strength=0.6, **params
        )
        grads = grads if isinstance(grads, tuple) else (grads,)
        for name, grad in zip(OPS[op]["differentiable"], grads):
            assert grad.shape == inputs[name].shape
            numeric = np.zeros_like(grad)
            h = 1e-6
            for index in np.ndindex(grad.shape):
                up = {k: v.copy() for k, v in inputs.items()}
                down = {k: v.copy() for k, v in inputs.items()}
                up[name][index] += h
                down[name][index] -= h
                f_up = call(op, up, regularization_strength=0.6, **params)
                f_down = call(op, down, regularization_strength=0.6, **params)
                numeric[index] = np.sum((f_up - f_down) * cot) / (2 * h)
            np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6, err_msg=f"{params}")


def test_vjp_cotangent_shape_is_checked() -> None:
    x = np.ones((2, 3)) * np.arange(3)
    with pytest.raises(
        ValueError,
        match=r"^soft_rank: ranks has shape \[2, 3\] but cotangent_ranks has shape \[3, 2\]",
    ):
        rank_relax.soft_rank_vjp(x, np.ones((3, 2)))
    with pytest.raises(
        ValueError,
        match=r"^spearman_loss: loss has shape \[2\] but cotangent_loss has shape \[2, 3\]",
    ):
        rank_relax.spearman_loss_vjp(x, x, np.ones((2, 3)))


def test_properties() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 7))
    n = x.shape[1]
    hard = np.argsort(np.argsort(x, axis=1), axis=1) + 1.0
    for direction, want in (("ascending", hard), ("descending", n + 1 - hard)):
        ranks = rank_relax.soft_rank(x, 1e-3, direction=direction)
        np.testing.assert_allclose(ranks, want, atol=1e-9)
        soft = rank_relax.soft_rank(x, 2.0, direction=direction)
        np.testing.assert_allclose(soft.sum(axis=1), n * (n + 1) / 2)
        assert ((soft >= 1) & (soft <= n)).all()
    np.testing.assert_allclose(rank_relax.soft_sort(x, 1e-3), np.sort(x, axis=1), atol=1e-9)
    np.testing.assert_allclose(
        rank_relax.soft_sort(x, 1e-3, direction="descending"), -np.sort(-x, axis=1), atol=1e-9
    )
    np.testing.assert_allclose(rank_relax.spearman_loss(x, x, 1e-3), 0.0, atol=1e-12)
    np.testing.assert_allclose(rank_relax.spearman_loss(x, -x, 1e-3), 2.0, atol=1e-12)
    np.testing.assert_allclose(rank_relax.sigmoid_rank(x, 1e-3), hard, atol=1e-6)
    relevance = np.zeros_like(x)
    np.testing.assert_array_equal(rank_relax.ndcg_loss(x, relevance), 0.0)


def test_threads() -> None:
    assert rank_relax.num_threads() >= 1
    x = np.random.default_rng(6).standard_normal((300, 200))
    try:
        rank_relax.set_num_threads(1)
        assert rank_relax.num_threads() == 1
        one = rank_relax.soft_rank(x, 0.1, "kl")
        rank_relax.set_num_threads(2)
        assert rank_relax.num_threads() == 2
        two = rank_relax.soft_rank(x, 0.1, "kl")
    finally:
        rank_relax.set_num_threads(0)
    np.testing.assert_array_equal(one, two)
    with pytest.raises(ValueError, match="num_threads must be an integer >= 0"):
        rank_relax.set_num_threads(-1)


def test_concurrent_calls_from_threads() -> None:
    """Every op from many threads at once (the GIL is released) equals the sequential result."""
    rng = np.random.default_rng(7)
    calls: list[tuple[str, Callable[[], np.ndarray]]] = []
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((64, 100)).astype(dtype)
        y = rng.standard_normal((64, 100)).astype(dtype)
        rel = rng.integers(0, 4, (64, 100)).astype(dtype)
        for reg in ("l2", "kl"):
            calls += [
                ("soft_rank", partial(rank_relax.soft_rank, x, 0.2, reg, "descending")),
                ("soft_sort", partial(rank_relax.soft_sort, x, 0.2, reg)),
                ("spearman_loss", partial(rank_relax.spearman_loss, x, y, 0.2, reg)),
                ("ndcg_loss", partial(rank_relax.ndcg_loss, x, rel, 0.2, reg)),
            ]
        calls.append(("sigmoid_rank", partial(rank_relax.sigmoid_rank, x, 0.2)))
    want = [f() for _, f in calls]
    got: list[list[np.ndarray]] = [[] for _ in range(8)]

    def work(t: int) -> None:
        for _ in range(3):
            order = range(len(calls)) if t % 2 == 0 else reversed(range(len(calls)))
            results = dict.fromkeys(range(len(calls)))
            for i in order:
                results[i] = calls[i][1]()
            got[t] = [results[i] for i in range(len(calls))]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(len(got))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for per_thread in got:
        assert len(per_thread) == len(calls)
        for (name, _), g, w in zip(calls, per_thread, want):
            np.testing.assert_array_equal(g, w, err_msg=name)
