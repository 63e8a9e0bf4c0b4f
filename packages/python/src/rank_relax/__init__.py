"""rank-relax: differentiable sorting and ranking with analytical gradients.

This module is the NumPy API; ``rank_relax.torch`` and ``rank_relax.jax`` have the same functions,
with the same arguments, for PyTorch tensors and JAX arrays, differentiable. Every function ranks
along the last axis; leading axes are independent rows.

>>> import numpy as np, rank_relax
>>> rank_relax.soft_rank(np.array([[3.0, 1.0, 2.0]]), regularization_strength=0.1)
array([[3., 1., 2.]])
"""

from __future__ import annotations

from . import _abi, _native

if (_native.ABI_HASH, _native.ABI_VERSION) != (_abi.ABI_HASH, _abi.ABI_VERSION):
    raise ImportError(
        f"rank_relax: the native module ({_native.__file__}) was built for ABI hash "
        f"0x{_native.ABI_HASH:016x} (ABI version {_native.ABI_VERSION}, package "
        f"{_native.__version__}), but the Python code of this package was generated for ABI hash "
        f"0x{_abi.ABI_HASH:016x} (ABI version {_abi.ABI_VERSION}, package {_abi.VERSION}). "
        f"The installation mixes two builds: reinstall the package (pip install --force-reinstall "
        f"rank-relax, or rebuild the wheel with maturin)."
    )

# After the ABI check: the generated modules name native functions that must exist.
from . import _generated
from ._generated import *  # noqa: F403

__version__: str = _native.__version__


def set_num_threads(num_threads: int) -> None:
    """Caps the threads the kernels use to process rows in parallel; 0 restores the default.

    The default is ``RANK_RELAX_NUM_THREADS`` if set, else the number of cores. Results do not
    depend on the thread count. Applies to the NumPy, PyTorch and JAX functions alike.
    """
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        raise ValueError(
            f"set_num_threads: num_threads must be an integer >= 0, got {num_threads!r}"
        )
    _native.set_num_threads(num_threads)


def num_threads() -> int:
    """The number of threads the kernels use now."""
    return _native.num_threads()


__all__ = ["__version__", "num_threads", "set_num_threads"]
__all__ += _generated.__all__
