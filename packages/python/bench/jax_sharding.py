"""Benchmark of rank_relax.jax on two host CPU devices: a batch-sharded ``jax.jit`` call, where
each device runs the kernels on its half of the rows, against the same call unsharded on one
device.

``soft_rank`` forward + VJP (ε = 0.1, l2, float32) under ``jax.jit``, in milliseconds per call
(wall clock, both devices together: the time a training step waits for the call), best of several
interleaved rounds, as a Markdown table with

- one device, 1 kernel thread: the whole batch on device 0;
- two devices, 1 kernel thread each: the batch sharded over the rows (``NamedSharding``,
  ``P("x")``): each device computes half of it, with no all-gather;
- one device, 2 kernel threads: the whole batch, the rows split over two threads by the kernels
  themselves (what one device already does with the cores of the machine);

and the ratios of the sharded call to each (< 1: the sharded call is faster). As a control, the
same ratio for XLA's own ``jnp.sort`` along the rows, sharded against one device: on a machine
with fewer than two idle cores neither can beat one device by much.

XLA_FLAGS gets ``--xla_force_host_platform_device_count=2`` before JAX starts. With ``BENCH_OUT``
set, each row is also appended to ``$BENCH_OUT/python.jsonl`` (``{"bench": "python.jax_sharding",
...}``).

    python packages/python/bench/jax_sharding.py            # a minute or so
    python packages/python/bench/jax_sharding.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ["XLA_FLAGS"] = (
    f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count=2".strip()
)

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

import rank_relax
import rank_relax.jax as rj

SHAPES = [(128, 1000), (1024, 100), (32, 10000)]
EPS = 0.1
CLOCK = time.perf_counter


def per_call(fn: Callable[[], object], calls: int) -> float:
    start = CLOCK()
    for _ in range(calls):
        fn()
    return (CLOCK() - start) / calls * 1e3


def measure(fns: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best-of-``rounds`` milliseconds per call of each function, timed in interleaved rounds."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    calls = {k: max(1, int(40.0 / max(per_call(f, 2), 1e-3))) for k, f in fns.items()}
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            best[name] = min(best[name], per_call(fn, calls[name]))
    return best


def emit(row: dict[str, Any]) -> None:
    out = os.environ.get("BENCH_OUT")
    if not out:
        return
    path = Path(out) / "python.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps({"bench": "python.jax_sharding", **row}) + "\n")


def value_and_vjp(x: jax.Array, g: jax.Array) -> tuple[jax.Array, jax.Array]:
    ranks, pullback = jax.vjp(lambda v: rj.soft_rank(v, EPS), x)
    (grad,) = pullback(g)
    return ranks, grad


def configuration(batch: int, n: int, rounds: int) -> dict[str, float]:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, n)).astype(np.float32)
    g = rng.standard_normal((batch, n)).astype(np.float32)
    one = jax.devices()[0]
    mesh = jax.make_mesh((2,), ("x",))
    rows = NamedSharding(mesh, P("x"))
    placed = {
        "one": (jax.device_put(x, one), jax.device_put(g, one)),
        "sharded": (jax.device_put(x, rows), jax.device_put(g, rows)),
    }
    jitted = jax.jit(value_and_vjp)
    hlo = jitted.lower(*placed["sharded"]).compile().as_text()
    assert "all-gather" not in hlo, "the batch-sharded call gathers its input"
    want = jitted(*placed["one"])
    got = jitted(*placed["sharded"])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    def run(where: str) -> Callable[[], None]:
        args = placed[where]
        return lambda: jax.block_until_ready(jitted(*args))

    def threads(k: int, fn: Callable[[], None]) -> Callable[[], None]:
        def call() -> None:
            rank_relax.set_num_threads(k)
            fn()

        return call

    sort = jax.jit(lambda v: jnp.sort(v, axis=-1))

    def sort_on(where: str) -> Callable[[], None]:
        return lambda: jax.block_until_ready(sort(placed[where][0]))

    return measure(
        {
            "one_1": threads(1, run("one")),
            "sharded_1": threads(1, run("sharded")),
            "one_2": threads(2, run("one")),
            "sort_one": sort_on("one"),
            "sort_sharded": sort_on("sharded"),
        },
        rounds,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    rounds = 3 if args.quick else 7
    rj.set_kernel_call("ffi")  # the sharding rules are those of the XLA FFI calls
    print(
        f"JAX {jax.__version__}, {jax.device_count()} host CPU devices: soft_rank forward + VJP "
        f"under jax.jit (ε = {EPS}, l2, float32), the batch sharded over both devices against "
        f"the whole batch on one; ms per call, best of {rounds} rounds, {os.cpu_count()} cores"
    )
    print()
    print(
        "| shape | 1 device, 1 thread ms | 2 devices, 1 thread each ms | 1 device, 2 threads ms "
        "| sharded / 1 device 1 thread | sharded / 1 device 2 threads "
        "| jnp.sort sharded / 1 device |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for batch, n in SHAPES:
        t = configuration(batch, n, rounds)
        row = {
            "shape": f"{batch}x{n}",
            "one_device_1_thread_ms": t["one_1"],
            "two_devices_ms": t["sharded_1"],
            "one_device_2_threads_ms": t["one_2"],
            "ratio_1_thread": t["sharded_1"] / t["one_1"],
            "ratio_2_threads": t["sharded_1"] / t["one_2"],
            "sort_ratio": t["sort_sharded"] / t["sort_one"],
        }
        print(
            f"| {batch}×{n} | {t['one_1']:.3f} | {t['sharded_1']:.3f} | {t['one_2']:.3f} "
            f"| {row['ratio_1_thread']:.2f}× | {row['ratio_2_threads']:.2f}× "
            f"| {row['sort_ratio']:.2f}× |",
            flush=True,
        )
        emit(row)
    rank_relax.set_num_threads(0)


if __name__ == "__main__":
    main()
