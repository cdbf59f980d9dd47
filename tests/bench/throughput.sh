#!/usr/bin/env bash
# Smoke run of bench/throughput.sh: one round of 1 s runs (bare and with enforcerd, each way):
# about 9 s. Both directions' rows, positive rates, and the daemon's own counters behind the
# bytes and invocations per second.
source "$(dirname "$0")/smoke_lib.sh"
require_root
run_bench env ROUNDS=1 RUN_SECONDS=1 "$BENCH/throughput.sh"

t=$(table 1)
for dir in egress ingress; do
  for column in "bare (median Gbit/s)" "with enforcerd (median Gbit/s)" "ratio of medians" \
    "median of per-round ratios" "bytes per tc invocation" "tc invocations/s"; do
    expect_positive "$dir: $column" "$(cell "$t" direction "$dir" "$column")"
  done
  # at most 64 KiB (one GSO aggregate) and a little: more would be a unit or a column mixed up
  expect_positive "$dir: bytes per tc invocation" "$(cell "$t" direction "$dir" "bytes per tc invocation")" 70000
done
