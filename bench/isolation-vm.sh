#!/usr/bin/env bash
# bench/isolation-vm.sh: does a neighbour disturb an experiment's measurement? M-Lab allocates
# resources so that no experiment disturbs the measurements of the others; this measures it on
# the vm tier's replica (fq root on eth0, so egress is paced with EDT; ipvlan experiments).
#
# The path to the world has a bottleneck shared by every experiment, as a site's uplink: the
# world's ingress is redirected to an ifb that carries LINK Mbit/s (tbf, a queue of QUEUE_MS at
# that rate) and delays it DELAY ms (netem; one way, so DELAY is the path's base RTT). Experiment ndt runs a speed test, one BBR flow (as ndt7) to the world
# for SECONDS with a ping every 0.1 s beside it, while its neighbour
#   solo        is idle;
#   held UDP    floods UDP at 10x its allocation, and is held to it (pinned at HELD Mbit/s, what
#               a spent budget does);
#   unheld UDP  the control for held UDP: UDP at HELD Mbit/s sent by a third experiment with
#               budget left, not held: what the neighbour's allowed rate costs in the shared queue
#               whoever limits it (iperf3: one datagram per send);
#   unheld GSO  the same with the held flood's own sender (udp_flood: GSO sends of up to 64 KB,
#               which leave as bursts at the link's speed whoever paces them);
#   held TCP    sends 8 TCP flows, held the same way;
#   unheld TCP  the control for held TCP: 8 TCP flows that send HELD Mbit/s in all by themselves
#               (iperf3 -b, a third experiment with budget left): what 8 slow flows cost the
#               guest whoever holds them;
#   bursting    a third experiment with budget left: one TCP flow (Cubic) at the path's speed.
# Each case ROUNDS times; the table gives ndt's throughput (median of the rounds, min-max), as a
# share of solo, its median RTT and the increase over solo, and the neighbour's rate on its link.
# Targets (issue 21): a held neighbour leaves ndt >= 95 % of solo and <= 1 ms more RTT; a
# bursting one leaves it at least its fair share of the link (half). Run it from the host:
#
#   ENFORCER_BUILD_DIR=$PWD/build tests/vm/run-vm-test bench/isolation-vm.sh --timeout 900
#
# ENFORCER_BENCH_LINK_MBIT (200), ENFORCER_BENCH_DELAY_MS (10), ENFORCER_BENCH_QUEUE_MS (20),
# ENFORCER_BENCH_HELD_MBIT (5), ENFORCER_BENCH_SECONDS (10), ENFORCER_BENCH_ROUNDS (3),
# ENFORCER_BENCH_CASES (all of the above, by the names in the table: solo held-udp unheld-udp
# unheld-gso held-tcp unheld-tcp bursting; solo is required). About 16 s per case and round.
# Results: docs/performance.md.
set -euo pipefail
[ "${ENFORCER_VM:-}" = 1 ] || { echo "run this through tests/vm/run-vm-test (see its header)" >&2; exit 1; }
modprobe -a veth ipvlan sch_fq sch_netem sch_tbf sch_ingress cls_bpf ifb act_mirred cls_matchall tcp_bbr
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq
# shellcheck source=../tests/lib/node.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT

LINK=${ENFORCER_BENCH_LINK_MBIT:-200}
DELAY=${ENFORCER_BENCH_DELAY_MS:-10}
QUEUE_MS=${ENFORCER_BENCH_QUEUE_MS:-20}
HELD=${ENFORCER_BENCH_HELD_MBIT:-5}
SECONDS_EACH=${ENFORCER_BENCH_SECONDS:-10}
ROUNDS=${ENFORCER_BENCH_ROUNDS:-3}
UDP_FLOOD=$ENFORCER_BUILD_DIR/tests/kernel/udp_flood
[ -x "$UDP_FLOOD" ] || fail "$UDP_FLOOD is missing (build the project first)"

topo_up
topo_add_experiment ndt 198.18.0.10 2001:db8::10
topo_add_experiment nb 198.18.0.11 2001:db8::11
topo_add_experiment bst 198.18.0.12 2001:db8::12
# The bottleneck: everything the world receives passes ifb0's netem first.
ip -n "$WORLD" link add ifb0 type ifb
ip -n "$WORLD" link set ifb0 up
# tbf holds the rate with a byte-sized queue (QUEUE_MS at the rate): netem's own limit counts
# packets, and what arrives from the veth are GRO aggregates of up to 64 KB each.
tc -n "$WORLD" qdisc add dev ifb0 root handle 1: tbf rate "${LINK}mbit" burst 32k latency "${QUEUE_MS}ms"
tc -n "$WORLD" qdisc add dev ifb0 parent 1: handle 10: netem delay "${DELAY}ms" limit 100000
tc -n "$WORLD" qdisc add dev wan0 handle ffff: ingress
tc -n "$WORLD" filter add dev wan0 parent ffff: matchall action mirred egress redirect dev ifb0

write_config "$WORK/enforcer.toml" "$(experiment_toml ndt 198.18.0.10 2001:db8::10)
$(experiment_toml nb 198.18.0.11 2001:db8::11)
pinned_rate = \"${HELD}Mbit\"
$(experiment_toml bst 198.18.0.12 2001:db8::12)"
daemon_start "$WORK/enforcer.toml"
grep -q 'egress paced (EDT)' "$(daemon_log)" || fail "egress is not paced on the fq uplink"
for x in ndt nb bst; do in_exp "$x" ping -c1 -W2 198.18.0.1 >/dev/null; done

in_world timeout 3600 iperf3 -s -p 5201 >/dev/null 2>&1 &
in_world timeout 3600 iperf3 -s -p 5202 >/dev/null 2>&1 &
wait_listen 5201
wait_listen 5202

# neighbour CASE: starts the neighbour's traffic for the case (NB_PID, NB_EXP), nothing for solo.
neighbour() {
  NB_PID='' NB_EXP=nb
  local span=$((SECONDS_EACH + 4))
  case $1 in
    solo) return 0 ;;
    held-udp)
      in_world timeout $((span + 30)) "$UDP_FLOOD" sink 5300 $((span + 2)) >/dev/null &
      sleep 0.3
      nsenter --net="/run/netns/$P-nb" timeout $((span + 30)) "$UDP_FLOOD" send 198.18.0.1 5300 $((HELD * 10)) "$span" >/dev/null 2>&1 &
      ;;
    unheld-udp)
      # iperf3 sends its datagrams one by one: the same rate without GSO's bursts.
      NB_EXP=bst
      nsenter --net="/run/netns/$P-bst" timeout $((span + 30)) iperf3 -c 198.18.0.1 -p 5202 -u -l 1400 -b "${HELD}M" -t "$span" >/dev/null 2>&1 &
      ;;
    unheld-gso)
      # The held flood's own sender at the held rate, not held: udp_flood's GSO sends (up to 44
      # datagrams, 64 KB, each) leave as bursts at the link's speed, paced by EDT or not.
      NB_EXP=bst
      in_world timeout $((span + 30)) "$UDP_FLOOD" sink 5301 $((span + 2)) >/dev/null &
      sleep 0.3
      nsenter --net="/run/netns/$P-bst" timeout $((span + 30)) "$UDP_FLOOD" send 198.18.0.1 5301 "$HELD" "$span" >/dev/null 2>&1 &
      ;;
    held-tcp)
      nsenter --net="/run/netns/$P-nb" timeout $((span + 30)) iperf3 -c 198.18.0.1 -p 5202 -P 8 -t "$span" >/dev/null 2>&1 &
      ;;
    unheld-tcp)
      NB_EXP=bst
      nsenter --net="/run/netns/$P-bst" timeout $((span + 30)) iperf3 -c 198.18.0.1 -p 5202 -P 8 -b "$((HELD * 1000 / 8))K" -t "$span" >/dev/null 2>&1 &
      ;;
    bursting)
      NB_EXP=bst
      nsenter --net="/run/netns/$P-bst" timeout $((span + 30)) iperf3 -c 198.18.0.1 -p 5202 -C cubic -t "$span" >/dev/null 2>&1 &
      ;;
  esac
  NB_PID=$!
  sleep 2 # the neighbour at its pace before the speed test starts
}

# round CASE: prints "MBIT RTT_MS NEIGHBOUR_MBIT" for one speed test beside the case's neighbour.
round() {
  local ping_pid nb0 nb1 t0 mbit rtt nb_mbit
  neighbour "$1"
  nb0=$(iface_bytes "$NB_EXP" tx)
  t0=$EPOCHREALTIME
  in_exp ndt ping -i 0.1 -c $((SECONDS_EACH * 10)) 198.18.0.1 >"$WORK/ping.txt" 2>&1 &
  ping_pid=$!
  in_exp ndt timeout $((SECONDS_EACH + 30)) iperf3 -J -c 198.18.0.1 -p 5201 -C bbr -t "$SECONDS_EACH" >"$WORK/iperf.json" ||
    { cat "$WORK/iperf.json"; fail "ndt's speed test failed ($1)"; }
  nb1=$(iface_bytes "$NB_EXP" tx)
  nb_mbit=$(awk -v b=$((nb1 - nb0)) -v s="$(seconds_since "$t0")" 'BEGIN { printf "%.1f", b * 8 / s / 1e6 }')
  wait "$ping_pid" || true
  [ -z "$NB_PID" ] || { wait "$NB_PID" || true; }
  mbit=$(jq -r '.end.sum_received.bits_per_second / 1e6 | . * 10 | round / 10' "$WORK/iperf.json")
  rtt=$(sed -n 's/.* time=\([0-9.]*\) ms.*/\1/p' "$WORK/ping.txt" | median)
  [ -n "$rtt" ] || fail "no ping answered during ndt's speed test ($1)"
  echo "$mbit $rtt $nb_mbit"
}

declare -A MBIT=() RTT=() NB=()
CASES=${ENFORCER_BENCH_CASES:-solo held-udp unheld-udp unheld-gso held-tcp unheld-tcp bursting}
case " $CASES " in *" solo "*) ;; *) fail "ENFORCER_BENCH_CASES must include solo (the baseline)" ;; esac
for r in $(seq "$ROUNDS"); do
  for c in $CASES; do
    round "$c" >"$WORK/round.txt"
    read -r m t n <"$WORK/round.txt"
    log "round $r, $c: ndt $m Mbit/s, RTT $t ms; neighbour $n Mbit/s"
    MBIT[$c]+=" $m" RTT[$c]+=" $t" NB[$c]+=" $n"
  done
done
daemon_stop

minmax() { tr ' ' '\n' | grep -v '^$' | sort -g | sed -n '1p;$p' | paste -sd- -; }
solo=$(median <<<"${MBIT[solo]}")
solo_rtt=$(median <<<"${RTT[solo]}")
echo
echo "Link $LINK Mbit/s, $DELAY ms one way, a $QUEUE_MS ms queue; ndt: one BBR flow for $SECONDS_EACH s; medians of $ROUNDS rounds (min-max)."
echo
echo "| neighbour | ndt Mbit/s | of solo | ndt RTT (ms) | RTT added (ms) | neighbour Mbit/s | target |"
echo "|---|---:|---:|---:|---:|---:|---|"
for c in $CASES; do
  m=$(median <<<"${MBIT[$c]}")
  t=$(median <<<"${RTT[$c]}")
  share=$(awk -v m="$m" -v s="$solo" 'BEGIN { printf "%.1f %%", 100 * m / s }')
  added=$(awk -v t="$t" -v s="$solo_rtt" 'BEGIN { printf "%+.2f", t - s }')
  case $c in
    solo) target='' what='idle' ;;
    held-*)
      what="UDP flood at 10x, held to $HELD Mbit/s"
      [ "$c" = held-tcp ] && what="8 TCP flows, held to $HELD Mbit/s by enforcer"
      target=$(awk -v m="$m" -v s="$solo" -v t="$t" -v r="$solo_rtt" \
        'BEGIN { print (m >= 0.95 * s && t - r <= 1) ? "met (>= 95 %, <= 1 ms)" : "missed (>= 95 %, <= 1 ms)" }')
      ;;
    unheld-udp)
      what="UDP at $HELD Mbit/s by itself (iperf3 -u -b; not held)"
      target=''
      ;;
    unheld-gso)
      what="UDP GSO at $HELD Mbit/s by itself (udp_flood; not held)"
      target=''
      ;;
    unheld-tcp)
      what="8 TCP flows at $HELD Mbit/s in all by themselves (iperf3 -b; not held)"
      target=''
      ;;
    bursting)
      what='1 Cubic flow, budget left'
      target=$(awk -v m="$m" -v s="$solo" 'BEGIN { print (m >= 0.5 * s) ? "met (>= half)" : "missed (>= half)" }')
      ;;
  esac
  echo "| $what | $m ($(minmax <<<"${MBIT[$c]}")) | $share | $t ($(minmax <<<"${RTT[$c]}")) | $added | $(median <<<"${NB[$c]}") | $target |"
done
