#!/usr/bin/env bash
# package tier: the Debian package, installed the way an operator installs it. Builds the .deb
# with cpack from the build folder, installs it with its dependencies into a Debian 12 (bookworm)
# chroot with apt, and checks that every file is where the unit, the man pages and enforcerd's
# defaults say; then removes and purges it.
#
# Needs root (chroot, mount) and the Debian mirror (ENFORCER_DEB_MIRROR, default
# http://deb.debian.org/debian): without it the test fails and says so. The minbase chroot is
# made by debootstrap once (a few minutes) and cached as a tarball in ENFORCER_DEB_CACHE
# (default /var/cache/enforcer-test), with the .debs apt fetched into it; later runs unpack it and
# take seconds (apt-get update against the mirror included). Delete the folder to start over.
# shellcheck disable=SC2016  # dpkg-query's ${Field} formats are meant literally
set -euo pipefail

BUILD=${ENFORCER_BUILD_DIR:?ENFORCER_BUILD_DIR must point at the build folder}
SRC=${ENFORCER_SOURCE_DIR:?ENFORCER_SOURCE_DIR must point at the source folder}
MIRROR=${ENFORCER_DEB_MIRROR:-http://deb.debian.org/debian}
CACHE=${ENFORCER_DEB_CACHE:-/var/cache/enforcer-test}
SUITE=bookworm
TARBALL=$CACHE/$SUITE-minbase.tar
ARCHIVES=$CACHE/apt-archives-$SUITE

# shellcheck source=../lib/common.sh
source "$SRC/tests/lib/common.sh"

[ "$(id -u)" = 0 ] || fail "this test needs root (debootstrap, chroot, mount)"
for tool in cpack debootstrap dpkg-shlibdeps curl tar; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps installs it)"
done

WORK=$(mktemp -d /tmp/enforcer-deb.XXXX)
ROOT=$WORK/root
MOUNTS=()  # mounted inside ROOT, in order

cleanup() {
  local rc=$? i
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  remove_unmounted_dir "$WORK" deb_install || rc=1
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in_root() { LC_ALL=C DEBIAN_FRONTEND=noninteractive chroot "$ROOT" "$@"; }

mirror_reachable() {
  curl -sSf --max-time 20 -o /dev/null "$MIRROR/dists/$SUITE/Release" 2>"$WORK/curl.err"
}

# --- 1. the package ---
start=$SECONDS
log "cpack -G DEB in $BUILD"
(cd "$BUILD" && cpack -G DEB -B "$WORK/pkg" >"$WORK/cpack.log" 2>&1) || {
  cat "$WORK/cpack.log" >&2
  fail "cpack -G DEB failed"
}
debs=("$WORK"/pkg/enforcer_*.deb)
if [ ! -f "${debs[0]}" ] || [ ${#debs[@]} != 1 ]; then fail "cpack made no single enforcer_*.deb: $(ls "$WORK/pkg")"; fi
DEB=${debs[0]}
log "built $(basename "$DEB") ($(du -k "$DEB" | cut -f1) KiB) in $((SECONDS - start)) s"
dpkg-deb --info "$DEB" | sed 's/^/  /'
depends=$(dpkg-deb -f "$DEB" Depends)
[ -n "$depends" ] || fail "the package has no Depends (dpkg-shlibdeps did not run)"
for lib in libbpf libsystemd; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
[ "$(dpkg-deb -f "$DEB" Section)" = admin ] || fail "Section is not admin"

# --- 2. the chroot ---
mirror_reachable || fail "the Debian mirror $MIRROR is not reachable ($(cat "$WORK/curl.err")): this test installs the package with apt from it"
mkdir -p "$CACHE" "$ARCHIVES/partial"
if [ ! -s "$TARBALL" ]; then
  log "debootstrap --variant=minbase $SUITE from $MIRROR (once; cached in $TARBALL)"
  t0=$SECONDS
  if ! debootstrap --variant=minbase "$SUITE" "$WORK/boot" "$MIRROR" >"$WORK/debootstrap.log" 2>&1; then
    tail -20 "$WORK/debootstrap.log" >&2
    fail "debootstrap of $SUITE from $MIRROR failed (log above)"
  fi
  tar -C "$WORK/boot" -cf "$TARBALL.tmp" . && mv "$TARBALL.tmp" "$TARBALL"
  rm -rf --one-file-system "${WORK:?}/boot"
  log "debootstrap done in $((SECONDS - t0)) s"
fi
t0=$SECONDS
mkdir "$ROOT"
tar -C "$ROOT" -xf "$TARBALL"
mount -t proc proc "$ROOT/proc"
MOUNTS+=("$ROOT/proc")
# apt's downloads are kept across runs: dependencies are fetched once.
mount --bind "$ARCHIVES" "$ROOT/var/cache/apt/archives"
MOUNTS+=("$ROOT/var/cache/apt/archives")
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
log "chroot unpacked in $((SECONDS - t0)) s"

# --- 3. install with apt, as an operator does ---
cp "$DEB" "$ROOT/tmp/enforcer.deb"
t0=$SECONDS
in_root apt-get update -q >"$WORK/apt-update.log" 2>&1 || {
  cat "$WORK/apt-update.log" >&2
  fail "apt-get update in the chroot failed (mirror $MIRROR)"
}
in_root apt-get install -y -q --no-install-recommends /tmp/enforcer.deb >"$WORK/apt-install.log" 2>&1 || {
  cat "$WORK/apt-install.log" >&2
  fail "apt-get install ./enforcer.deb in the $SUITE chroot failed"
}
log "apt-get update + install in $((SECONDS - t0)) s"
in_root dpkg-query -W -f='${Status} ${Version}\n' enforcer | grep -q '^install ok installed' ||
  fail "enforcer is not installed: $(in_root dpkg-query -W -f='${Status}' enforcer)"

# --- 4. the files ---
in_root dpkg -L enforcer >"$WORK/files"
sed 's/^/  /' "$WORK/files"
has_file() { grep -qx "$1" "$WORK/files" || fail "dpkg -L enforcer does not list $1"; }
present() { [ -e "$ROOT$1" ] || fail "$1 is not in the installed system"; }
unit=/lib/systemd/system/enforcerd.service
for f in /usr/sbin/enforcerd /usr/bin/enforcerctl $unit /etc/enforcer/enforcer.toml \
  /usr/share/man/man8/enforcerd.8.gz /usr/share/man/man8/enforcerctl.8.gz \
  /usr/share/man/man5/enforcer.toml.5.gz /usr/share/bash-completion/completions/enforcerctl \
  /usr/share/doc/enforcer/examples/ndt-override.toml \
  /usr/share/doc/enforcer/examples/mlab-node-limits.toml \
  /usr/share/doc/enforcer/examples/fleet/enforcer.toml \
  /usr/share/doc/enforcer/examples/fleet/enforcer.d/10-fleet.toml \
  /usr/share/doc/enforcer/examples/fleet/enforcer.d/20-lga03.toml \
  /usr/share/doc/enforcer/examples/fleet/enforcer.d/30-mlab2-lga03.toml \
  /usr/share/doc/enforcer/prometheus/enforcer.rules.yml \
  /usr/share/doc/enforcer/grafana/enforcer.json; do
  has_file "$f"
  present "$f"
done
for f in /usr/sbin/enforcerd /usr/bin/enforcerctl; do
  [ -x "$ROOT$f" ] || fail "$f is not executable"
done
cmp -s "$SRC/config/enforcer.toml" "$ROOT/etc/enforcer/enforcer.toml" ||
  fail "/etc/enforcer/enforcer.toml is not config/enforcer.toml (M-Lab's defaults)"
for gz in "$ROOT"/usr/share/man/man*/enforcer*.gz; do
  gzip -t "$gz" || fail "$gz is not valid gzip"
done
# No build-tree paths or files outside the Debian layout.
if grep -Ev '^/(\.|usr/(sbin|bin|share)(/.*)?|usr|etc(/enforcer(/.*)?)?|lib(/systemd(/system(/.*)?)?)?)$' "$WORK/files"; then
  fail "files outside /usr/{sbin,bin,share}, /etc/enforcer, /lib/systemd/system (above)"
fi
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' enforcer)
grep -q '^ /etc/enforcer/enforcer.toml [0-9a-f]\{32\}$' <<<"$conffiles" ||
  fail "/etc/enforcer/enforcer.toml is not a conffile: '$conffiles'"
in_root getent group enforcer >/dev/null || fail "postinst did not create the enforcer group"

# The unit: ExecStart's binary is installed, and the command line it runs takes the config.
execstart=$(sed -n 's/^ExecStart=//p' "$ROOT$unit")
[ -n "$execstart" ] || fail "$unit has no ExecStart"
read -r -a cmd <<<"$execstart"
[ -x "$ROOT${cmd[0]}" ] || fail "the unit's ExecStart binary ${cmd[0]} is not installed"
grep -q -- '--config /etc/enforcer/enforcer.toml' <<<"$execstart" ||
  fail "ExecStart does not read /etc/enforcer/enforcer.toml: $execstart"
in_root "${cmd[@]}" --check-config >"$WORK/check.out" 2>&1 || {
  cat "$WORK/check.out" >&2
  fail "'$execstart --check-config' fails in the chroot"
}
in_root /usr/sbin/enforcerd --check-config --config /etc/enforcer/enforcer.toml >/dev/null ||
  fail "enforcerd --check-config --config /etc/enforcer/enforcer.toml fails"
# The default --config is the installed file.
in_root /usr/sbin/enforcerd --check-config >/dev/null || fail "enforcerd --check-config (default path) fails"
in_root /usr/sbin/enforcerd --version | grep -q '^enforcerd ' || fail "enforcerd --version"
in_root /usr/bin/enforcerctl --help >/dev/null || fail "enforcerctl --help does not exit 0"
# The paths the man pages name are the installed ones.
for page in enforcerd.8 enforcer.toml.5; do
  # Without roff's escapes (\- is a hyphen, \fB bold), as the page reads.
  gzip -dc "$ROOT/usr/share/man/man${page##*.}/$page.gz" | sed 's/\\-/-/g; s/\\f[BIRP]//g' >"$WORK/$page"
done
for f in /usr/sbin/enforcerd /etc/enforcer/enforcer.toml $unit /usr/share/doc/enforcer/examples/ \
  ndt-override.toml /var/lib/enforcer/ /run/enforcer/control.sock /sys/fs/bpf/enforcer/; do
  grep -qF -- "$f" "$WORK/enforcerd.8" || fail "enforcerd(8) does not name $f"
done
grep -qF /etc/enforcer/enforcer.toml "$WORK/enforcer.toml.5" || fail "enforcer.toml(5) does not name its path"
# The installed example passes the installed daemon's check too.
in_root /usr/sbin/enforcerd --check-config --config /usr/share/doc/enforcer/examples/ndt-override.toml \
  >/dev/null || fail "the installed ndt-override.toml example fails --check-config"
log "installed files checked"

# --- 5. an upgrade (the same package again) keeps the operator's edit of the conffile ---
echo '# edited by the operator' >>"$ROOT/etc/enforcer/enforcer.toml"
in_root dpkg -i /tmp/enforcer.deb >"$WORK/upgrade.log" 2>&1 || {
  cat "$WORK/upgrade.log" >&2
  fail "dpkg -i over the installed package (an upgrade) failed"
}
grep -q '^# edited by the operator$' "$ROOT/etc/enforcer/enforcer.toml" ||
  fail "the upgrade replaced the edited /etc/enforcer/enforcer.toml"
log "upgrade kept the edited conffile"

# --- 6. remove, purge ---
in_root dpkg -r enforcer >"$WORK/remove.log" 2>&1 || {
  cat "$WORK/remove.log" >&2
  fail "dpkg -r enforcer failed"
}
for f in /usr/sbin/enforcerd /usr/bin/enforcerctl $unit /usr/share/man/man8/enforcerd.8.gz; do
  [ ! -e "$ROOT$f" ] || fail "$f is still there after dpkg -r"
done
[ -f "$ROOT/etc/enforcer/enforcer.toml" ] || fail "dpkg -r removed the conffile (only a purge may)"
in_root dpkg-query -W -f='${Status}\n' enforcer | grep -q 'deinstall ok config-files' ||
  fail "after dpkg -r: $(in_root dpkg-query -W -f='${Status}' enforcer)"
mkdir -p "$ROOT/var/lib/enforcer" && touch "$ROOT/var/lib/enforcer/overrides.json"
in_root dpkg -P enforcer >"$WORK/purge.log" 2>&1 || {
  cat "$WORK/purge.log" >&2
  fail "dpkg -P enforcer failed"
}
grep -i 'warning' "$WORK/remove.log" "$WORK/purge.log" && fail "dpkg warned while removing (above)"
for f in /etc/enforcer /var/lib/enforcer; do
  [ ! -e "$ROOT$f" ] || fail "$f is still there after dpkg -P"
done
status=$(in_root dpkg-query -W -f='${Status}' enforcer 2>/dev/null || true)
case $status in
  '' | *not-installed) ;;
  *) fail "after dpkg -P, dpkg still has enforcer: $status" ;;
esac
log "removed and purged cleanly"
echo "PASS: $(basename "$DEB") installs into $SUITE with apt ($(wc -l <"$WORK/files") paths), runs, removes and purges cleanly; total $((SECONDS - start)) s"
