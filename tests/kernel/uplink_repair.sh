#!/usr/bin/env bash
# kernel tier: the running daemon keeps its uplink attached. A tc filter or the clsact qdisc that
# someone removes is put back within a few ticks; another root qdisc leaves the operator's qdisc
# alone (the egress program follows it: policed here, where the host has no fq; the EDT <-> police
# swap is proven in the vm tier, tests/vm/tests/qdisc_switch.sh); an uplink that disappears is
# reported, and when an interface of its name comes back it is attached again and counts.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
TICK=100ms write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"

# attached HOOK: enforcer's filter (handle 0xe4f0) is on eth0's HOOK; prints its program's name.
attached() { in_node tc filter show dev eth0 "$1" 2>/dev/null | grep 'handle 0xe4f0' | grep -o 'tc_[a-z_]*' | head -1; }

# wait_for WHAT COMMAND...: up to 3 s (30 ticks) for COMMAND to succeed.
wait_for() {
  local what=$1
  shift
  wait_until 3 "$@" || fail "$what: not within 3 s"
  log "ok: $what"
}
both_attached() { [ "$(attached egress)" = tc_egress ] && [ "$(attached ingress)" = tc_ingress ]; }
logged() { grep -q -- "$1" "$WORK/enforcerd.log"; }

[ "$(attached egress)" = tc_egress ] || fail "egress runs '$(attached egress)', expected tc_egress (policing: no fq here)"

in_node tc filter del dev eth0 egress
wait_for "a removed egress filter is attached again" both_attached
logged "tc egress filter was missing; attached again" || fail "the repair was not logged"

in_node tc qdisc del dev eth0 clsact
wait_for "a removed clsact qdisc and both filters are back" both_attached

# Another root qdisc (the operator's) is left as it is, and egress stays policed.
in_node tc qdisc replace dev eth0 root handle 1: htb default 1
sleep 0.5
root=$(in_node tc qdisc show dev eth0 root | awk '{print $2; exit}')
[ "$root" = htb ] || fail "the operator's root qdisc became '$root'"
[ "$(attached egress)" = tc_egress ] || fail "egress runs '$(attached egress)' under htb"
log "ok: the operator's htb stays the root qdisc; egress is still policed"
in_node tc qdisc del dev eth0 root

# The uplink disappears (with the experiment's macvlan on it) and comes back under a new ifindex.
old_ifindex=$(ip -n "$NODE" -o link show eth0 | cut -d: -f1)
in_node ip link del eth0
wait_for "the missing uplink is reported" logged "uplink eth0 is gone"
kill -0 "$DAEMON_PID" || fail "enforcerd exited when its uplink disappeared"
# A new ifindex, as when a NIC driver re-registers (the kernel would reuse the old one here).
ip -n "$NODE" link add eth0 index $((old_ifindex + 100)) type veth peer name wan0 netns "$WORLD"
ip -n "$NODE" link set eth0 up
ip -n "$WORLD" addr add 198.18.0.1/24 dev wan0
ip -n "$WORLD" addr add 2001:db8::1/64 dev wan0 nodad
ip -n "$WORLD" link set wan0 up
ip -n "$NODE" link add "$P-a" link eth0 type macvlan mode bridge
ip -n "$NODE" link set "$P-a" netns "$P-a"
ip -n "$P-a" link set "$P-a" name net1
ip -n "$P-a" addr add 198.18.0.11/24 dev net1
ip -n "$P-a" addr add 2001:db8::11/64 dev net1 nodad
ip -n "$P-a" link set net1 up
new_ifindex=$(ip -n "$NODE" -o link show eth0 | cut -d: -f1)
[ "$new_ifindex" != "$old_ifindex" ] || fail "the new eth0 has the old ifindex $old_ifindex; the test proves nothing"
wait_for "the returned uplink (ifindex $old_ifindex -> $new_ifindex) is attached again" both_attached
logged "uplink eth0 is back (ifindex $new_ifindex)" || fail "the return was not logged"

# It counts again: a's traffic after the return reaches its counters.
before=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"')
in_exp a ping -c 20 -i 0.05 -s 1000 -W 2 198.18.0.1 >/dev/null || fail "a cannot reach the world after the uplink returned"
sleep 0.5
after=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"')
[ $((after - before)) -ge $((20 * 1000)) ] || fail "a's egress counter grew by $((after - before)) B after 20 pings of 1000 B"
log "ok: a's egress counter grew by $((after - before)) B for 20 pings of 1000 B"

# The daemon made the new clsact qdisc, so it removes it when it stops.
daemon_stop
[ -z "$(in_node tc filter show dev eth0 egress)" ] || fail "a tc egress filter is left after stop"
! in_node tc qdisc show dev eth0 | grep -q clsact || fail "the clsact qdisc the daemon re-created is left after stop"
log "ok: stopped: nothing left on the re-created eth0"
