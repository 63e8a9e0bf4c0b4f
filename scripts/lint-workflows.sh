#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml), which cannot run here:
#   1. actionlint (version pinned in scripts/setup.sh) on the real files: syntax, expressions and
#      their types, job needs, matrices, runner labels, reusable workflow calls, and every `run:`
#      script through shellcheck (when setup.sh installed it).
#   2. every action is pinned to an exact release (vX.Y.Z) or a commit SHA, never a moving tag
#      (v4) or a branch.
#   3. the inputs given to popular actions (checkout, setup-node, upload-artifact, ...): actionlint
#      knows their inputs by major version only (`actions/checkout@v6`), so it checks a copy of the
#      workflows with each exact pin shortened to its major; problems are reported at the same line.
# Exits non-zero if any check fails. Install the tools with: bash scripts/setup.sh actionlint
#
# usage: scripts/lint-workflows.sh [--root DIR] [WORKFLOW.yml...]   (default: every workflow)
#        scripts/lint-workflows.sh --self-test
#   --root DIR   lint DIR/.github/workflows instead of this repository's
#   --self-test  lint a good and a bad workflow in a temporary tree; fails unless the good one
#                passes and each planted mistake of the bad one is reported
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
SELF="$ROOT/scripts/lint-workflows.sh"

self_test() {
  local t rc out failed=0 want
  t="$(mktemp -d)"
  # shellcheck disable=SC2064
  trap "rm -rf '$t'" RETURN
  mkdir -p "$t/good/.github/workflows" "$t/bad/.github/workflows"
  cat >"$t/good/.github/workflows/good.yml" <<'YAML'
name: good
on: [push]
permissions:
  contents: read
jobs:
  test:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@v6.0.2
        with:
          fetch-depth: 0
      - run: echo "ref=$GITHUB_REF"
YAML
  cat >"$t/bad/.github/workflows/bad.yml" <<'YAML'
name: bad
on: [push]
jobs:
  test:
    runs-on: ubuntu-24.04
    needs: [nothere]
    steps:
      - uses: actions/checkout@v6
      - uses: actions/setup-node@v6.4.0
        with:
          node-versoin: "20"
      - run: for f in $(ls *.txt); do echo $f; done
      - run: echo "${{ github.event.no_such_thing.x }}" && echo ${{ matrix.nope }}
YAML
  out="$(bash "$SELF" --root "$t/good" 2>&1)" && rc=0 || rc=$?
  if [ "$rc" -eq 0 ]; then echo "ok    good workflow passes"; else
    failed=$((failed + 1)); printf 'FAIL  good workflow: exit %s\n%s\n' "$rc" "$out"; fi
  out="$(bash "$SELF" --root "$t/bad" 2>&1)" && rc=0 || rc=$?
  if [ "$rc" -ne 0 ]; then echo "ok    bad workflow fails (exit $rc)"; else
    failed=$((failed + 1)); echo "FAIL  bad workflow passed"; fi
  for want in 'job "test" needs job "nothere" which does not exist' \
    'shellcheck reported issue' \
    'not pinned to vX.Y.Z or a commit SHA: .github/workflows/bad.yml:8:' \
    'input "node-versoin" is not defined in action "actions/setup-node@v6"' \
    'property "nope" is not defined'; do
    if grep -qF -- "$want" <<<"$out"; then echo "ok    reported: $want"; else
      failed=$((failed + 1)); echo "FAIL  not reported: $want"; fi
  done
  [ "$failed" -eq 0 ] || printf '%s\n' "$out" | sed 's/^/      /'
  echo "lint-workflows self-test: $((7 - failed)) passed, $failed failed"
  [ "$failed" -eq 0 ]
}

WF_ROOT="$ROOT"
while [ $# -gt 0 ]; do
  case "$1" in
    --self-test) self_test; exit ;;
    --root) WF_ROOT="$(cd "$2" && pwd -P)"; shift 2 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$SELF"; exit 0 ;;
    *) break ;;
  esac
done
cd "$WF_ROOT"

AL="$ROOT/.tools/bin/actionlint"
if [ ! -x "$AL" ]; then
  printf 'lint-workflows: %s is missing; install it with: bash scripts/setup.sh actionlint\n' "${AL#"$ROOT"/}" >&2
  exit 2
fi
SC="$(command -v shellcheck || true)"

if [ $# -gt 0 ]; then
  files=("$@")
else
  files=()
  while IFS= read -r f; do files+=("$f"); done < <(find .github/workflows -maxdepth 1 -type f \( -name '*.yml' -o -name '*.yaml' \) | LC_ALL=C sort)
fi
if [ "${#files[@]}" -eq 0 ]; then
  echo "lint-workflows: no workflow files under .github/workflows" >&2
  exit 1
fi

printf 'actionlint %s, shellcheck %s; %d workflows: %s\n' "$("$AL" -version | head -n 1)" \
  "$([ -n "$SC" ] && "$SC" --version | sed -n 's/^version: //p' || echo 'none (run: scripts not checked)')" \
  "${#files[@]}" "${files[*]}"

failed=0

# 1. actionlint on the files as they are. -pyflakes= : no Python run: scripts here.
printf '\n==> actionlint\n'
if "$AL" -no-color -shellcheck="$SC" -pyflakes= "${files[@]}"; then
  echo "ok"
else
  failed=$((failed + 1))
fi

# 2. pins: owner/repo[/path]@vX.Y.Z or @<40-hex sha>; ./local actions and docker:// images with a tag or digest.
printf '\n==> actions pinned to an exact version\n'
unpinned="$(grep -nHE '^[[:space:]-]*uses:[[:space:]]*' "${files[@]}" |
  sed -E 's/[[:space:]]+#.*$//' |
  grep -vE 'uses:[[:space:]]*["'"'"']?(\./|[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@(v[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{40})["'"'"']?$|docker://[^[:space:]]+(:[A-Za-z0-9_.-]+|@sha256:[0-9a-f]{64})["'"'"']?$)' || true)"
if [ -n "$unpinned" ]; then
  printf '%s\n' "$unpinned" | sed 's/^/  not pinned to vX.Y.Z or a commit SHA: /'
  failed=$((failed + 1))
else
  echo "ok"
fi

# 3. inputs of popular actions, on copies whose exact pins are shortened to their major version.
printf '\n==> inputs of popular actions (checked at their major version)\n'
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.github/workflows"
[ -f .github/actionlint.yaml ] && cp .github/actionlint.yaml "$tmp/.github/"
[ -f .github/actionlint.yml ] && cp .github/actionlint.yml "$tmp/.github/"
cp .github/workflows/*.y*ml "$tmp/.github/workflows/"
for f in "$tmp"/.github/workflows/*.y*ml; do
  # vX.Y.Z -> vX; pypa/gh-action-pypi-publish publishes its major as the branch release/vX
  sed -E -i.bak \
    -e 's#(uses:[[:space:]]*pypa/gh-action-pypi-publish)@v([0-9]+)\.[0-9]+\.[0-9]+#\1@release/v\2#' \
    -e 's#(uses:[[:space:]]*[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+)@v([0-9]+)\.[0-9]+\.[0-9]+#\1@v\2#' "$f"
  rm -f "$f.bak"
done
rel=()
for f in "${files[@]}"; do rel+=(".github/workflows/$(basename "$f")"); done
# only the [action] findings: everything else was reported by check 1 already
inputs="$(cd "$tmp" && { "$AL" -no-color -oneline -shellcheck= -pyflakes= "${rel[@]}" 2>&1 || true; } | { grep -E ' \[action\]$' || true; })"
if [ -n "$inputs" ]; then
  printf '%s\n' "$inputs"
  failed=$((failed + 1))
else
  echo "ok"
fi

if [ "$failed" -gt 0 ]; then
  printf '\nlint-workflows: %d of 3 checks failed\n' "$failed" >&2
  exit 1
fi
printf '\nlint-workflows: %d workflows ok\n' "${#files[@]}"
