//! Fuzzes every entry point of the C ABI through the rlib's `extern "C"` functions: see
//! `tests/fuzz_harness/mod.rs` (shared with the stable regression test) for what is generated
//! and what counts as a finding. Run by `scripts/fuzz.sh`.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../tests/fuzz_harness/mod.rs"]
mod harness;

fuzz_target!(|data: &[u8]| harness::run(data));
