# shellcheck shell=bash
# What the benchmarks' smoke tests share: running a benchmark at a tiny size (its table on stdout,
# its log kept for a failure), and checks on the tables it prints (tests/lib/markdown.sh). A smoke
# test asserts that the benchmark runs, and that its output still has the tables, columns and rows
# bench/run-all and bench/README.md describe, with values that are numbers and plausible; never a
# speed (the machine is shared).
set -euo pipefail
SMOKE_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export ENFORCER_SOURCE_DIR=${ENFORCER_SOURCE_DIR:-$(cd "$SMOKE_LIB/../.." && pwd)}
export ENFORCER_BUILD_DIR=${ENFORCER_BUILD_DIR:-$ENFORCER_SOURCE_DIR/build}
# shellcheck source=../lib/common.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/common.sh"
# shellcheck source=../lib/markdown.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/markdown.sh"
BENCH=$ENFORCER_SOURCE_DIR/bench
SMOKE_DIR=$(mktemp -d /tmp/enforcer-smoke.XXXXXX)
trap 'rm -rf "$SMOKE_DIR"' EXIT
OUT=$SMOKE_DIR/out.md

# run_bench COMMAND...: runs the benchmark, its stdout in $OUT; on failure shows its output and
# log, and fails. Logs how long it took (the smoke tests' budget is about a minute in all).
run_bench() {
  local t0=$EPOCHREALTIME status=0
  log "running: $*"
  "$@" >"$OUT" 2>"$SMOKE_DIR/log" || status=$?
  FAIL_LOGS=("$OUT" "$SMOKE_DIR/log")
  [ "$status" = 0 ] || fail "the benchmark exited with $status"
  log "done in $(seconds_since "$t0") s"
}

# table N: the Nth table of the benchmark's output (md_table); fails when it is missing or empty.
table() {
  local t
  t=$(md_table "$1" <"$OUT")
  [ "$(wc -l <<<"$t")" -ge 2 ] || fail "no table $1 with rows in the output"
  printf '%s\n' "$t"
}

# expect_columns TABLE NAME...: every NAME heads a column of TABLE.
expect_columns() {
  local t=$1 name
  shift
  for name in "$@"; do md_column "$t" "$name" >/dev/null || fail "no column '$name' in: $(head -1 <<<"$t")"; done
}

# expect_positive WHAT CELL [MAX]: CELL's leading number is above 0 (and at most MAX).
expect_positive() {
  local n
  n=$(md_number "$2")
  [ -n "$n" ] && at_least "$n" 1e-12 || fail "$1: '$2' is not a positive number"
  [ -z "${3:-}" ] || at_most "$n" "$3" || fail "$1: $n is above $3"
  log "ok: $1: $2"
}

# cell TABLE KEY_COLUMN KEY COLUMN: md_cell, failing with what is missing.
cell() { md_cell "$@" || fail "no cell '$4' in the row '$3' (by '$2')"; }
