#!/usr/bin/env bash
# bench/vm-pktgen.sh: a UDP flood that the vm tier's guest can offer, made in the kernel (pktgen,
# xmit_mode queue_xmit, so every packet passes tc and the qdisc) instead of by iperf3, whose
# syscall per datagram limits it to 40-146 Mbit/s in the emulated guest. The topology of
# vm.rate_limit_edt (ipvlan experiment on an eth0 with root qdisc fq); one run with no enforcer,
# then one per pinned rate: egress from the experiment's net1 (paced, EDT), ingress from the
# world's wan0 (policed). Prints what pktgen offered, what arrived on the wire over the window
# (tests/lib/node.sh: wire_sample) and what the limit dropped. Run it from the host:
#
#   ENFORCER_BUILD_DIR=$PWD/build tests/vm/run-vm-test bench/vm-pktgen.sh --timeout 300
#
# ENFORCER_BENCH_RATES ("50 200", Mbit/s) are the pinned rates; ENFORCER_BENCH_RUN_SECONDS (10)
# is the measured window of each run. The window opens 3 s into the flood: a policed flood has
# spent the bucket (500 ms of the rate) by then, so the window holds no start burst.
set -euo pipefail
[ "${ENFORCER_VM:-}" = 1 ] || { echo "run this through tests/vm/run-vm-test (see its header)" >&2; exit 1; }
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf cls_u32 pktgen
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT
RATES=${ENFORCER_BENCH_RATES:-"50 200"}
SECONDS_RUN=${ENFORCER_BENCH_RUN_SECONDS:-10}

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
wire_meters_up a

# pktgen NETNS CONTROL-FILE LINE: one command to pktgen in that namespace (pktgen is per netns).
pktgen() {
  ip netns exec "$1" sh -c "echo '$3' > /proc/net/pktgen/$2" ||
    fail "pktgen in $1 refused '$3' ($2): $(ip netns exec "$1" cat "/proc/net/pktgen/$2" 2>/dev/null | grep Result)"
}
# flood_setup egress|ingress: an endless flood of UDP frames of 1,486 bytes (pktgen's pkt_size:
# from the Ethernet header on, as the wire is counted here) from a to the world or back.
flood_setup() {
  local ns dev dst src mac
  if [ "$1" = egress ]; then
    ns=$P-a dev=net1 dst=198.18.0.1 src=198.18.0.11 mac=$(ip netns exec "$WORLD" cat /sys/class/net/wan0/address)
  else
    ns=$WORLD dev=wan0 dst=198.18.0.11 src=198.18.0.1 mac=$(ip netns exec "$P-a" cat /sys/class/net/net1/address)
  fi
  pktgen "$ns" kpktgend_0 "rem_device_all"
  pktgen "$ns" kpktgend_0 "add_device $dev"
  local c
  for c in "count 0" "pkt_size 1486" "delay 0" "clone_skb 0" "burst 1" "xmit_mode queue_xmit" \
    "dst $dst" "src_min $src" "src_max $src" "dst_mac $mac" "udp_dst_min 9" "udp_dst_max 9"; do
    pktgen "$ns" "$dev" "$c"
  done
  FLOOD_NS=$ns FLOOD_DEV=$dev
}
# run DIRECTION WHAT: prints a table row.
run() {
  local dir=$1 what=$2 drops0=0 drops1=0
  flood_setup "$dir"
  [ -z "$DAEMON_PID" ] || drops0=$(dropped_packets a "$dir")
  ip netns exec "$FLOOD_NS" sh -c 'echo start > /proc/net/pktgen/pgctrl' &
  local gen=$!
  sleep 3
  local rate
  rate=$(wire_window "$dir" a "$SECONDS_RUN")
  ip netns exec "$FLOOD_NS" sh -c 'echo stop > /proc/net/pktgen/pgctrl'
  wait "$gen" || true
  [ -z "$DAEMON_PID" ] || drops1=$(dropped_packets a "$dir")
  # Offered: every packet pktgen made, the ones the stack refused (a drop by the limit at the tc
  # hook is an error to pktgen) included, over pktgen's own run time.
  local offered
  offered=$(ip netns exec "$FLOOD_NS" cat "/proc/net/pktgen/$FLOOD_DEV" |
    awk '/pkts-sofar:/ { n = $2; e = $4 } /^Result: OK:/ { split($3, t, "("); us = t[1] }
      END { if (us > 0) printf "%.0f", (n + e) * 1486 * 8 / (us / 1e6) }')
  printf '| %s | %s | %s | %s | %d |\n' "$dir" "$what" \
    "$(awk -v r="${offered:-0}" 'BEGIN { printf "%.1f", r / 1e6 }')" \
    "$(awk -v r="$rate" 'BEGIN { printf "%.2f", r / 1e6 }')" $((drops1 - drops0))
}

echo "| direction | limit | pktgen offered, Mbit/s (its whole run) | wire Mbit/s (window) | dropped by the limit |"
echo "|---|---|---:|---:|---:|"
for dir in egress ingress; do run "$dir" "none (no daemon)"; done
for mbit in $RATES; do
  pinned_config "$WORK/enforcer.toml" "$mbit"
  daemon_start "$WORK/enforcer.toml"
  wait_ticks
  run egress "pinned ${mbit} Mbit/s (EDT)"
  run ingress "pinned ${mbit} Mbit/s (police)"
  daemon_stop
done
