"""Replays a reference file's cases through the NumPy, PyTorch and JAX APIs (``frameworks.api``):
float64 against the file (outputs to 1e-9 absolute + relative, VJPs to 1e-7 absolute + 1e-9
relative, torch's and JAX's ε gradient against the sum of the file's per-row values), float32
against the same API's own float64 result on the float32-rounded inputs, to 1e-4 of the row's
largest magnitude (ALGORITHMS.md). Bool inputs (a mask) are passed as bool arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from _spec import OPS
from compare import assert_close, assert_close_rows
from frameworks import api
from inputs import op_fn

SPECIAL = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


def case_ids(cases: list[dict[str, Any]]) -> Callable[[int], str]:
    """pytest ids of the cases: index, op and params."""

    def case_id(index: int) -> str:
        case = cases[index]
        params = ",".join(str(v) for v in case["params"].values()).replace(" ", "")
        return f"{index}-{case['op']}-{params}"

    return case_id


def inputs_of(case: dict[str, Any], dtype: type) -> dict[str, np.ndarray]:
    bools = OPS[case["op"]]["bool_inputs"]
    out = {}
    for name, rows in case["inputs"].items():
        if name in bools:
            out[name] = np.asarray(rows, dtype=np.bool_)
        elif name in OPS[case["op"]]["int_inputs"]:
            out[name] = np.asarray(rows, dtype=np.int32)
        else:
            values = np.vectorize(lambda x: SPECIAL.get(x, x), otypes=[np.float64])(
                np.asarray(rows, dtype=object)
            )
            out[name] = values.astype(dtype)
    return out


def per_row(op: str) -> bool:
    """Whether the op returns one value per row (a loss)."""
    return next(iter(OPS[op]["outputs"].values())) == []


def torch_eps_gradient(
    op: str, inputs: dict[str, np.ndarray], params: dict[str, Any], cot: Any
) -> Any:
    """torch's gradient of ⟨cotangent, output⟩ with respect to a tensor ε, with the mask."""
    import torch

    import rank_relax.torch as rt

    given = dict(params)
    eps = torch.tensor(given.pop("regularization_strength"), dtype=torch.float64)
    eps.requires_grad_()
    tensors = [torch.as_tensor(inputs[n]) for n in OPS[op]["inputs"]]
    optional = {n: torch.as_tensor(inputs[n]) for n in OPS[op]["optional"] if n in inputs}
    out = op_fn(rt, op)(*tensors, regularization_strength=eps, **given, **optional)
    (grad,) = torch.autograd.grad(out, [eps], torch.as_tensor(cot))
    return grad.item()


def jax_eps_gradient(
    op: str, inputs: dict[str, np.ndarray], params: dict[str, Any], cot: Any
) -> Any:
    """JAX's gradient of ⟨cotangent, output⟩ with respect to ε, with the mask."""
    import jax
    import jax.numpy as jnp

    import rank_relax.jax as rj

    given = dict(params)
    eps = jnp.asarray(given.pop("regularization_strength"), jnp.float64)
    arrays = [jnp.asarray(inputs[n]) for n in OPS[op]["inputs"]]
    optional = {n: jnp.asarray(inputs[n]) for n in OPS[op]["optional"] if n in inputs}

    def f(e: Any) -> Any:
        return op_fn(rj, op)(*arrays, regularization_strength=e, **given, **optional)

    _, pullback = jax.vjp(f, eps)
    (grad,) = pullback(jnp.asarray(cot))
    return float(grad)


#: The APIs whose ε is differentiable (NumPy's ``<op>_vjp`` returns the inputs' gradients only).
EPS_GRADIENT = {"torch": torch_eps_gradient, "jax": jax_eps_gradient}


def check_float64(name: str, case: dict[str, Any]) -> None:
    """The case's output, VJP and (where the API has it) ε gradient in float64, against the file."""
    fw = api(name)
    op, params = case["op"], case["params"]
    inputs = inputs_of(case, np.float64)
    out = fw.call(op, inputs, params)
    assert out.dtype == np.float64
    assert_close(f"{op} output", out, case["output"], 1e-9, 1e-9)
    if "vjp" in case:
        cot = np.asarray(case["cotangent"], np.float64)
        grads = fw.vjp(op, inputs, params, cot)
        for input_name, want in case["vjp"].items():
            assert_close(f"{op} vjp[{input_name}]", grads[input_name], want, 1e-7, 1e-9)
        if name in EPS_GRADIENT and "grad_regularization_strength" in case:
            want = float(np.sum(case["grad_regularization_strength"]))
            got = EPS_GRADIENT[name](op, inputs, params, cot)
            assert_close(f"{op} grad_regularization_strength", got, want, 1e-7, 1e-9)


def check_float32(name: str, case: dict[str, Any]) -> None:
    """The case in float32 against the same API's float64 on the float32-rounded inputs."""
    fw = api(name)
    op = case["op"]
    params = dict(case["params"])
    params["regularization_strength"] = float(np.float32(params["regularization_strength"]))
    if "quantiles" in params:  # the float32 kernel takes them in float32
        params["quantiles"] = [float(np.float32(q)) for q in params["quantiles"]]
    inputs32 = inputs_of(case, np.float32)
    inputs64 = {k: v.astype(np.float64) if v.dtype.kind == "f" else v for k, v in inputs32.items()}
    loss = per_row(op)
    out32 = fw.call(op, inputs32, params)
    assert out32.dtype == np.float32
    want = fw.call(op, inputs64, params)
    assert_close_rows(f"{op} output", out32, want, 1e-4, 1.0 if loss else 0.0, per_row=loss)
    if "cotangent" in case:
        cot32 = np.asarray(case["cotangent"], np.float32)
        got = fw.vjp(op, inputs32, params, cot32)
        want_grads = fw.vjp(op, inputs64, params, cot32.astype(np.float64))
        for input_name, g in got.items():
            assert g.dtype == np.float32
            assert_close_rows(f"{op} vjp[{input_name}]", g, want_grads[input_name], 1e-4, 1e-8)
