#!/usr/bin/env bash
# bench/rate-rtt-vm.sh: pinned rates over a WAN-like round trip, in the vm tier's guest (netem; the
# host's kernel has none). tests/kernel/rate_limit.sh with RTT_MS of delay on the world's side,
# TCP only (one flow with the experiment's ping, and eight), both directions, each case reported
# as ok or MISS against ±5 % of the rate on the wire over MEASURE_SECONDS. Run it from the host:
#
#   ENFORCER_BUILD_DIR=$PWD/build ENFORCER_BENCH_RTT_MS=80 ENFORCER_BENCH_QDISC=pfifo \
#     tests/vm/run-vm-test bench/rate-rtt-vm.sh --timeout 900
#
# ENFORCER_BENCH_QDISC: the uplink's root qdisc, fq (egress paced, EDT; the default, as on an
# M-Lab node) or pfifo (egress policed); ingress is policed either way. ENFORCER_BENCH_RTT_MS (80),
# ENFORCER_BENCH_RATES ("10 50 200" Mbit/s), ENFORCER_BENCH_MEASURE_SECONDS (10),
# ENFORCER_BENCH_DIRECTIONS ("egress ingress"), ENFORCER_BENCH_FLOWS ("1 8": one TCP flow, eight),
# ENFORCER_BENCH_ROUNDS (1: every case that many times, in one boot; one policed flow scatters
# from run to run). About 2-3 minutes per round of every case. Results: docs/performance.md.
set -euo pipefail
[ "${ENFORCER_VM:-}" = 1 ] || { echo "run this through tests/vm/run-vm-test (see its header)" >&2; exit 1; }
modprobe -a veth ipvlan sch_fq sch_netem sch_ingress cls_bpf cls_u32  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=${ENFORCER_BENCH_QDISC:-fq} RTT_MS=${ENFORCER_BENCH_RTT_MS:-80} \
  UDP_CASES=0 REPORT_ONLY=1 RATES=${ENFORCER_BENCH_RATES:-"10 50 200"} \
  MEASURE_SECONDS=${ENFORCER_BENCH_MEASURE_SECONDS:-10} \
  DIRECTIONS=${ENFORCER_BENCH_DIRECTIONS:-"egress ingress"} TCP_FLOWS=${ENFORCER_BENCH_FLOWS:-"1 8"}
rounds=${ENFORCER_BENCH_ROUNDS:-1}
for ((round = 1; round <= rounds; round++)); do
  echo "== round $round of $rounds"
  "$ENFORCER_SOURCE_DIR/tests/kernel/rate_limit.sh"
done
