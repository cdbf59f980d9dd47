#!/usr/bin/env bash
# kernel tier (issue "reliability", acceptance 2): state writes on a full file system never leave
# a corrupt or partial file. state_dir is a 512 KiB tmpfs; once it is full, an override change is
# refused with the reason (and not applied), the stored overrides and the window snapshot stay
# whole and readable, no temporary file is left, and the daemon goes on enforcing; with space
# again, changes are stored again.
source "$(dirname "$0")/../lib/node.sh"
cleanup() {
  daemon_stop
  umount "$WORK/state" 2>/dev/null || true
  topo_down
}
trap cleanup EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
mkdir -p "$WORK/state"
mount -t tmpfs -o size=512k,mode=0750 enforcer-test-state "$WORK/state"
TICK=100ms write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"

ctl override set a bandwidth 20Mbit --reason "before the disk filled" >/dev/null
sleep 1  # a few snapshots
cp "$WORK/state/overrides.json" "$WORK/overrides.before"
dd if=/dev/zero of="$WORK/state/fill" bs=4k status=none 2>/dev/null || true
[ "$(df --output=avail "$WORK/state" | tail -n 1 | tr -d ' ')" -eq 0 ] || fail "could not fill the tmpfs"
log "ok: state_dir is full"

rc=0
ctl override set a bandwidth 30Mbit --reason "while full" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/out"; fail "an override on a full disk: exit $rc, expected 1"; }
grep -qi 'space' "$WORK/out" || { cat "$WORK/out"; fail "the refusal does not say the disk is full"; }
log "ok: refused: $(head -1 "$WORK/out")"
[ "$(ctl show a --json | jq .allocation.bandwidth_bits)" = 20000000 ] || fail "the refused override was applied anyway"
cmp -s "$WORK/state/overrides.json" "$WORK/overrides.before" || fail "overrides.json changed while the disk was full"
sleep 1.5  # ~15 ticks: several snapshot writes fail
for f in overrides.json windows.snapshot; do
  [ -f "$WORK/state/$f" ] || continue
  jq -e . "$WORK/state/$f" >/dev/null || fail "$f is not whole after writes on a full disk"
done
leftovers=$(find "$WORK/state" -name '*.tmp*' | wc -l)
[ "$leftovers" = 0 ] || fail "temporary files left: $(find "$WORK/state" -name '*.tmp*')"
kill -0 "$DAEMON_PID" || fail "the daemon died"
grep -qiE 'space' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "the daemon did not log the failed writes"; }
log "ok: overrides.json and windows.snapshot whole, no temporary files, the daemon logged: $(grep -im1 'space' "$WORK/enforcerd.log" | cut -c1-160)"

rm -f "$WORK/state/fill"
ctl override set a bandwidth 30Mbit --reason "space again" >/dev/null || fail "an override with space again failed"
jq -e '.overrides[0].value == "30Mbit"' "$WORK/state/overrides.json" >/dev/null || fail "the override was not stored once space was back"
log "ok: with space again the override is stored"
log PASS
