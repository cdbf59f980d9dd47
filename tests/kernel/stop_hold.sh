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
#   - host-network experiment h (a pod cgroup, cgroup_skb), pinned at 10 Mbit/s, floods UDP at
#     50: held to 10 (±10 %) by the daemon, while it is stopped (its links stay pinned) and by the
#     next daemon, which adopts the links;
#   - on_stop = "remove", set by a reload: a stop removes the filters, links and pins.
# About 50 s (KILLS=6: each moment twice).
source "$(dirname "$0")/../lib/node.sh"

ALLOC=20000000
PINNED=10000000  # h's pinned rate
KILLS=${KILLS:-6}
CG_MOUNT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$CG_MOUNT" ] || fail "no cgroup2 mount: host-network experiments need one"
CG_ROOT=$CG_MOUNT/$P
POD=$CG_ROOT/kubepods.slice/kubepods-podh.slice
cleanup() {
  set +e
  daemon_stop
  # h's sender first: a cgroup with a process in it cannot be removed.
  if [ -f "$POD/cgroup.procs" ]; then xargs -r kill -KILL <"$POD/cgroup.procs"; fi
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    rmdir "$POD" "$CG_ROOT/kubepods.slice" "$CG_ROOT" 2>/dev/null
    [ -d "$CG_ROOT" ] || break
    sleep 0.2
  done
  topo_down
}
trap cleanup EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
# h: a host-network experiment (its pod's cgroup, the node's own address).
mkdir -p "$POD"
ip -n "$NODE" addr add 198.18.0.2/24 dev eth0
ON_STOP=hold TICK=100ms WINDOW=4s BANDWIDTH=20Mbit write_config "$WORK/enforcer.toml" \
  "$(experiment_toml a 198.18.0.11 2001:db8::11)
[[experiment]]
name = \"h\"
cgroup = \"kubepods.slice/kubepods-podh.slice\"
pinned_rate = \"${PINNED}bit\""
sed -i "s|^\[daemon\]\$|[daemon]\ncgroup_root = \"$CG_ROOT\"|" "$WORK/enforcer.toml"
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

# h's cgroup_skb links are pinned: held to its pinned rate by the daemon, while it is stopped
# (held), and by the next one, which adopts them.
stop_flow "$FLOOD_PID"
# Attached by this daemon, or adopted from the one killed before it.
h_attached() { log_has "(attached accounting to cgroup $POD |cgroup $POD .*: its adopted links go on)"; }
wait_until 5 h_attached || fail "h's pod cgroup was not attached within 5 s"
in_world timeout 60 iperf3 -s -p 5202 >/dev/null 2>&1 &
wait_listen 5202
nsenter --net="/run/netns/$NODE" sh -c "echo \$\$ >'$POD/cgroup.procs' && exec timeout 50 iperf3 \
  -c 198.18.0.1 -p 5202 -u -b 50M -l 1400 -t 45" >"$WORK/h-flood.log" 2>&1 &
H_FLOOD=$!
sleep 1
h_rate() { # WHAT
  local r
  r=$(rate_over 1.5)
  in_range "$PINNED" "$r" 10 0 || fail "$1: h got $r bit/s; its pinned rate is $PINNED (±10 %)"
  log "ok: $1: h at $r bit/s (pinned $PINNED)"
}
h_rate "daemon running"
daemon_stop
[ "$(find "$PIN_DIR/cgroup_links" -type f | wc -l)" = 2 ] ||
  fail "h's cgroup links are not pinned after a held stop: $(ls "$PIN_DIR/cgroup_links" 2>&1)"
h_rate "after SIGTERM (hold)"
daemon_start "$WORK/enforcer.toml"
log_has "adopted the cgroup_skb links of 1 cgroup" || fail "the next daemon did not adopt h's links"
wait_log 5 "cgroup $POD .*: its adopted links go on"
h_rate "next daemon, adopted links"
stop_flow "$H_FLOOD"

# on_stop = "remove", by a reload: the stop removes everything.
sed -i 's|^on_stop = "hold"$|on_stop = "remove"|' "$WORK/enforcer.toml"
ctl reload --reason "on_stop = remove" >/dev/null || fail "the reload to on_stop = \"remove\" was refused"
daemon_stop
! attached || fail "a stop with on_stop = \"remove\" left the egress filter"
[ ! -e "$PIN_DIR" ] || fail "a stop with on_stop = \"remove\" left pins: $(ls "$PIN_DIR")"
log "ok: on_stop = \"remove\" (by a reload): the stop removed the filters, links and pins"
