//! Plumbing shared by the bindings that receive raw buffers from their caller: the C ABI
//! (`rank-relax-ffi`) and the Node addon (`rank-relax-node`).
//!
//! Both must refuse a call whose written buffer shares memory with another buffer of the call
//! before they make slices of them (two slices over one memory, one of them `&mut`, are undefined
//! behaviour, and the kernels assume it never happens), and both catch panics at the boundary.
//! The checks and their messages live here, once, so that every binding reports the same text:
//!
//! - [`Region`] (with [`read`] and [`write`]) is the memory one buffer of a call spans;
//! - [`check_disjoint`] finds a written buffer that overlaps another buffer of the call and
//!   reports it as an [`Overlap`], whose `Display` is the one wording of that error;
//! - [`panic_message`] is the text of a caught panic.
//!
//! The core (`rank-relax`) never sees raw pointers, so none of this belongs there; each binding
//! keeps its own error type and maps an [`Overlap`] to it (C: `RR_ERR_INVALID_ARGUMENT`; Node: a
//! `TypeError` with that code).

use std::any::Any;
use std::fmt;
use std::mem::size_of_val;

use rank_relax::{Error, ErrorKind};

/// The memory one buffer of a call spans: `bytes` bytes from address `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    name: &'static str,
    start: usize,
    bytes: usize,
    written: bool,
    may_be: Option<&'static str>,
}

impl Region {
    /// A buffer named `name` (its name in the spec and the C ABI: `values`, `grad_values`, …) of
    /// `bytes` bytes at `start`, which the call writes if `written`.
    pub fn new(name: &'static str, start: usize, bytes: usize, written: bool) -> Region {
        Region {
            name,
            start,
            bytes,
            written,
            may_be: None,
        }
    }

    /// The same buffer, allowed to be exactly the buffer named `other` (the same start and
    /// length): the gradient of an op with an in-place VJP over its cotangent. The binding routes
    /// that case to the core's `backward_in_place` before it checks the other buffers;
    /// [`check_disjoint`] still refuses any overlap of the two, and its message then says that
    /// only the whole buffer is allowed.
    pub fn may_be(self, other: &'static str) -> Region {
        Region {
            may_be: Some(other),
            ..self
        }
    }

    /// The buffer's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the call writes it.
    pub fn is_written(&self) -> bool {
        self.written
    }

    fn overlaps(&self, other: &Region) -> bool {
        self.bytes != 0
            && other.bytes != 0
            && self.start < other.start + other.bytes
            && other.start < self.start + self.bytes
    }
}

/// A buffer the call reads, from its slice.
pub fn read<T>(name: &'static str, s: &[T]) -> Region {
    Region::new(name, s.as_ptr() as usize, size_of_val(s), false)
}

/// A buffer the call writes, from its slice (not yet borrowed mutably).
pub fn write<T>(name: &'static str, s: &[T]) -> Region {
    Region::new(name, s.as_ptr() as usize, size_of_val(s), true)
}

/// A written buffer that shares memory with another buffer of the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Overlap {
    /// The written buffer (of two written ones, the first in the call's order).
    pub written: &'static str,
    /// The buffer it overlaps.
    pub other: &'static str,
    /// `written` may be `other` itself, though not overlap it in part (an in-place VJP).
    pub may_be_other: bool,
}

impl fmt::Display for Overlap {
    /// The message without the op name: `ranks overlaps values; a written buffer must not share
    /// memory with another buffer of the call`, plus ` (grad_values may be cotangent_ranks
    /// itself, but not overlap it in part)` where that is allowed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} overlaps {}; a written buffer must not share memory with another buffer of the call",
            self.written, self.other
        )?;
        if self.may_be_other {
            write!(
                f,
                " ({} may be {} itself, but not overlap it in part)",
                self.written, self.other
            )?;
        }
        Ok(())
    }
}

impl Overlap {
    /// The core's error for it: `InvalidArgument`, with the message prefixed by `op`
    /// (`soft_rank: ranks overlaps values; …`).
    pub fn to_error(&self, op: &str) -> Error {
        Error::new(ErrorKind::InvalidArgument, format!("{op}: {self}"))
    }
}

/// The first written buffer that overlaps another buffer of the call, in the call's order. Empty
/// buffers overlap nothing, and read buffers may overlap each other.
pub fn check_disjoint(regions: &[Region]) -> Result<(), Overlap> {
    for (i, a) in regions.iter().enumerate() {
        for b in &regions[i + 1..] {
            if !(a.written || b.written) || !a.overlaps(b) {
                continue;
            }
            let (w, other) = if a.written { (a, b) } else { (b, a) };
            return Err(Overlap {
                written: w.name,
                other: other.name,
                may_be_other: w.may_be == Some(other.name) || other.may_be == Some(w.name),
            });
        }
    }
    Ok(())
}

/// The text of a panic payload (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_text(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "unknown panic payload"
    }
}

/// The message of a panic caught at the boundary of an `op` call.
pub fn panic_message(op: &str, payload: &(dyn Any + Send)) -> String {
    format!(
        "{op}: internal error (panic: {}); please report it",
        panic_text(payload)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_buffer_must_not_overlap_another() {
        let data = [0.0f64; 8];
        let values = read("values", &data[..4]);
        let ranks = write("ranks", &data[2..6]);
        let sorted = write("sorted", &data[4..]);
        let err = check_disjoint(&[values, ranks]).unwrap_err();
        assert_eq!(
            err.to_error("soft_rank").message,
            "soft_rank: ranks overlaps values; a written buffer must not share memory with another buffer of the call"
        );
        assert_eq!(err.to_error("soft_rank").kind, ErrorKind::InvalidArgument);
        assert!(check_disjoint(&[values, sorted]).is_ok());
        // Two reads may share memory.
        assert!(check_disjoint(&[values, read("targets", &data[..])]).is_ok());
        // Two written buffers: the first is named first.
        let err = check_disjoint(&[ranks, sorted, write("permutation", &data[..1])]).unwrap_err();
        assert_eq!((err.written, err.other), ("ranks", "sorted"));
        // Empty buffers overlap nothing.
        assert!(check_disjoint(&[values, write("ranks", &data[..0])]).is_ok());
    }

    #[test]
    fn an_in_place_gradient_may_be_its_cotangent_but_not_part_of_it() {
        let data = [0.0f64; 8];
        let cotangent = read("cotangent_ranks", &data[..4]);
        let grad = write("grad_values", &data[1..5]).may_be("cotangent_ranks");
        let err = check_disjoint(&[cotangent, grad]).unwrap_err();
        assert!(err.may_be_other);
        assert_eq!(
            err.to_string(),
            "grad_values overlaps cotangent_ranks; a written buffer must not share memory with \
             another buffer of the call (grad_values may be cotangent_ranks itself, but not \
             overlap it in part)"
        );
        // Another buffer overlapping the gradient gets the plain message.
        let err = check_disjoint(&[read("values", &data[..]), grad]).unwrap_err();
        assert!(!err.may_be_other);
    }

    #[test]
    fn panic_payloads_become_text() {
        let payload = std::panic::catch_unwind(|| panic!("boom {}", 1)).unwrap_err();
        assert_eq!(
            panic_message("op", payload.as_ref()),
            "op: internal error (panic: boom 1); please report it"
        );
        let payload = std::panic::catch_unwind(|| std::panic::panic_any(7)).unwrap_err();
        assert_eq!(panic_text(payload.as_ref()), "unknown panic payload");
    }
}
