//! The Node.js addon of rank-relax (napi-rs v3), loaded by the `@rank-relax/node` package.
//!
//! `generated/` holds one module per op with its `#[napi]` functions, generated from
//! `bindings-spec/rank-relax.yaml` by `rank-relax-codegen` (never edit it by hand); `plumbing` is
//! the hand-written part they go through: error mapping (core error kind → `TypeError` /
//! `RangeError`, same text), buffer checks, the async job on the libuv pool, and the runtime
//! exports (`version`, `abiVersion`, `abiHash`, `setNumThreads`).

#![deny(unsafe_op_in_unsafe_fn)]

pub mod bench;
pub mod generated;
pub mod plumbing;
