//! Hand-written plumbing of the XLA FFI handlers in `xla_generated.rs`: the part of the XLA FFI C
//! API (`xla/ffi/api/c_api.h`, shipped with jaxlib) the handlers use, the decoding of a call frame
//! into typed buffers and attributes, the row split for a `vmap`ped ε, error reporting through
//! `XLA_FFI_Error_Create`, and the metadata probe XLA sends when a handler is registered.
//!
//! A handler is `unsafe extern "C" fn(*mut XLA_FFI_CallFrame) -> *mut XLA_FFI_Error`, registered
//! by `rank_relax.jax` with `jax.ffi.register_ffi_target(name, capsule, platform="cpu")` and called
//! by `jax.ffi.ffi_call`. It reads XLA's buffers and writes its results in place: no copy, no
//! Python, no GIL. The layout of every struct below is the C header's (`#[repr(C)]`, fields in the
//! header's order); only the leading fields that stayed put since API version 0.1 are read, and
//! every struct size XLA passes is checked first.

use std::ffi::{c_char, c_int, c_void, CString};
use std::mem::{offset_of, size_of};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicI32, Ordering};

use rank_relax::{Error, Real, Shape};

// ------------------------------------------------------------------------------------------------
// The C API (xla/ffi/api/c_api.h)

/// `XLA_FFI_API_MAJOR` / `XLA_FFI_API_MINOR` of the headers these structs were written from
/// (jaxlib 0.10). XLA refuses a handler whose metadata reports another version than its own, so
/// `rank_relax.jax` sets the version of the jaxlib it runs with ([`set_api_version`]) before it
/// registers the handlers: every field read here is laid out the same in every 0.x version.
pub const HEADER_API_VERSION: (i32, i32) = (0, 3);

static API_MAJOR: AtomicI32 = AtomicI32::new(HEADER_API_VERSION.0);
static API_MINOR: AtomicI32 = AtomicI32::new(HEADER_API_VERSION.1);

/// The API version the handlers report when XLA probes them.
pub fn set_api_version(major: i32, minor: i32) {
    API_MAJOR.store(major, Ordering::Relaxed);
    API_MINOR.store(minor, Ordering::Relaxed);
}

/// The API version the handlers report.
pub fn api_version() -> (i32, i32) {
    (
        API_MAJOR.load(Ordering::Relaxed),
        API_MINOR.load(Ordering::Relaxed),
    )
}

/// An int attribute that is an extent of a result's rows (`k` of `[..., k]`). Out of range it
/// sizes nothing (0): the core, which checks it before any buffer's length, reports it.
pub fn extent(value: i64) -> usize {
    usize::try_from(value).unwrap_or(0)
}

/// `XLA_FFI_Extension_Base`.
#[repr(C)]
struct ExtensionBase {
    struct_size: usize,
    kind: c_int,
    next: *mut ExtensionBase,
}

/// `XLA_FFI_Extension_Metadata`.
const EXTENSION_METADATA: c_int = 1;

/// `XLA_FFI_Api_Version`.
#[repr(C)]
struct ApiVersion {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    major_version: c_int,
    minor_version: c_int,
}

/// `XLA_FFI_Metadata`.
#[repr(C)]
struct Metadata {
    struct_size: usize,
    api_version: ApiVersion,
    traits: u32,
}

/// `XLA_FFI_Metadata_Extension`.
#[repr(C)]
struct MetadataExtension {
    extension_base: ExtensionBase,
    metadata: *mut Metadata,
}

/// `XLA_FFI_Error`: owned by XLA once a handler returns it.
#[repr(C)]
pub struct XlaError {
    _opaque: [u8; 0],
}

/// `XLA_FFI_Error_Code`s the handlers report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// `XLA_FFI_Error_Code_INVALID_ARGUMENT`: the core's errors (bad values, params, shapes).
    InvalidArgument = 3,
    /// `XLA_FFI_Error_Code_INTERNAL`: a call frame the generated glue does not expect, a panic.
    Internal = 13,
}

/// `XLA_FFI_Error_Create_Args`.
#[repr(C)]
struct ErrorCreateArgs {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    message: *const c_char,
    errc: c_int,
}

type ErrorCreate = unsafe extern "C" fn(*mut ErrorCreateArgs) -> *mut XlaError;

/// `XLA_FFI_Api`, up to the one function the handlers call.
#[repr(C)]
struct Api {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api_version: ApiVersion,
    internal_api: *const c_void,
    error_create: Option<ErrorCreate>,
}

/// `XLA_FFI_DataType`s of the buffers the kernels read and write, and of int and list attributes.
/// `PRED` is one byte per element, 0 or 1: a mask, and a bool attribute.
const DTYPE_PRED: c_int = 1;
const DTYPE_S32: c_int = 4;
const DTYPE_S64: c_int = 5;
const DTYPE_F32: c_int = 11;
const DTYPE_F64: c_int = 12;

/// `XLA_FFI_AttrType`s.
const ATTR_ARRAY: c_int = 1;
const ATTR_SCALAR: c_int = 3;
const ATTR_STRING: c_int = 4;

/// `XLA_FFI_Buffer`.
#[repr(C)]
struct Buffer {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    dtype: c_int,
    data: *mut c_void,
    rank: i64,
    dims: *const i64,
}

/// `XLA_FFI_Args` and `XLA_FFI_Rets` (the same layout; every type is `BUFFER = 1`).
#[repr(C)]
struct Buffers {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *const c_int,
    items: *const *mut Buffer,
}

/// `XLA_FFI_ByteSpan`.
#[repr(C)]
struct ByteSpan {
    ptr: *const c_char,
    len: usize,
}

/// `XLA_FFI_Scalar`.
#[repr(C)]
struct Scalar {
    dtype: c_int,
    value: *const c_void,
}

/// `XLA_FFI_Array`: a dense 1-D attribute (a NumPy array passed to `ffi_call`).
#[repr(C)]
struct Array {
    dtype: c_int,
    size: usize,
    data: *const c_void,
}

/// `XLA_FFI_Attrs`: sorted by name.
#[repr(C)]
struct Attrs {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    size: i64,
    types: *const c_int,
    names: *const *const ByteSpan,
    attrs: *const *const c_void,
}

/// `XLA_FFI_CallFrame`, without the trailing `future` (a newer, optional field).
#[repr(C)]
pub struct CallFrame {
    struct_size: usize,
    extension_start: *mut ExtensionBase,
    api: *const Api,
    ctx: *mut c_void,
    stage: c_int,
    args: Buffers,
    rets: Buffers,
    attrs: Attrs,
}

/// `XLA_FFI_ExecutionStage_EXECUTE`.
const STAGE_EXECUTE: c_int = 3;

/// `XLA_FFI_STRUCT_SIZE(struct, last_field)` of the structs read or written here.
const CALL_FRAME_SIZE: usize = offset_of!(CallFrame, attrs) + size_of::<Attrs>();
const BUFFERS_SIZE: usize = offset_of!(Buffers, items) + size_of::<*const *mut Buffer>();
const ATTRS_SIZE: usize = offset_of!(Attrs, attrs) + size_of::<*const *const c_void>();
const BUFFER_SIZE: usize = offset_of!(Buffer, dims) + size_of::<*const i64>();
const API_SIZE: usize = offset_of!(Api, error_create) + size_of::<Option<ErrorCreate>>();
const API_VERSION_SIZE: usize = offset_of!(ApiVersion, minor_version) + size_of::<c_int>();
const METADATA_SIZE: usize = offset_of!(Metadata, traits) + size_of::<u32>();
const METADATA_EXTENSION_SIZE: usize =
    offset_of!(MetadataExtension, metadata) + size_of::<*mut Metadata>();
const ERROR_CREATE_ARGS_SIZE: usize = offset_of!(ErrorCreateArgs, errc) + size_of::<c_int>();

/// An XLA FFI handler, as `jax.ffi.register_ffi_target` takes it (in a capsule).
pub type Handler = unsafe extern "C" fn(*mut CallFrame) -> *mut XlaError;

// ------------------------------------------------------------------------------------------------
// Failures

/// Why a handler failed: an error code and the message XLA shows (the core's, for bad input).
#[derive(Debug)]
pub struct Failure {
    code: Code,
    message: String,
}

impl Failure {
    fn internal(op: &str, message: impl std::fmt::Display) -> Self {
        Failure {
            code: Code::Internal,
            message: format!("{op}: XLA FFI handler: {message}"),
        }
    }
}

impl From<Error> for Failure {
    /// Every core error is bad input: `INVALID_ARGUMENT` with the core's message.
    fn from(e: Error) -> Self {
        Failure {
            code: Code::InvalidArgument,
            message: e.message,
        }
    }
}

/// What a handler body returns.
pub type Result<T = ()> = std::result::Result<T, Failure>;

// ------------------------------------------------------------------------------------------------
// Element types

/// An element type of an XLA buffer the kernels use.
pub trait Elem: Copy + PartialEq + 'static {
    /// Its `XLA_FFI_DataType`.
    const DTYPE: c_int;
}

impl Elem for f32 {
    const DTYPE: c_int = DTYPE_F32;
}

impl Elem for f64 {
    const DTYPE: c_int = DTYPE_F64;
}

impl Elem for i32 {
    const DTYPE: c_int = DTYPE_S32;
}

impl Elem for bool {
    const DTYPE: c_int = DTYPE_PRED;
}

/// The kernels' floating types.
pub trait Float: Real + Elem {}

impl<T: Real + Elem> Float for T {}

// ------------------------------------------------------------------------------------------------
// Call frames

/// A call frame checked for the struct sizes this file reads.
pub struct Frame<'a> {
    raw: &'a CallFrame,
    op: &'static str,
}

/// A buffer XLA passes in: read-only, row-major, its dims as XLA gives them.
pub struct In<'a, T> {
    data: &'a [T],
    dims: &'a [i64],
}

/// A result buffer XLA owns and the kernel writes in place.
pub struct Out<'a, T> {
    data: &'a mut [T],
}

/// The elements of an XLA buffer, checked for type; `None` for a data type other than `T`.
///
/// # Safety
/// `buffer` points to a valid `XLA_FFI_Buffer` whose data, if not null, holds the product of its
/// dims elements of its dtype, alive and not written by anyone else for `'a`.
unsafe fn buffer<'a, T: Elem>(buffer: *const Buffer) -> Option<(*mut T, usize, &'a [i64])> {
    // SAFETY: the caller's contract.
    let b = unsafe { buffer.as_ref() }?;
    if b.struct_size < BUFFER_SIZE || b.dtype != T::DTYPE || b.rank < 0 {
        return None;
    }
    let rank = b.rank as usize;
    let dims: &[i64] = if rank == 0 || b.dims.is_null() {
        &[]
    } else {
        // SAFETY: XLA's dims array holds `rank` entries.
        unsafe { std::slice::from_raw_parts(b.dims, rank) }
    };
    let mut len = 1usize;
    for &d in dims {
        len = len.checked_mul(usize::try_from(d).ok()?)?;
    }
    let data = b.data.cast::<T>();
    if len > 0 && (data.is_null() || !data.is_aligned()) {
        return None;
    }
    // A `bool` must be 0 or 1; XLA's PRED is, but a byte that is not would be undefined
    // behaviour once read as one, so it is refused rather than trusted.
    if T::DTYPE == DTYPE_PRED && len > 0 {
        // SAFETY: `len` bytes of XLA's buffer (PRED is one byte per element), as above.
        let bytes = unsafe { std::slice::from_raw_parts(b.data.cast::<u8>(), len) };
        if bytes.iter().any(|&x| x > 1) {
            return None;
        }
    }
    Some((data, len, dims))
}

impl<'a> Frame<'a> {
    /// Argument `index` of the custom call, of element type `T`.
    pub fn arg<T: Elem>(&self, index: usize, name: &str) -> Result<In<'a, T>> {
        let b = self.item(&self.raw.args, index, name, "argument")?;
        // SAFETY: XLA keeps the call's buffers alive during the call, arguments read-only.
        match unsafe { buffer::<T>(b) } {
            Some((_, 0, dims)) => Ok(In { data: &[], dims }),
            // SAFETY: `buffer` checked non-null, aligned, `len` elements of `T`.
            Some((data, len, dims)) => Ok(In {
                data: unsafe { std::slice::from_raw_parts(data, len) },
                dims,
            }),
            None => Err(self.bad_type::<T>(name, "argument")),
        }
    }

    /// Optional argument `index` of the custom call (a mask), of element type `T`: `None` when the
    /// call has no argument `index`. An optional buffer is the call's last operand, so a call
    /// without it has exactly the operands of the same kernel called without it.
    pub fn optional_arg<T: Elem>(&self, index: usize, name: &str) -> Result<Option<In<'a, T>>> {
        let size = usize::try_from(self.raw.args.size).unwrap_or(0);
        if index >= size {
            return Ok(None);
        }
        self.arg(index, name).map(Some)
    }

    /// Result `index` of the custom call, of element type `T`.
    pub fn ret<T: Elem>(&self, index: usize, name: &str) -> Result<Out<'a, T>> {
        let b = self.item(&self.raw.rets, index, name, "result")?;
        // SAFETY: XLA allocates every result buffer of the call for it alone (no aliasing without
        // input_output_aliases, which rank_relax.jax never passes), writable during the call.
        match unsafe { buffer::<T>(b) } {
            Some((_, 0, _)) => Ok(Out { data: &mut [] }),
            // SAFETY: `buffer` checked non-null, aligned, `len` elements of `T`.
            Some((data, len, _)) => Ok(Out {
                data: unsafe { std::slice::from_raw_parts_mut(data, len) },
            }),
            None => Err(self.bad_type::<T>(name, "result")),
        }
    }

    fn item(&self, list: &Buffers, index: usize, name: &str, what: &str) -> Result<*const Buffer> {
        let size = usize::try_from(list.size).unwrap_or(0);
        if list.struct_size < BUFFERS_SIZE || index >= size || list.items.is_null() {
            return Err(Failure::internal(
                self.op,
                format_args!("no {what} {index} ({name}) in the call frame ({size} given)"),
            ));
        }
        // SAFETY: `items` has `size` entries.
        Ok(unsafe { *list.items.add(index) })
    }

    fn bad_type<T: Elem>(&self, name: &str, what: &str) -> Failure {
        let wanted = if T::DTYPE == DTYPE_PRED {
            "a bool (PRED) buffer of 0s and 1s"
        } else {
            "a buffer of the kernel's element type"
        };
        Failure::internal(self.op, format_args!("{what} {name} is not {wanted}"))
    }

    /// The attribute `name` and its type tag.
    fn attr(&self, name: &str) -> Result<(c_int, *const c_void)> {
        let attrs = &self.raw.attrs;
        let size = usize::try_from(attrs.size).unwrap_or(0);
        if attrs.struct_size >= ATTRS_SIZE && !attrs.names.is_null() {
            for i in 0..size {
                // SAFETY: `names`, `types` and `attrs` have `size` entries; each name is a span
                // of `len` bytes.
                let found = unsafe {
                    let span = &**attrs.names.add(i);
                    span.len == name.len()
                        && std::slice::from_raw_parts(span.ptr.cast::<u8>(), span.len)
                            == name.as_bytes()
                };
                if found {
                    // SAFETY: as above.
                    return Ok(unsafe { (*attrs.types.add(i), *attrs.attrs.add(i)) });
                }
            }
        }
        Err(Failure::internal(
            self.op,
            format_args!("no attribute {name} in the call frame"),
        ))
    }

    /// A string attribute parsed by the core (an enum param: `"l2"`), with the op's name in
    /// the core's message.
    pub fn enum_attr<E>(
        &self,
        name: &str,
        parse: fn(&str) -> std::result::Result<E, Error>,
    ) -> Result<E> {
        let (kind, value) = self.attr(name)?;
        if kind != ATTR_STRING || value.is_null() {
            return Err(Failure::internal(
                self.op,
                format_args!("attribute {name} is not a string"),
            ));
        }
        // SAFETY: a string attribute is an `XLA_FFI_ByteSpan`.
        let bytes = unsafe {
            let span = &*value.cast::<ByteSpan>();
            std::slice::from_raw_parts(span.ptr.cast::<u8>(), span.len)
        };
        let text = String::from_utf8_lossy(bytes);
        parse(&text).map_err(|e| Failure::from(e.with_op(self.op)))
    }

    /// The scalar attribute `name`, if it is one.
    fn scalar(&self, name: &str) -> Result<Option<&'a Scalar>> {
        let (kind, value) = self.attr(name)?;
        // SAFETY: a scalar attribute is an `XLA_FFI_Scalar`, alive for the call.
        let scalar = (kind == ATTR_SCALAR && !value.is_null())
            .then(|| unsafe { &*value.cast::<Scalar>() })
            .filter(|s| !s.value.is_null());
        Ok(scalar)
    }

    /// A bool attribute (a bool param; the spec has none today).
    #[allow(dead_code)]
    pub fn bool_attr(&self, name: &str) -> Result<bool> {
        match self.scalar(name)?.filter(|s| s.dtype == DTYPE_PRED) {
            // SAFETY: a PRED scalar is one byte.
            Some(s) => Ok(unsafe { *s.value.cast::<u8>() } != 0),
            None => Err(Failure::internal(
                self.op,
                format_args!("attribute {name} is not a bool"),
            )),
        }
    }

    /// An int attribute (an int param: `k`), an int64 scalar (int32 is widened).
    pub fn int_attr(&self, name: &str) -> Result<i64> {
        let scalar = self.scalar(name)?;
        // SAFETY: the scalar's value holds one element of its dtype; XLA does not promise
        // alignment for attribute storage, hence the unaligned reads.
        match scalar.map(|s| (s.dtype, s.value)) {
            Some((DTYPE_S64, v)) => Ok(unsafe { v.cast::<i64>().read_unaligned() }),
            Some((DTYPE_S32, v)) => Ok(i64::from(unsafe { v.cast::<i32>().read_unaligned() })),
            _ => Err(Failure::internal(
                self.op,
                format_args!("attribute {name} is not an int32 or int64 scalar"),
            )),
        }
    }

    /// A list-of-reals attribute (a list param: `quantiles`), a float32 or float64 array, in the
    /// call's element type. Its values are the core's to check (empty, NaN, out of range).
    pub fn real_list_attr<T: Float>(&self, name: &str) -> Result<Vec<T>> {
        let (kind, value) = self.attr(name)?;
        let not_a_list = || {
            Failure::internal(
                self.op,
                format_args!("attribute {name} is not a float32 or float64 array"),
            )
        };
        if kind != ATTR_ARRAY || value.is_null() {
            return Err(not_a_list());
        }
        // SAFETY: an array attribute is an `XLA_FFI_Array`, alive for the call.
        let array = unsafe { &*value.cast::<Array>() };
        if array.size == 0 {
            return Ok(Vec::new());
        }
        if array.data.is_null() {
            return Err(not_a_list());
        }
        let read = |i: usize| -> Option<f64> {
            // SAFETY: `data` holds `size` elements of `dtype` (read unaligned, as above).
            match array.dtype {
                DTYPE_F64 => Some(unsafe { array.data.cast::<f64>().add(i).read_unaligned() }),
                DTYPE_F32 => Some(f64::from(unsafe {
                    array.data.cast::<f32>().add(i).read_unaligned()
                })),
                _ => None,
            }
        };
        (0..array.size)
            .map(|i| read(i).map(T::from_f64).ok_or_else(not_a_list))
            .collect()
    }
}

impl<T> In<'_, T> {
    /// The number of elements.
    fn len(&self) -> usize {
        self.data.len()
    }
}

// ------------------------------------------------------------------------------------------------
// The row split

/// The rows of one call, cut into the parts that share the values of the real params.
///
/// A real param (ε) is an operand, so that it can be traced and differentiated. Its buffer holds
/// one value, or, under `vmap` with `vmap_method="broadcast_all"`, one value per mapped sample
/// (the mapped dims lead every buffer): then, unless all the values are equal, the kernel runs
/// once per sample on that sample's rows, as the `pure_callback` path does.
pub struct Split {
    rows: usize,
    n: usize,
    parts: usize,
}

/// One part of a [`Split`]: rows `rows` of every buffer, computed with the params' value `index`.
pub struct Part {
    /// The kernel's shape for this part.
    pub shape: Shape,
    index: usize,
    rows: Range<usize>,
    whole: bool,
}

impl Split {
    /// The split of a call whose first `[..., n]` buffer is `first`, with real params `reals`.
    pub fn new<T: Elem>(op: &str, first: &In<'_, T>, reals: &[&In<'_, T>]) -> Result<Split> {
        let Some((&n, lead)) = first.dims.split_last() else {
            return Err(Failure::internal(op, "a [..., n] argument is 0-d"));
        };
        let n = usize::try_from(n).map_err(|_| Failure::internal(op, "a negative dimension"))?;
        let rows = lead.iter().map(|&d| d as usize).product::<usize>();
        let uniform = reals.iter().all(|r| r.data.iter().all(|v| *v == r.data[0]));
        if uniform || reals.is_empty() {
            return Ok(Split { rows, n, parts: 1 });
        }
        let parts = reals[0].len();
        if reals.iter().any(|r| r.len() != parts) || parts == 0 || rows % parts != 0 {
            return Err(Failure::internal(
                op,
                format_args!("{parts} values of a param do not split {rows} rows"),
            ));
        }
        Ok(Split { rows, n, parts })
    }

    /// The parts, in order.
    pub fn parts(&self) -> impl Iterator<Item = Part> + '_ {
        let per = self.rows / self.parts.max(1);
        (0..self.parts).map(move |index| Part {
            shape: Shape::new(per, self.n),
            index,
            rows: index * per..(index + 1) * per,
            whole: self.parts == 1,
        })
    }
}

impl Part {
    /// This part's value of a real param.
    pub fn real<T: Copy>(&self, param: &In<'_, T>) -> T {
        param.data[if param.data.len() > self.index {
            self.index
        } else {
            0
        }]
    }

    fn range(&self, len: usize, width: usize) -> Option<Range<usize>> {
        let range = self.rows.start.checked_mul(width)?..self.rows.end.checked_mul(width)?;
        (range.end <= len).then_some(range)
    }

    /// This part's rows of a `[..., n]` argument (the whole buffer when there is one part: the
    /// core checks its length).
    pub fn matrix<'b, T>(&self, buffer: &'b In<'_, T>) -> &'b [T] {
        self.slice(buffer.data, self.shape.n)
    }

    /// This part's rows of an optional `[..., n]` argument (a mask), `None` when it is absent.
    pub fn optional_matrix<'b, T>(&self, buffer: &'b Option<In<'_, T>>) -> Option<&'b [T]> {
        buffer.as_ref().map(|b| self.matrix(b))
    }

    /// This part's values of a `[...]` argument (one value per row).
    pub fn per_row<'b, T>(&self, buffer: &'b In<'_, T>) -> &'b [T] {
        self.slice(buffer.data, 1)
    }

    /// This part's rows of a `[..., n]` result.
    pub fn matrix_mut<'b, T>(&self, buffer: &'b mut Out<'_, T>) -> &'b mut [T] {
        self.slice_mut(buffer.data, self.shape.n)
    }

    /// This part's values of a `[...]` result (one value per row).
    pub fn per_row_mut<'b, T>(&self, buffer: &'b mut Out<'_, T>) -> &'b mut [T] {
        self.slice_mut(buffer.data, 1)
    }

    /// This part's rows of an argument whose rows hold `width` elements (`[..., n, n]`: n²).
    pub fn rows<'b, T>(&self, buffer: &'b In<'_, T>, width: usize) -> &'b [T] {
        self.slice(buffer.data, width)
    }

    /// This part's rows of a result whose rows hold `width` elements (`[..., m]`: m).
    pub fn rows_mut<'b, T>(&self, buffer: &'b mut Out<'_, T>, width: usize) -> &'b mut [T] {
        self.slice_mut(buffer.data, width)
    }

    fn slice<'b, T>(&self, data: &'b [T], width: usize) -> &'b [T] {
        if self.whole {
            return data;
        }
        // A buffer too short for the split: an empty slice, whose length the core reports.
        self.range(data.len(), width).map_or(&[], |r| &data[r])
    }

    fn slice_mut<'b, T>(&self, data: &'b mut [T], width: usize) -> &'b mut [T] {
        if self.whole {
            return data;
        }
        match self.range(data.len(), width) {
            Some(r) => &mut data[r],
            None => &mut [],
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The handler entry point

/// Runs `body` on the call frame XLA passes a handler of `op`: answers the metadata probe,
/// checks the frame, catches panics, and turns a failure into an `XLA_FFI_Error` with its message.
///
/// # Safety
/// `frame` is the call frame XLA passes the handler (valid for the call).
pub unsafe fn handle(
    frame: *mut CallFrame,
    op: &'static str,
    body: fn(&Frame<'_>) -> Result,
) -> *mut XlaError {
    // SAFETY: the caller's contract.
    let Some(raw) = (unsafe { frame.as_ref() }) else {
        return std::ptr::null_mut();
    };
    if raw.struct_size < CALL_FRAME_SIZE {
        // Too old a frame to read further; without a usable `api` the error cannot be reported
        // either, so it is reported only when `api` is there.
        return unsafe { error(raw.api, Failure::internal(op, "call frame too small")) };
    }
    // SAFETY: the extension chain is XLA's.
    if let Some(ext) = unsafe { raw.extension_start.as_ref() } {
        if ext.kind == EXTENSION_METADATA {
            // SAFETY: a metadata extension, as its kind says.
            return unsafe { metadata(raw, ext) };
        }
    }
    if raw.stage != STAGE_EXECUTE {
        return unsafe {
            error(
                raw.api,
                Failure::internal(op, format_args!("called at stage {}", raw.stage)),
            )
        };
    }
    let frame = Frame { raw, op };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&frame))).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_owned());
        Err(Failure::internal(op, format_args!("panicked: {what}")))
    });
    match outcome {
        Ok(()) => std::ptr::null_mut(),
        // SAFETY: `api` is XLA's for the call.
        Err(failure) => unsafe { error(raw.api, failure) },
    }
}

/// Answers XLA's metadata probe: the API version and no traits.
///
/// # Safety
/// `ext` is the frame's extension, of kind metadata.
unsafe fn metadata(raw: &CallFrame, ext: &ExtensionBase) -> *mut XlaError {
    let ext = std::ptr::from_ref(ext).cast::<MetadataExtension>();
    // SAFETY: the extension is a `XLA_FFI_Metadata_Extension`, sizes checked before use.
    unsafe {
        if (*ext).extension_base.struct_size < METADATA_EXTENSION_SIZE {
            return error(
                raw.api,
                Failure::internal("rank_relax", "metadata extension too small"),
            );
        }
        let Some(metadata) = (*ext).metadata.as_mut() else {
            return std::ptr::null_mut();
        };
        if metadata.struct_size < METADATA_SIZE {
            return error(
                raw.api,
                Failure::internal("rank_relax", "metadata too small"),
            );
        }
        let (major, minor) = api_version();
        metadata.api_version = ApiVersion {
            struct_size: API_VERSION_SIZE,
            extension_start: std::ptr::null_mut(),
            major_version: major,
            minor_version: minor,
        };
        metadata.traits = 0;
    }
    std::ptr::null_mut()
}

/// A failure as an `XLA_FFI_Error` (XLA copies the message). Null, which XLA reads as success,
/// only when there is no API to create the error with (never for a call XLA makes).
///
/// # Safety
/// `api` is null or XLA's API struct.
unsafe fn error(api: *const Api, failure: Failure) -> *mut XlaError {
    // SAFETY: the caller's contract.
    let Some(api) = (unsafe { api.as_ref() }) else {
        return std::ptr::null_mut();
    };
    let Some(create) = api.error_create.filter(|_| api.struct_size >= API_SIZE) else {
        return std::ptr::null_mut();
    };
    let message = CString::new(failure.message.replace('\0', " "))
        .unwrap_or_else(|_| CString::from(c"rank_relax: error"));
    let mut args = ErrorCreateArgs {
        struct_size: ERROR_CREATE_ARGS_SIZE,
        extension_start: std::ptr::null_mut(),
        message: message.as_ptr(),
        errc: failure.code as c_int,
    };
    // SAFETY: XLA's own function, called with a valid argument struct.
    unsafe { create(&mut args) }
}
