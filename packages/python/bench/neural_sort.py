"""NeuralSort in PyTorch three ways, forward + backward, time and peak memory:

- ``neural_sort_apply``: ``rank_relax.torch.neural_sort_apply(values, payload)``, which streams
  each row of P and never holds the n × n matrix (forward and backward);
- ``neural_sort + bmm``: ``rank_relax.torch.neural_sort(values)`` (P as a ``[B, n, n]`` tensor),
  then ``P @ payload``;
- ``plain PyTorch``: NeuralSort written directly in PyTorch, as learning-to-rank code (allRank,
  TF-Ranking's NeuralSort) writes it: ``|s_j − s_k|`` as an n × n tensor, its row sums, the
  scaled scores, a softmax over the last axis, then ``P @ payload``, differentiated by autograd.

All three sort descending (row i of P softly picks the i-th largest score), float32, τ = 1; the
gradient flows to both the scores and the payload (a random cotangent). Each (method, n) runs in a
fresh process: the time is the best of several rounds (ms per forward + backward), the peak memory
the growth of the process's peak resident set over what it held before the first full-size call
(after a tiny warm-up call; MiB). The
ratios are the plain PyTorch version's time and memory over each method's. Threads: one for torch
and rank_relax (``--threads``).

    python packages/python/bench/neural_sort.py            # n = 100, 1000, 4000
    python packages/python/bench/neural_sort.py --quick    # fewer rounds

With ``BENCH_OUT`` set, each row is appended to ``$BENCH_OUT/python.jsonl``
(``{"bench": "python.neural_sort", ...}``).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

METHODS = ("neural_sort_apply", "neural_sort + bmm", "plain PyTorch")
# Batch per row length: the plain version holds several B × n × n float32 tensors for autograd.
SIZES = ((64, 100), (8, 1000), (2, 4000))
TAU = 1.0
RESOLUTION_MIB = 0.1


def plain_neural_sort(scores: torch.Tensor, tau: float) -> torch.Tensor:
    """P for each row of ``scores`` ([B, n]), descending, differentiable by autograd."""
    n = scores.shape[-1]
    pairwise = (scores[..., :, None] - scores[..., None, :]).abs()  # [B, n, n]
    spread = pairwise.sum(-1)  # [B, n]: Σ_k |s_j − s_k|
    scale = n + 1 - 2 * torch.arange(1, n + 1, dtype=scores.dtype)  # [n]
    logits = scale[:, None] * scores[..., None, :] - spread[..., None, :]  # [B, n (i), n (j)]
    return torch.softmax(logits / tau, dim=-1)


def method(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    import rank_relax.torch as rt

    opts = {"regularization_strength": TAU, "direction": "descending"}
    if name == "neural_sort_apply":
        return lambda s, y: rt.neural_sort_apply(s, y, **opts)
    if name == "neural_sort + bmm":
        return lambda s, y: (rt.neural_sort(s, **opts) @ y[..., None])[..., 0]
    if name == "plain PyTorch":
        return lambda s, y: (plain_neural_sort(s, TAU) @ y[..., None])[..., 0]
    raise ValueError(f"unknown method {name!r}")


def rss_mib() -> float:
    """The resident set now, in MiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(name: str, batch: int, n: int, rounds: int, threads: int) -> dict[str, float]:
    import rank_relax

    torch.set_num_threads(threads)
    rank_relax.set_num_threads(threads)
    gen = torch.Generator().manual_seed(n)
    scores = torch.randn(batch, n, generator=gen)
    payload = torch.randn(batch, n, generator=gen)
    cotangent = torch.randn(batch, n, generator=gen)
    f = method(name)

    def step(s: torch.Tensor, y: torch.Tensor, u: torch.Tensor) -> tuple[torch.Tensor, ...]:
        s, y = s.clone().requires_grad_(), y.clone().requires_grad_()
        out = f(s, y)
        return (out.detach(), *torch.autograd.grad(out, (s, y), u))

    # A tiny call first, so that what any first call allocates (op registration, autograd's
    # threads) is not counted as the method's memory.
    step(scores[:1, :8], payload[:1, :8], cotangent[:1, :8])
    # The peak so far (ru_maxrss) may exceed what is resident now: count only growth beyond both.
    before = max(rss_mib(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result = step(scores, payload, cotangent)
    peak = max(0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before)
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        step(scores, payload, cotangent)
        best = min(best, time.perf_counter() - t)
    # The three methods compute the same thing: compare a checksum across processes.
    checksum = float(sum(r.double().abs().sum() for r in result))
    return {"ms": best * 1e3, "peak_mib": peak, "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs=3, metavar=("METHOD", "B", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    rounds = 2 if args.quick else 5
    if args.child:
        name, batch, n = args.child[0], int(args.child[1]), int(args.child[2])
        rounds = max(1, rounds // 2) if n >= 4000 else rounds
        print(json.dumps(child(name, batch, n, rounds, args.threads)))
        return

    print(
        f"\nNeuralSort forward + backward, float32, descending, τ = {TAU}, "
        f"{args.threads} thread(s); ratio = plain PyTorch / method\n"
    )
    print("| B×n | method | ms | peak MiB | time ratio | memory ratio |")
    print("|---|---|---:|---:|---:|---:|")
    out = os.environ.get("BENCH_OUT")
    for batch, n in SIZES:
        rows = {}
        for name in METHODS:
            cmd = [sys.executable, __file__, "--child", name, str(batch), str(n)]
            cmd += ["--threads", str(args.threads)]
            if args.quick:
                cmd.append("--quick")
            run = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if run.returncode != 0:
                raise SystemExit(f"{name} at {batch}×{n} failed:\n{run.stderr}")
            rows[name] = json.loads(run.stdout.strip().splitlines()[-1])
        plain = rows["plain PyTorch"]
        for name in METHODS:
            r = rows[name]
            if abs(r["checksum"] - plain["checksum"]) > 1e-3 * abs(plain["checksum"]):
                raise SystemExit(
                    f"{name} at {batch}×{n} disagrees with plain PyTorch: "
                    f"checksum {r['checksum']} vs {plain['checksum']}"
                )
            time_ratio = plain["ms"] / r["ms"]
            # Below the resident set's resolution a growth is shown as < 0.1 MiB, its ratio as > x.
            small = r["peak_mib"] < RESOLUTION_MIB
            mem_ratio = plain["peak_mib"] / max(r["peak_mib"], RESOLUTION_MIB)
            peak = f"< {RESOLUTION_MIB}" if small else f"{r['peak_mib']:.1f}"
            cells = [f"{batch}×{n}", name, f"{r['ms']:.2f}", peak]
            cells += [f"{time_ratio:.2f}×", f"{'> ' if small else ''}{mem_ratio:.0f}×"]
            print(f"| {' | '.join(cells)} |")
            if out:
                with open(Path(out) / "python.jsonl", "a", encoding="utf-8") as f:
                    row = {"bench": "python.neural_sort", "method": name, "batch": batch, "n": n}
                    row |= {"threads": args.threads, "ms": r["ms"], "peak_mib": r["peak_mib"]}
                    row |= {"time_ratio": time_ratio, "memory_ratio": mem_ratio}
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
