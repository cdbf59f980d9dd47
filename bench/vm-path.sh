#!/usr/bin/env bash
# bench/vm-path.sh: what the vm tier's guest can carry at all, with no enforcer: the topology of
# vm.rate_limit_edt (ipvlan experiment on an eth0 with root qdisc fq) without daemon or programs,
# one TCP flow, 8 TCP flows and a UDP flood (iperf3 -b 1000M), egress and ingress, measured on the
# wire as the rate tests measure it (tests/lib/node.sh: wire_sample). The guest is emulated (TCG):
# its capacity swings from run to run with the host's other work (bare UDP measured 67 and 146
# Mbit/s an hour apart on the same idle-looking host), so a rate test in the guest at a rate near
# these figures says nothing about enforcer. Run it from the host, just before such a test:
#
#   ENFORCER_BUILD_DIR=$PWD/build tests/vm/run-vm-test bench/vm-path.sh --timeout 300
#
# ENFORCER_BENCH_RUN_SECONDS (10) is the measured window of each run.
set -euo pipefail
[ "${ENFORCER_VM:-}" = 1 ] || { echo "run this through tests/vm/run-vm-test (see its header)" >&2; exit 1; }
modprobe -a veth ipvlan sch_fq sch_ingress cls_u32
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT
SECONDS_RUN=${ENFORCER_BENCH_RUN_SECONDS:-10}

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
wire_meters_up a

PORT=5500
# run DIRECTION WHAT IPERF-ARGS...: prints a table row, the wire rate over SECONDS_RUN.
run() {
  local dir=$1 what=$2
  shift 2
  local extra=()
  [ "$dir" = ingress ] && extra=(-R)
  PORT=$((PORT + 1))
  in_world timeout $((SECONDS_RUN + 60)) iperf3 -s -1 -p "$PORT" >/dev/null 2>&1 &
  wait_listen "$PORT"
  in_exp a timeout $((SECONDS_RUN + 30)) iperf3 -p "$PORT" -c 198.18.0.1 -t $((SECONDS_RUN + FLOW_EXTRA_SECONDS)) \
    "${extra[@]}" "$@" >"$WORK/iperf.log" 2>&1 &
  local iperf=$!
  sleep 1
  local rate
  rate=$(wire_window "$dir" a "$SECONDS_RUN")
  flow_outlived_window "$iperf" "$dir $what" "$WORK/iperf.log"
  wait "$iperf" || { cat "$WORK/iperf.log"; fail "iperf3 $* failed"; }
  printf '| %s | %s | %s |\n' "$dir" "$what" \
    "$(awk -v r="$rate" 'BEGIN { printf "%.1f", r / 1e6 }')"
}

echo "| direction | traffic | wire Mbit/s (no enforcer) |"
echo "|---|---|---:|"
for dir in egress ingress; do
  run "$dir" "1 TCP flow"
  run "$dir" "8 TCP flows" -P 8
  run "$dir" "UDP, iperf3 -b 1000M" -u -b 1000M
done
