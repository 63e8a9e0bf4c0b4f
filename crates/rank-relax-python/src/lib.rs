//! The extension module `rank_relax._native`: the rank-relax core for Python.
//!
//! `generated` holds one `#[pyfunction]` per (op, pass, dtype) over NumPy arrays, and
//! `xla_generated` one XLA FFI handler per (op, pass, dtype) for `rank_relax.jax`, both generated
//! from `bindings-spec/rank-relax.yaml` by `rank-relax-codegen` (never edit them by hand);
//! `plumbing` and `xla` are the hand-written parts they go through: error mapping, zero-copy array
//! access, shape checks; the XLA FFI C API, call-frame decoding, the metadata probe. This file is
//! the module itself: the generated functions, the handlers as capsules, the ABI constants the
//! Python package checks at import, and the thread cap.
//!
//! Users call the Python package (`rank_relax`, `rank_relax.torch`, `rank_relax.jax`), never this
//! module directly: its functions take C-contiguous 2-D arrays of exactly the kernel's dtype.

mod generated;
mod plumbing;
mod xla;
mod xla_generated;

use std::ffi::c_void;
use std::ptr::NonNull;

use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};

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

/// The XLA FFI handlers by kernel name (`soft_rank_forward_f64`), each in a capsule for
/// `jax.ffi.register_ffi_target(name, capsule, platform="cpu")`. They report XLA FFI API version
/// `api_major.api_minor` when XLA probes them: the version of the jaxlib that registers them,
/// which XLA requires (the fields the handlers read are laid out the same in every 0.x version).
#[pyfunction]
fn xla_handlers(py: Python<'_>, api_major: i32, api_minor: i32) -> PyResult<Bound<'_, PyDict>> {
    xla::set_api_version(api_major, api_minor);
    let handlers = PyDict::new(py);
    for (name, handler) in xla_generated::HANDLERS {
        let pointer = NonNull::new(handler as *mut c_void).expect("a function is not null");
        // SAFETY: a function pointer, valid for the life of the process (the module is never
        // unloaded), called by XLA with its call frames.
        let capsule =
            unsafe { PyCapsule::new_with_pointer(py, pointer, c"xla._CUSTOM_CALL_TARGET") }?;
        handlers.set_item(name, capsule)?;
    }
    Ok(handlers)
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", generated::VERSION)?;
    m.add("ABI_VERSION", generated::ABI_VERSION)?;
    m.add("ABI_HASH", generated::ABI_HASH)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(xla_handlers, m)?)?;
    m.add("XLA_HEADER_API_VERSION", xla::HEADER_API_VERSION)?;
    generated::register(m)
}
