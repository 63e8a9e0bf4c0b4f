"""Hand-written plumbing of ``rank_relax.torch``.

The public functions (generated, in ``_generated.py``) check their inputs and view them as
``[batch, n]`` tensors with :func:`rows` (plain tensor code, which ``torch.compile`` traces); the
custom ops run a native kernel on those tensors with :func:`run` (opaque to the compiler: it is
the op's implementation). Tensors on another device are computed on the CPU and moved back.

Derivatives are exact or refused: reverse mode runs each op's backward kernel and forward mode its
JVP kernel (on the tensors :func:`save` keeps for both, with :func:`tangent` and
:func:`param_tangent` standing in for a missing tangent). Second order (:func:`backward`,
:class:`SecondOrder`) differentiates the backward exactly through the JVP and HVP kernels, ε
included; a derivative of a forward-mode tangent or a third derivative raises
:func:`second_order_error`, saying why, never a zero or a tensor detached from the graph.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import Tensor

from .. import _messages as msg
from .._plumbing import describe, int32_values, int_param, items_axis, list_param
from . import _sharding

__all__ = [
    "Box",
    "SecondOrder",
    "as_tensor",
    "backward",
    "compiling",
    "eager",
    "fake",
    "first_order",
    "forward_mode_error",
    "int_param",
    "jvp",
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
    "unboxed",
    "unboxed_context",
    "vmap_rule",
]

_KERNEL_DTYPES = (torch.float32, torch.float64)
# The kernel tables' dtype names by torch dtype.
_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def rows(
    op: str,
    *inputs: tuple[str, Any],
    axis: object = -1,
    matrix: bool = False,
    optional: tuple[str, ...] = (),
    bools: tuple[str, ...] = (),
    ints: tuple[str, ...] = (),
) -> tuple[tuple[int, ...], int, torch.dtype, tuple[Tensor | None, ...]]:
    """Checks the inputs of one call and views each as ``[batch, n]`` in the kernel's dtype, the
    items taken along ``axis`` (the ``dim`` argument; ``matrix``: see ``items_axis``). An input
    named in ``optional`` may be None (absent: None in the views); one in ``bools`` is a bool
    tensor of the first input's shape, viewed as ``[batch, n]`` bool; one in ``ints`` an integer
    tensor of that shape, viewed as ``[batch, n]`` in its own dtype (the kernel's call converts it
    to int32: ``int32``).

    Returns the leading dims (the other axes), the items axis counted from the end, the dtype of
    the results (the real inputs' promoted dtype) and the views. float16 and bfloat16 are computed
    in float32.
    """
    if type(axis) is int and axis in (-1, 1):
        value = inputs[0][1]  # the common case, checked with the fewest calls
        if (
            (
                len(inputs) == 1
                or (len(inputs) == 2 and inputs[1][1] is None and inputs[1][0] in optional)
            )
            and isinstance(value, Tensor)
            and value.dtype in _KERNEL_DTYPES
            and value.dim() == 2
        ):
            return (value.shape[0],), -1, value.dtype, (value, *(None,) * (len(inputs) - 1))
    present = []
    for name, value in inputs:
        if value is None and name in optional:
            continue
        if not isinstance(value, Tensor):
            # torch's own kind of argument: a NumPy array here is a slip, not a dtype to name
            raise TypeError(f"{op}: {name} must be a torch.Tensor, got {type(value).__name__}")
        if name in bools:
            if value.dtype != torch.bool:
                raise TypeError(msg.not_bool_array(op, name, describe(value)))
            present.append((name, value))
            continue
        if name in ints:
            if value.dtype not in _INT_DTYPES:
                raise TypeError(msg.not_int_array(op, name, describe(value)))
            present.append((name, value))
            continue
        if not value.is_floating_point():
            raise TypeError(msg.not_real_array(op, name, describe(value)))
        if value.dim() == 0:
            raise ValueError(msg.no_items_axis(op, name))
        present.append((name, value))
    first_name, first = present[0]
    dtype = first.dtype
    for name, value in present[1:]:
        if value.shape != first.shape:
            raise ValueError(
                msg.shapes_differ(
                    op, first_name, str(list(first.shape)), name, str(list(value.shape))
                )
            )
        if name not in bools and name not in ints:
            dtype = torch.promote_types(dtype, value.dtype)
    back = items_axis(op, "dim", axis, first.dim(), matrix)
    kernel = dtype if dtype in _KERNEL_DTYPES else torch.float32
    # movedim is a view autograd differentiates; the flatten copies only when it must.
    if back != -1:
        inputs = tuple((n, None if v is None else v.movedim(back, -1)) for n, v in inputs)
    lead = tuple(inputs[0][1].shape[:-1])
    views = tuple(
        None if v is None else _as_rows(v) if n in bools or n in ints else _as_rows(v).to(kernel)
        for n, v in inputs
    )
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
    """A real param as the custom ops take it: a 0-d tensor."""
    if isinstance(value, Tensor):
        return value
    return torch.tensor(value, dtype=torch.float64)


def op_params(params: tuple[Any, ...]) -> tuple[Any, ...]:
    """Params as the custom ops take them: a real param that the eager path kept as a float, as a
    0-d tensor (ints, strings and lists as they are)."""
    return tuple(as_tensor(p) if type(p) is float else p for p in params)


def eager(*tensors: Tensor | None) -> bool:
    """Whether a call can take the eager path (the ``torch.autograd.Function``) rather than the
    custom ops: not while compiling or exporting, and only for plain tensors with no dispatch mode
    or functorch transform active, since those need the op's fake and batching machinery (None, an
    absent optional input, is no obstacle). Any doubt
    (an internal API that moved) picks the custom ops, which are always correct."""
    if _FORCE_CUSTOM_OPS or _is_compiling():
        return False
    for t in tensors:
        if type(t) is not Tensor and type(t) is not _Parameter and t is not None:
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


def save(ctx: Any, tensors: tuple[Tensor | None, ...], params: tuple[Any, ...]) -> None:
    """Saves the tensors the backward and the JVP read (the same: saves and residuals; None for an
    absent optional input, which :func:`saved` gives back as None), and the params (tensor params
    with the tensors). Autograd drops the forward-mode copy once the forward
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
    ``[..., n, n]``, ``[..., m]``; none for one value per row), in the inputs' dtype (an int32
    one, item positions, as it is). A result with one row dim has it at ``axis`` (counted from
    the end), where the items were."""
    own = value.dim() - 1
    if len(lead) != 1:
        value = value.reshape((*lead, *value.shape[1:]))
    if own == 1 and axis != -1:
        value = value.movedim(-1, axis)
    return value if value.dtype == dtype or not value.is_floating_point() else value.to(dtype)


def run(
    table: Mapping[str, Callable[..., tuple[Any, ...]]],
    params: tuple[Tensor | float | str | bool | list[float], ...],
    *tensors: Tensor | None,
) -> tuple[Tensor, ...]:
    """Runs the native kernel of ``table`` for the dtype of the first tensor (always a real one);
    results on its device.

    Contiguous CPU tensors are read without a copy; None (an absent optional input) is passed as
    None; a 0-d tensor param is passed as a number.
    """
    first = tensors[0]
    assert first is not None
    arrays = [
        None
        if t is None
        else (t.detach() if t.requires_grad else t).numpy()
        if t.is_cpu and t.is_contiguous()
        else t.detach().cpu().contiguous().numpy()
        for t in tensors
    ]
    values = [p.item() if isinstance(p, Tensor) else p for p in params]
    results = table[_DTYPE_NAMES[first.dtype]](*arrays, *values)
    if first.is_cpu:
        return tuple(map(torch.from_numpy, results))
    return tuple(torch.from_numpy(r).to(first.device) for r in results)


_INT_DTYPES = (
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint8,
    torch.uint16,
    torch.uint32,
    torch.uint64,
)


def int32(op: str, name: str, value: Tensor) -> Tensor:
    """An int32 input as the kernel reads it: int32 as it is, another integer dtype converted when
    every value fits in int32 (a ``ValueError`` naming the op, the argument and the value that does
    not). Called inside the kernels' implementations, on real tensors, so the check also runs under
    torch.compile and torch.func."""
    if value.dtype == torch.int32:
        return value
    return torch.from_numpy(int32_values(op, name, value.detach().cpu().numpy()))


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
    ``[batch, n]`` (or ``[batch]``) tensors, or None (an absent optional input): the mapped dim
    joins the batch, so a vmap is one kernel call; an unmapped tensor (a mask shared by every
    sample) is expanded. A mapped real param (one ε per sample) runs the op once per sample."""

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
            None if t is None else t.movedim(d, 0) if d is not None else t.expand(size, *t.shape)
            for t, d in zip(tensors, in_dims)
        ]
        batch = next(t for t in moved if t is not None).shape[1]
        flat = [None if t is None else t.reshape(size * batch, *t.shape[2:]) for t in moved]
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
#: Why a second derivative cannot be differentiated once more (no kernel computes a third).
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
    ``jacrev(jacrev(f))``, ``gradgradcheck``): exactly, by :class:`_Backward`, through the op's
    JVP kernel (in the cotangents) and its HVP kernel (in the inputs and the real params, ε).

    The backward kernel reads ``state`` tensors (saves and residuals; ``saved`` gives the position
    of each differentiable input's save among them, in the order of its gradients), then
    ``cotangents`` (one per differentiable output), then the op's ``params``; it writes a gradient
    per differentiable input, then one value per row for each param in ``grad_params``. An op
    without a JVP or HVP kernel (``None``) refuses to be differentiated twice, saying so.
    """

    __slots__ = (
        "backward",
        "cotangents",
        "grad_params",
        "hvp",
        "jvp",
        "op",
        "params",
        "saved",
        "slots",
        "state",
    )

    def __init__(
        self,
        op: str,
        *,
        backward: Callable[..., Any],
        jvp: Callable[..., Any] | None,
        hvp: Callable[..., Any] | None,
        params: tuple[str, ...],
        grad_params: tuple[str, ...],
        state: int,
        saved: tuple[int, ...],
        cotangents: int,
    ) -> None:
        self.op = op
        self.backward = backward
        self.jvp = jvp
        self.hvp = hvp
        self.params = params
        self.grad_params = grad_params
        self.state = state
        self.saved = saved
        self.cotangents = cotangents
        # Where each param with a gradient is in the op's params.
        self.slots = tuple(params.index(name) for name in grad_params)


#: Why the backward of an op without second-order kernels cannot be differentiated.
NO_KERNEL = "for this op: it has no second-order (JVP and HVP) kernels"


def backward(rule: SecondOrder, kernel: Callable[..., Any], *args: Any) -> Any:
    """Runs the backward ``kernel`` of ``rule.op`` on ``args`` (its tensors, then its params).

    While autograd records (a gradient that will be differentiated): through :class:`_Backward`,
    whose derivatives are exact, its real params (ε) as tensor arguments so they receive theirs."""
    if not torch.is_grad_enabled():
        return kernel(*args)
    if rule.jvp is None or rule.hvp is None:
        return first_order(rule.op, NO_KERNEL, kernel, *args)
    n = rule.state + rule.cotangents
    params = args[n:]
    reals = tuple(as_tensor(params[k]) for k in rule.slots)
    return _Backward.apply(_Params(rule, params), *args[:n], *reals)


class _Params:
    """A :class:`SecondOrder` rule and one call's params, with the real params that have gradients
    filled in from the tensors :class:`_Backward` receives: an opaque value, which a generated vmap
    rule never splits (a list param's items are no tensors)."""

    __slots__ = ("params", "rule")

    def __init__(self, rule: SecondOrder, params: tuple[Any, ...]) -> None:
        self.rule = rule
        self.params = params

    def with_reals(self, reals: tuple[Tensor, ...]) -> tuple[Any, ...]:
        """The params as the custom ops take them, ``reals`` in the slots of the grad params."""
        params = list(self.params)
        for k, value in zip(self.rule.slots, reals):
            params[k] = value
        return op_params(tuple(params))


def _as_tuple(value: Any) -> tuple[Tensor, ...]:
    return (value,) if isinstance(value, Tensor) else tuple(value)


def _by_row(per_row: Tensor, value: Tensor) -> Tensor:
    """``value`` (``[batch, ...]``) with each row scaled by ``per_row`` (``[batch]``)."""
    return per_row.reshape(*per_row.shape, *(1,) * (value.dim() - 1)) * value


class _Backward(torch.autograd.Function):
    """The backward kernel ``B(x, ε, g) = (grad_x, grad_ε per row)`` of an op, differentiable.

    Reverse mode, with cotangents ``w`` of ``grad_x`` and ``c`` of ``grad_ε``: on ``g`` the JVP
    kernel along ``(w, c)``; on ``x`` and ``ε`` the HVP kernel at ``g`` along ``(w, c)`` (the
    Hessian of ``<g, f(x, ε)>`` is symmetric). Forward mode, along ``(dx, dε, dg)``: the backward
    kernel on ``dg`` plus the HVP kernel along ``(dx, dε)``. Only the saved inputs receive a
    derivative: the saved outputs and residuals are functions of them, already accounted for.
    A derivative of these results (third order) raises :func:`second_order_error`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(call: _Params, *tensors: Tensor) -> Any:  # type: ignore[override]
        n = call.rule.state + call.rule.cotangents
        return call.rule.backward(*tensors[:n], *call.with_reals(tensors[n:]))

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.rr_call = inputs[0]
        ctx.save_for_backward(*inputs[1:])
        ctx.save_for_forward(*inputs[1:])

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        call: _Params = ctx.rr_call
        rule = call.rule
        s, c = rule.state, rule.cotangents
        saved = ctx.saved_tensors
        state, cotangents, reals = saved[:s], saved[s : s + c], saved[s + c :]
        params = call.with_reals(reals)
        inputs = len(rule.saved)
        jvp, hvp_kernel = rule.jvp, rule.hvp
        # `backward` comes here only for an op with both kernels.
        assert jvp is not None
        assert hvp_kernel is not None
        w = tuple(tangent(g, state[k]) for g, k in zip(grads[:inputs], rule.saved))
        per_row = grads[inputs:]
        zero = tuple(state[0].new_zeros(()) for _ in reals)

        def kernels(tangents: tuple[Tensor, ...], scalars: tuple[Tensor, ...]) -> Any:
            out = first_order(rule.op, THIRD_ORDER, jvp, *state, *tangents, *params, *scalars)
            hvp = first_order(
                rule.op, THIRD_ORDER, hvp_kernel, *state, *cotangents, *tangents, *params, *scalars
            )
            return _as_tuple(out), _as_tuple(hvp)

        # The kernels take one ε tangent per call, but the cotangent of the per-row ε gradient
        # may differ by row: both kernels are linear in it, so it is added row by row.
        out, hvp = kernels(w, zero)
        for j, row in enumerate(per_row):
            if row is None:
                continue
            unit = tuple(z + 1 if i == j else z for i, z in enumerate(zero))
            e_out, e_hvp = kernels(tuple(torch.zeros_like(t) for t in w), unit)
            out = tuple(a + _by_row(row, e) for a, e in zip(out, e_out))
            hvp = tuple(a + _by_row(row, e) for a, e in zip(hvp, e_hvp))
        result: list[Tensor | None] = [None] * (s + c + len(reals))
        for i, k in enumerate(rule.saved):
            result[k] = hvp[i]
        result[s : s + c] = out
        for i, real in enumerate(reals):
            result[s + c + i] = param_grad(True, hvp[inputs + i], real)
        return (None, *result)

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        call: _Params = ctx.rr_call
        rule = call.rule
        s, c = rule.state, rule.cotangents
        saved = ctx.saved_tensors
        state, cotangents, reals = saved[:s], saved[s : s + c], saved[s + c :]
        params = call.with_reals(reals)
        d_state, d_cotangents, d_reals = (
            tangents[1 : 1 + s],
            tangents[1 + s : 1 + s + c],
            tangents[1 + s + c :],
        )
        hvp_kernel = rule.hvp
        assert hvp_kernel is not None  # `backward` comes here only with the HVP kernel
        dx = tuple(tangent(d_state[k], state[k]) for k in rule.saved)
        ds = tuple(param_tangent(d, state[0]) for d in d_reals)
        dg = tuple(tangent(d, g) for d, g in zip(d_cotangents, cotangents))
        linear = first_order(rule.op, THIRD_ORDER, rule.backward, *state, *dg, *params)
        hvp = first_order(rule.op, THIRD_ORDER, hvp_kernel, *state, *cotangents, *dx, *params, *ds)
        if isinstance(linear, Tensor):
            return linear + hvp
        return tuple(a + b for a, b in zip(linear, hvp))


def jvp(rule: SecondOrder, kernel: Callable[..., Any], *args: Any) -> Any:
    """Runs the JVP ``kernel`` of ``rule.op`` on ``args`` (its saves, its input tangents, its
    params, then its ε tangents).

    While autograd records (a tangent that will be differentiated: ``jacfwd(jacfwd(f))``,
    ``jacrev(jacfwd(f))``, nested ``forward_ad`` levels): through :class:`_Jvp`, whose
    derivatives are exact, the real params (ε) as tensor arguments so they receive theirs."""
    if not torch.is_grad_enabled():
        return kernel(*args)
    if rule.jvp is None or rule.hvp is None:
        return first_order(rule.op, OF_JVP, kernel, *args)
    s, t = rule.state, len(rule.saved)
    scalars = args[len(args) - len(rule.grad_params) :]
    params = args[s + t : len(args) - len(scalars)]
    reals = tuple(as_tensor(params[k]) for k in rule.slots)
    return _Jvp.apply(_Params(rule, params), *args[: s + t], *reals, *scalars)


def _split_jvp(rule: SecondOrder, tensors: tuple[Any, ...]) -> tuple[tuple[Any, ...], ...]:
    """:class:`_Jvp`'s tensors (or their tangents) as (state, input tangents, reals, ε tangents)."""
    s, t, r = rule.state, len(rule.saved), len(rule.slots)
    return tensors[:s], tensors[s : s + t], tensors[s + t : s + t + r], tensors[s + t + r :]


class _Jvp(torch.autograd.Function):
    """The JVP kernel ``J(x, ε)·(t, s)`` of an op, differentiable.

    Reverse mode, with a cotangent ``w`` of the output tangents: on ``t`` and ``s`` the backward
    kernel at ``w`` (the JVP is linear in them; ``s``'s is the sum over rows); on ``x`` and ``ε``
    the HVP kernel at the cotangent ``w`` along ``(t, s)``. Forward mode, along ``(dx, dε, dt,
    ds)``: the JVP kernel along ``(dt, ds)`` plus ``D²f[(t, s), (dx, dε)]``, whose entry k of a
    row is ``<(t, s), H_k (dx, dε)>`` with ``H_k`` the HVP at the one-hot cotangent ``e_k``: one
    HVP per entry of an output's row, exact and dearer than reverse over forward. Only the saved
    inputs receive a derivative (the saved outputs and residuals are functions of them). A
    derivative of these results (third order) raises :func:`second_order_error`.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(call: _Params, *tensors: Tensor) -> Any:  # type: ignore[override]
        state, tangents, reals, scalars = _split_jvp(call.rule, tensors)
        assert call.rule.jvp is not None
        return call.rule.jvp(*state, *tangents, *call.with_reals(reals), *scalars)

    @staticmethod
    def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
        ctx.rr_call = inputs[0]
        ctx.rr_outputs = tuple((o.shape, o.dtype, o.device) for o in _as_tuple(output))
        ctx.save_for_backward(*inputs[1:])
        ctx.save_for_forward(*inputs[1:])

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        call: _Params = ctx.rr_call
        rule = call.rule
        s, t, r = rule.state, len(rule.saved), len(rule.slots)
        state, tangents, reals, scalars = _split_jvp(rule, ctx.saved_tensors)
        params = call.with_reals(reals)
        hvp_kernel = rule.hvp
        assert hvp_kernel is not None  # `jvp` comes here only with the HVP kernel
        w = tuple(
            torch.zeros(shape, dtype=dtype, device=device) if g is None else g
            for g, (shape, dtype, device) in zip(grads, ctx.rr_outputs)
        )
        vjp = _as_tuple(first_order(rule.op, THIRD_ORDER, rule.backward, *state, *w, *params))
        hvp = _as_tuple(
            first_order(rule.op, THIRD_ORDER, hvp_kernel, *state, *w, *tangents, *params, *scalars)
        )
        result: list[Tensor | None] = [None] * (s + t + r + len(scalars))
        for i, k in enumerate(rule.saved):
            result[k] = hvp[i]
            result[s + i] = vjp[i]
        for i, real in enumerate(reals):
            result[s + t + i] = param_grad(True, hvp[t + i], real)
        for i, scalar in enumerate(scalars):
            result[s + t + r + i] = param_grad(True, vjp[t + i], scalar)
        return (None, *result)

    @staticmethod
    def jvp(ctx: Any, *tangents: Any) -> Any:
        call: _Params = ctx.rr_call
        rule = call.rule
        state, inner, reals, scalars = _split_jvp(rule, ctx.saved_tensors)
        params = call.with_reals(reals)
        d_state, d_inner, d_reals, d_scalars = _split_jvp(rule, tangents[1:])
        assert rule.jvp is not None
        dt = tuple(tangent(x, i) for x, i in zip(d_inner, inner))
        ds = tuple(param_tangent(x, state[0]) for x in d_scalars)
        linear = _as_tuple(first_order(rule.op, THIRD_ORDER, rule.jvp, *state, *dt, *params, *ds))
        dx = [d_state[k] for k in rule.saved]
        if all(x is None for x in dx) and all(x is None for x in d_reals):
            return linear[0] if len(linear) == 1 else linear
        dx_full = tuple(tangent(x, state[k]) for x, k in zip(dx, rule.saved))
        de = tuple(param_tangent(x, state[0]) for x in d_reals)
        second = _second_jvp(rule, state, inner, scalars, params, dx_full, de, linear)
        out = tuple(a + b for a, b in zip(linear, second))
        return out[0] if len(out) == 1 else out


def _second_jvp(
    rule: SecondOrder,
    state: tuple[Tensor, ...],
    inner: tuple[Tensor, ...],
    scalars: tuple[Tensor, ...],
    params: tuple[Any, ...],
    dx: tuple[Tensor, ...],
    de: tuple[Tensor, ...],
    like: tuple[Tensor, ...],
) -> tuple[Tensor, ...]:
    """``D²f[(t, s), (dx, dε)]`` per output (each shaped as in ``like``), the JVP's tangents
    ``(t, s)`` being ``inner`` and ``scalars``: entry k of each row is ``<(t, s), H_k (dx, dε)>``,
    the HVP kernel at the cotangent one-hot at entry k of every row."""
    hvp_kernel = rule.hvp
    assert hvp_kernel is not None
    result = []
    for o, out in enumerate(like):
        size = out[0].numel()
        units = torch.eye(size, dtype=out.dtype, device=out.device)
        entries = []
        for k in range(size):
            cots = [
                units[k].expand(out.shape[0], size).reshape(out.shape)
                if j == o
                else torch.zeros_like(other)
                for j, other in enumerate(like)
            ]
            h = _as_tuple(
                first_order(rule.op, THIRD_ORDER, hvp_kernel, *state, *cots, *dx, *params, *de)
            )
            entry = out.new_zeros(out.shape[0])
            for ti, hi in zip(inner, h[: len(inner)]):
                entry = entry + (ti * hi).reshape(hi.shape[0], -1).sum(1)
            for si, hi in zip(scalars, h[len(inner) :]):
                entry = entry + si * hi
            entries.append(entry)
        result.append(torch.stack(entries, dim=1).reshape(out.shape))
    return tuple(result)


class Box:
    """A list param handed to a ``torch.autograd.Function`` as one opaque value. functorch's
    forward-mode rules flatten a list argument into its items, then cannot pair them with the
    one tangent (None) the argument has; a box is a single leaf."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _unbox(args: Any) -> tuple[Any, ...]:
    return tuple(a.value if isinstance(a, Box) else a for a in args)


def unboxed(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` called with every :class:`Box` argument replaced by its value."""

    def run(*args: Any) -> Any:
        return fn(*_unbox(args))

    return run


def unboxed_context(setup: Callable[..., Any]) -> Callable[..., Any]:
    """A ``setup_context`` that sees the values of the :class:`Box` inputs."""

    def run(ctx: Any, inputs: tuple[Any, ...], output: Any) -> Any:
        return setup(ctx, _unbox(inputs), output)

    return run
