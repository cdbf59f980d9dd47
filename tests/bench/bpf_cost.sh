#!/usr/bin/env bash
# Smoke run of bench/bpf_cost: 10 experiments, 20,000 repeats, one round (under a second). Its
# three tables, the columns bench/run-all reads, and a positive cost for the cases the issue's
# targets name.
source "$(dirname "$0")/smoke_lib.sh"
require_root
run_bench "$ENFORCER_BUILD_DIR/bench/bpf_cost" --repeat 20000 --rounds 1 --experiments 10 \
  --stage-repeat 20000 --stage-rounds 1 --read-counters 10

costs=$(table 1)
expect_columns "$costs" experiments case "ns/packet (kernel)" "ns/packet (CPU time)" "ratio to empty" "added ns"
for case in "empty tc program (all its runs)" "egress, IPv4, hit" "egress, IPv6, hit" "ingress, IPv4, hit" \
  "egress, IPv4, miss (far)" "egress, IPv4, hit, rate set (passes)" "egress EDT, IPv4 TCP, hit, rate set (paced)" \
  "egress, IPv4, hit, over the rate (dropped)"; do
  expect_positive "$case: ns/packet" "$(cell "$costs" case "$case" "ns/packet (CPU time)")" 100000
  expect_positive "$case: ratio" "$(cell "$costs" case "$case" "ratio to empty")" 1000
done
[ "$(md_column "$costs" experiments | sort -u)" = 10 ] || fail "rows for other sizes than 10 experiments"

stages=$(table 2)
expect_columns "$stages" case "ns/packet (CPU time)"
for case in "IPv4: parse + LPM lookup" "counter update only" "alternative: IPv4, inlined array table, complete"; do
  expect_positive "stage $case" "$(cell "$stages" case "$case" "ns/packet (CPU time)")" 100000
done

reads=$(table 3)
expect_positive "read_counters of 10" "$(cell "$reads" experiments 10 "per experiment")"
