"""Sharding rules of the XLA FFI calls of ``rank_relax.jax``.

An XLA custom call has no sharding rule of its own, so under a sharded ``jit`` XLA gathers its
operands whole onto every device, which then computes the whole global batch. Every rank-relax
kernel ranks along its row dims and treats the leading (batch) dims as independent rows, so the
rule is the same for all of them: the leading dims of every operand and result may be sharded,
on the same mesh axes, and each device runs the kernel on its own rows; every other dim (the
ranked axis ``n``, both axes of an ``[batch, n, n]`` result, a ``[batch, k]`` result's ``k``) is
replicated, so a caller who shards it gets it all-gathered before the call (never a result
computed on part of a row). A real param (ε) is 0-d, replicated.

The rules are made from the generated table of the calls' shapes (``_sharding_table.CALLS``: per
kernel, each operand's and result's dims after the batch dims), with no per-op code:

- ``jax.experimental.custom_partitioning`` around each ``jax.ffi.ffi_call``, with a Shardy
  ``sharding_rule`` (one factor per leading dim, shared by every buffer; the row dims
  need-replication factors) for propagation, ``infer_sharding_from_operands`` for the GSPMD
  partitioner, and a ``partition`` callback that runs the same FFI call on each device's shard;
- ``jax.custom_batching.custom_vmap`` around that, since ``custom_partitioning`` has no batching
  rule: under ``vmap`` the call is made again with the mapped dim in front (unmapped operands
  broadcast), as ``ffi_call``'s ``vmap_method="broadcast_all"`` does, so the kernels see the same
  buffers as before and give the same bits;
- explicit sharding (mesh axes of ``AxisType.Explicit``, where each array's type carries its
  sharding): the operands are resharded to the rule (``jax.sharding.reshard``, an all-gather of a
  sharded row dim) and the results typed with it.

With one device, inside ``shard_map`` (every mesh axis manual) and under ``pmap``, the call is
lowered as it is: each device already holds its own rows. Inside a ``shard_map`` that is manual
over some mesh axes only, the partitioner proposes shardings with no mesh to name their axes by
(``GSPMDSharding``): the call then runs replicated over the other axes (gathered: right, not
split).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax.experimental.custom_partitioning import (
    ArrayMapping,
    SdyShardingRule,
    custom_partitioning,
)
from jax.sharding import NamedSharding, PartitionSpec

from ._sharding_table import CALLS, Buffer, Call

__all__ = ["batch_spec", "ffi_kernel", "prepare_inputs", "sharding_rule"]

#: Per result: the dims after its leading dims and its dtype (what does not change under
#: sharding or ``vmap``).
_ResultRows = tuple[tuple[tuple[int, ...], Any], ...]
_Attrs = tuple[tuple[str, "_Attr"], ...]


class _ArrayAttr(NamedTuple):
    """A dense array attribute (a list param) in a hashable form: its dtype and values."""

    dtype: str
    values: tuple[float, ...]


#: An attribute of an FFI call: an enum's name, a bool, an int param, a list param.
_Attr = Union[str, bool, int, _ArrayAttr]


def _hashable(value: str | bool | int | np.ndarray) -> _Attr:
    if isinstance(value, np.ndarray):
        return _ArrayAttr(value.dtype.str, tuple(value.tolist()))
    return value


def _attribute(value: _Attr) -> str | bool | int | np.ndarray:
    if isinstance(value, _ArrayAttr):
        return np.asarray(value.values, dtype=np.dtype(value.dtype))
    return value


def ffi_kernel(
    kernel: str,
    target: str,
    attrs: Mapping[str, str | bool | int | np.ndarray],
    results: Sequence[jax.ShapeDtypeStruct],
) -> Callable[..., tuple[jax.Array, ...]]:
    """The XLA FFI call of ``kernel`` (``"soft_rank_forward"``) to ``target``, as a function of
    its operands, with the sharding rules and the ``vmap`` rule of this module. ``results`` are
    the results' shapes for the operands it will be called with. A call may leave out the
    optional operands at the end of the table's list (a mask): the rules are those of the
    operands it has."""
    call = CALLS[kernel]
    if len(results) != len(call.results):
        raise RuntimeError(
            f"rank_relax.jax: {kernel} has {len(results)} results but its sharding table lists "
            f"{len(call.results)} (_sharding_table.py is out of date: regenerate it)"
        )
    rows = tuple(
        (tuple(r.shape[len(r.shape) - len(b.row) :]), r.dtype)
        for r, b in zip(results, call.results)
    )
    hashable = tuple(sorted((k, _hashable(v)) for k, v in attrs.items()))

    def run(*operands: jax.Array) -> tuple[jax.Array, ...]:
        return _ffi_kernel(kernel, target, hashable, rows, len(operands))(*operands)

    return run


def _call_with(kernel: str, count: int) -> Call:
    """The table's call of ``kernel`` with its first ``count`` operands: all of them, or all but
    optional ones at the end."""
    call = CALLS[kernel]
    required = sum(not b.optional for b in call.operands)
    if not required <= count <= len(call.operands):
        optional = len(call.operands) - required
        raise RuntimeError(
            f"rank_relax.jax: {kernel} has {count} operands but its sharding table lists "
            f"{required}{f' (and {optional} optional)' if optional else ''} "
            f"(_sharding_table.py is out of date: regenerate it)"
        )
    return call._replace(operands=call.operands[:count])


@functools.cache
def _ffi_kernel(
    kernel: str, target: str, attrs: _Attrs, rows: _ResultRows, count: int
) -> Callable[..., tuple[jax.Array, ...]]:
    """One function per (kernel, attributes, result rows, operand count), so that a call traced
    twice reuses it."""
    call = _call_with(kernel, count)

    def ffi(*operands: jax.Array) -> tuple[jax.Array, ...]:
        lead = _lead_shape(call.operands, operands)
        shapes = [(*lead, *row) for row, _ in rows]
        operands, manual = _varying(operands)
        layout = _explicit_spec(call.operands, operands)
        shardings: list[NamedSharding | None] = [None] * len(shapes)
        if layout is not None or manual is not None:
            # The results' types carry what the operands' do: explicit mesh axes, manual axes.
            mesh = jax.typeof(operands[0]).sharding.mesh if layout is None else layout.mesh
            specs = _specs(
                call.results, [len(s) for s in shapes], () if layout is None else layout.spec
            )
            shardings = [NamedSharding(mesh, s) for s in specs]
        results = [
            jax.ShapeDtypeStruct(shape, dtype, sharding=sharding, manual_axis_type=manual)
            for shape, (_, dtype), sharding in zip(shapes, rows, shardings)
        ]
        out = jax.ffi.ffi_call(target, tuple(results), vmap_method="broadcast_all")
        return tuple(out(*operands, **{k: _attribute(v) for k, v in attrs}))

    def partition(
        mesh: Any, arg_shapes: Sequence[Any], result_shape: Sequence[Any]
    ) -> tuple[Any, Callable[..., tuple[jax.Array, ...]], Any, Any]:
        spec = batch_spec(call, mesh, arg_shapes)
        args = _shardings(mesh, call.operands, arg_shapes, spec)
        outs = _shardings(mesh, call.results, result_shape, spec)
        return mesh, ffi, tuple(outs), tuple(args)

    def infer(mesh: Any, arg_shapes: Sequence[Any], result_shape: Sequence[Any]) -> Any:
        spec = batch_spec(call, mesh, arg_shapes)
        return tuple(_shardings(mesh, call.results, result_shape, spec))

    partitioned = custom_partitioning(ffi)
    partitioned.def_partition(
        partition=partition,
        infer_sharding_from_operands=infer,
        sharding_rule=functools.partial(sharding_rule, call),
    )

    @jax.custom_batching.custom_vmap
    def batched(*operands: jax.Array) -> tuple[jax.Array, ...]:
        layout = _explicit_spec(call.operands, operands)
        if layout is not None:
            operands = tuple(_reshard(call.operands, operands, layout))
        return tuple(partitioned(*operands))

    @batched.def_vmap
    def _vmap(
        axis_size: int, in_batched: Sequence[bool], *operands: jax.Array
    ) -> tuple[tuple[jax.Array, ...], tuple[bool, ...]]:
        full = [
            x if b else jnp.broadcast_to(x, (axis_size, *jnp.shape(x)))
            for x, b in zip(operands, in_batched)
        ]
        return batched(*full), (True,) * len(call.results)

    return batched


def _varying(
    operands: Sequence[jax.Array],
) -> tuple[tuple[jax.Array, ...], jax.sharding.ManualAxisType | None]:
    """Inside ``shard_map``: the operands all varying over the same manual axes (an FFI call
    wants them to match; ε is usually not varying), and the results' manual axis type, which
    ``ffi_call`` does not derive (a ``custom_vjp`` backward checks it); else no change, None."""
    have = [jax.typeof(x).manual_axis_type.varying for x in operands]
    varying = frozenset().union(*have)
    if not varying:
        return tuple(operands), None
    out = tuple(
        x if h == varying else jax.lax.pcast(x, tuple(sorted(varying - h)), to="varying")
        for x, h in zip(operands, have)
    )
    return out, jax.sharding.ManualAxisType(varying=varying)


def prepare_inputs(
    op: str, names: Sequence[str], arrays: Sequence[jax.Array]
) -> tuple[jax.Array, ...]:
    """An op's inputs (by spec name) as its calls take them, before its ``custom_vjp`` (whose
    backward must give each input a gradient of the input's type): under explicit sharding,
    resharded to the rule; inside ``shard_map``, all varying over the same manual axes
    (``pcast``, whose transpose sums the gradient of an input that did not vary, as for any JAX
    op)."""
    by_name = {b.name: b for b in CALLS[f"{op}_forward"].operands}  # a mask among them
    buffers = [by_name[n] for n in names]
    arrays, _ = _varying(arrays)
    layout = _explicit_spec(buffers, arrays)
    return tuple(arrays) if layout is None else tuple(_reshard(buffers, arrays, layout))


def _lead_count(buffer: Buffer, ndim: int) -> int:
    return ndim - len(buffer.row)


def _lead_shape(buffers: Sequence[Buffer], operands: Sequence[Any]) -> tuple[int, ...]:
    """The leading (batch) dims of a call: those of the operand with the most (a real param has
    none, or the ``vmap`` dims in front of the others)."""
    shapes = [tuple(jnp.shape(x)) for x in operands]
    counts = [_lead_count(b, len(s)) for b, s in zip(buffers, shapes)]
    best = max(range(len(shapes)), key=lambda i: counts[i])
    return shapes[best][: counts[best]]


def _row_factors(row: Sequence[str]) -> list[str]:
    """Shardy factor names of a buffer's row dims: the dim symbol, numbered when it repeats in
    the buffer (``n``, ``n_2`` for ``[batch, n, n]``), so every buffer's ``n`` is one factor."""
    seen: dict[str, int] = {}
    names = []
    for symbol in row:
        seen[symbol] = seen.get(symbol, 0) + 1
        names.append(symbol if seen[symbol] == 1 else f"{symbol}_{seen[symbol]}")
    return names


def sharding_rule(
    call: Call, mesh: Any, operand_types: Sequence[Any], result_types: Sequence[Any]
) -> SdyShardingRule:
    """The Shardy rule of a call: leading dim ``i`` of every buffer is factor ``batch<i>``
    (passthrough: may be sharded, the same way everywhere); the row dims are factors that need
    replication."""
    from jax.extend.mlir import ir  # only when a sharded program is compiled (15 ms to import)

    del mesh
    # In order of first use: Shardy numbers factors that way and wants special ones in order.
    row_factors: dict[str, None] = {}

    def mapping(buffer: Buffer, type_: Any) -> ArrayMapping:
        rank = ir.ShapedType(type_).rank
        row = _row_factors(buffer.row)
        row_factors.update(dict.fromkeys(row))
        lead = [f"batch{i}" for i in range(_lead_count(buffer, rank))]
        return ArrayMapping(*lead, *row)

    operands = tuple(mapping(b, t) for b, t in zip(call.operands, operand_types))
    results = tuple(mapping(b, t) for b, t in zip(call.results, result_types))
    return SdyShardingRule(operands, results, need_replication_factors=tuple(row_factors))


def _axis_size(mesh: Any, axes: Any) -> int:
    names = axes if isinstance(axes, tuple) else (axes,)
    return math.prod(mesh.shape[a] for a in names)


def batch_spec(call: Call, mesh: Any, arg_shapes: Sequence[Any]) -> tuple[Any, ...]:
    """The mesh axes of each leading dim of a call, from its operand with the most leading dims
    (as the partitioner proposes them; a dim its axes do not divide is replicated, so that no
    shard is padded)."""
    counts = [_lead_count(b, len(s.shape)) for b, s in zip(call.operands, arg_shapes)]
    best = max(range(len(arg_shapes)), key=lambda i: counts[i])
    shape, sharding = arg_shapes[best].shape, arg_shapes[best].sharding
    spec = _padded(sharding.spec if isinstance(sharding, NamedSharding) else (), len(shape))
    return tuple(
        axes if axes is not None and shape[i] % _axis_size(mesh, axes) == 0 else None
        for i, axes in enumerate(spec[: counts[best]])
    )


def _specs(
    buffers: Sequence[Buffer], ndims: Sequence[int], spec: tuple[Any, ...]
) -> list[PartitionSpec]:
    """Each buffer's partition spec: its leading dims as ``spec``, its row dims replicated."""
    out = []
    for buffer, ndim in zip(buffers, ndims):
        lead = _lead_count(buffer, ndim)
        out.append(PartitionSpec(*spec[:lead], *(None,) * (ndim - lead)))
    return out


def _shardings(
    mesh: Any, buffers: Sequence[Buffer], shapes: Sequence[Any], spec: tuple[Any, ...]
) -> list[NamedSharding]:
    specs = _specs(buffers, [len(s.shape) for s in shapes], spec)
    return [NamedSharding(mesh, s) for s in specs]


class _Explicit(NamedTuple):
    """A call's layout under explicit sharding: the mesh and the axes of each leading dim."""

    mesh: Any
    spec: tuple[Any, ...]


def _explicit_spec(buffers: Sequence[Buffer], operands: Sequence[Any]) -> _Explicit | None:
    """Under explicit sharding (operand types that carry mesh axes of ``AxisType.Explicit``),
    the mesh and the axes of each leading dim, from the operand with the most leading dims among
    those typed with the mesh (a broadcast constant has none); else None."""
    types = [jax.typeof(x) for x in operands]
    typed = [
        i
        for i, t in enumerate(types)
        if not t.sharding.mesh.empty
        and any(a == jax.sharding.AxisType.Explicit for a in t.sharding.mesh.axis_types)
    ]
    if not typed:
        return None
    counts = [_lead_count(b, len(t.shape)) for b, t in zip(buffers, types)]
    best = max(typed, key=lambda i: counts[i])
    spec = _padded(types[best].sharding.spec, len(types[best].shape))
    return _Explicit(types[best].sharding.mesh, spec[: counts[best]])


def _padded(spec: Any, ndim: int) -> tuple[Any, ...]:
    """A partition spec with one entry per dim."""
    return (*spec, *(None,) * (ndim - len(spec)))


def _reshard(
    buffers: Sequence[Buffer], operands: Sequence[jax.Array], layout: _Explicit
) -> list[jax.Array]:
    """The operands with the call's shardings (explicit sharding): a sharded row dim is
    all-gathered, leading dims follow the layout."""
    wanted = _specs(buffers, [jnp.ndim(x) for x in operands], layout.spec)
    out = []
    for x, s in zip(operands, wanted):
        have = jax.typeof(x).sharding
        if have.mesh.empty or _padded(have.spec, jnp.ndim(x)) != tuple(s):
            x = jax.sharding.reshard(x, NamedSharding(layout.mesh, s))
        out.append(x)
    return out
