"""rank_relax.torch under torch.distributed: DTensor, DDP, FSDP2, a global ranking, torch.compile.

Two worker processes (``torch.multiprocessing`` spawn, gloo on 127.0.0.1, a free port, CPU only,
``RANK_RELAX_NUM_THREADS=1``) are started once for the module and run every scenario of
:data:`SCENARIOS` in turn; each writes what it found to a JSON file per rank, and each test reads
its scenario's outcome. Every scenario compares with a single-process run of the same global
batch in the same worker. The workers are killed if they outlive :data:`TIMEOUT`.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
if not torch.distributed.is_available():  # pragma: no cover
    pytest.skip("this torch has no torch.distributed", allow_module_level=True)

WORLD = 2
TIMEOUT = 150.0  # seconds for the whole run of both workers
BATCH, ITEMS, FEATURES, HIDDEN, STEPS = 8, 6, 4, 8, 3
TOLERANCE = 1e-12  # parameters after training, float64


# ------------------------------------------------------------------------------------------------
# What the workers run (module-level functions: the spawned processes import this module)


def _data(op: str) -> tuple[Any, Any]:
    """The global batch: features ``[BATCH, ITEMS, FEATURES]`` and targets ``[BATCH, ITEMS]``
    (graded relevance in {0, 1, 2, 3} for ndcg_loss), the same in every process."""
    g = torch.Generator().manual_seed(7)
    features = torch.randn(BATCH, ITEMS, FEATURES, generator=g, dtype=torch.float64)
    if op == "ndcg_loss":
        targets = torch.randint(0, 4, (BATCH, ITEMS), generator=g).to(torch.float64)
    else:
        targets = torch.randn(BATCH, ITEMS, generator=g, dtype=torch.float64)
    return features, targets


def _model() -> Any:
    """A small scorer, initialised the same way in every process."""
    torch.manual_seed(3)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN),
        torch.nn.Tanh(),
        torch.nn.Linear(HIDDEN, 1),
    ).to(torch.float64)


def _loss(op: str, model: Any, features: Any, targets: Any) -> Any:
    import rank_relax.torch as rr

    scores = model(features).squeeze(-1)  # [queries, items]
    fn = getattr(rr, op)
    return fn(scores, targets, regularization_strength=0.1).mean()


def _train(step: Callable[[], Any], model: Any) -> list[Any]:
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(STEPS):
        opt.zero_grad()
        step().backward()
        opt.step()
    return [p.detach() for p in model.parameters()]


def _reference(op: str) -> list[Any]:
    """The parameters after training in one process on the whole global batch."""
    model = _model()
    start = [p.detach().clone() for p in model.parameters()]
    features, targets = _data(op)
    trained = _train(lambda: _loss(op, model, features, targets), model)
    moved = max(float((a - b).abs().max()) for a, b in zip(trained, start))
    assert moved > 1e-4, f"{op}: training did not move the parameters ({moved})"
    return trained


@functools.cache
def _mesh() -> Any:
    """The one device mesh of a worker. (torch 2.15: compiling a DTensor function on a second
    mesh over the same ranks, after eager DTensor calls on the first, can fail in AOTAutograd's
    partitioner with "Node tangents_2 was invalid, but is output" — with torch.sort and softmax
    alone too.)"""
    from torch.distributed.device_mesh import init_device_mesh

    return init_device_mesh("cpu", (WORLD,))


def _local(tensor: Any, rank: int) -> Any:
    """This process's rows of the global batch (equal halves)."""
    return tensor.chunk(WORLD)[rank]


def _assert_close(got: list[Any], want: list[Any]) -> float:
    worst = max(float((a - b).abs().max()) for a, b in zip(got, want))
    assert worst <= TOLERANCE, f"parameters differ from the single-process run by {worst:.3g}"
    return worst


class _Scored(torch.nn.Module):
    """A scorer and its ranking loss as one module (what ``torch.compile`` of a DDP module
    traces whole)."""

    def __init__(self, op: str, model: Any) -> None:
        super().__init__()
        self.op, self.model = op, model

    def forward(self, features: Any, targets: Any) -> Any:
        return _loss(self.op, self.model, features, targets)


def _ddp(rank: int, op: str, compiled: str = "") -> dict[str, Any]:
    """A DDP training loop; ``compiled``: ``"ddp"`` compiles the DDP module (torch's usual way:
    Dynamo breaks the graph in DDP's own forward and compiles the wrapped module),
    ``"fullgraph"`` wraps a module compiled with ``fullgraph=True`` by inductor (no graph break
    anywhere in the scorer and the rank-relax loss)."""
    from torch.nn.parallel import DistributedDataParallel

    model = _model()
    scored: Any = _Scored(op, model)
    if compiled == "fullgraph":
        scored = torch.compile(scored, fullgraph=True)
    ddp: Any = DistributedDataParallel(scored)
    if compiled == "ddp":
        # aot_eager: Dynamo's DDP graph splitting and AOTAutograd as with inductor, without
        # inductor compiling C++ for each piece (20 s and more, cold, on a busy 2-core machine).
        ddp = torch.compile(ddp, backend="aot_eager")
    features, targets = (_local(t, rank) for t in _data(op))
    got = _train(lambda: ddp(features, targets), model)
    return {"max_abs_diff": _assert_close(got, _reference(op))}


def _fsdp2(rank: int, op: str) -> dict[str, Any]:
    from torch.distributed.fsdp import fully_shard

    mesh = _mesh()
    model = _model()
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)
    features, targets = (_local(t, rank) for t in _data(op))
    got = [p.full_tensor() for p in _train(lambda: _loss(op, model, features, targets), model)]
    placements = {str(p.placements) for p in model.parameters()}
    return {"max_abs_diff": _assert_close(got, _reference(op)), "placements": sorted(placements)}


def _gather_nn(scores: Any) -> Any:
    """``torch.distributed.nn.functional.all_gather`` (deprecated from torch 2.15 on)."""
    import warnings

    import torch.distributed.nn.functional as dist_fn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.cat(dist_fn.all_gather(scores))


def _gather_funcol(scores: Any) -> Any:
    """``torch.distributed._functional_collectives.all_gather_single`` (its replacement)."""
    import torch.distributed._functional_collectives as funcol

    return funcol.all_gather_single(scores, 0, torch.distributed.group.WORLD)


def _global_spearman(rank: int, gather: Callable[[Any], Any]) -> dict[str, Any]:
    """The recipe of docs/guides/distributed.md: each process scores its samples, the scores are
    gathered with an all-gather that carries gradients and Spearman is taken over all samples of
    the global batch, under DDP."""
    from torch.nn.parallel import DistributedDataParallel

    import rank_relax.torch as rr

    def global_loss(model: Any, features: Any, targets: Any, gathered: bool) -> Any:
        scores = model(features).squeeze(-1)  # [local samples]
        if gathered:
            scores = gather(scores)  # [global samples], differentiable
        return rr.spearman_loss(scores, targets, regularization_strength=0.1)

    g = torch.Generator().manual_seed(11)
    features = torch.randn(2 * BATCH, FEATURES, generator=g, dtype=torch.float64)
    targets = torch.randn(2 * BATCH, generator=g, dtype=torch.float64)

    # The gradient of one step, against the single-process gradient.
    model = _model()
    ddp = DistributedDataParallel(model)
    global_loss(ddp, _local(features, rank), targets, gathered=True).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    ref_model = _model()
    global_loss(ref_model, features, targets, gathered=False).backward()
    ref_grads = [p.grad for p in ref_model.parameters()]
    grad_diff = max(float((a - b).abs().max()) for a, b in zip(grads, ref_grads))
    assert grad_diff <= TOLERANCE, f"gradients differ from the single-process run by {grad_diff}"

    # And a few training steps.
    model = _model()
    ddp = DistributedDataParallel(model)
    local = _local(features, rank)
    got = _train(lambda: global_loss(ddp, local, targets, gathered=True), model)
    ref_model = _model()
    want = _train(lambda: global_loss(ref_model, features, targets, gathered=False), ref_model)
    return {"grad_diff": grad_diff, "max_abs_diff": _assert_close(got, want)}


def _dtensor(rank: int) -> dict[str, Any]:
    """Every op of the spec on DTensors sharded on the batch dim: outputs and gradients equal the
    plain-tensor ones bit for bit, and the outputs stay sharded on the batch dim (of a
    ``[batch, n]`` tensor, and the first of two leading dims). Sharded on the item dim (also a
    1-D tensor's only dim), the inputs are redistributed and the results still equal the plain
    ones; replicated inputs give replicated results. Each call again with a mask (a bool DTensor
    placed like the inputs)."""
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    import rank_relax.torch as rr
    from _spec import OPS
    from inputs import primary

    mesh = _mesh()
    checked: list[str] = []
    cases = [
        ((BATCH, ITEMS), (Shard(0), Shard(1), Replicate())),
        ((WORLD, BATCH // WORLD, ITEMS), (Shard(0),)),
        ((ITEMS,), (Shard(0),)),
    ]
    for op, spec in OPS.items():
        for (shape, placements), masked in itertools.product(cases, (False, True)):
            g = torch.Generator().manual_seed(5)
            inputs = [
                torch.randint(-1, 2, shape, generator=g, dtype=torch.int32)  # group ids
                if name in spec["int_inputs"]
                else torch.rand(shape, generator=g, dtype=torch.float64) * 3
                if name in spec["nonnegative"]
                else torch.randn(shape, generator=g, dtype=torch.float64)
                for name in spec["inputs"]
            ]
            mask = torch.rand(shape, generator=g) < 0.7 if masked else None
            diff = [name in spec["differentiable"] for name in spec["inputs"]]
            fn = getattr(rr, op)
            plain = [x.clone().requires_grad_(d) for x, d in zip(inputs, diff)]
            eps = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
            want = primary(op, fn(*plain, regularization_strength=eps, mask=mask))
            cotangent = torch.randn(want.shape, generator=g, dtype=torch.float64)
            want_grads = torch.autograd.grad(
                want, [x for x, d in zip(plain, diff) if d] + [eps], cotangent
            )
            for placement in placements:
                sharded = [
                    distribute_tensor(x, mesh, [placement]).requires_grad_(d)
                    for x, d in zip(inputs, diff)
                ]
                eps_d = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
                mask_d = None if mask is None else distribute_tensor(mask, mesh, [placement])
                got = primary(op, fn(*sharded, regularization_strength=eps_d, mask=mask_d))
                where = f"{op} {list(shape)} on {placement}{' with a mask' if masked else ''}"
                batch_sharded = placement == Shard(0) and len(shape) > 1
                if batch_sharded:
                    assert got.placements == (Shard(0),), f"{where}: output is {got.placements}"
                    assert got.to_local().shape[0] == shape[0] // WORLD, where
                assert torch.equal(got.full_tensor(), want), f"{where}: outputs differ"
                got_grads = torch.autograd.grad(
                    got,
                    [x for x, d in zip(sharded, diff) if d] + [eps_d],
                    distribute_tensor(cotangent, mesh, [got.placements[0]]),
                )
                for i, (a, b) in enumerate(zip(got_grads[:-1], want_grads[:-1])):
                    if batch_sharded:
                        assert a.placements == (Shard(0),), f"{where}: gradient is {a.placements}"
                    assert torch.equal(a.full_tensor(), b), f"{where}: gradient {i} differs"
                # ε is a plain tensor: its gradient is a plain tensor, summed over the processes.
                assert type(got_grads[-1]) is torch.Tensor, f"{where}: ε gradient {got_grads[-1]}"
                assert torch.allclose(got_grads[-1], want_grads[-1], rtol=1e-13, atol=0), where
                checked.append(where)
    return {"checked": checked}


def _dtensor_compiled(rank: int) -> dict[str, Any]:
    """``torch.compile(fullgraph=True)`` of rank-relax calls on batch-sharded DTensors: the same
    results and gradients as the eager plain-tensor calls, the output still sharded."""
    from torch.distributed.tensor import Shard, distribute_tensor

    import rank_relax.torch as rr

    mesh = _mesh()
    g = torch.Generator().manual_seed(9)
    x = torch.randn(BATCH, ITEMS, generator=g, dtype=torch.float64)
    y = torch.randn(BATCH, ITEMS, generator=g, dtype=torch.float64)
    cotangent = torch.randn(BATCH, generator=g, dtype=torch.float64)

    def loss(values: Any, targets: Any) -> Any:
        return rr.spearman_loss(rr.soft_sort(values, 2.0), targets, regularization_strength=0.1)

    plain = x.clone().requires_grad_()
    want = loss(plain, y)
    (want_grad,) = torch.autograd.grad(want, [plain], cotangent)
    xs = distribute_tensor(x, mesh, [Shard(0)]).requires_grad_()
    # aot_eager: Dynamo and AOTAutograd as with inductor (the custom ops are opaque to both),
    # without inductor's code generation for DTensor programs (15 s cold here).
    compiled = torch.compile(loss, fullgraph=True, backend="aot_eager")
    got = compiled(xs, distribute_tensor(y, mesh, [Shard(0)]))
    assert got.placements == (Shard(0),), got.placements
    (got_grad,) = torch.autograd.grad(got, [xs], distribute_tensor(cotangent, mesh, [Shard(0)]))
    assert got_grad.placements == (Shard(0),), got_grad.placements
    assert torch.equal(got.full_tensor(), want), "outputs differ"
    assert torch.equal(got_grad.full_tensor(), want_grad), "gradients differ"
    return {}


SCENARIOS: dict[str, Callable[[int], dict[str, Any]]] = {
    "dtensor": _dtensor,
    "dtensor_compiled": _dtensor_compiled,
    "ddp_spearman_loss": lambda rank: _ddp(rank, "spearman_loss"),
    "ddp_ndcg_loss": lambda rank: _ddp(rank, "ndcg_loss"),
    "fsdp2_spearman_loss": lambda rank: _fsdp2(rank, "spearman_loss"),
    "fsdp2_ndcg_loss": lambda rank: _fsdp2(rank, "ndcg_loss"),
    "global_spearman_nn_all_gather": lambda rank: _global_spearman(rank, _gather_nn),
    "global_spearman_all_gather_single": lambda rank: _global_spearman(rank, _gather_funcol),
    "ddp_compiled_spearman_loss": lambda rank: _ddp(rank, "spearman_loss", compiled="ddp"),
    "ddp_fullgraph_ndcg_loss": lambda rank: _ddp(rank, "ndcg_loss", compiled="fullgraph"),
}


def _worker(rank: int, port: int, out_dir: str) -> None:
    """One process: runs every scenario, writes ``rank<k>.json`` ({scenario: outcome})."""
    os.environ["RANK_RELAX_NUM_THREADS"] = "1"  # before rank_relax starts its threads
    torch.set_num_threads(1)
    torch.distributed.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=WORLD,
        timeout=timedelta(seconds=60),
    )
    results: dict[str, Any] = {}
    try:
        for name, scenario in SCENARIOS.items():
            start = time.perf_counter()
            try:
                outcome = {"ok": True, **scenario(rank)}
            except Exception:  # reported to the test, which fails
                outcome = {"ok": False, "error": traceback.format_exc()}
            outcome["seconds"] = round(time.perf_counter() - start, 2)
            results[name] = outcome
            # Keep the processes in step: a failure on one rank must not leave the other in a
            # collective of the next scenario.
            torch.distributed.barrier()
    finally:
        Path(out_dir, f"rank{rank}.json").write_text(json.dumps(results), encoding="utf-8")
        torch.distributed.destroy_process_group()
    # torch 2.15, gloo: a process that used DTensor sometimes aborts at exit ("terminate called
    # without an active exception", with no rank-relax in it too); the results are written.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(scope="module")
def outcomes() -> Iterator[list[dict[str, Any]]]:
    """Runs the two workers once; yields each rank's outcomes."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out_dir:
        context = mp.start_processes(
            _worker,
            args=(_free_port(), out_dir),
            nprocs=WORLD,
            join=False,
            start_method="spawn",
        )
        deadline = time.monotonic() + TIMEOUT
        try:
            while not context.join(timeout=1.0):
                if time.monotonic() > deadline:
                    pytest.fail(f"the distributed workers ran past {TIMEOUT} s")
        finally:
            for process in context.processes:
                if process.is_alive():
                    process.kill()
                    process.join()
        yield [
            json.loads(Path(out_dir, f"rank{rank}.json").read_text(encoding="utf-8"))
            for rank in range(WORLD)
        ]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_distributed(outcomes: list[dict[str, Any]], scenario: str) -> None:
    for rank, results in enumerate(outcomes):
        outcome = results[scenario]
        assert outcome["ok"], f"rank {rank}, {scenario}:\n{outcome['error']}"


def test_sharding_rules_cover_every_op() -> None:
    """Every custom op (forward, backward, JVP and HVP of each op in the kernel table) has a DTensor
    rule, and every output of every op has the batch as dim 0 (what the rules assume)."""
    pytest.importorskip("torch.distributed.tensor")
    from torch.distributed.tensor import DTensor

    import rank_relax.torch  # noqa: F401
    from _spec import OPS
    from rank_relax.torch import _sharding

    _sharding.register()
    overloads = _sharding.op_overloads()
    names = {o.name() for o in overloads}
    passes = ("forward", "backward", "jvp", "hvp")
    assert names == {f"rank_relax::{op}_{p}" for op in OPS for p in passes}
    strategies = DTensor._op_dispatcher.sharding_propagator.op_strategy_funcs
    assert all(o in strategies for o in overloads)
    # Meta arguments for each op: a batch of 5 rows of 3 items, every tensor of its own shape (an
    # output's and its cotangent's dims from the op table, [5, 3] otherwise; ε 0-d, the
    # permutation int32); params of other types by their schema type.
    from inputs import output_shape

    enums = {name: values[0] for spec in OPS.values() for name, values in spec["enums"].items()}
    scalars = {torch.FloatType: 0.5, torch.IntType: 1, torch.BoolType: False}
    for overload in overloads:
        op = overload.name().split("::")[1].rsplit("_", 1)[0]
        shapes = {
            name: output_shape(op, out, (5,), 3)
            for out in OPS[op]["outputs"]
            for name in (out, f"cotangent_{out}", f"tangent_{out}")
        }
        args: list[Any] = []
        schema = overload._schema.arguments
        for a in schema:
            kind = type(a.type)
            if a.name in ("regularization_strength", "tangent_regularization_strength"):
                args.append(torch.empty((), device="meta", dtype=torch.float64))
            elif kind is torch.OptionalType:  # a mask
                args.append(torch.empty((5, 3), device="meta", dtype=torch.bool))
            elif kind is torch.TensorType:
                dtype = torch.int32 if a.name == "permutation" else torch.float64
                args.append(torch.empty(shapes.get(a.name, (5, 3)), device="meta", dtype=dtype))
            elif kind is torch.StringType:
                args.append(enums[a.name])
            elif kind is torch.ListType:
                args.append(OPS[op]["lists"][a.name])
            else:
                args.append(scalars[kind])
        # With a mask and without (None).
        absent = [None if type(a.type) is torch.OptionalType else x for a, x in zip(schema, args)]
        for call in (args, absent):
            out = overload(*call)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            assert all(o.dim() >= 1 and o.shape[0] == 5 for o in outs), overload.name()


def test_sharding_rules_registered_on_import() -> None:
    """``import rank_relax.torch`` does not import DTensor (it is slow to import), and the rules
    are registered as soon as something else imports it."""
    import subprocess

    code = (
        "import sys\n"
        "import rank_relax.torch\n"
        "from rank_relax.torch import _sharding\n"
        "assert 'torch.distributed.tensor' not in sys.modules\n"
        "assert not _sharding.registered()\n"
        "import torch.distributed.tensor\n"
        "assert _sharding.registered()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
