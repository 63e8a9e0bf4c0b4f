//! Hand-written plumbing the generated functions go through: the core's errors as Python
//! exceptions, the shape of a call, zero-copy reads of NumPy arrays, and result buffers handed to
//! NumPy without a copy.

use std::borrow::Cow;

use numpy::ndarray::{Array, Array1, Array2, Dimension, IntoDimension};
use numpy::{Element, PyArray, PyArray1, PyArray2, PyReadonlyArray, PyUntypedArray};
use numpy::{PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyString};
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

/// The type name of a Python object, for messages (`float`, `numpy.float64`).
fn type_name(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let ty = value.get_type();
    let module = ty.module()?.to_cow()?.into_owned();
    let name = ty.name()?.to_cow()?.into_owned();
    Ok(if module == "builtins" {
        name
    } else {
        format!("{module}.{name}")
    })
}

/// A `TypeError` with the message of the spec's table named `check` (`not_int`, `not_real_list`)
/// for `value`, worded by the package's `_messages` and described by `_plumbing.describe`, as
/// every API of the package (and every other binding) words it.
fn refused(check: &str, op: &str, name: &str, value: &Bound<'_, PyAny>) -> PyResult<PyErr> {
    let py = value.py();
    let got = py
        .import("rank_relax._plumbing")?
        .call_method1("describe", (value,))?;
    let text = py
        .import("rank_relax._messages")?
        .call_method1(check, (op, name, got))?;
    Ok(PyTypeError::new_err(text.extract::<String>()?))
}

/// An int argument (`k`): a Python `int` or anything that is an integer by `__index__` (a NumPy
/// integer). A `bool`, a float (even integral: `2.0`) or a str is a `TypeError`
/// (`soft_topk: k must be an integer, got a float (2.5)`); the core checks the range.
pub fn int_arg(op: &str, name: &str, value: &Bound<'_, PyAny>) -> PyResult<i64> {
    if value.is_instance_of::<PyBool>() || !value.hasattr("__index__")? {
        return Err(refused("not_int", op, name, value)?);
    }
    let Ok(index) = value.call_method0("__index__") else {
        return Err(refused("not_int", op, name, value)?);
    };
    index.extract::<i64>().map_err(|_| {
        PyValueError::new_err(format!("{op}: {name} = {index} does not fit in 64 bits"))
    })
}

/// A list-of-reals argument (`quantiles`): a sequence of real numbers (a list, a tuple, a 1-D
/// NumPy array), converted to the kernel's float type; the core checks the length and the range.
/// A str, a non-iterable, a bool or non-number element is a `TypeError`, an array of more than one
/// dimension a `ValueError`.
pub fn real_list_arg<T: Float>(op: &str, name: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<T>> {
    let not_sequence = || refused("not_real_list", op, name, value);
    if value.is_instance_of::<PyString>() || value.is_instance_of::<PyBytes>() {
        return Err(not_sequence()?);
    }
    if let Ok(array) = value.cast::<PyUntypedArray>() {
        if array.ndim() != 1 {
            return Err(PyValueError::new_err(format!(
                "{op}: {name} must be a 1-D sequence of real numbers, got an array of shape {:?}",
                array.shape()
            )));
        }
    }
    let Ok(items) = value.try_iter() else {
        return Err(not_sequence()?);
    };
    let mut out = Vec::new();
    for (i, item) in items.enumerate() {
        let item = item?;
        // A real number has `__float__`; a bool (Python's or NumPy's, both named `bool`) is
        // refused although it converts, and a str never converts.
        let number = !item.is_instance_of::<PyBool>()
            && item.get_type().name()?.to_cow()? != "bool"
            && item.hasattr("__float__")?;
        match item.extract::<f64>() {
            Ok(x) if number => out.push(T::from_f64(x)),
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "{op}: {name}[{i}] must be a real number, got {}",
                    type_name(&item)?
                )))
            }
        }
    }
    Ok(out)
}

/// The longest row a kernel takes (`n` fits the `int32` residual): the `n` a params check assumes
/// when the caller has no row yet, so bounds that depend on `n` (`k ≤ n`) pass for any value some
/// row allows.
pub const ANY_N: usize = i32::MAX as usize;

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

/// An array of another shape (`[batch, n, n]`, `[batch, m]`) has exactly the extents the call
/// gives it: `neural_sort: cotangent_permutation_matrix has shape [2, 3, 4] but must be [2, 3, 3]`.
pub fn extents(op: &str, name: &str, dims: &[usize], want: &[usize]) -> PyResult<()> {
    if dims == want {
        return Ok(());
    }
    Err(PyValueError::new_err(format!(
        "{op}: {name} has shape {dims:?} but must be {want:?}"
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

/// A bool array (a mask) in row-major order, each element checked as a byte first: NumPy and torch
/// keep a bool in a byte that a view of other memory (`uint8` viewed as `bool`) may set to anything,
/// and only 0 and 1 are Rust `bool`s. Another byte is a `ValueError` naming its index
/// (`soft_rank: mask[1, 2] is 2; each element must be 0 (false) or 1 (true)`). Borrowed when
/// C-contiguous, else copied.
pub fn read_bools<'a, D>(
    op: &str,
    name: &str,
    array: &'a PyReadonlyArray<'_, bool, D>,
) -> PyResult<Cow<'a, [bool]>>
where
    D: Dimension,
{
    // SAFETY: the read-only borrow keeps the array's memory valid and unchanged for 'a, and every
    // byte is a valid `u8`.
    let bytes = unsafe { array.as_raw_array().cast::<u8>().deref_into_view() };
    if let Some((at, &byte)) = bytes.iter().enumerate().find(|&(_, &b)| b > 1) {
        let index = unravel(at, bytes.shape());
        return Err(PyValueError::new_err(format!(
            "{op}: {name}[{index}] is {byte}; each element must be 0 (false) or 1 (true)"
        )));
    }
    Ok(match bytes.to_slice() {
        // SAFETY: every byte is 0 or 1, a valid `bool` of the same size and alignment.
        Some(slice) => Cow::Borrowed(unsafe {
            std::slice::from_raw_parts(slice.as_ptr().cast::<bool>(), slice.len())
        }),
        None => Cow::Owned(bytes.iter().map(|&b| b == 1).collect()),
    })
}

/// [`read_bools`] of an optional array: `None` when it is absent.
pub fn read_bools_optional<'a, D>(
    op: &str,
    name: &str,
    array: &'a Option<PyReadonlyArray<'_, bool, D>>,
) -> PyResult<Option<Cow<'a, [bool]>>>
where
    D: Dimension,
{
    array.as_ref().map(|a| read_bools(op, name, a)).transpose()
}

/// The row-major index of element `at` of an array of `shape`, for messages: `1, 2`.
fn unravel(mut at: usize, shape: &[usize]) -> String {
    let mut index = Vec::with_capacity(shape.len());
    for &dim in shape.iter().rev() {
        index.push((at % dim.max(1)).to_string());
        at /= dim.max(1);
    }
    index.reverse();
    index.join(", ")
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

/// A zeroed buffer for a result of the given extents (`[batch, n, n]`, `[batch, m]`); empty when
/// their product overflows, which the core reports before it writes anything.
pub fn buffer<T: Copy + Default>(dims: &[usize]) -> Vec<T> {
    let len = dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d));
    vec![T::default(); len.unwrap_or(0)]
}

/// A result of the given extents handed to NumPy without a copy.
pub fn array<T: Element, D: Dimension>(
    py: Python<'_>,
    dims: impl IntoDimension<Dim = D>,
    data: Vec<T>,
) -> Bound<'_, PyArray<T, D>> {
    let array = Array::from_shape_vec(dims.into_dimension(), data)
        .expect("the core filled a buffer of the product of its extents");
    PyArray::from_owned_array(py, array)
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
