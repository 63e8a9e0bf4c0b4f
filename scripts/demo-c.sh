#!/usr/bin/env bash
# Builds the C library and the C demo (crates/rank-relax-ffi/examples/demo.c) linked against the
# static library, and runs it: soft ranks of a small example and their gradient.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"

CC="${CC:-cc}"
FFI=crates/rank-relax-ffi
LIBDIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/c-tests"

cargo build --release -p rank-relax-ffi
mkdir -p "$OUT"
case "$(uname -s)" in
  Darwin) SYSLIBS=(-framework CoreFoundation -lSystem) ;;
  *) SYSLIBS=(-lpthread -ldl -lm) ;;
esac
"$CC" -std=c99 -Wall -Wextra -Werror -I "$FFI/include" "$FFI/examples/demo.c" \
  "$LIBDIR/librank_relax_c.a" "${SYSLIBS[@]}" -o "$OUT/demo"
"$OUT/demo"
