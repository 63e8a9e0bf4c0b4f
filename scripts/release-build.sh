#!/usr/bin/env bash
# Builds every release artifact of rank-relax for this machine into dist/ (emptied first):
#   rank_relax-VERSION-*.whl                   the Python wheel (maturin build --release, abi3)
#   rank-relax-node-VERSION.tgz                the npm package @rank-relax/node (pnpm pack), with
#                                              this platform's addon
#   rank-relax-c-VERSION-PLATFORM.tar.gz       the C library: shared + static lib, header and a
#                                              relocatable lib/pkgconfig/rank-relax.pc
#                                              (scripts/package-c-lib.sh, as .github/workflows/c-lib.yml)
#   RankRelax-jl-VERSION-PLATFORM.tar.gz       the Julia package tree RankRelax/ with the shared
#                                              library in RankRelax/deps/, where RankRelax.jl's
#                                              loader looks first
#   SHA256SUMS                                 sha256sum of all of the above
# scripts/test-release.sh installs each into a fresh environment and tests it. Needs
# scripts/setup.sh (the .venv with maturin, node + pnpm, Rust). Idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

DIST="$ROOT/dist"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
version="$(awk '/^package:/ { p = 1; next } /^[^ ]/ { p = 0 } p && $1 == "version:" { print $2; exit }' bindings-spec/rank-relax.yaml)"
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) platform=x86_64-linux-gnu ;;
  Linux-aarch64 | Linux-arm64) platform=aarch64-linux-gnu ;;
  Darwin-x86_64) platform=x86_64-apple-darwin ;;
  Darwin-arm64) platform=aarch64-apple-darwin ;;
  *) echo "release-build: unsupported platform $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
case "$(uname -s)" in
  Darwin) libfile=librank_relax_c.dylib ;;
  *) libfile=librank_relax_c.so ;;
esac
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
rm -rf "$DIST"
mkdir -p "$DIST"

echo "==> C library (cargo rustc --release -p rank-relax-ffi, cdylib + staticlib)"
cargo rustc --release --locked -p rank-relax-ffi --lib --crate-type cdylib,staticlib \
  -- --print native-static-libs 2>&1 | tee "$SCRATCH/build.log"
sed -n 's/^note: native-static-libs: //p' "$SCRATCH/build.log" | tail -n 1 >"$SCRATCH/native-static-libs"
bash scripts/package-c-lib.sh "$TARGET_DIR/release" "$platform" "$SCRATCH/native-static-libs" "$DIST" >/dev/null

echo "==> Julia package (packages/julia/RankRelax + deps/$libfile)"
jl="$SCRATCH/julia/RankRelax"
mkdir -p "$jl/deps"
cp -R packages/julia/RankRelax/Project.toml packages/julia/RankRelax/README.md \
  packages/julia/RankRelax/src packages/julia/RankRelax/ext packages/julia/RankRelax/test \
  packages/julia/RankRelax/examples "$jl/"
cp "$TARGET_DIR/release/$libfile" "$jl/deps/"
for f in LICENSE LICENSE-MIT LICENSE-APACHE; do
  if [ -f "$f" ]; then cp "$f" "$jl/"; fi
done
tar -C "$SCRATCH/julia" -czf "$DIST/RankRelax-jl-$version-$platform.tar.gz" RankRelax

echo "==> Python wheel (maturin build --release)"
(cd packages/python && maturin build --release --out "$DIST")

echo "==> npm package (napi build + tsc, pnpm pack)"
if [ ! -x packages/node/node_modules/.bin/napi ] || [ ! -x packages/node/node_modules/.bin/tsc ]; then
  pnpm install --frozen-lockfile --filter @rank-relax/node
fi
pnpm -C packages/node -s run build:native
pnpm -C packages/node -s run build:ts
pnpm -C packages/node pack --pack-destination "$DIST"

echo "==> SHA256SUMS"
(cd "$DIST" && LC_ALL=C && sums="$(sha256sum -- *.whl *.tgz *.tar.gz)" && echo "$sums" >SHA256SUMS && cat SHA256SUMS)
