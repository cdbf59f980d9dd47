#!/usr/bin/env bash
# kernel tier (issue 15, "min_rate = 0"): min_rate "0%" is a hard stop. Once the budget
# B = A · W is spent, nothing of the experiment passes until the window frees budget; the
# datapath must never read the policy's limit 0 as "no limit" (it once ran such an experiment at
# the whole veth path, 16 Gbit/s). W = 4 s, T = 250 ms, A = 20 Mbit/s (B = 10 MB), police; one
# greedy TCP flow for FLOW_SECONDS each way. No W-long stretch may pass more than B and the
# policer's burst (500 ms of A), so what passes between two samples E seconds apart is at most
# that times ceil(E / W), +10 %: about 25 MB for the usual 7-8 s, where a flow at line rate passes
# gigabytes. E is measured, not assumed: on a loaded machine iperf3 takes seconds longer to end,
# and the window then frees the budget once more. About 20 s.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

FLOW_SECONDS=6
topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
TICK=250ms WINDOW=4s BANDWIDTH=20Mbit write_config "$WORK/enforcer.toml" \
  "min_rate = \"0%\"$(experiment_toml a 198.18.0.11 2001:db8::11)"
daemon_start "$WORK/enforcer.toml"

budget=$((20000000 / 8 * 4))
burst=$((20000000 / 8 / 2))  # the policer's burst: 500 ms of A (lib/bandwidth/limiter.hpp)
window_ms=4000
passed() { metric enforcer_experiment_bytes_total "direction=\"$1\",experiment=\"a\""; }
port=5300
for dir in egress ingress; do
  port=$((port + 1))
  extra=()
  [ "$dir" = ingress ] && extra=(-R)
  in_world timeout 60 iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
  wait_listen "$port"
  before=$(passed "$dir")
  t0=$(date +%s%3N)
  drops0=$(dropped_packets a "$dir")
  in_exp a timeout 30 iperf3 -p "$port" -c 198.18.0.1 -t "$FLOW_SECONDS" "${extra[@]}" \
    >"$WORK/iperf-$dir.log" 2>&1 || true
  sleep 0.5  # two ticks: the last bytes are sampled
  got=$(($(passed "$dir") - before))
  elapsed_ms=$(($(date +%s%3N) - t0))
  bound=$(((budget + burst) * ((elapsed_ms + window_ms - 1) / window_ms) * 11 / 10))
  drops=$(($(dropped_packets a "$dir") - drops0))
  log "$dir: $got bytes passed in $elapsed_ms ms (bound $bound, budget $budget), $drops packets dropped"
  [ "$got" -le "$bound" ] || { cat "$WORK/iperf-$dir.log"; fail "$dir: $got bytes passed a hard stop (bound $bound)"; }
  [ "$got" -ge "$budget" ] || fail "$dir: only $got bytes passed: the budget itself ($budget) must pass"
  [ "$drops" -gt 0 ] || fail "$dir: nothing was dropped after the budget was spent"
done
log "ok: a spent budget with min_rate 0 passes nothing more, both ways"
