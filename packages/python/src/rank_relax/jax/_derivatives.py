"""Forward mode, reverse mode and second order of ``rank_relax.jax``.

Each op is a ``jax.custom_jvp`` over its forward kernel (outputs and residuals). Its tangent map
is the primitive ``rr_<op>_jvp``, linear in the tangents, which runs the op's JVP kernel; reverse
mode (``grad``, ``vjp``, ``jacrev``) is JAX's transposition of it, the primitive ``rr_<op>_vjp``,
which runs the backward kernel. So ``jvp``/``jacfwd`` run the JVP kernel and ``grad`` still runs
the analytical backward, under ``jit``, ``vmap`` and the sharding rules (both primitives lower to
the XLA FFI calls of ``_plumbing.call``).

Each primitive is the other's transpose in the tangents (cotangents). Their own derivatives (second
order) are exact where the op is piecewise linear in its inputs for its static params (spec
``piecewise_linear``: l2 soft_rank, soft_sort, soft_topk, soft_quantile): there the JVP and the
VJP do not depend on the point (almost everywhere), so differentiating either is applying it to
the new tangents, and ``hessian``, ``jacfwd(jacrev)``, ``jacrev(jacrev)`` are exact. Everywhere
else, and wherever the second derivative involves ε (``regularization_strength``), there is no
second-order kernel: differentiating the first-order primitives raises ``NotImplementedError``
naming the op, never a zero.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
from jax._src import api_util, dispatch
from jax._src.interpreters import partial_eval as pe
from jax.custom_derivatives import SymbolicZero
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

__all__ = ["Derivatives", "no_tangent"]

#: What an operand of the JVP or the backward kernel is: a point (a save or residual), a real
#: param (ε: a point too), a tangent of an input, the tangent of a real param (a scalar), the
#: cotangent of an output.
Role = Literal["save", "param", "tangent", "param_tangent", "cotangent"]
#: What a result is: the tangent of an output, the gradient of an input, the per-row gradient of
#: a real param.
ResultRole = Literal["output_tangent", "grad", "param_grad"]
#: Per operand or result: its name, its role and the spec name of what it derives from.
Operand = tuple[str, Role, str]
Result = tuple[str, ResultRole, str]

_LINEAR = ("tangent", "param_tangent", "cotangent")


def no_tangent(value: jax.Array) -> SymbolicZero:
    """The tangent of a residual of the forward (the permutation): a symbolic zero, of the
    value's type (``float0`` for an integer; inside ``shard_map``, varying as the value does). A
    real residual only ever reaches the JVP and backward primitives as a point, whose own
    derivative is exact (piecewise-linear ops) or refused."""
    return SymbolicZero(jax.typeof(value).to_tangent_aval())


def _moves(tangent: Any) -> bool:
    """Whether a primitive's operand has a nonzero tangent (not a symbolic zero nor ``float0``)."""
    return type(tangent) is not ad.Zero and getattr(tangent, "dtype", None) != jax.dtypes.float0


def _sum_rows(per_row: jax.Array, aval: Any) -> jax.Array:
    """The cotangent of a real param's tangent (``aval``: 0-d, or the ``vmap`` dims only) from
    the backward's per-row gradient: the sum over the rows. Inside ``shard_map``, rows that vary
    over manual axes the param does not vary over are summed over those axes too."""
    total = jnp.sum(per_row, axis=tuple(range(len(aval.shape), jnp.ndim(per_row))))
    mine = getattr(getattr(aval, "manual_axis_type", None), "varying", frozenset())
    extra = jax.typeof(total).manual_axis_type.varying - mine
    if extra:
        total = jax.lax.psum(total, tuple(sorted(extra)))
    return total.astype(aval.dtype).reshape(aval.shape)


def _broadcast_all(args: Sequence[Any], dims: Sequence[int | None]) -> tuple[list[jax.Array], int]:
    """``vmap``: every operand with the mapped dim in front (unmapped ones broadcast), as
    ``ffi_call``'s ``vmap_method="broadcast_all"``: the kernels take any leading dims, and a
    real param (or its tangent) with one value per sample splits the rows."""
    size = next(jnp.shape(a)[d] for a, d in zip(args, dims) if d is not None)
    full = [
        jnp.broadcast_to(a, (size, *jnp.shape(a))) if d is None else jnp.moveaxis(a, d, 0)
        for a, d in zip(args, dims)
    ]
    return full, size


class Derivatives:
    """The JVP and VJP primitives of one op.

    ``jvp`` and ``backward`` are the op's JVP and backward kernels as JAX computations (the
    generated ``_rr_<op>_jvp``/``_rr_<op>_backward``: operands positional, static params by
    keyword); ``*_operands`` and ``*_results`` describe them in order. ``piecewise_linear``: per
    enum param, the values for which the op is piecewise linear in its inputs (all must hold);
    None: never.
    """

    def __init__(
        self,
        op: str,
        *,
        jvp: Callable[..., tuple[jax.Array, ...]],
        jvp_operands: Sequence[Operand],
        jvp_results: Sequence[Result],
        backward: Callable[..., tuple[jax.Array, ...]],
        backward_operands: Sequence[Operand],
        backward_results: Sequence[Result],
        piecewise_linear: Mapping[str, tuple[str, ...]] | None,
    ) -> None:
        self.op = op
        self.jvp_operands = tuple(jvp_operands)
        self.jvp_results = tuple(jvp_results)
        self.backward_operands = tuple(backward_operands)
        self.backward_results = tuple(backward_results)
        self.piecewise_linear = None if piecewise_linear is None else dict(piecewise_linear)
        self.jvp_p = self._primitive(
            f"rr_{op}_jvp", jvp, self.jvp_operands, self.jvp_results, keep_param_results=True
        )
        self.vjp_p = self._primitive(
            f"rr_{op}_vjp",
            backward,
            self.backward_operands,
            self.backward_results,
            keep_param_results=False,
        )
        ad.primitive_jvps[self.jvp_p] = functools.partial(
            self._linear_jvp, self.jvp_p, self.jvp_operands
        )
        ad.primitive_jvps[self.vjp_p] = functools.partial(
            self._linear_jvp, self.vjp_p, self.backward_operands
        )
        ad.primitive_transposes[self.jvp_p] = self._transpose_jvp
        ad.primitive_transposes[self.vjp_p] = self._transpose_vjp

    # --------------------------------------------------------------------------------------------
    # The primitives

    def _primitive(
        self,
        name: str,
        kernel: Callable[..., tuple[jax.Array, ...]],
        operands: Sequence[Operand],
        results: Sequence[Result],
        *,
        keep_param_results: bool,
    ) -> Primitive:
        """A primitive running ``kernel``; its param ``with_params`` says whether the real
        params' tangents may be nonzero (JVP) or their per-row gradients are wanted (VJP: the
        results without them otherwise)."""
        names = [name for name, _, _ in operands]
        dropped = (
            [] if keep_param_results else [i for i, r in enumerate(results) if r[1] == "param_grad"]
        )

        def run(*args: jax.Array, with_params: bool, **static: Any) -> list[jax.Array]:
            out = kernel(**dict(zip(names, args)), **static)
            return [o for i, o in enumerate(out) if with_params or i not in dropped]

        prim = Primitive(name)
        prim.multiple_results = True
        # Outside a trace: compiled (once per params) and run as its lowering runs it.
        prim.def_impl(functools.partial(dispatch.apply_primitive, prim))

        def abstract(*avals: Any, **params: Any) -> list[Any]:
            info = api_util.debug_info(name, run, avals, params)
            # The shapes, dtypes and shardings of the FFI call that lowers it.
            return list(pe.abstract_eval_fun(run, *avals, debug_info=info, **params))

        prim.def_abstract_eval(abstract)
        mlir.register_lowering(prim, mlir.lower_fun(run, multiple_results=True))
        # Its lowering holds a custom_partitioning (the sharding rules), which needs the devices.
        dispatch.prim_requires_devices_during_lowering.add(prim)

        def batch(
            args: Sequence[Any], dims: Sequence[int | None], **params: Any
        ) -> tuple[Any, list[int]]:
            full, _ = _broadcast_all(args, dims)
            out = prim.bind(*full, **params)
            return out, [0] * len(out)

        batching.primitive_batchers[prim] = batch
        return prim

    def jvp(self, operands: Sequence[Any], **static: Any) -> list[jax.Array]:
        """The output tangents (the JVP kernel's results) at the point the saves, residuals and
        real params give, for the tangents among ``operands`` (in the JVP kernel's order; a
        ``SymbolicZero`` tangent is zero)."""
        args = []
        with_params = False
        for (_, role, _), x in zip(self.jvp_operands, operands):
            if type(x) is SymbolicZero:
                x = jnp.zeros(x.shape, x.dtype)
            elif role == "param_tangent":
                with_params = True
            args.append(x)
        return self.jvp_p.bind(*args, with_params=with_params, **static)

    # --------------------------------------------------------------------------------------------
    # Transposes: each primitive's adjoint in its tangents is the other one.

    def _transpose_jvp(
        self, cts: Sequence[Any], *args: Any, with_params: bool, **static: Any
    ) -> list[Any]:
        del with_params
        wanted = [ad.is_undefined_primal(a) for a in args]
        if all(type(c) is ad.Zero for c in cts):
            return [None] * len(args)
        by_name = dict(zip((n for n, _, _ in self.jvp_operands), args))
        ct_of = {of: ad.instantiate_zeros(c) for (_, _, of), c in zip(self.jvp_results, cts)}
        params_wanted = any(
            w and role == "param_tangent" for (_, role, _), w in zip(self.jvp_operands, wanted)
        )
        operands = [
            ct_of[of] if role == "cotangent" else self._point(by_name, name)
            for name, role, of in self.backward_operands
        ]
        grads = self.vjp_p.bind(*operands, with_params=params_wanted, **static)
        kept = [r for r in self.backward_results if params_wanted or r[1] != "param_grad"]
        grad_of = {(role, of): g for (_, role, of), g in zip(kept, grads)}
        out: list[Any] = []
        for (_, role, of), a, w in zip(self.jvp_operands, args, wanted):
            if not w or role not in _LINEAR:
                out.append(None)
            elif role == "tangent":
                out.append(grad_of[("grad", of)])
            else:
                out.append(_sum_rows(grad_of[("param_grad", of)], a.aval))
        return out

    def _transpose_vjp(
        self, cts: Sequence[Any], *args: Any, with_params: bool, **static: Any
    ) -> list[Any]:
        kept = [r for r in self.backward_results if with_params or r[1] != "param_grad"]
        if any(
            role == "param_grad" and type(c) is not ad.Zero for (_, role, _), c in zip(kept, cts)
        ):
            self._refuse(f"of the gradient of {self._param_names()} are not implemented")
        grads = {of: c for (_, role, of), c in zip(kept, cts) if role == "grad"}
        if all(type(c) is ad.Zero for c in grads.values()):
            return [None] * len(args)
        by_name = dict(zip((n for n, _, _ in self.backward_operands), args))
        operands = []
        for name, role, of in self.jvp_operands:
            if role == "tangent":
                operands.append(ad.instantiate_zeros(grads[of]))
            elif role == "param_tangent":
                operands.append(jnp.zeros_like(self._point(by_name, of)))
            else:
                operands.append(self._point(by_name, name))
        tangents = self.jvp_p.bind(*operands, with_params=False, **static)
        tangent_of = {of: t for (_, _, of), t in zip(self.jvp_results, tangents)}
        return [
            tangent_of[of] if role == "cotangent" and ad.is_undefined_primal(a) else None
            for (_, role, of), a in zip(self.backward_operands, args)
        ]

    def _point(self, by_name: Mapping[str, Any], name: str) -> Any:
        value = by_name[name]
        if ad.is_undefined_primal(value):
            self._refuse(f"through {name} are not implemented")
        return value

    # --------------------------------------------------------------------------------------------
    # Second order

    def _linear_jvp(
        self,
        prim: Primitive,
        operands: Sequence[Operand],
        primals: Sequence[Any],
        tangents: Sequence[Any],
        *,
        with_params: bool,
        **static: Any,
    ) -> tuple[Any, Any]:
        """The derivative of a JVP or VJP primitive: itself applied to the new tangents of its
        linear operands, plus its derivative in the point, which is zero where the op is
        piecewise linear (and ε neither moves nor has a tangent), else refused."""
        out = prim.bind(*primals, with_params=with_params, **static)
        for (name, role, _), t in zip(operands, tangents):
            if role == "param" and _moves(t):
                self._refuse(f"with respect to {name} are not implemented")
        if any(role == "save" and _moves(t) for (_, role, _), t in zip(operands, tangents)):
            if not self._is_piecewise_linear(static):
                self._refuse(self._why_not_linear(static))
            if with_params:
                self._refuse(f"mixing {self._param_names()} and the inputs are not implemented")
        linear = [role in _LINEAR and _moves(t) for (_, role, _), t in zip(operands, tangents)]
        if not any(linear):
            return out, [ad.Zero(jax.typeof(o).to_tangent_aval()) for o in out]
        args = [
            ad.instantiate_zeros(t) if role in _LINEAR else p
            for (_, role, _), p, t in zip(operands, primals, tangents)
        ]
        params_move = any(
            lin and role == "param_tangent" for (_, role, _), lin in zip(operands, linear)
        )
        # A VJP's ε gradients are linear in its cotangents too: same results, same flag.
        flag = with_params if prim is self.vjp_p else params_move
        return out, prim.bind(*args, with_params=flag, **static)

    def _is_piecewise_linear(self, static: Mapping[str, Any]) -> bool:
        if self.piecewise_linear is None:
            return False
        return all(static[p] in values for p, values in self.piecewise_linear.items())

    def _why_not_linear(self, static: Mapping[str, Any]) -> str:
        if self.piecewise_linear is None:
            return "are not implemented"
        where = ", ".join(f"{p}={static[p]!r}" for p in self.piecewise_linear)
        exact = ", ".join(
            f"{p}={' or '.join(repr(v) for v in vs)}" for p, vs in self.piecewise_linear.items()
        )
        return (
            f"are not implemented for {where}; they are exact for {exact}, where {self.op} is "
            f"piecewise linear in its inputs"
        )

    def _param_names(self) -> str:
        names = [n for n, role, _ in self.jvp_operands if role == "param"]
        return " and ".join(names) or "its real params"

    def _refuse(self, what: str) -> None:
        raise NotImplementedError(
            f"{self.op}: second-order derivatives (hessian, a derivative of jvp or grad) {what}; "
            f"first-order jvp, grad, jacfwd and jacrev are exact"
        )
