#!/usr/bin/env bash
# bench/shapers-report.sh on fixed raw lines (no root, no traffic, well under a second): three
# rounds of enforcer and htb at 100 Mbit/s, one flow. The accuracy table's mean, SD, range and 95 %
# interval (t = 4.303 for 2 degrees of freedom) and its reading, bias or scatter; the CPU table's
# ratio to htb; the comparison's medians; and rows in the order of RATES, FLOWS and SHAPERS.
source "$(dirname "$0")/smoke_lib.sh"
raw() {  # ROUND SHAPER ERR_WIRE CPU_S_PER_GB
  printf 'round=%s shaper=%s rate=100 flows=1 wire_mbit=%s err_wire=%+.2f skb_mbit=96 err_skb=-4 rtt_med=0.05 rtt_p99=0.2 ping_loss=0.0 pings=700/700 ping_local_drops=0 retrans=0 drops=10 gb=0.0875 busy_s=1.4 cpu_s_per_gb=%s net_cpu_s_per_gb=3 busy_pct=70 idle_busy_pct=10 iperf_cpu_s_per_gb=1.5 goodput_mbit=96 window_s=7 segs_per_skb=30\n' \
    "$1" "$2" "$(awk -v e="$3" 'BEGIN { print 100 + e }')" "$3" "$4"
}
{
  raw 1 enforcer 1.1 12
  raw 1 htb 0.0 10
  raw 2 htb -0.2 11
  raw 2 enforcer 1.3 13
  raw 3 enforcer 0.9 14
  raw 3 htb 0.3 9
} | RATES=100 FLOWS="1 8" SHAPERS="enforcer tbf htb" "$BENCH/shapers-report.sh" >"$OUT"

comparison=$(table 1)
[ "$(md_column "$comparison" shaper | tr '\n' ' ')" = "enforcer htb " ] ||
  fail "comparison rows: $(md_column "$comparison" shaper | tr '\n' ' ') (a case without runs must be left out)"
[ "$(cell "$comparison" shaper enforcer "achieved (wire, Mbit/s)")" = 101.10 ] || fail "median of the enforcer's rate"

cpu=$(table 2)
[ "$(cell "$cpu" shaper enforcer "CPU-s per GB")" = 13.00 ] || fail "median CPU-s per GB"
[ "$(cell "$cpu" shaper enforcer "× htb")" = 1.30 ] || fail "enforcer's CPU against htb's (13 / 10)"
[ "$(cell "$cpu" shaper htb "× htb")" = 1.00 ] || fail "htb's own ratio"

accuracy=$(table 3)
expect_row() {  # SHAPER COLUMN VALUE
  local got
  got=$(cell "$accuracy" shaper "$1" "$2")
  [ "$got" = "$3" ] || fail "accuracy, $1, $2: '$got', expected '$3'"
  log "ok: accuracy, $1, $2: $got"
}
expect_row enforcer "error per round" "+1.10 +1.30 +0.90 %"
expect_row enforcer mean "+1.10 %"
expect_row enforcer "spread (SD)" "0.20 %"
expect_row enforcer range "+0.90 … +1.30 %"
expect_row enforcer "mean, 95 % interval" "+1.10 ± 0.50 %"
expect_row enforcer reading "bias (the interval excludes 0)"
expect_row htb mean "+0.03 %"
expect_row htb reading "scatter (the interval holds 0)"
