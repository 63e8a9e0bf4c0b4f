//! Hand-written plumbing of the Node addon. Every generated `#[napi]` function runs its body
//! through [`run`] (sync) or [`job`] (async, on the libuv pool), which turn a [`Failure`] into the
//! JS error class of its kind with the core's message, and never let a panic reach Node.
//!
//! JS errors: the core's error kinds (bad value, bad parameter, shape mismatch) become
//! `RangeError`; an unknown enum name and a written array that shares memory with another array of
//! the call (an `out` array, or a misuse of the raw binding) become `TypeError`, the latter with the
//! C ABI's message (`rank_relax_glue`); a panic becomes a plain `Error` ("internal error … please
//! report it"). Every error has `code` set to the status name of the C ABI (`RR_ERR_INVALID_VALUE`,
//! …).

use std::panic::{catch_unwind, AssertUnwindSafe};

use rank_relax::Shape;
use rank_relax_glue::{panic_message, Region};

use napi::bindgen_prelude::{AsyncTask, Unknown};
use napi::{Env, Error, JsError, JsRangeError, JsTypeError, Status, Task};
use napi_derive::napi;

use crate::generated::{self, code_of, RR_ERR_INVALID_ARGUMENT, RR_ERR_PANIC};

/// The JS class an error is thrown as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// `TypeError`: an argument of the wrong kind (unknown enum name, aliased buffers).
    Type,
    /// `RangeError`: the core rejected a value, a parameter or a shape.
    Range,
    /// `Error`: an internal failure (a caught panic).
    Plain,
}

/// An error on its way to JS: its class, its `code` and the message (the core's text).
#[derive(Clone, Debug)]
pub struct Failure {
    class: Class,
    code: &'static str,
    message: String,
}

impl Failure {
    /// A `TypeError` with the `RR_ERR_INVALID_ARGUMENT` code.
    pub fn type_error(message: String) -> Self {
        Failure {
            class: Class::Type,
            code: RR_ERR_INVALID_ARGUMENT,
            message,
        }
    }

    /// The JS error object.
    fn to_js<'env>(&self, env: &Env) -> Unknown<'env> {
        let error = Error::new(self.code.to_owned(), self.message.clone());
        let env = Env::from_raw(env.raw());
        match self.class {
            Class::Type => JsTypeError::from(error).into_unknown(env),
            Class::Range => JsRangeError::from(error).into_unknown(env),
            Class::Plain => JsError::from(error).into_unknown(env),
        }
    }

    /// Throws it as a pending exception; the `Err` napi-rs then returns without throwing again.
    fn throw(self, env: &Env) -> Error {
        let error = Error::new(self.code, self.message);
        // SAFETY: `env` is the live environment of the current call.
        unsafe {
            match self.class {
                Class::Type => JsTypeError::from(error).throw_into(env.raw()),
                Class::Range => JsRangeError::from(error).throw_into(env.raw()),
                Class::Plain => JsError::from(error).throw_into(env.raw()),
            }
        }
        Error::new(Status::PendingException, String::new())
    }
}

impl From<rank_relax::Error> for Failure {
    fn from(e: rank_relax::Error) -> Self {
        Failure {
            class: Class::Range,
            code: code_of(e.kind),
            message: e.message,
        }
    }
}

/// Runs a body, catching panics: what a generated function does, on the JS thread or in a job.
fn guarded<T>(op: &str, body: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(result) => result,
        Err(payload) => Err(Failure {
            class: Class::Plain,
            code: RR_ERR_PANIC,
            message: panic_message(op, payload.as_ref()),
        }),
    }
}

/// Runs the body of a sync entry point; a failure is thrown as its JS class.
pub fn run<T>(env: &Env, op: &str, body: impl FnOnce() -> Result<T, Failure>) -> napi::Result<T> {
    guarded(op, body).map_err(|f| f.throw(env))
}

/// The core's enum parse result, with the op name, as a `TypeError` on failure.
pub fn enum_param<E>(op: &str, parsed: Result<E, rank_relax::Error>) -> Result<E, Failure> {
    parsed.map_err(|e| Failure::type_error(e.with_op(op).message))
}

/// A real param from JS (always a double) in the kernel's type.
pub fn real<T: rank_relax::Real>(x: f64) -> T {
    T::from_f64(x)
}

/// The regions of a buffer the entry point reads and of one it writes, for [`check_disjoint`].
pub use rank_relax_glue::{read, write};

/// A written buffer that may be exactly the read buffer `may_be` (the gradient of an op with an
/// in-place VJP and its cotangent; the entry point routes that case to the core's
/// `backward_in_place` before it checks the other buffers): any overlap of the two that reaches
/// [`check_disjoint`] is a partial one, and its message says so.
pub fn write_may_be<T>(name: &'static str, s: &[T], may_be: &'static str) -> Region {
    write(name, s).may_be(may_be)
}

/// Fails when a written buffer overlaps any other buffer of the call, with
/// `rank_relax_glue::Overlap`'s message (the C ABI's text) as a `TypeError`. The TypeScript API
/// passes its `out` arrays through unchecked for overlap, so this is the one check of it; a
/// gradient that is exactly its cotangent (ops with an in-place VJP) is routed to the in-place
/// kernel before it.
pub fn check_disjoint(op: &str, regions: &[Region]) -> Result<(), Failure> {
    rank_relax_glue::check_disjoint(regions)
        .map_err(|overlap| Failure::type_error(overlap.to_error(op).message))
}

/// A bool buffer (a mask) from the `Uint8Array` the TypeScript API passes: nonzero is true. A
/// copy, so it may share memory with a written array, and a job owns it. Its length is the core's
/// to check (`mask has 5 elements, expected batch × n = …`).
pub fn bools(bytes: &[u8]) -> Vec<bool> {
    bytes.iter().map(|&b| b != 0).collect()
}

/// The shape of a call (`u32` from JS: no overflow of `batch × n` in `usize` on 64-bit targets).
pub fn shape(batch: u32, n: u32) -> Shape {
    Shape {
        batch: batch as usize,
        n: n as usize,
    }
}

/// The extent of a dim that is an int param's value (`k` of `[batch, k]`), for a scratch buffer:
/// the value where it is in `[0, max]`, else clamped there, so that a bad value costs no large
/// allocation and reaches the core, which reports it (`k must be in [0, n] = [0, 3], got 4`).
pub fn param_extent(value: i64, max: usize) -> usize {
    usize::try_from(value).map_or(0, |v| v.min(max))
}

/// An element type of a scratch buffer.
pub trait Elem: Copy {
    /// Zero.
    const ZERO: Self;
}

impl Elem for f32 {
    const ZERO: Self = 0.0;
}

impl Elem for f64 {
    const ZERO: Self = 0.0;
}

impl Elem for i32 {
    const ZERO: Self = 0;
}

/// A zeroed buffer the entry point keeps inside the addon (a residual, or an output the VJP
/// needs) of `row` elements per row: `1` for `[batch]`, `n` for `[batch, n]`, `n * n`, the number
/// of quantiles. Empty when the first input's length already disagrees with the shape, so that
/// bad input costs no allocation (the core then reports that input); a size that cannot be
/// allocated is a `RangeError` rather than an abort.
pub fn scratch<E: Elem>(
    op: &str,
    shape: Shape,
    row: usize,
    first_input_len: usize,
) -> Result<Vec<E>, Failure> {
    if Some(first_input_len) != shape.batch.checked_mul(shape.n) {
        return Ok(Vec::new());
    }
    let too_big = || Failure {
        class: Class::Range,
        code: RR_ERR_INVALID_ARGUMENT,
        message: format!(
            "{op}: a work buffer of batch × {row} = {} × {row} elements cannot be allocated",
            shape.batch
        ),
    };
    let elems = shape.batch.checked_mul(row).ok_or_else(too_big)?;
    let mut buffer = Vec::new();
    buffer.try_reserve_exact(elems).map_err(|_| too_big())?;
    buffer.resize(elems, E::ZERO);
    Ok(buffer)
}

/// The work of an async entry point: a closure over owned inputs (copied on the JS thread) and
/// the output arrays (allocated by the TypeScript API and not visible to the caller until the
/// promise settles). It runs once on the libuv pool; the closure, and with it every reference to
/// a JS array, is dropped on the JS thread after the promise settles.
pub struct Job {
    op: &'static str,
    work: Box<dyn FnMut() -> Result<(), Failure> + Send>,
}

/// An async entry point's promise: resolves to `undefined` once the outputs are written, or
/// rejects with the JS error of the failure.
pub fn job(
    op: &'static str,
    work: impl FnMut() -> Result<(), Failure> + Send + 'static,
) -> AsyncTask<Job> {
    AsyncTask::new(Job {
        op,
        work: Box::new(work),
    })
}

impl Task for Job {
    type Output = Result<(), Failure>;
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<Self::Output> {
        Ok(guarded(self.op, &mut self.work))
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<()> {
        // A rejection with the very error object, so its class survives.
        output.map_err(|f| Error::from(f.to_js(&env)))
    }
}

/// Library version (the spec's package version).
#[napi]
pub fn version() -> &'static str {
    generated::VERSION
}

/// ABI version (the spec's `abi_version`).
#[napi]
pub fn abi_version() -> u32 {
    generated::ABI_VERSION
}

/// Hash of the ABI this addon was generated for (`0x` + 16 hex digits); the package refuses an
/// addon whose hash differs from its own.
#[napi]
pub fn abi_hash() -> &'static str {
    generated::ABI_HASH
}

/// Caps the threads the core uses for the rows of a call (0 = the default: the
/// `RANK_RELAX_NUM_THREADS` environment variable, else the number of cores).
#[napi]
pub fn set_num_threads(threads: u32) {
    rank_relax::set_num_threads(threads as usize);
}

/// The number of threads the core uses now.
#[napi]
pub fn num_threads() -> u32 {
    rank_relax::num_threads() as u32
}
