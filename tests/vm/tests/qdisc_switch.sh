#!/usr/bin/env bash
# vm-timeout: 300
# enforcement = "auto" follows the uplink's root qdisc while the daemon runs (M-Lab replica
# kernel, which has fq): the operator replaces fq with pfifo, and within a few ticks egress is
# policed (tc_egress) instead of paced; fq comes back, and egress is paced (tc_egress_edt) again;
# then mq with fq on each of the uplink's 4 transmit queues (the usual multi-queue NIC setup) is
# paced too.
# The programs are swapped in place (BPF_TC_F_REPLACE), so a TCP flow pinned to RATE Mbit/s
# keeps its rate through both swaps (the schedule in the shapers map is shared by both programs);
# the operator's qdisc is never touched. The first packets after a swap to EDT may meet a
# schedule that policing left up to its burst (500 ms) ahead; that is within EDT's horizon. Until
# the daemon sees that fq is gone (a tick or two), the EDT program's departure times are ignored
# and the flow leaves at line rate until its schedule is EDT's horizon (2 s) ahead; policing then
# keeps that schedule and holds the flow until it is paid back. So each phase is measured after
# a horizon's settling, and held to the rate; the whole run, settling included, carries the rate
# and at most the one burst policing admits.
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf cls_u32  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq UPLINK_QUEUES=4
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT

RATE=${RATE:-20}  # Mbit/s
PHASE_SECONDS=${PHASE_SECONDS:-6}
SETTLE_SECONDS=2.5  # EDT's horizon (edt_horizon, lib/bandwidth/limiter.hpp) and a tick
topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
pinned_config "$WORK/enforcer.toml" "$RATE"
daemon_start "$WORK/enforcer.toml"

egress_prog() { in_node tc filter show dev eth0 egress | grep 'handle 0xe4f0' | grep -o 'tc_[a-z_]*' | head -1; }
root_qdisc() { in_node tc qdisc show dev eth0 root | awk '{print $2; exit}'; }
# wait_prog NAME: up to 3 s for the egress program to become NAME.
egress_runs() { [ "$(egress_prog)" = "$1" ]; }
wait_prog() {
  wait_until 3 egress_runs "$1" || fail "egress runs '$(egress_prog)', expected $1 (root qdisc $(root_qdisc))"
  log "ok: egress runs $1 under root qdisc $(root_qdisc)"
}
# What the world received in wire bytes (the limit's unit; the root qdisc, which would count
# them on the sending side, is what this test swaps).
rx_meter_up "$WORLD" wan0
rx() { rx_wire_sample "$WORLD" wan0 "$1"; }  # start|end
rate_since() { wire_rate "$1" "$(rx end)"; }  # SAMPLE0: bit/s since then

wait_prog tc_egress_edt
in_world timeout 160 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
wait_listen 5201
# Longer than the phases can take under emulation; stopped after the last phase.
in_exp a timeout 150 iperf3 -c 198.18.0.1 -p 5201 -t 120 >"$WORK/iperf.log" 2>&1 &
iperf=$!
sleep 1.5
s0=$(rx start)
rates=()
# phase: PHASE_SECONDS of traffic under the current qdisc; its rate goes to `rates`.
phase() {
  local ps
  ps=$(rx start)
  sleep "$PHASE_SECONDS"
  rates+=("$(rate_since "$ps")")
  log "$(root_qdisc): $(rate_since "$ps") bit/s, dropped $(metric enforcer_experiment_dropped_packets_total 'direction="egress",experiment="a"')"
}
phase
for step in pfifo fq mq; do
  if [ "$step" = mq ]; then
    # Until fq is on every queue, mq's default children ignore the timestamps: policed meanwhile.
    in_node tc qdisc replace dev eth0 root handle 1: mq
    for q in 1 2 3 4; do in_node tc qdisc replace dev eth0 parent "1:$q" fq; done
  else
    in_node tc qdisc replace dev eth0 root "$step"
  fi
  [ "$(root_qdisc)" = "$step" ] || fail "could not set the root qdisc to $step"
  if [ "$step" = pfifo ]; then wait_prog tc_egress; else wait_prog tc_egress_edt; fi
  sleep "$SETTLE_SECONDS"
  phase
done
s1=$(rx end)
total=$(wire_rate "$s0" "$s1")
seconds=$(awk -v a="${s0%% *}" -v b="${s1%% *}" 'BEGIN { printf "%.3f\n", b - a }')
kill -0 "$iperf" 2>/dev/null || { cat "$WORK/iperf.log"; fail "iperf3 ended before the last phase did"; }
pkill -KILL -P "$iperf" || true  # iperf3, under its `timeout`
wait "$iperf" || true
grep -q 'root qdisc is now pfifo: egress policed' "$WORK/enforcerd.log" || fail "the switch to policing was not logged"
grep -q 'root qdisc is now fq: egress paced (EDT)' "$WORK/enforcerd.log" || fail "the switch back to EDT was not logged"
grep -q 'root qdisc is now mq with fq on all 4 queues: egress paced (EDT)' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "the switch to mq with fq was not logged"; }
log "rates of the four phases, fq, pfifo, fq, mq+fq (bit/s): ${rates[*]}"
for i in 0 1 2 3; do
  within $((RATE * 1000000)) "${rates[$i]}" 5 0 "egress in phase $((i + 1)) of 4 (bit/s)"
done
# Over the whole run, through the swaps: within 5 % of the pinned rate, plus one burst each time
# policing takes over from pacing with a full bucket (max(rate x 500 ms, 512 KiB),
# lib/bandwidth/limiter.hpp): at pfifo, and perhaps while mq's queues are moved to fq one by one.
burst_bits=$((2 * (RATE * 1000000 / 2 > 512 * 1024 * 8 ? RATE * 1000000 / 2 : 512 * 1024 * 8)))
slack=$(awk -v b="$burst_bits" -v s="$seconds" 'BEGIN { printf "%.0f\n", b / s }')
within $((RATE * 1000000)) "$total" 5 "$slack" "egress through three qdisc swaps at ${RATE}Mbit pinned over ${seconds}s (bit/s)"
[ "$(root_qdisc)" = mq ] || fail "the root qdisc is '$(root_qdisc)', not the operator's mq"
daemon_stop
[ "$(root_qdisc)" = mq ] || fail "after stop, the root qdisc is '$(root_qdisc)', not the operator's mq"
log "PASS"
