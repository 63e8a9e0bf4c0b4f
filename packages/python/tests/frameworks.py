"""One interface over the three public APIs, so the same checks run through each.

``call(op, inputs, params)`` runs the public function on NumPy inputs and returns NumPy results;
``vjp(op, inputs, params, cotangent)`` returns the gradient of each differentiable input, taken
the framework's own way (the NumPy ``<op>_vjp``, ``torch.autograd.grad``, ``jax.vjp``). An
optional input (``mask``) in ``inputs`` is passed as a keyword argument, absent otherwise.
``outputs`` and ``vjps`` do the same for an op of any number of outputs (a named tuple): every
output by name, and the gradients for one cotangent per differentiable output (``diff_outputs``).
"""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import rank_relax
from _spec import OPS
from inputs import op_fn

NAMES = ("numpy", "torch", "jax")


def _args(op: str, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    return [inputs[name] for name in OPS[op]["inputs"]]


def _kwargs(op: str, inputs: dict[str, np.ndarray], convert: Any = None) -> dict[str, Any]:
    """The optional inputs given in ``inputs``, each through ``convert`` (a framework's array)."""
    return {
        name: inputs[name] if convert is None else convert(inputs[name])
        for name in OPS[op]["optional"]
        if name in inputs
    }


def _named(op: str, out: Any, convert: Any) -> dict[str, np.ndarray]:
    """An op's result by output name: the fields of its named tuple, or its one array."""
    names = list(OPS[op]["outputs"])
    values = out if len(names) > 1 else (out,)
    return {name: convert(v) for name, v in zip(names, values)}


def _same(value: Any) -> Any:
    return value


def _tensor(torch: Any, array: np.ndarray, requires_grad: bool = False) -> Any:
    """A tensor of the array, a view where torch can have one (not of negative strides)."""
    if any(s < 0 for s in array.strides):
        array = array.copy()
    return torch.as_tensor(array).requires_grad_(requires_grad)


class NumpyApi:
    name = "numpy"

    def call(self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any]) -> np.ndarray:
        return np.asarray(
            op_fn(rank_relax, op)(*_args(op, inputs), **params, **_kwargs(op, inputs))
        )

    def vjp(
        self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any], cotangent: np.ndarray
    ) -> dict[str, np.ndarray]:
        grads = getattr(rank_relax, f"{op}_vjp")(
            *_args(op, inputs), cotangent, **params, **_kwargs(op, inputs)
        )
        differentiable = OPS[op]["differentiable"]
        if len(differentiable) == 1:
            grads = (grads,)
        return {name: np.asarray(g) for name, g in zip(differentiable, grads)}

    def outputs(
        self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        out = getattr(rank_relax, op)(*_args(op, inputs), **params, **_kwargs(op, inputs))
        return _named(op, out, np.asarray)

    def vjps(
        self,
        op: str,
        inputs: dict[str, np.ndarray],
        params: dict[str, Any],
        cotangents: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        cots = [cotangents[n] for n in OPS[op]["diff_outputs"]]
        grads = getattr(rank_relax, f"{op}_vjp")(
            *_args(op, inputs), *cots, **params, **_kwargs(op, inputs)
        )
        differentiable = OPS[op]["differentiable"]
        grads = grads if isinstance(grads, tuple) else (grads,)
        return dict(zip(differentiable, grads))


class TorchApi:
    name = "torch"

    def __init__(self) -> None:
        import torch

        import rank_relax.torch

        self.torch = torch
        self.module = rank_relax.torch

    def call(self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any]) -> np.ndarray:
        tensors = [_tensor(self.torch, a) for a in _args(op, inputs)]
        optional = _kwargs(op, inputs, lambda a: _tensor(self.torch, a))
        return op_fn(self.module, op)(*tensors, **params, **optional).detach().numpy()

    def vjp(
        self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any], cotangent: np.ndarray
    ) -> dict[str, np.ndarray]:
        differentiable = OPS[op]["differentiable"]
        tensors = {
            name: _tensor(self.torch, inputs[name], name in differentiable)
            for name in OPS[op]["inputs"]
        }
        optional = _kwargs(op, inputs, lambda a: _tensor(self.torch, a))
        out = op_fn(self.module, op)(*tensors.values(), **params, **optional)
        grads = self.torch.autograd.grad(
            out, [tensors[n] for n in differentiable], self.torch.from_numpy(cotangent)
        )
        return {name: g.numpy() for name, g in zip(differentiable, grads)}

    def outputs(
        self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        tensors = [_tensor(self.torch, a) for a in _args(op, inputs)]
        optional = _kwargs(op, inputs, lambda a: _tensor(self.torch, a))
        out = getattr(self.module, op)(*tensors, **params, **optional)
        return _named(op, out, lambda t: t.detach().numpy())

    def vjps(
        self,
        op: str,
        inputs: dict[str, np.ndarray],
        params: dict[str, Any],
        cotangents: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        differentiable = OPS[op]["differentiable"]
        tensors = {
            name: _tensor(self.torch, inputs[name], name in differentiable)
            for name in OPS[op]["inputs"]
        }
        optional = _kwargs(op, inputs, lambda a: _tensor(self.torch, a))
        out = _named(op, getattr(self.module, op)(*tensors.values(), **params, **optional), _same)
        diff = OPS[op]["diff_outputs"]
        grads = self.torch.autograd.grad(
            [out[n] for n in diff],
            [tensors[n] for n in differentiable],
            [self.torch.from_numpy(cotangents[n]) for n in diff],
        )
        return {name: g.numpy() for name, g in zip(differentiable, grads)}


class JaxApi:
    name = "jax"

    def __init__(self) -> None:
        import jax
        import jax.numpy as jnp

        import rank_relax.jax

        self.jax = jax
        self.jnp = jnp
        self.module = rank_relax.jax

    def call(self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any]) -> np.ndarray:
        arrays = [self.jnp.asarray(a) for a in _args(op, inputs)]
        optional = _kwargs(op, inputs, self.jnp.asarray)
        return np.asarray(op_fn(self.module, op)(*arrays, **params, **optional))

    def vjp(
        self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any], cotangent: np.ndarray
    ) -> dict[str, np.ndarray]:
        names = OPS[op]["inputs"]
        differentiable = OPS[op]["differentiable"]
        fixed = {n: self.jnp.asarray(inputs[n]) for n in names if n not in differentiable}
        optional = _kwargs(op, inputs, self.jnp.asarray)

        def f(*diff: Any) -> Any:
            given = dict(zip(differentiable, diff)) | fixed
            return op_fn(self.module, op)(*(given[n] for n in names), **params, **optional)

        _, pullback = self.jax.vjp(f, *(self.jnp.asarray(inputs[n]) for n in differentiable))
        grads = pullback(self.jnp.asarray(cotangent))
        return {name: np.asarray(g) for name, g in zip(differentiable, grads)}

    def outputs(
        self, op: str, inputs: dict[str, np.ndarray], params: dict[str, Any]
    ) -> dict[str, np.ndarray]:
        arrays = [self.jnp.asarray(a) for a in _args(op, inputs)]
        optional = _kwargs(op, inputs, self.jnp.asarray)
        return _named(op, getattr(self.module, op)(*arrays, **params, **optional), np.asarray)

    def vjps(
        self,
        op: str,
        inputs: dict[str, np.ndarray],
        params: dict[str, Any],
        cotangents: dict[str, np.ndarray],
    ) -> dict[str, np.ndarray]:
        names = OPS[op]["inputs"]
        differentiable = OPS[op]["differentiable"]
        diff_outputs = OPS[op]["diff_outputs"]
        fixed = {n: self.jnp.asarray(inputs[n]) for n in names if n not in differentiable}
        optional = _kwargs(op, inputs, self.jnp.asarray)

        def f(*diff: Any) -> Any:
            given = dict(zip(differentiable, diff)) | fixed
            out = getattr(self.module, op)(*(given[n] for n in names), **params, **optional)
            named = _named(op, out, _same)
            return tuple(named[n] for n in diff_outputs)

        _, pullback = self.jax.vjp(f, *(self.jnp.asarray(inputs[n]) for n in differentiable))
        grads = pullback(tuple(self.jnp.asarray(cotangents[n]) for n in diff_outputs))
        return {name: np.asarray(g) for name, g in zip(differentiable, grads)}


_APIS = {"numpy": NumpyApi, "torch": TorchApi, "jax": JaxApi}


def api(name: str) -> Any:
    """The API ``name``, or a skip when its framework is not installed (the NumPy-only venv)."""
    if name != "numpy":
        try:
            importlib.import_module(name)
        except ImportError:
            pytest.skip(f"{name} is not installed")
    return _APIS[name]()
