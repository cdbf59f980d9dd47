#!/usr/bin/env bash
# Smoke run of bench/control_plane: the benchmarks of 10 experiments only (a Google Benchmark
# filter; each keeps its own minimum time and repetitions: about 2 s of CPU), --markdown as
# bench/run-all runs it. A filter that matches nothing still exits 0: the rows are checked.
source "$(dirname "$0")/smoke_lib.sh"
run_bench "$ENFORCER_BUILD_DIR/bench/control_plane" --markdown --benchmark_filter='/10/'

t=$(table 1)
expect_columns "$t" benchmark experiments "wall time per call" "CPU time per call" "CPU per experiment" "scrape size"
scrape="write_text in 256 KiB pieces (one scrape, as the daemon sends it)"
for bm in "Sampler::sample (one tick, fake datapath)" "MetricsCollector::Collect()" \
  "Collect() + TextSerializer (a scrape before)" "$scrape"; do
  [ "$(cell "$t" benchmark "$bm" experiments)" = 10 ] || fail "$bm: not the 10-experiment run"
  expect_positive "$bm: CPU time per call" "$(cell "$t" benchmark "$bm" "CPU time per call")"
done
expect_positive "scrape size" "$(cell "$t" benchmark "$scrape" "scrape size")"
