#!/usr/bin/env bash
# bench/throughput.sh: iperf3 TCP throughput over the veth uplink of the kernel tier's topology
# (tests/lib/node.sh), bare and with enforcerd's accounting attached, alternating in the same
# invocation. One experiment (macvlan on the node's eth0, in its own namespace) talks to the
# iperf3 server in the "world" namespace: egress = experiment -> world, ingress = world ->
# experiment (iperf3 -R). Rounds alternate the order (bare first, then enforcerd first, ...) so
# that a drift of the machine's load hits both sides alike. Prints a markdown table on stdout:
# median Gbit/s of each side and their ratio, plus the individual runs.
#
# Environment: ROUNDS (5), RUN_SECONDS (5), ENFORCER_BUILD_DIR (<source>/build). Needs root.
# Everything it creates (namespaces, pins, processes) is removed on exit, also on failure.
set -euo pipefail
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
export ENFORCER_SOURCE_DIR=${ENFORCER_SOURCE_DIR:-$(dirname "$SELF_DIR")}
export ENFORCER_BUILD_DIR=${ENFORCER_BUILD_DIR:-$ENFORCER_SOURCE_DIR/build}
export TOPO_PREFIX=${TOPO_PREFIX:-enfbt$$}
# shellcheck source=../tests/lib/node.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT
trap 'exit 130' INT TERM HUP

ROUNDS=${ROUNDS:-5}
RUN_SECONDS=${RUN_SECONDS:-5}
[ -x "$ENFORCERD" ] || fail "no enforcerd at $ENFORCERD (build first)"
for tool in iperf3 jq curl; do command -v "$tool" >/dev/null || fail "needs $tool"; done
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
TICK=100ms write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"

# The server outlives every run but not the script (bounded by time as well).
in_world timeout $((ROUNDS * 4 * (RUN_SECONDS + 15) + 60)) iperf3 -s -p 5201 >"$WORK/server.log" 2>&1 &
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
sleep 0.3

attached() { tc -n "$NODE" filter show dev eth0 "$1" 2>/dev/null | grep -q 'handle 0xe4f0'; }

with_on() {
  daemon_start "$WORK/enforcer.toml"
  both_attached() { attached egress && attached ingress; }
  wait_until 10 both_attached || fail "enforcerd did not attach its programs to eth0 within 10 s"
}
with_off() {
  daemon_stop
  if attached egress || attached ingress; then fail "programs still attached after enforcerd stopped"; fi
}

# run DIRECTION -> prints Gbit/s (receiver side) and iperf3's CPU seconds per GB received
# (client + server, user + system time as iperf3 reports it: the time the kernel spends in softirq
# context on their behalf may be missing, depending on the kernel's IRQ time accounting)
run() {
  local args=(-c 198.18.0.1 -p 5201 -t "$RUN_SECONDS" -J)
  [ "$1" = ingress ] && args+=(-R)
  local json
  json=$(in_exp a timeout $((RUN_SECONDS + 15)) iperf3 "${args[@]}") || {
    printf '%s\n' "$json" | tail -5 >&2
    fail "iperf3 $1 failed"
  }
  jq -r '.end as $e | [$e.sum_received.bits_per_second / 1e9,
    ($e.cpu_utilization_percent.host_total + $e.cpu_utilization_percent.remote_total) / 100
      * $e.sum_received.seconds / ($e.sum_received.bytes / 1e9)] | @tsv' <<<"$json"
}

counted() {  # the daemon's packets and bytes of experiment a: egress, then ingress
  local out=() d
  for d in egress ingress; do
    out+=("$(metric enforcer_experiment_packets_total "direction=\"$d\",experiment=\"a\"")")
    out+=("$(metric enforcer_experiment_bytes_total "direction=\"$d\",experiment=\"a\"")")
  done
  echo "${out[@]}"
}

declare -A RESULTS=([bare-egress]="" [bare-ingress]="" [with-egress]="" [with-ingress]="")
declare -A CPU=([bare-egress]="" [bare-ingress]="" [with-egress]="" [with-ingress]="")
SKB_BYTES=""  # dir:bytes per invocation in the data direction, per run with enforcerd
CALLS=""      # dir:invocations per second in both directions, per run with enforcerd
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then order=(bare with); else order=(with bare); fi
  for mode in "${order[@]}"; do
    [ "$mode" = with ] && with_on
    for dir in egress ingress; do
      [ "$mode" = with ] && read -r pe0 be0 pi0 bi0 < <(counted)
      read -r g cpu < <(run "$dir")
      [ -n "$cpu" ] || fail "iperf3 $dir gave no result"
      log "round $round: $mode $dir: $g Gbit/s, $cpu CPU-s/GB" >&2
      RESULTS[$mode-$dir]+="$g "
      CPU[$mode-$dir]+="$cpu "
      if [ "$mode" = with ]; then
        sleep 0.3  # a few ticks (100 ms) for the counters to reach the metrics
        read -r pe1 be1 pi1 bi1 < <(counted)
        if [ "$dir" = egress ]; then dp=$((pe1 - pe0)) db=$((be1 - be0)); else dp=$((pi1 - pi0)) db=$((bi1 - bi0)); fi
        [ "$dp" -gt 0 ] || fail "enforcerd counted nothing for experiment a ($dir)"
        SKB_BYTES+="$dir:$((db / dp)) "
        CALLS+="$dir:$(((pe1 - pe0 + pi1 - pi0) / RUN_SECONDS)) "
      fi
    done
    [ "$mode" = with ] && with_off
  done
done

avg_skb() { tr ' ' '\n' | grep "^$1:" | cut -d: -f2 | awk '{s+=$1; n++} END {if (n) printf "%.0f", s/n}'; }

printf 'iperf3 TCP (one stream, %s s per run, %s runs each way, alternating), experiment '"'"'a'"'"' (macvlan on the\n' "$RUN_SECONDS" "$ROUNDS"
printf 'node'"'"'s veth uplink eth0) <-> the world namespace. %s cores: iperf3'"'"'s client, its server and the kernel\n' "$(nproc)"
printf '(veth, TCP, softirq) share them, so throughput is CPU-bound and any per-packet cost, or load from\n'
printf 'other processes (load average at start: %s), shows directly.\n\n' "$LOAD_BEFORE"
printf '| direction | bare (median Gbit/s) | with enforcerd (median Gbit/s) | ratio of medians | median of per-round ratios | iperf3 CPU-s per GB, bare → with | bytes per tc invocation | tc invocations/s |\n'
printf '|---|---:|---:|---:|---:|---:|---:|---:|\n'
for dir in egress ingress; do
  bare=$(median <<<"${RESULTS[bare-$dir]}")
  with=$(median <<<"${RESULTS[with-$dir]}")
  ratio=$(awk -v a="$with" -v b="$bare" 'BEGIN { printf "%.1f %%", 100 * a / b }')
  paired=$(paste -d' ' <(tr ' ' '\n' <<<"${RESULTS[with-$dir]}" | grep -v '^$') \
    <(tr ' ' '\n' <<<"${RESULTS[bare-$dir]}" | grep -v '^$') | awk '{ print 100 * $1 / $2 }' | tr '\n' ' ' | median)
  cpu_bare=$(median <<<"${CPU[bare-$dir]}")
  cpu_with=$(median <<<"${CPU[with-$dir]}")
  printf '| %s | %.2f | %.2f | %s | %.1f %% | %.3f → %.3f | %s | %s |\n' "$dir" "$bare" "$with" "$ratio" "$paired" \
    "$cpu_bare" "$cpu_with" \
    "$(avg_skb "$dir" <<<"$SKB_BYTES")" "$(avg_skb "$dir" <<<"$CALLS")"
done
printf '\nRuns (Gbit/s, in order):\n\n'
for key in bare-egress with-egress bare-ingress with-ingress; do
  printf -- '- %s: %s\n' "$key" "$(printf '%s' "${RESULTS[$key]}" | awk '{for (i=1;i<=NF;i++) printf "%s%.2f", (i>1?" ":""), $i}')"
done
printf '\n"bytes per tc invocation": the daemon'"'"'s byte / packet counters over the runs with it attached,\n'
printf 'in the data direction: veth hands GSO/GRO aggregates to tc, so the programs run once per\n'
printf 'aggregate, not once per wire packet. "iperf3 CPU-s per GB": the user + system time iperf3'"'"'s\n'
printf 'client and server report (the kernel'"'"'s TCP and veth work done in their context included) per GB\n'
printf 'received, median; unlike Gbit/s it does not count the time they waited for a CPU.\n'
printf '"tc invocations/s": both programs together (data and ACKs),\n'
printf 'mean over the runs with enforcerd; times the per-packet cost of bench/bpf_cost, that is the CPU\n'
printf 'time the accounting costs.\n'
