# shellcheck shell=bash
# Rates on the wire, for tests and benchmarks on node.sh's topology: wire-byte meters on an
# interface (segments of GSO aggregates counted with their own headers, as enforcer charges them),
# samples and the rate between two, flows stopped once their window is measured, TCP's timeouts.
# Sourced by node.sh (it uses P, WORLD and the in_* helpers).

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

# rx_bytes NETNS DEV: DEV's rx_bytes (skb->len), read through rx_meter_up's process with builtins
# only: cheap enough to poll (a tc or nsenter per sample costs 0.1-1 s of the vm guest's CPU).
rx_bytes() {
  local pid=${RX_HOLDER[$1]:?rx_meter_up $1 first} line name b
  while IFS= read -r line; do
    read -r name b _ <<<"${line/:/ }"
    [ "$name" = "$2" ] && { echo "$b"; return 0; }
  done <"/proc/$pid/net/dev"
  return 1
}
# flow_bytes egress|ingress EXP: rx_bytes where wire_sample samples that direction.
flow_bytes() {
  if [ "$1" = egress ]; then rx_bytes "$WORLD" wan0; else rx_bytes "$P-$2" net1; fi
}
# wait_flow_delivering egress|ingress EXP BYTES SECONDS: waits until BYTES more have arrived in
# that direction than when it was called, at most SECONDS. A measurement window starts then, not
# at a fixed time after the sender was launched: on a loaded machine (the vm's emulated guest
# above all) starting the sender and its handshake can take longer than any fixed wait, and a
# window that opens before the flow would come out short. Returns 1 when the flow never did.
wait_flow_delivering() {
  local base
  base=$(flow_bytes "$1" "$2") || return 1
  flow_delivered() { local b; b=$(flow_bytes "$1" "$2") && [ $((b - base)) -ge "$3" ]; }
  wait_until "$4" flow_delivered "$1" "$2" "$3"
}

