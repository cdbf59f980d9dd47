#!/usr/bin/env bash
# bench/shapers-vm.sh: bench/shapers.sh in the vm tier's guest (Debian 6.1 kernel under qemu, see
# tests/vm/README.md), where the uplink eth0 has root qdisc fq as on an M-Lab node and the
# experiment is an ipvlan: enforcer with EDT pacing (enforcer-edt), enforcer policing (the root
# qdisc stays fq), tbf and htb (each replacing fq for its runs; htb's leaf is fq_codel here).
# The guest is emulated (TCG, ~150-370 Mbit/s of TCP at best, a busy host makes it slower), so the
# rates are 10, 50 and 100 Mbit/s and the runs short. Run it from the host:
#
#   ENFORCER_BUILD_DIR=$PWD/build tests/vm/run-vm-test bench/shapers-vm.sh --timeout 1500 \
#     --results-dir /tmp/shapers-vm
#
# The table is on the console and in shapers.md of the results folder. run-vm-test passes only
# ENFORCER_* variables into the guest: ENFORCER_BENCH_RATES ("10 50 100"), ENFORCER_BENCH_SHAPERS
# ("enforcer-edt enforcer tbf htb"), ENFORCER_BENCH_FLOWS ("1"; "1 8" for the CPU per GB of one
# flow and of eight), ENFORCER_BENCH_ROUNDS (1; 3 or more tell a bias from scatter in the
# accuracy table), ENFORCER_BENCH_RTT_MS (a delay on
# the world's side: 20 and 80 are a WAN's), ENFORCER_BENCH_RUN_SECONDS (15; the
# window is second 2 to 12: starting a process takes 0.1-1 s in the guest). About 45 s per rate,
# shaper and round, plus the boot: ~10 minutes. The guest's CPU is the bottleneck: a host busy with
# other work shows as rates below the limit for every shaper (compare goodput_mbit in the raw
# values; window_s says how long the window really was).
set -euo pipefail
[ "${ENFORCER_VM:-}" = 1 ] || { echo "run this through tests/vm/run-vm-test (see its header)" >&2; exit 1; }
modprobe -a veth ipvlan sch_fq sch_tbf sch_htb sch_fq_codel sch_netem sch_ingress cls_bpf cls_u32
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq HTB_LEAF=fq_codel
export RATES=${ENFORCER_BENCH_RATES:-10 50 100}
export SHAPERS=${ENFORCER_BENCH_SHAPERS:-enforcer-edt enforcer tbf htb}
export FLOWS=${ENFORCER_BENCH_FLOWS:-1}
export ROUNDS=${ENFORCER_BENCH_ROUNDS:-1}
export RUN_SECONDS=${ENFORCER_BENCH_RUN_SECONDS:-15} TAIL_SECONDS=3
export RTT_MS=${ENFORCER_BENCH_RTT_MS:-}
"$ENFORCER_SOURCE_DIR/bench/shapers.sh" | tee "${ENFORCER_VM_RESULTS:-/tmp}/shapers.md"
