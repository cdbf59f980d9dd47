#!/usr/bin/env bash
# kernel tier, acceptance: two experiments (macvlan on the uplink, each in its own namespace
# with its own IPv4 and IPv6 address); iperf3 TCP and UDP in both directions, v4 and v6. Each
# experiment's counted bytes must match the wire bytes it moved within 0.5 % (+ 2 KB), and one
# experiment's traffic must never be attributed to the other.
# Wire bytes (every segment of a TCP aggregate with its own headers; the interface counters count
# skb->len, 2-5 % less for bulk TCP) come from root qdiscs (lib.sh: add_root_qdisc): egress, the
# experiment's own net1's, which sees its packets before the uplink; ingress, the world's wan0's,
# which sends everything the uplink receives: the runs are one experiment at a time, nothing is
# dropped, so its delta is what went to that experiment (and a few ARP/NDP frames, the slack).
# The vm tier runs this same script with EXP_LINK_KIND=ipvlan on an eth0 with root qdisc fq.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
topo_add_experiment b 198.18.0.12 2001:db8::12
write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"'

[[experiment]]
name = "b"
addresses = ["198.18.0.12/32", "2001:db8::12/128"]'
for x in a b; do add_root_qdisc "$P-$x" net1; done
add_root_qdisc "$WORLD" wan0
assert_root_qdisc "before attach"
daemon_start "$WORK/enforcer.toml"
assert_root_qdisc "after attach"
in_world timeout 900 iperf3 -s -p 5201 >/dev/null 2>&1 &
wait_listen 5201

DURATION=${IPERF_SECONDS:-2}
UDP_RATE=${UDP_RATE:-300M}
MIN_RUN_BYTES=${MIN_RUN_BYTES:-10000000}  # a run must move at least this much to be judged
# Neighbour discovery first, so that the runs below are pure data.
for x in a b; do
  in_exp $x ping -c1 -W2 198.18.0.1 >/dev/null
  in_exp $x ping -6 -c1 -W2 2001:db8::1 >/dev/null
done
sleep 0.3

# counted EXP DIRECTION FILE: the bytes charged to EXP in DIRECTION, from a saved scrape.
counted() { metric enforcer_experiment_bytes_total "direction=\"$2\",experiment=\"$1\"" "$3"; }

# One run: EXP, iperf3 arguments. Checks the deltas of both experiments in both directions.
run() {
  local exp=$1 other
  shift
  [ "$exp" = a ] && other=b || other=a
  wait_ticks
  local c_tx c_rx i_tx i_rx o_tx o_rx before=$WORK/before.prom after=$WORK/after.prom
  scrape >"$before"
  c_tx=$(counted "$exp" egress "$before")
  c_rx=$(counted "$exp" ingress "$before")
  o_tx=$(counted "$other" egress "$before")
  o_rx=$(counted "$other" ingress "$before")
  i_tx=$(qdisc_sent "$P-$exp" net1)
  i_rx=$(qdisc_sent "$WORLD" wan0)
  local oi_tx oi_rx s_tx s_rx
  oi_tx=$(qdisc_sent "$P-$other" net1)
  oi_rx=$(iface_bytes "$other" rx)  # idle: no aggregates
  s_tx=$(iface_bytes "$exp" tx)
  s_rx=$(iface_bytes "$exp" rx)

  log "experiment $exp: iperf3 $*"
  in_exp "$exp" timeout 30 iperf3 -p 5201 -t "$DURATION" "$@" >"$WORK/iperf.log" 2>&1 ||
    { cat "$WORK/iperf.log"; fail "iperf3 $* failed"; }
  wait_ticks 0.6

  local d_ctx d_crx d_itx d_irx
  d_itx=$(($(qdisc_sent "$P-$exp" net1) - i_tx))
  d_irx=$(($(qdisc_sent "$WORLD" wan0) - i_rx))
  log "$exp: wire bytes out $d_itx, in $d_irx; interface (skb->len) out $(($(iface_bytes "$exp" tx) - s_tx)), in $(($(iface_bytes "$exp" rx) - s_rx))"
  scrape >"$after"
  d_ctx=$(($(counted "$exp" egress "$after") - c_tx))
  d_crx=$(($(counted "$exp" ingress "$after") - c_rx))
  # Slack: a few ARP/NDP frames that the interface counts and the uplink does not attribute.
  within "$d_itx" "$d_ctx" 0.5 2048 "$exp egress bytes ($*)"
  within "$d_irx" "$d_crx" 0.5 2048 "$exp ingress bytes ($*)"
  [ "$d_itx" -gt "$MIN_RUN_BYTES" ] || [ "$d_irx" -gt "$MIN_RUN_BYTES" ] ||
    fail "run moved too little to judge ($d_itx out, $d_irx in)"
  # The idle experiment is charged only what its own interface moved (ARP/NDP at most; the
  # slack covers a neighbour packet that falls between reading the metric and the interface).
  local d_otx d_orx
  d_otx=$(($(counted "$other" egress "$after") - o_tx))
  d_orx=$(($(counted "$other" ingress "$after") - o_rx))
  [ "$d_otx" -le $(($(qdisc_sent "$P-$other" net1) - oi_tx + 2048)) ] ||
    fail "$other was charged $d_otx egress bytes of $exp's traffic"
  [ "$d_orx" -le $(($(iface_bytes "$other" rx) - oi_rx + 2048)) ] ||
    fail "$other was charged $d_orx ingress bytes of $exp's traffic"
}

run a -c 198.18.0.1                       # TCP v4 egress
run a -c 198.18.0.1 -R                    # TCP v4 ingress
run b -c 2001:db8::1 -6                   # TCP v6 egress
run b -c 2001:db8::1 -6 -R                # TCP v6 ingress
run a -c 198.18.0.1 -u -b "$UDP_RATE"     # UDP v4 egress
run b -c 198.18.0.1 -u -b "$UDP_RATE" -R  # UDP v4 ingress
run a -c 2001:db8::1 -6 -u -b "$UDP_RATE" -R  # UDP v6 ingress
run b -c 2001:db8::1 -6 -u -b "$UDP_RATE"     # UDP v6 egress

# Traffic of nobody's address on the uplink is counted as unattributed.
un=$(metric enforcer_unattributed_bytes_total 'direction="ingress"')
[ "$un" -gt 0 ] || fail "no unattributed ingress bytes (ARP broadcasts should be)"
daemon_stop
assert_root_qdisc "after detach"
log "PASS"
