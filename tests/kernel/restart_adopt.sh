#!/usr/bin/env bash
# kernel tier (issue "reliability", fail-static restarts): while an experiment is throttled, kill
# -9 the daemon:
#   - its rate stays limited while no daemon runs (the programs and maps stay attached and
#     pinned; measured on the world's side of the uplink);
#   - the restarted daemon adopts the pinned datapath: within a second of its start
#     enforcer_experiment_bytes_total has gone on from where it was (plus what passed while it was
#     down, counted by the adopted counters) and the window still holds the spent budget, so the
#     experiment stays throttled: no new budget, no burst at line rate after the restart;
#   - a clean stop (SIGTERM) still removes every filter and pin, and the next start resumes the
#     totals from the snapshot it wrote;
#   - restarted with the experiments in another order and a new one first, no experiment inherits
#     another's counters; with maps that no longer fit (max_experiments), they are rebuilt;
#   - a torn snapshot is reported and set aside, and the daemon starts with empty windows.
# Allocation 10 Mbit/s over a 20 s window (B = 25 MB), a UDP flood at 100 Mbit/s: the budget is
# gone after ~2.5 s, then the limit is min_rate (1 %) until the burst leaves the window ~17 s
# later; the whole kill/restart sequence fits in that stretch.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

ALLOC_MBIT=10
FLOOD_MBIT=100
DOWN_SECONDS=${DOWN_SECONDS:-5}
AFTER_SECONDS=${AFTER_SECONDS:-3}

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null

TICK=100ms WINDOW=20s BANDWIDTH=${ALLOC_MBIT}Mbit write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"

wan_rx() { netdev_bytes "$WORLD" wan0 rx; }
# rate_over SECONDS: the egress rate (bit/s) the world receives over the next SECONDS.
rate_over() {
  local b0 b1 t0 t1
  b0=$(wan_rx); t0=$(date +%s.%N)
  sleep "$1"
  b1=$(wan_rx); t1=$(date +%s.%N)
  awk -v b="$((b1 - b0))" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%d\n", b * 8 / (t1 - t0) }'
}
EG='direction="egress",experiment="a"'

in_world timeout 120 iperf3 -s -p 5201 >/dev/null 2>&1 &
wait_listen 5201
in_exp a timeout 110 iperf3 -c 198.18.0.1 -p 5201 -u -b ${FLOOD_MBIT}M -t 100 >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!

# Until the budget is spent: the limit falls from B / tick (2 Gbit/s here, which counts as
# "throttled" already with link_rate = 10Gbit) to about min_rate.
LOW=$((ALLOC_MBIT * 1000000 / 8 * 2))  # bytes/s: twice the allocation
limit() { metric enforcer_experiment_rate_limit_bytes_per_second "$EG"; }
low_limit() { local l; l=$(limit); [ "$l" -gt 0 ] && [ "$l" -le "$LOW" ]; }  # 0: unthrottled
t_flood=$EPOCHREALTIME
wait_until 15 low_limit || fail "the flood was not throttled within 15 s (limit $(limit) B/s)"
log "throttled after $(seconds_since "$t_flood") s of flood"
throttled=$(rate_over 1)
log "throttled rate: $throttled bit/s (allocation $((ALLOC_MBIT * 1000000)))"
[ "$throttled" -lt $((FLOOD_MBIT * 400000)) ] || fail "the throttled flood still reaches $throttled bit/s"

# kill -9 while throttled.
total_before=$(metric enforcer_experiment_bytes_total "$EG")
window_before=$(metric enforcer_experiment_window_bytes "$EG")
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
log "killed the daemon: bytes_total $total_before, window $window_before bytes"
in_node tc filter show dev eth0 egress | grep -q 'tc_egress' || fail "the killed daemon's egress filter is gone"
b0=$(wan_rx)
down=$(rate_over "$DOWN_SECONDS")
b1=$(wan_rx)
log "rate while no daemon runs ($DOWN_SECONDS s): $down bit/s ($((b1 - b0)) bytes)"
[ "$down" -lt $((FLOOD_MBIT * 400000)) ] ||
  fail "with the daemon down the flood reached $down bit/s (>= 40 % of $FLOOD_MBIT Mbit/s): not limited"

# Restart: the pinned datapath is adopted, counters and window go on.
daemon_start "$WORK/enforcer.toml"
sleep 0.3  # a few ticks: the first sample (the downtime's bytes) and the first limit
total_after=$(metric enforcer_experiment_bytes_total "$EG")
window_after=$(metric enforcer_experiment_window_bytes "$EG")
limit_after=$(limit)
log "restarted: bytes_total $total_after (was $total_before), window $window_after bytes (was $window_before), limit $limit_after B/s"
grep -q 'adopting the datapath a previous enforcerd left' "$WORK/enforcerd.log" ||
  { cat "$WORK/enforcerd.log"; fail "the restarted daemon did not adopt the pinned datapath"; }
[ "$total_after" -ge "$total_before" ] || fail "bytes_total went back from $total_before to $total_after"
# What passed while the daemon was down is counted (the adopted counters saw it).
awk -v d="$((total_after - total_before))" -v w="$((b1 - b0))" 'BEGIN { exit !(d >= 0.95 * w) }' ||
  fail "bytes_total grew by $((total_after - total_before)) over the restart, the world received $((b1 - b0)) while the daemon was down"
awk -v a="$window_after" -v b="$window_before" 'BEGIN { exit !(a >= 0.9 * b) }' ||
  fail "the window dropped from $window_before to $window_after bytes: a new budget"
[ "$limit_after" -gt 0 ] && [ "$limit_after" -le "$LOW" ] || fail "limit $limit_after B/s right after the restart: the budget was renewed"
after=$(rate_over "$AFTER_SECONDS")
log "rate over the first $AFTER_SECONDS s after the restart: $after bit/s"
[ "$after" -lt $((ALLOC_MBIT * 2000000)) ] ||
  fail "after the restart the flood reached $after bit/s (> 2 × the allocation): the budget was renewed"
[ "$(in_node tc filter show dev eth0 egress | grep -c 'tc_egress')" = 1 ] || fail "not exactly one egress filter after the restart"
[ "$(in_node tc filter show dev eth0 ingress | grep -c 'tc_ingress')" = 1 ] || fail "not exactly one ingress filter after the restart"

# A clean stop still means "stop enforcing": filters and pins go (the clsact qdisc was made by
# the killed instance, so it stays). The next start resumes the totals from the stop's snapshot.
total_stop=$(metric enforcer_experiment_bytes_total "$EG")
daemon_stop
[ -z "$(in_node tc filter show dev eth0 egress)" ] || fail "filters left after a clean stop"
[ -z "$(in_node tc filter show dev eth0 ingress)" ] || fail "filters left after a clean stop"
[ ! -e "$PIN_DIR" ] || fail "pins left after a clean stop: $(ls "$PIN_DIR")"
log "ok: clean stop removed filters and pins"
[ -s "$WORK/state/windows.snapshot" ] || fail "no window snapshot after a clean stop"
daemon_start "$WORK/enforcer.toml"
! grep -q 'adopting the datapath' "$WORK/enforcerd.log" || fail "adopted after a clean stop"
total_restart=$(metric enforcer_experiment_bytes_total "$EG")
log "after a clean stop and start: bytes_total $total_restart (was $total_stop at the stop)"
[ "$total_restart" -ge "$total_stop" ] || fail "bytes_total went back from $total_stop to $total_restart"

# Killed, then restarted with an experiment b inserted before a: a keeps its id (the snapshot's)
# and its totals, b takes a free id and must not inherit a's adopted counters; a's address still
# leads to a.
sleep 0.6  # a snapshot of the running daemon
total0=$(metric enforcer_experiment_bytes_total "$EG")
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
TICK=100ms WINDOW=20s BANDWIDTH=${ALLOC_MBIT}Mbit write_config "$WORK/reordered.toml" '
[[experiment]]
name = "b"
addresses = ["198.18.0.12"]

[[experiment]]
name = "a"
addresses = ["198.18.0.11", "2001:db8::11"]'
daemon_start "$WORK/reordered.toml"
grep -q 'adopting the datapath' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "not adopted"; }
sleep 0.5
total1=$(metric enforcer_experiment_bytes_total "$EG")
b_total=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="b"')
log "reordered: a's bytes_total $total1 (was $total0), b's $b_total"
[ "$b_total" -lt 100000 ] || fail "b (on a's old id) counts $b_total bytes: it inherited a's counters"
[ "$total1" -ge "$total0" ] || fail "a's bytes_total went back from $total0 to $total1 after a reorder"
sleep 0.5
total2=$(metric enforcer_experiment_bytes_total "$EG")
[ "$total2" -gt "$total1" ] || fail "a's traffic is no longer counted under its new id ($total1 -> $total2)"

# Maps that no longer fit (another max_experiments): rebuilt, logged; the totals still go on from
# the snapshot. A rebuild starts the counters from zero, so what passed between the last snapshot
# and the kill is not counted: the kill waits for a snapshot written after total3 was read.
rm -f "$WORK/state/windows.snapshot"
wait_until 5 test -s "$WORK/state/windows.snapshot" || fail "no window snapshot within 5 s"
kill -KILL "$DAEMON_PID"
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
total3=$total2
sed 's/^\[daemon\]$/[daemon]\nmax_experiments = 64/' "$WORK/reordered.toml" >"$WORK/smaller.toml"
daemon_start "$WORK/smaller.toml"
grep -q 'not adopting what a previous enforcerd left.*max_experiments' "$WORK/enforcerd.log" ||
  { cat "$WORK/enforcerd.log"; fail "no word about maps that do not fit"; }
[ "$(in_node tc filter show dev eth0 egress | grep -c 'tc_egress')" = 1 ] || fail "not exactly one egress filter after a rebuild"
total4=$(metric enforcer_experiment_bytes_total "$EG")
log "rebuilt (max_experiments 64): a's bytes_total $total4 (was at least $total3)"
[ "$total4" -ge "$total3" ] || fail "a's bytes_total went back from $total3 to $total4 after a rebuild"
daemon_stop
[ -z "$(in_node tc filter show dev eth0 egress)" ] || fail "filters left after the last clean stop"
[ ! -e "$PIN_DIR" ] || fail "pins left after the last clean stop: $(ls "$PIN_DIR")"

# A torn snapshot: reported, set aside, the daemon starts with empty windows and serves.
size=$(stat -c %s "$WORK/state/windows.snapshot")
truncate -s $((size / 2)) "$WORK/state/windows.snapshot"
daemon_start "$WORK/smaller.toml"
grep -q 'windows.snapshot: not valid JSON.*moved it to .*windows.snapshot.bad-' "$WORK/enforcerd.log" ||
  { cat "$WORK/enforcerd.log"; fail "the torn snapshot is not reported"; }
ls "$WORK/state"/windows.snapshot.bad-* >/dev/null || fail "the torn snapshot was not set aside"
metric enforcer_experiment_bytes_total "$EG" >/dev/null
log "ok: a torn snapshot is set aside: $(grep -o 'windows.snapshot: .*' "$WORK/enforcerd.log" | head -1 | cut -c1-160)"
daemon_stop
kill "$FLOOD_PID" 2>/dev/null || true
wait "$FLOOD_PID" 2>/dev/null || true
log "PASS"
