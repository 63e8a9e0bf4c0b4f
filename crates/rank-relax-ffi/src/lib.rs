//! The C ABI of rank-relax, declared in `include/rank_relax.h`.
//!
//! `generated/` holds one module per op with its `rr_<op>_<forward|backward>_<f32|f64>` entry
//! points, generated from `bindings-spec/rank-relax.yaml` by `rank-relax-codegen` (never edit it by
//! hand); `plumbing` is the hand-written part every entry point goes through: panic catching,
//! pointer and size checks, the thread-local error message, and the runtime functions
//! `rr_last_error` and `rr_set_num_threads`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod generated;
pub mod plumbing;
