"""rank-relax for JAX: differentiable soft ranks, soft sorts and ranking losses.

The functions of ``rank_relax`` for JAX arrays: each is a ``jax.custom_jvp`` whose forward saves
the residuals its JVP, analytical backward and HVP need, and works under ``jit``, ``jvp``, ``grad``,
``vmap`` and their compositions; second derivatives in reverse mode (``jax.hessian``,
``jacrev(jacrev)``, ``grad`` of a gradient) run the HVP kernel and are exact. Under a transform the
kernels run as XLA FFI custom calls on the CPU (XLA hands them its buffers: no copy, no Python), or
through ``jax.pure_callback`` where the FFI handlers cannot be
registered; :func:`set_kernel_call` (or ``RANK_RELAX_JAX_KERNEL_CALL``) picks one. Results are
float32 unless ``jax_enable_x64`` is on and the input is float64. The FFI calls have sharding
rules: under a ``jit`` with batch-sharded inputs each device computes its own rows, and they work
inside ``shard_map`` and ``pmap`` (docs/guides/distributed.md).
"""

from __future__ import annotations

from . import _generated
from ._generated import *  # noqa: F403
from ._plumbing import kernel_call, set_kernel_call

__all__: list[str] = ["kernel_call", "set_kernel_call"]
__all__ += _generated.__all__
