//! Replays every reproducer the fuzzer found (`tests/fuzz-regressions/*`, raw fuzz inputs)
//! through the fuzz harness on the stable toolchain, plus a batch of generated inputs, so a
//! fixed finding stays fixed without nightly. `scripts/fuzz.sh` copies new crashes here.

mod fuzz_harness;

use std::path::PathBuf;

#[test]
fn every_fuzz_reproducer_passes() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files
        .iter()
        .filter(|p| p.extension().is_none_or(|e| e != "md"))
    {
        let data = std::fs::read(path).unwrap();
        println!("{}", path.display());
        fuzz_harness::run(&data);
    }
}

#[test]
fn pseudo_random_inputs_pass() {
    // A cheap stand-in for the fuzzer on stable: deterministic bytes from a xorshift.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    // Under Miri (scripts/miri.sh) a few dozen; each is interpreted.
    let count = if cfg!(miri) { 40 } else { 3000 };
    for len in (0..count).map(|i| i % 300) {
        let data: Vec<u8> = (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        fuzz_harness::run(&data);
    }
}
