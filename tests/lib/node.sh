# shellcheck shell=bash
# An M-Lab-like node made of network namespaces on this kernel, for the kernel tier's shell tests,
# the vm tier's traffic tests, the benchmarks and scripts/demo. Sourcing it gives common.sh (log,
# fail, wait_until, within, median), daemon.sh (config, the daemon, enforcerctl, metrics) and
# wire.sh (rates on the wire) too.
#
#   source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
#   trap topo_down EXIT
#   topo_up; topo_add_experiment a 198.18.0.11 2001:db8::11
#   write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"
#   daemon_start "$WORK/enforcer.toml"
#
# Topology (names carry a per-run prefix so that runs never collide):
#   world ns:   wan0 198.18.0.1/24 2001:db8::1/64   (iperf3 servers, "the internet")
#   node ns:    eth0 (veth peer of wan0), the uplink enforcerd attaches to
#   exp ns:     net1, a macvlan (bridge) on eth0 (EXP_LINK_KIND=ipvlan in the vm tier), with the
#               experiment's own IPv4 and IPv6 address
# Addresses: 198.18.0.0/15 and 2001:db8::/32 only. Everything is removed on exit (topo_down).
set -euo pipefail

TESTS_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${ENFORCER_SOURCE_DIR:?ENFORCER_SOURCE_DIR must point at the source folder}
EXP_LINK_KIND=${EXP_LINK_KIND:-macvlan}
UPLINK_QDISC=${UPLINK_QDISC:-}  # e.g. fq: the uplink's root qdisc, as on an M-Lab node
UPLINK_QUEUES=${UPLINK_QUEUES:-1}  # transmit queues of eth0 (more than 1: mq can be its root)
P=${TOPO_PREFIX:-enf$$}
NODE=$P-node
WORLD=$P-world
WORK=$(mktemp -d "/tmp/$P.XXXX")
PIN_DIR=/sys/fs/bpf/$P
EXPERIMENTS=()

# shellcheck source=common.sh
source "$TESTS_LIB/common.sh"
# shellcheck source=daemon.sh
source "$TESTS_LIB/daemon.sh"
# shellcheck source=wire.sh
source "$TESTS_LIB/wire.sh"

# in_node / in_world / in_exp NAME, then CMD...: runs CMD in that network namespace, and in it
# alone (nsenter). Not `ip netns exec`, which makes a mount namespace with a fresh /sys for every
# command: 0.6-1 s of a CPU in the vm guest, paid by every sample and metric a test reads. /sys
# then shows this host's interfaces: read a namespace's interface counters with netdev_bytes.
# Not for background jobs whose $! is used: `in_node cmd &` makes $! the pid of a subshell, not of
# cmd. Start those with `nsenter --net="/run/netns/$NODE" cmd &` directly, or stop them with
# stop_flow.
in_node() { nsenter --net="/run/netns/$NODE" "$@"; }
in_world() { nsenter --net="/run/netns/$WORLD" "$@"; }
in_exp() {
  local name=$1
  shift
  nsenter --net="/run/netns/$P-$name" "$@"
}
# netdev_bytes NETNS DEV rx|tx: DEV's byte counter in NETNS (/proc/net/dev, which shows the reading
# process's network namespace; skb->len, as /sys/class/net/DEV/statistics).
netdev_bytes() {
  nsenter --net="/run/netns/$1" awk -v dev="$2" -v col="$([ "$3" = rx ] && echo 2 || echo 10)" \
    '{ sub(":", " ") } $1 == dev { print $col; found = 1; exit } END { exit !found }' /proc/net/dev ||
    fail "no interface $2 in the network namespace $1"
}

# A run that was killed (ctest's TIMEOUT sends SIGKILL-like ends that skip the EXIT trap) leaves its
# namespaces, their processes and its pins behind. Removes those of runs whose process is gone;
# a run whose PID is alive (a parallel test) is left alone.
sweep_stale_runs() {
  local ns pid dir
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^enf[0-9]+-' || true); do
    pid=${ns#enf}
    pid=${pid%%-*}
    [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null || continue
    log "removing namespace $ns of a run that is gone (pid $pid)"
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for dir in /sys/fs/bpf/enf[0-9]*; do
    [ -d "$dir" ] || continue
    pid=${dir##*/enf}
    [[ "$pid" =~ ^[0-9]+$ ]] && [ "$pid" != "$$" ] && ! kill -0 "$pid" 2>/dev/null || continue
    log "removing pins $dir of a run that is gone"
    rm -rf "$dir"
  done
}

topo_up() {
  require_root
  sweep_stale_runs
  ip netns add "$NODE"
  ip netns add "$WORLD"
  ip link add eth0 netns "$NODE" numtxqueues "$UPLINK_QUEUES" numrxqueues "$UPLINK_QUEUES" \
    type veth peer name wan0 netns "$WORLD"
  ip -n "$NODE" link set lo up
  ip -n "$NODE" link set eth0 up
  if [ -n "$UPLINK_QDISC" ]; then tc -n "$NODE" qdisc replace dev eth0 root "$UPLINK_QDISC"; fi
  ip -n "$WORLD" link set lo up
  ip -n "$WORLD" addr add 198.18.0.1/24 dev wan0
  ip -n "$WORLD" addr add 2001:db8::1/64 dev wan0 nodad
  ip -n "$WORLD" link set wan0 up
}

# topo_add_experiment NAME IPV4 IPV6 [UPLINK]: the experiment's link hangs off UPLINK (eth0).
topo_add_experiment() {
  local name=$1 v4=$2 v6=$3 uplink=${4:-eth0} ns=$P-$1
  # The link's name in the node namespace is a passing one (it is net1 in the experiment's):
  # short enough for IFNAMSIZ (15) whatever the prefix and the experiment's name.
  local tmp=enfx$$-${#EXPERIMENTS[@]}
  ip netns add "$ns"
  if [ "$EXP_LINK_KIND" = ipvlan ]; then
    ip -n "$NODE" link add "$tmp" link "$uplink" type ipvlan mode l2
  else
    ip -n "$NODE" link add "$tmp" link "$uplink" type macvlan mode bridge
  fi
  ip -n "$NODE" link set "$tmp" netns "$ns"
  ip -n "$ns" link set "$tmp" name net1
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$v4/24" dev net1
  ip -n "$ns" addr add "$v6/64" dev net1 nodad
  ip -n "$ns" link set net1 up
  EXPERIMENTS+=("$name")
}

# ns_pids: the processes in the topology's namespaces.
ns_pids() {
  local ns
  for ns in "$NODE" "$WORLD" "${EXPERIMENTS[@]/#/$P-}"; do ip netns pids "$ns" 2>/dev/null; done
}
ns_empty() { [ -z "$(ns_pids)" ]; }
# Ends every process still running in the topology's namespaces (TERM, then KILL).
kill_ns_processes() {
  local signal pids
  for signal in TERM KILL; do
    pids=$(ns_pids)
    [ -n "$pids" ] || return 0
    kill -"$signal" $pids 2>/dev/null
    wait_until 3 ns_empty && return 0
  done
}

topo_down() {
  set +e
  daemon_stop
  kill_ns_processes
  for name in "${EXPERIMENTS[@]}"; do ip netns del "$P-$name" 2>/dev/null; done
  ip netns del "$WORLD" 2>/dev/null
  ip netns del "$NODE" 2>/dev/null
  rm -rf "$PIN_DIR" 2>/dev/null
  rm -rf "$WORK"
  set -e
  [ -z "$SANITIZER_REPORT" ] || exit 1
}

# wait_listen PORT...: waits (up to 10 s) until the world namespace listens on each TCP port. A
# server started in the background may take longer than any fixed sleep on a loaded machine.
world_listens() { in_world grep -qE ":$(printf '%04X' "$1") [0:]+ 0A " /proc/net/tcp /proc/net/tcp6; }
wait_listen() {
  local port
  for port in "$@"; do
    wait_until 10 world_listens "$port" || fail "nothing listens on port $port in $WORLD after 10 s"
  done
}
