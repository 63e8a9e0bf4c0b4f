"""Hand-written plumbing of ``rank_relax.torch``.

The public functions (generated, in ``_generated.py``) check their inputs and view them as
``[batch, n]`` tensors with :func:`rows` (plain tensor code, which ``torch.compile`` traces); the
custom ops run a native kernel on those tensors with :func:`run` (opaque to the compiler: it is
the op's implementation). Tensors on another device are computed on the CPU and moved back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "fake_matrix",
    "fake_rows",
    "grad",
    "matrix",
    "param_grad",
    "real_param",
    "rows",
    "rows_result",
    "run",
]

_KERNEL_DTYPES = (torch.float32, torch.float64)


def rows(
    op: str, *inputs: tuple[str, Any]
) -> tuple[tuple[int, ...], torch.dtype, tuple[Tensor, ...]]:
    """Checks the inputs of one call and views each as ``[batch, n]`` in the kernel's dtype.

    Returns the leading dims, the dtype of the results (the inputs' promoted dtype) and the views.
    float16 and bfloat16 are computed in float32.
    """
    for name, value in inputs:
        if not isinstance(value, Tensor):
            raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(value).__name__}")
        if not value.is_floating_point():
            raise TypeError(
                f"{op}: {name} must be a floating-point tensor (float32 or float64), "
                f"got {value.dtype}"
            )
        if value.dim() == 0:
            raise ValueError(
                f"{op}: {name} must have at least 1 dimension (the items along the last axis), "
                f"got a 0-d tensor"
            )
    first_name, first = inputs[0]
    dtype = first.dtype
    for name, value in inputs[1:]:
        if value.shape != first.shape:
            raise ValueError(
                f"{op}: {first_name} has shape {list(first.shape)} but {name} has shape "
                f"{list(value.shape)}"
            )
        dtype = torch.promote_types(dtype, value.dtype)
    kernel = dtype if dtype in _KERNEL_DTYPES else torch.float32
    lead = tuple(first.shape[:-1])
    views = tuple(
        (v.flatten(0, -2) if v.dim() > 1 else v.unsqueeze(0)).to(kernel) for _, v in inputs
    )
    return lead, dtype, views


def real_param(op: str, name: str, value: Any) -> Tensor:
    """A real param (``regularization_strength``) as a 0-d tensor; a tensor keeps its autograd."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{op}: {name} must be a scalar, got a tensor of shape {list(value.shape)}"
            )
        if not value.is_floating_point():
            raise TypeError(f"{op}: {name} must be a floating-point scalar, got {value.dtype}")
        return value.reshape(())
    if isinstance(value, (str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{op}: {name} must be a real number, got {type(value).__name__}")
    return torch.tensor(float(value), dtype=torch.float64)


def matrix(result: Tensor, lead: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A ``[batch, n]`` result as ``[..., n]`` in the inputs' dtype."""
    return result.reshape((*lead, result.shape[-1])).to(dtype)


def rows_result(result: Tensor, lead: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """A ``[batch]`` result (one value per row) as ``[...]`` in the inputs' dtype."""
    return result.reshape(lead).to(dtype)


def run(
    table: Mapping[str, Callable[..., tuple[Any, ...]]],
    params: tuple[Tensor | str | bool, ...],
    *tensors: Tensor,
) -> tuple[Tensor, ...]:
    """Runs the native kernel of ``table`` for the tensors' dtype; results on their device.

    Tensors are read without a copy when they are contiguous CPU tensors; a 0-d tensor param is
    passed as a number.
    """
    device = tensors[0].device
    arrays = [t.detach().to("cpu").contiguous().numpy() for t in tensors]
    values = [p.item() if isinstance(p, Tensor) else p for p in params]
    results = table[arrays[0].dtype.name](*arrays, *values)
    out = tuple(torch.from_numpy(r) for r in results)
    if device.type != "cpu":
        out = tuple(r.to(device) for r in out)
    return out


def fake_matrix(like: Tensor, dtype: torch.dtype | None = None) -> Tensor:
    """The fake (meta) result of a ``[batch, n]`` output."""
    return like.new_empty(like.shape, dtype=like.dtype if dtype is None else dtype)


def fake_rows(like: Tensor) -> Tensor:
    """The fake (meta) result of a ``[batch]`` output."""
    return like.new_empty(like.shape[:1])


def param_grad(needed: bool, per_row: Tensor, param: Tensor) -> Tensor | None:
    """A real param's gradient, if asked for: the sum of the kernel's per-row values."""
    if not needed:
        return None
    return per_row.sum().to(device=param.device, dtype=param.dtype).reshape(param.shape)


def grad(needed: bool, value: Tensor) -> Tensor | None:
    """An input's gradient, if autograd asked for it."""
    return value if needed else None
