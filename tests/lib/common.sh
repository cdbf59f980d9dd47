# shellcheck shell=bash
# What every test, benchmark and demo script needs, whatever it builds: log lines, failing with a
# message, waiting for a condition, and comparing and summarising numbers. No topology, no daemon:
# those are node.sh (a namespace topology on this kernel) and replica.sh (the vm tier's node).

# log MESSAGE...: a line with the time, on stdout.
log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }

# fail MESSAGE...: the message on stderr, then the last lines of every file named in FAIL_LOGS
# (a daemon's log, say: what it said last is usually the cause), then exit 1.
FAIL_LOGS=()
fail() {
  local file
  printf 'FAIL: %s\n' "$*" >&2
  for file in "${FAIL_LOGS[@]}"; do
    [ -s "$file" ] || continue
    printf -- '--- last lines of %s:\n' "$file" >&2
    tail -n 30 "$file" >&2
  done
  exit 1
}

# build_sanitizers: the -fsanitize list of the build under test (ENFORCER_SANITIZE in its
# CMakeCache.txt), empty for a plain build.
build_sanitizers() { sed -n 's/^ENFORCER_SANITIZE:[A-Z]*=//p' "$ENFORCER_BUILD_DIR/CMakeCache.txt" 2>/dev/null || true; }

require_root() { [ "$(id -u)" = 0 ] || fail "this test needs root (BPF, tc, network namespaces)"; }

# wait_until SECONDS COMMAND...: runs COMMAND every WAIT_INTERVAL seconds (default 0.1) until it
# succeeds (returns 0) or SECONDS have passed (returns 1). Tests wait for the condition they need,
# not for a fixed time: on a loaded machine or under a sanitizer any fixed time is too short, and on
# a quiet one too long. COMMAND runs in this shell, so it may be a function; it is tried once more
# at the deadline. No process but sleep is started: in the vm tier's emulated guest each costs
# about 0.1 s, which a loop that times how fast something happens must not add.
wait_until() {
  local seconds=$1 frac= deadline
  shift
  [[ $seconds == *.* ]] && frac=${seconds#*.}
  frac=${frac}000000
  deadline=$((${EPOCHREALTIME//[.,]/} + 10#${seconds%%.*}0 / 10 * 1000000 + 10#${frac:0:6}))
  while true; do
    "$@" && return 0
    ((${EPOCHREALTIME//[.,]/} < deadline)) || return 1
    sleep "${WAIT_INTERVAL:-0.1}"
  done
}

# seconds_since T0: seconds (two decimals) from T0, an earlier $EPOCHREALTIME, to now.
seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f\n", b - a }'; }

# at_most VALUE LIMIT / at_least VALUE LIMIT: numeric comparisons of decimals (bash's are integer).
at_most() { awk -v v="$1" -v l="$2" 'BEGIN { exit !(v <= l) }'; }
at_least() { awk -v v="$1" -v l="$2" 'BEGIN { exit !(v >= l) }'; }

# in_range EXPECTED ACTUAL PCT SLACK: whether ACTUAL is within ±PCT % + SLACK of EXPECTED.
in_range() {
  awk -v e="$1" -v a="$2" -v p="$3" -v s="$4" \
    'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= e * p / 100 + s) }'
}

# within EXPECTED ACTUAL PCT SLACK WHAT: fails unless ACTUAL is within ±PCT % + SLACK of EXPECTED.
within() {
  local expected=$1 actual=$2 pct=$3 slack=$4 what=$5
  if ! in_range "$expected" "$actual" "$pct" "$slack"; then
    fail "$what: expected $expected (±$pct% +$slack B), got $actual"
  fi
  log "ok: $what: $actual vs $expected"
}

# median: the median of the numbers on stdin (whitespace-separated; the mean of the middle two
# for an even count); prints nothing for none.
median() {
  tr -s ' \t' '\n\n' | grep -v '^$' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

# remove_unmounted_dir DIR WHO: removes DIR, unless something is still mounted below it: deleting
# through a mount would reach the host's files. Then it says so (as WHO) and returns 1.
remove_unmounted_dir() {
  if grep -q " $1" /proc/self/mounts; then
    echo "$2: mounts left under $1, not removing it:" >&2
    grep " $1" /proc/self/mounts >&2 || true
    return 1
  fi
  rm -rf --one-file-system "$1"
}
