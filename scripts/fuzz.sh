#!/usr/bin/env bash
# Fuzzes the C ABI for a bounded time: the cargo-fuzz target crates/rank-relax-ffi/fuzz (c_abi,
# libFuzzer) drives every rr_<op>_<forward|backward|jvp|hvp>_<f32|f64> entry point through the rlib with
# arbitrary shapes, params, values and pointers (see crates/rank-relax-ffi/tests/fuzz_harness).
# A panic (even one caught at the boundary), an unknown status, a NaN after RR_OK, a write on
# error, an accepted bad value or an input running over 10 s is a finding.
#
#   bash scripts/fuzz.sh [SECONDS]      (default 300; FUZZ_SECONDS works too)
#
# Needs nightly (installed here with the minimal profile, plus cargo-fuzz). The reproducers of
# earlier findings (crates/rank-relax-ffi/tests/fuzz-regressions) seed the corpus; a new finding
# is copied there, so `cargo test -p rank-relax-ffi --test fuzz_regressions` replays it on stable.
# Prints how long it ran and how many inputs it executed; exits non-zero on a finding.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT/crates/rank-relax-ffi"

TOTAL="${1:-${FUZZ_SECONDS:-300}}"
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +nightly install cargo-fuzz --locked
fi

cargo +nightly fuzz build c_abi
CORPUS=fuzz/corpus/c_abi
ARTIFACTS=fuzz/artifacts/c_abi
REGRESSIONS=tests/fuzz-regressions
mkdir -p "$CORPUS" "$ARTIFACTS" "$REGRESSIONS"
find "$REGRESSIONS" -type f ! -name '*.md' -exec cp {} "$CORPUS/" \;
before="$(find "$ARTIFACTS" -type f | wc -l)"

LOG="$(mktemp)"
STAMP="$(mktemp)"
start="$(date +%s)"
status=0
cargo +nightly fuzz run c_abi -- -max_total_time="$TOTAL" -max_len=4096 -timeout=10 \
  -rss_limit_mb=2048 -print_final_stats=1 >"$LOG" 2>&1 || status=$?
elapsed=$(($(date +%s) - start))
grep -vE 'NEW_FUNC|^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$LOG" | tail -n 40
runs="$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$LOG" | tail -n 1)"

found=0
while IFS= read -r artifact; do
  [ -n "$artifact" ] || continue
  name="$(basename "$artifact")"
  cp "$artifact" "$REGRESSIONS/$name"
  echo "finding: $REGRESSIONS/$name"
  found=$((found + 1))
done < <(find "$ARTIFACTS" -type f -newer "$STAMP" 2>/dev/null)
rm -f "$LOG" "$STAMP"

echo "fuzz: c_abi ran ${elapsed}s (limit ${TOTAL}s), ${runs:-?} inputs executed, $found new finding(s), $before earlier artifact(s)"
if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
  echo "fuzz: FAILED (libFuzzer exit status $status); replay with: cargo test -p rank-relax-ffi --test fuzz_regressions"
  exit 1
fi
