//! The extension module `rank_relax._native`: the rank-relax core for Python.
//!
//! `generated` holds one `#[pyfunction]` per (op, pass, dtype) over NumPy arrays, generated from
//! `bindings-spec/rank-relax.yaml` by `rank-relax-codegen` (never edit it by hand); `plumbing` is
//! the hand-written part they go through: error mapping, zero-copy array access, shape checks.
//! This file is the module itself: the generated functions, the ABI constants the Python package
//! checks at import, and the thread cap.
//!
//! Users call the Python package (`rank_relax`, `rank_relax.torch`, `rank_relax.jax`), never this
//! module directly: its functions take C-contiguous 2-D arrays of exactly the kernel's dtype.

mod generated;
mod plumbing;

use pyo3::prelude::*;

/// Caps the threads the kernels use to process rows in parallel; 0 restores the default
/// (`RANK_RELAX_NUM_THREADS`, else the number of cores).
#[pyfunction]
fn set_num_threads(num_threads: usize) {
    rank_relax::set_num_threads(num_threads);
}

/// The number of threads the kernels use now.
#[pyfunction]
fn num_threads() -> usize {
    rank_relax::num_threads()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", generated::VERSION)?;
    m.add("ABI_VERSION", generated::ABI_VERSION)?;
    m.add("ABI_HASH", generated::ABI_HASH)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    generated::register(m)
}
