"""DTensor sharding rules for the custom ops of ``rank_relax.torch``.

Every op computes on the rows of ``[batch, n]`` tensors independently, so a tensor sharded on the
batch dim (``Shard(0)``) can be computed shard by shard: each process runs the kernels on its own
rows and the results stay sharded the same way. The dims after the batch (the items, a row's
``n × n`` matrix, its ``m`` quantiles) must be whole: a caller who shards one (or passes a
``Partial`` tensor) gets it redistributed by DTensor before the kernel runs — to batch-sharded rows
or to a replicated tensor, whichever DTensor finds cheaper — never a result computed on part of a
row.

The rules, for each ``torch.ops.rank_relax.<op>_forward`` / ``_backward`` / ``_jvp`` / ``_hvp``:

- batch-sharded: every tensor argument with at least one dim (the ``[batch, n]`` views, the
  ``[batch]`` cotangents of the losses, the ``[batch, n, n]`` and ``[batch, m]`` outputs and
  cotangents) is ``Shard(0)``, a 0-d tensor (``regularization_strength``) is ``Replicate()``, a
  param that is not a tensor (``k``, ``quantiles``, an enum) has no placement, and every output
  (``[batch, ...]``: the batch is dim 0 of each, as the ops' fake implementations say) is
  ``Shard(0)``;
- replicated: everything ``Replicate()``.

The ops come from the kernel table of the generated NumPy module (``KERNELS``: one entry per op
and pass), the number of outputs from the custom op schemas and the tensor arguments and their
ranks from the arguments of each call, so an op added to the spec gets its rules without an edit
here.

:func:`register` runs when ``rank_relax.torch`` is imported if ``torch.distributed.tensor``
already is, else right after ``torch.distributed.tensor`` is imported (:func:`register_on_import`:
a finder on ``sys.meta_path`` that waits for that one module; importing DTensor ourselves would
add about half a second to ``import rank_relax.torch``). As a last resort, the first call of a
public function that sees a tensor subclass registers them. Calling :func:`register` yourself is
harmless: it registers once.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import torch

__all__ = ["op_overloads", "register", "register_if_loaded", "register_on_import", "registered"]

_REGISTERED = False


def op_overloads() -> list[Any]:
    """The custom ops of ``rank_relax.torch`` (``torch.ops.rank_relax.<op>_<pass>.default``), one
    per entry of the generated kernel table."""
    from .. import _generated as numpy_api
    from . import _generated  # noqa: F401  (defines the custom ops)

    namespace = torch.ops.rank_relax
    return [getattr(namespace, name).default for name in sorted(numpy_api.KERNELS)]


def registered() -> bool:
    """Whether the sharding rules are registered."""
    return _REGISTERED


def register() -> None:
    """Registers the DTensor sharding rules of every rank-relax custom op (once).

    Raises ``ImportError`` when this torch has no ``torch.distributed`` (or no DTensor).
    """
    global _REGISTERED
    if _REGISTERED:
        return
    from torch.distributed.tensor import Replicate, Shard
    from torch.distributed.tensor._dtensor_spec import DTensorSpec
    from torch.distributed.tensor.experimental import register_sharding

    def placements(specs: Sequence[Any], batch: bool) -> list[Any]:
        """The placement of each argument (None: not a tensor) when the op runs batch-sharded
        (``batch``) or replicated."""
        result: list[Any] = []
        for spec in specs:
            if not isinstance(spec, DTensorSpec):
                result.append(None)
            elif batch and spec.ndim > 0:
                result.append(Shard(0))
            else:
                result.append(Replicate())
        return result

    for overload in op_overloads():

        def rule(
            *args: Any, _n_outputs: int = len(overload._schema.returns), **kwargs: Any
        ) -> list[tuple[list[Any], list[Any]]]:
            # The op's tensors arrive as DTensorSpecs (a plain 0-d tensor as a replicated one),
            # in the order of the op's arguments, then its keyword arguments.
            specs = [*args, *kwargs.values()]
            return [
                ([Shard(0)] * _n_outputs, placements(specs, batch=True)),
                ([Replicate()] * _n_outputs, placements(specs, batch=False)),
            ]

        register_sharding(overload)(rule)
    _REGISTERED = True


def register_if_loaded() -> None:
    """Registers the rules if ``torch.distributed.tensor`` is imported (there can be no DTensor
    before): a check of ``sys.modules``, so cheap enough for every call that sees a tensor
    subclass."""
    if not _REGISTERED and "torch.distributed.tensor" in sys.modules:
        register()


_DTENSOR = "torch.distributed.tensor"


class _Loader(importlib.abc.Loader):
    """The loader of ``torch.distributed.tensor``, then :func:`register`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with contextlib.suppress(Exception):  # the first DTensor call tries again
            register()


class _Finder(importlib.abc.MetaPathFinder):
    """Waits for the import of ``torch.distributed.tensor`` (then leaves ``sys.meta_path``)."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _DTENSOR:
            return None
        _remove_finder()
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(spec.loader)
        return spec


_FINDER = _Finder()


def _remove_finder() -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)


def register_on_import() -> None:
    """Registers the rules now if ``torch.distributed.tensor`` is imported, else as soon as it
    is (nothing happens if it never is)."""
    if _REGISTERED:
        return
    if _DTENSOR in sys.modules:
        register()
    elif _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
