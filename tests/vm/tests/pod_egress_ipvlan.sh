#!/usr/bin/env bash
# vm-timeout: 240
# The kernel tier's pod egress test on the M-Lab replica kernel: the experiments are ipvlan (L2)
# interfaces on an eth0 whose root qdisc is fq (egress paced), the pod a cgroup on the guest's
# cgroup v2. A pod's egress from an unconfigured address and from another experiment's address is
# charged to its own experiment and held to its rate.
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq
exec "$ENFORCER_SOURCE_DIR/tests/kernel/pod_egress.sh"
