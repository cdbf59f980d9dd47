#!/usr/bin/env bash
# package tier: the container image. Makes it with scripts/build-image from the build folder
# (twice: the archive must come out byte for byte the same), loads it with `podman load`, checks
# the image's config (entrypoint, default arguments, labels) and its files (the two programs, the
# configuration, the control group; no shell, package manager or compiler), and runs it: the
# binaries with nothing but the image's own libraries and loader (chroot into the image's root),
# then the image as a container (`podman run`: --version, --check-config, enforcerctl --help).
# About 20 s on a build machine (2 cores, other builds running), most of it the two archives;
# no network, no registry.
#
# Needs root, podman and runc (scripts/install-deps). podman keeps everything it makes under
# this test's temporary folder (its own storage, vfs driver, run and tmp folders), so the
# machine's own images and its storage configuration are never touched; the image is removed
# and the folder deleted at the end, on failure too.
#
# Containers on the build machines (a hybrid cgroup layout: the v1 hierarchies hold the
# controllers, the cgroup2 mount at /sys/fs/cgroup/unified has hugetlb):
# - crun, podman's default runtime in Debian 12, refuses to start any container there, even with
#   --cgroups=disabled: before it looks at the cgroup manager it reads
#   /sys/fs/cgroup/unified/cgroup.controllers and stops with "cgroups in hybrid mode not
#   supported, drop all controllers from cgroupv2" when it is not empty. So on such a host the
#   test runs runc instead (with cgroupfs cgroups, which runc rejects disabling); the cgroups
#   podman makes for it (libpod_parent in each hierarchy) are removed at the end when they were
#   not there before. On a host with cgroup v2 alone (the vm tier, M-Lab's nodes) crun runs with
#   --cgroups=disabled (a path the build machines cannot take).
# - root lacks CAP_SYS_RESOURCE there, so the rlimits podman asks for by default (nofile
#   1048576, nproc 4194304), above the machine's hard limits, cannot be set ("setrlimit
#   RLIMIT_NOFILE: Operation not permitted"): the containers get lower ones, which need no
#   capability.
set -euo pipefail

BUILD=${ENFORCER_BUILD_DIR:?ENFORCER_BUILD_DIR must point at the build folder}
SRC=${ENFORCER_SOURCE_DIR:?ENFORCER_SOURCE_DIR must point at the source folder}

# shellcheck source=../lib/common.sh
source "$SRC/tests/lib/common.sh"

[ "$(id -u)" = 0 ] || fail "this test needs root (podman, chroot)"
for tool in podman jq tar chroot; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps installs it)"
done
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:[A-Z]*=//p' "$BUILD/CMakeCache.txt")
[ -n "$version" ] || fail "$BUILD/CMakeCache.txt names no project version"
NAME=localhost/enforcer:$version

WORK=$(mktemp -d /tmp/enforcer-image.XXXX)
PODMAN=(podman --root "$WORK/storage" --runroot "$WORK/run" --tmpdir "$WORK/tmp" --storage-driver vfs
  --events-backend none --cgroup-manager cgroupfs)
LOADED=0
# The cgroups podman makes for its containers and conmon, in every hierarchy.
podman_cgroups() { find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name libpod_parent 2>/dev/null; }
CGROUPS_BEFORE=$(podman_cgroups)

cleanup() {
  local rc=$? cg
  if [ "$LOADED" = 1 ]; then
    "${PODMAN[@]}" rm -af >/dev/null 2>&1 || true
    "${PODMAN[@]}" image unmount -a >/dev/null 2>&1 || true
    "${PODMAN[@]}" rmi -f "$NAME" >/dev/null 2>&1 || { echo "image: podman rmi $NAME failed" >&2; rc=1; }
  fi
  if [ -z "$CGROUPS_BEFORE" ]; then
    # Empty cgroups only: rmdir fails on one that still has a process, which is then reported.
    for cg in $(podman_cgroups); do
      find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || { echo "image: cannot remove $cg" >&2; rc=1; }
    done
  fi
  if grep -q " $WORK" /proc/self/mounts; then
    grep " $WORK" /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l 2>/dev/null || true
  fi
  remove_unmounted_dir "$WORK" image || rc=1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the archive, twice ---
start=$SECONDS
ENFORCER_BUILD_DIR=$BUILD ENFORCER_IMAGE=$WORK/enforcer-image.oci.tar "$SRC/scripts/build-image" |
  tee "$WORK/build-image.out" || fail "scripts/build-image failed"
ENFORCER_BUILD_DIR=$BUILD ENFORCER_IMAGE=$WORK/again.oci.tar "$SRC/scripts/build-image" >/dev/null ||
  fail "scripts/build-image failed the second time"
cmp -s "$WORK/enforcer-image.oci.tar" "$WORK/again.oci.tar" ||
  fail "two builds of the image from one build folder differ: the archive is not reproducible"
archive_bytes=$(stat -c %s "$WORK/enforcer-image.oci.tar")
log "archive made twice, identical ($archive_bytes bytes), in $((SECONDS - start)) s"

# --- 2. podman loads it, under the name it carries ---
"${PODMAN[@]}" load -i "$WORK/enforcer-image.oci.tar" >"$WORK/load.out" 2>&1 || {
  cat "$WORK/load.out" >&2
  fail "podman load -i refused the archive"
}
LOADED=1
grep -qx "Loaded image: $NAME" "$WORK/load.out" || fail "podman load did not name the image $NAME: $(cat "$WORK/load.out")"

# --- 3. the image's config ---
"${PODMAN[@]}" image inspect "$NAME" | jq '.[0]' >"$WORK/inspect.json"
expect_json() {
  local got
  got=$(jq -c "$1" "$WORK/inspect.json")
  [ "$got" = "$2" ] || fail "image $1 is $got, not $2"
}
expect_json .Config.Entrypoint '["/usr/sbin/enforcerd"]'
expect_json .Config.Cmd '["--config","/etc/enforcer/enforcer.toml"]'
expect_json '.Config.Labels["org.opencontainers.image.version"]' "\"$version\""
expect_json '.Config.Labels["org.opencontainers.image.title"]' '"enforcer"'
expect_json .Os '"linux"'
expect_json .Architecture "\"$(dpkg --print-architecture)\""
image_bytes=$(jq .Size "$WORK/inspect.json")
log "config: entrypoint, default arguments and labels as expected"

# --- 4. its files ---
ROOT=$("${PODMAN[@]}" image mount "$NAME") || fail "podman image mount $NAME failed"
for f in /usr/sbin/enforcerd /usr/bin/enforcerctl; do
  [ -x "$ROOT$f" ] || fail "$f is not in the image"
done
cmp -s "$SRC/config/enforcer.toml" "$ROOT/etc/enforcer/enforcer.toml" ||
  fail "/etc/enforcer/enforcer.toml in the image is not config/enforcer.toml"
grep -q '^enforcer:x:[0-9]*:$' "$ROOT/etc/group" || fail "the image's /etc/group has no enforcer group (control_group)"
for f in /bin/sh /usr/bin/bash /usr/bin/apt /usr/bin/apt-get /usr/bin/dpkg /usr/bin/cc /usr/bin/gcc \
  /usr/bin/g++ /usr/bin/c++ /usr/bin/clang /usr/bin/ld /usr/bin/as /usr/bin/make /usr/bin/cmake; do
  [ ! -e "$ROOT$f" ] && [ ! -L "$ROOT$f" ] || fail "$f is in the image"
done
# Beside the two programs, executables are shared objects only.
extra=$(find "$ROOT" -type f -perm /111 ! -name '*.so*' ! -path '*/usr/sbin/enforcerd' ! -path '*/usr/bin/enforcerctl')
[ -z "$extra" ] || fail "programs in the image other than enforcerd and enforcerctl: ${extra//$ROOT/}"
log "files: $(find "$ROOT" -type f | wc -l) (no shell, package manager or compiler)"

# --- 5. run inside it ---
# chroot: the image's own loader and libraries, none of the host's.
chroot "$ROOT" /usr/sbin/enforcerd --version | grep -qx "enforcerd $version" ||
  fail "enforcerd --version in a chroot into the image"
chroot "$ROOT" /usr/sbin/enforcerd --check-config --config /etc/enforcer/enforcer.toml >"$WORK/chroot.out" 2>&1 || {
  cat "$WORK/chroot.out" >&2
  fail "enforcerd --check-config in a chroot into the image"
}
chroot "$ROOT" /usr/bin/enforcerctl --help >/dev/null || fail "enforcerctl --help in a chroot into the image"
"${PODMAN[@]}" image unmount "$NAME" >/dev/null
log "chroot into the image: enforcerd --version, --check-config, enforcerctl --help"

# podman run (see the header for the runtime and the rlimits).
run=("${PODMAN[@]}" run --rm --network=host --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
if [ -n "$(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null)" ]; then
  command -v runc >/dev/null || fail "runc is missing (scripts/install-deps): crun cannot start containers on this host's hybrid cgroup layout"
  run+=(--runtime runc)
  runtime=runc
else
  run+=(--cgroups=disabled)
  runtime=$("${PODMAN[@]}" info --format '{{.Host.OCIRuntime.Name}}')
fi
"${run[@]}" "$NAME" --version >"$WORK/run.out" 2>&1 || {
  cat "$WORK/run.out" >&2
  fail "podman run $NAME --version ($runtime)"
}
grep -qx "enforcerd $version" "$WORK/run.out" || fail "podman run $NAME --version printed: $(cat "$WORK/run.out")"
"${run[@]}" "$NAME" --check-config --config /etc/enforcer/enforcer.toml >"$WORK/run.out" 2>&1 || {
  cat "$WORK/run.out" >&2
  fail "podman run $NAME --check-config ($runtime)"
}
"${run[@]}" --entrypoint /usr/bin/enforcerctl "$NAME" --help >"$WORK/run.out" 2>&1 || {
  cat "$WORK/run.out" >&2
  fail "podman run --entrypoint enforcerctl $NAME --help ($runtime)"
}
log "podman run ($runtime): enforcerd --version, --check-config, enforcerctl --help"

# --- 6. removed ---
"${PODMAN[@]}" rmi "$NAME" >/dev/null || fail "podman rmi $NAME failed"
LOADED=0
[ -z "$("${PODMAN[@]}" images -q)" ] || fail "images are left after podman rmi"
echo "PASS: $NAME: archive $archive_bytes bytes, $image_bytes bytes unpacked; loads, runs ($runtime)," \
  "removed; total $((SECONDS - start)) s"
