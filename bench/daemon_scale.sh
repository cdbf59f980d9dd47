#!/usr/bin/env bash
# bench/daemon_scale.sh: the real enforcerd with 10, 1,000 and 10,000 configured experiments,
# attached to the uplink of the kernel tier's topology (tests/lib/node.sh). For each size:
#   pinned       launch until its maps are pinned: parsing and validating the config, loading the
#                BPF object (pinning follows the load at once)
#   startup      launch until the daemon's control socket appears (the above, then one trie
#                insertion per address and the experiments' state: the socket is created after
#                them), confirmed by `enforcerctl status --json` listing every experiment; the
#                first tick follows at once
#   tick         mean duration of the daemon's ticks, from its own histogram
#                enforcer_tick_duration_seconds: (sum, count) deltas over MEASURE_SECONDS; and the
#                smallest histogram bound that held every one of those ticks
#   scrape       curl -w '%{time_total}' on /metrics, median of SCRAPES, and the body's size
#   RSS          VmRSS of the daemon from /proc/PID/status after the ticks, before any full
#                scrape, and after the scrapes (the scrape's buffers stay in the heap)
#   BPF maps     the kernel memory of its maps (bpftool's bytes_memlock, summed over the pins)
# M-Lab's production settings: tick = "1s", window = "5m" (300 slots per direction per
# experiment); daemon.max_experiments = the size. Experiment i has 198.19.(i>>8).(i&255) and
# 2001:db8:1::<i hex> (documentation ranges); no traffic is needed, the sampler's work per tick
# does not depend on it (every experiment's ring records a slot each tick either way).
#
# Environment: SIZES ("10 1000 10000"), MEASURE_SECONDS (10), SCRAPES (5), SETTLE_SECONDS (2.5:
# ticks left to pass between startup and the first RSS reading), READY_SECONDS (60: how long a
# size may take to start), ENFORCER_BUILD_DIR. The smoke test (tests/bench) runs SIZES=10
# MEASURE_SECONDS=2 SCRAPES=2 SETTLE_SECONDS=1.
# Prints a markdown table on stdout. Needs root; cleans up everything on exit.
set -euo pipefail
SELF_DIR=$(cd "$(dirname "$0")" && pwd)
export ENFORCER_SOURCE_DIR=${ENFORCER_SOURCE_DIR:-$(dirname "$SELF_DIR")}
export ENFORCER_BUILD_DIR=${ENFORCER_BUILD_DIR:-$ENFORCER_SOURCE_DIR/build}
export TOPO_PREFIX=${TOPO_PREFIX:-enfbs$$}
# shellcheck source=../tests/lib/node.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/node.sh"
trap topo_down EXIT
trap 'exit 130' INT TERM HUP

SIZES=${SIZES:-10 1000 10000}
MEASURE_SECONDS=${MEASURE_SECONDS:-10}
SCRAPES=${SCRAPES:-5}
SETTLE_SECONDS=${SETTLE_SECONDS:-2.5}
READY_SECONDS=${READY_SECONDS:-60}
SOCKET=$WORK/run/control.sock
URL=http://127.0.0.1:9724/metrics
[ -x "$ENFORCERD" ] || fail "no enforcerd at $ENFORCERD (build first)"
[ -x "$ENFORCERCTL" ] || fail "no enforcerctl at $ENFORCERCTL (build first)"
for tool in curl jq bpftool; do command -v "$tool" >/dev/null || fail "needs $tool"; done

# config FILE N: production tick and window, N experiments.
config() {
  local file=$1 n=$2
  cat >"$file" <<TOML
[daemon]
tick = "1s"
state_dir = "$WORK/state"
control_socket = "$SOCKET"
bpf_pin_dir = "$PIN_DIR"
metrics_listen = "127.0.0.1:9724"
max_experiments = $n
on_stop = "remove"
status_dir = "$WORK/experiments"

[network]
interfaces = ["eth0"]
link_rate = "10Gbit"

[defaults]
window = "5m"
TOML
  awk -v n="$n" 'BEGIN {
    for (i = 1; i <= n; i++)
      printf "\n[[experiment]]\nname = \"exp-%d\"\naddresses = [\"198.19.%d.%d\", \"2001:db8:1::%x\"]\n",
        i, int(i / 256), i % 256, i
  }' >>"$file"
}

# The histogram's buckets, sum and count in one scrape: "le count" lines, then "sum S", "count C".
tick_histogram() {
  in_node curl -sf "$URL" | awk '
    /^enforcer_tick_duration_seconds_bucket/ { match($0, /le="[^"]*"/); print substr($0, RSTART + 4, RLENGTH - 5), $2 }
    /^enforcer_tick_duration_seconds_sum/ { print "sum", $2 }
    /^enforcer_tick_duration_seconds_count/ { print "count", $2 }'
}
field() { awk -v k="$1" '$1 == k { print $2 }'; }


# The kernel memory of every map pinned in the daemon's folder (whatever the datapath names
# them: a renamed or added map is counted without a change here; pins that are not maps, such as
# links, give bpftool an error and count 0).
maps_memlock() {
  local total=0 pin b
  for pin in "$PIN_DIR"/*; do
    [ -f "$pin" ] || continue
    b=$(bpftool -j map show pinned "$pin" 2>/dev/null | jq -r '.bytes_memlock // 0') || b=0
    total=$((total + ${b:-0}))
  done
  echo "$total"
}

topo_up
ROWS=""
for n in $SIZES; do
  config "$WORK/enforcer.toml" "$n"
  log "enforcerd with $n experiments" >&2
  [ ! -e "$PIN_DIR/counters" ] || fail "$PIN_DIR/counters exists before the daemon started"
  # Not daemon_start: its 10 s limit is too short for 10,000 experiments, and its readiness
  # check (the metrics endpoint) answers before the experiments are loaded. Ready is the control
  # socket: the daemon creates it once every experiment is in the datapath and its state built
  # (a file test, cheap enough to poll every 25 ms); then `enforcerctl status --json` (the
  # socket's documented protocol, not a log line) must list all of them.
  rm -f "$SOCKET"
  t0=$EPOCHREALTIME
  nsenter --net="/run/netns/$NODE" "$ENFORCERD" --config "$WORK/enforcer.toml" >"$WORK/enforcerd.log" 2>&1 &
  DAEMON_PID=$!
  FAIL_LOGS=("$WORK/enforcerd.log")
  tp=
  socket_or_gone() {
    [ -n "$tp" ] || [ ! -e "$PIN_DIR/counters" ] || tp=$EPOCHREALTIME
    [ -S "$SOCKET" ] || ! daemon_alive
  }
  WAIT_INTERVAL=0.025 wait_until "$READY_SECONDS" socket_or_gone || true
  t1=$EPOCHREALTIME
  daemon_alive || fail "enforcerd exited"
  [ -S "$SOCKET" ] || fail "enforcerd's control socket did not appear within $READY_SECONDS s"
  listed=$("$ENFORCERCTL" --socket "$SOCKET" --timeout 30s --json status | jq '.experiments | length') ||
    fail "enforcerctl status --json failed"
  [ "$listed" = "$n" ] || fail "enforcerctl status lists $listed experiments, expected $n"
  pinned=$(awk -v a="$t0" -v b="${tp:-$t1}" 'BEGIN { printf "%.2f s", b - a }')
  startup=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f s", b - a }')
  sleep "$SETTLE_SECONDS"  # a few more ticks
  rss0=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$DAEMON_PID/status")

  h0=$(tick_histogram)
  sleep "$MEASURE_SECONDS"
  h1=$(tick_histogram)
  read -r ticks mean_ms max_bound < <(awk '
    NR == FNR { a[$1] = $2; next }
    { b[$1] = $2; order[++k] = $1 }
    END {
      n = b["count"] - a["count"]; mean = n > 0 ? (b["sum"] - a["sum"]) / n * 1000 : 0
      bound = "?"
      for (i = 1; i <= k; i++) {
        le = order[i]; if (le == "sum" || le == "count") continue
        if (b[le] - a[le] == n) { bound = le; break }
      }
      if (bound != "?" && bound != "+Inf") bound = sprintf("%g ms", bound * 1000)
      printf "%d %.3f %s\n", n, mean, bound
    }' <(echo "$h0") <(echo "$h1"))

  times=() size=0
  for _ in $(seq "$SCRAPES"); do
    read -r t size < <(in_node curl -sf -o /dev/null -w '%{time_total} %{size_download}\n' "$URL")
    times+=("$t")
  done
  scrape_ms=$(printf '%s\n' "${times[@]}" | median | awk '{ printf "%.1f", $1 * 1000 }')
  rss=$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$DAEMON_PID/status")
  maps=$(awk -v b="$(maps_memlock)" 'BEGIN { printf "%.2f", b / 1048576 }')
  [ "$ticks" -gt 0 ] || fail "no tick counted during the measurement"
  ROWS+=$(printf '| %s | %s | %s | %s | %s ms | %s | %s ms | %.1f KB | %s MiB | %s MiB | %s MiB |' \
    "$n" "$pinned" "$startup" "$ticks" "$mean_ms" "$max_bound" "$scrape_ms" \
    "$(awk -v s="$size" 'BEGIN { print s / 1000 }')" "$rss0" "$rss" "$maps")$'\n'
  log "$n experiments: pinned $pinned, startup $startup, $ticks ticks, mean $mean_ms ms (all <= $max_bound), scrape $scrape_ms ms / $size B, RSS $rss MiB" >&2
  daemon_stop
done

printf '%s in the node namespace of the kernel-tier topology, tick = "1s", window = "5m";\n' "$("$ENFORCERD" --version 2>/dev/null | head -1 || echo '?')"
printf 'ticks measured over %s s, scrape time = median of %s curl runs (time_total), %s cores (nproc).\n\n' "$MEASURE_SECONDS" "$SCRAPES" "$(nproc)"
printf '| experiments | pinned | startup | ticks | mean tick | every tick within | scrape time | scrape size | RSS before scrapes | RSS after | BPF maps |\n'
printf '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n'
printf '%s' "$ROWS"
