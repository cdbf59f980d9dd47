# Shared helpers for the kernel (and vm) tier's shell tests and for scripts/demo: a small
# M-Lab-like topology made of network namespaces, the daemon running in it, metric and counter
# readers, assertions.
#
# Topology (names carry a per-run prefix so that runs never collide):
#   world ns:   wan0 198.18.0.1/24 2001:db8::1/64   (iperf3 servers, "the internet")
#   node ns:    eth0 (veth peer of wan0), the uplink enforcerd attaches to
#   exp ns:     net1, a macvlan (bridge) on eth0 (EXP_LINK_KIND=ipvlan in the vm tier), with the
#               experiment's own IPv4 and IPv6 address
# Addresses: 198.18.0.0/15 and 2001:db8::/32 only. Everything is removed on exit.
set -euo pipefail

BUILD=${ENFORCER_BUILD_DIR:?ENFORCER_BUILD_DIR must point at the build folder}
SRC=${ENFORCER_SOURCE_DIR:?ENFORCER_SOURCE_DIR must point at the source folder}
ENFORCERD=${ENFORCERD:-$BUILD/daemon/enforcerd}
ENFORCERCTL=${ENFORCERCTL:-$BUILD/cli/enforcerctl}
EXP_LINK_KIND=${EXP_LINK_KIND:-macvlan}
UPLINK_QDISC=${UPLINK_QDISC:-}  # e.g. fq: the uplink's root qdisc, as on an M-Lab node
UPLINK_QUEUES=${UPLINK_QUEUES:-1}  # transmit queues of eth0 (more than 1: mq can be its root)
P=${TOPO_PREFIX:-enf$$}
NODE=$P-node
WORLD=$P-world
WORK=$(mktemp -d "/tmp/$P.XXXX")
PIN_DIR=/sys/fs/bpf/$P
DAEMON_PID=
SANITIZER_REPORT=
EXPERIMENTS=()

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

require_root() { [ "$(id -u)" = 0 ] || fail "this test needs root (BPF, tc, network namespaces)"; }

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

# topo_add_experiment NAME IPV4 IPV6
topo_add_experiment() {
  local name=$1 v4=$2 v6=$3 ns=$P-$1
  # The link's name in the node namespace is a passing one (it is net1 in the experiment's):
  # short enough for IFNAMSIZ (15) whatever the prefix and the experiment's name.
  local tmp=enfx$$-${#EXPERIMENTS[@]}
  ip netns add "$ns"
  if [ "$EXP_LINK_KIND" = ipvlan ]; then
    ip -n "$NODE" link add "$tmp" link eth0 type ipvlan mode l2
  else
    ip -n "$NODE" link add "$tmp" link eth0 type macvlan mode bridge
  fi
  ip -n "$NODE" link set "$tmp" netns "$ns"
  ip -n "$ns" link set "$tmp" name net1
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$v4/24" dev net1
  ip -n "$ns" addr add "$v6/64" dev net1 nodad
  ip -n "$ns" link set net1 up
  EXPERIMENTS+=("$name")
}

# Ends every process still running in the topology's namespaces (TERM, then KILL).
kill_ns_processes() {
  local namespaces=("$NODE" "$WORLD") name pids
  for name in "${EXPERIMENTS[@]}"; do namespaces+=("$P-$name"); done
  for signal in TERM KILL; do
    pids=$(for ns in "${namespaces[@]}"; do ip netns pids "$ns" 2>/dev/null; done)
    [ -n "$pids" ] || return 0
    kill -"$signal" $pids 2>/dev/null
    for _ in $(seq 30); do
      pids=$(for ns in "${namespaces[@]}"; do ip netns pids "$ns" 2>/dev/null; done)
      [ -n "$pids" ] || return 0
      sleep 0.1
    done
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

# write_config FILE [extra TOML appended]: a config for this topology's uplink. The extra TOML
# follows the [defaults] table's keys, so it may add defaults (min_rate = ...) before its tables.
# experiment_toml NAME V4 V6: an [[experiment]] block with those two addresses (for write_config).
experiment_toml() {
  printf '\n[[experiment]]\nname = "%s"\naddresses = ["%s", "%s"]' "$1" "$2" "$3"
}
# pinned_config FILE MBIT: a config whose one experiment, a (198.18.0.11, 2001:db8::11), is
# pinned at MBIT Mbit/s each way.
pinned_config() {
  write_config "$1" "$(experiment_toml a 198.18.0.11 2001:db8::11)
pinned_rate = \"${2}Mbit\""
}

write_config() {
  local file=$1
  cat >"$file" <<TOML
[daemon]
tick = "${TICK:-100ms}"
state_dir = "$WORK/state"
control_socket = "$WORK/run/control.sock"
control_group = "${CONTROL_GROUP:-}"
bpf_pin_dir = "$PIN_DIR"
metrics_listen = "127.0.0.1:9724"

[network]
interfaces = ["eth0"]
link_rate = "${LINK_RATE:-10Gbit}"

[defaults]
window = "${WINDOW:-10s}"
bandwidth = "${BANDWIDTH:-1Tbit}"  # accounting tests: an allocation nothing here can spend
TOML
  if [ $# -gt 1 ]; then printf '%s\n' "$2" >>"$file"; fi
}

# daemon_start CONFIG: runs enforcerd in the node namespace (network namespace only, so that
# /sys/fs/bpf stays the host's) and waits until its metrics endpoint answers.
daemon_start() {
  local config=$1
  nsenter --net="/run/netns/$NODE" "$ENFORCERD" --config "$config" >"$WORK/enforcerd.log" 2>&1 &
  DAEMON_PID=$!
  # Ready once attached (the log line) and serving metrics.
  for _ in $(seq 100); do
    if grep -qs ' enforcing [0-9]* experiment' "$WORK/enforcerd.log" &&
      in_node curl -sf -o /dev/null http://127.0.0.1:9724/metrics; then return 0; fi
    kill -0 "$DAEMON_PID" 2>/dev/null || { cat "$WORK/enforcerd.log"; fail "enforcerd exited at start"; }
    sleep 0.1
  done
  cat "$WORK/enforcerd.log"
  fail "enforcerd's metrics endpoint did not answer within 10 s"
}

daemon_stop() {
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID"
    for _ in $(seq 100); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=
  # A sanitizer build's daemon reports in its log (leaks only at exit). The test fails at
  # topo_down, after cleaning up (a later daemon_start overwrites the log, so note it now).
  if [ -z "$SANITIZER_REPORT" ] && [ -f "$WORK/enforcerd.log" ] &&
    grep -qE 'Sanitizer|runtime error:' "$WORK/enforcerd.log"; then
    SANITIZER_REPORT=1
    printf 'FAIL: the daemon reported a sanitizer finding:\n' >&2
    cat "$WORK/enforcerd.log" >&2
  fi
}

# Fails unless the uplink's root qdisc is still the one the topology set up (never replaced).
assert_root_qdisc() {
  [ -n "$UPLINK_QDISC" ] || return 0
  local root
  root=$(tc -n "$NODE" qdisc show dev eth0 root | awk '{print $2; exit}')
  [ "$root" = "$UPLINK_QDISC" ] || fail "$1: root qdisc of eth0 is '$root', expected $UPLINK_QDISC"
  log "ok: $1: eth0's root qdisc is still $UPLINK_QDISC"
}

# ctl ARGS...: enforcerctl on this test's daemon.
ctl() { "$ENFORCERCTL" --socket "$WORK/run/control.sock" "$@"; }

scrape() { in_node curl -sf http://127.0.0.1:9724/metrics; }

# metric NAME LABELS: the value of one series, e.g. metric enforcer_experiment_bytes_total
# 'direction="egress",experiment="a"'; prints 0 when absent... no: fails when absent.
metric() {
  local name=$1 labels=$2 v
  v=$(scrape | awk -v want="$name{$labels}" '$1 == want { printf "%.0f\n", $2 }')
  [ -n "$v" ] || fail "metric $name{$labels} not exported"
  echo "$v"
}

# iface_bytes EXP tx|rx: the experiment's net1 byte counter (skb->len: a GSO aggregate counts one
# set of headers).
iface_bytes() { netdev_bytes "$P-$1" net1 "$2"; }

# Wire bytes, what enforcer counts and charges: every segment of a GSO aggregate with its own
# headers. A root qdisc counts them (qdisc_pkt_len: skb->len + (gso_segs - 1) × headers, the
# kernel's own sum), so a test that needs them gives the sending interface one:
# add_root_qdisc NETNS DEV: a pfifo (built into every kernel) as DEV's root qdisc, unless it has
# a root qdisc that counts already (a virtual interface's default is noqueue, which counts nothing).
add_root_qdisc() {
  local root
  root=$(tc -n "$1" qdisc show dev "$2" root | awk 'NR == 1 { print $2 }')
  [ "$root" = noqueue ] || [ -z "$root" ] || return 0
  tc -n "$1" qdisc replace dev "$2" root pfifo limit 1000
}
# Wire meters, for rates on the wire. A sample must cost the measured path nothing: in the vm's
# guest, one `ip netns exec ... tc` takes 0.6-1 s of a CPU that the sender needs, which made a
# 50 Mbit/s UDP flood's window come out 5 % short.
declare -A RX_HOLDER=() RX_HEADERS=()
# rx_meter_up NETNS DEV: a clsact qdisc with a match-everything filter on DEV's ingress, whose
# packet counter adds gso_segs per skb, i.e. counts segments; and a process that stays in NETNS,
# whose /proc/PID/net/dev the samples read without entering it (kill_ns_processes ends it).
rx_meter_up() {
  tc -n "$1" qdisc add dev "$2" clsact
  tc -n "$1" filter add dev "$2" ingress protocol all prio 1 u32 match u32 0 0 flowid 1:1
  local tcp=32
  [ "$(nsenter --net="/run/netns/$1" sysctl -n net.ipv4.tcp_timestamps)" != 0 ] || tcp=20
  RX_HEADERS[$1]=$((14 + 20 + tcp))
  nsenter --net="/run/netns/$1" sleep infinity >/dev/null 2>&1 &
  RX_HOLDER[$1]=$!
}
# rx_segments NETNS DEV: the segments DEV has received (rx_meter_up's counter).
rx_segments() {
  tc -n "$1" -s qdisc show dev "$2" ingress | awk '$1 == "Sent" { print $4; found = 1; exit }
    END { exit !found }'
}
# rx_wire_sample NETNS DEV start|end: "TIME BYTES": the wire bytes DEV has received (rx_meter_up
# first) and the moment ($EPOCHREALTIME) they were read. Bytes: rx_bytes (skb->len) + (segments -
# skbs) × the headers of a segment (14 + 20 + TCP's 32 with timestamps, else 20), the skbs from
# rx_packets. Exact for IPv4 TCP, whose aggregates are all data segments of one header size, and
# for anything never aggregated; a caller whose aggregates have other headers sets SEGMENT_HEADERS
# (a UDP GSO flood's: 14 + 20 + 8). rx_bytes and rx_packets come from
# /proc/PID/net/dev, a read of a few ms; the segments need tc, which runs before that read in a
# window's start sample and after it in its end sample, outside the window both times. The
# segments that arrive while tc runs count in neither or both: at most 0.1 % of a TCP window.
rx_wire_sample() {
  local pid=${RX_HOLDER[$1]:?rx_meter_up $1 first} segs= t line name b p
  if [ "$3" = start ]; then segs=$(rx_segments "$1" "$2") || fail "no segment counter on $2 in $1"; fi
  t=$EPOCHREALTIME
  while IFS= read -r line; do
    read -r name b p _ <<<"${line/:/ }"
    [ "$name" = "$2" ] && break
  done <"/proc/$pid/net/dev"
  [ "$name" = "$2" ] || fail "no $2 in the network namespace $1"
  if [ "$3" != start ]; then segs=$(rx_segments "$1" "$2") || fail "no segment counter on $2 in $1"; fi
  echo "$t $((b + (segs - p) * ${SEGMENT_HEADERS:-${RX_HEADERS[$1]}}))"
}
# wire_rate SAMPLE0 SAMPLE1: bit/s between two samples ("TIME BYTES", as rx_wire_sample prints).
wire_rate() {
  awk -v s0="$1" -v s1="$2" 'BEGIN { split(s0, a, " "); split(s1, b, " ")
    if (b[1] <= a[1]) exit 1; printf "%.0f\n", (b[2] - a[2]) * 8 / (b[1] - a[1]) }'
}
# wire_meters_up EXP: what wire_sample needs for experiment EXP.
wire_meters_up() {
  rx_meter_up "$WORLD" wan0
  rx_meter_up "$P-$1" net1
}
# stop_flow PID: ends a flow (iperf3, udp_flood; under timeout) whose measurement window is over:
# its remaining seconds would only cost the test's time.
# PID is what `in_exp a timeout ... &` left in $!: the subshell that runs the function, whose child
# is the flow's `timeout` (which passes the signal on); the subshell alone would leave it running.
stop_flow() {
  pkill -TERM -P "$1" 2>/dev/null || true
  kill -TERM "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
# tcp_timeouts NETNS: the retransmission timeouts TCP has had in NETNS (TcpExt TCPTimeouts), read
# through rx_meter_up's process there. A flow that had one stalled for 200 ms or more.
tcp_timeouts() {
  awk '$1 == "TcpExt:" { if (!col) { for (i = 2; i <= NF; i++) if ($i == "TCPTimeouts") col = i }
    else { print $col; exit } }' "/proc/${RX_HOLDER[$1]:?rx_meter_up $1 first}/net/netstat"
}
# A flow measured between two samples runs FLOW_EXTRA_SECONDS beyond the window's planned end: a
# window that outlives its flow comes out short (when a sample entered the namespace and took
# 1-2 s in the vm's guest, that cost its 50 Mbit/s ingress 7 %). flow_outlived_window PID WHAT
# [LOG] checks it after the last sample (LOG: the flow's output, shown when it did not).
FLOW_EXTRA_SECONDS=3
flow_outlived_window() {
  kill -0 "$1" 2>/dev/null && return 0
  [ -z "${3:-}" ] || cat "$3" >&2
  fail "$2: the flow ended before its measurement window did"
}
# wire_window egress|ingress EXP SECONDS: bit/s on the wire in that direction over a window of
# SECONDS from now (two wire_samples).
wire_window() {
  local s0 s1
  s0=$(wire_sample "$1" "$2" start)
  sleep "$3"
  s1=$(wire_sample "$1" "$2" end)
  wire_rate "$s0" "$s1"
}
# dropped_packets EXP DIRECTION: the packets EXP's limit has dropped in DIRECTION (the metric).
dropped_packets() { metric enforcer_experiment_dropped_packets_total "direction=\"$2\",experiment=\"$1\""; }
# wire_sample egress|ingress EXP start|end: a sample (rx_wire_sample) of the wire bytes that passed
# the uplink's programs in that direction (IPv4), taken where they arrive: egress, the world's wan0,
# which gets eth0's packets as soon as the policer admits them or fq releases them at the paced
# times (with the node's own, ARP); ingress, EXP's net1 (no qdisc follows the ingress hook).
wire_sample() {
  if [ "$1" = egress ]; then rx_wire_sample "$WORLD" wan0 "$3"; else rx_wire_sample "$P-$2" net1 "$3"; fi
}

# qdisc_sent NETNS DEV: the bytes DEV's root qdisc has sent (wire bytes).
qdisc_sent() {
  local v
  v=$(tc -n "$1" -s qdisc show dev "$2" root | awk '$1 == "Sent" && !n { print $2; n = 1 }')
  [ -n "$v" ] || fail "no root qdisc byte counter on $2 in $1"
  echo "$v"
}

# wait_listen PORT...: waits (up to 10 s) until the world namespace listens on each TCP port. A
# server started in the background may take longer than any fixed sleep on a loaded machine.
wait_listen() {
  local port hex i
  for port in "$@"; do
    hex=$(printf '%04X' "$port")
    for ((i = 0; ; i++)); do
      in_world grep -qE ":$hex [0:]+ 0A " /proc/net/tcp /proc/net/tcp6 && break
      [ "$i" -lt 100 ] || fail "nothing listens on port $port in $WORLD after 10 s"
      sleep 0.1
    done
  done
}

# wait_until SECONDS COMMAND...: runs COMMAND every 0.1 s until it succeeds (returns 0) or SECONDS
# have passed (returns 1). Tests wait for the condition they need, not for a fixed time: on a
# loaded machine or under a sanitizer any fixed time is too short, and on a quiet one too long.
wait_until() {
  local deadline
  deadline=$((${EPOCHREALTIME//[.,]/} + $(awk -v s="$1" 'BEGIN { printf "%d", s * 1000000 }')))
  shift
  while true; do
    "$@" && return 0
    ((${EPOCHREALTIME//[.,]/} < deadline)) || return 1
    sleep 0.1
  done
}

# Waits until the daemon has sampled at least twice more (tick is short in tests).
wait_ticks() { sleep "${1:-0.5}"; }

# within EXPECTED ACTUAL PERCENT SLACK_BYTES WHAT: |actual - expected| <= expected*percent/100 + slack
# in_range EXPECTED ACTUAL PCT SLACK: whether ACTUAL is within ±PCT % + SLACK of EXPECTED.
in_range() {
  awk -v e="$1" -v a="$2" -v p="$3" -v s="$4" \
    'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e * p / 100 + s) }'
}

within() {
  local expected=$1 actual=$2 pct=$3 slack=$4 what=$5
  if ! in_range "$expected" "$actual" "$pct" "$slack"; then
    fail "$what: expected $expected (±$pct% +$slack B), got $actual"
  fi
  log "ok: $what: $actual vs $expected"
}
