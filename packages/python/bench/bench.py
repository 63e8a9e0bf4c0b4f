"""Forward + backward time of ``rank_relax.torch.soft_rank`` against ``torchsort.soft_rank``, and
the binding's overhead over calling the native kernels directly.

For each shape, dtype and thread count (``torch.set_num_threads`` and ``rank_relax.set_num_threads``
together) it times, interleaved, round after round:

- rank_relax: ``soft_rank(x, regularization_strength=0.1)`` then ``torch.autograd.grad`` with a
  random cotangent;
- torchsort: the same calls on ``torchsort.soft_rank``;
- kernel: the native forward and backward kernels called directly on NumPy arrays (the core plus
  its own allocation of the results: what any binding has to do at least);
- numpy fwd: ``rank_relax.soft_rank`` (NumPy API, forward only) against the forward kernel alone;

and prints the best round of each (milliseconds per call), the speedup over torchsort and the
overhead of the torch and NumPy APIs over the kernels, as a Markdown table.

    python packages/python/bench/bench.py            # every configuration, about two minutes
    python packages/python/bench/bench.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Callable

import numpy as np
import torch

import rank_relax
import rank_relax.torch as rt
from rank_relax._generated import KERNELS

SHAPES = [(1, 1000), (128, 1000), (16, 10000), (1024, 100)]
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
    for fn in fns.values():  # warm up (first calls allocate, build thread pools, …)
        for _ in range(3):
            fn()
    calls = {k: max(1, int(budget_ms / max(per_call(f, 2), 1e-3))) for k, f in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], per_call(fn, calls[name]))
    return best


def configuration(
    batch: int, n: int, dtype: torch.dtype, threads: int, rounds: int, torchsort: object
) -> dict[str, float]:
    torch.set_num_threads(threads)
    rank_relax.set_num_threads(threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, n, generator=gen, dtype=dtype).requires_grad_()
    g = torch.randn(batch, n, generator=gen, dtype=dtype)
    xn, gn = x.detach().numpy(), g.numpy()
    name = str(dtype).removeprefix("torch.")
    forward, backward = KERNELS["soft_rank_forward"][name], KERNELS["soft_rank_backward"][name]

    def rank_relax_torch() -> None:
        torch.autograd.grad(rt.soft_rank(x, regularization_strength=EPS), [x], g)

    def torchsort_torch() -> None:
        torch.autograd.grad(torchsort.soft_rank(x, regularization_strength=EPS), [x], g)

    def kernel() -> None:
        ranks, permutation = forward(xn, EPS, "l2", "ascending")
        backward(xn, ranks, permutation, gn, EPS, "l2", "ascending")

    def numpy_api() -> None:
        rank_relax.soft_rank(xn, regularization_strength=EPS)

    def kernel_forward() -> None:
        forward(xn, EPS, "l2", "ascending")

    fns = {
        "rank_relax": rank_relax_torch,
        "torchsort": torchsort_torch,
        "kernel": kernel,
        "numpy_fwd": numpy_api,
        "kernel_fwd": kernel_forward,
    }
    return measure(fns, rounds, budget_ms=40.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 9")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall time (default), or the process's CPU time: steadier on a busy machine, but "
        "with 2 threads it adds the threads' times up",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    import torchsort

    rounds = 3 if args.quick else 9
    print(
        f"rank-relax {rank_relax.__version__}, torch {torch.__version__}, torchsort "
        f"{getattr(torchsort, '__version__', '?')}, {platform.processor() or platform.machine()}, "
        f"best of {rounds} rounds, {args.clock} clock, ε = {EPS}, l2"
    )
    print()
    print(
        "| shape | dtype | threads | rank_relax fwd+bwd ms | torchsort fwd+bwd ms | speedup "
        "| kernels ms | torch API overhead | NumPy API overhead (fwd) |"
    )
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for batch, n in SHAPES:
        for dtype in (torch.float32, torch.float64):
            for threads in args.threads:
                t = configuration(batch, n, dtype, threads, rounds, torchsort)
                overhead = (t["rank_relax"] - t["kernel"]) / t["kernel"] * 100
                numpy_overhead = (t["numpy_fwd"] - t["kernel_fwd"]) / t["kernel_fwd"] * 100
                print(
                    f"| {batch}×{n} | {str(dtype).removeprefix('torch.')} | {threads} "
                    f"| {t['rank_relax']:.3f} | {t['torchsort']:.3f} "
                    f"| {t['torchsort'] / t['rank_relax']:.2f}× | {t['kernel']:.3f} "
                    f"| {overhead:+.1f}% | {numpy_overhead:+.1f}% |",
                    flush=True,
                )
    rank_relax.set_num_threads(0)


if __name__ == "__main__":
    np.seterr(all="raise")
    main()
