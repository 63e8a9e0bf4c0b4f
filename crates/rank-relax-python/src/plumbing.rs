//! Hand-written plumbing the generated functions go through: the core's errors as Python
//! exceptions, the shape of a call, zero-copy reads of NumPy arrays and owned outputs handed to
//! NumPy without a copy.

use std::borrow::Cow;

use numpy::ndarray::{Array1, Array2};
use numpy::{Element, PyArray1, PyArray2, PyReadonlyArray};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rank_relax::{Error, Shape};

/// The core's error as a Python exception, with the same text. Every kind of bad input the core
/// reports (a bad value, a bad argument, a shape mismatch) is a `ValueError`; wrong types are a
/// `TypeError` raised before the core is called (by pyo3's argument conversion or the facades).
pub fn error(e: Error) -> PyErr {
    PyValueError::new_err(e.message)
}

/// An enum argument parsed by the core (`Regularization::parse`), with the op name in the error.
pub fn parse<E>(op: &str, parsed: Result<E, Error>) -> PyResult<E> {
    parsed.map_err(|e| error(e.with_op(op)))
}

/// The shape of a call from its `[batch, n]` arrays, in argument order: the first gives the shape
/// and every other must have the same (`spearman_loss: predictions has shape [2, 3] but targets
/// has shape [2, 4]`).
pub fn shape(op: &str, matrices: &[(&str, &[usize])]) -> PyResult<Shape> {
    let (first, dims) = matrices[0];
    for &(name, other) in &matrices[1..] {
        if other != dims {
            return Err(PyValueError::new_err(format!(
                "{op}: {first} has shape {dims:?} but {name} has shape {other:?}"
            )));
        }
    }
    Ok(Shape::new(dims[0], dims[1]))
}

/// The elements of an array in row-major order: borrowed when it is C-contiguous (always, through
/// the Python package), else copied.
pub fn read<'a, T, D>(array: &'a PyReadonlyArray<'_, T, D>) -> Cow<'a, [T]>
where
    T: Element + Copy,
    D: numpy::ndarray::Dimension,
{
    match array.as_slice() {
        Ok(slice) => Cow::Borrowed(slice),
        Err(_) => Cow::Owned(array.as_array().iter().copied().collect()),
    }
}

/// A zeroed buffer for `len` results.
pub fn zeros<T: Element + Copy + Default>(len: usize) -> Vec<T> {
    vec![T::default(); len]
}

/// A `[batch, n]` result handed to NumPy without a copy.
pub fn matrix<T: Element>(py: Python<'_>, shape: Shape, data: Vec<T>) -> Bound<'_, PyArray2<T>> {
    let array = Array2::from_shape_vec((shape.batch, shape.n), data)
        .expect("a [batch, n] result has batch × n elements");
    PyArray2::from_owned_array(py, array)
}

/// A `[batch]` result (one value per row) handed to NumPy without a copy.
pub fn rows<T: Element>(py: Python<'_>, data: Vec<T>) -> Bound<'_, PyArray1<T>> {
    PyArray1::from_owned_array(py, Array1::from_vec(data))
}

/// The length of a call's `[batch, n]` buffers.
pub fn elems(shape: Shape) -> usize {
    shape.batch.saturating_mul(shape.n)
}
