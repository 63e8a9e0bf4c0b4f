"""Hand-written plumbing of ``rank_relax.jax``.

The public functions (generated, in ``_generated.py``) check their inputs with :func:`inputs` and
:func:`real_param`, then call a ``jax.custom_jvp`` function whose forward, JVP and backward run
native kernels through :func:`call` (the latter two in the primitives of ``_derivatives.py``).
Under a transform (``jit``, ``grad``, ``vmap``) a kernel is one of

- an XLA FFI custom call (``jax.ffi.ffi_call``) of the handlers in the extension module
  (``crates/rank-relax-python/src/xla_generated.rs``): XLA passes its buffers to the kernel, which
  writes its results in place, with no copy, no Python and no GIL on the way;
- ``jax.pure_callback``: XLA copies the operands to NumPy arrays, calls Python, which calls the
  NumPy kernel, and copies the results back. The fallback where the handlers cannot be registered
  (another XLA FFI API major version, a GPU default backend).

Both use ``vmap_method="broadcast_all"``: the kernels take any leading batch dims, so a ``vmap``
is one kernel call over the whole batch, never a per-row loop. The FFI calls have sharding rules
(``_sharding.py``): under a sharded ``jit`` each device runs the kernels on its own rows. On
concrete arrays (no transform) the kernel runs directly, and its errors are ``ValueError``s as in
NumPy.

Which one traced calls use: ``RANK_RELAX_JAX_KERNEL_CALL`` (``auto``, the default: FFI on a CPU
default backend when the handlers register; ``ffi``: FFI or an error; ``callback``), or
:func:`set_kernel_call` at run time (it applies to functions traced after it).
"""

from __future__ import annotations

import math
import operator
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _messages as msg
from .. import _native
from .._generated import KERNELS
from .._plumbing import describe, dtype_name, int32_values, items_axis, type_name
from . import _sharding

__all__ = [
    "call",
    "concrete",
    "inputs",
    "int_param",
    "kernel_call",
    "like",
    "param_grad",
    "real_list",
    "real_param",
    "result",
    "rows_like",
    "set_kernel_call",
    "shaped",
    "zeros_like",
]

_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

Kernel = Callable[..., tuple[np.ndarray, ...]]


def _is_traced(value: object) -> bool:
    return isinstance(value, jax.core.Tracer)


def inputs(
    op: str,
    *named: tuple[str, Any],
    axis: object = -1,
    matrix: bool = False,
    bools: Sequence[tuple[str, Any]] = (),
    ints: tuple[str, ...] = (),
) -> tuple[Any, int, tuple[jax.Array, ...], tuple[jax.Array | None, ...]]:
    """Checks the inputs of one call; returns the results' dtype, the items axis counted from the
    end (``matrix``: see ``items_axis``), the inputs as arrays of the kernel's dtype with the
    items last (float16 and bfloat16 are computed in float32; those named in ``ints`` int32, see
    ``_int_array``), and the bool inputs (``bools``: a mask, None when absent) as bool arrays of
    the first input's shape, their items moved with it."""
    arrays = []
    for name, value in named:
        if name in ints:
            arrays.append(_int_array(op, name, value))
            continue
        array = jnp.asarray(value)
        if not jnp.issubdtype(array.dtype, jnp.floating):
            raise TypeError(msg.not_real_array(op, name, msg.got_array(dtype_name(array.dtype))))
        if array.ndim == 0:
            raise ValueError(msg.no_items_axis(op, name))
        arrays.append(array)
    first = named[0][0]
    present = [(name, _bool_array(op, name, value)) for name, value in bools if value is not None]
    for name, array in [*zip((n for n, _ in named[1:]), arrays[1:]), *present]:
        if array.shape != arrays[0].shape:
            raise ValueError(
                msg.shapes_differ(
                    op, first, str(list(arrays[0].shape)), name, str(list(array.shape))
                )
            )
    back = items_axis(op, "axis", axis, arrays[0].ndim, matrix)
    masks = [a for _, a in present]
    if back != -1:  # before the sharding rules, which see the items last as the kernels do
        arrays = [jnp.moveaxis(a, back, -1) for a in arrays]
        masks = [jnp.moveaxis(a, back, -1) for a in masks]
    reals = [a for (name, _), a in zip(named, arrays) if name not in ints]
    dtype = jnp.result_type(*reals)
    kernel = dtype if np.dtype(dtype) in _KERNEL_DTYPES else jnp.float32
    names = [name for name, _ in named] + [name for name, _ in present]
    cast = [a if name in ints else a.astype(kernel) for (name, _), a in zip(named, arrays)]
    prepared = _sharding.prepare_inputs(op, names, cast + masks)
    by_name = dict(zip(names, prepared))
    return (
        dtype,
        back,
        prepared[: len(named)],
        tuple(by_name.get(name) for name, _ in bools),
    )


def _int_array(op: str, name: str, value: Any) -> jax.Array:
    """An int32 input (``groups``) as an int32 array: integer dtypes of at most 16 bits convert
    exactly; a wider one (int64 under ``jax_enable_x64``, NumPy's default) when its values are at
    hand and every one fits (a ``ValueError`` otherwise), never by wrapping: a traced wider array is
    a ``TypeError`` asking for int32. Floats, bools and the rest are a ``TypeError``."""
    if isinstance(value, jax.Array):
        dtype = np.dtype(value.dtype)
        if dtype.kind not in "iu":
            raise TypeError(msg.not_int_array(op, name, msg.got_array(dtype_name(dtype))))
        if dtype == np.int32 or dtype.itemsize < 4:
            return value.astype(jnp.int32)
        if isinstance(value, jax.core.Tracer):
            raise TypeError(msg.int_traced(op, name, msg.got_array(dtype_name(dtype))))
        return jnp.asarray(int32_values(op, name, np.asarray(value)))
    # NumPy arrays and lists: checked on the host, before JAX would narrow them.
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(msg.not_int_array(op, name, msg.got_array(dtype_name(array.dtype))))
    return jnp.asarray(int32_values(op, name, array))


def _bool_array(op: str, name: str, value: Any) -> jax.Array:
    """A bool input (a mask) as an array, with the NumPy API's message for another dtype (a 0/1
    float or int array is refused, not cast: it is likely a weight, not a mask)."""
    dtype = getattr(value, "dtype", None)
    array = jnp.asarray(value)
    dtype = np.dtype(array.dtype if dtype is None else dtype)
    if dtype != np.bool_:
        raise TypeError(msg.not_bool_array(op, name, msg.got_array(dtype_name(dtype))))
    return array


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


def _is_bool(value: object) -> bool:
    """A Python or NumPy bool, or a 0-d bool array: refused where a number is wanted."""
    return isinstance(value, (bool, np.bool_)) or getattr(value, "dtype", None) == np.bool_


def int_param(op: str, name: str, value: Any) -> int:
    """An int param (``k``) as a Python int, with the NumPy API's messages; the core checks its
    range. It is static: a traced value is refused, as are a bool and a float (even ``2.0``)."""
    if _is_traced(value):
        raise TypeError(f"{op}: {name} must be a static int, got a traced value")
    if _is_bool(value) or not hasattr(value, "__index__"):
        raise TypeError(msg.not_int(op, name, describe(value)))
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(msg.not_int(op, name, describe(value))) from None
    if not -(2**63) <= number < 2**63:
        raise ValueError(f"{op}: {name} = {number} does not fit in 64 bits")
    return number


def real_list(op: str, name: str, value: Any) -> tuple[float, ...]:
    """A list-of-reals param (``quantiles``) as a tuple of floats (static, hashable), from a
    sequence of real numbers or a 1-D array, with the NumPy API's messages. Its values (empty,
    NaN, out of range) are the core's to check."""
    if _is_traced(value):
        raise TypeError(
            f"{op}: {name} must be a static sequence of real numbers, got a traced value"
        )
    not_sequence = TypeError(msg.not_real_list(op, name, describe(value)))
    if isinstance(value, (str, bytes)):
        raise not_sequence
    if isinstance(value, (np.ndarray, jax.Array)) and value.ndim != 1:
        raise ValueError(
            f"{op}: {name} must be a 1-D sequence of real numbers, got an array of shape "
            f"{list(value.shape)}"
        )
    try:
        items = list(value)
    except TypeError:
        raise not_sequence from None
    out = []
    for i, item in enumerate(items):
        if _is_traced(item):
            raise TypeError(f"{op}: {name}[{i}] must be a static real number, got a traced value")
        if _is_bool(item) or isinstance(item, (str, bytes)) or not hasattr(item, "__float__"):
            raise TypeError(f"{op}: {name}[{i}] must be a real number, got {type_name(item)}")
        out.append(float(item))
    return tuple(out)


def concrete(value: Any, default: float) -> float:
    """A real param's value when it is known now (not traced), else ``default``: what the eager
    params check can see."""
    return default if _is_traced(value) else float(value)


def result(value: jax.Array, dtype: Any, axis: int = -1) -> jax.Array:
    """A result in the inputs' dtype (an int32 one, item positions, as it is); ``axis``: where a
    result with one row dim has it (counted from the end), the items axis of the inputs."""
    if jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(dtype)
    return value if axis == -1 else jnp.moveaxis(value, -1, axis)


def like(array: jax.Array, dtype: Any = None) -> jax.ShapeDtypeStruct:
    """The result shape of a ``[..., n]`` output."""
    return jax.ShapeDtypeStruct(array.shape, array.dtype if dtype is None else dtype)


def shaped(array: jax.Array, row: tuple[int, ...], dtype: Any = None) -> jax.ShapeDtypeStruct:
    """The result shape of an output whose rows have extents ``row`` (``(n, n)``, ``(m,)``),
    with the leading dims of the ``[..., n]`` array ``array``."""
    return jax.ShapeDtypeStruct((*array.shape[:-1], *row), array.dtype if dtype is None else dtype)


def rows_like(array: jax.Array) -> jax.ShapeDtypeStruct:
    """The result shape of a ``[...]`` output (one value per row)."""
    return jax.ShapeDtypeStruct(array.shape[:-1], array.dtype)


def zeros_like(array: jax.Array) -> jax.Array:
    """The cotangent of an input that receives no gradient."""
    return jnp.zeros_like(array)


def param_grad(per_row: jax.Array, param: jax.Array) -> jax.Array:
    """The cotangent of a real param: the sum of the kernel's per-row values. Inside
    ``shard_map``, a param that does not vary over a manual axis the rows vary over gets the sum
    over that axis too (the transpose of the implicit ``pvary``, as for any JAX op)."""
    total = jnp.sum(per_row)
    extra = jax.typeof(total).manual_axis_type.varying - jax.typeof(param).manual_axis_type.varying
    if extra:
        total = jax.lax.psum(total, tuple(sorted(extra)))
    return total.astype(param.dtype).reshape(param.shape)


def _is_operand(param: Any) -> bool:
    """A real param, passed as an array (an operand); the others are static values."""
    return isinstance(param, (jax.Array, np.ndarray, np.generic))


def _run_once(
    kernel: Kernel, arrays: Sequence[np.ndarray | None], params: Sequence[Any]
) -> list[np.ndarray]:
    """One kernel call; the first array is ``[..., n]`` and gives the leading dims, which every
    array and result shares (``[...]``, ``[..., n]``, ``[..., n, n]``, ``[..., m]``); an absent
    optional array is None."""
    first = arrays[0]
    assert first is not None
    lead = first.shape[:-1]
    batch = math.prod(lead)
    flat = [
        None if a is None else np.ascontiguousarray(a.reshape((batch, *a.shape[len(lead) :])))
        for a in arrays
    ]
    values = [float(p) if _is_operand(p) else p for p in params]
    return [r.reshape((*lead, *r.shape[1:])) for r in kernel(*flat, *values)]


def _run(
    kernel: Kernel, arrays: Sequence[np.ndarray | None], params: Sequence[Any]
) -> list[np.ndarray]:
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
            [None if a is None else a[index] for a in arrays],
            [np.broadcast_to(p, outer)[index] if isinstance(p, np.ndarray) else p for p in params],
        )
        if not out:
            out = [np.empty((*outer, *r.shape), r.dtype) for r in part]
        for o, r in zip(out, part):
            o[index] = r
    return out


# ------------------------------------------------------------------------------------------------
# XLA FFI targets

_MODES = ("auto", "ffi", "callback")
_ENV = "RANK_RELAX_JAX_KERNEL_CALL"
#: The handlers' target names by kernel name (``soft_rank_forward_f64``), once registered.
_targets: dict[str, str] | None = None
#: Why the handlers could not be registered, if they could not.
_ffi_error: str | None = None


def _mode_from_env() -> str:
    mode = os.environ.get(_ENV, "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise ValueError(f"{_ENV} must be one of {', '.join(_MODES)}, got {mode!r}")
    return mode


_mode = _mode_from_env()


def _api_version() -> tuple[int, int]:
    """The XLA FFI API version of the installed jaxlib (its ``xla/ffi/api/c_api.h``), which XLA
    wants a handler to report; else the version the handlers were written against."""
    try:
        header = Path(jax.ffi.include_dir()) / "xla" / "ffi" / "api" / "c_api.h"
        text = header.read_text()
        major = re.search(r"#define XLA_FFI_API_MAJOR (\d+)", text)
        minor = re.search(r"#define XLA_FFI_API_MINOR (\d+)", text)
        if major and minor:
            return int(major.group(1)), int(minor.group(1))
    except (AttributeError, OSError):
        pass
    major_h, minor_h = _native.XLA_HEADER_API_VERSION
    return int(major_h), int(minor_h)


def _register() -> dict[str, str] | None:
    """Registers every handler as an XLA FFI target on the CPU (once); ``None`` when they cannot
    be, with the reason in ``_ffi_error``."""
    global _targets, _ffi_error
    if _targets is not None or _ffi_error is not None:
        return _targets
    try:
        major, minor = _api_version()
        if major != _native.XLA_HEADER_API_VERSION[0]:
            raise RuntimeError(
                f"jaxlib's XLA FFI API is version {major}.{minor}; the handlers were written for "
                f"{_native.XLA_HEADER_API_VERSION[0]}.x"
            )
        targets = {}
        for name, capsule in _native.xla_handlers(major, minor).items():
            target = f"rank_relax_{name}"
            jax.ffi.register_ffi_target(target, capsule, platform="cpu")
            targets[name] = target
    except Exception as e:  # an older or newer jax without this API, a refused version, …
        _ffi_error = f"{type(e).__name__}: {e}"
        return None
    _targets = targets
    return _targets


def set_kernel_call(mode: str) -> str:
    """How traced calls run the kernels: ``"ffi"`` (XLA FFI custom calls: no copies, no Python),
    ``"callback"`` (``jax.pure_callback``) or ``"auto"`` (FFI when the handlers register and the
    default backend is the CPU, else the callback; the default, or ``RANK_RELAX_JAX_KERNEL_CALL``).

    A change clears JAX's caches (``jax.clear_caches()``: JAX caches the traces of the ops'
    ``custom_jvp`` functions), so what is traced afterwards uses the new mode; a function compiled
    before keeps its kernels until it is traced again. ``"ffi"`` raises ``RuntimeError`` when the
    handlers cannot be registered. Returns the previous mode.
    """
    global _mode
    if mode not in _MODES:
        raise ValueError(f"set_kernel_call: mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if mode == "ffi" and _register() is None:
        raise RuntimeError(f"rank_relax.jax: the XLA FFI handlers cannot be used: {_ffi_error}")
    previous, _mode = _mode, mode
    if mode != previous:
        jax.clear_caches()
    return previous


def kernel_call() -> str:
    """What traced calls use now: ``"ffi"`` or ``"callback"``."""
    if _mode == "callback":
        return "callback"
    if _register() is None:
        if _mode == "ffi":
            raise RuntimeError(
                f"rank_relax.jax: {_ENV}=ffi, but the XLA FFI handlers cannot be used: {_ffi_error}"
            )
        return "callback"
    if _mode == "auto" and jax.default_backend() != "cpu":
        return "callback"
    return "ffi"


# ------------------------------------------------------------------------------------------------
# Calls


def call(
    kernel: str,
    arrays: Sequence[jax.Array | None],
    params: Mapping[str, Any],
    results: Sequence[jax.ShapeDtypeStruct],
    optional: Sequence[int] = (),
) -> tuple[jax.Array, ...]:
    """Runs the kernel ``kernel`` (``"soft_rank_forward"``) for the arrays' dtype.

    ``arrays`` are the buffers the kernel reads, in its order; those at the positions
    ``optional`` (a mask) may be None: absent. ``params`` are the kernel's params by name, in its
    order: real params are arrays (operands: traced and differentiable); enum, bool, int and list
    params static (attributes of the FFI call: a string, a bool, an int64 scalar, an array of the
    call's dtype). Under a transform the kernel runs as an XLA FFI custom call or in
    ``jax.pure_callback`` (:func:`kernel_call`); on concrete arrays it runs directly (and its
    errors are raised as they are).

    The FFI call's operands are the required arrays, the real params, then the optional arrays
    that are present (the order of ``xla_generated.rs`` and the sharding table): a call without
    its optional arrays is the call of a kernel that has none, operand for operand and attribute
    for attribute, so it computes the same bits at the same cost; the handler reads an optional
    buffer when the call has that many operands.
    """
    first = arrays[0]
    assert first is not None
    dtype = np.dtype(first.dtype).name
    reals = [v for v in params.values() if _is_operand(v)]
    required = [a for i, a in enumerate(arrays) if i not in optional]
    present = [i for i in optional if arrays[i] is not None]
    operands = (*required, *reals, *(arrays[i] for i in present))
    if any(_is_traced(x) for x in operands) and kernel_call() == "ffi":
        targets = _register() or {}
        attrs = {k: _attribute(v, dtype) for k, v in params.items() if not _is_operand(v)}
        name = f"{kernel}_{_DTYPE_IDS[dtype]}"
        return _sharding.ffi_kernel(kernel, targets[name], attrs, results)(*operands)

    order = list(params.values())
    dynamic = [i for i, p in enumerate(order) if _is_operand(p)]
    # Where each operand goes back to among the kernel's arrays (the rest are None).
    slots = [i for i in range(len(arrays)) if i not in optional] + present
    count = len(required)

    def host(*values: Any) -> tuple[np.ndarray, ...]:
        # Looked up here, not when traced: tracing (abstract evaluation) needs no kernel.
        native = KERNELS[kernel][dtype]
        full = list(order)
        for i, v in zip(dynamic, values[count : count + len(dynamic)]):
            full[i] = np.asarray(v)
        buffers: list[np.ndarray | None] = [None] * len(arrays)
        for slot, v in zip(slots, (*values[:count], *values[count + len(dynamic) :])):
            buffers[slot] = np.asarray(v)
        out = _run(native, buffers, full)
        return tuple(np.asarray(o, dtype=r.dtype) for o, r in zip(out, results))

    if not any(_is_traced(x) for x in operands):
        return tuple(jnp.asarray(r) for r in host(*operands))
    return tuple(jax.pure_callback(host, tuple(results), *operands, vmap_method="broadcast_all"))


def _attribute(value: Any, dtype: str) -> Any:
    """A static param as an XLA FFI attribute: an int as an int64 scalar, a list of reals as a
    dense array of the call's dtype; strings and bools as they are."""
    if isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        return np.int64(value)
    if isinstance(value, tuple):
        return np.asarray(value, dtype=dtype)
    raise TypeError(f"rank_relax.jax: no XLA FFI attribute for a param of type {type(value)}")


_DTYPE_IDS = {"float32": "f32", "float64": "f64"}
