#!/usr/bin/env bash
# kernel tier: no stop of any kind stops enforcing. W = 4 s, T = 100 ms, A = 20 Mbit/s (B = 10 MB),
# police; experiment a floods UDP at 100 Mbit/s (5 × A), so its window cycles: B at the flood's
# rate, then min_rate until the burst leaves the window.
#   - SIGTERM with the default daemon.on_stop ("hold") while a is throttled at min_rate: the
#     filters and pins stay, and while no daemon runs a gets A (±10 %, on the world's side of the
#     wire), neither min_rate nor the flood's rate; the next daemon adopts and counts what passed
#     meanwhile, and gives no new budget;
#   - kill -9 at KILLS moments of the window's cycle (in a burst, at its end, held at min_rate):
#     from 1.3 s after the kill (the limits expire 1 s after the last tick's
#     confirmation) until the next start, a gets A (±10 %) every time;
#   - on_stop = "remove", set by a reload: a stop removes the filters and pins.
# About 60 s.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

ALLOC=20000000
KILLS=${KILLS:-10}
topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
ON_STOP=hold TICK=100ms WINDOW=4s BANDWIDTH=20Mbit write_config "$WORK/enforcer.toml" \
  "$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"
rx_meter_up "$WORLD" wan0

EG='direction="egress",experiment="a"'
limit() { metric enforcer_experiment_rate_limit_bytes_per_second "$EG"; }
at_min_rate() { local l; l=$(limit); [ "$l" -gt 0 ] && [ "$l" -lt $((ALLOC / 8 / 2)) ]; }
# rate_over SECONDS: the rate (bit/s) the world receives from a over the next SECONDS.
rate_over() {
  local s0 s1
  s0=$(SEGMENT_HEADERS=42 rx_wire_sample "$WORLD" wan0 start)
  sleep "$1"
  s1=$(SEGMENT_HEADERS=42 rx_wire_sample "$WORLD" wan0 end)
  wire_rate "$s0" "$s1"
}
# held_to_allocation WHAT RATE: RATE is A within ±10 %.
held_to_allocation() {
  in_range "$ALLOC" "$2" 10 0 || fail "$1: a got $2 bit/s while no daemon ran; its allocation is $ALLOC (±10 %)"
  log "ok: $1: $2 bit/s while no daemon ran (A = $ALLOC)"
}
attached() { in_node tc filter show dev eth0 egress | grep -q 'tc_egress'; }

in_world timeout 300 iperf3 -s -p 5201 >/dev/null 2>&1 &
wait_listen 5201
in_exp a timeout 290 iperf3 -c 198.18.0.1 -p 5201 -u -b 100M -l 1400 -t 280 >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!

# SIGTERM while held at min_rate: the datapath stays and holds a to A.
wait_until 10 at_min_rate || fail "the flood was not throttled to min_rate within 10 s (limit $(limit) B/s)"
window_before=$(metric enforcer_experiment_window_bytes "$EG")
total_before=$(metric enforcer_experiment_bytes_total "$EG")
daemon_stop
attached || fail "a stop with on_stop = \"hold\" removed the egress filter"
[ -e "$PIN_DIR/limits" ] || fail "a stop with on_stop = \"hold\" removed the pins"
sleep 0.3
held=$(rate_over 2)
held_to_allocation "after SIGTERM (hold)" "$held"
daemon_start "$WORK/enforcer.toml"
log_has 'adopting the datapath' || fail "the daemon after a held stop did not adopt the datapath"
sleep 0.3
window_after=$(metric enforcer_experiment_window_bytes "$EG")
total_after=$(metric enforcer_experiment_bytes_total "$EG")
log "restarted: window $window_after bytes (was $window_before), bytes_total $total_after (was $total_before)"
# The 2.3 s at A (5.75 MB) counted in the totals and in the window: no new budget for them.
[ $((total_after - total_before)) -ge $((ALLOC / 8 * 2)) ] ||
  fail "bytes_total grew by $((total_after - total_before)) over the held stop: the downtime's traffic was not counted"
[ "$window_after" -ge $((ALLOC / 8 * 2)) ] ||
  fail "the window holds $window_after bytes after the held stop, less than the downtime's $((ALLOC / 8 * 2)): a new budget"

# kill -9 at KILLS moments of the window's cycle, in turn: inside a burst (the limit above A, a
# little later each time), at its end (the first tick at min_rate), held at min_rate for a while.
in_burst() { [ "$(limit)" -gt $((ALLOC / 8)) ]; }
for ((i = 0; i < KILLS; i++)); do
  case $((i % 3)) in
    0)
      wait_until 8 in_burst || fail "no burst within 8 s (limit $(limit) B/s)"
      sleep "0.$((i * 3))"
      ;;
    1)
      wait_until 8 in_burst || fail "no burst within 8 s (limit $(limit) B/s)"
      wait_until 8 at_min_rate || fail "the burst did not end within 8 s (limit $(limit) B/s)"
      ;;
    2)
      wait_until 8 at_min_rate || fail "not at min_rate within 8 s (limit $(limit) B/s)"
      sleep 1
      ;;
  esac
  state="limit $(limit) B/s"
  kill -KILL "$DAEMON_PID"
  wait "$DAEMON_PID" 2>/dev/null || true
  DAEMON_PID=
  sleep 1.3
  held=$(rate_over 1.5)
  held_to_allocation "kill $((i + 1)) of $KILLS ($state at the kill)" "$held"
  daemon_start "$WORK/enforcer.toml"
done

# on_stop = "remove", by a reload: the stop removes everything.
ON_STOP=remove TICK=100ms WINDOW=4s BANDWIDTH=20Mbit write_config "$WORK/enforcer.toml" \
  "$(experiment_toml a 198.18.0.11 2001:db8::11)"
ctl reload --reason "on_stop = remove" >/dev/null || fail "the reload to on_stop = \"remove\" was refused"
daemon_stop
! attached || fail "a stop with on_stop = \"remove\" left the egress filter"
[ ! -e "$PIN_DIR" ] || fail "a stop with on_stop = \"remove\" left pins: $(ls "$PIN_DIR")"
log "ok: on_stop = \"remove\" (by a reload): the stop removed the filters and pins"
stop_flow "$FLOOD_PID"
