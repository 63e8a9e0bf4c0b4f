"""rank-relax for PyTorch: differentiable soft ranks, soft sorts and ranking losses.

The functions of ``rank_relax`` for tensors, with autograd: each op is a pair of
``torch.library`` custom ops (``torch.ops.rank_relax.<op>_forward`` and ``<op>_backward``), so
``torch.compile(fullgraph=True)`` traces them without a graph break. A torchsort user migrates by
changing the import: ``rank_relax.torch.soft_rank(x, regularization_strength=0.1)`` equals
``torchsort.soft_rank(x, regularization_strength=0.1)`` for 2-D float input.
"""

from __future__ import annotations

from . import _generated, _sharding
from ._generated import *  # noqa: F403

# DTensor sharding rules for the custom ops: now if torch.distributed.tensor is loaded, else when
# it is (importing it here would slow the import by about half a second).
_sharding.register_on_import()

__all__: list[str] = []
__all__ += _generated.__all__
