"""rank-relax for JAX: differentiable soft ranks, soft sorts and ranking losses.

The functions of ``rank_relax`` for JAX arrays: each is a ``jax.custom_vjp`` whose forward saves
the residuals its analytical backward needs; the kernels run on the host through
``jax.pure_callback`` and work under ``jit``, ``grad``, ``vmap`` and their compositions. Results
are float32 unless ``jax_enable_x64`` is on and the input is float64.
"""

from __future__ import annotations

from . import _generated
from ._generated import *  # noqa: F403

__all__: list[str] = []
__all__ += _generated.__all__
