#!/usr/bin/env bash
# vm-timeout: 600
# Paced rates over a WAN-like round trip: the M-Lab replica's egress (ipvlan experiments, eth0
# with root qdisc fq, so EDT) with 80 ms of delay on the world's side (netem), pinned 10, 50 and
# 200 Mbit/s, one TCP flow (with the experiment's ping) and 8, each within ±5 % over 10 s, and
# not one TCP packet dropped by the limit. Over microseconds of RTT (rate_limit_edt.sh) a flow
# that lost its rate would win it back at once; at 80 ms a backed-off Cubic flow takes seconds.
# Socket buffers are raised to 64 MB, as on a measurement server. The policed direction over such
# a path is measured in bench/rate-rtt-vm.sh, not asserted: one Cubic flow lands at 70-95 % of a
# 200 Mbit/s policed rate depending on where its losses after slow start leave its window.
# About 2 minutes (the 20 ms case, in the bench, passes the same way).
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_netem sch_ingress cls_bpf cls_u32  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq RTT_MS=80 UDP_CASES=0 DIRECTIONS=egress \
  RATES=${ENFORCER_TEST_RATES:-"10 50 200"}
exec "$ENFORCER_SOURCE_DIR/tests/kernel/rate_limit.sh"
