# shellcheck shell=bash
# Julia's C headers and libclang for jlrs 0.8 (crates/rank-relax-julia-check), sourced by
# scripts/setup.sh (its julia step, after scripts/lib/julia.sh) and by scripts/test-julia-check.sh.
#
# jl-sys (jlrs's bindings) runs bindgen over julia.h when it builds: bindgen loads libclang,
# and julia.h includes clang's own headers (stddef.h, stdint.h...). Like julia itself, all of it
# comes from Debian bullseye, downloaded with the private apt configuration in .tools/julia/apt
# and unpacked with dpkg-deb -x; no system package is installed or changed:
#   .tools/julia/dev/debs/   the downloaded .debs
#   .tools/julia/dev/root/   libjulia-dev 1.5.3 (include/julia/*.h), libclang-common-11-dev
#                            (clang 11's resource headers), libclang1-11 and the libraries it
#                            needs that this system lacks (libllvm11, ...; scripts/lib/deb_closure.py)
#   .tools/julia/dev/julia/  the JULIA_DIR jl-sys wants: include/ and lib/libjulia.so, links into
#                            dev/root and into the private julia's root
# Only for the private julia 1.5.3 of scripts/lib/julia.sh: jlrs 0.8 supports Julia 1.5 only
# (docs/adr/0013-jlrs-0.8-julia-check.md). Its own stamp, so that julia itself is not reinstalled.

RR_JULIA_DEV="$RR_JULIA_DIR/dev"
RR_JULIA_DEV_ROOTS="libclang1-11"                          # dependencies followed
RR_JULIA_DEV_HEADERS="libjulia-dev libclang-common-11-dev" # headers only: none followed
RR_JULIA_DEV_LAYOUT_VERSION=1
RR_CLANG_VERSION="11.0.1"

# rr_julia_dev_missing : prints why the jlrs check cannot build or run here (nothing when it can).
rr_julia_dev_missing() {
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ]; then
    echo "Julia's headers and libclang are installed by scripts/setup.sh on Linux x86_64 only (this is $(uname -s) $(uname -m))"
  elif [ ! -x "$RR_JULIA_DIR/root/usr/bin/julia" ]; then
    echo "no private julia 1.5.3 in .tools/julia (scripts/setup.sh julia installs it; jlrs 0.8 needs Julia 1.5)"
  elif [ ! -f "$RR_JULIA_DEV/julia/include/julia/julia.h" ]; then
    echo "Julia's C headers are missing (.tools/julia/dev/julia/include/julia/julia.h): run scripts/setup.sh julia"
  elif [ ! -e "$RR_JULIA_DEV/root/usr/lib/$RR_MULTIARCH/libclang.so" ]; then
    echo "libclang is missing (.tools/julia/dev/root/usr/lib/$RR_MULTIARCH/libclang.so): run scripts/setup.sh julia"
  fi
}

# rr_julia_dev_env : exports what jl-sys's build script and the embedded julia need.
rr_julia_dev_env() {
  local lib="usr/lib/$RR_MULTIARCH"
  export JULIA_DIR="$RR_JULIA_DEV/julia"
  export LIBCLANG_PATH="$RR_JULIA_DEV/root/$lib"
  # clang's stddef.h & co. (bindgen finds no clang binary to ask for them)
  export BINDGEN_EXTRA_CLANG_ARGS="-I$RR_JULIA_DEV/root/usr/lib/llvm-11/lib/clang/$RR_CLANG_VERSION/include"
  # the root julia's sys.so and bin/ are found from (Julia::init_with_image)
  export RANK_RELAX_JULIA_ROOT="$RR_JULIA_DIR/root"
  # as in .tools/bin/julia: bullseye's libunwind first, then the private julia's libraries;
  # then libclang's (for the build script)
  export LD_LIBRARY_PATH="$RR_JULIA_DIR/libunwind/$lib:$RR_JULIA_DIR/root/$lib:$RR_JULIA_DIR/root/lib/$RR_MULTIARCH:$RR_JULIA_DEV/root/$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

setup_julia_dev() {
  step "Julia headers + libclang for jlrs (crates/rank-relax-julia-check)"
  if [ "$(uname -s)-$(uname -m)" != "Linux-x86_64" ] || [ ! -x "$RR_JULIA_DIR/root/usr/bin/julia" ] ||
    [ -L "$RR_JULIA_WRAPPER" ] || [ ! -e "$RR_JULIA_WRAPPER" ]; then
    info "skipped: only for the private julia 1.5.3 in .tools/julia (jlrs 0.8 needs Julia 1.5); the jlrs check will skip"
    return 0
  fi
  local key
  key="$(hash_inputs "$RANK_RELAX_ROOT/scripts/lib/julia_dev.sh" "$RANK_RELAX_ROOT/scripts/lib/deb_closure.py" \
    "str:$RR_JULIA_SUITE $RR_JULIA_MIRROR $RR_JULIA_DEV_ROOTS $RR_JULIA_DEV_HEADERS $RR_JULIA_DEV_LAYOUT_VERSION $RR_JULIA_DEV")"
  if stamp_ok julia-dev "$key" && [ -z "$(rr_julia_dev_missing)" ]; then
    info "up to date: julia.h $(sed -n 's/^#define JULIA_VERSION_STRING "\(.*\)"/\1/p' "$RR_JULIA_DEV/julia/include/julia/julia_version.h" 2>/dev/null), libclang $RR_CLANG_VERSION (.tools/julia/dev)"
    return 0
  fi
  stamp_clear julia-dev
  have apt-get && have dpkg-deb || die "julia-dev: apt-get/dpkg-deb are missing"

  local apt_opts pkgs f lib="usr/lib/$RR_MULTIARCH"
  mapfile -t apt_opts < <(rr_apt_opts)
  mkdir -p "$RR_JULIA_DIR/apt/lists/partial" "$RR_JULIA_DIR/apt/cache/archives/partial"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' \
    "$RR_JULIA_MIRROR" "$RR_JULIA_SUITE" >"$RR_JULIA_DIR/apt/sources.list"
  if [ -z "$(ls "$RR_JULIA_DIR/apt/lists/"*_Packages* 2>/dev/null)" ] || [ -n "${SETUP_FORCE:-}" ]; then
    info "apt-get update (private lists, $RR_JULIA_SUITE only)"
    apt-get "${apt_opts[@]}" -qq update >"$RR_JULIA_DIR/apt/update.log" 2>&1 || {
      cat "$RR_JULIA_DIR/apt/update.log" >&2
      die "julia-dev: cannot read Debian $RR_JULIA_SUITE from $RR_JULIA_MIRROR (log above)"
    }
  fi
  mapfile -t pkgs < <(python3 "$RANK_RELAX_ROOT/scripts/lib/deb_closure.py" "${apt_opts[@]}" -- \
    $RR_JULIA_DEV_ROOTS) || die "julia-dev: could not resolve libclang's dependencies"
  # shellcheck disable=SC2206
  pkgs+=($RR_JULIA_DEV_HEADERS)
  info "packages: ${pkgs[*]}"
  rm -rf "$RR_JULIA_DEV"
  mkdir -p "$RR_JULIA_DEV/debs" "$RR_JULIA_DEV/root" "$RR_JULIA_DEV/julia/lib"
  (cd "$RR_JULIA_DEV/debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}") ||
    die "julia-dev: apt-get download failed"
  for f in "$RR_JULIA_DEV/debs/"*.deb; do
    dpkg-deb -x "$f" "$RR_JULIA_DEV/root" || die "julia-dev: dpkg-deb -x $(basename "$f") failed"
  done
  # libclang1-11 ships libclang-11.so.1 only; clang-sys looks for libclang.so
  ln -sfn "$(basename "$(ls "$RR_JULIA_DEV/root/$lib/"libclang-11.so.1* | head -n 1)")" "$RR_JULIA_DEV/root/$lib/libclang.so"
  ln -sfn ../root/usr/include "$RR_JULIA_DEV/julia/include"
  ln -sfn "../../../root/$lib/libjulia.so.1" "$RR_JULIA_DEV/julia/lib/libjulia.so"
  [ -f "$RR_JULIA_DEV/julia/include/julia/julia.h" ] || die "julia-dev: include/julia/julia.h missing after unpacking libjulia-dev"
  [ -e "$RR_JULIA_DEV/julia/lib/libjulia.so" ] || die "julia-dev: $RR_JULIA_DIR/root/$lib/libjulia.so.1 missing"
  [ -f "$RR_JULIA_DEV/root/usr/lib/llvm-11/lib/clang/$RR_CLANG_VERSION/include/stddef.h" ] ||
    die "julia-dev: clang's stddef.h missing after unpacking libclang-common-11-dev"
  local missing
  missing="$(LD_LIBRARY_PATH="$RR_JULIA_DEV/root/$lib:$RR_JULIA_DIR/root/$lib" ldd "$RR_JULIA_DEV/root/$lib/libclang.so" 2>&1 |
    awk '/not found/ {print $1}' | sort -u | tr '\n' ' ')"
  [ -z "$missing" ] || die "julia-dev: libraries not found for libclang: $missing"
  stamp_write julia-dev "$key"
  info "installed julia.h 1.5.3 and libclang $RR_CLANG_VERSION in .tools/julia/dev"
}
