#!/usr/bin/env bash
# bench/ack-edt-vm.sh: an experiment that uploads and downloads at once while its egress is paced
# (EDT, fq root qdisc: the vm tier's guest; the host's kernel has no fq). The download's ACKs
# leave on the same egress schedule as the upload's data; if they waited behind it, the download
# would run at the pace of its ACKs. Experiment a is pinned at RATE Mbit/s each way (ingress
# policed); iperf3 measures the download alone, the upload alone, and both at once (--bidir),
# each over SECONDS, and prints a markdown table of what the receivers got. Run it from the host:
#
#   ENFORCER_BUILD_DIR=$PWD/build tests/vm/run-vm-test bench/ack-edt-vm.sh --timeout 600
#
# ENFORCER_BENCH_RATES ("20 50" Mbit/s), ENFORCER_BENCH_SECONDS (10), ENFORCER_BENCH_RTT_MS
# (0: netem delay on the world's side when set). About 1.5 minutes per rate. Results:
# docs/performance.md.
set -euo pipefail
[ "${ENFORCER_VM:-}" = 1 ] || { echo "run this through tests/vm/run-vm-test (see its header)" >&2; exit 1; }
modprobe -a veth ipvlan sch_fq sch_netem sch_ingress cls_bpf  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq
# shellcheck source=../tests/lib/node.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT

RATES=${ENFORCER_BENCH_RATES:-"20 50"}
SECONDS_EACH=${ENFORCER_BENCH_SECONDS:-10}
RTT_MS=${ENFORCER_BENCH_RTT_MS:-0}

topo_up
[ "$RTT_MS" = 0 ] || tc -n "$WORLD" qdisc replace dev wan0 root netem delay "${RTT_MS}ms" limit 100000
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null

PORT=5300
# run_iperf ARGS...: one iperf3 run from a to the world (JSON on stdout), a server of its own.
run_iperf() {
  PORT=$((PORT + 1))
  in_world timeout $((SECONDS_EACH + 30)) iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
  local server=$!
  wait_listen "$PORT"
  in_exp a timeout $((SECONDS_EACH + 30)) iperf3 -J -c 198.18.0.1 -p "$PORT" -t "$SECONDS_EACH" "$@"
  wait "$server" || true
}
mbit() { jq -r "$1 / 1e6 | . * 10 | round / 10" "$WORK/iperf.json"; }

echo "| rate (Mbit/s each way) | RTT | download alone | upload alone | download beside upload | upload beside download |"
echo "|---:|---:|---:|---:|---:|---:|"
for rate in $RATES; do
  pinned_config "$WORK/enforcer.toml" "$rate"
  daemon_start "$WORK/enforcer.toml"
  grep -q 'egress paced (EDT)' "$WORK/enforcerd.log" || fail "egress is not paced on the fq uplink"
  run_iperf -R >"$WORK/iperf.json"
  down_alone=$(mbit .end.sum_received.bits_per_second)
  run_iperf >"$WORK/iperf.json"
  up_alone=$(mbit .end.sum_received.bits_per_second)
  run_iperf --bidir >"$WORK/iperf.json"
  up_both=$(mbit .end.sum_received.bits_per_second)
  down_both=$(mbit .end.sum_received_bidir_reverse.bits_per_second)
  daemon_stop
  echo "| $rate | ${RTT_MS} ms | $down_alone | $up_alone | $down_both | $up_both |"
done
