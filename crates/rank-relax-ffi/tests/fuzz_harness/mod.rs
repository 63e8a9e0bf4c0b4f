//! The fuzz harness of the C ABI, shared by the cargo-fuzz target (`fuzz/fuzz_targets/c_abi.rs`,
//! nightly) and the stable regression test (`tests/fuzz_regressions.rs`), which replays every
//! reproducer the fuzzer found.
//!
//! [`run`] turns arbitrary bytes into one call (or a forward then a backward, a JVP or an HVP) of
//! one entry point of the C ABI, through the rlib's `extern "C"` functions, with a bounded shape,
//! arbitrary params (ε from raw bits, any enum code), values drawn from special floats or raw
//! bits, a mask now and then (random items absent, now and then a byte that is no `bool`), and
//! pointer games (NULL, aliasing, misalignment, a shape far larger than the buffers —
//! then every pointer is NULL, since a C caller who lies about valid pointers is outside the
//! contract). It panics (a finding) when the library
//!
//! - returns a status outside `RR_OK ..= RR_ERR_NULL_POINTER` (`RR_ERR_PANIC` means a panic was
//!   caught at the boundary: a bug);
//! - fails without a message that starts with the op name;
//! - fails after writing to an output buffer (errors are reported before any row is computed;
//!   with a mask, rows are checked as they are computed, so earlier rows may have been written);
//! - succeeds with a NaN in any output, residual-derived value or gradient;
//! - succeeds on input it should have refused (a NaN or infinite value or tangent, ε ≤ 0, a mask
//!   byte other than 0 or 1). With a mask, a value counts only at a present item of a row with at
//!   least two (a row with fewer may give zeros unread), and tangents and cotangents not at all
//!   (a sorted output's entries past the present items are not read either).
//!
//! The ops, their params by type and their buffers in C argument order come from `generated.rs`
//! (rank-relax-codegen, from the spec), so an op added to the spec is fuzzed without a change
//! here. The op is the second byte of an input modulo the number of ops, in name order.
//!
//! Panics inside the library itself abort the fuzzer through libfuzzer's panic hook even when
//! `catch_unwind` would have caught them. With `RR_FUZZ_DEBUG` set, every buffer of a call is
//! printed after it (to see what a reproducer does).

#![allow(dead_code)]

use std::ffi::CStr;

mod generated;

use generated::{Args, Dim, Elem, Op, ParamKind, MAX_BUFFERS, OPS};

use rank_relax_c::generated::{RR_ERR_NULL_POINTER, RR_OK};
use rank_relax_c::plumbing::rr_last_error;

/// Largest rows and batches the harness makes (keeps an execution in the microseconds).
pub const MAX_N: usize = 40;
/// Largest batch the harness makes.
pub const MAX_BATCH: usize = 6;

/// Reads the fuzzer's bytes; zeros once they run out.
pub struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |v, _| (v << 8) | self.u8() as u64)
    }

    fn below(&mut self, n: usize) -> usize {
        self.u8() as usize % n
    }

    fn i32(&mut self) -> i32 {
        self.u64() as i32
    }
}

/// A buffer as the C caller holds it: `len` elements of 8 bytes or fewer, with room to misalign.
struct Buf {
    name: &'static str,
    elem: Elem,
    written: bool,
    len: usize,
    data: Vec<u64>,
    /// Byte offset of the pointer passed (1 to misalign).
    offset: usize,
    /// Pass NULL.
    null: bool,
    /// Pass another buffer's pointer (index into the call's buffers).
    alias: Option<(usize, usize)>,
}

impl Buf {
    /// The data as bytes (a bool buffer's elements).
    fn bytes(&self) -> &[u8] {
        // SAFETY: u64s viewed as their bytes.
        unsafe { std::slice::from_raw_parts(self.data.as_ptr() as *const u8, self.data.len() * 8) }
    }

    fn data_bytes(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`.
        unsafe {
            std::slice::from_raw_parts_mut(self.data.as_mut_ptr() as *mut u8, self.data.len() * 8)
        }
    }

    fn new(name: &'static str, elem: Elem, written: bool, len: usize) -> Self {
        Buf {
            name,
            elem,
            written,
            len,
            data: vec![0; len + 2],
            offset: 0,
            null: false,
            alias: None,
        }
    }
}

/// f32 or f64: how the harness reads and writes elements of a real buffer.
pub trait Real: Copy + PartialEq + std::fmt::Debug {
    const F32: bool;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
}

impl Real for f32 {
    const F32: bool = true;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl Real for f64 {
    const F32: bool = false;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
}

fn get<T: Real>(b: &Buf, i: usize) -> f64 {
    // SAFETY: `data` holds at least `len + 2` u64s, so `len` elements of T (≤ 8 bytes) fit.
    unsafe {
        match b.elem {
            Elem::Int32 => *(b.data.as_ptr() as *const i32).add(i) as f64,
            Elem::Bool => *(b.data.as_ptr() as *const u8).add(i) as f64,
            Elem::Real => (*(b.data.as_ptr() as *const T).add(i)).to_f64(),
        }
    }
}

/// A bool buffer's element is its byte (`v as u8`: 0, 1, or a byte that is no `bool`).
fn set<T: Real>(b: &mut Buf, i: usize, v: f64) {
    // SAFETY: as in `get`.
    unsafe {
        match b.elem {
            Elem::Int32 => *(b.data.as_mut_ptr() as *mut i32).add(i) = v as i32,
            Elem::Bool => *(b.data.as_mut_ptr() as *mut u8).add(i) = v as u8,
            Elem::Real => *(b.data.as_mut_ptr() as *mut T).add(i) = T::from_f64(v),
        }
    }
}

/// Bytes per element of a buffer in a call in `T`.
fn elem_size<T: Real>(b: &Buf) -> usize {
    match b.elem {
        Elem::Int32 => 4,
        Elem::Bool => 1,
        Elem::Real => std::mem::size_of::<T>(),
    }
}

/// A value for an input: mostly ordinary (with ties), sometimes special, sometimes raw bits.
fn value(bytes: &mut Bytes, nonneg: bool) -> f64 {
    const SPECIAL: [f64; 16] = [
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.5,
        1e-300,
        -1e300,
        1e300,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        3.4e38,
        1e-45,
        f64::NAN,
        f64::INFINITY,
    ];
    let v = match bytes.below(8) {
        0..=3 => (bytes.below(16) as f64 - 8.0) / 4.0,
        4 | 5 => SPECIAL[bytes.below(16)],
        6 => f64::from_bits(bytes.u64()),
        _ => bytes.u8() as f64 * 1e-3,
    };
    if nonneg && bytes.below(8) != 0 {
        v.abs()
    } else {
        v
    }
}

fn epsilon(bytes: &mut Bytes) -> f64 {
    const NICE: [f64; 12] = [
        1.0, 0.1, 0.01, 1e-4, 1e-8, 10.0, 1e8, 1e-300, 5e-324, 1e300, 0.0, -1.0,
    ];
    match bytes.below(4) {
        0 => f64::from_bits(bytes.u64()),
        _ => NICE[bytes.below(12)],
    }
}

fn code(bytes: &mut Bytes) -> i32 {
    match bytes.below(8) {
        0 => bytes.i32(),
        k => (k % 2) as i32,
    }
}

/// The pointers of a call's buffers, after the pointer games.
fn pointers(bufs: &mut [Buf]) -> Vec<*mut u8> {
    let base: Vec<*mut u8> = bufs
        .iter_mut()
        .map(|b| b.data.as_mut_ptr() as *mut u8)
        .collect();
    bufs.iter()
        .enumerate()
        .map(|(k, b)| {
            if b.null {
                std::ptr::null_mut()
            } else if let Some((other, bytes)) = b.alias {
                // SAFETY: inside the other buffer's allocation (checked in `pointer_games`).
                unsafe { base[other].add(bytes) }
            } else {
                // SAFETY: offset 0 to 3, inside the allocation.
                unsafe { base[k].add(b.offset) }
            }
        })
        .collect()
}

/// The op's forward or backward entry point in `T`.
unsafe fn call<T: Real>(
    op: &Op,
    backward: bool,
    batch: usize,
    n: usize,
    args: &Args,
    p: &[*mut u8],
) -> i32 {
    let kernel = match (backward, T::F32) {
        (false, true) => op.forward_f32,
        (false, false) => op.forward_f64,
        (true, true) => op.backward_f32,
        (true, false) => op.backward_f64,
    };
    // SAFETY: the harness's pointers are valid for the lengths the shape implies, NULL, or
    // deliberately aliased/misaligned inside valid allocations (which the library refuses).
    unsafe { kernel(batch, n, args, p) }
}

/// An int param for rows of `n` items: mostly in `0..=n`, now and then anything.
fn int(bytes: &mut Bytes, n: usize) -> i64 {
    match bytes.below(8) {
        0 => bytes.u64() as i64,
        1 => -1,
        2 => n as i64 + 1,
        _ => bytes.below(n + 1) as i64,
    }
}

/// A list param: mostly 1 to 4 levels in [0, 1], now and then empty or with a special value.
fn list(bytes: &mut Bytes) -> Vec<f64> {
    const ODD: [f64; 5] = [f64::NAN, f64::INFINITY, -0.5, 1.5, -0.0];
    let len = match bytes.below(8) {
        0 => 0,
        k => 1 + k % 4,
    };
    (0..len)
        .map(|_| match bytes.below(8) {
            0 => ODD[bytes.below(ODD.len())],
            k => (k - 1) as f64 / 6.0,
        })
        .collect()
}

/// The params of a call: every real param gets `eps`, the enum params take `codes` in argument
/// order (more are drawn if an op has more), bools are drawn. Ints and lists come with the shape
/// ([`sized_args`]).
fn args_of(bytes: &mut Bytes, op: &Op, eps: f64, codes: [i32; 2]) -> Args {
    let mut args = Args::default();
    let mut more = codes.into_iter();
    for kind in op.params {
        match kind {
            ParamKind::Real => args.reals.push(eps),
            ParamKind::Enum => args.codes.push(more.next().unwrap_or_else(|| code(bytes))),
            ParamKind::Bool => args.flags.push(bytes.below(2) == 1),
            ParamKind::Int | ParamKind::List => {}
        }
    }
    args
}

/// Draws the int and list params, in argument order, for rows of `n` items. Drawn after the shape
/// so that the bytes of an op without them mean what they meant before ints and lists existed.
fn sized_args(bytes: &mut Bytes, op: &Op, args: &mut Args, n: usize) {
    for kind in op.params {
        match kind {
            ParamKind::Int => args.ints.push(int(bytes, n)),
            ParamKind::List => {
                let levels = list(bytes);
                args.lists_f32
                    .push(levels.iter().map(|&v| v as f32).collect());
                args.lists.push(levels);
            }
            ParamKind::Real | ParamKind::Enum | ParamKind::Bool => {}
        }
    }
}

/// Elements of a buffer whose dims after `batch` are `row` (an out-of-range int param gives an
/// empty dim: the call refuses it before touching the buffer).
fn extent(row: &[Dim], batch: usize, n: usize, args: &Args) -> usize {
    row.iter().fold(batch, |len, d| {
        len * match *d {
            Dim::N => n,
            Dim::Int(i) => usize::try_from(args.ints[i]).map_or(0, |k| k.min(n)),
            Dim::Length(i) => args.lists[i].len(),
        }
    })
}

fn last_error() -> String {
    // SAFETY: rr_last_error returns a valid NUL-terminated string owned by this thread.
    unsafe { CStr::from_ptr(rr_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Plays pointer games on the buffers of one call: NULL, aliasing or misaligning one of them.
///
/// With `saves_trusted`, a read-only buffer is never pointed at other memory: the backward trusts
/// its saved inputs to be the forward's (an input aliased into the cotangent is an inconsistent
/// save, outside the contract); written buffers are, and must be refused.
fn pointer_games<T: Real>(bytes: &mut Bytes, bufs: &mut [Buf], saves_trusted: bool) -> bool {
    if bufs.is_empty() || bytes.below(6) != 0 {
        return false;
    }
    let k = bytes.below(bufs.len());
    let size = elem_size::<T>(&bufs[k]);
    match bytes.below(3) {
        0 => bufs[k].null = true,
        1 if saves_trusted && !bufs[k].written => return false,
        1 => {
            // Another buffer's memory, at some byte offset, as long as it stays inside that
            // allocation (a pointer past it would be the caller's fault, not a finding).
            let other = bytes.below(bufs.len());
            let room = bufs[other].data.len() * 8;
            let need = bufs[k].len * size;
            if need > room {
                return false;
            }
            bufs[k].alias = Some((other, bytes.below(room - need + 1)));
        }
        _ => bufs[k].offset = 1 + bytes.below(3),
    }
    true
}

/// Checks a call's outcome: a known status with a message naming the op; nothing written on
/// error (without a mask: a masked call checks each row as it computes it, so the rows before
/// the failing one may have been written); no NaN written on success.
fn check_outcome<T: Real>(
    op: &str,
    what: &str,
    status: i32,
    bufs: &[Buf],
    before: &[Vec<u64>],
    games: bool,
) {
    assert!(
        (RR_OK..=RR_ERR_NULL_POINTER).contains(&status),
        "{op} {what}: status {status}: {}",
        last_error()
    );
    if status != RR_OK {
        let message = last_error();
        assert!(
            message.starts_with(&format!("{op}: ")),
            "{op} {what}: message {message:?}"
        );
        if !games && !has_mask(bufs) {
            for (b, old) in bufs.iter().zip(before) {
                assert!(
                    b.data == *old,
                    "{op} {what}: {} written although the call failed ({message})",
                    b.name
                );
            }
        }
        return;
    }
    if std::env::var_os("RR_FUZZ_DEBUG").is_some() {
        for b in bufs {
            let v: Vec<f64> = (0..b.len).map(|i| get::<T>(b, i)).collect();
            eprintln!("{op} {what} {}: {v:?}", b.name);
        }
    }
    for b in bufs.iter().filter(|b| b.written && b.elem == Elem::Real) {
        for i in 0..b.len {
            let v = get::<T>(b, i);
            assert!(
                !v.is_nan(),
                "{op} {what}: {}[{i}] is NaN after RR_OK",
                b.name
            );
        }
    }
}

/// The saved buffers of a backward or JVP: copies of the forward's, by name.
fn saved_copies(spec: &Op, fwd: &[Buf]) -> Vec<Buf> {
    spec.saved
        .iter()
        .map(|name| {
            let src = fwd.iter().find(|b| b.name == *name).unwrap();
            Buf {
                name: src.name,
                elem: src.elem,
                written: false,
                len: src.len,
                data: src.data.clone(),
                offset: 0,
                // An absent mask stays absent.
                null: src.null,
                alias: None,
            }
        })
        .collect()
}

/// Whether a call's mask is given (not NULL).
fn has_mask(bufs: &[Buf]) -> bool {
    bufs.iter().any(|b| b.elem == Elem::Bool && !b.null)
}

/// The forward's masks (bool inputs). Not drawn: NULL (absent) when optional, else every item
/// present. Drawn: mostly present items, and now and then one byte that is no `bool` (to be
/// refused). Returns whether it drew such a byte.
fn masks(bytes: &mut Bytes, bufs: &mut [Buf], spec: &Op, draw: bool) -> bool {
    let mut bad = false;
    for (b, layout) in bufs.iter_mut().zip(spec.forward) {
        if b.elem != Elem::Bool || b.written {
            continue;
        }
        if !draw {
            b.null = layout.optional;
            let len = b.len;
            b.data_bytes()[..len].fill(1);
            continue;
        }
        for i in 0..b.len {
            let present = bytes.below(4) != 0;
            b.data_bytes()[i] = present as u8;
        }
        if b.len > 0 && bytes.below(16) == 0 {
            let i = bytes.below(b.len);
            b.data_bytes()[i] = 2 + bytes.below(254) as u8;
            bad = true;
        }
    }
    bad
}

/// Whether element `i` of a forward input is surely read, given the mask's elements (`flags`):
/// for an input of the mask's shape, a present item of a row with at least two (a row with fewer
/// may give zeros unread); an input of another shape is read whole.
fn is_read(flags: &[u8], len: usize, n: usize, i: usize) -> bool {
    if len != flags.len() || n == 0 {
        return true;
    }
    let row = &flags[i / n * n..(i / n + 1) * n];
    flags[i] == 1 && row.iter().filter(|&&f| f == 1).count() >= 2
}

/// The forward-mode kernel or the second-order one.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Derivative {
    Jvp,
    Hvp,
}

/// The JVP or the HVP on the forward's saved buffers, with drawn cotangents and tangents (special
/// floats among them) and a drawn scalar tangent of each param with a gradient.
fn run_derivative<T: Real>(
    bytes: &mut Bytes,
    spec: &Op,
    which: Derivative,
    fwd: &[Buf],
    batch: usize,
    n: usize,
    args: &mut Args,
) {
    let op = spec.name;
    let (kernel, layouts, what) = match which {
        Derivative::Jvp => (
            if T::F32 { spec.jvp_f32 } else { spec.jvp_f64 },
            spec.jvp,
            "jvp",
        ),
        Derivative::Hvp => (
            if T::F32 { spec.hvp_f32 } else { spec.hvp_f64 },
            spec.hvp,
            "hvp",
        ),
    };
    let Some(kernel) = kernel else {
        return;
    };
    let mut bufs = saved_copies(spec, fwd);
    let masked = has_mask(fwd);
    let mut refuse = false;
    for layout in layouts {
        let written = layout.written;
        let mut b = Buf::new(
            layout.name,
            layout.elem,
            written,
            extent(layout.row, batch, n, args),
        );
        for i in 0..b.len {
            let v = if written { 7.25 } else { value(bytes, false) };
            set::<T>(&mut b, i, v);
            refuse |= !written && !masked && !get::<T>(&b, i).is_finite();
        }
        bufs.push(b);
    }
    args.scalars.clear();
    for _ in 0..spec.param_tangents {
        let t = if bytes.below(4) == 0 {
            value(bytes, false)
        } else {
            0.0
        };
        refuse |= !T::from_f64(t).to_f64().is_finite();
        args.scalars.push(t);
    }
    let games = pointer_games::<T>(bytes, &mut bufs, true);
    let before: Vec<Vec<u64>> = bufs.iter().map(|b| b.data.clone()).collect();
    let p = pointers(&mut bufs);
    // SAFETY: as for the forward.
    let status = unsafe { kernel(batch, n, args, &p) };
    check_outcome::<T>(op, what, status, &bufs, &before, games);
    if status == RR_OK && refuse && !games && batch * n > 0 {
        panic!("{op}: {what} accepted a non-finite tangent or cotangent");
    }
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut bytes = Bytes(data);
    if bytes.below(2) == 0 {
        run_typed::<f64>(&mut bytes)
    } else {
        run_typed::<f32>(&mut bytes)
    }
}

fn run_typed<T: Real>(bytes: &mut Bytes) {
    let spec = &OPS[bytes.below(OPS.len())];
    let op = spec.name;
    let eps = T::from_f64(epsilon(bytes));
    let codes = [code(bytes), code(bytes)];
    let mut args = args_of(bytes, spec, eps.to_f64(), codes);
    if std::env::var_os("RR_FUZZ_DEBUG").is_some() {
        eprintln!(
            "{op} {} ε = {:e}, codes {codes:?}",
            if T::F32 { "f32" } else { "f64" },
            eps.to_f64()
        );
    }

    if bytes.below(16) == 0 {
        // A shape far beyond any buffer: every pointer NULL. Must be refused (or be empty).
        let (batch, n) = (
            bytes.u64() as usize >> bytes.below(64),
            bytes.u64() as usize >> bytes.below(64),
        );
        let backward = bytes.below(2) != 0;
        sized_args(bytes, spec, &mut args, MAX_N);
        let p = vec![std::ptr::null_mut(); MAX_BUFFERS];
        // SAFETY: NULL pointers; the library may not dereference them unless batch × n = 0.
        let status = unsafe { call::<T>(spec, backward, batch, n, &args, &p) };
        assert!(
            (RR_OK..=RR_ERR_NULL_POINTER).contains(&status),
            "{op} {batch}×{n}: status {status}"
        );
        if status != RR_OK {
            assert!(
                last_error().starts_with(&format!("{op}: ")),
                "{op}: {}",
                last_error()
            );
        }
        return;
    }

    let batch = bytes.below(MAX_BATCH + 1);
    let n = bytes.below(MAX_N + 1);
    sized_args(bytes, spec, &mut args, n);
    let mut fwd: Vec<Buf> = spec
        .forward
        .iter()
        .map(|b| Buf::new(b.name, b.elem, b.written, extent(b.row, batch, n, &args)))
        .collect();
    // Drawn (a byte) only for an op with a mask, so that the bytes of a reproducer of an op
    // without one keep their meaning.
    let draw = spec.forward.iter().any(|b| b.elem == Elem::Bool) && bytes.below(4) == 0;
    let mut refuse = masks(bytes, &mut fwd, spec, draw);
    let flags: Option<Vec<u8>> = fwd
        .iter()
        .find(|b| b.elem == Elem::Bool && !b.null)
        .map(|b| b.bytes()[..b.len].to_vec());
    let inputs = fwd.iter_mut().zip(spec.forward);
    for (b, layout) in inputs.filter(|(b, _)| !b.written && b.elem != Elem::Bool) {
        let nonneg = layout.nonnegative;
        for i in 0..b.len {
            let v = value(bytes, nonneg);
            let stored = T::from_f64(v).to_f64();
            let read = flags.as_deref().is_none_or(|f| is_read(f, b.len, n, i));
            refuse |= read && (!stored.is_finite() || (nonneg && stored < 0.0));
            set::<T>(b, i, v);
        }
    }
    // Sentinels in the outputs, to see whether a failing call wrote to them.
    for b in fwd.iter_mut().filter(|b| b.written) {
        for i in 0..b.len {
            set::<T>(b, i, if b.elem == Elem::Int32 { 12345.0 } else { 7.25 });
        }
    }
    let e = eps.to_f64();
    refuse |= !(e.is_finite() && e > 0.0);
    let games = pointer_games::<T>(bytes, &mut fwd, false);
    let before: Vec<Vec<u64>> = fwd.iter().map(|b| b.data.clone()).collect();
    let p = pointers(&mut fwd);
    // SAFETY: every pointer is valid for `len` elements of its type, or a deliberate NULL,
    // alias or misalignment inside a valid allocation.
    let status = unsafe { call::<T>(spec, false, batch, n, &args, &p) };
    check_outcome::<T>(op, "forward", status, &fwd, &before, games);
    if status == RR_OK && refuse && !games && batch * n > 0 {
        panic!("{op}: forward accepted a non-finite value, negative relevance or ε = {e:e}");
    }
    if status != RR_OK || games {
        return;
    }
    if bytes.below(2) == 0 {
        // Drawn only here, so the bytes of a reproducer that stopped after the forward keep their
        // meaning (they run out, and zeros mean no JVP).
        match bytes.below(4) {
            1 => run_derivative::<T>(bytes, spec, Derivative::Jvp, &fwd, batch, n, &mut args),
            2 => run_derivative::<T>(bytes, spec, Derivative::Hvp, &fwd, batch, n, &mut args),
            _ => {}
        }
        return;
    }

    // The backward, on the forward's buffers (sometimes corrupted) and a fresh cotangent.
    let saved = spec.saved;
    let mut bwd = saved_copies(spec, &fwd);
    let masked = has_mask(&fwd);
    let mut refuse = false;
    for layout in spec.backward {
        let written = layout.written;
        let len = extent(layout.row, batch, n, &args);
        let mut b = Buf::new(layout.name, layout.elem, written, len);
        for i in 0..b.len {
            let v = if written { 7.25 } else { value(bytes, false) };
            set::<T>(&mut b, i, v);
            refuse |= !written && !masked && !get::<T>(&b, i).is_finite();
        }
        bwd.push(b);
    }
    // Corrupt a saved buffer now and then: a residual entry or a saved rank (what the backward
    // validates). Saved inputs (the mask among them) are trusted to be the forward's (finite,
    // scaled values within f64; not re-derived), so they are left alone.
    if bytes.below(4) == 0 {
        let k = bytes.below(saved.len());
        let k = if bwd[k].elem == Elem::Int32 || bwd[k].name.ends_with("ranks") {
            k
        } else {
            saved.len() - 1
        };
        if bwd[k].len > 0 && bwd[k].elem != Elem::Bool {
            let i = bytes.below(bwd[k].len);
            let v = if bwd[k].elem == Elem::Int32 {
                bytes.i32() as f64
            } else {
                value(bytes, false)
            };
            set::<T>(&mut bwd[k], i, v);
        }
    }
    let games = pointer_games::<T>(bytes, &mut bwd, true);
    let before: Vec<Vec<u64>> = bwd.iter().map(|b| b.data.clone()).collect();
    let p = pointers(&mut bwd);
    // SAFETY: as for the forward.
    let status = unsafe { call::<T>(spec, true, batch, n, &args, &p) };
    check_outcome::<T>(op, "backward", status, &bwd, &before, games);
    if status == RR_OK && refuse && !games {
        panic!("{op}: backward accepted a non-finite cotangent");
    }
}
