"""Hand-written plumbing of ``rank_relax.jax``.

The public functions (generated, in ``_generated.py``) check their inputs with :func:`inputs` and
:func:`real_param`, then call a ``jax.custom_vjp`` function whose forward and backward run native
kernels through :func:`call`: ``jax.pure_callback`` (with ``vmap_method="broadcast_all"``) under a
transform, or the kernel directly on concrete arrays. The kernels take any leading batch dims, so
a ``vmap`` is one callback over the whole batch, never a per-row loop in Python.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "call",
    "concrete",
    "inputs",
    "like",
    "param_grad",
    "real_param",
    "result",
    "rows_like",
    "zeros_like",
]

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Kernel = Callable[..., tuple[np.ndarray, ...]]


def _is_traced(value: object) -> bool:
    return isinstance(value, jax.core.Tracer)


def inputs(op: str, *named: tuple[str, Any]) -> tuple[Any, tuple[jax.Array, ...]]:
    """Checks the inputs of one call; returns the results' dtype and the inputs as arrays of the
    kernel's dtype (float16 and bfloat16 are computed in float32)."""
    arrays = []
    for name, value in named:
        array = jnp.asarray(value)
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(
                f"{op}: {name} must be a floating-point array (float32 or float64), "
                f"got dtype {array.dtype}"
            )
        if array.ndim == 0:
            raise ValueError(
                f"{op}: {name} must have at least 1 dimension (the items along the last axis), "
                f"got a 0-d array"
            )
        arrays.append(array)
    first = named[0][0]
    for (name, _), array in zip(named[1:], arrays[1:]):
        if array.shape != arrays[0].shape:
            raise ValueError(
                f"{op}: {first} has shape {list(arrays[0].shape)} but {name} has shape "
                f"{list(array.shape)}"
            )
    dtype = jnp.result_type(*arrays)
    kernel = dtype if np.dtype(dtype) in _KERNEL_DTYPES else jnp.float32
    return dtype, tuple(a.astype(kernel) for a in arrays)


def real_param(op: str, name: str, value: Any, dtype: Any) -> jax.Array:
    """A real param (``regularization_strength``) as a 0-d array of the kernel's dtype; a traced
    value keeps its gradient."""
    if isinstance(value, (str, bytes)) or not (
        hasattr(value, "__float__") or isinstance(value, jax.Array) or _is_traced(value)
    ):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    array = jnp.asarray(value)
    if array.size != 1:
        raise ValueError(
            f"{op}: {name} must be a scalar, got an array of shape {list(array.shape)}"
        )
    return array.reshape(()).astype(dtype)


def concrete(value: Any, default: float) -> float:
    """A real param's value when it is known now (not traced), else ``default``: what the eager
    params check can see."""
    return default if _is_traced(value) else float(value)


def result(value: jax.Array, dtype: Any) -> jax.Array:
    """A result in the inputs' dtype."""
    return value.astype(dtype)


def like(array: jax.Array, dtype: Any = None) -> jax.ShapeDtypeStruct:
    """The result shape of a ``[..., n]`` output."""
    return jax.ShapeDtypeStruct(array.shape, array.dtype if dtype is None else dtype)


def rows_like(array: jax.Array) -> jax.ShapeDtypeStruct:
    """The result shape of a ``[...]`` output (one value per row)."""
    return jax.ShapeDtypeStruct(array.shape[:-1], array.dtype)


def zeros_like(array: jax.Array) -> jax.Array:
    """The cotangent of an input that receives no gradient."""
    return jnp.zeros_like(array)


def param_grad(per_row: jax.Array, param: jax.Array) -> jax.Array:
    """The cotangent of a real param: the sum of the kernel's per-row values."""
    return jnp.sum(per_row).astype(param.dtype).reshape(param.shape)


def _run_once(
    kernel: Kernel, arrays: Sequence[np.ndarray], params: Sequence[Any]
) -> list[np.ndarray]:
    """One kernel call over ``[..., n]`` (or ``[...]``) arrays; results keep the leading dims."""
    shape = arrays[0].shape
    lead, n = shape[:-1], shape[-1]
    batch = math.prod(lead)
    flat = [
        np.ascontiguousarray(a.reshape(batch, n) if a.ndim == len(shape) else a.reshape(batch))
        for a in arrays
    ]
    values = [p if isinstance(p, (str, bool)) else float(p) for p in params]
    return [
        r.reshape((*lead, n)) if r.ndim == 2 else r.reshape(lead) for r in kernel(*flat, *values)
    ]


def _run(kernel: Kernel, arrays: Sequence[np.ndarray], params: Sequence[Any]) -> list[np.ndarray]:
    """The kernel over arrays that may carry ``vmap`` dims in front. A real param is one value,
    unless it was mapped over too: then the kernel runs once per distinct value."""
    reals = [p for p in params if isinstance(p, np.ndarray)]
    if all(r.size == 1 or bool(np.all(r == r.flat[0])) for r in reals):
        return _run_once(
            kernel, arrays, [p.flat[0] if isinstance(p, np.ndarray) else p for p in params]
        )
    outer = np.broadcast_shapes(*(r.shape for r in reals))
    out: list[np.ndarray] = []
    for index in np.ndindex(*outer):
        part = _run_once(
            kernel,
            [a[index] for a in arrays],
            [np.broadcast_to(p, outer)[index] if isinstance(p, np.ndarray) else p for p in params],
        )
        if not out:
            out = [np.empty((*outer, *r.shape), r.dtype) for r in part]
        for o, r in zip(out, part):
            o[index] = r
    return out


def call(
    table: Mapping[str, Kernel],
    arrays: Sequence[jax.Array],
    params: Sequence[Any],
    results: Sequence[jax.ShapeDtypeStruct],
) -> tuple[jax.Array, ...]:
    """Runs the kernel of ``table`` for the arrays' dtype.

    ``params`` are in the kernel's order: real params are arrays (operands of the callback),
    enum and bool params are static. Under a transform the kernel runs in ``jax.pure_callback``;
    on concrete arrays it runs directly (and its errors are raised as they are).
    """
    kernel = table[np.dtype(arrays[0].dtype).name]
    dynamic = [i for i, p in enumerate(params) if not isinstance(p, (str, bool))]
    operands = (*arrays, *(params[i] for i in dynamic))
    count = len(arrays)

    def host(*values: Any) -> tuple[np.ndarray, ...]:
        full = list(params)
        for i, v in zip(dynamic, values[count:]):
            full[i] = np.asarray(v)
        out = _run(kernel, [np.asarray(v) for v in values[:count]], full)
        return tuple(np.asarray(o, dtype=r.dtype) for o, r in zip(out, results))

    if not any(_is_traced(x) for x in operands):
        return tuple(jnp.asarray(r) for r in host(*operands))
    return tuple(jax.pure_callback(host, tuple(results), *operands, vmap_method="broadcast_all"))
