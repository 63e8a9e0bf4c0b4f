#!/usr/bin/env bash
# The C checks of the rank-relax-ffi library: builds it (cargo build --release -p rank-relax-ffi),
# compiles include/rank_relax.h on its own as C99, C11 and C++ with every warning an error, then
# builds the C test programs against the shared library and runs them:
#   reference_test  every case of the reference files (RANK_RELAX_REFERENCE, default
#                   testdata/reference/ops-v1.json from the repository root, then
#                   testdata/reference/wave2-*.json and masks.json,
#                   RANK_RELAX_REFERENCE_SORT_TOPK, default testdata/reference/soft-sort-topk.json,
#                   and RANK_RELAX_REFERENCE_GROUPED, default
#                   testdata/reference/soft-rank-grouped.json) in f64 against the file and f32
#                   against f64 (int32 outputs exactly; an int32 input, group ids, as int32_t in
#                   both), and the error paths of every op (int32 inputs: extremes valid, NULL
#                   refused, no NaN to inject);
#   bad_input_test  every case of the bad-input matrix tagged "c" (RANK_RELAX_BAD_INPUT, default
#                   testdata/bad-input.json), int32 inputs read as integers (`cast` is for the
#                   other bindings);
#   threads_test    every op from 8 threads at once (with and without a mask), bit-identical to
#                   sequential calls, with rr_last_error() thread-local;
#   in_place_test   soft_rank, soft_sort and soft_topk backward with grad_values = the cotangent
#                   buffer, bit-identical to a separate gradient (with a mask too); partial
#                   overlaps and a gradient over the mask refused;
#   params_test     int, list and op-specific enum params (k out of range, NULL, empty and
#                   out-of-range quantiles, soft_topk's regularization code 2), soft_sort_topk's k
#                   checked before it sizes a [batch, k] buffer (k = 0, k = n), and every element
#                   of [batch, m], [batch, k] and [batch, n, n] buffers written, nothing past them;
#   jvp_test        every op's JVP against central differences, adjoint to its backward, f32
#                   against f64, NaN tangents refused (driven by the generated op table; an int32
#                   input holds group ids, one buffer for both precisions, in this test and the
#                   next two);
#   hvp_test        every op's HVP against central differences of its backward, symmetric, f32
#                   against f64, NaN tangents and cotangents refused (the same table);
#   mask_test       every op with a mask: each masked row is bit for bit the call on its present
#                   items alone in every kernel, int32 inputs compacted too (zeros at absent
#                   items, NaN there unread), an empty row is zeros, an all-true mask is bit for
#                   bit a NULL one (the same table).
# Arguments go to each program (-v lists every check). Its last line is `N passed, N failed`
# over all eight.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

CC="${CC:-cc}"
CXX="${CXX:-c++}"
FFI=crates/rank-relax-ffi
LIBDIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/c-tests"

cargo build --release -p rank-relax-ffi
mkdir -p "$OUT"

for std in c99 c11; do
  "$CC" -std="$std" -fsyntax-only -Wall -Wextra -Werror -pedantic -x c "$FFI/include/rank_relax.h"
done
if command -v "$CXX" >/dev/null 2>&1; then
  "$CXX" -std=c++11 -fsyntax-only -Wall -Wextra -Werror -pedantic -x c++ "$FFI/include/rank_relax.h"
fi
echo "header: compiles alone as C99, C11 and C++11 with -Wall -Wextra -Werror -pedantic"

build() { # build NAME SOURCES... [FLAGS...]
  local name="$1"
  shift
  "$CC" -std=c99 -Wall -Wextra -Werror -O1 -I "$FFI/include" -I "$FFI/tests/c" "$@" \
    -L "$LIBDIR" -lrank_relax_c -Wl,-rpath,"$LIBDIR" -lm -o "$OUT/$name"
}
build reference_test "$FFI/tests/c/reference_test.c" "$FFI/tests/c/json.c" "$FFI/tests/c/harness.c"
build bad_input_test "$FFI/tests/c/bad_input_test.c" "$FFI/tests/c/json.c" "$FFI/tests/c/harness.c"
build threads_test "$FFI/tests/c/threads_test.c" "$FFI/tests/c/harness.c" -pthread
build in_place_test "$FFI/tests/c/in_place_test.c" "$FFI/tests/c/harness.c"
build params_test "$FFI/tests/c/params_test.c" "$FFI/tests/c/harness.c"
build jvp_test "$FFI/tests/c/jvp_test.c" "$FFI/tests/c/calls.c" "$FFI/tests/c/harness.c"
build hvp_test "$FFI/tests/c/hvp_test.c" "$FFI/tests/c/calls.c" "$FFI/tests/c/harness.c"
build mask_test "$FFI/tests/c/mask_test.c" "$FFI/tests/c/calls.c" "$FFI/tests/c/harness.c"

# Run every program even when one fails; each ends with `N passed, N failed`, summed here.
total_passed=0
total_failed=0
status=0
for program in reference_test bad_input_test threads_test in_place_test params_test jvp_test hvp_test mask_test; do
  echo "== $program"
  log="$OUT/$program.log"
  rc=0
  "$OUT/$program" "$@" | tee "$log" || rc=$?
  [ "$rc" -eq 0 ] || status=1
  summary="$(tail -n 1 "$log")"
  if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    total_passed=$((total_passed + BASH_REMATCH[1]))
    total_failed=$((total_failed + BASH_REMATCH[2]))
  else
    echo "$program: no summary line (exit status $rc)"
    total_failed=$((total_failed + 1))
    status=1
  fi
done
echo "$total_passed passed, $total_failed failed"
exit "$status"
