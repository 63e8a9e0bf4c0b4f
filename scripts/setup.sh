#!/usr/bin/env bash
# Installs everything rank-relax needs to build and test, on a fresh Debian
# bookworm machine (root; network: PyPI, crates.io, npm, the Go module proxy, Debian's apt repos).
# Idempotent: every step is guarded by a check or a stamp in .tools/stamps, so a
# second run takes seconds. See scripts/README.md.
#
# usage: scripts/setup.sh [--force] [STEP...]
#   STEP     one or more of: node rust julia python actionlint   (default: all, in that order)
#   --force  ignore the stamps and redo the selected steps
#
# Environment:
#   RANK_RELAX_JULIA=/path/to/julia  use this julia instead of installing one
#   PYTHON=/path/to/python3.11       interpreter for .venv (default: python3.11, else python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source=scripts/env.sh
source "$ROOT/scripts/env.sh"
# shellcheck source=scripts/lib/common.sh
source "$ROOT/scripts/lib/common.sh"
# shellcheck source=scripts/lib/julia.sh
source "$ROOT/scripts/lib/julia.sh"
# shellcheck source=scripts/lib/julia_dev.sh
source "$ROOT/scripts/lib/julia_dev.sh"

# pnpm: the version in package.json's "packageManager" wins; this is the fallback.
PNPM_VERSION_DEFAULT="10.34.9"
PYTHON_WANT="3.11"
RUST_COMPONENTS=(rustfmt clippy)
# actionlint (scripts/lint-workflows.sh), built with the preinstalled Go from the Go module proxy;
# it runs the workflows' shell steps through shellcheck, Debian bookworm's, unpacked privately.
ACTIONLINT_VERSION="1.7.12"
SHELLCHECK_DEB="pool/main/s/shellcheck/shellcheck_0.9.0-1_amd64.deb"
SHELLCHECK_DEB_SHA256="8c40f8a4ecccf3d746b933853972f1cd1be6df84fc5977d0137269d4debefa4f"
SHELLCHECK_VERSION="0.9.0"

# ---------------------------------------------------------------------------
usage() {
  sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
}

ALL_STEPS=(node rust julia python actionlint)
STEPS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --force) export SETUP_FORCE=1 ;;
    -h | --help) usage; exit 0 ;;
    node | rust | julia | python | actionlint) STEPS+=("$1") ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
  shift
done
[ "${#STEPS[@]}" -gt 0 ] || STEPS=("${ALL_STEPS[@]}")

CURRENT_STEP="start"
trap 'rc=$?; [ $rc -eq 0 ] || printf "\nsetup.sh: FAILED in step \"%s\" (exit %s) after %ss\n" "$CURRENT_STEP" "$rc" "$SECONDS" >&2' EXIT

# One setup at a time per checkout.
mkdir -p "$ROOT/.tools"
exec 9>"$ROOT/.tools/.setup.lock"
if ! flock -n 9; then
  info "another scripts/setup.sh is running in this checkout; waiting for it"
  flock -w 1800 9 || die "timed out waiting for the other setup.sh"
fi

# ---------------------------------------------------------------------------
setup_node() {
  step "Node: pnpm + workspace install"
  have node || die "node not found (Node 20 is expected to be preinstalled)"
  have npm || die "npm not found (it comes with Node)"
  local node_major
  node_major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$node_major" -ge 20 ] || die "Node >= 20 needed, found $(node --version)"

  local want="$PNPM_VERSION_DEFAULT" pm=""
  if [ -f "$ROOT/package.json" ]; then
    pm="$(node -p 'try { require(process.argv[1]).packageManager || "" } catch (e) { "" }' "$ROOT/package.json")"
    case "$pm" in
      pnpm@*) want="${pm#pnpm@}"; want="${want%%+*}" ;;
    esac
  fi
  local cur
  cur="$(pnpm --version 2>/dev/null || true)"
  if [ "$cur" != "$want" ] || [ -n "${SETUP_FORCE:-}" ]; then
    info "installing pnpm@$want (found: ${cur:-none})"
    if ! npm install --global --no-audit --no-fund --loglevel=error "pnpm@$want"; then
      # e.g. EEXIST: a pnpm binary npm does not own (a corepack shim) is in the way
      info "retrying with --force (replaces the pnpm executables in npm's global bin)"
      npm install --global --force --no-audit --no-fund --loglevel=error "pnpm@$want" ||
        die "npm install -g pnpm@$want failed"
    fi
    hash -r
    cur="$(pnpm --version 2>/dev/null || true)"
    [ "$cur" = "$want" ] || die "pnpm --version says '${cur:-nothing}' after installing pnpm@$want (is another pnpm earlier on PATH? $(command -v pnpm || true))"
  fi
  info "node $(node --version), npm $(npm --version 2>/dev/null), pnpm $cur"

  local mode
  if [ -f "$ROOT/pnpm-lock.yaml" ]; then
    mode="--frozen-lockfile"
  elif [ -f "$ROOT/package.json" ]; then
    mode="--no-frozen-lockfile"
    warn "no pnpm-lock.yaml: running a plain pnpm install (it will write one)"
  else
    info "no package.json at the repository root yet: nothing to install"
    return 0
  fi

  local inputs=() f
  while IFS= read -r f; do inputs+=("$f"); done < <(
    find "$ROOT" -maxdepth 3 \( -name node_modules -o -name .git -o -name .tools -o -name .venv -o -name target \) -prune \
      -o \( -name package.json -o -name pnpm-lock.yaml -o -name pnpm-workspace.yaml -o -name .npmrc \) -type f -print | LC_ALL=C sort)
  local key
  key="$(hash_inputs "${inputs[@]}" "str:pnpm $want $mode node $node_major")"
  if stamp_ok node "$key" && [ -f "$ROOT/node_modules/.modules.yaml" ]; then
    info "node_modules up to date (lockfile unchanged)"
    return 0
  fi
  stamp_clear node
  info "pnpm install $mode"
  (cd "$ROOT" && pnpm install "$mode" --config.confirmModulesPurge=false) || die "pnpm install $mode failed"
  # a plain install writes the lockfile: hash what is there now
  if [ "$mode" = "--no-frozen-lockfile" ] && [ -f "$ROOT/pnpm-lock.yaml" ]; then
    key="$(hash_inputs "${inputs[@]}" "$ROOT/pnpm-lock.yaml" "str:pnpm $want --frozen-lockfile node $node_major")"
  fi
  stamp_write node "$key"
}

# ---------------------------------------------------------------------------
setup_rust() {
  step "Rust: stable toolchain with rustfmt + clippy"
  have cargo || die "cargo not found: Rust (rustup, stable) must be preinstalled; setup.sh cannot download a toolchain"
  have rustc || die "rustc not found: Rust (rustup, stable) must be preinstalled"
  if have rustup; then
    local installed missing=() c
    installed="$(cd "$ROOT" && rustup component list --installed 2>&1)" ||
      die "rustup component list failed in $ROOT (toolchain from rust-toolchain.toml not installed?):
$installed"
    for c in "${RUST_COMPONENTS[@]}"; do
      grep -q "^$c-" <<<"$installed" || missing+=("$c")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
      local dist="${RUSTUP_DIST_SERVER:-https://static.rust-lang.org}"
      if curl -fsS --max-time 20 -o /dev/null "$dist/dist/channel-rust-stable.toml.sha256" 2>/dev/null; then
        info "rustup component add ${missing[*]}"
        (cd "$ROOT" && rustup component add "${missing[@]}") || die "rustup component add ${missing[*]} failed"
      else
        die "rustup components missing (${missing[*]}) and rustup's dist server $dist is unreachable from here: install them where it is reachable (rustup component add ${missing[*]})"
      fi
    fi
  fi
  local v
  v="$(cd "$ROOT" && cargo fmt --version 2>&1)" || die "cargo fmt (rustfmt) is not available: $v"
  v="$(cd "$ROOT" && cargo clippy --version 2>&1)" || die "cargo clippy is not available: $v"
  info "$(cd "$ROOT" && rustc --version), $(cd "$ROOT" && cargo --version | cut -d' ' -f1-2), $(cd "$ROOT" && cargo fmt --version), $v"
}

# ---------------------------------------------------------------------------
pick_python() {
  local c
  for c in ${PYTHON:-} python3.11 python3; do
    have "$c" || continue
    if [ "$("$c" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$PYTHON_WANT" ]; then
      "$c" -c 'import sys; print(sys.executable)'
      return 0
    fi
  done
  return 1
}

setup_python() {
  step "Python: .venv with packages/python/requirements-dev.txt"
  local req="$ROOT/packages/python/requirements-dev.txt"
  local req_ts="$ROOT/packages/python/requirements-torchsort.txt"
  local venv="$ROOT/.venv" vpy="$ROOT/.venv/bin/python"
  [ -f "$req" ] || die "missing $req"
  [ -f "$req_ts" ] || die "missing $req_ts"

  local py
  py="$(pick_python)" || die "no Python $PYTHON_WANT found (tried \${PYTHON}, python3.11, python3); set PYTHON=/path/to/python$PYTHON_WANT"

  # (Re)create the venv when it is missing, broken or of another Python.
  local vver=""
  [ -x "$vpy" ] && vver="$("$vpy" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)"
  if [ "$vver" != "$PYTHON_WANT" ]; then
    [ -e "$venv" ] && info "recreating .venv (found Python '${vver:-broken}')"
    rm -rf "$venv"
    stamp_clear python
    info "python -m venv .venv  ($py, $("$py" --version 2>&1))"
    "$py" -m venv "$venv" || die "python -m venv failed (is the venv module installed for $py?)"
  fi

  local key
  key="$(hash_inputs "$req" "$req_ts" "str:$("$vpy" -c 'import sys; print(sys.version)')")"
  if stamp_ok python "$key" && [ -x "$venv/bin/pytest" ] && [ -x "$venv/bin/maturin" ]; then
    info ".venv up to date ($("$vpy" --version 2>&1); requirements unchanged)"
    return 0
  fi
  stamp_clear python

  info "pip install -r packages/python/requirements-dev.txt (torch is ~5 GB with its CUDA wheels)"
  "$vpy" -m pip install --progress-bar off --prefer-binary -r "$req" ||
    die "pip install -r $req failed"

  # torchsort compiles a C++ extension against the torch in the venv: no build
  # isolation, and rebuilt (no cached wheel) whenever it does not work with it.
  have c++ || die "a C++ compiler (c++) is needed to build torchsort: apt-get install g++"
  if "$vpy" -c 'import torch, torchsort; torchsort.soft_rank(torch.randn(2, 5))' >/dev/null 2>&1; then
    info "torchsort already built against this torch"
  else
    info "pip install --no-build-isolation torchsort (builds a C++ extension, ~35 s)"
    "$vpy" -m pip install --progress-bar off --no-build-isolation --no-deps --force-reinstall --no-cache-dir -r "$req_ts" ||
      die "building torchsort against torch failed"
  fi

  info "checking the environment"
  "$vpy" -m pip check || die "pip check found broken requirements in .venv"
  MPLBACKEND=Agg "$vpy" - <<'EOF' || die "the Python environment does not work (see above)"
import numpy, torch, jax, jax.numpy as jnp, jaxlib, matplotlib, torchsort
import matplotlib.pyplot as plt

r = torchsort.soft_rank(torch.randn(2, 5))
assert r.shape == (2, 5), r.shape
g = jax.grad(lambda x: jnp.sum(x ** 2))(jnp.arange(3.0))
assert [float(v) for v in g] == [0.0, 2.0, 4.0], g
plt.figure(); plt.plot([0, 1]); plt.close("all")
print("    numpy %s, torch %s, jax %s, jaxlib %s, matplotlib %s, torchsort %s" % (
    numpy.__version__, torch.__version__, jax.__version__, jaxlib.__version__,
    matplotlib.__version__, getattr(torchsort, "__version__", "ok")))
EOF
  local t
  for t in maturin pytest ruff mypy; do
    "$venv/bin/$t" --version >/dev/null 2>&1 || die "$t in .venv does not run"
  done
  info "$("$venv/bin/maturin" --version), $("$venv/bin/pytest" --version 2>&1), $("$venv/bin/ruff" --version), $("$venv/bin/mypy" --version)"
  stamp_write python "$key"
}

# ---------------------------------------------------------------------------
# actionlint into .tools/bin (go install; module and build caches in .tools/go), and shellcheck
# from Debian's pool (pinned .deb, checked against its sha256, unpacked into .tools/shellcheck).
setup_actionlint() {
  step "actionlint $ACTIONLINT_VERSION + shellcheck $SHELLCHECK_VERSION (for scripts/lint-workflows.sh)"
  local bin="$ROOT/.tools/bin" cur=""
  [ -x "$bin/actionlint" ] && cur="$("$bin/actionlint" -version 2>/dev/null | head -n 1 || true)"
  if [ "$cur" != "v$ACTIONLINT_VERSION" ] || [ -n "${SETUP_FORCE:-}" ]; then
    have go || die "go not found: Go is expected to be preinstalled (actionlint is built with go install)"
    info "go install github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION (found: ${cur:-none}; $(go version | cut -d' ' -f3))"
    mkdir -p "$bin" "$ROOT/.tools/go"
    (cd "$ROOT/.tools/go" &&
      GOBIN="$bin" GOMODCACHE="$ROOT/.tools/go/mod" GOCACHE="$ROOT/.tools/go/cache" \
        GOFLAGS=-modcacherw GOTOOLCHAIN=local GO111MODULE=on \
        go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION") ||
      die "go install actionlint@v$ACTIONLINT_VERSION failed (is the Go module proxy reachable? GOPROXY=$(go env GOPROXY))"
    cur="$("$bin/actionlint" -version 2>/dev/null | head -n 1 || true)"
    [ "$cur" = "v$ACTIONLINT_VERSION" ] || die "actionlint -version says '${cur:-nothing}' after installing v$ACTIONLINT_VERSION"
  fi

  local sc_dir="$ROOT/.tools/shellcheck" sc=""
  [ -x "$bin/shellcheck" ] && sc="$("$bin/shellcheck" --version 2>/dev/null | sed -n 's/^version: //p' || true)"
  if [ "$sc" != "$SHELLCHECK_VERSION" ] || [ -n "${SETUP_FORCE:-}" ]; then
    if [ "$(uname -m)" != "x86_64" ]; then
      warn "shellcheck: the pinned Debian package is for amd64, this is $(uname -m); actionlint will run without shellcheck"
    else
      local mirror="${RANK_RELAX_DEBIAN_MIRROR:-http://deb.debian.org/debian}" deb
      deb="$sc_dir/$(basename "$SHELLCHECK_DEB")"
      rm -rf "$sc_dir"
      mkdir -p "$sc_dir"
      info "shellcheck: $mirror/$SHELLCHECK_DEB"
      curl -fsSL --retry 3 --max-time 120 -o "$deb" "$mirror/$SHELLCHECK_DEB" ||
        die "shellcheck: cannot download $mirror/$SHELLCHECK_DEB"
      [ "$(sha256sum <"$deb" | cut -d' ' -f1)" = "$SHELLCHECK_DEB_SHA256" ] ||
        die "shellcheck: $(basename "$deb") does not have the pinned sha256 $SHELLCHECK_DEB_SHA256"
      dpkg-deb -x "$deb" "$sc_dir/root" || die "shellcheck: dpkg-deb -x failed"
      ln -sfn "../shellcheck/root/usr/bin/shellcheck" "$bin/shellcheck"
      sc="$("$bin/shellcheck" --version 2>/dev/null | sed -n 's/^version: //p' || true)"
      [ "$sc" = "$SHELLCHECK_VERSION" ] ||
        die "shellcheck $SHELLCHECK_VERSION does not run after unpacking (missing libgmp10/libffi8?): $(ldd "$sc_dir/root/usr/bin/shellcheck" 2>&1 | grep 'not found' || true)"
    fi
  fi
  info "actionlint $cur, shellcheck ${sc:-none} (in .tools/bin)"
}

# ---------------------------------------------------------------------------
printf 'rank-relax setup in %s (steps: %s)\n' "$ROOT" "${STEPS[*]}"
for s in "${STEPS[@]}"; do
  CURRENT_STEP="$s"
  "setup_$s"
  # the julia step also installs Julia's C headers and libclang for jlrs (scripts/lib/julia_dev.sh)
  if [ "$s" = julia ]; then setup_julia_dev; fi
done
CURRENT_STEP="done"
printf '\nsetup.sh: done in %ss. Use the tools with:  source scripts/env.sh\n' "$SECONDS"
