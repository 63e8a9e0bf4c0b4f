# shellcheck shell=bash
# A tiny step runner shared by scripts/test.sh and scripts/main.sh: runs each named step, keeps
# going after a failure so one run reports every broken part, and prints a summary table.

__steps_names=()
__steps_results=()
__steps_secs=()

# run_step NAME COMMAND...
run_step() {
  local name="$1"
  shift
  local start=$SECONDS rc=0
  printf '\n==> %s\n' "$name"
  "$@" || rc=$?
  __steps_names+=("$name")
  __steps_secs+=("$((SECONDS - start))")
  if [ "$rc" -eq 0 ]; then
    __steps_results+=("ok")
  else
    __steps_results+=("FAILED (exit $rc)")
    printf '==> %s FAILED (exit %s)\n' "$name" "$rc" >&2
  fi
}

# finish_steps LABEL: prints the table and `LABEL: N passed, M failed`; returns non-zero on failure.
finish_steps() {
  local label="$1" i passed=0 failed=0
  printf '\n%-40s %-20s %s\n' "step" "result" "seconds"
  for i in "${!__steps_names[@]}"; do
    printf '%-40s %-20s %s\n' "${__steps_names[$i]}" "${__steps_results[$i]}" "${__steps_secs[$i]}"
    if [ "${__steps_results[$i]}" = "ok" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  printf '%s: %d passed, %d failed\n' "$label" "$passed" "$failed"
  [ "$failed" -eq 0 ]
}
