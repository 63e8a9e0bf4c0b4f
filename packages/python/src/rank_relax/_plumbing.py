"""Hand-written plumbing of the NumPy API: argument checks and the ``[batch, n]`` view of inputs.

The generated functions in ``_generated.py`` go through :class:`Call`: it checks the inputs of one
call (types, dimensions, matching shapes), views each as a C-contiguous ``[batch, n]`` array of
the kernel's dtype (no copy when the input already is one), and gives results back the caller's
leading dimensions and dtype. An optional input (``mask``) may be None; a bool one is checked by
:func:`bool_array` and keeps its dtype. Int and list params (``k``, ``quantiles``) go to the
native module as they are: it converts them with the op's messages.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _messages as msg

__all__ = [
    "Call",
    "bool_array",
    "compute_dtype",
    "describe",
    "dtype_name",
    "float_param",
    "int_param",
    "items_axis",
    "list_param",
    "type_name",
]

_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
# ``dtype.name`` is a slow Python property: the kernels' dtype names by dtype object.
_DTYPE_NAMES = {_F32: "float32", _F64: "float64"}


def dtype_name(dtype: object) -> str:
    """A NumPy, PyTorch or JAX dtype by the spec's name (``float64``, ``int32``, ``bool``), as
    every binding's messages name it."""
    name = getattr(dtype, "name", None)
    if isinstance(name, str):
        return name
    return str(dtype).removeprefix("torch.")


def describe(value: object) -> str:
    """What a message says a refused value is (``got``), in the words every binding shares: an
    array or tensor by its dtype, a number with its value, else its kind."""
    if isinstance(value, (bool, np.bool_)):
        return msg.got_bool()
    if isinstance(value, (int, np.integer)):
        return msg.got_integer(str(int(value)))
    if isinstance(value, (float, np.floating)):
        return msg.got_float(repr(float(value)))
    if isinstance(value, (str, bytes)):
        return msg.got_string()
    if value is None:
        return msg.got_nothing()
    dtype = getattr(value, "dtype", None)
    if dtype is not None and hasattr(value, "shape"):
        return msg.got_array(dtype_name(dtype))
    return msg.got_other(type_name(value))


def compute_dtype(op: str, name: str, dtype: np.dtype[Any]) -> np.dtype[Any]:
    """The dtype the kernels compute in for an input of ``dtype``.

    float32 and float64 as they are; narrower floats (float16, bfloat16) in float32; wider ones
    (longdouble) in float64. Anything else is a ``TypeError`` naming the op and the argument.
    """
    if dtype in (_F64, _F32):
        return dtype
    if dtype.kind == "f" or dtype.name == "bfloat16":
        return _F32 if dtype.itemsize <= 4 else _F64
    raise TypeError(msg.not_real_array(op, name, msg.got_array(dtype_name(dtype))))


def bool_array(
    op: str, name: str, value: ArrayLike, first: str, shape: tuple[int, ...]
) -> NDArray[np.bool_]:
    """A bool input (``mask``) as an array of exactly ``shape``, the shape of the op's first input
    ``first``: a ``TypeError`` for another dtype (no silent cast: 0/1 floats are a common slip for
    a mask, and NaN would be true), a ``ValueError`` for another shape, both naming the op and the
    argument."""
    array = np.asarray(value)
    if array.dtype != np.bool_:
        raise TypeError(msg.not_bool_array(op, name, describe(array)))
    if array.shape != shape:
        raise ValueError(
            msg.shapes_differ(op, first, str(list(shape)), name, str(list(array.shape)))
        )
    return array


_I32 = np.iinfo(np.int32)


def int32_values(op: str, name: str, array: NDArray[Any]) -> NDArray[np.int32]:
    """An integer array as int32: narrower integer dtypes convert exactly, wider ones (int64, the
    default of NumPy, PyTorch and Julia) when every value fits, else a ``ValueError`` naming the
    op, the argument and the first value that does not fit."""
    if array.dtype == np.int32:
        return array
    if array.dtype.itemsize >= 4 and array.size:
        outside = array > _I32.max
        if array.dtype.kind == "i":
            outside |= array < _I32.min
        if outside.any():
            bad = array.reshape(-1)[int(np.argmax(outside.reshape(-1)))]
            raise ValueError(msg.int_out_of_range(op, name, str(int(bad))))
    return array.astype(np.int32)


def int_array(
    op: str, name: str, value: ArrayLike, first: str, shape: tuple[int, ...]
) -> NDArray[np.int32]:
    """An int32 input (``groups``) as an int32 array of exactly ``shape``, the shape of the op's
    first input ``first``: any integer dtype whose values fit (``int32_values``); a ``TypeError``
    for a float, bool or other array (no silent cast: 0.5 is no group id), a ``ValueError`` for
    another shape."""
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise TypeError(msg.not_int_array(op, name, describe(array)))
    if array.shape != shape:
        raise ValueError(
            msg.shapes_differ(op, first, str(list(shape)), name, str(list(array.shape)))
        )
    return int32_values(op, name, array)


def float_param(op: str, name: str, value: object) -> float:
    """A real param (``regularization_strength``) as a Python float; the kernels check its range."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as e:  # a multi-element array
        raise TypeError(f"{op}: {name} must be a real number, got {value!r}") from e


def type_name(value: object) -> str:
    """A value's type as messages name it: ``float``, ``numpy.float64``."""
    t = type(value)
    return t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"


def _is_bool(value: object) -> bool:
    return isinstance(value, (bool, np.bool_))


def int_param(op: str, name: str, value: object) -> int:
    """An int param (``k``) as a Python int: an ``int`` or an integer by ``__index__`` (a NumPy
    integer); a bool, a float (even ``2.0``) or a str is a ``TypeError``. The same checks and
    messages as the native module's; the kernels check the range."""
    if _is_bool(value) or not hasattr(type(value), "__index__"):
        raise TypeError(msg.not_int(op, name, describe(value)))
    index = operator.index(value)  # type: ignore[arg-type]
    if not -(2**63) <= index < 2**63:
        raise ValueError(f"{op}: {name} = {index} does not fit in 64 bits")
    return index


def list_param(op: str, name: str, value: object) -> list[float]:
    """A list-of-reals param (``quantiles``) as a list of floats: a sequence of real numbers (a
    list, a tuple, a 1-D array). The same checks and messages as the native module's; the kernels
    check the length and the range."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(msg.not_real_list(op, name, describe(value)))
    shape = getattr(value, "shape", None)
    if shape is not None and len(shape) != 1:
        raise ValueError(
            f"{op}: {name} must be a 1-D sequence of real numbers, got an array of shape "
            f"{list(shape)}"
        )
    result = []
    for i, item in enumerate(value):  # type: ignore[attr-defined]
        if _is_bool(item) or isinstance(item, (str, bytes)) or not hasattr(item, "__float__"):
            raise TypeError(f"{op}: {name}[{i}] must be a real number, got {type_name(item)}")
        result.append(float(item))
    return result


def items_axis(op: str, name: str, axis: object, ndim: int, matrix: bool = False) -> int:
    """The items axis ``axis`` (``dim`` in torch) of an ``ndim``-dimensional input, counted from
    the end: -1 is the last axis. Negative values count from the end, as NumPy and torch do.

    ``matrix``: an output of the op has two item dims (``[..., n, n]``). They go where the items
    were only when that is the last axis: elsewhere either order of the two would be a guess, so
    any other axis is refused.
    """
    if _is_bool(axis) or not hasattr(type(axis), "__index__"):
        raise TypeError(msg.not_int(op, name, describe(axis)))
    index = operator.index(axis)  # type: ignore[arg-type]
    if not -ndim <= index < ndim:
        raise ValueError(
            f"{op}: {name} = {index} is out of range for an input with {ndim} dimension"
            f"{'' if ndim == 1 else 's'}"
        )
    back = index - ndim if index >= 0 else index
    if matrix and back != -1:
        raise ValueError(
            f"{op}: {name} = {index} is not the last axis, and the output's two item dims "
            f"([..., n, n]) have no unambiguous place elsewhere; move the items to the last axis "
            f"first"
        )
    return back


class Call:
    """One call of an op: its inputs checked and viewed as ``[batch, n]`` arrays."""

    __slots__ = ("arrays", "axis", "dtype", "kernel_dtype", "lead", "n", "op")

    def __init__(
        self,
        op: str,
        *inputs: tuple[str, ArrayLike | None],
        axis: object = -1,
        matrix: bool = False,
        optional: tuple[str, ...] = (),
        bools: tuple[str, ...] = (),
        ints: tuple[str, ...] = (),
    ) -> None:
        """``inputs``: every input of the op in order, the first a required real one; those named
        in ``optional`` may be None (absent), those in ``bools`` are bool arrays, those in
        ``ints`` integer arrays (converted to int32)."""
        self.op = op
        arrays = []  # the real inputs: (name, array, the dtype the kernel computes it in)
        others = []  # where the other inputs go: (position, name, a bool input or None)
        for k, (name, value) in enumerate(inputs):
            if name in bools or name in ints or (value is None and name in optional):
                others.append((k, name, value))
                continue
            array = np.asarray(value)
            if array.ndim == 0:
                raise ValueError(msg.no_items_axis(op, name))
            arrays.append((name, array, compute_dtype(op, name, array.dtype)))
        first, shape = arrays[0][0], arrays[0][1].shape
        #: The items axis, counted from the end (-1: the last axis, the zero-copy case).
        self.axis = items_axis(op, "axis", axis, len(shape), matrix)
        for name, array, _ in arrays[1:]:
            if array.shape != shape:
                raise ValueError(
                    msg.shapes_differ(op, first, str(list(shape)), name, str(list(array.shape)))
                )
        # A bool input keeps its dtype, an int one is int32; they have the real inputs' shape.
        flags = [
            (
                k,
                None
                if value is None
                else int_array(op, name, value, first, shape)
                if name in ints
                else bool_array(op, name, value, first, shape),
            )
            for k, name, value in others
        ]
        #: The dtype results are returned in: the real inputs' common dtype.
        self.dtype: np.dtype[Any] = np.result_type(*(a for _, a, _ in arrays))
        #: The dtype the kernel computes in.
        self.kernel_dtype: np.dtype[Any] = max((c for _, _, c in arrays), key=lambda c: c.itemsize)
        if self.axis != -1:  # a view with the items last; the copy below makes it contiguous
            arrays = [(name, np.moveaxis(a, self.axis, -1), c) for name, a, c in arrays]
            flags = [(k, None if f is None else np.moveaxis(f, self.axis, -1)) for k, f in flags]
            shape = arrays[0][1].shape
        self.lead: tuple[int, ...] = shape[:-1]
        self.n: int = shape[-1]
        batch = math.prod(self.lead)
        #: The inputs as C-contiguous ``[batch, n]`` arrays of the kernel's dtype (a bool input as
        #: bool, an int one as int32), None for an absent optional input.
        self.arrays: tuple[Any, ...] = tuple(
            np.ascontiguousarray(a.reshape(batch, self.n), dtype=self.kernel_dtype)
            for _, a, _ in arrays
        )
        if flags:
            merged = list(self.arrays)
            for k, f in flags:
                merged.insert(
                    k, None if f is None else np.ascontiguousarray(f.reshape(batch, self.n))
                )
            self.arrays = tuple(merged)

    def kernel(self, table: Mapping[str, Callable[..., Any]]) -> Callable[..., Any]:
        """The kernel of ``table`` (dtype name → native function) for this call's dtype."""
        return table[_DTYPE_NAMES[self.kernel_dtype]]

    def result(self, result: NDArray[Any]) -> NDArray[Any]:
        """A ``[batch, ...]`` result as ``[..., ...]`` (the caller's leading dims, then the result's
        own: ``[..., n]``, ``[..., n, n]``, ``[..., m]``, none for one value per row) in the inputs'
        dtype (an int32 one, item positions, as it is). A result with one row dim has it where the
        items axis was."""
        value = result.reshape((*self.lead, *result.shape[1:]))
        if value.dtype.kind == "f":
            value = value.astype(self.dtype, copy=False)
        return np.moveaxis(value, -1, self.axis) if result.ndim == 2 else value

    def cotangent(self, name: str, value: ArrayLike, output: NDArray[Any]) -> NDArray[Any]:
        """A cotangent of an output (``output`` as the kernel returned it, ``[batch, ...]``),
        checked against the output's shape, as the kernel reads it."""
        array = np.asarray(value)
        compute_dtype(self.op, name, array.dtype)
        shown = [*self.lead, *output.shape[1:]]
        if output.ndim == 2:  # the caller sees a one-row-dim output with it at the items axis
            shown.insert(len(shown) + self.axis, shown.pop())
        if array.shape != tuple(shown):
            output_name = name.removeprefix("cotangent_")
            raise ValueError(
                msg.shapes_differ(self.op, output_name, str(shown), name, str(list(array.shape)))
            )
        if output.ndim == 2:
            array = np.moveaxis(array, self.axis, -1)
        flat = array.reshape(output.shape)
        return np.ascontiguousarray(flat, dtype=self.kernel_dtype)
