"""Forward mode, reverse mode and second order of ``rank_relax.jax``.

Each op is a ``jax.custom_jvp`` over its forward kernel (outputs and residuals). Its tangent map
is the primitive ``rr_<op>_jvp``, linear in the tangents, which runs the op's JVP kernel; reverse
mode (``grad``, ``vjp``, ``jacrev``) is JAX's transposition of it, the primitive ``rr_<op>_vjp``,
which runs the backward kernel. So ``jvp``/``jacfwd`` run the JVP kernel and ``grad`` still runs
the analytical backward, under ``jit``, ``vmap`` and the sharding rules (both primitives lower to
the XLA FFI calls of ``_plumbing.call``).

Each primitive is the other's transpose in the tangents (cotangents). Second order goes through a
third primitive, ``rr_<op>_hvp``, which runs the HVP kernel: at a point and a cotangent g it is
linear in the tangents (dx, dε) of the inputs and of ε and gives the derivative of what the
backward writes along them, H (dx, dε) with H the Hessian of ⟨g, f(x, ε)⟩. So the derivative of
the VJP primitive along (dx, dε, dg) is ``vjp(dg) + hvp(g; dx, dε)``, and, H being symmetric, the
HVP primitive is its own transpose: ``jax.hessian`` (``jacfwd`` over ``jacrev``), ``jacrev(jacrev)``
and ``grad`` of a gradient are exact for every op, in the inputs and in ε.

An optional input (a bool mask) is a point of every kernel and never has a tangent. A primitive's
operands are arrays, so each combination of present optional inputs has its own three primitives
(``rr_soft_rank_jvp``, and ``rr_soft_rank_jvp_with_mask`` with a mask): a call without a mask binds
the primitives it bound before there were masks, with the same operands.

What has no kernel raises ``NotImplementedError`` naming the op and the order, never a zero:
forward over forward (the derivative of the JVP primitive in its point: ``jacfwd(jacfwd)``,
``check_grads(order=2, modes=["fwd"])``), third order (a derivative of the HVP primitive in its
point or cotangent) and second derivatives with respect to an input that receives no gradient.
"""

from __future__ import annotations

import functools
import itertools
import math
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
#: a real param, the HVP of an input's gradient, the per-row HVP of a real param's gradient.
ResultRole = Literal["output_tangent", "grad", "param_grad", "hvp", "param_hvp"]
#: Per operand or result: its name, its role and the spec name of what it derives from.
Operand = tuple[str, Role, str]
Result = tuple[str, ResultRole, str]

_LINEAR = ("tangent", "param_tangent", "cotangent")


def no_tangent(value: jax.Array) -> SymbolicZero:
    """The tangent of a residual of the forward (the permutation): a symbolic zero, of the
    value's type (``float0`` for an integer; inside ``shard_map``, varying as the value does). A
    real residual only ever reaches the derivative primitives as a point derived from the
    inputs: their derivatives follow the inputs' tangents and ignore it."""
    return SymbolicZero(jax.typeof(value).to_tangent_aval())


def _moves(tangent: Any) -> bool:
    """Whether a primitive's operand has a nonzero tangent (not a symbolic zero nor ``float0``)."""
    return type(tangent) is not ad.Zero and getattr(tangent, "dtype", None) != jax.dtypes.float0


def _sum_rows(per_row: jax.Array, aval: Any) -> jax.Array:
    """The cotangent of a real param's tangent (``aval``: 0-d, or the ``vmap`` dims only) from
    the backward's per-row gradient: the sum over the rows. Inside ``shard_map``, rows that vary
    over manual axes the param does not vary over are summed over those axes too."""
    total = jnp.sum(per_row, axis=tuple(range(len(aval.shape), jnp.ndim(per_row))))
    mine: frozenset[str] = getattr(getattr(aval, "manual_axis_type", None), "varying", frozenset())
    extra = jax.typeof(total).manual_axis_type.varying - mine
    if extra:
        total = jax.lax.psum(total, tuple(sorted(extra)))
    return total.astype(aval.dtype).reshape(aval.shape)


def _per_row(scale: jax.Array, like: jax.Array) -> jax.Array:
    """``scale`` (one value per row: the leading dims of ``like``) times ``like``."""
    return jnp.reshape(scale, jnp.shape(scale) + (1,) * (jnp.ndim(like) - jnp.ndim(scale))) * like


def _unit(param: str, zeros: Callable[[str], jax.Array], of: str) -> jax.Array:
    """The tangent of the real param ``of`` in the direction of ``param`` alone: 1 or 0."""
    return jnp.ones_like(zeros(of)) if of == param else zeros(of)


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
    """The JVP, VJP and HVP primitives of one op.

    ``jvp``, ``backward`` and ``hvp`` are the op's JVP, backward and HVP kernels as JAX
    computations (the generated ``_rr_<op>_jvp``/``_backward``/``_hvp``: operands positional,
    static params by keyword); ``*_operands`` and ``*_results`` describe them in order.
    ``inputs``: the op's inputs, by the names the saves give them (a save that is not an input is
    derived from them). ``optional``: the inputs a call may leave out (None), which every kernel
    then receives as None. ``hvp`` None: no second order.
    """

    def __init__(
        self,
        op: str,
        *,
        inputs: Sequence[str],
        optional: Sequence[str] = (),
        jvp: Callable[..., tuple[jax.Array, ...]],
        jvp_operands: Sequence[Operand],
        jvp_results: Sequence[Result],
        backward: Callable[..., tuple[jax.Array, ...]],
        backward_operands: Sequence[Operand],
        backward_results: Sequence[Result],
        hvp: Callable[..., tuple[jax.Array, ...]] | None,
        hvp_operands: Sequence[Operand],
        hvp_results: Sequence[Result],
    ) -> None:
        self.optional = tuple(optional)
        self.jvp_operands = tuple(jvp_operands)
        self._kernels = {
            frozenset(absent): _Kernels(
                op,
                absent=absent,
                # The optional inputs present, in the primitives' names (none: those of before).
                suffix="".join(f"_with_{n}" for n in self.optional if n not in absent),
                inputs=inputs,
                jvp=jvp,
                jvp_operands=jvp_operands,
                jvp_results=jvp_results,
                backward=backward,
                backward_operands=backward_operands,
                backward_results=backward_results,
                hvp=hvp,
                hvp_operands=hvp_operands,
                hvp_results=hvp_results,
            )
            for count in range(len(self.optional) + 1)
            for absent in itertools.combinations(self.optional, count)
        }

    def jvp(self, operands: Sequence[Any], **static: Any) -> list[jax.Array]:
        """The output tangents (the JVP kernel's results) at the point the saves, residuals and
        real params give, for the tangents among ``operands`` (in the JVP kernel's order; a
        ``SymbolicZero`` tangent is zero; an optional input may be None)."""
        named = [(name, x) for (name, _, _), x in zip(self.jvp_operands, operands)]
        absent = frozenset(name for name, x in named if x is None and name in self.optional)
        kernels = self._kernels[absent]
        return kernels.jvp([x for name, x in named if name not in absent], **static)


class _Kernels:
    """The primitives of one op for one combination of absent optional inputs (``absent``), whose
    operands are left out of every primitive and passed to the kernels as None."""

    def __init__(
        self,
        op: str,
        *,
        absent: Sequence[str],
        suffix: str,
        inputs: Sequence[str],
        jvp: Callable[..., tuple[jax.Array, ...]],
        jvp_operands: Sequence[Operand],
        jvp_results: Sequence[Result],
        backward: Callable[..., tuple[jax.Array, ...]],
        backward_operands: Sequence[Operand],
        backward_results: Sequence[Result],
        hvp: Callable[..., tuple[jax.Array, ...]] | None,
        hvp_operands: Sequence[Operand],
        hvp_results: Sequence[Result],
    ) -> None:
        self.op = op
        self.absent = tuple(absent)

        def present(operands: Sequence[Operand]) -> tuple[Operand, ...]:
            return tuple(o for o in operands if o[0] not in self.absent)

        self.inputs = tuple(i for i in inputs if i not in self.absent)
        self.jvp_operands = present(jvp_operands)
        self.jvp_results = tuple(jvp_results)
        self.backward_operands = present(backward_operands)
        self.backward_results = tuple(backward_results)
        self.hvp_operands = present(hvp_operands)
        self.hvp_results = tuple(hvp_results)
        self.jvp_p = self._primitive(
            f"rr_{op}_jvp{suffix}",
            jvp,
            self.jvp_operands,
            self.jvp_results,
            keep_param_results=True,
        )
        self.vjp_p = self._primitive(
            f"rr_{op}_vjp{suffix}",
            backward,
            self.backward_operands,
            self.backward_results,
            keep_param_results=False,
        )
        ad.primitive_jvps[self.jvp_p] = self._jvp_of_jvp
        ad.primitive_jvps[self.vjp_p] = self._jvp_of_vjp
        ad.primitive_transposes[self.jvp_p] = self._transpose_jvp
        ad.primitive_transposes[self.vjp_p] = self._transpose_vjp
        self.hvp_p: Primitive | None = None
        if hvp is not None:
            saved = {name for name, role, _ in self.backward_operands if role == "save"}
            missing = [
                of for _, role, of in self.hvp_operands if role == "tangent" and of not in saved
            ]
            if missing:
                raise ValueError(f"{op}: the HVP needs the inputs {missing} among the saves")
            self.hvp_p = self._primitive(
                f"rr_{op}_hvp{suffix}",
                hvp,
                self.hvp_operands,
                self.hvp_results,
                keep_param_results=True,
            )
            ad.primitive_jvps[self.hvp_p] = self._jvp_of_hvp
            ad.primitive_transposes[self.hvp_p] = self._transpose_hvp

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
        params' tangents may be nonzero (JVP, HVP) or their per-row gradients are wanted (VJP:
        the results without them otherwise)."""
        names = [name for name, _, _ in operands]
        dropped = (
            [] if keep_param_results else [i for i, r in enumerate(results) if r[1] == "param_grad"]
        )

        absent = dict.fromkeys(self.absent)

        def run(*args: jax.Array, with_params: bool, **static: Any) -> list[jax.Array]:
            out = kernel(**dict(zip(names, args)), **absent, **static)
            return [o for i, o in enumerate(out) if with_params or i not in dropped]

        prim = Primitive(name)
        prim.multiple_results = True
        # Outside a trace the kernel runs directly on the concrete arrays, as the forward does,
        # so its errors are the NumPy API's ValueErrors rather than an XLA runtime error.
        prim.def_impl(run)

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
    # Transposes: the JVP's and the VJP's adjoints are each other; the HVP's is itself.

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
        """The VJP's adjoint in its cotangents: the JVP along the cotangents of the gradients,
        plus, per row, the JVP along ε times the cotangent of that row's ε gradient."""
        kept = [r for r in self.backward_results if with_params or r[1] != "param_grad"]
        grads = {of: c for (_, role, of), c in zip(kept, cts) if role == "grad"}
        per_row = {of: c for (_, role, of), c in zip(kept, cts) if role == "param_grad"}
        per_row = {of: c for of, c in per_row.items() if type(c) is not ad.Zero}
        if all(type(c) is ad.Zero for c in grads.values()) and not per_row:
            return [None] * len(args)
        by_name = dict(zip((n for n, _, _ in self.backward_operands), args))

        def run(tangent: Callable[[str], Any], eps: Callable[[str], Any]) -> dict[str, Any]:
            operands = []
            for name, role, of in self.jvp_operands:
                if role == "tangent":
                    operands.append(tangent(of))
                elif role == "param_tangent":
                    operands.append(eps(of))
                else:
                    operands.append(self._point(by_name, name))
            out = self.jvp_p.bind(*operands, with_params=True, **static)
            return {of: t for (_, _, of), t in zip(self.jvp_results, out)}

        def zeros(of: str) -> jax.Array:
            return jnp.zeros_like(self._point(by_name, of))

        tangent_of = run(lambda of: ad.instantiate_zeros(grads[of]), zeros)
        for p, c in per_row.items():
            # One ε tangent per call: the JVP along ε alone, scaled row by row.
            along = run(zeros, functools.partial(_unit, p, zeros))
            tangent_of = {of: t + _per_row(c, along[of]) for of, t in tangent_of.items()}
        return [
            tangent_of[of] if role == "cotangent" and ad.is_undefined_primal(a) else None
            for (_, role, of), a in zip(self.backward_operands, args)
        ]

    def _transpose_hvp(
        self, cts: Sequence[Any], *args: Any, with_params: bool, **static: Any
    ) -> list[Any]:
        """The HVP's adjoint in its tangents is itself (the Hessian is symmetric): on the input
        tangents and the ε tangent, the HVP along the cotangents of its results; a per-row
        cotangent of ε's HVP is applied row by row, through the HVP along ε alone."""
        del with_params
        if all(type(c) is ad.Zero for c in cts):
            return [None] * len(args)
        by_name = dict(zip((n for n, _, _ in self.hvp_operands), args))
        hvp_ct = {of: c for (_, role, of), c in zip(self.hvp_results, cts) if role == "hvp"}
        per_row = {
            of: c
            for (_, role, of), c in zip(self.hvp_results, cts)
            if role == "param_hvp" and type(c) is not ad.Zero
        }

        def zeros(of: str) -> jax.Array:
            return jnp.zeros_like(self._point(by_name, of))

        def run(
            tangent: Callable[[str], Any], eps: Callable[[str], Any]
        ) -> dict[tuple[str, str], Any]:
            operands = []
            for name, role, of in self.hvp_operands:
                if role == "tangent":
                    operands.append(tangent(of))
                elif role == "param_tangent":
                    operands.append(eps(of))
                else:
                    operands.append(self._point(by_name, name))
            assert self.hvp_p is not None
            out = self.hvp_p.bind(*operands, with_params=True, **static)
            return {(role, of): h for (_, role, of), h in zip(self.hvp_results, out)}

        def along_w(of: str) -> jax.Array:
            c = hvp_ct.get(of)
            return zeros(of) if c is None or type(c) is ad.Zero else c

        h = run(along_w, zeros)
        for p, c in per_row.items():
            along = run(zeros, functools.partial(_unit, p, zeros))
            h = {
                key: v + (c * along[key] if key[0] == "param_hvp" else _per_row(c, along[key]))
                for key, v in h.items()
            }
        out: list[Any] = []
        for (_, role, of), a in zip(self.hvp_operands, args):
            if not ad.is_undefined_primal(a) or role not in ("tangent", "param_tangent"):
                out.append(None)
            elif role == "tangent":
                out.append(h[("hvp", of)])
            else:
                out.append(_sum_rows(h[("param_hvp", of)], a.aval))
        return out

    def _check_differentiable(self, moving: Mapping[str, Any]) -> None:
        """A second derivative along an input that receives no gradient has no kernel."""
        differentiable = {of for _, role, of in self.hvp_operands if role in _LINEAR}
        for name in moving:
            if name not in differentiable:
                raise NotImplementedError(
                    f"{self.op}: second-order derivatives with respect to {name} are not "
                    f"implemented ({name} receives no gradient)"
                )

    def _hvp_args(
        self,
        by_name: Mapping[str, Any],
        moving: Mapping[str, Any],
        cotangents: Mapping[str, jax.Array] | None = None,
    ) -> list[Any]:
        """The HVP primitive's operands: the point from ``by_name`` (saves, residuals, ε, and the
        cotangents unless given in ``cotangents``), the tangents of the inputs and of ε from
        ``moving`` (zero where absent)."""
        args = []
        for name, role, of in self.hvp_operands:
            if role == "cotangent" and cotangents is not None:
                args.append(cotangents[of])
            elif role in ("tangent", "param_tangent"):
                t = moving.get(of)
                args.append(jnp.zeros_like(by_name[of]) if t is None else ad.instantiate_zeros(t))
            else:
                args.append(by_name[name])
        return args

    def _point(self, by_name: Mapping[str, Any], name: str) -> Any:
        value = by_name[name]
        if ad.is_undefined_primal(value):
            raise NotImplementedError(
                f"{self.op}: derivatives linear in {name} are not implemented: it is a point of "
                "the derivative kernels, not a tangent"
            )
        return value

    # --------------------------------------------------------------------------------------------
    # Derivatives of the primitives

    def _jvp_of_jvp(
        self, primals: Sequence[Any], tangents: Sequence[Any], *, with_params: bool, **static: Any
    ) -> tuple[Any, Any]:
        """The JVP's derivative along its tangents (itself on them) and along its point (forward
        over forward): ``D²f[(t, s), (dx, dε)]``, from the HVP primitive (see ``_second_jvp``)."""
        moving = {
            name: t
            for (name, role, _), t in zip(self.jvp_operands, tangents)
            if role in ("save", "param") and _moves(t) and (role == "param" or name in self.inputs)
        }
        out, linear = self._linear(self.jvp_p, self.jvp_operands, primals, tangents, **static)
        if not moving:
            return out, linear
        second = self._second_jvp(primals, out, moving, **static)
        return out, [s if type(t) is ad.Zero else t + s for t, s in zip(linear, second)]

    def _second_jvp(
        self, primals: Sequence[Any], out: Sequence[Any], moving: Mapping[str, Any], **static: Any
    ) -> list[jax.Array]:
        """``D²f[(t, s), (dx, dε)]`` per output: the JVP's derivative in its point along the
        inputs' and ε's tangents ``moving`` (by operand name), at the JVP's tangents ``(t, s)``.

        Entry k of an output's row is ``<(t, s), H_k (dx, dε)>`` with ``H_k`` the Hessian of that
        entry: the HVP primitive at the cotangent ``e_k`` (one-hot in every row at once), dotted
        with the tangents. So it costs one HVP per entry of an output's row (``vmap`` runs them as
        one call of the kernel on that many rows): exact, and much dearer than reverse over
        forward, which ``jax.hessian`` uses.
        """
        if self.hvp_p is None:
            raise NotImplementedError(
                f"{self.op}: forward-over-forward second derivatives (jacfwd of jacfwd, a jvp of a "
                "jvp) are not implemented: the op has no HVP kernel"
            )
        self._check_differentiable(moving)
        by_name = dict(zip((n for n, _, _ in self.jvp_operands), primals))
        inner = {
            (role, of): by_name[name]
            for name, role, of in self.jvp_operands
            if role in ("tangent", "param_tangent")
        }
        # The items' axis is the inputs' last: the leading dims are the rows.
        lead = jnp.shape(by_name[next(n for n in self.inputs if n in by_name)])[:-1]
        outputs = [of for _, _, of in self.jvp_results]
        out_avals = {of: jax.typeof(o) for of, o in zip(outputs, out)}

        def hvp_at(cotangents: Mapping[str, jax.Array]) -> dict[tuple[str, str], jax.Array]:
            args = self._hvp_args(by_name, moving, cotangents)
            assert self.hvp_p is not None
            h = self.hvp_p.bind(*args, with_params=True, **static)
            return {(role, of): x for (_, role, of), x in zip(self.hvp_results, h)}

        def along_inner(h: Mapping[tuple[str, str], jax.Array]) -> jax.Array:
            """``<(t, s), h>`` per row."""
            total = jnp.zeros(lead, next(iter(h.values())).dtype)
            for (role, of), x in h.items():
                if role == "hvp":
                    t = inner[("tangent", of)]
                    total = total + jnp.sum(t * x, axis=tuple(range(len(lead), jnp.ndim(x))))
                else:
                    # one value, or one per sample of a vmap (the leading dims)
                    total = total + _per_row(inner[("param_tangent", of)], x)
            return total

        result = []
        for o in outputs:
            shape = out_avals[o].shape
            row = shape[len(lead) :]
            size = math.prod(row)
            dtype = out_avals[o].dtype
            units = jnp.broadcast_to(
                jnp.eye(size, dtype=dtype).reshape(size, *(1,) * len(lead), *row),
                (size, *shape),
            )

            def entry(unit: jax.Array, o: str = o) -> jax.Array:
                cots = {
                    of: unit if of == o else jnp.zeros(out_avals[of].shape, out_avals[of].dtype)
                    for of in outputs
                }
                return along_inner(hvp_at(cots))

            per_entry = jax.vmap(entry)(units)  # [size, *lead]
            result.append(jnp.moveaxis(per_entry, 0, -1).reshape(shape))
        return result

    def _jvp_of_hvp(
        self, primals: Sequence[Any], tangents: Sequence[Any], *, with_params: bool, **static: Any
    ) -> tuple[Any, Any]:
        """Linear in its tangents; its derivative in its point or cotangent (third order) has
        no kernel."""
        del with_params
        for (name, role, _), t in zip(self.hvp_operands, tangents):
            if role in ("save", "param", "cotangent") and _moves(t):
                raise NotImplementedError(
                    f"{self.op}: third-order derivatives (a derivative of the Hessian-vector "
                    f"product in {name}) are not implemented; second order (jax.hessian, "
                    "jacrev(jacrev), grad of grad) is exact"
                )
        assert self.hvp_p is not None
        return self._linear(self.hvp_p, self.hvp_operands, primals, tangents, **static)

    def _linear(
        self,
        prim: Primitive,
        operands: Sequence[Operand],
        primals: Sequence[Any],
        tangents: Sequence[Any],
        **static: Any,
    ) -> tuple[Any, Any]:
        """A JVP or HVP primitive's derivative along its tangents only: itself on them."""
        params_move = any(
            role == "param_tangent" and _moves(t) for (_, role, _), t in zip(operands, tangents)
        )
        out = prim.bind(*primals, with_params=True, **static)
        if not any(role in _LINEAR and _moves(t) for (_, role, _), t in zip(operands, tangents)):
            return out, [ad.Zero(jax.typeof(o).to_tangent_aval()) for o in out]
        args = [
            ad.instantiate_zeros(t) if role in _LINEAR else p
            for (_, role, _), p, t in zip(operands, primals, tangents)
        ]
        return out, prim.bind(*args, with_params=params_move, **static)

    def _jvp_of_vjp(
        self, primals: Sequence[Any], tangents: Sequence[Any], *, with_params: bool, **static: Any
    ) -> tuple[Any, Any]:
        """The VJP's derivative along (dx, dε, dg): ``vjp(dg) + hvp(g; dx, dε)``."""
        out = self.vjp_p.bind(*primals, with_params=with_params, **static)
        moving = {
            name: t
            for (name, role, _), t in zip(self.backward_operands, tangents)
            if role in ("save", "param") and _moves(t) and (role == "param" or name in self.inputs)
        }
        self._check_differentiable(moving)
        parts: list[list[Any]] = []
        if any(
            role == "cotangent" and _moves(t)
            for (_, role, _), t in zip(self.backward_operands, tangents)
        ):
            args = [
                ad.instantiate_zeros(t) if role == "cotangent" else p
                for (_, role, _), p, t in zip(self.backward_operands, primals, tangents)
            ]
            parts.append(self.vjp_p.bind(*args, with_params=with_params, **static))
        if moving:
            if self.hvp_p is None:
                raise NotImplementedError(
                    f"{self.op}: second-order derivatives (a derivative of the gradient) are not "
                    "implemented"
                )
            by_name = dict(zip((n for n, _, _ in self.backward_operands), primals))
            h = self.hvp_p.bind(*self._hvp_args(by_name, moving), with_params=True, **static)
            h_of = {
                ("grad" if role == "hvp" else "param_grad", of): x
                for (_, role, of), x in zip(self.hvp_results, h)
            }
            kept = [r for r in self.backward_results if with_params or r[1] != "param_grad"]
            parts.append([h_of[(role, of)] for _, role, of in kept])
        if not parts:
            return out, [ad.Zero(jax.typeof(o).to_tangent_aval()) for o in out]
        return out, [sum(ts[1:], ts[0]) for ts in zip(*parts)]
