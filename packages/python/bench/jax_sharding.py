"""Benchmark of rank_relax.jax on two host CPU devices: the per-device time of a batch-sharded
``jax.jit`` call, where each device runs the kernels on its half of the rows, against the same
call unsharded on one device.

``soft_rank`` forward + VJP (ε = 0.1, l2, float32) under ``jax.jit``, one kernel thread per call
(``rank_relax.set_num_threads(1)``), in milliseconds per call, best of several interleaved rounds,
as a Markdown table with

- unsharded: the whole batch on one device;
- per device: what each device of the sharded call computes, its half of the rows (the program
  the partitioner gives each device is the same custom calls on ``[batch / 2, n]``), timed alone
  on one device, and its ratio to the unsharded call (about 1/2: no gather, no extra work);
- sharded call: the batch-sharded call itself (``NamedSharding``, ``P("x")``; the benchmark
  checks that its compiled program has no all-gather and that it gives the unsharded bits), wall
  clock over both devices, and its ratio to the unsharded call. It reaches the per-device time
  only when the host runs both devices at once (two idle cores); as a control, the same ratio
  for XLA's own ``jnp.sort`` along the rows.

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
    rows = NamedSharding(jax.make_mesh((2,), ("x",)), P("x"))
    placed = {
        "unsharded": (jax.device_put(x, one), jax.device_put(g, one)),
        "half": (jax.device_put(x[: batch // 2], one), jax.device_put(g[: batch // 2], one)),
        "sharded": (jax.device_put(x, rows), jax.device_put(g, rows)),
    }
    jitted = jax.jit(value_and_vjp)
    hlo = jitted.lower(*placed["sharded"]).compile().as_text()
    assert "all-gather" not in hlo, "the batch-sharded call gathers its input"
    want = jitted(*placed["unsharded"])
    got = jitted(*placed["sharded"])
    for a, b in zip(got, want):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    def run(where: str) -> Callable[[], None]:
        args = placed[where]
        return lambda: jax.block_until_ready(jitted(*args))

    sort = jax.jit(lambda v: jnp.sort(v, axis=-1))

    def sort_on(where: str) -> Callable[[], None]:
        return lambda: jax.block_until_ready(sort(placed[where][0]))

    return measure(
        {
            "unsharded": run("unsharded"),
            "per_device": run("half"),
            "sharded": run("sharded"),
            "sort_unsharded": sort_on("unsharded"),
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
    rank_relax.set_num_threads(1)  # one kernel thread per device
    print(
        f"JAX {jax.__version__}, {jax.device_count()} host CPU devices: soft_rank forward + VJP "
        f"under jax.jit (ε = {EPS}, l2, float32, 1 kernel thread), the batch sharded over both "
        f"devices against the whole batch on one; ms per call, best of {rounds} rounds, "
        f"{os.cpu_count()} cores"
    )
    print()
    print(
        "| shape | unsharded ms | per device ms | per device / unsharded | sharded call ms "
        "| sharded call / unsharded | jnp.sort sharded / unsharded |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for batch, n in SHAPES:
        t = configuration(batch, n, rounds)
        row = {
            "shape": f"{batch}x{n}",
            "unsharded_ms": t["unsharded"],
            "per_device_ms": t["per_device"],
            "per_device_ratio": t["per_device"] / t["unsharded"],
            "sharded_ms": t["sharded"],
            "sharded_ratio": t["sharded"] / t["unsharded"],
            "sort_ratio": t["sort_sharded"] / t["sort_unsharded"],
        }
        print(
            f"| {batch}×{n} | {t['unsharded']:.3f} | {t['per_device']:.3f} "
            f"| {row['per_device_ratio']:.2f}× | {t['sharded']:.3f} "
            f"| {row['sharded_ratio']:.2f}× | {row['sort_ratio']:.2f}× |",
            flush=True,
        )
        emit(row)
    rank_relax.set_num_threads(0)


if __name__ == "__main__":
    main()
