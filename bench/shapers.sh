#!/usr/bin/env bash
# bench/shapers.sh: enforcer's rate limit beside Linux's own shapers, tbf and htb, at the same
# rate on the same path: the egress of an experiment (a macvlan on the node's veth uplink eth0,
# in its own namespace; the kernel tier's topology from tests/lib/node.sh) towards the world
# namespace. One shaper at a time, nothing else attached:
#   enforcer      enforcerd with `pinned_rate` = the rate on the experiment and network.enforcement
#                 "police": the GCRA policer of tc_egress on eth0's clsact hook drops; the root
#                 qdisc of eth0 stays the topology's (noqueue on the host). enforcerd polices the
#                 experiment's ingress at the same rate too (only ACKs and ping replies flow that
#                 way here).
#   enforcer-edt  the same with "edt": skb->tstamp, paced by fq (needs UPLINK_QDISC=fq: the vm
#                 tier, bench/shapers-vm.sh)
#   tbf           root qdisc of eth0 = tbf rate R burst max(R * 10 ms, 15000 + 1514 B) latency
#                 TBF_LATENCY (50ms; tc sets limit = R * latency + burst); enforcerd not running
#   htb           root qdisc of eth0 = htb, one default class rate = ceil = R, burst = cburst =
#                 tbf's burst, quantum 60000, leaf qdisc HTB_LEAF (default "pfifo limit 1000",
#                 the default leaf at veth's txqueuelen: the host kernel has neither fq_codel nor
#                 sfq); enforcerd not running
# For each rate, number of flows and shaper: bulk TCP (iperf3 -J -P FLOWS, RUN_SECONDS) from the
# experiment, and a ping every 10 ms from the experiment through the same path during the measured window, from
# WARMUP_SECONDS (2: slow start and the policer's initial burst left out) to RUN_SECONDS -
# TAIL_SECONDS (1; the vm guest, where starting a process is slow, needs more):
#   achieved rate  on the receiving side (world's wan0), in wire L2 bytes: every TCP segment with
#                  its own headers, as a NIC doing TSO sends it and as tbf and htb charge it
#                  (qdisc_pkt_len; checked against their own byte counters): rx_bytes +
#                  (segments - skbs) * (MTU + 14 - MSS), the segments counted by a clsact qdisc on
#                  wan0's ingress (its packet counter adds gso_segs per skb); what enforcer
#                  charges too. And in skb->len (GSO aggregates with one set of headers: the
#                  interface counters' unit).
#   RTT            ping: median and 99th percentile of the replies, and the requests lost: sent
#                  (Icmp OutEchos of the experiment's namespace, which counts the requests dropped
#                  on the way out too: ping itself retries those silently after 5 ms) without a
#                  reply, less those sent within the largest RTT before ping's deadline
#   retransmits    iperf3's end.sum_sent.retransmits (the whole run)
#   drops          the shaper's own drop counter over the run (enforcerd: skbs it dropped;
#                  tbf/htb: the root qdisc's "dropped")
#   CPU            system-wide busy time from /proc/stat (user + nice + system + irq + softirq of
#                  all CPUs; not idle, iowait, steal) over the window per GB on the wire (and the
#                  same less the busy share of the second before the run): iperf3's
#                  client and server, ping, both TCP stacks, veth and softirq work, the shaper,
#                  enforcerd (tick 100 ms) -- and every other process of the machine. The busy
#                  share of all CPUs in the window and in the second before the run (nothing of
#                  ours moving) show how much was someone else's. Beside it, iperf3's own CPU time
#                  (client + server, user + system, as iperf3 reports it) per GB received.
# Prints markdown tables on stdout (bench/shapers-report.sh: the comparison, medians over the
# rounds; CPU per GB, one row per rate, flows and shaper; the rate's error round by round with
# its mean and spread, which tell a bias from scatter), then every run's raw values.
#
# Environment: RTT_MS (none: the path's own, microseconds; the vm guest can add a delay on the
# world's side, and the RTT column then includes it), RATES ("100 1000", Mbit/s), FLOWS ("1 8",
# iperf3's parallel streams), SHAPERS ("enforcer tbf htb"), ROUNDS or ENFORCER_BENCH_ROUNDS (3;
# ROUNDS wins; the order of the shapers rotates from round to round), RUN_SECONDS (10),
# WARMUP_SECONDS (2), TAIL_SECONDS (1; the window must keep 1 s at least), IDLE_SECONDS (1: the
# load measured before each run), HTB_LEAF, TBF_LATENCY, ENFORCER_BUILD_DIR (<source>/build),
# UPLINK_QDISC and EXP_LINK_KIND (the vm tier's fq and ipvlan). The smoke test (tests/bench) runs
# RATES=100 FLOWS=8 ROUNDS=2 RUN_SECONDS=3 WARMUP_SECONDS=1 TAIL_SECONDS=1 IDLE_SECONDS=0.3.
# Needs root. Everything it creates (namespaces and with them the qdiscs, pins, processes) is
# removed on exit, also on failure or Ctrl-C. Every run is bounded by timeouts.
set -euo pipefail
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
export ENFORCER_SOURCE_DIR=${ENFORCER_SOURCE_DIR:-$(dirname "$SELF_DIR")}
export ENFORCER_BUILD_DIR=${ENFORCER_BUILD_DIR:-$ENFORCER_SOURCE_DIR/build}
export TOPO_PREFIX=${TOPO_PREFIX:-enfbq$$}
# shellcheck source=../tests/lib/node.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT
trap 'exit 130' INT TERM HUP

RATES=${RATES:-100 1000}
FLOWS=${FLOWS:-1 8}
SHAPERS=${SHAPERS:-enforcer tbf htb}
ROUNDS=${ROUNDS:-${ENFORCER_BENCH_ROUNDS:-3}}
IDLE_SECONDS=${IDLE_SECONDS:-1}
RUN_SECONDS=${RUN_SECONDS:-10}
HTB_LEAF=${HTB_LEAF:-pfifo limit 1000}
TBF_LATENCY=${TBF_LATENCY:-50ms}
WARMUP_SECONDS=${WARMUP_SECONDS:-2}
TAIL_SECONDS=${TAIL_SECONDS:-1}
PING_INTERVAL=0.01
MEASURE_S=$((RUN_SECONDS - WARMUP_SECONDS - TAIL_SECONDS)) # the measured seconds of each run
[ "$MEASURE_S" -ge 1 ] || fail "RUN_SECONDS must exceed WARMUP_SECONDS + TAIL_SECONDS by 1 s at least"
for flows in $FLOWS; do [[ $flows =~ ^[1-9][0-9]?$ ]] || fail "FLOWS: '$flows' is not a count of 1 to 99"; done
[ -x "$ENFORCERD" ] || fail "no enforcerd at $ENFORCERD (build first)"
for tool in iperf3 jq curl ping tc; do command -v "$tool" >/dev/null || fail "needs $tool"; done
for s in $SHAPERS; do
  case $s in
    enforcer | tbf | htb) ;;
    enforcer-edt) [ "$UPLINK_QDISC" = fq ] || fail "enforcer-edt needs UPLINK_QDISC=fq (the vm tier)" ;;
    *) fail "unknown shaper '$s' (enforcer, enforcer-edt, tbf, htb)" ;;
  esac
done
HZ=$(getconf CLK_TCK)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
START=$(date +%s)

topo_up
if [ -n "${RTT_MS:-}" ]; then
  # A WAN-like path: RTT_MS of delay on the world's side (the vm's kernel has netem, the host's
  # not), with room for a round trip at any rate here.
  tc -n "$WORLD" qdisc replace dev wan0 root netem delay "${RTT_MS}ms" limit 100000
fi
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
# The segment counter on the receiving side: a clsact qdisc counts the packets of its filters'
# skbs as gso_segs each; a match-everything u32 filter (no action) makes it see every packet.
tc -n "$WORLD" qdisc add dev wan0 clsact
tc -n "$WORLD" filter add dev wan0 ingress protocol all prio 1 u32 match u32 0 0 flowid 1:1
MTU=$(ip -n "$P-a" -o link show net1 | sed -n 's/.* mtu \([0-9]*\) .*/\1/p')

burst_bytes() { awk -v m="$1" 'BEGIN { b = m * 1e6 / 8 * 0.01; if (b < 15000 + 1514) b = 15000 + 1514; printf "%d", b }'; }

restore_root() {
  if [ -n "$UPLINK_QDISC" ]; then
    tc -n "$NODE" qdisc replace dev eth0 root "$UPLINK_QDISC"
  else
    tc -n "$NODE" qdisc del dev eth0 root 2>/dev/null || true
  fi
}

attached() { tc -n "$NODE" filter show dev eth0 egress 2>/dev/null | grep -q 'handle 0xe4f0'; }

# shaper_on SHAPER MBIT: sets the shaper up (and checks it is in place).
shaper_on() {
  local shaper=$1 mbit=$2 burst
  burst=$(burst_bytes "$mbit")
  case $shaper in
    enforcer | enforcer-edt)
      local mode=police
      [ "$shaper" = enforcer-edt ] && mode=edt
      write_config "$WORK/enforcer.toml" "
[[experiment]]
name = \"a\"
addresses = [\"198.18.0.11\", \"2001:db8::11\"]
pinned_rate = \"${mbit}Mbit\""
      sed -i "s/^link_rate = .*/&\nenforcement = \"$mode\"/" "$WORK/enforcer.toml"
      daemon_start "$WORK/enforcer.toml" >&2
      wait_ticks 0.5
      attached || fail "enforcerd is not attached to eth0's egress"
      [ "$(metric enforcer_experiment_throttled 'direction="egress",experiment="a"')" = 1 ] ||
        fail "the pinned experiment is not throttled"
      if [ "$mode" = edt ]; then
        grep -q 'egress paced (EDT)' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log" >&2; fail "egress is not paced"; }
      else
        grep -q 'egress policed' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log" >&2; fail "egress is not policed"; }
      fi
      ;;
    tbf)
      tc -n "$NODE" qdisc replace dev eth0 root handle 1: tbf rate "${mbit}mbit" burst "$burst" latency "$TBF_LATENCY"
      ;;
    htb)
      tc -n "$NODE" qdisc replace dev eth0 root handle 1: htb default 10
      tc -n "$NODE" class add dev eth0 parent 1: classid 1:10 htb rate "${mbit}mbit" ceil "${mbit}mbit" \
        burst "$burst" cburst "$burst" quantum 60000
      # shellcheck disable=SC2086 # HTB_LEAF is a qdisc and its parameters
      tc -n "$NODE" qdisc add dev eth0 parent 1:10 handle 10: $HTB_LEAF
      ;;
  esac
}

shaper_off() {
  case $1 in
    enforcer | enforcer-edt)
      daemon_stop
      if attached; then fail "enforcerd's programs still attached after it stopped"; fi
      ;;
    tbf | htb) restore_root ;;
  esac
}

# shaper_drops SHAPER: its cumulative drop counter.
shaper_drops() {
  case $1 in
    enforcer | enforcer-edt) metric enforcer_experiment_dropped_packets_total 'direction="egress",experiment="a"' ;;
    *) tc -n "$NODE" -s qdisc show dev eth0 root | awk '/dropped/ { sub(",", "", $7); print $7; exit }' ;;
  esac
}

# snap: "seconds busy_jiffies total_jiffies rx_bytes rx_packets segments", read by one shell in the
# world namespace with builtins (an exec can take 100 ms on a loaded machine: the clock is read
# between the counters, not before a fork); only the segment count comes from a fork (tc).
snap() {
  # shellcheck disable=SC2016 # expanded by the inner shell
  ip netns exec "$WORLD" bash -c 'read -r _ u n s i w q sq st _ </proc/stat
    t=$EPOCHREALTIME
    read -r b </sys/class/net/wan0/statistics/rx_bytes
    read -r p </sys/class/net/wan0/statistics/rx_packets
    echo "$t $((u + n + s + q + sq)) $((u + n + s + i + w + q + sq + st)) $b $p"
    tc -s qdisc show dev wan0 ingress' | awk 'NR == 1 { printf "%s ", $0 } / pkt / { print $4; exit }'
}

# sleep_until T SECONDS: sleeps until SECONDS after T ($EPOCHREALTIME), if that is still ahead.
sleep_until() {
  sleep "$(awk -v t="$1" -v s="$2" -v now="$EPOCHREALTIME" 'BEGIN { d = t + s - now; printf "%.3f", (d > 0 ? d : 0) }')"
}

# echo_requests: the experiment's ICMP echo requests sent so far and, of them, the ones its own
# stack dropped on the way out ("OutEchos OutDiscards" of its namespace). A request the uplink's tc
# program or qdisc drops fails in sendmsg (ENOBUFS); ping then tries again 5 ms later without
# counting the failure, so its own summary hides such drops.
echo_requests() {
  # shellcheck disable=SC2016 # an awk program
  in_exp a awk '$1 in hdr { for (i = 2; i <= NF; i++) v[$1 h[$1, i]] = $i; next }
    { hdr[$1] = 1; for (i = 2; i <= NF; i++) h[$1, i] = $i }
    END { print v["Icmp:OutEchos"] + 0, v["Ip:OutDiscards"] + 0 }' /proc/net/snmp
}

PORT=5300
# run SHAPER MBIT FLOWS: one measured run; prints the raw values as "key=value ..." on one line.
run() {
  local shaper=$1 mbit=$2 flows=$3
  local idle0 idle1 s0 s1 d0 d1 e0 e1
  shaper_on "$shaper" "$mbit"
  d0=$(shaper_drops "$shaper")
  PORT=$((PORT + 1))
  in_world timeout $((RUN_SECONDS + 40)) iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
  idle0=$(snap)
  sleep "$IDLE_SECONDS"
  idle1=$(snap)
  # The window is placed by the clock from the client's launch, not by sleeps after slow commands
  # (in the vm guest an exec takes 0.1 s and more), so that it ends before the flow does.
  local launched=$EPOCHREALTIME
  in_exp a timeout $((RUN_SECONDS + 30)) iperf3 -c 198.18.0.1 -p "$PORT" -t "$RUN_SECONDS" -P "$flows" -J \
    >"$WORK/iperf.json" 2>"$WORK/iperf.err" &
  local iperf=$!
  sleep_until "$launched" "$WARMUP_SECONDS"
  s0=$(snap)
  e0=$(echo_requests)
  in_exp a timeout $((RUN_SECONDS + 5)) ping -n -i "$PING_INTERVAL" -w "$MEASURE_S" \
    198.18.0.1 >"$WORK/ping.out" 2>&1 &
  local pinger=$!
  sleep_until "$launched" $((RUN_SECONDS - TAIL_SECONDS))
  s1=$(snap)
  wait "$pinger" || true # ping exits 1 when a reply is missing: the loss is reported
  e1=$(echo_requests)
  wait "$iperf" || {
    cat "$WORK/iperf.json" "$WORK/iperf.err" >&2
    fail "iperf3 failed ($shaper at ${mbit} Mbit/s, $flows flow(s))"
  }
  d1=$(shaper_drops "$shaper")
  shaper_off "$shaper"
  local mss retrans goodput iperf_cpu rtt
  # (a here-string, not a process substitution: the vm guest has no /dev/fd)
  read -r mss retrans goodput iperf_cpu <<<"$(jq -r '.end as $e | [.start.tcp_mss_default,
    $e.sum_sent.retransmits, $e.sum_received.bits_per_second / 1e6,
    ($e.cpu_utilization_percent.host_total + $e.cpu_utilization_percent.remote_total) / 100
      * $e.sum_received.seconds / ($e.sum_received.bytes / 1e9)] | @tsv' "$WORK/iperf.json")"
  [ -n "$goodput" ] || fail "iperf3 gave no result ($shaper at ${mbit} Mbit/s, $flows flow(s))"
  # RTT: the replies' times sorted; median and p99 (nearest rank). Lost: the echo requests sent
  # (the namespace's counter, which includes those dropped on the way out) without a reply, less
  # those sent within the largest RTT before ping's deadline.
  rtt=$(awk -F'time=' '/packets transmitted/ { split($0, t, " "); print "sent", t[1] }
      /time=/ { split($1, q, "icmp_seq="); split(q[2], n, " "); if (n[1] > last) last = n[1]
        split($2, a, " "); print a[1] }
      END { print "last", last + 0 }' "$WORK/ping.out" | sort -g |
    awk -v interval_ms="$(awk -v i="$PING_INTERVAL" 'BEGIN { print i * 1000 }')" -v e0="$e0" -v e1="$e1" '
      $1 == "last" { last = $2; next } $1 == "sent" { sent = $2; next } { v[++n] = $1 }
      END { split(e0, a, " "); split(e1, b, " "); tries = b[1] - a[1]; local = b[2] - a[2]
        if (tries < sent) tries = sent
        if (n == 0) { printf "rtt_med=nan rtt_p99=nan ping_loss=%.1f pings=0/%d ping_local_drops=%d", tries ? 100 : 0, tries, local; exit }
        m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
        i = int(n * 0.99); if (i < n * 0.99) i++
        tail = int(v[n] / interval_ms) + 1; if (tail > sent - last) tail = sent - last
        lost = tries - n - tail; if (lost < 0) lost = 0
        printf "rtt_med=%.3f rtt_p99=%.3f ping_loss=%.1f pings=%d/%d ping_local_drops=%d", m, v[i], tries ? 100 * lost / tries : 0, n, tries, local }')
  awk -v s0="$s0" -v s1="$s1" -v i0="$idle0" -v i1="$idle1" -v rate="$mbit" -v hdr=$((MTU + 14 - mss)) \
    -v hz="$HZ" -v shaper="$shaper" -v flows="$flows" -v retrans="$retrans" -v goodput="$goodput" -v drops=$((d1 - d0)) \
    -v rtt="$rtt" -v iperf_cpu="$iperf_cpu" 'BEGIN {
      split(s0, a, " "); split(s1, b, " "); split(i0, c, " "); split(i1, d, " ")
      secs = b[1] - a[1]; skb = b[4] - a[4]; skbs = b[5] - a[5]; segs = b[6] - a[6]
      wire = skb + (segs - skbs) * hdr
      if (wire <= 0) wire = 1  # nothing carried: the figures show it, without dividing by 0
      busy = (b[2] - a[2]) / hz
      # The same less what the machine was busy with before the run (its busy share then, over
      # the CPU time of the window): an estimate of our own part, as long as the other load holds.
      idle_share = (d[3] > c[3]) ? (d[2] - c[2]) / (d[3] - c[3]) : 0
      net = busy - idle_share * (b[3] - a[3]) / hz
      printf "shaper=%s rate=%d flows=%d wire_mbit=%.3f err_wire=%+.2f skb_mbit=%.3f err_skb=%+.2f %s retrans=%d drops=%d",
        shaper, rate, flows, wire * 8 / secs / 1e6, 100 * (wire * 8 / secs / 1e6 - rate) / rate,
        skb * 8 / secs / 1e6, 100 * (skb * 8 / secs / 1e6 - rate) / rate, rtt, retrans, drops
      printf " gb=%.4f busy_s=%.3f cpu_s_per_gb=%.3f net_cpu_s_per_gb=%.3f busy_pct=%.1f idle_busy_pct=%.1f iperf_cpu_s_per_gb=%.2f goodput_mbit=%.3f",
        wire / 1e9, busy, busy / (wire / 1e9), net / (wire / 1e9), 100 * (b[2] - a[2]) / (b[3] - a[3]), 100 * (d[2] - c[2]) / (d[3] - c[3]),
        iperf_cpu, goodput
      printf " window_s=%.2f segs_per_skb=%.1f\n", secs, skbs ? segs / skbs : 0 }'
}

RAW=()
for mbit in $RATES; do
  for flows in $FLOWS; do
    for round in $(seq "$ROUNDS"); do
      read -r -a order <<<"$SHAPERS"
      for _ in $(seq $(((round - 1) % ${#order[@]}))); do order=("${order[@]:1}" "${order[0]}"); done
      for shaper in "${order[@]}"; do
        line=$(run "$shaper" "$mbit" "$flows")
        log "round $round: $line" >&2
        RAW+=("round=$round $line")
      done
    done
  done
done

printf 'Bulk TCP (iperf3, %s s; %s flow(s)) from an experiment (%s on the node'"'"'s veth uplink eth0) to\n' \
  "$RUN_SECONDS" "${FLOWS// / and }" "$EXP_LINK_KIND"
printf 'the world namespace, shaped on eth0'"'"'s egress, and a ping every 10 ms on the same path; measured from\n'
printf 'second %s to second %s of each run; medians of %s round(s). tbf: burst max(rate × 10 ms, 16514 B),\n' "$WARMUP_SECONDS" "$((RUN_SECONDS - TAIL_SECONDS))" "$ROUNDS"
printf 'latency %s; htb: one class, rate = ceil = the rate, burst = cburst = tbf'"'"'s, leaf "%s";\n' "$TBF_LATENCY" "$HTB_LEAF"
printf 'enforcer: pinned_rate, policing%s; root qdisc of eth0 otherwise: %s.\n' \
  "$(case " $SHAPERS " in *" enforcer-edt "*) echo " (enforcer-edt: EDT pacing)" ;; esac)" "${UPLINK_QDISC:-none (noqueue)}"
printf '%s cores, shared with other work: load average %s at the start, %s at the end (%s s in all).\n\n' \
  "$(nproc)" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(($(date +%s) - START))"
printf '%s\n' "${RAW[@]}" | RATES=$RATES FLOWS=$FLOWS SHAPERS=$SHAPERS "$SELF_DIR/shapers-report.sh"
printf '\nRuns (raw):\n\n'
for line in "${RAW[@]}"; do printf -- '- %s\n' "$line"; done
