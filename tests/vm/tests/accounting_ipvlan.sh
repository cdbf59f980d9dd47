#!/usr/bin/env bash
# vm-timeout: 480
# The kernel tier's accounting test on the M-Lab replica kernel: experiments are ipvlan (L2)
# interfaces on an eth0 whose root qdisc is fq, as on an M-Lab node. Checks that every
# experiment's counted bytes match its interface's counters (TCP and UDP, both directions, v4
# and v6), that nothing is attributed to the wrong experiment, and that fq stays the root qdisc
# through attach and detach. Rates are sized for qemu's software emulation (~200 Mbit/s).
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq IPERF_SECONDS=${IPERF_SECONDS:-2} UDP_RATE=${UDP_RATE:-40M}
export MIN_RUN_BYTES=${MIN_RUN_BYTES:-3000000}
exec "$ENFORCER_SOURCE_DIR/tests/kernel/accounting_topology.sh"
