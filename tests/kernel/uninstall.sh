#!/usr/bin/env bash
# kernel tier (issue 7): `enforcerd --uninstall` removes every pin and tc filter a daemon left
# behind. A daemon killed with -9 leaves its datapath enforcing (fail-static); --uninstall then
# takes the state_dir lock (refused while a daemon holds it), detaches enforcer's filters from
# the uplink's clsact hooks (a filter of someone else's on the same hooks stays, and so do the
# root qdisc and the clsact qdisc), removes the pins, says what it removed, and exits 0. Run again
# it finds nothing and still exits 0.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

UPLINK_QDISC=${UPLINK_QDISC:-htb}  # an operator's root qdisc (fq in the vm tier): it must stay
topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"
# Someone else's filter on the same hook (another priority; a BPF program that passes all): it
# must survive.
in_node tc filter add dev eth0 egress pref 7 handle 7 bpf da obj "$BUILD/bench/empty_tc.bpf.o" sec tc

uninstall() { in_node "$ENFORCERD" --uninstall --config "$WORK/enforcer.toml"; }
rc=0; uninstall >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'needs the daemon stopped.*another enforcerd (pid' "$WORK/out" ||
  { cat "$WORK/out"; fail "--uninstall with a daemon running: exit $rc"; }
[ -e "$PIN_DIR/counters" ] || fail "--uninstall refused, yet the pins are gone"
log "ok: refused while the daemon runs: $(head -1 "$WORK/out")"

kill -KILL "$DAEMON_PID" || true
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
[ -n "$(ls "$PIN_DIR")" ] || fail "kill -9 left no pins (fail-static expects them)"
# (Output captured first: with pipefail, grep -q ending early could fail the pipeline.)
filters() { in_node tc filter show dev eth0 "$1"; }
[[ "$(filters egress)" == *tc_egress* ]] || fail "kill -9 left no egress filter"
log "killed: pins $(ls "$PIN_DIR" | tr '\n' ' ')"

rc=0; uninstall >"$WORK/out" 2>&1 || rc=$?
cat "$WORK/out"
[ "$rc" = 0 ] || fail "--uninstall exited $rc"
grep -q 'removed: interface eth0: detached the tc egress program' "$WORK/out" || fail "no word about the egress filter"
grep -q 'removed: interface eth0: detached the tc ingress program' "$WORK/out" || fail "no word about the ingress filter"
grep -q "removed: unpinned $PIN_DIR/counters" "$WORK/out" || fail "no word about the pins"
[ ! -e "$PIN_DIR" ] || fail "$PIN_DIR is still there: $(ls "$PIN_DIR")"
for hook in egress ingress; do
  if grep -qE 'tc_egress|tc_ingress|handle 0xe4f0' <<<"$(filters "$hook")"; then
    filters "$hook"
    fail "an enforcer filter is still on eth0 $hook"
  fi
done
grep -q 'pref 7 .*tc_empty' <<<"$(filters egress)" || fail "someone else's filter was removed"
assert_root_qdisc "after --uninstall"
[[ "$(in_node tc qdisc show dev eth0)" == *clsact* ]] || fail "the clsact qdisc was removed"
log "ok: --uninstall removed enforcer's filters and pins; the root qdisc, clsact and another filter stay"

rc=0; uninstall >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 0 ] && grep -q 'removed: nothing' "$WORK/out" || { cat "$WORK/out"; fail "a second --uninstall: exit $rc"; }
log "ok: a second --uninstall finds nothing and exits 0"

# The daemon starts again on the cleaned node.
daemon_start "$WORK/enforcer.toml"
grep -q 'adopting' "$WORK/enforcerd.log" && fail "the daemon found something to adopt after --uninstall"
log PASS
