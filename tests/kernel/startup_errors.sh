#!/usr/bin/env bash
# kernel tier, acceptance: starting twice, a missing interface, an unknown config key, a non-root
# run, a metrics port in use: each a clear error and a non-zero exit, with nothing left attached.
# Also: a daemon killed with SIGKILL leaves its datapath behind, and the next start takes over.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
EXP="$(experiment_toml a 198.18.0.11 2001:db8::11)"

nothing_attached() {
  local what=$1
  [ -z "$(in_node tc filter show dev eth0 egress)" ] || fail "$what: a tc egress filter is left on eth0"
  [ -z "$(in_node tc filter show dev eth0 ingress)" ] || fail "$what: a tc ingress filter is left on eth0"
  ! in_node tc qdisc show dev eth0 | grep -q clsact || fail "$what: the clsact qdisc is left on eth0"
  [ ! -e "$PIN_DIR" ] || fail "$what: pins are left in $PIN_DIR: $(ls "$PIN_DIR")"
  log "ok: $what: nothing left attached or pinned"
}

# expect_failure WHAT PATTERN COMMAND...: the command exits non-zero, its stderr matches PATTERN.
expect_failure() {
  local what=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$WORK/out.txt" 2>&1 || rc=$?
  [ "$rc" -ne 0 ] || { cat "$WORK/out.txt"; fail "$what: exited 0"; }
  grep -qE -- "$pattern" "$WORK/out.txt" || { cat "$WORK/out.txt"; fail "$what: no message matching /$pattern/"; }
  log "ok: $what: exit $rc: $(grep -E -- "$pattern" "$WORK/out.txt" | head -1)"
}

# An unknown key: named with its line, in the check and at start.
write_config "$WORK/bad-key.toml" "$EXP
colour = \"blue\""
line=$(grep -n '^colour' "$WORK/bad-key.toml" | cut -d: -f1)
expect_failure "unknown key (--check-config)" "bad-key.toml:$line: .*unknown key \"colour\"" \
  in_node "$ENFORCERD" --config "$WORK/bad-key.toml" --check-config
expect_failure "unknown key (start)" "bad-key.toml:$line: .*colour" \
  in_node "$ENFORCERD" --config "$WORK/bad-key.toml"
nothing_attached "unknown key"

# A missing config file.
expect_failure "missing config file" "cannot read $WORK/nope.toml" \
  in_node "$ENFORCERD" --config "$WORK/nope.toml"

# A missing interface, alone and after one that exists (eth0 is attached first, then undone).
write_config "$WORK/missing-if.toml" "$EXP"
sed -i 's/^interfaces = .*/interfaces = ["nope0"]/' "$WORK/missing-if.toml"
expect_failure "missing interface" 'uplink interface "nope0" does not exist' \
  in_node "$ENFORCERD" --config "$WORK/missing-if.toml"
nothing_attached "missing interface"
sed -i 's/^interfaces = .*/interfaces = ["eth0", "nope0"]/' "$WORK/missing-if.toml"
expect_failure "second interface missing" 'uplink interface "nope0" does not exist' \
  in_node "$ENFORCERD" --config "$WORK/missing-if.toml"
nothing_attached "second interface missing"

# Not root.
write_config "$WORK/good.toml" "$EXP"
chmod a+r "$WORK" "$WORK/good.toml"
chmod a+x "$WORK"
expect_failure "non-root run" "must run as root" \
  in_node setpriv --reuid=65534 --regid=65534 --clear-groups "$ENFORCERD" --config "$WORK/good.toml"
nothing_attached "non-root run"

# Starting twice: the second is refused, the first keeps counting.
daemon_start "$WORK/good.toml"
first=$DAEMON_PID
expect_failure "second daemon" "another enforcerd \(pid [0-9]+\) is running" \
  in_node "$ENFORCERD" --config "$WORK/good.toml"
kill -0 "$first" || fail "the first daemon died"
in_node tc filter show dev eth0 egress | grep -q 'tc_egress' || fail "the first daemon's egress filter is gone"
[ -e "$PIN_DIR/counters" ] || fail "the first daemon's pins are gone"
in_exp a ping -c3 -i0.2 -W2 198.18.0.1 >/dev/null
wait_ticks
[ "$(metric enforcer_experiment_packets_total 'direction="egress",experiment="a"')" -ge 3 ] ||
  fail "the first daemon stopped counting"
log "ok: the first daemon still attached and counting"

# The metrics port is taken (by the running daemon): a second daemon on other state fails cleanly.
sed -e "s|^state_dir = .*|state_dir = \"$WORK/state2\"|" -e "s|^bpf_pin_dir = .*|bpf_pin_dir = \"$PIN_DIR-2\"|" \
  "$WORK/good.toml" >"$WORK/port.toml"
expect_failure "metrics port in use" 'cannot serve metrics on metrics_listen = "127.0.0.1:9724"' \
  in_node "$ENFORCERD" --config "$WORK/port.toml"
[ ! -e "$PIN_DIR-2" ] || fail "metrics port in use: pins left in $PIN_DIR-2"
in_node tc filter show dev eth0 egress | grep -q 'tc_egress' || fail "the first daemon's filter is gone"

# A clean stop removes everything.
daemon_stop
nothing_attached "clean stop"

# SIGKILL leaves the datapath behind; the next start removes the leftovers and attaches once.
daemon_start "$WORK/good.toml"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
in_node tc filter show dev eth0 egress | grep -q 'tc_egress' || fail "expected the killed daemon's filter to stay"
daemon_start "$WORK/good.toml"
grep -q "previous enforcerd" "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "no word about the leftovers"; }
[ "$(in_node tc filter show dev eth0 egress | grep -c 'tc_egress')" = 1 ] || fail "not exactly one egress filter after restart"
[ "$(in_node tc filter show dev eth0 ingress | grep -c 'tc_ingress')" = 1 ] || fail "not exactly one ingress filter after restart"
daemon_stop
# The clsact qdisc was made by the killed instance, so the new one leaves it: only filters go.
[ -z "$(in_node tc filter show dev eth0 egress)" ] || fail "filters left after the restarted daemon stopped"
[ ! -e "$PIN_DIR" ] || fail "pins left after the restarted daemon stopped"
log "PASS"
