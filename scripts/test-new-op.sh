#!/usr/bin/env bash
# A new op costs its spec entry and its kernel file (issue "Generator v2"): in a scratch copy of
# the tree, add the fixture op of testdata/new-op/ (its spec entry and kernel), regenerate, and
# check that every other file that changed is one the generator wrote. Then build the core and
# every Rust binding with the op and run the core tests that cover every op of the spec.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
WORK="$(mktemp -d)"
LOG="$(mktemp)"
trap 'rm -rf "$WORK" "$LOG"' EXIT

# The tree as it is (tracked and untracked, not ignored), as a git repository of its own.
cd "$ROOT"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$WORK"
ln -s "$ROOT/node_modules" "$WORK/node_modules"
ln -s "$ROOT/codegen/node_modules" "$WORK/codegen/node_modules"
cd "$WORK"
git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm base

# By hand: the spec entry and the kernel file.
cat "$ROOT/testdata/new-op/spec.yaml" >> bindings-spec/rank-relax.yaml
cp "$ROOT/testdata/new-op/fixture_scale.rs" crates/rank-relax/src/ops/fixture_scale.rs
hand="bindings-spec/rank-relax.yaml crates/rank-relax/src/ops/fixture_scale.rs"

node codegen/bin/rank-relax-codegen.mjs generate > "$LOG"
written="$(sed -n 's/^wrote *//p' "$LOG" | sort)"
changed="$(git status --porcelain --untracked-files=all | cut -c4- | sort)"
extra="$(comm -23 <(echo "$changed") <(printf '%s\n' $hand $written | sort -u))"
echo "new op: $(echo "$changed" | wc -l) files changed: the spec, the kernel and $(echo "$written" | wc -l) generated"
if [ -n "$extra" ]; then
  echo "changed, neither by hand nor by the generator:" >&2
  echo "$extra" >&2
  exit 1
fi
for f in $hand; do
  grep -qx "$f" <<<"$changed" || { echo "$f did not change" >&2; exit 1; }
done
grep -q "fixture_scale" crates/rank-relax-ffi/include/rank_relax.h
node codegen/bin/rank-relax-codegen.mjs check | tail -1

# Builds with the op: the core's tests over every op, and each Rust binding crate. The scratch
# crates share the main target directory (their own units; the dependencies are reused).
export CARGO_TARGET_DIR="$ROOT/target"
cargo test -q -p rank-relax --lib --test spec_mirror --test masks --test bad_input fixture_scale 2>&1 | tail -3
cargo test -q -p rank-relax --test spec_mirror --test masks --test bad_input 2>&1 | grep -E "^test result" | sort | uniq -c
cargo check -q -p rank-relax-ffi -p rank-relax-node -p rank-relax-python
echo "new op: the core, the C ABI, the Node addon and the Python module build with it"
