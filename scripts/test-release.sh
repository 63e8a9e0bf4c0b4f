#!/usr/bin/env bash
# Tests the release artifacts in dist/ (scripts/release-build.sh; run first when dist/SHA256SUMS is
# missing) the way a user gets them: SHA256SUMS checked, then each artifact installed into a fresh,
# empty environment and run against every case of the reference file (RANK_RELAX_REFERENCE,
# default testdata/reference/ops-v1.json from the repository root):
#   python  a fresh venv with numpy + pytest only (pins from packages/python/requirements-dev.txt),
#           pip install the wheel (--no-index --no-deps), an import smoke test, then pytest
#           packages/python/tests/test_reference.py from a temp dir (the torch/JAX cases skip);
#   node    a temporary npm project, npm install --offline the tarball, a require + import smoke
#           test, then packages/node/test/reference.test.mjs (+ helpers.mjs) copied into the
#           project and run by node --test against the installed copy;
#   c       the C tarball unpacked, crates/rank-relax-ffi/tests/c/reference_test.c (+ json.c,
#           harness.c, generated/rr_ops_table.h) compiled against its header and library through
#           its pkg-config file (PKG_CONFIG_PATH), linked shared (rpath) and static, both run;
#   julia   the Julia tarball unpacked, julia --project=<unpacked>/RankRelax with
#           JULIA_LOAD_PATH=@:@stdlib (the loader finds the library bundled in deps/; the
#           script checks it loaded that copy), running the package's test/reference.jl.
# Each prints `N passed, N failed`; the last line sums them. Exit status 1 when any failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT"
# shellcheck source=scripts/env.sh
source scripts/env.sh

DIST="$ROOT/dist"
if [ ! -f "$DIST/SHA256SUMS" ]; then
  bash scripts/release-build.sh
fi
RANK_RELAX_REFERENCE="${RANK_RELAX_REFERENCE:-$ROOT/testdata/reference/ops-v1.json}"
export RANK_RELAX_REFERENCE
[ -f "$RANK_RELAX_REFERENCE" ] || { echo "test-release: no reference file $RANK_RELAX_REFERENCE" >&2; exit 1; }
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT

echo "==> SHA256SUMS"
(cd "$DIST" && sha256sum -c SHA256SUMS)
one() { # one GLOB: the single file in dist/ matching GLOB
  local found=()
  mapfile -t found < <(find "$DIST" -maxdepth 1 -type f -name "$1")
  if [ "${#found[@]}" -ne 1 ]; then
    echo "test-release: want one dist/$1, have: ${found[*]:-none}" >&2
    exit 1
  fi
  echo "${found[0]}"
}
WHEEL="$(one 'rank_relax-*.whl')"
NPM="$(one 'rank-relax-node-*.tgz')"
CLIB="$(one 'rank-relax-c-*.tar.gz')"
JLPKG="$(one 'RankRelax-jl-*.tar.gz')"

total_passed=0
total_failed=0
declare -a lines=()
record() { # record NAME PASSED FAILED
  echo "$1: $2 passed, $3 failed"
  lines+=("$1: $2 passed, $3 failed")
  total_passed=$((total_passed + $2))
  total_failed=$((total_failed + $3))
}

echo "==> python: fresh venv (numpy + pytest), pip install $(basename "$WHEEL")"
pin() { sed -n "s/^$1==\([^ ]*\).*/\1/p" packages/python/requirements-dev.txt; }
python3 -m venv "$SCRATCH/venv"
PY="$SCRATCH/venv/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check "numpy==$(pin numpy)" "pytest==$(pin pytest)"
"$PY" -m pip install --quiet --disable-pip-version-check --no-index --no-deps "$WHEEL"
mkdir -p "$SCRATCH/py-run"
rc=0
(cd "$SCRATCH/py-run" &&
  "$PY" -c 'import rank_relax, numpy as np; print("smoke:", rank_relax.__file__); print(rank_relax.soft_rank(np.array([[3.0, 1.0, 2.0]]), regularization_strength=0.01))' &&
  "$PY" -m pytest "$ROOT/packages/python/tests/test_reference.py" -p no:cacheprovider -q -o addopts="" --no-header) |
  tee "$SCRATCH/py.log" || rc=$?
p="$(grep -oE '[0-9]+ passed' "$SCRATCH/py.log" | tail -n 1 | cut -d' ' -f1 || true)"
f="$(grep -oE '[0-9]+ (failed|errors?)' "$SCRATCH/py.log" | awk '{ n += $1 } END { print n + 0 }' || true)"
[ "$rc" -eq 0 ] || [ "${f:-0}" -gt 0 ] || f=1
record python "${p:-0}" "${f:-0}"

echo "==> node: fresh npm project, npm install --offline $(basename "$NPM")"
proj="$SCRATCH/node-project"
mkdir -p "$proj"
printf '{ "name": "consumer", "version": "1.0.0", "private": true, "type": "module" }\n' >"$proj/package.json"
(cd "$proj" && npm install --offline --no-audit --no-fund --ignore-scripts "$NPM")
cp packages/node/test/reference.test.mjs packages/node/test/helpers.mjs "$proj/"
rc=0
(cd "$proj" &&
  node -e "const rr = require('@rank-relax/node'); console.log('smoke (require):', Array.from(rr.softRank(new Float64Array([3, 1, 2]), { regularizationStrength: 0.01 })).join(','), require.resolve('@rank-relax/node'))" &&
  node --input-type=module -e "import { softSort } from '@rank-relax/node'; console.log('smoke (import):', Array.from(softSort(new Float64Array([2, 1]), { regularizationStrength: 0.01 })).join(','))" &&
  node --test --test-reporter=dot --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$SCRATCH/node.tap" reference.test.mjs) 2>&1 |
  tee "$SCRATCH/node.log" || rc=$?
p="$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$SCRATCH/node.tap" 2>/dev/null | tail -n 1)"
f="$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$SCRATCH/node.tap" 2>/dev/null | tail -n 1)"
[ "$rc" -eq 0 ] || [ "${f:-0}" -gt 0 ] || f=1
record node "${p:-0}" "${f:-0}"

echo "==> c: unpack $(basename "$CLIB"), build reference_test through pkg-config (shared + static)"
c="$SCRATCH/c"
mkdir -p "$c/prefix"
tar -C "$c/prefix" -xzf "$CLIB"
export PKG_CONFIG_PATH="$c/prefix/lib/pkgconfig"
echo "pkg-config rank-relax: $(pkg-config --modversion rank-relax)"
read -r -a cflags <<<"$(pkg-config --cflags rank-relax)"
read -r -a libs <<<"$(pkg-config --libs rank-relax)"
read -r -a static_libs <<<"$(pkg-config --libs-only-other --static rank-relax) $(pkg-config --libs-only-l --static rank-relax | sed 's/-lrank_relax_c//')"
tests=crates/rank-relax-ffi/tests/c
srcs=("$tests/reference_test.c" "$tests/json.c" "$tests/harness.c")
# only the test sources' folder (harness.h, json.h, generated/) besides pkg-config's flags: the
# header comes from the unpacked archive
cc -std=c99 -Wall -Wextra -Werror -O1 -iquote "$tests" "${cflags[@]}" "${srcs[@]}" "${libs[@]}" \
  -Wl,-rpath,"$c/prefix/lib" -lm -o "$c/reference_test_shared"
cc -std=c99 -Wall -Wextra -Werror -O1 -iquote "$tests" "${cflags[@]}" "${srcs[@]}" \
  "$c/prefix/lib/librank_relax_c.a" "${static_libs[@]}" -lm -o "$c/reference_test_static"
if command -v ldd >/dev/null 2>&1; then ldd "$c/reference_test_shared" | grep rank_relax; fi
for kind in shared static; do
  rc=0
  "$c/reference_test_$kind" | tee "$c/$kind.log" || rc=$?
  summary="$(tail -n 1 "$c/$kind.log")"
  if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p="${BASH_REMATCH[1]}" f="${BASH_REMATCH[2]}"
  else
    p=0 f=1
  fi
  [ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
  record "c ($kind)" "$p" "$f"
done

echo "==> julia: unpack $(basename "$JLPKG"), --project at it, the library from its deps/"
jl="$SCRATCH/julia"
mkdir -p "$jl"
tar -C "$jl" -xzf "$JLPKG"
[ -n "$(find "$jl/RankRelax/deps" -name 'librank_relax_c.*')" ] || { echo "the Julia tarball has no library in RankRelax/deps/" >&2; exit 1; }
cat >"$jl/run_reference.jl" <<'JL'
using Test, RankRelax
const TESTDIR = joinpath(dirname(dirname(pathof(RankRelax))), "test")
println("RankRelax from ", pathof(RankRelax), ", library ", RankRelax.library_path())
startswith(RankRelax.library_path(), joinpath(dirname(dirname(pathof(RankRelax))), "deps")) ||
    error("RankRelax loaded ", RankRelax.library_path(), ", not the copy bundled in deps/")
include(joinpath(TESTDIR, "json.jl"))
using .MiniJSON: parse_json
include(joinpath(TESTDIR, "helpers.jl"))
counts = try
    ts = @testset "RankRelax (release tarball)" begin
        include(joinpath(TESTDIR, "reference.jl"))
    end
    c = Test.get_test_counts(ts)
    (c[1] + c[5], c[2] + c[3] + c[6] + c[7])
catch e
    e isa Test.TestSetException || rethrow()
    (e.pass, e.fail + e.error)
end
println(counts[1], " passed, ", counts[2], " failed")
exit(counts[2] == 0 ? 0 : 1)
JL
rc=0
(cd "$jl" && env -u RANK_RELAX_LIB -u CARGO_TARGET_DIR JULIA_LOAD_PATH="@:@stdlib" \
  julia --startup-file=no --history-file=no --project="$jl/RankRelax" run_reference.jl) |
  tee "$jl/julia.log" || rc=$?
summary="$(tail -n 1 "$jl/julia.log")"
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  p="${BASH_REMATCH[1]}" f="${BASH_REMATCH[2]}"
else
  p=0 f=1
fi
[ "$rc" -eq 0 ] || [ "$f" -gt 0 ] || f=1
record julia "$p" "$f"

echo "==> release artifacts"
printf '%s\n' "${lines[@]}"
echo "$total_passed passed, $total_failed failed"
[ "$total_failed" -eq 0 ]
