#!/usr/bin/env bash
# kernel tier: network.interfaces = ["auto"]. The uplink is the interface holding the host's own
# address (epoxy.ipv4= on the kernel command line): found at start, followed within a few ticks
# when the address moves to another interface (the experiment behind the new uplink is counted
# from then on), kept where it is while no interface holds the address; a daemon killed before a
# move leaves its filters on the old interface, and the next one, adopting, removes them there;
# --uninstall finds them on any interface. About 15 s.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

HOST=198.18.0.2
topo_up
# A second uplink, eth1, to the world's wan1 (198.18.1.0/24).
ip link add eth1 netns "$NODE" type veth peer name wan1 netns "$WORLD"
ip -n "$NODE" link set eth1 up
ip -n "$WORLD" addr add 198.18.1.1/24 dev wan1
ip -n "$WORLD" link set wan1 up
topo_add_experiment a 198.18.0.11 2001:db8::11 eth0
topo_add_experiment b 198.18.1.12 2001:db8:1::12 eth1

echo "BOOT_IMAGE=/vmlinuz epoxy.ipv4=$HOST/24,198.18.0.1,192.0.2.53,192.0.2.54 epoxy.ipv6=" >"$WORK/cmdline"
INTERFACES='"auto"' KERNEL_CMDLINE="$WORK/cmdline" TICK=100ms write_config "$WORK/enforcer.toml" \
  "$(experiment_toml a 198.18.0.11 2001:db8::11)$(experiment_toml b 198.18.1.12 2001:db8:1::12)"

# filter DEV HOOK: the program enforcer's filter (handle 0xe4f0) runs on DEV's HOOK, or nothing.
filter() { in_node tc filter show dev "$1" "$2" 2>/dev/null | grep 'handle 0xe4f0' | grep -o 'tc_[a-z_]*' | head -1; }
enforced_on() { [ "$(filter "$1" egress)" = tc_egress ] && [ "$(filter "$1" ingress)" = tc_ingress ]; }
bare() { [ -z "$(filter "$1" egress)" ] && [ -z "$(filter "$1" ingress)" ]; }
only_on() { enforced_on "$1" && bare "$2"; }
move_host_address() { # FROM TO ("-": none)
  [ "$1" = - ] || ip -n "$NODE" addr del "$HOST/24" dev "$1"
  [ "$2" = - ] || ip -n "$NODE" addr add "$HOST/24" dev "$2"
}
b_egress() { metric enforcer_experiment_bytes_total 'direction="egress",experiment="b"'; }

# No interface holds the address: the start fails, naming it.
if in_node timeout 10 "$ENFORCERD" --config "$WORK/enforcer.toml" >"$WORK/start.log" 2>&1; then
  fail "enforcerd started although no interface holds $HOST"
fi
grep -q "no interface holds the host's address $HOST" "$WORK/start.log" ||
  { cat "$WORK/start.log"; fail "the failed start does not name the missing address"; }
bare eth0 && bare eth1 || fail "a failed start left a filter behind"
log "ok: without $HOST on any interface the start fails, naming it"

move_host_address - eth0
daemon_start "$WORK/enforcer.toml"
log_has "$HOST \(epoxy.ipv4=\) is on eth0" || fail "the uplink found by address was not logged"
only_on eth0 eth1 || fail "expected enforcer on eth0 alone"
in_exp b ping -c 5 -i 0.05 -s 1000 -W 2 198.18.1.1 >/dev/null || fail "b cannot reach the world over eth1"
[ "$(b_egress)" = 0 ] || fail "b's traffic over eth1 was counted while eth0 was the uplink"
log "ok: attached to eth0, which holds $HOST; eth1 untouched"

move_host_address eth0 eth1
wait_until 2 only_on eth1 eth0 || fail "enforcement did not follow $HOST to eth1 within 2 s (20 ticks)"
wait_log 2 "host's address $HOST moved from eth0 to eth1"
in_exp b ping -c 20 -i 0.05 -s 1000 -W 2 198.18.1.1 >/dev/null || fail "b cannot reach the world after the move"
wait_until 2 eval '[ "$(b_egress)" -ge 20000 ]' || fail "b's egress counter is $(b_egress) B after 20 pings of 1000 B over the new uplink"
log "ok: $HOST moved to eth1: enforcement followed, b is counted there"

move_host_address eth1 -
wait_log 2 "no interface holds the host's address $HOST: enforcing on eth1"
sleep 0.3
only_on eth1 eth0 || fail "enforcement left eth1 while no interface holds $HOST"
move_host_address - eth0
wait_until 2 only_on eth0 eth1 || fail "enforcement did not follow $HOST back to eth0"
log "ok: with $HOST on no interface enforcement stays on eth1; back on eth0, it follows"

# Killed; the address moves while no daemon runs; the next daemon adopts on eth1 and clears eth0.
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
move_host_address eth0 eth1
daemon_start "$WORK/enforcer.toml"
log_has "adopting the datapath" || fail "the restarted daemon did not adopt the pinned datapath"
wait_until 2 only_on eth1 eth0 || fail "after a restart the filters are not on eth1 alone"
log_has "removed the tc egress program a previous enforcerd left on eth0" ||
  fail "the stale filter on eth0 was not reported"
log "ok: restarted after the address moved: adopted on eth1, the stale filters on eth0 removed"

# Killed again, the address gone: --uninstall looks on every interface.
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
move_host_address eth1 -
in_node "$ENFORCERD" --uninstall --config "$WORK/enforcer.toml" >"$WORK/uninstall.log" 2>&1 ||
  { cat "$WORK/uninstall.log"; fail "--uninstall failed"; }
grep -q "interface eth1: detached the tc egress program" "$WORK/uninstall.log" ||
  { cat "$WORK/uninstall.log"; fail "--uninstall did not remove the filter on eth1"; }
bare eth0 && bare eth1 || fail "filters left after --uninstall"
log "ok: --uninstall with \"auto\" removed the filters wherever they were"
