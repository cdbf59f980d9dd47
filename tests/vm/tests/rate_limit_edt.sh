#!/usr/bin/env bash
# vm-timeout: 900
# Bandwidth enforcement on the M-Lab replica kernel: ipvlan experiments on an eth0 with root
# qdisc fq, so egress is paced with EDT timestamps (no drops for TCP) and ingress is policed.
# Pinned rates of 10 and 50 Mbit/s (qemu's software emulation carries ~200-600 Mbit/s of TCP at
# best), one and 8 TCP flows and a UDP flood, both directions, each within ±5 % over 10 s.
# The flood offers 2x the rate, not the 5x (the kernel tier floods at 5x): before the
# EDT catch-up credit (bpf/rate.h) the 50 Mbit/s flood came out 6-16 % short here; 2x passes
# with it (50.8 Mbit/s), 5x has not been tried again yet.
# ENFORCER_TEST_RATES / ENFORCER_TEST_FLOOD_FACTOR override them (run-vm-test passes ENFORCER_* into
# the guest), e.g. ENFORCER_TEST_RATES=200 for the third rate.
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf cls_u32  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq RATES=${ENFORCER_TEST_RATES:-"10 50"} FLOOD_FACTOR=${ENFORCER_TEST_FLOOD_FACTOR:-2}
exec "$ENFORCER_SOURCE_DIR/tests/kernel/rate_limit.sh"
