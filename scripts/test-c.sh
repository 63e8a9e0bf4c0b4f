#!/usr/bin/env bash
# The C checks of the rank-relax-ffi library: builds it (cargo build --release -p rank-relax-ffi),
# compiles include/rank_relax.h on its own as C99, C11 and C++ with every warning an error, then
# builds the C test program against the shared library and runs it: every case of the reference
# file (RANK_RELAX_REFERENCE, default ../shared/reference/ops-v1.json from the repository root)
# in f64 and f32, and the error paths of every op. Its last line is `N passed, N failed`.
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

"$CC" -std=c99 -Wall -Wextra -Werror -O1 -I "$FFI/include" -I "$FFI/tests/c" \
  "$FFI/tests/c/reference_test.c" "$FFI/tests/c/json.c" \
  -L "$LIBDIR" -lrank_relax_c -Wl,-rpath,"$LIBDIR" -lm -o "$OUT/reference_test"
"$OUT/reference_test" "$@"
