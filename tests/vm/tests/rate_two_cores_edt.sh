#!/usr/bin/env bash
# vm-timeout: 300
# Shared limiter state under packets from both (emulated) CPUs on the M-Lab replica kernel: the
# kernel tier's two-core test (tests/kernel/rate_two_cores.sh) with ipvlan experiments on an fq
# eth0, so egress is paced (EDT) and ingress policed, at 20 Mbit/s.
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq RATE=${RATE:-20}
exec "$ENFORCER_SOURCE_DIR/tests/kernel/rate_two_cores.sh"
