#!/usr/bin/env bash
# kernel tier (issue "bandwidth enforcement", acceptance 2, police mode): an experiment pinned to
# 10, 50 and 200 Mbit/s, driven by one TCP flow, 8 parallel TCP flows and a UDP flood at 5× the
# rate, egress and ingress: the rate achieved on the wire over MEASURE_SECONDS (the flood's over
# FLOOD_MEASURE_SECONDS) must be within ±5 % of the pinned rate. The host kernel has no fq, so
# egress is policed here. The vm tier runs this script with UPLINK_QDISC=fq and ipvlan experiments:
# egress is then paced (EDT), and TCP must get its rate without a single drop. In both, a ping every
# 0.1 s beside the single flow must lose less than 5 % and have a median RTT below
# PING_MEDIAN_MAX_MS (it must not wait behind the flow). The UDP flood (udp_flood) sends with UDP
# GSO: policed, it offers the full 5×; paced, a full socket buffer holds it back to the rate, as TCP
# Small Queues hold TCP.
# The limit holds wire bytes (every segment of a TCP aggregate with its own headers), so that is
# what is measured (lib.sh: wire_sample), where the packets arrive: the world's wan0 for egress
# (after the policer or fq's paced release), the experiment's net1 for ingress. skb->len, the
# interface counters' unit, is 2-5 % less for bulk TCP.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

RATES=${RATES:-"10 50 200"}          # Mbit/s
MEASURE_SECONDS=${MEASURE_SECONDS:-10}
# The flood's window may be shorter: offered at 5x the rate without a pause, the flood keeps the
# policer's bucket empty (and, paced, fq's schedule full), so the window's edges are off by less
# than an aggregate, where a TCP flow that backs off lets the bucket refill (up to 500 ms of the
# rate at the window's end: 5 % of 10 s).
FLOOD_MEASURE_SECONDS=${FLOOD_MEASURE_SECONDS:-5}
TOLERANCE_PCT=${TOLERANCE_PCT:-5}
FLOOD_FACTOR=${FLOOD_FACTOR:-5}      # the UDP flood offers this many times the rate
PING_MEDIAN_MAX_MS=${PING_MEDIAN_MAX_MS:-10}  # the experiment's own ping beside its TCP flow
# A WAN-like path (the vm tier; the host kernel has no netem): RTT_MS of delay on the world's
# side, so every flow has that round-trip time; the ping may then take that much longer.
RTT_MS=${RTT_MS:-}
UDP_CASES=${UDP_CASES:-1}            # 0: TCP only (the cases a round-trip time matters to)
REPORT_ONLY=${REPORT_ONLY:-}         # 1: a rate outside the tolerance is logged (MISS), not failed
DIRECTIONS=${DIRECTIONS:-"egress ingress"}
INGRESS_RATES=${INGRESS_RATES:-$RATES}  # the rates at which ingress is measured (of RATES)
TCP_RATES=${TCP_RATES:-$RATES}       # the rates with TCP cases (of RATES; the flood runs at each)
TCP_FLOWS=${TCP_FLOWS:-"1 8"}        # the TCP cases: one flow (with the ping), eight

topo_up
if [ -n "$RTT_MS" ]; then
  # netem's queue must hold a round trip's worth at the highest rate and more (10 Gbit/s × 80 ms
  # is 67,000 full-size packets); its default of 1,000 would drop instead of the limit.
  tc -n "$WORLD" qdisc replace dev wan0 root netem delay "${RTT_MS}ms" limit 100000
  PING_MEDIAN_MAX_MS=$((PING_MEDIAN_MAX_MS + RTT_MS))
fi
topo_add_experiment a 198.18.0.11 2001:db8::11
if [ -n "$RTT_MS" ]; then
  # Socket buffers for a long fat path, as a measurement server has them: the default maxima
  # (4 and 6 MB) cap one flow at 80 ms below 300 Mbit/s, so its backed-off window could not
  # catch up with the rate.
  for ns in "$P-a" "$WORLD"; do
    ip netns exec "$ns" sysctl -qw net.ipv4.tcp_rmem="4096 131072 67108864"       net.ipv4.tcp_wmem="4096 16384 67108864"
  done
fi
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
wire_meters_up a

PORT=5200
DROP_WAIT_SECONDS=3
# wait_for_drop DIRECTION DROPS0 SECONDS: until a's dropped packets in DIRECTION exceed DROPS0, at
# most SECONDS (a flow that never reaches the limit is then measured as it is).
dropped_more() { [ "$(dropped_packets a "$1")" -gt "$2" ]; }
wait_for_drop() {
  wait_until "$3" dropped_more "$1" "$2" || log "$1: no drop $3 s into the flow; measuring anyway"
}
# The UDP flood is udp_flood (a GSO sender, up to 44 datagrams per send): iperf3's UDP makes a
# syscall per datagram and offers only 40-146 Mbit/s in the vm's emulated guest.
UDP_FLOOD=$BUILD/tests/kernel/udp_flood
[ -x "$UDP_FLOOD" ] || fail "$UDP_FLOOD is missing (build the project first)"

# measure DIRECTION RATE_MBIT WHAT IPERF-ARGS... | measure DIRECTION RATE_MBIT WHAT --udp-flood
# OFFERED_MBIT: achieved bit/s over MEASURE_SECONDS (FLOOD_MEASURE_SECONDS for the flood), while
# iperf3 (or udp_flood) runs a little longer than that.
measure() {
  local dir=$1 mbit=$2 what=$3
  shift 3
  local window=$MEASURE_SECONDS
  [ "${1:-}" != --udp-flood ] || window=$FLOOD_MEASURE_SECONDS
  local seconds=$((window + FLOW_EXTRA_SECONDS + 2 * DROP_WAIT_SECONDS))
  # A server of its own per run: a policed run's server may still be draining the last one.
  PORT=$((PORT + 1))
  # Policed, the window opens once the bucket has emptied (the limit's first drop, within a few
  # seconds): the 500 ms of the rate a full bucket lets through at a flow's start is the stated
  # burst, and in a 10 s window it alone would be +5 %. Paced (EDT), the burst is 2 ms.
  local policed=1 drops0=
  [ "$dir" = egress ] && [ "$UPLINK_QDISC" = fq ] && policed=
  [ -z "$policed" ] || drops0=$(dropped_packets a "$dir")
  local sink= SEGMENT_HEADERS=  # lib.sh: rx_wire_sample
  if [ "${1:-}" = --udp-flood ]; then
    SEGMENT_HEADERS=$((14 + 20 + 8))
    local from=(in_exp a) to=(in_world) dst=198.18.0.1
    [ "$dir" = ingress ] && from=(in_world) to=(in_exp a) dst=198.18.0.11
    "${to[@]}" timeout $((seconds + 30)) "$UDP_FLOOD" sink "$PORT" $((seconds + 5)) >/dev/null &
    sink=$!
    "${from[@]}" timeout $((seconds + 30)) "$UDP_FLOOD" send "$dst" "$PORT" "$2" "$seconds" >"$WORK/iperf.log" 2>&1 &
  else
    local extra=()
    [ "$dir" = ingress ] && extra=(-R)
    in_world timeout $((MEASURE_SECONDS + 60)) iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
    wait_listen "$PORT"
    in_exp a timeout $((seconds + 30)) iperf3 -p "$PORT" -c 198.18.0.1 -t "$seconds" "${extra[@]}" "$@" >"$WORK/iperf.log" 2>&1 &
  fi
  local iperf=$!
  # The window opens once the flow has delivered half a second of its rate (then its start,
  # slow start at these rates, is over), and a second after launch at the earliest.
  sleep 1
  wait_flow_delivering "$dir" a $((mbit * 1000000 / 16)) "$DROP_WAIT_SECONDS" ||
    log "$dir $what: the flow has not delivered half a second of its rate $DROP_WAIT_SECONDS s after its start; measuring anyway"
  [ -z "$policed" ] || wait_for_drop "$dir" "$drops0" "$DROP_WAIT_SECONDS"
  local achieved ping=""
  if [ -n "${WITH_PING:-}" ]; then
    # The experiment's own ping, every 0.1 s through the limited path, while the flow runs.
    in_exp a ping -n -i 0.1 -c $((window * 10)) -W 5 198.18.0.1 >"$WORK/ping.log" 2>&1 &
    ping=$!
  fi
  # TCP's retransmission timeouts at the sender (the experiment egress, the world ingress).
  local sender=$P-a rtos
  [ "$dir" = ingress ] && sender=$WORLD
  rtos=$(tcp_timeouts "$sender")
  achieved=$(wire_window "$dir" a "$window")
  rtos=$(($(tcp_timeouts "$sender") - rtos))
  flow_outlived_window "$iperf" "$dir $what" "$WORK/iperf.log"
  stop_flow "$iperf"
  if [ -n "$sink" ]; then
    log "$dir $what: $(cat "$WORK/iperf.log")"
    stop_flow "$sink"
  fi
  if [ -n "$ping" ]; then
    wait "$ping" || true  # exits 1 when a reply is missing; the loss is judged below
    local loss
    loss=$(sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$WORK/ping.log")
    [ -n "$loss" ] || { cat "$WORK/ping.log"; fail "no ping summary"; }
    local median
    median=$(sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' "$WORK/ping.log" | sort -g |
      awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }')
    log "$dir $what: ping loss $loss %, median rtt ${median:-none} ms, min/avg/max/mdev $(sed -n 's/^rtt [^=]*= //p' "$WORK/ping.log")"
    # Under EDT a small packet other than TCP leaves at once, charged to the schedule; policed,
    # it may go one aggregate beyond the edge where TCP keeps the bucket. Either way the
    # experiment's own ping must arrive (it once lost all under EDT, up to 13 % policed) and not
    # wait behind its TCP: under EDT it once waited for all TCP had in fq, a median of 136 / 30 /
    # 15 ms at 10 / 50 / 100 Mbit/s in the vm; now 0.4-2 ms there, 0.1 ms on the host.
    awk -v l="$loss" 'BEGIN { exit !(l < 5) }' || fail "$loss % of the experiment's pings lost beside its TCP flow ($dir)"
    awk -v m="${median:-1e9}" -v max="$PING_MEDIAN_MAX_MS" 'BEGIN { exit !(m < max) }' ||
      fail "the experiment's ping beside its TCP flow ($dir) had a median rtt of ${median:-none} ms (at most $PING_MEDIAN_MAX_MS)"
  fi
  local note=""
  if [ -n "$policed" ] && [ "$(dropped_packets a "$dir")" -le "$drops0" ]; then
    note=" (the limit dropped nothing: the sender offered less than the rate)"
  fi
  [ -z "$sink" ] || rtos=0  # the flood is UDP: the sender's TCP timeouts are other traffic's
  # Why a policed case may be measured twice: a policer drops at the bucket's edge, and when it
  # drops a retransmission too, the sender waits out a retransmission timeout (200 ms or more)
  # and starts again from a slow start; a single flow then falls short for reasons of TCP, not of
  # the limit (once in about 20 runs: 188.5 of 200 Mbit/s ingress, -5.8 %). That is measured, not
  # guessed: a short window is measured again only when the sender's TCPTimeouts counter moved in
  # it. A limit that is off, or a short window without a timeout, fails at once.
  if [ -n "$policed" ] && [ -z "${RETRIED:-}" ] && [ "$rtos" -gt 0 ] &&
    ! in_range $((mbit * 1000000)) "$achieved" "$TOLERANCE_PCT" 0; then
    log "$dir $what: $achieved bit/s at ${mbit}Mbit pinned is outside ±$TOLERANCE_PCT % after $rtos retransmission timeout(s) of the sender; measuring once more"
    RETRIED=1 measure "$dir" "$mbit" "$what" "$@"
    return
  fi
  [ "$rtos" = 0 ] || note="$note ($rtos retransmission timeout(s) of the sender)"
  if [ -n "$REPORT_ONLY" ]; then
    local verdict=ok
    in_range $((mbit * 1000000)) "$achieved" "$TOLERANCE_PCT" 0 || verdict=MISS
    log "$verdict: $dir $what at ${mbit}Mbit pinned: $achieved bit/s ($((achieved / (mbit * 10000))) %)$note"
    return
  fi
  within $((mbit * 1000000)) "$achieved" "$TOLERANCE_PCT" 0 "$dir $what at ${mbit}Mbit pinned (bit/s)$note"
}

for mbit in $RATES; do
  pinned_config "$WORK/enforcer.toml" "$mbit"
  daemon_start "$WORK/enforcer.toml"
  wait_ticks
  [ "$(metric enforcer_experiment_throttled 'direction="egress",experiment="a"')" = 1 ] ||
    fail "a pinned experiment is not reported throttled"
  if [ "$UPLINK_QDISC" = fq ]; then
    grep -q 'egress paced (EDT)' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "egress is not paced on an fq uplink"; }
  else
    grep -q 'egress policed' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "egress is not policed without fq"; }
  fi
  dirs=$DIRECTIONS
  [[ " $INGRESS_RATES " == *" $mbit "* ]] || dirs=${dirs//ingress/}
  for dir in $dirs; do
    if [[ " $TCP_RATES " == *" $mbit "* ]]; then
      drops0=$(dropped_packets a "$dir")
      [[ " $TCP_FLOWS " != *" 1 "* ]] || WITH_PING=1 measure "$dir" "$mbit" "1 TCP flow and a ping"
      [[ " $TCP_FLOWS " != *" 8 "* ]] || measure "$dir" "$mbit" "8 TCP flows" -P 8
      drops1=$(dropped_packets a "$dir")
      log "$dir: $((drops1 - drops0)) packets dropped by the limit during the TCP runs"
      if [ "$dir" = egress ] && [ "$UPLINK_QDISC" = fq ]; then
        [ "$drops1" = "$drops0" ] || fail "EDT pacing dropped $((drops1 - drops0)) TCP packets"
      fi
    fi
    [ "$UDP_CASES" = 0 ] ||
      measure "$dir" "$mbit" "UDP flood at ${FLOOD_FACTOR}x" --udp-flood "$((FLOOD_FACTOR * mbit))"
  done
  if [[ " $dirs " == *" ingress "* ]]; then
    dropped=$(metric enforcer_experiment_dropped_packets_total 'direction="ingress",experiment="a"')
    [ "$dropped" -gt 0 ] || fail "no ingress drops counted under a pinned rate's flows"
  fi
  daemon_stop
done
log "PASS"
