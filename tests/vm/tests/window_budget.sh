#!/usr/bin/env bash
# vm-timeout: 600
# The sliding-window budget end to end on the M-Lab replica kernel (issue "bandwidth enforcement",
# acceptance 3), scaled: A = 40 Mbit/s, W = 20 s, T = 0.5 s, min_rate 1 Mbit/s; ipvlan experiments on
# an eth0 with root fq (egress paced with EDT).
#  - a sends TCP as fast as it can for 3 W: no interval of at most W, measured on its interface's
#    counters, carries more than (A + min_rate) · W (+2 %); and over the 3 W it averages A
#    (-10 %, +2 % + min_rate). A continuous sender repeats the first window's pattern (burst at
#    the path's speed, then the floor until the burst's ticks leave the window), but each repeat
#    starts d seconds late, the time TCP needs to use an allowance that comes back (its packets
#    queued at the floor must leave first): the period is W + d, so the long-run average is
#    A · W / (W + d). With the floor at 1 Mbit/s, d was ~1-2 s here (95 % at W = 20 s, > 99 %
#    at M-Lab's W = 5 min); at 0.4 Mbit/s (1 % of the scaled A) it was ~3-4 s.
#  - b stays idle, then bursts half its budget while a is held down: at ≥ 80 % of the path's
#    speed (the slower of the same transfer by idle experiments c just before and d just after,
#    through the same programs), without a throttle event; if b's transfer fell in the scatter of
#    short transfers in the guest, f (between e and g) once more.
set -euo pipefail
modprobe -a veth ipvlan sch_fq sch_ingress cls_bpf  # clsact lives in sch_ingress
export EXP_LINK_KIND=ipvlan UPLINK_QDISC=fq
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT

A_BIT=40000000
W=20
# The floor in absolute terms as on an M-Lab node (1 % of 100 Mbit/s = 1 Mbit/s), not 1 % of the
# scaled A: a TCP flow held at the floor keeps about two GSO packets (~130 KB, TCP Small Queues)
# scheduled in fq, i.e. ~1 s at 1 Mbit/s but 2.6 s at 0.4 Mbit/s, and that is how long it takes
# to start using an allowance that comes back (see the convergence check below).
MIN_RATE_BIT=${MIN_RATE_BIT:-1000000}
B_BYTES=$((A_BIT / 8 * W))  # 100 MB

topo_up
# a (the continuous sender), b (the burst), c and d (the path around it), e, f and g (the same,
# once more if needed): 198.18.0.11 to .17.
experiments=""
host=11
for x in a b c d e f g; do
  topo_add_experiment "$x" "198.18.0.$host" "2001:db8::$host"
  experiments+="
[[experiment]]
name = \"$x\"
addresses = [\"198.18.0.$host\", \"2001:db8::$host\"]
"
  host=$((host + 1))
done
in_world timeout 900 iperf3 -s -p 5201 >/dev/null 2>&1 &
in_world timeout 900 iperf3 -s -p 5202 >/dev/null 2>&1 &
wait_listen 5201 5202
for x in a b c d e f g; do in_exp $x ping -c1 -W2 198.18.0.1 >/dev/null; done

TICK=500ms WINDOW=${W}s BANDWIDTH=40Mbit write_config "$WORK/enforcer.toml" "$experiments"
# The guest's path carries ~200-600 Mbit/s: "throttled" means a limit below that.
sed -i 's/^link_rate = .*/link_rate = "500Mbit"/' "$WORK/enforcer.toml"
sed -i "s/^bandwidth = .*/&\nmin_rate = \"${MIN_RATE_BIT}bit\"/" "$WORK/enforcer.toml"
grep -q "^min_rate = \"${MIN_RATE_BIT}bit\"" "$WORK/enforcer.toml" || fail "could not set min_rate"
daemon_start "$WORK/enforcer.toml"
grep -q 'egress paced (EDT)' "$WORK/enforcerd.log" || fail "egress is not paced on the fq uplink"


# a's egress bytes, sampled by one long-running shell in its namespace (bash builtins only:
# every exec costs ~0.1 s under emulation).
ip netns exec "$P-a" bash -c 'while :; do read -r v </sys/class/net/net1/statistics/tx_bytes;
  echo "$EPOCHREALTIME $v"; sleep 1; done' >"$WORK/a.samples" &
sampler=$!

log "a sends as fast as it can for $((3 * W)) s"
in_exp a timeout $((3 * W + 30)) iperf3 -p 5201 -c 198.18.0.1 -t $((3 * W)) -J >"$WORK/a.iperf" 2>&1 &
a_iperf=$!
sleep 6  # a spent its budget in the first seconds and is held to min_rate now
# The path's speed through the same programs and under the same load: c, idle, sends what b
# will burst (short TCP transfers under emulation run well below a long one's rate). The guest's
# path speed follows the host's load: on a host busy with other work (load average 5 on 2 cores)
# b came out at 62-66 % of c in two runs; on a quiet one, 77-145 %.
# Two short transfers in a row differ by up to 1.4x here even on a quiet host, so the path is
# measured just before b (by c) and just after (by d, another idle experiment), and b is held to
# the slower of the two. Even so, one fresh-clone run in about six had b at 77 %: then f, another
# idle experiment, bursts between e and g, and that must reach 80 %.
path_speed() {  # EXPERIMENT
  in_exp "$1" timeout 60 iperf3 -p 5202 -c 198.18.0.1 -n $((B_BYTES / 2)) -J >"$WORK/path-$1.json"
  jq '.end.sum_received.bits_per_second | floor' "$WORK/path-$1.json"
}
# burst EXPERIMENT BEFORE AFTER: EXPERIMENT, idle, bursts half its budget between BEFORE's and
# AFTER's transfers of the same size; fails if it was throttled; BURST_BPS and PATH_BPS (the
# slower of BEFORE and AFTER) are its result.
burst() {
  local before after events0 events1
  before=$(path_speed "$2")
  events0=$(metric enforcer_experiment_throttle_events_total "direction=\"egress\",experiment=\"$1\"")
  log "$1 bursts half its budget"
  in_exp "$1" timeout 60 iperf3 -p 5202 -c 198.18.0.1 -n $((B_BYTES / 2)) -J >"$WORK/$1.json"
  BURST_BPS=$(jq '.end.sum_received.bits_per_second | floor' "$WORK/$1.json")
  events1=$(metric enforcer_experiment_throttle_events_total "direction=\"egress\",experiment=\"$1\"")
  after=$(path_speed "$3")
  PATH_BPS=$((before < after ? before : after))
  log "$1 burst at $BURST_BPS bit/s; path speed ($2 before, $3 after, unthrottled, while a is held down): $before, $after bit/s"
  [ "$events1" = "$events0" ] || fail "$1 was throttled during its burst"
  log "ok: $1 was not throttled"
}
fast_enough() { awk -v p="$PATH_BPS" -v b="$BURST_BPS" 'BEGIN { exit !(b >= 0.8 * p) }'; }
burst b c d
if ! fast_enough; then
  # A throttled b would run at A, 8 % of the path; 70-80 % is the scatter of short transfers.
  log "b's burst was below 80 % of the path: f, another idle experiment, bursts between e and g"
  burst f e g
fi
fast_enough || fail "the burst ran at $BURST_BPS bit/s, below 80 % of the path's $PATH_BPS"
log "ok: an idle experiment burst at $BURST_BPS bit/s ($(awk -v p="$PATH_BPS" -v b="$BURST_BPS" 'BEGIN{printf "%.0f", 100*b/p}') % of the path)"
wait "$a_iperf" || { cat "$WORK/a.iperf"; fail "a's iperf3 failed"; }
kill "$sampler"
# For a look afterwards (run-vm-test --results-dir DIR keeps them).
cp "$WORK/a.samples" "$WORK/a.iperf" "$WORK/enforcerd.log" "${ENFORCER_VM_RESULTS:-$WORK}/" 2>/dev/null || true


# Every interval of at most W between two samples, and the last W.
awk -v W="$W" -v cap=$(((A_BIT + MIN_RATE_BIT) / 8 * W)) -v A="$A_BIT" '
  { t[NR] = $1; v[NR] = $2 }
  END {
    worst = 0; j = 1
    for (i = 1; i <= NR; i++) {
      while (j < NR && t[j + 1] - t[i] <= W) j++
      d = v[j] - v[i]; if (d > worst) { worst = d; wi = i; wj = j }
    }
    printf "worst interval: %d bytes in %.2f s (cap %d bytes = (A + min_rate) x W)\n", worst, t[wj] - t[wi], cap
    if (worst > cap * 1.02) { print "FAIL: a window exceeded A + min_rate (+2 %)"; exit 1 }
    # The last 2 W of sending: a stopped at the end, so look back from its last moving sample.
    last = NR; while (last > 1 && v[last - 1] == v[last]) last--
    first = last; while (first > 1 && t[last] - t[first - 1] <= 2 * W) first--
    avg = (v[last] - v[first]) * 8 / (t[last] - t[first])
    printf "last 2 windows: %.0f bit/s over %.2f s (A = %d)\n", avg, t[last] - t[first], A
  }' "$WORK/a.samples" || fail "window check failed"
# The whole run: iperf3's receiver total over its 3 W.
a_bytes=$(jq '.end.sum_received.bytes' "$WORK/a.iperf")
lo=$((A_BIT / 8 * 3 * W * 90 / 100))
hi=$(((A_BIT + MIN_RATE_BIT) / 8 * 3 * W * 102 / 100))
log "a's total over 3 W: $a_bytes bytes ($(awk -v b="$a_bytes" -v A="$A_BIT" -v W="$W" 'BEGIN { printf "%.1f", 100 * b * 8 / (3 * W * A) }') % of A x 3 W)"
[ "$a_bytes" -ge "$lo" ] && [ "$a_bytes" -le "$hi" ] || fail "a's average over 3 W is off A: $a_bytes bytes, expected $lo..$hi"
log "PASS"
