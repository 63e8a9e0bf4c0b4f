"""Hand-written plumbing of ``rank_relax.torch``.

The public functions (generated, in ``_generated.py``) check their inputs and view them as
``[batch, n]`` tensors with :func:`rows` (plain tensor code, which ``torch.compile`` traces); the
custom ops run a native kernel on those tensors with :func:`run` (opaque to the compiler: it is
the op's implementation). Tensors on another device are computed on the CPU and moved back.

Derivatives are exact or refused: reverse mode runs each op's backward kernel and forward mode its
JVP kernel (on the tensors :func:`save` keeps for both, with :func:`tangent` and
:func:`param_tangent` standing in for a missing tangent). Second order (:func:`backward`,
:class:`SecondOrder`) is exact where an op is piecewise linear with a constant ε, through the JVP
kernel; anywhere else differentiating a gradient or a tangent raises :func:`second_order_error`,
saying why, never a zero or a tensor detached from the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .._plumbing import int_param, items_axis, list_param
from . import _sharding

__all__ = [
    "SecondOrder",
    "as_tensor",
    "backward",
    "compiling",
    "eager",
    "fake",
    "first_order",
    "forward_mode_error",
    "int_param",
    "list_param",
    "op_params",
    "param_grad",
    "param_tangent",
    "real_param",
    "result",
    "rows",
    "run",
    "save",
    "saved",
    "second_order_error",
    "tangent",
    "vmap_rule",
]

_KERNEL_DTYPES = (torch.float32, torch.float64)
# The kernel tables' dtype names by torch dtype.
_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def rows(
    op: str, *inputs: tuple[str, Any], axis: object = -1, matrix: bool = False
) -> tuple[tuple[int, ...], int, torch.dtype, tuple[Tensor, ...]]:
    """Checks the inputs of one call and views each as ``[batch, n]`` in the kernel's dtype, the
    items taken along ``axis`` (the ``dim`` argument; ``matrix``: see ``items_axis``).

    Returns the leading dims (the other axes), the items axis counted from the end, the dtype of
    the results (the inputs' promoted dtype) and the views. float16 and bfloat16 are computed in
    float32.
    """
    if len(inputs) == 1 and type(axis) is int and axis in (-1, 1):
        value = inputs[0][1]  # the common case, checked with the fewest calls
        if isinstance(value, Tensor) and value.dtype in _KERNEL_DTYPES and value.dim() == 2:
            return (value.shape[0],), -1, value.dtype, (value,)
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
    back = items_axis(op, "dim", axis, first.dim(), matrix)
    kernel = dtype if dtype in _KERNEL_DTYPES else torch.float32
    # movedim is a view autograd differentiates; the flatten copies only when it must.
    moved = [v if back == -1 else v.movedim(back, -1) for _, v in inputs]
    lead = tuple(moved[0].shape[:-1])
    views = tuple(_as_rows(v).to(kernel) for v in moved)
    return lead, back, dtype, views


def _as_rows(value: Tensor) -> Tensor:
    """A ``[..., n]`` tensor as ``[batch, n]`` (2-D tensors as they are: no autograd view)."""
    if value.dim() == 2:
        return value
    return value.flatten(0, -2) if value.dim() > 2 else value.unsqueeze(0)


def real_param(op: str, name: str, value: Any) -> Tensor | float:
    """A real param (``regularization_strength``): a number as a float, a tensor (which keeps its
    autograd) as a 0-d tensor. The kernels check the range."""
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
    return float(value)


def as_tensor(value: Tensor | float) -> Tensor:
    """A real param as the custom ops take it: a 0-d tensor (marked a constant if it was a number,
    for the second-order rules: see ``SecondOrder``)."""
    if isinstance(value, Tensor):
        return value
    tensor = torch.tensor(value, dtype=torch.float64)
    tensor._rr_constant = float(value)  # type: ignore[attr-defined]
    return tensor


def op_params(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """Params as the custom ops take them: a real param that the eager path kept as a float, as a
    0-d tensor (ints, strings and lists as they are)."""
    return tuple(as_tensor(p) if type(p) is float else p for p in params)


def eager(*tensors: Tensor) -> bool:
    """Whether a call can take the eager path (the ``torch.autograd.Function``) rather than the
    custom ops: not while compiling or exporting, and only for plain tensors with no dispatch mode
    or functorch transform active, since those need the op's fake and batching machinery. Any doubt
    (an internal API that moved) picks the custom ops, which are always correct."""
    if _FORCE_CUSTOM_OPS or _is_compiling():
        return False
    for t in tensors:
        if type(t) is not Tensor and type(t) is not _Parameter:
            if not _sharding._REGISTERED:  # a DTensor needs the ops' sharding rules
                _sharding.register_if_loaded()
            return False
    if _dispatch_stack_len is None or _functorch_active is None:  # pragma: no cover
        return False
    return _dispatch_stack_len() == 0 and not _functorch_active()


def compiling() -> bool:
    """Whether torch.compile or torch.export is tracing: the custom ops are then called directly,
    under their own autograd registration, which the compiler traces without a graph break."""
    return _is_compiling()


# Looked up once: this check runs on every eager call. (Dynamo recognises the function itself.)
_is_compiling = torch.compiler.is_compiling
_Parameter = torch.nn.Parameter
# Internals that may move between torch versions; without them every call takes the custom ops.
_dispatch_stack_len = getattr(torch._C, "_len_torch_dispatch_stack", None)
_functorch_active = getattr(torch._C, "_are_functorch_transforms_active", None)

#: Tests set this to run every call through the custom ops.
_FORCE_CUSTOM_OPS = False

_SAVED = object()


def save(ctx: Any, tensors: tuple[Tensor, ...], params: tuple[Any, ...]) -> None:
    """Saves the tensors the backward and the JVP read (the same: saves and residuals), and the
    params (tensor params with the tensors). Autograd drops the forward-mode copy once the forward
    has run, so it costs nothing outside forward mode."""
    for p in params:
        if isinstance(p, Tensor):
            break
    else:  # the common case: no tensor param
        ctx.save_for_backward(*tensors)
        ctx.save_for_forward(*tensors)
        ctx.rr_params = params
        return
    everything = (*tensors, *(p for p in params if isinstance(p, Tensor)))
    ctx.save_for_backward(*everything)
    ctx.save_for_forward(*everything)
    ctx.rr_params = tuple(_SAVED if isinstance(p, Tensor) else p for p in params)
    ctx.rr_count = len(tensors)


def saved(ctx: Any) -> tuple[tuple[Tensor, ...], tuple[Any, ...]]:
    """What :func:`save` saved: the tensors and the params."""
    values, params = ctx.saved_tensors, ctx.rr_params
    if _SAVED not in params:
        return values, params
    rest = iter(values[ctx.rr_count :])
    return values[: ctx.rr_count], tuple(next(rest) if p is _SAVED else p for p in params)


def result(value: Tensor, lead: tuple[int, ...], dtype: torch.dtype, axis: int = -1) -> Tensor:
    """A ``[batch, ...]`` result with the caller's leading dims, then its own (``[..., n]``,
    ``[..., n, n]``, ``[..., m]``; none for one value per row), in the inputs' dtype. A result
    with one row dim has it at ``axis`` (counted from the end), where the items were."""
    own = value.dim() - 1
    if len(lead) != 1:
        value = value.reshape((*lead, *value.shape[1:]))
    if own == 1 and axis != -1:
        value = value.movedim(-1, axis)
    return value if value.dtype == dtype else value.to(dtype)


def run(
    table: Mapping[str, Callable[..., tuple[Any, ...]]],
    params: tuple[Tensor | float | str | bool | list[float], ...],
    *tensors: Tensor,
) -> tuple[Tensor, ...]:
    """Runs the native kernel of ``table`` for the tensors' dtype; results on their device.

    Contiguous CPU tensors are read without a copy; a 0-d tensor param is passed as a number.
    """
    first = tensors[0]
    arrays = [
        (t.detach() if t.requires_grad else t).numpy()
        if t.is_cpu and t.is_contiguous()
        else t.detach().cpu().contiguous().numpy()
        for t in tensors
    ]
    values = [p.item() if isinstance(p, Tensor) else p for p in params]
    results = table[_DTYPE_NAMES[first.dtype]](*arrays, *values)
    if first.is_cpu:
        return tuple(map(torch.from_numpy, results))
    return tuple(torch.from_numpy(r).to(first.device) for r in results)


def fake(like: Tensor, shape: tuple[Any, ...], dtype: torch.dtype | None = None) -> Tensor:
    """The fake (meta) result of an output of ``shape`` (its extents, from ``like``: the call's
    first ``[batch, n]`` tensor, and the params), in ``like``'s dtype unless given."""
    return like.new_empty(shape, dtype=like.dtype if dtype is None else dtype)


def param_grad(needed: bool, per_row: Tensor, param: Tensor) -> Tensor | None:
    """A real param's gradient, if asked for: the sum of the kernel's per-row values."""
    if not needed:
        return None
    total = per_row.sum()
    if type(total) is not type(param) and hasattr(total, "full_tensor"):
        # Rows that are DTensor shards and a plain ε: the gradient summed over every process,
        # as a plain tensor like ε (not a DTensor partial sum).
        total = total.full_tensor()
    return total.to(device=param.device, dtype=param.dtype).reshape(param.shape)


def vmap_rule(op: Callable[..., Any], n_tensors: int) -> Callable[..., Any]:
    """A ``torch.func.vmap`` rule for a custom op whose first ``n_tensors`` arguments are
    ``[batch, n]`` (or ``[batch]``) tensors: the mapped dim joins the batch, so a vmap is one
    kernel call. A mapped real param (one ε per sample) runs the op once per sample."""

    def rule(info: Any, in_dims: tuple[int | None, ...], *args: Any) -> tuple[Any, Any]:
        size = info.batch_size
        tensors, params = args[:n_tensors], args[n_tensors:]
        # A param that is a list (quantiles) has a list of Nones as its in_dim: only ints map.
        if any(isinstance(d, int) for d in in_dims[n_tensors:]):
            samples = [
                op(*(a.select(d, i) if isinstance(d, int) else a for a, d in zip(args, in_dims)))
                for i in range(size)
            ]
            first = samples[0]
            if isinstance(first, Tensor):
                return torch.stack(samples), 0
            return tuple(torch.stack(o) for o in zip(*samples)), (0,) * len(first)
        moved = [
            t.movedim(d, 0) if d is not None else t.expand(size, *t.shape)
            for t, d in zip(tensors, in_dims)
        ]
        batch = moved[0].shape[1]
        flat = [t.reshape(size * batch, *t.shape[2:]) for t in moved]
        out = op(*flat, *params)
        if isinstance(out, Tensor):
            return out.reshape(size, batch, *out.shape[1:]), 0
        return tuple(o.reshape(size, batch, *o.shape[1:]) for o in out), (0,) * len(out)

    return rule


def forward_mode_error(op: str) -> NotImplementedError:
    """What a forward-mode derivative of ``op`` raises where the op has no JVP kernel."""
    return NotImplementedError(
        f"{op}: forward-mode derivatives (torch.func.jvp, torch.func.jacfwd, torch.func.hessian, "
        "torch.autograd.forward_ad) are not implemented for this op; use reverse mode (backward, "
        "torch.autograd.grad, torch.func.grad, torch.func.vjp, torch.func.jacrev)"
    )


def second_order_error(op: str, why: str) -> NotImplementedError:
    """What differentiating a gradient (or a tangent) of ``op`` raises where no kernel computes it:
    ``why`` says for what (``for regularization="kl" ...``)."""
    return NotImplementedError(
        f"{op}: second-order derivatives (differentiating its gradient: create_graph=True, "
        f"gradgradcheck, torch.func.hessian, a gradient of torch.func.grad) are not implemented "
        f"{why}; its first-order gradient is exact"
    )


#: Why a forward-mode tangent cannot be differentiated (the JVP kernel has no derivative kernel).
OF_JVP = (
    "for a forward-mode derivative (torch.func.jvp, jacfwd) of this op; differentiate its "
    "gradient instead (torch.func.hessian, jacfwd(jacrev(f)))"
)
#: Why a second derivative of a piecewise-linear op cannot be differentiated once more.
THIRD_ORDER = "beyond second order (a derivative of its second derivative)"


class _FirstOrder(torch.autograd.Function):
    """A backward or JVP kernel as a function that refuses to be differentiated.

    Autograd records it only while a gradient is itself being differentiated (``create_graph=True``
    or a torch.func transform): then its results depend on every tensor argument, and a reverse- or
    forward-mode derivative of them raises :func:`second_order_error` (with ``why``) instead of
    coming back zero.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(op: str, why: str, call: _Call, *tensors: Tensor) -> Any:  # type: ignore[override]
        return call(tensors)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.rr_op, ctx.rr_why = inputs[0], inputs[1]

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        raise second_order_error(ctx.rr_op, ctx.rr_why)

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        raise second_order_error(ctx.rr_op, ctx.rr_why)


def tangent(value: Tensor | None, like: Tensor) -> Tensor:
    """An input's tangent as the JVP kernel reads it: zeros (of the ``[batch, n]`` ``like``) where
    the input has none, since autograd passes None for an input it does not differentiate."""
    return torch.zeros_like(like) if value is None else value


def param_tangent(value: Tensor | None, like: Tensor) -> Tensor:
    """A real param's tangent (the ε tangent) as a 0-d tensor: 0 where ε is a number or a tensor
    without a tangent."""
    return like.new_zeros(()) if value is None else value.reshape(())


class _Call:
    """A kernel and its arguments other than tensors, which the tensors fill in: one opaque value,
    so a generated vmap rule sees only the tensors (not a param list's items)."""

    __slots__ = ("args", "kernel")

    def __init__(self, kernel: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.kernel = kernel
        self.args = tuple(_SAVED if isinstance(a, Tensor) else a for a in args)

    def __call__(self, tensors: tuple[Tensor, ...]) -> Any:
        rest = iter(tensors)
        return self.kernel(*(next(rest) if a is _SAVED else a for a in self.args))


def first_order(op: str, why: str, kernel: Callable[..., Any], *args: Any) -> Any:
    """Runs ``op``'s backward or JVP ``kernel`` on ``args`` (its tensors and params); while autograd
    records, through :class:`_FirstOrder`, so a derivative of the result raises (``why``)."""
    if not torch.is_grad_enabled():
        return kernel(*args)
    tensors = tuple(a for a in args if isinstance(a, Tensor))
    return _FirstOrder.apply(op, why, _Call(kernel, args), *tensors)


class SecondOrder:
    """How the backward of an op is differentiated (``create_graph=True``, ``torch.func.hessian``,
    ``jacfwd(jacrev(f))``, ``gradgradcheck``).

    Where the op is piecewise linear in its differentiable inputs (``linear``: the enum values under
    which it is, by param; None: never) and its real params (ε) are constants, its backward
    ``g = Jᵀc`` has the derivative ``J`` (the JVP kernel) in the cotangent ``c`` and zero in the
    inputs, almost everywhere: :class:`_PiecewiseLinearBackward` differentiates it so, exactly.
    Everywhere else the backward runs through :class:`_FirstOrder`, and a derivative of it raises
    an error that says why.

    The backward kernel reads ``state`` tensors (saves and residuals), then ``cotangents`` (one per
    differentiable output), then the op's ``params``; it writes ``grads`` gradients of inputs, then
    one value per row for each param in ``grad_params``. ``inputs`` counts the forward's tensor
    arguments (its ``needs_input_grad`` has the inputs, then the params).
    """

    __slots__ = (
        "backward",
        "cotangents",
        "grad_params",
        "grads",
        "inputs",
        "jvp",
        "linear",
        "op",
        "params",
        "state",
    )

    def __init__(
        self,
        op: str,
        *,
        backward: Callable[..., Any],
        jvp: Callable[..., Any] | None,
        inputs: int,
        params: tuple[str, ...],
        grad_params: tuple[str, ...],
        linear: dict[str, tuple[str, ...]] | None,
        state: int,
        cotangents: int,
        grads: int,
    ) -> None:
        self.op = op
        self.backward = backward
        self.jvp = jvp
        self.inputs = inputs
        self.params = params
        self.grad_params = grad_params
        self.linear = linear
        self.state = state
        self.cotangents = cotangents
        self.grads = grads

    def why_not(self, needs: tuple[bool, ...], params: tuple[Any, ...]) -> str | None:
        """Why the backward cannot be differentiated for these params, or None where it can."""
        if self.linear is None or self.jvp is None:
            return "for this op: it has no second-order kernel"
        for name, values in self.linear.items():
            value = params[self.params.index(name)]
            if value not in values:
                allowed = " or ".join(f'{name}="{v}"' for v in values)
                return (
                    f'for {name}="{value}": the op has no second-order kernel there (only with '
                    f"{allowed}, where it is piecewise linear, is its second derivative exact)"
                )
        for name in self.grad_params:
            k = self.params.index(name)
            if needs[self.inputs + k] or _varies(params[k]):
                return self.param_why(name)
        return None

    def param_why(self, name: str) -> str:
        return (
            f"with respect to {name} (a tensor that requires grad or has a tangent): the op has no "
            f"kernel for its derivatives in {name} beyond the first; pass {name} as a number or a "
            f"tensor that does not require grad"
        )


def backward(
    rule: SecondOrder, needs: tuple[bool, ...], kernel: Callable[..., Any], *args: Any
) -> Any:
    """Runs the backward ``kernel`` of ``rule.op`` on ``args`` (its tensors, then its params).

    While autograd records (a gradient that will be differentiated): differentiably where ``rule``
    allows it (:class:`SecondOrder`), else through :class:`_FirstOrder`, which raises on
    differentiation."""
    if not torch.is_grad_enabled():
        return kernel(*args)
    params = args[len(args) - len(rule.params) :]
    why = rule.why_not(needs, params)
    if why is not None:
        return first_order(rule.op, why, kernel, *args)
    # The params, constants here (ε too: see `_varies`), in an opaque value that a generated vmap
    # rule never splits (a list param's items are no tensors).
    call = _Linear(rule, tuple(_constant(p) for p in params))
    return _PiecewiseLinearBackward.apply(call, *args[: rule.state + rule.cotangents])


def _constant(param: Any) -> Any:
    """A real param as a number where it is one: :func:`as_tensor` keeps the number it made a
    tensor of (which a torch.func transform may have wrapped since)."""
    value = getattr(param, "_rr_constant", None)
    return param if value is None else value


def _varies(param: Any) -> bool:
    """Whether a real param may be differentiated: a tensor the caller passed that requires grad,
    has a forward-mode tangent or is wrapped by a torch.func transform. A number is a constant,
    also once :func:`as_tensor` made it a tensor."""
    if not isinstance(param, Tensor) or getattr(param, "_rr_constant", None) is not None:
        return False
    if param.requires_grad or _is_wrapped(param):
        return True
    return torch.autograd.forward_ad.unpack_dual(param).tangent is not None


# An internal that may move; without it every tensor param may vary (a tensor ε then raises).
_is_wrapped: Callable[[Tensor], bool] = getattr(
    torch._C._functorch, "is_functorch_wrapped_tensor", lambda tensor: True
)


class _Linear:
    """A :class:`SecondOrder` rule and one call's params (constants: a real one as a number)."""

    __slots__ = ("params", "rule")

    def __init__(self, rule: SecondOrder, params: tuple[Any, ...]) -> None:
        self.rule = rule
        self.params = params


class _PiecewiseLinearBackward(torch.autograd.Function):
    """The backward of a piecewise-linear op with constant params, differentiable: its derivative in
    the cotangent is the JVP kernel (reverse mode) or the backward kernel itself (forward mode: the
    backward is linear in the cotangent), and zero in the saved inputs, outputs and residuals."""

    generate_vmap_rule = True

    @staticmethod
    def forward(call: _Linear, *tensors: Tensor) -> Any:  # type: ignore[override]
        return call.rule.backward(*tensors, *op_params(call.params))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.rr_call = inputs[0]
        ctx.save_for_backward(*inputs[1:])
        ctx.save_for_forward(*inputs[1:])

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        call: _Linear = ctx.rr_call
        rule = call.rule
        state = ctx.saved_tensors[: rule.state]
        # The cotangents of the inputs' gradients are the inputs' tangents (those of the per-row
        # param gradients meet a constant); the JVP kernel gives the cotangents' gradients.
        zero = tuple(state[0].new_zeros(()) for _ in rule.grad_params)
        args = (*state, *grads[: rule.grads], *op_params(call.params), *zero)
        assert rule.jvp is not None  # `why_not` takes this path only for an op with a JVP kernel
        out = first_order(rule.op, THIRD_ORDER, rule.jvp, *args)
        out = (out,) if isinstance(out, Tensor) else tuple(out)
        return (None, *(None for _ in state), *out)

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        call: _Linear = ctx.rr_call
        rule = call.rule
        saved = ctx.saved_tensors
        state, cotangents = saved[: rule.state], saved[rule.state :]
        dc = tuple(tangent(t, c) for t, c in zip(tangents[1 + rule.state :], cotangents))
        return first_order(
            rule.op, THIRD_ORDER, rule.backward, *state, *dc, *op_params(call.params)
        )
