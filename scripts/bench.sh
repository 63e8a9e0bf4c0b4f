#!/usr/bin/env bash
# Every benchmark of the project, one after the other, each printing its own table; then
# scripts/bench_report.py gathers their results into docs/benchmarks.md and docs/benchmarks.png.
#
#   bash scripts/bench.sh [--wait-quiet SECONDS] [--no-report] [SUITE...]
#   pnpm bench
#
# Suites (default: all, in this order):
#   core     cargo bench -p rank-relax --bench ops       soft_rank/soft_sort fwd+bwd vs a bare argsort; every op's JVP and HVP vs its VJP; masked (padded) batches vs unmasked
#   threads  cargo bench -p rank-relax --bench threads   1 thread vs 2, tiny to large batches
#   memory   cargo bench -p rank-relax --bench memory    peak RSS of soft_rank fwd+bwd, 4096×4096 f32
#   node     packages/node/bench/soft-rank.mjs           the Node API (fresh arrays and `out`) vs the core
#   python   packages/python/bench/*.py, if present      rank_relax.torch / jax vs torchsort, JAX batch-
#                                                        sharded on 2 host devices vs 1 (skipped when
#                                                        rank_relax does not import)
#   julia    packages/julia/RankRelax/bench/*.jl          the Julia API vs raw ccall (skipped without julia)
#   jlrs     cargo bench -p rank-relax-julia-check        the Julia API driven from Rust (jlrs, one
#            --features julia --bench overhead            process) vs the core called from Rust, 1×1000
#                                                         and 128×1000 (skipped without Julia's headers)
#
# Results go to $BENCH_OUT (default target/bench): each suite's printed output in <suite>.log and,
# for the suites that write them, JSON lines in <suite>.jsonl ({"bench": ..., ...} per row); the
# outcome of each suite (ok, failed, not run and why) in suites.jsonl, and the machine's state in
# machine.jsonl. The report parses the logs of the suites that write no JSON (julia, python).
# Running some suites replaces their results only; the report shows the latest of every suite.
#
# The machine may be shared: --wait-quiet S waits up to S seconds before each suite for a moment
# when the CPUs are idle (< 15% busy over 2 s), and the load average before and after each suite is
# recorded with its result. A failing suite does not stop the others; the exit status is 1 when
# any suite that ran failed.
# shellcheck disable=SC2317  # the suite_* functions are called by name ("suite_$s")
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$ROOT" || exit 1
# shellcheck source=scripts/env.sh
source scripts/env.sh

ALL=(core threads memory node python julia jlrs)
WAIT_QUIET=0
REPORT=1
SUITES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wait-quiet) WAIT_QUIET="${2:?--wait-quiet needs seconds}"; shift 2 ;;
    --no-report) REPORT=0; shift ;;
    -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench.sh: unknown option $1" >&2; exit 2 ;;
    *) SUITES+=("$1"); shift ;;
  esac
done
[ ${#SUITES[@]} -eq 0 ] && SUITES=("${ALL[@]}")
for s in "${SUITES[@]}"; do
  case " ${ALL[*]} " in *" $s "*) ;; *) echo "bench.sh: unknown suite $s (suites: ${ALL[*]})" >&2; exit 2 ;; esac
done

BENCH_OUT="${BENCH_OUT:-$ROOT/target/bench}"
export BENCH_OUT
mkdir -p "$BENCH_OUT"
# A run replaces the results of the suites it runs and keeps the others' (so one suite can be
# rerun alone and the report still shows every suite).
for s in "${SUITES[@]}"; do
  rm -f "$BENCH_OUT/$s.jsonl" "$BENCH_OUT/$s.log"
  if [ -f "$BENCH_OUT/suites.jsonl" ]; then
    grep -v "\"suite\": \"$s\"" "$BENCH_OUT/suites.jsonl" >"$BENCH_OUT/suites.jsonl.tmp" || true
    mv "$BENCH_OUT/suites.jsonl.tmp" "$BENCH_OUT/suites.jsonl"
  fi
done
rm -f "$BENCH_OUT/machine.jsonl"

loadavg() { cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo null; }

# Percent of CPU time busy over the next 2 seconds, all CPUs together.
cpu_busy() {
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 2
  read -r -a b < <(head -1 /proc/stat)
  local total=0 idle i
  for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  [ "$total" -gt 0 ] || { echo 0; return; }
  echo $(((total - idle) * 100 / total))
}

wait_quiet() {
  [ "$WAIT_QUIET" -gt 0 ] && [ -r /proc/stat ] || return 0
  local start=$SECONDS busy
  while :; do
    busy=$(cpu_busy)
    if [ "$busy" -lt 15 ]; then
      echo "    (CPUs ${busy}% busy: starting)"
      return 0
    fi
    if [ $((SECONDS - start)) -ge "$WAIT_QUIET" ]; then
      echo "    (CPUs still ${busy}% busy after ${WAIT_QUIET}s: starting anyway)"
      return 0
    fi
  done
}

# record SUITE STATUS DETAIL LOAD_BEFORE
record() {
  local detail="${3//\\/\\\\}"
  detail="${detail//\"/\\\"}"
  printf '{"suite": "%s", "status": "%s", "detail": "%s", "load_before": %s, "load_after": %s, "seconds": %s, "ended": "%s"}\n' \
    "$1" "$2" "$detail" "$4" "$(loadavg)" "$5" "$(date -u '+%Y-%m-%d %H:%M UTC')" >>"$BENCH_OUT/suites.jsonl"
}

FAILED=0
DETAIL=""
# run SUITE CMD...: runs the command, its output to the terminal and to $BENCH_OUT/SUITE.log.
run() {
  local suite=$1 before t0 rc
  shift
  wait_quiet
  before=$(loadavg)
  t0=$SECONDS
  "$@" 2>&1 | tee -a "$BENCH_OUT/$suite.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ]; then
    record "$suite" ok "${DETAIL:-}" "$before" $((SECONDS - t0))
  else
    record "$suite" failed "${DETAIL:+$DETAIL: }exit status $rc" "$before" $((SECONDS - t0))
    FAILED=1
  fi
}

not_run() {
  echo "    not run: $2"
  record "$1" "not run" "$2" "$(loadavg)" 0
}

# The machine, for the report.
{
  printf '{"nproc": %s, "load_start": %s}\n' "$(nproc 2>/dev/null || echo null)" "$(loadavg)"
} >>"$BENCH_OUT/machine.jsonl"

suite_core() {
  run core cargo bench -p rank-relax --bench ops
}

suite_threads() {
  run threads cargo bench -p rank-relax --bench threads
}

suite_memory() {
  run memory cargo bench -p rank-relax --bench memory
}

suite_node() {
  if ! have_cmd node || ! have_cmd pnpm; then
    not_run node "node or pnpm not found"
    return
  fi
  if [ ! -x packages/node/node_modules/.bin/napi ]; then
    pnpm install --frozen-lockfile --filter @rank-relax/node >/dev/null || { not_run node "pnpm install failed"; return; }
  fi
  echo "    building the addon and the package (pnpm -C packages/node build)"
  if ! pnpm -C packages/node -s run build >"$BENCH_OUT/node-build.log" 2>&1; then
    record node failed "build failed (see node-build.log)" "$(loadavg)" 0
    FAILED=1
    return
  fi
  run node bash -c 'cd packages/node && node bench/soft-rank.mjs'
}

suite_python() {
  local scripts=()
  local f
  for f in packages/python/bench/*.py packages/python/benchmarks/*.py; do
    [ -f "$f" ] && case "$(basename "$f")" in _*) ;; *) scripts+=("$f") ;; esac
  done
  if [ ${#scripts[@]} -eq 0 ]; then
    not_run python "no benchmark script in packages/python/bench/ yet"
    return
  fi
  if ! have_cmd python; then
    not_run python "no python (run scripts/setup.sh python)"
    return
  fi
  local why
  if ! why=$(python -c 'import rank_relax' 2>&1); then
    not_run python "rank_relax does not import (build it: maturin develop -m packages/python/pyproject.toml): ${why##*$'\n'}"
    return
  fi
  for f in "${scripts[@]}"; do
    echo "--- $f"
    DETAIL=$f run python python "$f"
  done
}

suite_julia() {
  local f scripts=()
  for f in packages/julia/RankRelax/bench/*.jl; do [ -f "$f" ] && scripts+=("$f"); done
  if [ ${#scripts[@]} -eq 0 ]; then
    not_run julia "no benchmark script in packages/julia/RankRelax/bench/"
    return
  fi
  if ! have_cmd julia; then
    not_run julia "no julia on PATH (run scripts/setup.sh julia)"
    return
  fi
  echo "    building the C library (cargo build --release -p rank-relax-ffi)"
  if ! cargo build --release -p rank-relax-ffi >"$BENCH_OUT/julia-build.log" 2>&1; then
    record julia failed "C library build failed (see julia-build.log)" "$(loadavg)" 0
    FAILED=1
    return
  fi
  for f in "${scripts[@]}"; do
    echo "--- $f"
    DETAIL=$f run julia julia --project=packages/julia/RankRelax "$f"
  done
}

suite_jlrs() {
  local why
  # shellcheck source=scripts/lib/common.sh
  source scripts/lib/common.sh
  # shellcheck source=scripts/lib/julia.sh
  source scripts/lib/julia.sh
  # shellcheck source=scripts/lib/julia_dev.sh
  source scripts/lib/julia_dev.sh
  why="$(rr_julia_dev_missing)"
  if [ -n "$why" ]; then
    not_run jlrs "$why"
    return
  fi
  echo "    building the C library and the bench (cargo build --release -p rank-relax-ffi; --features julia)"
  if ! (rr_julia_dev_env && cargo build --release -p rank-relax-ffi &&
    cargo bench --no-run -p rank-relax-julia-check --features julia --bench overhead) >"$BENCH_OUT/jlrs-build.log" 2>&1; then
    record jlrs failed "build failed (see jlrs-build.log)" "$(loadavg)" 0
    FAILED=1
    return
  fi
  run jlrs bash -c 'source scripts/lib/common.sh && source scripts/lib/julia.sh && source scripts/lib/julia_dev.sh &&
    rr_julia_dev_env && cargo bench -q -p rank-relax-julia-check --features julia --bench overhead'
}

have_cmd() { command -v "$1" >/dev/null 2>&1; }

for s in "${SUITES[@]}"; do
  printf '\n==> [%ss] %s\n' "$SECONDS" "$s"
  "suite_$s"
done

printf '{"load_end": %s}\n' "$(loadavg)" >>"$BENCH_OUT/machine.jsonl"

if [ "$REPORT" -eq 1 ]; then
  printf '\n==> [%ss] report\n' "$SECONDS"
  python scripts/bench_report.py --results "$BENCH_OUT" --markdown docs/benchmarks.md --plot docs/benchmarks.png || FAILED=1
fi
exit "$FAILED"
