"""rank_relax.jax on several devices: sharded ``jit`` (auto mesh axes with Shardy and GSPMD,
explicit axes), ``vmap`` in it, ``shard_map``, ``pmap``, and the global-ranking recipe of
docs/guides/distributed.md.

A subprocess with 4 host CPU devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
set before JAX starts) runs every scenario of :data:`SCENARIOS` once and writes what each found
to a JSON file; each test reads its scenario's outcome. Every scenario compares with the same
computation on one device: outputs and input gradients bit for bit; the gradient of ε, a sum over
the rows of every device, to 1e-13 (the devices' partial sums are added in another order). The
subprocess is killed if it outlives :data:`TIMEOUT`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _spec import OPS
from inputs import make_inputs, op_fn

jax = pytest.importorskip("jax")

DEVICES = 4
TIMEOUT = 300.0  # seconds for the whole subprocess
BATCH, ITEMS = 8, 8  # both divisible by DEVICES: a row or the item axis can be split evenly
EPS_RTOL = 1e-13
EPS_NAME = "regularization_strength"


# ------------------------------------------------------------------------------------------------
# What the subprocess runs


def _value_and_grads(op: str) -> Callable[..., Any]:
    """``(inputs, ε, cotangents[, mask]) -> (outputs, (grad of each differentiable input), grad
    of ε)``: ε passed by name where the op has it (else its gradient is 0); the outputs and
    cotangents as the op returns them (one array, or a tuple)."""
    import rank_relax.jax as rj

    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]
    takes_eps = EPS_NAME in OPS[op]["reals"]
    fn = op_fn(rj, op)

    def run(inputs: dict[str, Any], eps: Any, cot: Any, mask: Any = None) -> Any:
        fixed = {n: v for n, v in inputs.items() if n not in diff}
        masked = {} if mask is None else {"mask": mask}

        def f(eps: Any, *args: Any) -> Any:
            given = fixed | dict(zip(diff, args))
            return fn(
                *(given[n] for n in names), **({EPS_NAME: eps} if takes_eps else {}), **masked
            )

        out, pullback = jax.vjp(f, eps, *(inputs[n] for n in diff))
        grads = pullback(cot)
        return out, grads[1:], grads[0]

    return run


def _compare(where: str, got: Any, want: Any) -> None:
    """Outputs and input gradients bit for bit, the gradient of ε to :data:`EPS_RTOL`."""
    (out, grads, eps_grad), (w_out, w_grads, w_eps_grad) = got, want
    for i, (a, b) in enumerate(zip(jax.tree.leaves(out), jax.tree.leaves(w_out), strict=True)):
        assert np.asarray(a).dtype == np.asarray(b).dtype, f"{where}: output {i} dtype"
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{where}: output {i}")
    for i, (a, b) in enumerate(zip(grads, w_grads, strict=True)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{where}: grad {i}")
    np.testing.assert_allclose(
        np.asarray(eps_grad), np.asarray(w_eps_grad), rtol=EPS_RTOL, err_msg=f"{where}: ε grad"
    )


def _padded(spec: Any, ndim: int) -> tuple[Any, ...]:
    """A partition spec with one entry per dim."""
    return (*spec, *(None,) * (ndim - len(spec)))


def _case(op: str, shape: tuple[int, ...], seed: int) -> tuple[dict[str, Any], Any, Any]:
    """Inputs of ``shape``, ε, and a cotangent for each output (random for a real one, float0
    zeros for an integer one, which has no gradient)."""
    import jax.numpy as jnp

    import rank_relax.jax as rj

    inputs = {n: jnp.asarray(v) for n, v in make_inputs(op, shape, seed=seed).items()}
    eps = jnp.asarray(0.5)
    given = {EPS_NAME: eps} if EPS_NAME in OPS[op]["reals"] else {}
    args = [inputs[n] for n in OPS[op]["inputs"]]
    outs = jax.eval_shape(lambda: op_fn(rj, op)(*args, **given))
    rng = np.random.default_rng(seed + 1)

    def cotangent(out: Any) -> Any:
        if jnp.issubdtype(out.dtype, jnp.floating):
            return jnp.asarray(rng.standard_normal(out.shape), out.dtype)
        return np.zeros(out.shape, jax.dtypes.float0)

    return inputs, eps, jax.tree.map(cotangent, outs)


def _put_cotangent(cot: Any, mesh: Any, lead: Any) -> Any:
    """The cotangents with the outputs' sharding: their leading dims (those of the inputs) as
    ``lead``, the rest whole; float0 ones stay on the host."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    def put(c: Any) -> Any:
        if c.dtype == jax.dtypes.float0:
            return c
        return jax.device_put(c, NamedSharding(mesh, P(*_padded(lead, c.ndim)[: c.ndim])))

    return jax.tree.map(put, cot)


def _sharded_jit(axis_type: str) -> dict[str, Any]:
    """Every op under ``jit`` with ``NamedSharding`` inputs (and cotangent), against the same
    jitted function on one device. Batch-sharded (a ``[batch, n]`` input on a 1-D mesh, the
    second of two leading dims, two leading dims on a 2-D mesh): no all-gather in the compiled
    program, outputs and gradients sharded as the inputs. Sharded on the item axis: gathered
    (an all-gather in the program), still the same results."""
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    kind = getattr(AxisType, axis_type)
    line = jax.make_mesh((DEVICES,), ("x",), axis_types=(kind,))
    grid = jax.make_mesh((2, 2), ("a", "b"), axis_types=(kind, kind))
    cases = [
        ((BATCH, ITEMS), line, P("x", None), True),
        ((2, BATCH // 2, ITEMS), line, P(None, "x", None), True),
        ((2, BATCH // 2, ITEMS), grid, P("a", "b", None), True),
        ((BATCH, ITEMS), line, P(None, "x"), False),
    ]
    checked = []
    for op in OPS:
        run = jax.jit(_value_and_grads(op))
        for shape, mesh, spec, batch_sharded in cases:
            inputs, eps, cot = _case(op, shape, seed=len(checked))
            want = run(inputs, eps, cot)
            lead = P(*spec[: len(shape) - 1])
            put = {n: jax.device_put(v, NamedSharding(mesh, spec)) for n, v in inputs.items()}
            # The cotangents have the outputs' sharding: batch-sharded, or replicated where the
            # item axis was gathered.
            cot_s = _put_cotangent(cot, mesh, tuple(lead) if batch_sharded else ())
            where = f"{op} {list(shape)} {spec} ({axis_type})"
            got = run(put, eps, cot_s)
            _compare(where, got, want)
            hlo = run.lower(put, eps, cot_s).compile().as_text()
            if batch_sharded:
                gathers = [text for text in hlo.splitlines() if "all-gather" in text]
                assert not gathers, f"{where}: the program gathers:\n" + "\n".join(gathers)
                for out in jax.tree.leaves(got[0]):
                    out_spec = _padded(out.sharding.spec, out.ndim)
                    assert out_spec[: len(lead)] == tuple(lead), f"{where}: output {out_spec}"
                for g in got[1]:
                    assert _padded(g.sharding.spec, g.ndim) == tuple(spec), f"{where}: grad"
            else:
                assert "all-gather" in hlo, f"{where}: the item axis was not gathered"
            checked.append(where)
    return {"checked": checked}


def _vmap_in_sharded_jit() -> dict[str, Any]:
    """``vmap`` inside a sharded ``jit`` (ε shared and mapped, the mapped dim sharded): the same
    bits as on one device, no all-gather."""
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import rank_relax.jax as rj

    mesh = jax.make_mesh((DEVICES,), ("x",))
    x = jnp.asarray(make_inputs("soft_rank", (DEVICES, 2, ITEMS), seed=3)["values"])
    eps = jnp.asarray([0.1, 0.5, 1.0, 2.0])
    checked = []
    for name, f, e in [
        ("ε shared", jax.vmap(lambda v, e: rj.soft_rank(v, e), in_axes=(0, None)), 0.5),
        ("ε mapped", jax.vmap(lambda v, e: rj.soft_rank(v, e)), eps),
        ("grad, ε mapped", jax.vmap(jax.grad(lambda v, e: (rj.soft_sort(v, e) ** 2).sum())), eps),
    ]:
        jitted = jax.jit(f)
        want = jitted(x, e)
        xs = jax.device_put(x, NamedSharding(mesh, P("x")))
        es = e if isinstance(e, float) else jax.device_put(e, NamedSharding(mesh, P("x")))
        got = jitted(xs, es)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=name)
        assert "all-gather" not in jitted.lower(xs, es).compile().as_text(), name
        checked.append(name)
    return {"checked": checked}


def _shard_map() -> dict[str, Any]:
    """Every op inside ``shard_map`` (the rows split over 4 devices, ε replicated), value and
    gradients, against one device; ε's gradient is summed over the devices, as for any JAX op
    on a replicated argument."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((DEVICES,), ("x",))
    checked = []
    for op in OPS:
        inputs, eps, cot = _case(op, (BATCH, ITEMS), seed=11)
        run = _value_and_grads(op)
        want = jax.jit(run)(inputs, eps, cot)
        mapped = jax.jit(
            jax.shard_map(
                run,
                mesh=mesh,
                in_specs=({n: P("x") for n in inputs}, P(), P("x")),
                out_specs=(P("x"), P("x"), P()),
            )
        )
        rows = NamedSharding(mesh, P("x"))
        put = {n: jax.device_put(v, rows) for n, v in inputs.items()}
        _compare(f"{op} shard_map", mapped(put, eps, _put_cotangent(cot, mesh, ("x",))), want)
        checked.append(op)
    return {"checked": checked}


def _pmap() -> dict[str, Any]:
    """Every op under ``pmap`` (one block of rows per device), value and gradients; ε's
    gradient is per device, and sums to the one-device gradient."""
    checked = []
    for op in OPS:
        inputs, eps, cot = _case(op, (BATCH, ITEMS), seed=13)
        run = _value_and_grads(op)
        want = jax.jit(run)(inputs, eps, cot)

        def split(a: Any) -> Any:
            return a.reshape(DEVICES, -1, *a.shape[1:])

        out, grads, eps_grads = jax.pmap(run, in_axes=(0, None, 0))(
            {n: split(v) for n, v in inputs.items()}, eps, jax.tree.map(split, cot)
        )
        got = (
            jax.tree.map(lambda o, w: np.asarray(o).reshape(np.shape(w)), out, want[0]),
            [np.asarray(g).reshape(np.shape(w)) for g, w in zip(grads, want[1])],
            np.sum(np.asarray(eps_grads)),
        )
        _compare(f"{op} pmap", got, want)
        checked.append(op)
    return {"checked": checked}


def _global_spearman() -> dict[str, Any]:
    """The recipe of docs/guides/distributed.md: each device scores its samples, the scores are
    gathered with ``jax.lax.all_gather`` inside ``shard_map`` and Spearman is taken over all
    samples; the gradient of the model equals the one-device gradient."""
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import rank_relax.jax as rj

    mesh = jax.make_mesh((DEVICES,), ("x",))
    rng = np.random.default_rng(17)
    features = jnp.asarray(rng.standard_normal((64, 5)))
    target = jnp.asarray(rng.standard_normal(64))
    weights = jnp.asarray(rng.standard_normal(5))

    def local_loss(w: Any, local_features: Any) -> Any:
        scores = jax.lax.all_gather(local_features @ w, "x", tiled=True)  # [64] on every device
        loss = rj.spearman_loss(scores, target, regularization_strength=0.1)
        return jax.lax.pmean(loss, "x")  # the same value everywhere: one replicated loss

    sharded = jax.shard_map(local_loss, mesh=mesh, in_specs=(P(), P("x")), out_specs=P())
    rows = jax.device_put(features, NamedSharding(mesh, P("x")))
    loss, grad = jax.jit(jax.value_and_grad(sharded))(weights, rows)
    want_loss, want_grad = jax.value_and_grad(
        lambda w: rj.spearman_loss(features @ w, target, regularization_strength=0.1)
    )(weights)
    np.testing.assert_allclose(float(loss), float(want_loss), rtol=1e-14)
    np.testing.assert_allclose(np.asarray(grad), np.asarray(want_grad), rtol=1e-12, atol=1e-15)
    return {"grad_diff": float(np.max(np.abs(np.asarray(grad) - np.asarray(want_grad))))}


def _shard_map_partial() -> dict[str, Any]:
    """A ``shard_map`` manual over one axis of a 2-D mesh, the batch sharded over both: the
    calls run replicated over the other axis, with the one-device results."""
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    checked = []
    for kind in (AxisType.Auto, AxisType.Explicit):
        mesh = jax.make_mesh((2, 2), ("a", "b"), axis_types=(kind, kind))
        for op in OPS:
            inputs, eps, cot = _case(op, (BATCH, ITEMS), seed=19)
            run = _value_and_grads(op)
            want = jax.jit(run)(inputs, eps, cot)
            mapped = jax.jit(
                jax.shard_map(
                    run,
                    mesh=mesh,
                    in_specs=({n: P("a") for n in inputs}, P(), P("a")),
                    out_specs=(P("a"), P("a"), P()),
                    axis_names={"a"},
                )
            )
            rows = NamedSharding(mesh, P(("a", "b")))
            put = {n: jax.device_put(v, rows) for n, v in inputs.items()}
            where = f"{op} partial shard_map ({kind})"
            _compare(where, mapped(put, eps, _put_cotangent(cot, mesh, (("a", "b"),))), want)
            checked.append(where)
    return {"checked": checked}


def _sharded_error() -> dict[str, Any]:
    """Bad input in a batch-sharded call: the core's error, naming the op and the argument, at
    the row within the shard of the device that checked it (global row 5 of 8 over 4 devices is
    row 1 of device 2), as docs/guides/distributed.md says."""
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import rank_relax.jax as rj

    mesh = jax.make_mesh((DEVICES,), ("x",))
    x = np.ones((BATCH, ITEMS))
    x[5, 1] = np.nan
    xs = jax.device_put(x, NamedSharding(mesh, P("x")))
    with pytest.raises(Exception, match=r"soft_rank: values\[1, 1\] is NaN") as caught:
        jax.jit(lambda v: rj.soft_rank(v, 0.5))(xs).block_until_ready()
    return {"error": str(caught.value)}


def _items_on_axis_0() -> dict[str, Any]:
    """Every op with its items on axis 0 (``axis=0``) and the batch, now dim 1, sharded: the
    moves to and from the last axis keep the batch sharded (no all-gather), and the outputs and
    gradients are those of one device (the loss, a sum over devices, to 1e-13). An
    ``[..., n, n]`` output takes only the last axis, so those ops are not run."""
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import rank_relax.jax as rj

    mesh = jax.make_mesh((DEVICES,), ("x",))
    checked = []
    for op in OPS:
        if any(len(dims) > 1 for dims in OPS[op]["outputs"].values()):
            continue
        names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]
        inputs = {n: v.T for n, v in make_inputs(op, (BATCH, ITEMS), seed=23).items()}

        def loss(args: Any, fixed: Any, op: str = op, names: Any = names, diff: Any = diff) -> Any:
            given = fixed | dict(zip(diff, args))
            out = op_fn(rj, op)(*(given[n] for n in names), axis=0)
            return (jnp.sin(out) * jnp.arange(out.size).reshape(out.shape)).sum()

        run = jax.jit(jax.value_and_grad(loss))
        fixed = {n: jnp.asarray(v) for n, v in inputs.items() if n not in diff}
        want = run([jnp.asarray(inputs[n]) for n in diff], fixed)
        cols = NamedSharding(mesh, P(None, "x"))
        put = [jax.device_put(inputs[n], cols) for n in diff]
        fixed_s = {n: jax.device_put(v, cols) for n, v in fixed.items()}
        got = run(put, fixed_s)
        np.testing.assert_allclose(float(got[0]), float(want[0]), rtol=EPS_RTOL, err_msg=op)
        for g, w in zip(got[1], want[1], strict=True):
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w), err_msg=op)
            assert _padded(g.sharding.spec, g.ndim) == (None, "x"), f"{op}: grad {g.sharding}"
        hlo = run.lower(put, fixed_s).compile().as_text()
        gathers = [text for text in hlo.splitlines() if "all-gather" in text]
        assert not gathers, f"{op}: the program gathers:\n" + "\n".join(gathers)
        checked.append(op)
    return {"checked": checked}


def _jvp_fn(op: str) -> Callable[..., Any]:
    """``(inputs, ε, tangents, ε tangent) -> (outputs, output tangents)`` (forward mode)."""
    import rank_relax.jax as rj

    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]
    takes_eps = EPS_NAME in OPS[op]["reals"]
    fn = op_fn(rj, op)

    def run(inputs: dict[str, Any], eps: Any, tangents: Any, t_eps: Any) -> Any:
        fixed = {n: v for n, v in inputs.items() if n not in diff}

        def f(eps: Any, *args: Any) -> Any:
            given = fixed | dict(zip(diff, args))
            return fn(*(given[n] for n in names), **({EPS_NAME: eps} if takes_eps else {}))

        return jax.jvp(f, (eps, *(inputs[n] for n in diff)), (t_eps, *tangents))

    return run


def _sharded_jvp(axis_type: str) -> dict[str, Any]:
    """Forward mode (the JVP kernel's FFI call and its sharding rule): every op under a
    batch-sharded ``jit`` and inside ``shard_map``, the same bits as on one device, no
    all-gather, output tangents sharded as the outputs."""
    import jax.numpy as jnp
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((DEVICES,), ("x",), axis_types=(getattr(AxisType, axis_type),))
    rows = NamedSharding(mesh, P("x", None))
    checked = []
    for op in OPS:
        inputs, eps, _ = _case(op, (BATCH, ITEMS), seed=29)
        rng = np.random.default_rng(31)
        tangents = [
            jnp.asarray(rng.standard_normal(inputs[n].shape)) for n in OPS[op]["differentiable"]
        ]
        t_eps = jnp.asarray(0.3)
        run = jax.jit(_jvp_fn(op))
        want = run(inputs, eps, tangents, t_eps)
        put = {n: jax.device_put(v, rows) for n, v in inputs.items()}
        put_t = [jax.device_put(t, rows) for t in tangents]
        where = f"{op} jvp ({axis_type})"
        got = run(put, eps, put_t, t_eps)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)
        for t in jax.tree.leaves(got[1]):
            assert _padded(t.sharding.spec, t.ndim)[0] == "x", f"{where}: {t.sharding}"
        hlo = run.lower(put, eps, put_t, t_eps).compile().as_text()
        gathers = [text for text in hlo.splitlines() if "all-gather" in text]
        assert not gathers, f"{where}: the program gathers:\n" + "\n".join(gathers)
        if axis_type == "Auto":
            mapped = jax.jit(
                jax.shard_map(
                    _jvp_fn(op),
                    mesh=mesh,
                    in_specs=({n: P("x") for n in inputs}, P(), P("x"), P()),
                    out_specs=(P("x"), P("x")),
                )
            )
            got = mapped(put, eps, put_t, t_eps)
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
                np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f"{where} sm")
        checked.append(where)
    return {"checked": checked}


def _hvp_fn(op: str) -> Callable[..., Any]:
    """``(inputs, ε, tangents, ε tangent, weights) -> (HVP in ε, HVP in each differentiable
    input)``: forward over reverse of a scalar loss (the HVP kernel)."""
    import jax.numpy as jnp

    import rank_relax.jax as rj

    names, diff = OPS[op]["inputs"], OPS[op]["differentiable"]
    takes_eps = EPS_NAME in OPS[op]["reals"]
    fn = op_fn(rj, op)

    def run(inputs: dict[str, Any], eps: Any, tangents: Any, t_eps: Any, w: Any) -> Any:
        fixed = {n: v for n, v in inputs.items() if n not in diff}

        def loss(eps: Any, *args: Any) -> Any:
            given = fixed | dict(zip(diff, args))
            out = fn(*(given[n] for n in names), **({EPS_NAME: eps} if takes_eps else {}))
            pairs = zip(jax.tree.leaves(out), jax.tree.leaves(w), strict=True)
            return sum(
                jnp.sum(c * o + 0.5 * o**2) for o, c in pairs if c.dtype != jax.dtypes.float0
            )

        grad = jax.grad(loss, argnums=tuple(range(1 + len(diff))))
        return jax.jvp(grad, (eps, *(inputs[n] for n in diff)), (t_eps, *tangents))[1]

    return run


def _sharded_hvp() -> dict[str, Any]:
    """Second order (the HVP kernel's FFI call and its sharding rule): a Hessian-vector product
    of every op under a batch-sharded ``jit``: the input parts the same bits as on one device
    and sharded as the inputs, the ε part to :data:`EPS_RTOL`, no all-gather."""
    import jax.numpy as jnp
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    mesh = jax.make_mesh((DEVICES,), ("x",), axis_types=(AxisType.Auto,))
    rows = NamedSharding(mesh, P("x", None))
    checked = []
    for op in OPS:
        inputs, eps, cot = _case(op, (BATCH, ITEMS), seed=37)
        rng = np.random.default_rng(41)
        tangents = [
            jnp.asarray(rng.standard_normal(inputs[n].shape)) for n in OPS[op]["differentiable"]
        ]
        t_eps = jnp.asarray(0.3)
        run = jax.jit(_hvp_fn(op))
        want = run(inputs, eps, tangents, t_eps, cot)
        put = {n: jax.device_put(v, rows) for n, v in inputs.items()}
        put_t = [jax.device_put(t, rows) for t in tangents]
        put_c = _put_cotangent(cot, mesh, ("x",))
        where = f"{op} hvp"
        got = run(put, eps, put_t, t_eps, put_c)
        np.testing.assert_allclose(
            np.asarray(got[0]), np.asarray(want[0]), rtol=EPS_RTOL, err_msg=f"{where}: ε"
        )
        for a, b in zip(got[1:], want[1:], strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)
            assert _padded(a.sharding.spec, a.ndim)[0] == "x", f"{where}: {a.sharding}"
        hlo = run.lower(put, eps, put_t, t_eps, put_c).compile().as_text()
        gathers = [text for text in hlo.splitlines() if "all-gather" in text]
        assert not gathers, f"{where}: the program gathers:\n" + "\n".join(gathers)
        checked.append(where)
    return {"checked": checked}


def _mask(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """A mask with at least two present items per row but in one row, which has none."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.6
    mask[..., :2] = True
    mask.reshape(-1, shape[-1])[3] = False
    return mask


def _masked(axis_type: str) -> dict[str, Any]:
    """Every op with a mask under a batch-sharded ``jit`` (the mask sharded as the inputs) and,
    with auto axes, inside ``shard_map``: the bits of one device, no all-gather, the outputs and
    gradients sharded as the inputs; and ``vmap`` over a batched mask in a sharded ``jit``."""
    import jax.numpy as jnp
    from jax.sharding import AxisType, NamedSharding
    from jax.sharding import PartitionSpec as P

    import rank_relax.jax as rj

    mesh = jax.make_mesh((DEVICES,), ("x",), axis_types=(getattr(AxisType, axis_type),))
    rows = NamedSharding(mesh, P("x", None))
    checked = []
    for op in OPS:
        inputs, eps, cot = _case(op, (BATCH, ITEMS), seed=43)
        mask = jnp.asarray(_mask((BATCH, ITEMS), seed=47))
        run = jax.jit(_value_and_grads(op))
        want = run(inputs, eps, cot, mask)
        put = {n: jax.device_put(v, rows) for n, v in inputs.items()}
        put_m = jax.device_put(mask, rows)
        put_c = _put_cotangent(cot, mesh, ("x",))
        where = f"{op} masked ({axis_type})"
        got = run(put, eps, put_c, put_m)
        _compare(where, got, want)
        hlo = run.lower(put, eps, put_c, put_m).compile().as_text()
        gathers = [text for text in hlo.splitlines() if "all-gather" in text]
        assert not gathers, f"{where}: the program gathers:\n" + "\n".join(gathers)
        for out in jax.tree.leaves(got[0]):
            assert _padded(out.sharding.spec, out.ndim)[0] == "x", f"{where}: {out.sharding}"
        for g in got[1]:
            assert _padded(g.sharding.spec, g.ndim) == ("x", None), f"{where}: grad"
        if axis_type == "Auto":
            mapped = jax.jit(
                jax.shard_map(
                    _value_and_grads(op),
                    mesh=mesh,
                    in_specs=({n: P("x") for n in inputs}, P(), P("x"), P("x")),
                    out_specs=(P("x"), P("x"), P()),
                )
            )
            _compare(f"{where} shard_map", mapped(put, eps, put_c, put_m), want)
        checked.append(where)
    x = jnp.asarray(make_inputs("soft_rank", (DEVICES, 2, ITEMS), seed=53)["values"])
    masks = jnp.asarray(_mask((DEVICES, 2, ITEMS), seed=59))
    jitted = jax.jit(jax.vmap(jax.grad(lambda v, m: (rj.soft_sort(v, 0.5, mask=m) ** 2).sum())))
    want = jitted(x, masks)
    sharded = NamedSharding(mesh, P("x"))
    xs, ms = jax.device_put(x, sharded), jax.device_put(masks, sharded)
    np.testing.assert_array_equal(np.asarray(jitted(xs, ms)), np.asarray(want))
    assert "all-gather" not in jitted.lower(xs, ms).compile().as_text()
    checked.append(f"vmap over a batched mask ({axis_type})")
    return {"checked": checked}


def _gspmd() -> dict[str, Any]:
    """Auto axes with the GSPMD partitioner instead of Shardy (``infer_sharding_from_operands``
    instead of the Shardy rule)."""
    previous = jax.config.jax_use_shardy_partitioner
    jax.config.update("jax_use_shardy_partitioner", False)
    try:
        return _sharded_jit("Auto")
    finally:
        jax.config.update("jax_use_shardy_partitioner", previous)


SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "jit_auto": lambda: _sharded_jit("Auto"),
    "jit_auto_gspmd": _gspmd,
    "jit_explicit": lambda: _sharded_jit("Explicit"),
    "vmap_in_sharded_jit": _vmap_in_sharded_jit,
    "shard_map": _shard_map,
    "shard_map_partial": _shard_map_partial,
    "pmap": _pmap,
    "global_spearman": _global_spearman,
    "sharded_error": _sharded_error,
    "items_on_axis_0": _items_on_axis_0,
    "jvp_auto": lambda: _sharded_jvp("Auto"),
    "jvp_explicit": lambda: _sharded_jvp("Explicit"),
    "hvp_auto": _sharded_hvp,
    "masked_auto": lambda: _masked("Auto"),
    "masked_explicit": lambda: _masked("Explicit"),
}


def _run_all(out: str) -> None:
    """The subprocess: every scenario, outcomes to ``out`` as JSON."""
    jax.config.update("jax_enable_x64", True)
    assert jax.device_count() == DEVICES, jax.devices()
    results: dict[str, Any] = {}
    for name, scenario in SCENARIOS.items():
        try:
            results[name] = {"ok": True, **scenario()}
        except (Exception, pytest.fail.Exception):  # reported to the test, which fails
            results[name] = {"ok": False, "error": traceback.format_exc()}
    Path(out).write_text(json.dumps(results), encoding="utf-8")


# ------------------------------------------------------------------------------------------------
# The tests


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Any]:
    tests = Path(__file__).resolve().parent
    env = dict(
        os.environ,
        XLA_FLAGS=f"{os.environ.get('XLA_FLAGS', '')} "
        f"--xla_force_host_platform_device_count={DEVICES}".strip(),
        JAX_PLATFORMS="cpu",
        RANK_RELAX_NUM_THREADS="1",
    )
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch, "outcomes.json")
        code = (
            f"import sys; sys.path.insert(0, {str(tests)!r}); "
            f"import test_jax_sharding as t; t._run_all({str(out)!r})"
        )
        try:
            result = subprocess.run(
                [sys.executable, "-c", code],
                capture_output=True,
                text=True,
                env=env,
                cwd=scratch,
                timeout=TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"the {DEVICES}-device JAX run took longer than {TIMEOUT} s")
        assert result.returncode == 0, result.stderr[-5000:]
        outcomes: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return outcomes


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sharded(outcomes: dict[str, Any], scenario: str) -> None:
    outcome = outcomes[scenario]
    assert outcome["ok"], f"{scenario}:\n{outcome['error']}"


def test_rules_cover_every_kernel() -> None:
    """The generated table has every kernel of the spec, with the operands and results of its
    FFI call (what the sharding rules are made from)."""
    from rank_relax._generated import KERNELS
    from rank_relax.jax._sharding_table import CALLS

    assert set(CALLS) == set(KERNELS)
    for op, spec in OPS.items():
        forward = CALLS[f"{op}_forward"]
        names = [b.name for b in forward.operands]
        # An optional input (a mask) last: a call without it has the operands of before.
        assert names == [*spec["inputs"], *spec["reals"], *spec["optional"]], op
        assert [b.optional for b in forward.operands] == [
            b.name in spec["optional"] for b in forward.operands
        ], op
        results = {b.name: b.row for b in forward.results}
        for name, dims in spec["outputs"].items():
            # The spec table spells m as len(quantiles); the row dims are the same in number.
            assert len(results[name]) == len(dims), (op, name, results[name], dims)
            assert [d == "n" for d in results[name]] == [d == "n" for d in dims], (op, name)


def test_rule_of_other_shapes() -> None:
    """The rule is generic in the table: a ``[batch, n, n]`` result and a ``[batch, k]`` one
    keep their batch dims shardable and every other dim whole, with ε replicated."""
    from jax.extend.mlir import ir
    from jax.interpreters import mlir

    from rank_relax.jax._sharding import sharding_rule
    from rank_relax.jax._sharding_table import Buffer, Call

    call = Call(
        operands=(Buffer("values", ("n",), "real"), Buffer("regularization_strength", (), "real")),
        results=(Buffer("pairs", ("n", "n"), "real"), Buffer("top", ("k",), "int32")),
    )
    with mlir.make_ir_context(), ir.Location.unknown():
        f64 = ir.F64Type.get()
        types = [ir.RankedTensorType.get(s, f64) for s in [(2, 3, 5), (), (2, 3, 5, 5), (2, 3, 4)]]
        rule = sharding_rule(call, None, types[:2], types[2:])
    assert rule.operand_mappings == (("batch0", "batch1", "n"), ())
    assert rule.result_mappings == (("batch0", "batch1", "n", "n_2"), ("batch0", "batch1", "k"))
    assert set(rule.need_replication_factors) == {"n", "n_2", "k"}


def test_a_stale_table_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A call whose operands the table does not list (a table not regenerated after the FFI
    glue changed) is refused by name, not partitioned with a wrong rule."""
    import jax.numpy as jnp

    import rank_relax.jax as rj
    from rank_relax.jax import _plumbing, _sharding

    if _plumbing._register() is None:
        pytest.skip(f"XLA FFI handlers unavailable: {_plumbing._ffi_error}")
    previous = rj.set_kernel_call("ffi")
    stale = _sharding.CALLS["soft_rank_forward"]
    monkeypatch.setitem(
        _sharding.CALLS, "soft_rank_forward", stale._replace(operands=stale.operands[:1])
    )
    _sharding._ffi_kernel.cache_clear()
    jax.clear_caches()
    try:
        want = "soft_rank_forward has 2 operands but its sharding table lists 1"
        with pytest.raises(RuntimeError, match=want):
            jax.jit(lambda v: rj.soft_rank(v, 0.5))(jnp.ones((2, 3)))
    finally:
        monkeypatch.undo()
        _sharding._ffi_kernel.cache_clear()
        rj.set_kernel_call(previous)
        jax.clear_caches()
