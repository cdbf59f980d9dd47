#!/usr/bin/env bash
# kernel tier (issue "reliability", systemd): the daemon speaks systemd's notify protocol to
# NOTIFY_SOCKET (a stand-in listener here; this machine's PID 1 is not systemd): READY=1 once the
# first enforcement pass is done (after it logged that it is enforcing), WATCHDOG=1 from the
# event loop every third of WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP, STOPPING=1
# on SIGTERM. Also: systemd/enforcerd.service passes `systemd-analyze verify`.
source "$(dirname "$0")/../lib/node.sh"
LISTENER=
# The listener lives 30 s unless stopped; ctest waits for it (it holds the test's stderr), so it is
# stopped as soon as the daemon is, and on any exit.
stop_listener() { [ -z "$LISTENER" ] || { kill "$LISTENER" 2>/dev/null; wait "$LISTENER" 2>/dev/null; LISTENER=; } || true; }
trap 'stop_listener; topo_down' EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
TICK=100ms write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"

"$BUILD/tests/kernel/notify_listener" "$WORK/notify" 30 >"$WORK/notify.log" &
LISTENER=$!
wait_until 5 test -S "$WORK/notify" || fail "notify_listener did not make its socket"
NOTIFY_SOCKET=$WORK/notify WATCHDOG_USEC=600000 daemon_start "$WORK/enforcer.toml"
wait_until 5 grep -q 'READY=1' "$WORK/notify.log" || true
grep -q 'READY=1|STATUS=enforcing 1 experiment(s)' "$WORK/notify.log" || { cat "$WORK/notify.log"; fail "no READY=1"; }
log "ok: READY=1 with STATUS: $(grep -m1 READY "$WORK/notify.log")"
sleep 3
pets=$(grep -c 'WATCHDOG=1' "$WORK/notify.log" || true)
# Every 200 ms for about 3 s: at least 10 (generous for a loaded machine), not a flood.
[ "$pets" -ge 10 ] && [ "$pets" -le 40 ] || { cat "$WORK/notify.log"; fail "$pets WATCHDOG=1 in about 3 s"; }
log "ok: $pets WATCHDOG=1 in about 3 s (WATCHDOG_USEC 600 ms)"
kill -HUP "$DAEMON_PID"
ready_twice() { [ "$(grep -c 'READY=1' "$WORK/notify.log")" -ge 2 ]; }
wait_until 5 ready_twice || true
grep -A1000 'RELOADING=1' "$WORK/notify.log" | grep -q 'READY=1' || { cat "$WORK/notify.log"; fail "no RELOADING=1 then READY=1 on SIGHUP"; }
log "ok: SIGHUP: RELOADING=1, then READY=1"
daemon_stop
grep -q 'STOPPING=1' "$WORK/notify.log" || { cat "$WORK/notify.log"; fail "no STOPPING=1"; }
stop_listener
log "ok: SIGTERM: STOPPING=1"

# The unit file: systemd-analyze verify on the host's systemd, with the binary it names pointing
# at this build and the man pages it cites on MANPATH (nothing is installed on this machine).
mkdir -p "$WORK/man/man8" "$WORK/man/man5"
cp "$SRC/cli/enforcerctl.8" "$SRC/daemon/enforcerd.8" "$WORK/man/man8/"
cp "$SRC/config/enforcer.toml.5" "$WORK/man/man5/"
sed "s|/usr/sbin/enforcerd|$ENFORCERD|" "$SRC/systemd/enforcerd.service" >"$WORK/enforcerd.service"
if ! MANPATH=$WORK/man systemd-analyze verify "$WORK/enforcerd.service" >"$WORK/verify.log" 2>&1 ||
  [ -s "$WORK/verify.log" ]; then
  cat "$WORK/verify.log"
  fail "systemd-analyze verify complains about enforcerd.service"
fi
log "ok: systemd-analyze verify is clean; $(systemd-analyze security --offline=true "$WORK/enforcerd.service" 2>/dev/null | grep -o 'Overall exposure level.*')"
log PASS
