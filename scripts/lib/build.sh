# shellcheck shell=bash
# Configuring and building a build folder, the one way scripts/test, scripts/demo and
# tests/fuzz/run do it. Sourced; needs the repository root as the current folder.
#
# Every build goes through ccache (Debian's package) with its cache in ENFORCER_CCACHE_DIR
# (default /var/cache/enforcer/ccache), so a file compiled once for a build type and sanitizer is
# never compiled again, whichever clone or build folder asks: paths below the repository are
# hashed relative to it (base_dir), and the build folder's name is not hashed at all (hash_dir
# off; debug info may then name another clone's folder, which no test reads). Ninja is used when
# it is installed: its scheduling is faster than make's, and .ninja_log has each file's time.

build_env() {
  if command -v ccache >/dev/null; then
    export CCACHE_DIR=${ENFORCER_CCACHE_DIR:-${CCACHE_DIR:-/var/cache/enforcer/ccache}}
    export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-8G}
    mkdir -p "$CCACHE_DIR"
  fi
}

# configure_build DIR [CMAKE ARGUMENTS...]: configures DIR (once with a generator; an existing
# folder keeps the one it has) with ccache as the compiler launcher when ccache is installed.
configure_build() {
  local dir=$1 args=()
  shift
  build_env
  if command -v ccache >/dev/null; then
    args+=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  fi
  if [ ! -f "$dir/CMakeCache.txt" ] && command -v ninja >/dev/null; then args+=(-G Ninja); fi
  cmake -S . -B "$dir" "${args[@]}" "$@"
}

# build_targets DIR [TARGET...]: builds those targets of DIR (all when none are named).
build_targets() {
  local dir=$1
  shift
  build_env
  if [ $# -eq 0 ]; then
    cmake --build "$dir" -j "$(nproc)"
  else
    cmake --build "$dir" -j "$(nproc)" --target "$@"
  fi
}
