#!/usr/bin/env bash
# vm-timeout: 300
# Shared limiter state under packets from both (emulated) CPUs on the M-Lab replica kernel: the
# kernel tier's two-core test (tests/kernel/rate_two_cores.sh) with ipvlan experiments on an fq
# eth0, so egress is paced (EDT) and ingress policed, at 20 Mbit/s.
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf cls_u32  # clsact lives in sch_ingress
# The egress flood at 2x, as in rate_limit_edt.sh (5x is not proven in the vm yet). Up to 10 %
# below the rate passes here: a fresh-clone run on a quiet host measured 18.7 of 20 Mbit/s with
# both CPUs carrying half (a paced UDP queue of 64 packets, 38 ms at this rate, drains whenever
# the guest's senders are descheduled longer than that); more than +5 % still fails, which is
# what a lost update between the CPUs would cause.
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq RATE=${RATE:-20} EGRESS_FLOOD=${EGRESS_FLOOD:-2}
export UNDERSHOOT_PCT=${UNDERSHOOT_PCT:-10}
exec "$ENFORCER_SOURCE_DIR/tests/kernel/rate_two_cores.sh"
