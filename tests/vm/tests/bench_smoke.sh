#!/usr/bin/env bash
# vm-timeout: 400
# Smoke runs of the vm tier's benchmarks with scripts of their own, in one boot, as tests/bench/
# does for the host's: each at a tiny size (one rate, one round, 2 s runs), its table parsed by
# column and row name, so that a changed flag or table fails here and not in a release's figures.
# Never a speed: the guest is emulated. 50-60 s with the boot. The other two are settings of
# scripts the suite runs: bench/shapers-vm.sh of bench/shapers.sh (bench.shapers, on the host),
# bench/rate-rtt-vm.sh of tests/kernel/rate_limit.sh (vm.rate_rtt_edt: the same with RTT_MS);
# run here too, they cost 45 s more (25 and 20 s).
set -euo pipefail
# shellcheck source=../../bench/smoke_lib.sh
source "$ENFORCER_SOURCE_DIR/tests/bench/smoke_lib.sh"
require_root

# ack-edt-vm: 20 Mbit/s each way, 2 s runs: the row of the rate, every column a rate.
run_bench env ENFORCER_BENCH_RATES=20 ENFORCER_BENCH_SECONDS=2 "$BENCH/ack-edt-vm.sh"
acks=$(table 1)
for column in "download alone" "upload alone" "download beside upload" "upload beside download"; do
  expect_positive "ack-edt-vm: $column" "$(cell "$acks" "rate (Mbit/s each way)" 20 "$column")" 100
done

# isolation-vm: the speed test alone and beside a held flood, one round of 2 s.
run_bench env ENFORCER_BENCH_CASES="solo held-udp" ENFORCER_BENCH_ROUNDS=1 ENFORCER_BENCH_SECONDS=2 \
  "$BENCH/isolation-vm.sh"
isolation=$(table 1)
expect_positive "isolation-vm: alone" "$(cell "$isolation" neighbour idle "ndt Mbit/s")" 1000
held=$(md_column "$isolation" neighbour | grep -m1 '^UDP flood at 10x, held to' ||
  fail "isolation-vm: no row of the held flood")
expect_positive "isolation-vm: beside the held flood" "$(cell "$isolation" neighbour "$held" "ndt Mbit/s")" 1000
expect_positive "isolation-vm: RTT beside it" "$(cell "$isolation" neighbour "$held" "ndt RTT (ms)")"
cell "$isolation" neighbour "$held" target | grep -Eq '^(met|missed)' ||
  fail "isolation-vm: no verdict for the held flood"
log "PASS"
