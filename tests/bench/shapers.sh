#!/usr/bin/env bash
# Smoke run of bench/shapers.sh: 100 Mbit/s, 8 flows, enforcer, tbf and htb, one round of 3 s runs
# measured over 1 s: about 15 s. Its three tables (comparison, CPU per GB, accuracy by round) with
# a row per shaper and numbers in them; the rate only roughly (a 1 s window on a shared machine).
# The arithmetic of the tables over several rounds is bench.shapers_report's.
source "$(dirname "$0")/smoke_lib.sh"
require_root
shapers="enforcer tbf htb"
run_bench env RATES=100 FLOWS=8 SHAPERS="$shapers" ROUNDS=1 RUN_SECONDS=3 WARMUP_SECONDS=1 \
  TAIL_SECONDS=1 IDLE_SECONDS=0.3 "$BENCH/shapers.sh"

comparison=$(table 1)
cpu=$(table 2)
accuracy=$(table 3)
for shaper in $shapers; do
  rate=$(cell "$comparison" shaper "$shaper" "achieved (wire, Mbit/s)")
  expect_positive "$shaper: achieved" "$rate" 200
  [ "$(cell "$comparison" shaper "$shaper" flows)" = 8 ] || fail "$shaper: not the run of 8 flows"
  expect_positive "$shaper: RTT median" "$(cell "$comparison" shaper "$shaper" "RTT median (ms)")"
  expect_positive "$shaper: carried" "$(cell "$cpu" shaper "$shaper" "carried (GB, wire)")"
  expect_positive "$shaper: CPU-s per GB" "$(cell "$cpu" shaper "$shaper" "CPU-s per GB")"
  expect_positive "$shaper: × htb" "$(cell "$cpu" shaper "$shaper" "× htb")"
  [ "$(cell "$accuracy" shaper "$shaper" rounds)" = 1 ] || fail "$shaper: not one round"
  md_number "$(cell "$accuracy" shaper "$shaper" mean)" | grep -q . || fail "$shaper: no mean error"
done
grep -q '^- round=1 shaper=enforcer rate=100 flows=8 ' "$OUT" || fail "no raw line of the enforcer run"
