# shellcheck shell=bash
# Helpers shared by scripts/*.sh. Source it after scripts/env.sh (which sets
# RANK_RELAX_ROOT); it does not change shell options of the caller.

: "${RANK_RELAX_ROOT:?source scripts/env.sh before scripts/lib/common.sh}"

RR_STAMPS="$RANK_RELAX_ROOT/.tools/stamps"

# step "title": a short header, with the seconds since the script started.
step() {
  printf '\n==> [%ss] %s\n' "$SECONDS" "$*"
}

info() {
  printf '    %s\n' "$*"
}

warn() {
  printf 'WARNING: %s\n' "$*" >&2
}

die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

have() {
  command -v "$1" >/dev/null 2>&1
}

# hash_inputs FILE... : one sha256 over the names and contents of the files
# that exist, plus any extra strings given as "str:TEXT" arguments.
hash_inputs() {
  local arg
  for arg in "$@"; do
    case "$arg" in
      str:*) printf 'str %s\n' "${arg#str:}" ;;
      *)
        if [ -f "$arg" ]; then
          printf 'file %s %s\n' "${arg#"$RANK_RELAX_ROOT"/}" "$(sha256sum <"$arg" | cut -d' ' -f1)"
        else
          printf 'missing %s\n' "${arg#"$RANK_RELAX_ROOT"/}"
        fi
        ;;
    esac
  done | sha256sum | cut -d' ' -f1
}

# stamp_ok NAME HASH : true when the stamp NAME records HASH (and SETUP_FORCE is unset).
stamp_ok() {
  [ -z "${SETUP_FORCE:-}" ] && [ -f "$RR_STAMPS/$1" ] && [ "$(cat "$RR_STAMPS/$1")" = "$2" ]
}

stamp_write() {
  mkdir -p "$RR_STAMPS"
  printf '%s\n' "$2" >"$RR_STAMPS/$1"
}

stamp_clear() {
  rm -f "$RR_STAMPS/$1"
}
