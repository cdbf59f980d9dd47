#!/usr/bin/env bash
# vm-timeout: 900
# Bandwidth enforcement on the M-Lab replica kernel: ipvlan experiments on an eth0 with root qdisc
# fq, so egress is paced with EDT timestamps (no drops for TCP) and ingress is policed. Pinned rates
# of 10, 50 and 200 Mbit/s (qemu's software emulation carries 700-900 Mbit/s of TCP at best), one
# and 8 TCP flows (over 10 s) and a UDP flood at 5x the rate (over 5 s), each within ±5 %: egress
# floods at every rate, egress TCP at 50 Mbit/s (vm.rate_rtt_edt paces one and 8 TCP flows at 10, 50
# and 200 over 80 ms, the harder path); ingress, policed here as on the host where kernel.rate_limit
# measures it at every rate, at 50 Mbit/s only. Each case left out saves the suite about 17 s (a
# flood 12 s).
# The flood is udp_flood's (UDP GSO): iperf3's UDP, a syscall per datagram, offers only
# 40-146 Mbit/s in the guest.
# ENFORCER_TEST_RATES / ENFORCER_TEST_TCP_RATES / ENFORCER_TEST_INGRESS_RATES (none: egress only)
# / ENFORCER_TEST_FLOOD_FACTOR override them (run-vm-test passes ENFORCER_* into the guest).
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf cls_u32  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq RATES=${ENFORCER_TEST_RATES:-"10 50 200"} \
  INGRESS_RATES=${ENFORCER_TEST_INGRESS_RATES:-50} FLOOD_FACTOR=${ENFORCER_TEST_FLOOD_FACTOR:-5} \
  TCP_RATES=${ENFORCER_TEST_TCP_RATES:-50}
exec "$ENFORCER_SOURCE_DIR/tests/kernel/rate_limit.sh"
