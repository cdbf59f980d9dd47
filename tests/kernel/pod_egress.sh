#!/usr/bin/env bash
# kernel tier (issue 15, "egress attribution fails open"): a pod's egress is its experiment's,
# whatever source address it sends from. Experiment a (pinned at 20 Mbit/s) has a pod in a cgroup2
# tree this test makes (kubepods.slice/kubepods-poda.slice/cri-containerd-a.scope, its process in
# a's network namespace); b has addresses only. From a process of a's pod:
#  1. one greedy TCP flow from an address the pod added to its interface and no experiment has:
#     charged to a and held to a's rate (before, it was unattributed and ran at the whole path);
#  2. a UDP flood from b's address (a transparent socket: the pod need not have the address, and
#     ipvlan would refuse it): charged to a and held to a's rate, b is charged nothing.
# The vm tier runs this with ipvlan experiments on an fq uplink (tests/vm/tests/pod_egress_ipvlan.sh):
# egress is paced there, and a paced sender waits instead of being dropped.
# Bounds: FLOW_SECONDS of the rate, plus the policer's burst (500 ms of the rate), +10 %; at least
# half of the rate's worth must be charged to a. About 15 s.
source "$(dirname "$0")/../lib/node.sh"

FLOW_SECONDS=4
RATE_MBIT=20
CG_MOUNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG_MOUNT" ] || fail "no cgroup2 file system is mounted: the pod needs one"
CG_ROOT=$CG_MOUNT/$P
POD=$CG_ROOT/kubepods.slice/kubepods-poda.slice
SCOPE=$POD/cri-containerd-a.scope
UDP_FLOOD=$BUILD/tests/kernel/udp_flood
[ -x "$UDP_FLOOD" ] || fail "$UDP_FLOOD is missing (build the project first)"

cleanup() {
  set +e
  daemon_stop
  kill_ns_processes
  # Children first (rmdir of a cgroup needs it empty); bounded: the tree is ours and small.
  [ -d "$CG_ROOT" ] && find "$CG_ROOT" -depth -type d -exec rmdir {} + 2>/dev/null
  topo_down
}
trap cleanup EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
topo_add_experiment b 198.18.0.12 2001:db8::12
mkdir -p "$SCOPE"
# in_pod CMD...: CMD in a's network namespace, as a process of a's container scope.
in_pod() {
  sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$SCOPE" nsenter --net="/run/netns/$P-a" "$@"
}
in_pod sleep 120 &  # the pod's first process: discovery finds a's namespace through it

TICK=100ms write_config "$WORK/enforcer.toml" \
  "$(experiment_toml a 198.18.0.11 2001:db8::11)
pinned_rate = \"${RATE_MBIT}Mbit\"$(experiment_toml b 198.18.0.12 2001:db8::12)"
sed -i "s|^\[daemon\]\$|[daemon]\ncgroup_root = \"$CG_ROOT\"|" "$WORK/enforcer.toml"
daemon_start "$WORK/enforcer.toml"
wait_until 10 grep -q "experiment a: found in $POD" "$WORK/enforcerd.log" ||
  { cat "$WORK/enforcerd.log"; fail "the daemon did not find a's pod within 10 s"; }

rate=$((RATE_MBIT * 1000000 / 8))
bound=$(((rate * FLOW_SECONDS + rate / 2) * 11 / 10))
least=$((rate * FLOW_SECONDS / 2))
passed() { metric enforcer_experiment_bytes_total "direction=\"egress\",experiment=\"$1\""; }
unattributed() { metric enforcer_unattributed_bytes_total 'direction="egress"'; }

# check WHAT A0 B0 U0 W0 DROPS0: a's, b's, the unattributed egress and the world's received bytes
# since the values given.
check() {
  local what=$1 a=$(($(passed a) - $2)) b=$(($(passed b) - $3)) u=$(($(unattributed) - $4))
  local world=$(($(netdev_bytes "$WORLD" wan0 rx) - $5)) drops=$(($(dropped_packets a egress) - $6))
  log "$what: a charged $a bytes ($drops packets dropped), b $b, unattributed $u; the world received $world (bound $bound)"
  [ "$a" -ge "$least" ] || fail "$what: a was charged only $a bytes (at least $least)"
  [ "$a" -le "$bound" ] || fail "$what: a passed $a bytes, above its rate's $bound"
  [ "$world" -le "$bound" ] || fail "$what: the world received $world bytes from a's pod, above a's rate's $bound"
  [ "$UPLINK_QDISC" = fq ] || [ "$drops" -gt 0 ] || fail "$what: a's rate dropped nothing"
  [ "$b" -lt 100000 ] || fail "$what: b was charged $b bytes for a's pod's traffic"
  [ "$u" -lt 100000 ] || fail "$what: $u bytes of a's pod's traffic were unattributed"
}
snapshot() { echo "$(passed a) $(passed b) $(unattributed) $(netdev_bytes "$WORLD" wan0 rx) $(dropped_packets a egress)"; }

# 1. An address of the pod's own that no experiment has.
ip -n "$P-a" addr add 198.18.0.99/24 dev net1
in_world timeout 60 iperf3 -s -1 -p 5401 >/dev/null 2>&1 &
wait_listen 5401
before=$(snapshot)
in_pod timeout 30 iperf3 -p 5401 -c 198.18.0.1 -B 198.18.0.99 -t "$FLOW_SECONDS" >"$WORK/iperf.log" 2>&1 || true
wait_ticks
# shellcheck disable=SC2086  # the snapshot's five numbers
check "TCP from an unconfigured address" $before

# 2. Another experiment's address: b's (UDP needs no answer).
in_world timeout 60 "$UDP_FLOOD" sink 5402 $((FLOW_SECONDS + 5)) >/dev/null &
sink=$!
before=$(snapshot)
in_pod timeout 30 "$UDP_FLOOD" send 198.18.0.1 5402 200 "$FLOW_SECONDS" 198.18.0.12 >"$WORK/flood.log" 2>&1 ||
  { cat "$WORK/flood.log"; fail "the UDP flood failed"; }
wait_ticks
stop_flow "$sink"
# shellcheck disable=SC2086
check "UDP from b's address" $before
log "ok: a pod's egress is charged to its experiment and held to its rate, whatever its source address"
