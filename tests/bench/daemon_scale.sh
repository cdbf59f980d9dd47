#!/usr/bin/env bash
# Smoke run of bench/daemon_scale.sh: the real daemon with 10 experiments, ticks measured over 2 s
# (tick 1 s), 2 scrapes: about 6 s. Its readiness (the control socket, enforcerctl status --json),
# the tick histogram, the scrape and the pinned maps must all still be found.
source "$(dirname "$0")/smoke_lib.sh"
require_root
run_bench env SIZES=10 MEASURE_SECONDS=2 SCRAPES=2 SETTLE_SECONDS=1 READY_SECONDS=20 "$BENCH/daemon_scale.sh"

t=$(table 1)
for column in pinned startup ticks "mean tick" "scrape time" "scrape size" "RSS before scrapes" "RSS after" "BPF maps"; do
  expect_positive "$column" "$(cell "$t" experiments 10 "$column")"
done
expect_positive "startup within READY_SECONDS" "$(cell "$t" experiments 10 startup)" 20
cell "$t" experiments 10 "every tick within" >/dev/null
