#!/usr/bin/env bash
# Packages the C library of rank-relax (crates/rank-relax-ffi, lib name rank_relax_c) into one
# archive per platform whose root is
#   include/rank_relax.h
#   lib/librank_relax_c.{so,dylib,a}  (Windows: bin/rank_relax_c.dll, lib/rank_relax_c.dll.lib,
#                                      lib/rank_relax_c.lib)
#   lib/pkgconfig/rank-relax.pc       (relocatable: paths relative to ${pcfiledir})
#   share/licenses/rank-relax/, share/doc/rank-relax/README.md
# (the layout of a Julia artifact). Shared by .github/workflows/c-lib.yml and
# scripts/release-build.sh.
#
#   scripts/package-c-lib.sh LIBDIR PLATFORM NATIVE_STATIC_LIBS_FILE DIST
#
# LIBDIR: the cargo output folder holding the built libraries (e.g. target/release);
# PLATFORM: the Julia platform triplet in the archive name (e.g. x86_64-linux-gnu);
# NATIVE_STATIC_LIBS_FILE: a file holding the `--print native-static-libs` line (Libs.private);
# DIST: the folder the archive goes to. The last line printed is the archive's path.
set -euo pipefail
[ "$#" -eq 4 ] || { echo "usage: $0 LIBDIR PLATFORM NATIVE_STATIC_LIBS_FILE DIST" >&2; exit 2; }
out="$1"
platform="$2"
native_static_libs="$(cat "$3")"
dist="$4"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"

version="$(awk '/^package:/ { p = 1; next } /^[^ ]/ { p = 0 } p && $1 == "version:" { print $2; exit }' "$ROOT/bindings-spec/rank-relax.yaml")"
[ -n "$version" ] || { echo "package-c-lib: no package version in bindings-spec/rank-relax.yaml" >&2; exit 1; }
case "${RUNNER_OS:-$(uname -s)}" in
  Linux) os=Linux ;;
  macOS | Darwin) os=macOS ;;
  Windows | MINGW* | MSYS* | CYGWIN*) os=Windows ;;
  *) echo "package-c-lib: unknown OS ${RUNNER_OS:-$(uname -s)}" >&2; exit 1 ;;
esac

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/include" "$stage/lib/pkgconfig" "$stage/share/licenses/rank-relax" "$stage/share/doc/rank-relax"
cp "$ROOT/crates/rank-relax-ffi/include/rank_relax.h" "$stage/include/"
case "$os" in
  Linux) cp "$out/librank_relax_c.so" "$out/librank_relax_c.a" "$stage/lib/" ;;
  macOS) cp "$out/librank_relax_c.dylib" "$out/librank_relax_c.a" "$stage/lib/" ;;
  Windows)
    mkdir -p "$stage/bin"
    cp "$out/rank_relax_c.dll" "$stage/bin/"
    cp "$out/rank_relax_c.dll.lib" "$out/rank_relax_c.lib" "$stage/lib/"
    ;;
esac
for f in LICENSE LICENSE-MIT LICENSE-APACHE; do
  if [ -f "$ROOT/$f" ]; then cp "$ROOT/$f" "$stage/share/licenses/rank-relax/"; fi
done
cp "$ROOT/README.md" "$stage/share/doc/rank-relax/"
cat >"$stage/lib/pkgconfig/rank-relax.pc" <<PC
prefix=\${pcfiledir}/../..
includedir=\${prefix}/include
libdir=\${prefix}/lib

Name: rank-relax
Description: Differentiable sorting and ranking (C ABI of rank-relax)
Version: $version
Cflags: -I\${includedir}
Libs: -L\${libdir} -lrank_relax_c
Libs.private: $native_static_libs
PC
mkdir -p "$dist"
archive="$dist/rank-relax-c-$version-$platform.tar.gz"
tar -C "$stage" -czf "$archive" .
tar -tzvf "$archive" >&2
echo "$archive"
