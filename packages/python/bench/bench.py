"""Benchmarks of the Python bindings: rank_relax.torch against torchsort and the kernels, the JAX
kernel calls (XLA FFI and pure_callback) against the kernels, and rank_relax.torch.sigmoid_rank
against the same formula written in PyTorch.

Every time is the best of several interleaved rounds (milliseconds per call); the three tables are
printed as Markdown, in this order:

1. **torch** (``soft_rank``, ε = 0.1, l2): forward + backward with a random cotangent
   (``torch.autograd.grad``) through

   - rank_relax: ``rank_relax.torch.soft_rank``;
   - torchsort: ``torchsort.soft_rank``;
   - kernels: the native forward and backward kernels called directly on NumPy arrays (the core
     plus its own allocation of the results: what any binding has to do at least);
   - bare Function: a ``torch.autograd.Function`` that does nothing but call the same kernels
     (``tensor.numpy()`` in, ``torch.from_numpy`` out): the floor of any autograd.Function;
   - NumPy fwd: ``rank_relax.soft_rank`` against the forward kernel alone;

   with the speedup over torchsort and the overheads over the kernels.
2. **jax** (``soft_rank``): ``jax.jit`` of the forward and its VJP with a random cotangent, with
   the kernels run as XLA FFI custom calls and through ``jax.pure_callback``
   (``rank_relax.jax.set_kernel_call``), against the same kernels called directly.
3. **sigmoid_rank**: ``rank_relax.torch.sigmoid_rank`` forward + backward against
   ``0.5 + sigmoid((x[..., :, None] - x[..., None, :]) / ε).sum(-1)`` in PyTorch (its autograd).

Threads are set with both ``torch.set_num_threads`` and ``rank_relax.set_num_threads``. With
``BENCH_OUT`` set, each row is also appended to ``$BENCH_OUT/python.jsonl`` as a JSON object
(``{"bench": "python.torch" | "python.jax" | "python.sigmoid_rank", ...}``).

    python packages/python/bench/bench.py                 # everything, a few minutes
    python packages/python/bench/bench.py --quick         # fewer rounds
    python packages/python/bench/bench.py --only jax --shapes 128x1000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from importlib.metadata import version as distribution_version
from pathlib import Path
from typing import Any

import numpy as np
import torch

import rank_relax
import rank_relax.torch as rt
from rank_relax._generated import KERNELS

SHAPES = [(1, 1000), (128, 1000), (16, 10000), (1024, 100)]
JAX_SHAPES = [(1, 1000), (128, 1000), (1024, 100)]
SIGMOID_SHAPES = [(128, 100), (16, 1000), (1024, 32)]
EPS = 0.1

CLOCK = time.perf_counter


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = CLOCK()
    for _ in range(calls):
        fn()
    return (CLOCK() - start) / calls * 1e3


def measure(
    fns: dict[str, Callable[[], object]], rounds: int, budget_ms: float
) -> dict[str, float]:
    """Best-of-``rounds`` milliseconds per call of each function, timed in interleaved rounds."""
    for fn in fns.values():  # warm up (first calls allocate, build thread pools, compile, …)
        for _ in range(3):
            fn()
    calls = {k: max(1, int(budget_ms / max(per_call(f, 2), 1e-3))) for k, f in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], per_call(fn, calls[name]))
    return best


def overhead(t: float, base: float) -> float:
    return (t - base) / base * 100


def emit(bench: str, row: dict[str, Any]) -> None:
    """Appends a row to ``$BENCH_OUT/python.jsonl`` when ``BENCH_OUT`` is set."""
    out = os.environ.get("BENCH_OUT")
    if not out:
        return
    path = Path(out) / "python.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps({"bench": bench, **row}) + "\n")


def set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    rank_relax.set_num_threads(threads)


def kernels(name: str, x: np.ndarray, g: np.ndarray) -> Callable[[], None]:
    """The native soft_rank forward and backward kernels on NumPy arrays."""
    forward, backward = KERNELS["soft_rank_forward"][name], KERNELS["soft_rank_backward"][name]

    def run() -> None:
        ranks, permutation = forward(x, None, EPS, "l2", "ascending")
        backward(x, None, ranks, permutation, g, EPS, "l2", "ascending")

    return run


# ------------------------------------------------------------------------------------------------
# torch


def bare_function(name: str) -> type[torch.autograd.Function]:
    """The least an autograd.Function over the kernels can do."""
    forward, backward = KERNELS["soft_rank_forward"][name], KERNELS["soft_rank_backward"][name]

    class Bare(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
            ranks, permutation = forward(x.detach().numpy(), None, EPS, "l2", "ascending")
            r, p = torch.from_numpy(ranks), torch.from_numpy(permutation)
            ctx.save_for_backward(x, r, p)
            return r

        @staticmethod
        def backward(ctx: Any, g: torch.Tensor) -> torch.Tensor:
            x, r, p = ctx.saved_tensors
            arrays = (x.detach().numpy(), None, r.numpy(), p.numpy(), g.numpy())
            grad, _ = backward(*arrays, EPS, "l2", "ascending")
            return torch.from_numpy(grad)

    return Bare


def torch_configuration(
    batch: int, n: int, dtype: torch.dtype, threads: int, rounds: int, torchsort: Any
) -> dict[str, float]:
    set_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, n, generator=gen, dtype=dtype).requires_grad_()
    g = torch.randn(batch, n, generator=gen, dtype=dtype)
    xn, gn = x.detach().numpy(), g.numpy()
    name = str(dtype).removeprefix("torch.")
    forward = KERNELS["soft_rank_forward"][name]
    bare = bare_function(name)

    def rank_relax_torch() -> None:
        torch.autograd.grad(rt.soft_rank(x, regularization_strength=EPS), [x], g)

    def torchsort_torch() -> None:
        torch.autograd.grad(torchsort.soft_rank(x, regularization_strength=EPS), [x], g)

    def bare_torch() -> None:
        torch.autograd.grad(bare.apply(x), [x], g)

    def numpy_api() -> None:
        rank_relax.soft_rank(xn, regularization_strength=EPS)

    def kernel_forward() -> None:
        forward(xn, None, EPS, "l2", "ascending")

    fns = {
        "rank_relax": rank_relax_torch,
        "torchsort": torchsort_torch,
        "kernel": kernels(name, xn, gn),
        "bare": bare_torch,
        "numpy_fwd": numpy_api,
        "kernel_fwd": kernel_forward,
    }
    return measure(fns, rounds, budget_ms=40.0)


def torch_table(shapes: list[tuple[int, int]], threads: list[int], rounds: int) -> None:
    import torchsort

    print(
        f"rank-relax {rank_relax.__version__}, torch {torch.__version__}, torchsort "
        f"{distribution_version('torchsort')}, {platform.processor() or platform.machine()}, "
        f"best of {rounds} rounds, {CLOCK_NAME} clock, ε = {EPS}, l2"
    )
    print()
    print(
        "| shape | dtype | threads | rank_relax fwd+bwd ms | torchsort fwd+bwd ms | speedup "
        "| kernels ms | torch API overhead | NumPy API overhead (fwd) "
        "| bare autograd.Function ms | bare Function over kernels |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch, n in shapes:
        for dtype in (torch.float32, torch.float64):
            for k in threads:
                t = torch_configuration(batch, n, dtype, k, rounds, torchsort)
                name = str(dtype).removeprefix("torch.")
                row = {
                    "shape": f"{batch}x{n}",
                    "dtype": name,
                    "threads": k,
                    "rank_relax_ms": t["rank_relax"],
                    "torchsort_ms": t["torchsort"],
                    "kernels_ms": t["kernel"],
                    "bare_function_ms": t["bare"],
                    "torch_overhead_pct": overhead(t["rank_relax"], t["kernel"]),
                    "bare_overhead_pct": overhead(t["bare"], t["kernel"]),
                    "numpy_overhead_pct": overhead(t["numpy_fwd"], t["kernel_fwd"]),
                }
                print(
                    f"| {batch}×{n} | {name} | {k} "
                    f"| {t['rank_relax']:.3f} | {t['torchsort']:.3f} "
                    f"| {t['torchsort'] / t['rank_relax']:.2f}× | {t['kernel']:.3f} "
                    f"| {row['torch_overhead_pct']:+.1f}% | {row['numpy_overhead_pct']:+.1f}% "
                    f"| {t['bare']:.3f} | {row['bare_overhead_pct']:+.1f}% |",
                    flush=True,
                )
                emit("python.torch", row)


# ------------------------------------------------------------------------------------------------
# JAX


def jax_configuration(
    batch: int, n: int, dtype: Any, threads: int, rounds: int
) -> dict[str, float]:
    import jax

    import rank_relax.jax as rj

    set_threads(threads)
    rng = np.random.default_rng(0)
    xn = rng.standard_normal((batch, n)).astype(dtype)
    gn = rng.standard_normal((batch, n)).astype(dtype)
    x, g = jax.numpy.asarray(xn), jax.numpy.asarray(gn)

    def vjp(x: Any, g: Any) -> Any:
        ranks, pullback = jax.vjp(lambda v: rj.soft_rank(v, EPS), x)
        return ranks, pullback(g)

    fns: dict[str, Callable[[], object]] = {}
    for mode in ("ffi", "callback"):
        previous = rj.set_kernel_call(mode)
        compiled = jax.jit(vjp).lower(x, g).compile()  # traced now, in this mode
        rj.set_kernel_call(previous)

        def run(compiled: Any = compiled) -> None:
            jax.block_until_ready(compiled(x, g))

        fns[mode] = run
    fns["kernel"] = kernels(np.dtype(dtype).name, xn, gn)
    return measure(fns, rounds, budget_ms=40.0)


def jax_table(shapes: list[tuple[int, int]], threads: list[int], rounds: int) -> None:
    import jax

    import rank_relax.jax as rj

    jax.config.update("jax_enable_x64", True)
    try:
        rj.set_kernel_call("ffi")
        rj.set_kernel_call("auto")
    except RuntimeError as e:
        print(f"JAX: the XLA FFI handlers are unavailable ({e}); no JAX table")
        return
    print()
    print(
        f"JAX {jax.__version__}: soft_rank forward + VJP under jax.jit (ε = {EPS}, l2), the "
        "kernels run as XLA FFI custom calls or through jax.pure_callback, against the same "
        f"kernels called directly on NumPy arrays; best of {rounds} rounds, {CLOCK_NAME} clock"
    )
    print()
    print(
        "| shape | dtype | threads | kernels ms | FFI ms | callback ms | FFI over kernels "
        "| callback over kernels | callback / FFI |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for batch, n in shapes:
        for dtype in (np.float32, np.float64):
            for k in threads:
                t = jax_configuration(batch, n, dtype, k, rounds)
                name = np.dtype(dtype).name
                row = {
                    "shape": f"{batch}x{n}",
                    "dtype": name,
                    "threads": k,
                    "kernels_ms": t["kernel"],
                    "ffi_ms": t["ffi"],
                    "callback_ms": t["callback"],
                    "ffi_overhead_pct": overhead(t["ffi"], t["kernel"]),
                    "callback_overhead_pct": overhead(t["callback"], t["kernel"]),
                    "callback_over_ffi": t["callback"] / t["ffi"],
                }
                print(
                    f"| {batch}×{n} | {name} | {k} | {t['kernel']:.3f} | {t['ffi']:.3f} "
                    f"| {t['callback']:.3f} | {row['ffi_overhead_pct']:+.1f}% "
                    f"| {row['callback_overhead_pct']:+.1f}% "
                    f"| {row['callback_over_ffi']:.2f}× |",
                    flush=True,
                )
                emit("python.jax", row)


# ------------------------------------------------------------------------------------------------
# sigmoid_rank


def torch_sigmoid_rank(x: torch.Tensor, eps: float) -> torch.Tensor:
    """sigmoid_rank's formula in PyTorch: 1 + Σ_{j≠i} sigmoid((x_i − x_j)/ε), the j = i term
    being sigmoid(0) = 1/2."""
    return 0.5 + torch.sigmoid((x.unsqueeze(-1) - x.unsqueeze(-2)) / eps).sum(-1)


def sigmoid_configuration(
    batch: int, n: int, dtype: torch.dtype, threads: int, rounds: int
) -> dict[str, float]:
    set_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, n, generator=gen, dtype=dtype).requires_grad_()
    g = torch.randn(batch, n, generator=gen, dtype=dtype)
    eps = 0.5
    ours, plain = rt.sigmoid_rank(x, eps), torch_sigmoid_rank(x, eps)
    tol = 1e-3 if dtype == torch.float32 else 1e-9
    torch.testing.assert_close(ours, plain, rtol=tol, atol=tol * n)

    def rank_relax_fb() -> None:
        torch.autograd.grad(rt.sigmoid_rank(x, eps), [x], g)

    def plain_fb() -> None:
        torch.autograd.grad(torch_sigmoid_rank(x, eps), [x], g)

    def rank_relax_fwd() -> None:
        with torch.no_grad():
            rt.sigmoid_rank(x, eps)

    def plain_fwd() -> None:
        with torch.no_grad():
            torch_sigmoid_rank(x, eps)

    fns = {
        "rank_relax": rank_relax_fb,
        "torch": plain_fb,
        "rank_relax_fwd": rank_relax_fwd,
        "torch_fwd": plain_fwd,
    }
    return measure(fns, rounds, budget_ms=40.0)


def sigmoid_table(shapes: list[tuple[int, int]], threads: list[int], rounds: int) -> None:
    print()
    print(
        "sigmoid_rank (ε = 0.5, ascending): rank_relax.torch.sigmoid_rank against the formula in "
        "PyTorch, 0.5 + sigmoid((x[..., :, None] - x[..., None, :]) / ε).sum(-1), forward + "
        f"backward (torch.autograd.grad) and forward alone; best of {rounds} rounds, "
        f"{CLOCK_NAME} clock"
    )
    print()
    print(
        "| shape | dtype | threads | rank_relax fwd+bwd ms | PyTorch formula fwd+bwd ms "
        "| PyTorch / rank_relax | rank_relax fwd ms | PyTorch fwd ms | PyTorch / rank_relax (fwd) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for batch, n in shapes:
        for dtype in (torch.float32, torch.float64):
            for k in threads:
                t = sigmoid_configuration(batch, n, dtype, k, rounds)
                name = str(dtype).removeprefix("torch.")
                row = {
                    "shape": f"{batch}x{n}",
                    "dtype": name,
                    "threads": k,
                    "rank_relax_ms": t["rank_relax"],
                    "torch_ms": t["torch"],
                    "torch_over_rank_relax": t["torch"] / t["rank_relax"],
                    "rank_relax_fwd_ms": t["rank_relax_fwd"],
                    "torch_fwd_ms": t["torch_fwd"],
                    "torch_over_rank_relax_fwd": t["torch_fwd"] / t["rank_relax_fwd"],
                }
                print(
                    f"| {batch}×{n} | {name} | {k} | {t['rank_relax']:.3f} | {t['torch']:.3f} "
                    f"| {row['torch_over_rank_relax']:.2f}× | {t['rank_relax_fwd']:.3f} "
                    f"| {t['torch_fwd']:.3f} | {row['torch_over_rank_relax_fwd']:.2f}× |",
                    flush=True,
                )
                emit("python.sigmoid_rank", row)


# ------------------------------------------------------------------------------------------------

CLOCK_NAME = "wall"


def shape(text: str) -> tuple[int, int]:
    batch, n = text.lower().replace("×", "x").split("x")
    return int(batch), int(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["torch", "jax", "sigmoid"],
        default=["torch", "jax", "sigmoid"],
        help="which tables (default: all three)",
    )
    parser.add_argument(
        "--shapes", type=shape, nargs="+", help="batch×n shapes for every table (e.g. 128x1000)"
    )
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu", "thread"],
        default="wall",
        help="wall time (default); the process's CPU time (steadier on a busy machine, but with "
        "2 threads it adds the threads' times up); or the calling thread's CPU time (steadiest, "
        "for 1 thread only: it misses the work of other threads)",
    )
    args = parser.parse_args()
    global CLOCK, CLOCK_NAME
    CLOCK = {"wall": time.perf_counter, "cpu": time.process_time, "thread": time.thread_time}[
        args.clock
    ]
    CLOCK_NAME = args.clock
    rounds = 3 if args.quick else 9
    if "torch" in args.only:
        torch_table(args.shapes or SHAPES, args.threads, rounds)
    if "jax" in args.only:
        jax_table(args.shapes or JAX_SHAPES, args.threads, rounds)
    if "sigmoid" in args.only:
        sigmoid_table(args.shapes or SIGMOID_SHAPES, args.threads, rounds)
    rank_relax.set_num_threads(0)


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
