//! Hand-written plumbing the generated functions go through: the core's errors as Python
//! exceptions, the shape of a call, zero-copy reads of NumPy arrays, and result buffers handed to
//! NumPy without a copy.

use std::borrow::Cow;

use numpy::ndarray::{Array1, Array2, Dimension};
use numpy::{Element, PyArray1, PyArray2, PyReadonlyArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use rank_relax::{Error, Real, Shape};

/// The element types of the kernels: `f32` and `f64`.
pub trait Float: Real + Element + Default {}

impl<T: Real + Element + Default> Float for T {}

/// The core's error as a Python exception, with the same text. Every kind of bad input the core
/// reports (a bad value, a bad argument, a shape mismatch) is a `ValueError`; a wrong type is a
/// `TypeError`, raised before the core is called (by the facades or pyo3's argument conversion).
pub fn error(e: Error) -> PyErr {
    PyValueError::new_err(e.message)
}

/// An enum argument: a `str` parsed by the core (`Regularization::parse`), with the op name in
/// the error (`soft_rank: regularization must be one of "l2", "kl", got "up"`); anything but a
/// `str` is a `TypeError` (`soft_rank: direction must be a str, got int`).
pub fn enum_arg<E>(
    op: &str,
    name: &str,
    value: &Bound<'_, PyAny>,
    parse: fn(&str) -> Result<E, Error>,
) -> PyResult<E> {
    let Ok(text) = value.cast::<PyString>() else {
        let type_name = value.get_type().name()?;
        return Err(PyTypeError::new_err(format!(
            "{op}: {name} must be a str, got {type_name}"
        )));
    };
    parse(&text.to_cow()?).map_err(|e| error(e.with_op(op)))
}

/// The shape of a call from its first `[batch, n]` array (pyo3 has checked it is 2-D).
pub fn shape(dims: &[usize]) -> Shape {
    Shape::new(dims[0], dims[1])
}

/// Every other `[batch, n]` array of a call has the first one's shape:
/// `spearman_loss: predictions has shape [2, 3] but targets has shape [2, 4]`.
pub fn same_shape(op: &str, first: &str, shape: Shape, name: &str, dims: &[usize]) -> PyResult<()> {
    if dims == [shape.batch, shape.n] {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "{op}: {first} has shape [{}, {}] but {name} has shape {dims:?}",
        shape.batch, shape.n
    )))
}

/// The elements of an array in row-major order: borrowed when it is C-contiguous (always, through
/// the Python package), else copied. (Not `PyReadonlyArray::as_slice`: it also borrows a
/// Fortran-ordered array, whose memory is column-major.)
pub fn read<'a, T, D>(array: &'a PyReadonlyArray<'_, T, D>) -> Cow<'a, [T]>
where
    T: Element + Copy,
    D: Dimension,
{
    let view = array.as_array();
    match view.to_slice() {
        Some(slice) => Cow::Borrowed(slice),
        None => Cow::Owned(view.iter().copied().collect()),
    }
}

/// A zeroed buffer for a `[batch, n]` result. The core checks that `batch × n` does not overflow
/// before it writes anything; an overflowing shape gets an empty buffer and that error.
pub fn matrix_buf<T: Copy + Default>(shape: Shape) -> Vec<T> {
    vec![T::default(); shape.batch.checked_mul(shape.n).unwrap_or(0)]
}

/// A zeroed buffer for a `[batch]` result (one value per row).
pub fn rows_buf<T: Copy + Default>(shape: Shape) -> Vec<T> {
    vec![T::default(); shape.batch]
}

/// A `[batch, n]` result handed to NumPy without a copy.
pub fn matrix<T: Element>(py: Python<'_>, shape: Shape, data: Vec<T>) -> Bound<'_, PyArray2<T>> {
    let array = Array2::from_shape_vec((shape.batch, shape.n), data)
        .expect("the core filled a [batch, n] buffer of batch × n elements");
    PyArray2::from_owned_array(py, array)
}

/// A `[batch]` result handed to NumPy without a copy.
pub fn rows<T: Element>(py: Python<'_>, data: Vec<T>) -> Bound<'_, PyArray1<T>> {
    PyArray1::from_owned_array(py, Array1::from_vec(data))
}
