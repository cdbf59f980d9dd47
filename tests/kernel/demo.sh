#!/usr/bin/env bash
# kernel tier (issue "demo", acceptance 1): scripts/demo, non-interactively and shortened
# (W = 10 s, about 40 s in all), on the build under test: it exits 0, prints its measured summary
# (bursty throttled, steady not), and leaves nothing behind: no network namespace, BPF pin
# folder, work folder, link, cgroup or process of its own.
set -euo pipefail
: "${ENFORCER_BUILD_DIR:?}" "${ENFORCER_SOURCE_DIR:?}"
prefix=enfdemo$$
out=$(mktemp /tmp/enfdemo-test.XXXX)
trap 'rm -f "$out"' EXIT
# shellcheck source=../lib/common.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/common.sh"

rc=0
TOPO_PREFIX=$prefix DEMO_WINDOW=10 timeout 150 "$ENFORCER_SOURCE_DIR/scripts/demo" </dev/null >"$out" 2>&1 || rc=$?
cat "$out"
[ "$rc" = 0 ] || fail "scripts/demo exited $rc"
grep -q "^demo: using the build in $ENFORCER_BUILD_DIR" "$out" || fail "the demo did not reuse the build"
grep -q -- '--- t = ' "$out" || fail "no status lines (stdout is not a terminal)"
grep -q '^== summary: measured' "$out" || fail "no summary"
grep -qE '^ +throttled [0-9.]+ s after it started, and in [0-9]+ % of its run' "$out" || fail "the summary does not say when bursty was throttled"
grep -qE '^ +its burst until then: [0-9.]+ MB at [0-9]+ Mbit/s' "$out" || fail "the summary has no burst"
[ "$(grep -cE '^ +last full window \(' "$out")" = 2 ] || fail "the summary lacks a last window"
grep -q '^ *never throttled' "$out" || fail "the summary does not say steady was never throttled"
grep -q '^demo: PASS' "$out" || fail "no PASS line"
log "ok: the demo exited 0 with its summary"

# Nothing left behind.
left=$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1')
[ -z "$left" ] || fail "namespaces left: $left"
[ ! -e "/sys/fs/bpf/$prefix" ] || fail "BPF pins left in /sys/fs/bpf/$prefix"
! compgen -G "/tmp/$prefix.*" >/dev/null || fail "work folder left: $(compgen -G "/tmp/$prefix.*")"
links=$(ip -o link show | grep -F "$prefix" || true)
[ -z "$links" ] || fail "links left: $links"
cg=$(find /sys/fs/cgroup -maxdepth 4 -name "*$prefix*" 2>/dev/null | head -3)
[ -z "$cg" ] || fail "cgroups left: $cg"
procs=$(pgrep -af -- "$prefix" || true)
[ -z "$procs" ] || fail "processes left: $procs"
log "ok: no namespace, pin, work folder, link, cgroup or process left"
log PASS
