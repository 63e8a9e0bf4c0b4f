//! Hand-written plumbing of the C ABI. Every generated entry point runs its body through [`call`],
//! which catches panics and turns errors into a status code plus a thread-local message, and
//! checks its buffers with [`Dims`], [`In`], [`Out`] and [`check_disjoint`] before it makes a
//! slice of any pointer. The overlap check, its message and the panic text are
//! `rank_relax_glue`'s, shared with the Node addon.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::mem::{align_of, size_of};
use std::panic::{catch_unwind, AssertUnwindSafe};

use rank_relax::Shape;
use rank_relax_glue::{panic_message, Region};

use crate::generated::{
    status_of, RR_ERR_INVALID_ARGUMENT, RR_ERR_INVALID_VALUE, RR_ERR_NULL_POINTER, RR_ERR_PANIC,
    RR_ERR_SHAPE_MISMATCH, RR_OK,
};

/// An error on its way to C: a status code and a message ([`call`] adds the op name).
#[derive(Debug)]
pub struct FfiError {
    status: i32,
    message: String,
}

impl FfiError {
    fn new(status: i32, message: String) -> Self {
        FfiError { status, message }
    }
}

impl From<rank_relax::Error> for FfiError {
    fn from(e: rank_relax::Error) -> Self {
        FfiError::new(status_of(e.kind), e.message)
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_last_error(message: &str) {
    let text = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

/// `op: message`, unless the message already starts with the op name (the core's do).
fn with_op(op: &str, message: &str) -> String {
    match message.strip_prefix(op) {
        Some(rest) if rest.starts_with(": ") => message.to_owned(),
        _ => format!("{op}: {message}"),
    }
}

/// Runs the body of an entry point: `RR_OK`, or the error's status with `rr_last_error()` set.
/// A panic never crosses the boundary: it becomes `RR_ERR_PANIC`.
pub fn call(op: &'static str, body: impl FnOnce() -> Result<(), FfiError>) -> i32 {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => RR_OK,
        Ok(Err(e)) => {
            set_last_error(&with_op(op, &e.message));
            e.status
        }
        Err(payload) => {
            set_last_error(&panic_message(op, payload.as_ref()));
            RR_ERR_PANIC
        }
    }
}

/// The shape of a call and its buffer lengths, with `batch × n` checked for overflow.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// The shape passed to the core.
    pub shape: Shape,
    /// Length of a `[batch]` buffer.
    pub rows: usize,
    /// Length of a `[batch, n]` buffer.
    pub elems: usize,
}

impl Dims {
    /// Checks that `batch × n` fits `usize`.
    pub fn new(batch: usize, n: usize) -> Result<Dims, FfiError> {
        let elems = batch.checked_mul(n).ok_or_else(|| {
            FfiError::new(
                RR_ERR_SHAPE_MISMATCH,
                format!("batch × n = {batch} × {n} overflows"),
            )
        })?;
        Ok(Dims {
            shape: Shape { batch, n },
            rows: batch,
            elems,
        })
    }

    /// An int param's value as a dim of buffers (the `k` of `[batch, k]`): the value when it lies
    /// within the param's inclusive bounds, else 0, so that a bad value never sizes a buffer the
    /// caller did not allocate; the core then reports the value (`k must be in [0, n] …`).
    pub fn count(&self, value: i64, min: Option<usize>, max: Option<usize>) -> usize {
        match usize::try_from(value) {
            Ok(v) if min.is_none_or(|lo| v >= lo) && max.is_none_or(|hi| v <= hi) => v,
            _ => 0,
        }
    }

    /// Length of a `[batch, …row]` buffer of other dims (`[batch, n, n]`, `[batch, m]`), checked
    /// for overflow.
    pub fn extent(&self, name: &str, row: &[usize]) -> Result<usize, FfiError> {
        let batch = self.shape.batch;
        row.iter()
            .try_fold(batch, |len, &dim| len.checked_mul(dim))
            .ok_or_else(|| {
                let dims: Vec<String> = row.iter().map(usize::to_string).collect();
                FfiError::new(
                    RR_ERR_SHAPE_MISMATCH,
                    format!(
                        "{name} has {batch} × {} elements, which overflows",
                        dims.join(" × ")
                    ),
                )
            })
    }
}

/// Null, size and alignment checks of one buffer of `len` elements of `T`.
fn check_pointer<T>(name: &str, addr: usize, len: usize) -> Result<(), FfiError> {
    if len == 0 {
        return Ok(());
    }
    if addr == 0 {
        return Err(FfiError::new(
            RR_ERR_NULL_POINTER,
            format!("{name} is NULL but has {len} elements"),
        ));
    }
    let fits =
        matches!(len.checked_mul(size_of::<T>()), Some(bytes) if bytes <= isize::MAX as usize);
    if !fits {
        return Err(FfiError::new(
            RR_ERR_SHAPE_MISMATCH,
            format!("{name} has {len} elements, more than memory can hold"),
        ));
    }
    if !addr.is_multiple_of(align_of::<T>()) {
        return Err(FfiError::new(
            RR_ERR_INVALID_ARGUMENT,
            // No address in the text: one bad call gives one message, in every run.
            format!("{name} is not aligned to {} bytes", align_of::<T>()),
        ));
    }
    Ok(())
}

/// A buffer the kernel reads: checked, not yet a slice.
pub struct In<T> {
    name: &'static str,
    ptr: *const T,
    len: usize,
}

impl<T> In<T> {
    /// Checks the pointer (non-null unless `len` is 0, aligned, size fits memory).
    pub fn new(name: &'static str, ptr: *const T, len: usize) -> Result<Self, FfiError> {
        check_pointer::<T>(name, ptr as usize, len)?;
        Ok(In { name, ptr, len })
    }

    /// An optional buffer: NULL means absent (see [`In::slice_optional`]); any other pointer is
    /// checked as [`In::new`] does.
    pub fn optional(name: &'static str, ptr: *const T, len: usize) -> Result<Self, FfiError> {
        if ptr.is_null() {
            Ok(In { name, ptr, len: 0 })
        } else {
            In::new(name, ptr, len)
        }
    }

    /// The memory it spans, for [`check_disjoint`] (none when absent).
    pub fn region(&self) -> Region {
        Region::new(
            self.name,
            self.ptr as usize,
            self.len * size_of::<T>(),
            false,
        )
    }

    /// The buffer as a slice.
    ///
    /// # Safety
    ///
    /// The pointer must be valid for reads of `len` elements for `'a`, and no buffer written
    /// during `'a` may overlap it (see [`check_disjoint`]).
    pub unsafe fn slice<'a>(&self) -> &'a [T] {
        if self.len == 0 {
            &[]
        } else {
            // SAFETY: non-null and aligned (checked in `new`); valid and unaliased by the
            // caller's contract.
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }

    /// An optional buffer as a slice, or `None` when its pointer is NULL.
    ///
    /// # Safety
    ///
    /// As [`In::slice`].
    pub unsafe fn slice_optional<'a>(&self) -> Option<&'a [T]> {
        // SAFETY: the caller's contract.
        (!self.ptr.is_null()).then(|| unsafe { self.slice() })
    }
}

impl In<bool> {
    /// The buffer as bools, after checking that every byte is 0 or 1: C code may store any byte
    /// in a `bool` object (through a `char *` or a `memset`), and anything else is not a Rust
    /// `bool`. A bad byte is `RR_ERR_INVALID_VALUE` naming its `[row, column]` (`rows` rows).
    ///
    /// # Safety
    ///
    /// As [`In::slice`].
    pub unsafe fn bools<'a>(&self, rows: usize) -> Result<&'a [bool], FfiError> {
        if self.len == 0 {
            return Ok(&[]);
        }
        // SAFETY: non-null and aligned (checked in `new`), valid by the caller's contract; a
        // `bool` and a `u8` have the same size and alignment.
        let bytes: &[u8] = unsafe { std::slice::from_raw_parts(self.ptr.cast(), self.len) };
        if let Some(at) = bytes.iter().position(|&b| b > 1) {
            let width = self.len / rows.max(1);
            return Err(FfiError::new(
                RR_ERR_INVALID_VALUE,
                format!(
                    "{}[{}, {}] is {}; each element must be 0 (false) or 1 (true)",
                    self.name,
                    at / width,
                    at % width,
                    bytes[at]
                ),
            ));
        }
        // SAFETY: every byte is 0 or 1, a valid `bool`.
        Ok(unsafe { self.slice() })
    }

    /// As [`In::bools`], `None` when the pointer is NULL (an optional buffer left out).
    ///
    /// # Safety
    ///
    /// As [`In::slice`].
    pub unsafe fn bools_optional<'a>(&self, rows: usize) -> Result<Option<&'a [bool]>, FfiError> {
        if self.ptr.is_null() {
            return Ok(None);
        }
        // SAFETY: the caller's contract.
        unsafe { self.bools(rows) }.map(Some)
    }
}

/// A buffer the kernel writes: checked, not yet a slice.
pub struct Out<T> {
    name: &'static str,
    ptr: *mut T,
    len: usize,
}

impl<T> Out<T> {
    /// Checks the pointer (non-null unless `len` is 0, aligned, size fits memory).
    pub fn new(name: &'static str, ptr: *mut T, len: usize) -> Result<Self, FfiError> {
        check_pointer::<T>(name, ptr as usize, len)?;
        Ok(Out { name, ptr, len })
    }

    /// The memory it spans, for [`check_disjoint`].
    pub fn region(&self) -> Region {
        Region::new(
            self.name,
            self.ptr as usize,
            self.len * size_of::<T>(),
            true,
        )
    }

    /// The memory it spans, for the [`check_disjoint`] of an in-place backward's ordinary path:
    /// it may be exactly `other` (see [`Out::is`]), so an overlap of the two is reported as a
    /// partial one.
    pub fn region_may_be(&self, other: &In<T>) -> Region {
        self.region().may_be(other.name)
    }

    /// Whether this is exactly the buffer `other` (same start and length, not empty): an in-place
    /// backward's gradient over its cotangent. A partial overlap is not; `check_disjoint` refuses it.
    pub fn is(&self, other: &In<T>) -> bool {
        self.len > 0 && std::ptr::eq(self.ptr, other.ptr) && self.len == other.len
    }

    /// The buffer as a mutable slice.
    ///
    /// # Safety
    ///
    /// The pointer must be valid for reads and writes of `len` elements for `'a`, and no other
    /// buffer used during `'a` may overlap it (see [`check_disjoint`]).
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn slice<'a>(&self) -> &'a mut [T] {
        if self.len == 0 {
            &mut []
        } else {
            // SAFETY: non-null and aligned (checked in `new`); valid and unaliased by the
            // caller's contract.
            unsafe { std::slice::from_raw_parts_mut(self.ptr, self.len) }
        }
    }
}

/// A list param passed as a pointer and a length, copied into the core's params. The pointer may
/// be NULL only when the length is 0.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` elements.
pub unsafe fn list<T: Copy>(
    name: &'static str,
    ptr: *const T,
    len: usize,
) -> Result<Vec<T>, FfiError> {
    let list = In::new(name, ptr, len)?;
    // SAFETY: checked non-null unless empty and aligned; valid by the caller's contract, and
    // copied before the call returns.
    Ok(unsafe { list.slice() }.to_vec())
}

/// The code of an enum param that an op narrows to some of its enum's values: one of `accepted`,
/// else `expected, got <code>` (`expected` is `direction must be one of 1 (descending)`).
pub fn accept_code(code: i32, accepted: &[i32], expected: &str) -> Result<i32, FfiError> {
    if accepted.contains(&code) {
        Ok(code)
    } else {
        Err(FfiError::new(
            RR_ERR_INVALID_ARGUMENT,
            format!("{expected}, got {code}"),
        ))
    }
}

/// A written buffer must not overlap any other buffer of the call (Rust's `&mut` rule; also
/// what the kernels assume). Empty buffers overlap nothing. The message is
/// `rank_relax_glue::Overlap`'s (`ranks overlaps values; …`); [`call`] prefixes the op.
pub fn check_disjoint(regions: &[Region]) -> Result<(), FfiError> {
    rank_relax_glue::check_disjoint(regions)
        .map_err(|overlap| FfiError::new(RR_ERR_INVALID_ARGUMENT, overlap.to_string()))
}

/// The message of the last failed call on this thread (`""` if none failed). The pointer stays
/// valid until the next failing call on the same thread.
#[no_mangle]
pub extern "C" fn rr_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// Caps the threads that process rows in parallel (0 = the default). Returns `RR_OK`.
#[no_mangle]
pub extern "C" fn rr_set_num_threads(num_threads: usize) -> i32 {
    call("set_num_threads", || {
        rank_relax::set_num_threads(num_threads);
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_is_the_crate_version() {
        assert_eq!(crate::generated::VERSION, env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn op_prefix_is_added_once() {
        assert_eq!(
            with_op("soft_rank", "soft_rank: values[0, 1] is NaN"),
            "soft_rank: values[0, 1] is NaN"
        );
        assert_eq!(
            with_op("soft_rank", "direction must be one of"),
            "soft_rank: direction must be one of"
        );
        assert_eq!(
            with_op("soft_rank", "soft_ranked"),
            "soft_rank: soft_ranked"
        );
    }

    #[test]
    fn errors_become_status_and_message() {
        let status = call("op", || {
            Err(FfiError::new(RR_ERR_INVALID_ARGUMENT, "bad".into()))
        });
        assert_eq!(status, RR_ERR_INVALID_ARGUMENT);
        let message = unsafe { std::ffi::CStr::from_ptr(rr_last_error()) };
        assert_eq!(message.to_str().unwrap(), "op: bad");
    }

    #[test]
    fn panics_are_caught() {
        let status = call("op", || panic!("boom"));
        assert_eq!(status, RR_ERR_PANIC);
        let message = unsafe { std::ffi::CStr::from_ptr(rr_last_error()) };
        assert!(message.to_str().unwrap().contains("boom"));
    }

    #[test]
    fn sizes_and_pointers_are_checked() {
        assert_eq!(
            Dims::new(usize::MAX, 2).unwrap_err().status,
            RR_ERR_SHAPE_MISMATCH
        );
        assert_eq!(
            In::<f64>::new("x", std::ptr::null(), 3)
                .err()
                .unwrap()
                .status,
            RR_ERR_NULL_POINTER
        );
        assert!(In::<f64>::new("x", std::ptr::null(), 0).is_ok());
        let misaligned = std::ptr::without_provenance::<f64>(4);
        assert_eq!(
            In::<f64>::new("x", misaligned, 1).err().unwrap().status,
            RR_ERR_INVALID_ARGUMENT
        );
    }

    #[test]
    fn an_optional_buffer_may_be_null() {
        let absent = In::<bool>::optional("mask", std::ptr::null(), 6).unwrap();
        assert_eq!(unsafe { absent.bools_optional(2) }.unwrap(), None);
        assert_eq!(absent.region(), Region::new("mask", 0, 0, false));
        let values = [1.0f64, 2.0];
        let present = In::optional("values", values.as_ptr(), 2).unwrap();
        assert_eq!(unsafe { present.slice_optional() }, Some(&values[..]));
        let misaligned = std::ptr::without_provenance::<f64>(4);
        assert_eq!(
            In::optional("values", misaligned, 1).err().unwrap().status,
            RR_ERR_INVALID_ARGUMENT
        );
    }

    #[test]
    fn bools_must_be_0_or_1() {
        let bytes = [1u8, 0, 1, 1, 2, 0];
        let mask = In::optional("mask", bytes.as_ptr().cast::<bool>(), 6).unwrap();
        let err = unsafe { mask.bools_optional(2) }.unwrap_err();
        assert_eq!(err.status, RR_ERR_INVALID_VALUE);
        assert_eq!(
            err.message,
            "mask[1, 1] is 2; each element must be 0 (false) or 1 (true)"
        );
        let good = [true, false, true];
        let mask = In::new("mask", good.as_ptr(), 3).unwrap();
        assert_eq!(unsafe { mask.bools(1) }.unwrap(), &good[..]);
        let empty = In::<bool>::new("mask", std::ptr::null(), 0).unwrap();
        assert_eq!(unsafe { empty.bools(0) }.unwrap(), &[] as &[bool]);
    }

    #[test]
    fn extents_are_checked() {
        let dims = Dims::new(3, 4).unwrap();
        assert_eq!(dims.extent("m", &[4, 4]).unwrap(), 48);
        assert_eq!(dims.extent("m", &[0]).unwrap(), 0);
        let err = dims.extent("m", &[usize::MAX, 2]).unwrap_err();
        assert_eq!(err.status, RR_ERR_SHAPE_MISMATCH);
        assert_eq!(
            err.message,
            format!("m has 3 × {} × 2 elements, which overflows", usize::MAX)
        );
    }

    #[test]
    fn int_param_dims_are_bounded() {
        let dims = Dims::new(2, 5).unwrap();
        assert_eq!(dims.count(3, Some(0), Some(5)), 3);
        assert_eq!(dims.count(0, Some(0), Some(5)), 0);
        assert_eq!(dims.count(5, Some(0), Some(5)), 5);
        assert_eq!(dims.count(6, Some(0), Some(5)), 0);
        assert_eq!(dims.count(-1, Some(0), Some(5)), 0);
        assert_eq!(dims.count(i64::MIN, None, None), 0);
        assert_eq!(dims.count(1 << 40, None, None), 1 << 40);
        assert_eq!(dims.count(1, Some(2), None), 0);
    }

    #[test]
    fn lists_are_copied_and_checked() {
        let values = [0.25f64, 0.5];
        assert_eq!(
            unsafe { list("q", values.as_ptr(), 2) }.unwrap(),
            vec![0.25, 0.5]
        );
        assert!(unsafe { list::<f64>("q", std::ptr::null(), 0) }
            .unwrap()
            .is_empty());
        let err = unsafe { list::<f64>("q", std::ptr::null(), 2) }.unwrap_err();
        assert_eq!(err.status, RR_ERR_NULL_POINTER);
        assert_eq!(err.message, "q is NULL but has 2 elements");
    }

    #[test]
    fn narrowed_enum_codes_are_checked() {
        assert_eq!(accept_code(1, &[1], "d must be one of 1 (x)").unwrap(), 1);
        let err = accept_code(0, &[1], "d must be one of 1 (x)").unwrap_err();
        assert_eq!(err.status, RR_ERR_INVALID_ARGUMENT);
        assert_eq!(err.message, "d must be one of 1 (x), got 0");
    }

    #[test]
    fn written_buffers_must_not_overlap() {
        let mut data = [0.0f64; 8];
        let a = In::new("a", data.as_ptr(), 4).unwrap();
        let b = Out::new("b", data[2..].as_mut_ptr(), 4).unwrap();
        let c = Out::new("c", data[4..].as_mut_ptr(), 4).unwrap();
        let err = check_disjoint(&[a.region(), b.region()]).unwrap_err();
        assert_eq!(err.status, RR_ERR_INVALID_ARGUMENT);
        assert_eq!(
            err.message,
            "b overlaps a; a written buffer must not share memory with another buffer of the call"
        );
        assert!(check_disjoint(&[a.region(), c.region()]).is_ok());
        let g = Out::new("g", data[1..].as_mut_ptr(), 4).unwrap();
        let err = check_disjoint(&[a.region(), g.region_may_be(&a)]).unwrap_err();
        assert!(err.message.ends_with(
            "another buffer of the call (g may be a itself, but not overlap it in part)"
        ));
        let a2 = In::new("a2", data.as_ptr(), 8).unwrap();
        assert!(check_disjoint(&[a.region(), a2.region()]).is_ok());
    }
}
