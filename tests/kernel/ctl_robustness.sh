#!/usr/bin/env bash
# kernel tier (issue "ops control plane", acceptance 3 and 4): who may use the control socket,
# and that broken or hostile clients leave the daemon serving and enforcing.
#   - root may change; a member of control_group may read but not change; another uid is refused
#     (clients run with setpriv as uid 65534);
#   - the socket is 0660 root:group in a 0750 directory;
#   - control_abuse (malformed JSON, unknown fields, an oversized line, half-written messages, a
#     client that never reads, 200 concurrent clients) runs while the experiment is throttled
#     and flooding: the daemon answers throughout, keeps ticking, and the rate stays pinned;
#   - 17 reader uids try to take every client slot and pipeline status: each holds at most 64,
#     the last 64 slots stay root's, and root throttles meanwhile.
source "$(dirname "$0")/../lib/node.sh"
GROUP=enftest$$
cleanup() {
  daemon_stop  # the group must outlive the daemon's socket, and go before topo_down ends
  groupdel "$GROUP" 2>/dev/null || true
  topo_down
}
trap cleanup EXIT

groupadd --system "$GROUP"
GID=$(getent group "$GROUP" | cut -d: -f3)
topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
chmod 0711 "$WORK"  # other uids reach $WORK/run only through the daemon's own permissions
# The unit's situation: systemd's RuntimeDirectory= makes the directory root:root 0750 before the
# daemon starts; the daemon must still let the group's members in.
install -d -m 0750 -o root -g root "$WORK/run"

CONTROL_GROUP=$GROUP TICK=100ms write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"

# Permissions on disk.
[ "$(stat -c '%a %U %G' "$WORK/run")" = "750 root $GROUP" ] || fail "socket directory: $(stat -c '%a %U %G' "$WORK/run")"
[ "$(stat -c '%a %U %G' "$WORK/run/control.sock")" = "660 root $GROUP" ] || fail "socket: $(stat -c '%a %U %G' "$WORK/run/control.sock")"
log "ok: $WORK/run is 0750 root:$GROUP, the socket 0660 root:$GROUP"

# as_user GROUPS ARGS...: enforcerctl as uid 65534 with the given supplementary groups.
as_user() {
  local groups=$1
  shift
  if [ -n "$groups" ]; then
    setpriv --reuid 65534 --regid 65534 --groups "$groups" -- "$ENFORCERCTL" --socket "$WORK/run/control.sock" "$@"
  else
    setpriv --reuid 65534 --regid 65534 --clear-groups -- "$ENFORCERCTL" --socket "$WORK/run/control.sock" "$@"
  fi
}
rc=0; as_user "" status >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 3 ] || { cat "$WORK/out"; fail "a uid outside the group: exit $rc, expected 3 (refused)"; }
log "ok: uid 65534 outside $GROUP is refused: $(head -1 "$WORK/out")"
as_user "$GID" status >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "a member of $GROUP cannot read"; }
grep -q '^a ' "$WORK/out" || grep -q ' a ' "$WORK/out" || { cat "$WORK/out"; fail "status as a member does not list a"; }
log "ok: a member of $GROUP reads status"
rc=0; as_user "$GID" throttle a 1Mbit --reason "should not happen" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -qi 'root' "$WORK/out" || { cat "$WORK/out"; fail "a member of $GROUP changed something (exit $rc)"; }
[ "$(ctl show a --json | jq .pinned_bits)" = 0 ] || fail "the member's throttle took effect"
log "ok: a member may not change: $(head -1 "$WORK/out")"
! grep -q 'should not happen' "$WORK/state/audit.log" 2>/dev/null || fail "a refused change is in the audit file"

# Abuse while enforcing: a pinned 10 Mbit/s under a 100 Mbit/s UDP flood.
ctl throttle a 10Mbit --reason "robustness test" >/dev/null
grep -qF '"reason":"robustness test"' "$WORK/state/audit.log" || fail "the throttle is not audited"
in_world timeout 120 iperf3 -s -p 5201 >/dev/null 2>&1 &
wait_listen 5201
in_exp a timeout 100 iperf3 -c 198.18.0.1 -p 5201 -u -b 100M -t 80 >/dev/null 2>&1 &
sleep 2
ticks() { scrape | awk '$1 == "enforcer_tick_duration_seconds_count" { printf "%d\n", $2 }'; }
ticks0=$(ticks)
b0=$(netdev_bytes "$WORLD" wan0 rx); t0=$(date +%s.%N)
"$BUILD/tests/kernel/control_abuse" "$WORK/run/control.sock" || fail "control_abuse failed"
sleep 4  # the rate is judged over the abuse and a few seconds after it
ctl status >/dev/null || fail "status failed after the abuse"
b1=$(netdev_bytes "$WORLD" wan0 rx); t1=$(date +%s.%N)
ticks1=$(ticks)
kill -0 "$DAEMON_PID" || fail "the daemon died"
rate=$(awk -v b="$((b1 - b0))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d\n", b * 8 / (t1 - t0) }')
within 10000000 "$rate" 10 0 "egress while the socket was abused (bit/s)"
elapsed=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d\n", (t1 - t0) * 10 }')  # ticks of 100 ms
[ $((ticks1 - ticks0)) -ge $((elapsed * 8 / 10)) ] || fail "the daemon ticked $((ticks1 - ticks0)) times in $elapsed tick periods"
log "ok: $((ticks1 - ticks0)) ticks in $elapsed tick periods while abused"

# Readers that try to take the socket: 17 uids of the group each open 80 connections at once and
# pipeline status on all they get, for 12 s (17 × 64 > 1,024 - 64). Each uid holds at most 64, all
# of them together leave the last 64 slots to root, root throttles and reads meanwhile, and the
# rate and the tick cadence hold. (~13 s.)
HOGS=17
hog_pids=()
install -d -m 0777 "$WORK/hogs"  # where the readers (other uids) say they are connected
for ((u = 0; u < HOGS; u++)); do
  setpriv --reuid $((60000 + u)) --regid 65534 --groups "$GID" -- \
    "$BUILD/tests/kernel/control_hog" "$WORK/run/control.sock" 80 12 "$WORK/hogs/$u.ready" >"$WORK/hog$u.out" 2>&1 &
  hog_pids+=($!)
done
hogs_ready() { [ "$(find "$WORK/hogs" -name '*.ready' | wc -l)" -eq "$HOGS" ]; }
daemon_fds() { find /proc/"$DAEMON_PID"/fd -mindepth 1 | wc -l; }
wait_until 10 hogs_ready || fail "the readers' connections were not all answered or refused within 10 s (the daemon has $(daemon_fds) fds)"
log "readers connected: the daemon has $(daemon_fds) fds"
t_ctl=$(date +%s%N)
ctl throttle a 8Mbit --reason "while readers hog the socket" >/dev/null || fail "root could not throttle while readers held the socket"
ctl status >/dev/null || fail "root could not read status while readers held the socket"
ms=$((($(date +%s%N) - t_ctl) / 1000000))
[ "$ms" -lt 2000 ] || fail "root's throttle and status took $ms ms while readers held the socket"
log "ok: root throttled and read status in $ms ms beside the readers"
sleep 1  # the new limit in force
ticks0=$(ticks)
b0=$(netdev_bytes "$WORLD" wan0 rx); t0=$(date +%s.%N)
for pid in "${hog_pids[@]}"; do wait "$pid" || fail "a reader failed: $(cat "$WORK"/hog*.out)"; done
b1=$(netdev_bytes "$WORLD" wan0 rx); t1=$(date +%s.%N)
ticks1=$(ticks)
held=$(cat "$WORK"/hog*.out | awk '{ s += $2 } END { print s }')
most=$(cat "$WORK"/hog*.out | awk '$2 > m { m = $2 } END { print m }')
log "readers: $(cat "$WORK"/hog*.out | awk '{ a += $NF } END { print a }') status answers; $held connections held, at most $most by one uid"
[ "$most" -le 64 ] || fail "one uid held $most connections (at most 64)"
[ "$held" -le 960 ] || fail "the readers held $held connections, more than 1,024 - 64 kept for root"
grep -q 'already holds 64' "$WORK"/hog*.out || fail "no reader was told it holds the most one uid may: $(cat "$WORK"/hog*.out)"
grep -q 'kept for root' "$WORK"/hog*.out || fail "no reader was refused a slot kept for root: $(cat "$WORK"/hog*.out)"
rate=$(awk -v b="$((b1 - b0))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d\n", b * 8 / (t1 - t0) }')
within 8000000 "$rate" 10 0 "egress while readers held the socket (bit/s)"
elapsed=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d\n", (t1 - t0) * 10 }')
[ $((ticks1 - ticks0)) -ge $((elapsed * 8 / 10)) ] || fail "the daemon ticked $((ticks1 - ticks0)) times in $elapsed tick periods beside the readers"
log "ok: $((ticks1 - ticks0)) ticks in $elapsed tick periods beside the readers"
log PASS
