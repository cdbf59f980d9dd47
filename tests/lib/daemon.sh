# shellcheck shell=bash
# enforcerd under test: its configuration, starting and stopping it, enforcerctl on its socket,
# and its metrics. Sourced by node.sh; a vm test on the replica sources it beside replica.sh and
# sets NODE=node (the namespace the daemon runs in) and WORK (a folder for its log and state).
#
# Settings, read when a function runs: DAEMON_NETNS (default $NODE), DAEMON_LOG
# ($WORK/enforcerd.log), CONTROL_SOCKET ($WORK/run/control.sock), METRICS_ADDR (127.0.0.1:9724).

BUILD=${ENFORCER_BUILD_DIR:?ENFORCER_BUILD_DIR must point at the build folder}
ENFORCERD=${ENFORCERD:-$BUILD/daemon/enforcerd}
ENFORCERCTL=${ENFORCERCTL:-$BUILD/cli/enforcerctl}
DAEMON_PID=
SANITIZER_REPORT=

# write_config FILE [extra TOML appended]: a config for this topology's uplink (INTERFACES, the
# TOML list's items, default "eth0"; KERNEL_CMDLINE sets network.kernel_cmdline; ON_STOP sets
# daemon.on_stop, default "remove": most tests check what a stop leaves behind, and stop_hold.sh
# proves the product's default, "hold"). The extra TOML
# follows the [defaults] table's keys, so it may add defaults (min_rate = ...) before its tables.
# experiment_toml NAME V4 V6: an [[experiment]] block with those two addresses (for write_config).
experiment_toml() {
  printf '\n[[experiment]]\nname = "%s"\naddresses = ["%s", "%s"]' "$1" "$2" "$3"
}
# pinned_config FILE MBIT: a config whose one experiment, a (198.18.0.11, 2001:db8::11), is
# pinned at MBIT Mbit/s each way.
pinned_config() {
  write_config "$1" "$(experiment_toml a 198.18.0.11 2001:db8::11)
pinned_rate = \"${2}Mbit\""
}

# write_replica_config FILE [DAEMON_KEYS]: the [daemon] and [network] tables of a vm test's daemon
# on tests/lib/replica.sh's node (500 ms ticks, pins in /sys/fs/bpf/enforcer-vm, state in WORK;
# eth0 at 500 Mbit/s, more than the guest carries), DAEMON_KEYS (lines) added to [daemon]. The
# test appends its [defaults] and experiments.
write_replica_config() {
  cat >"$1" <<TOML
[daemon]
tick = "500ms"
state_dir = "$WORK/state"
bpf_pin_dir = "/sys/fs/bpf/enforcer-vm"
on_stop = "remove"
metrics_listen = "127.0.0.1:9724"
cgroup_root = "/sys/fs/cgroup"
${2:-}

[network]
interfaces = ["eth0"]
link_rate = "500Mbit"
TOML
}

write_config() {
  local file=$1
  cat >"$file" <<TOML
[daemon]
tick = "${TICK:-100ms}"
state_dir = "$WORK/state"
control_socket = "$WORK/run/control.sock"
control_group = "${CONTROL_GROUP:-}"
bpf_pin_dir = "$PIN_DIR"
metrics_listen = "127.0.0.1:9724"
on_stop = "${ON_STOP:-remove}"
status_dir = "$WORK/run/experiments"

[network]
interfaces = [${INTERFACES:-\"eth0\"}]
link_rate = "${LINK_RATE:-10Gbit}"
${KERNEL_CMDLINE:+kernel_cmdline = \"$KERNEL_CMDLINE\"}

[defaults]
window = "${WINDOW:-10s}"
bandwidth = "${BANDWIDTH:-1Tbit}"  # accounting tests: an allocation nothing here can spend
TOML
  if [ $# -gt 1 ]; then printf '%s\n' "$2" >>"$file"; fi
}


# datapath_addresses 4|6: what the pinned datapath (PIN_DIR) classifies by address of that family,
# one "ADDRESS/LEN id ID" a line, sorted (IPv6 written out in full, no ::): the exact-address
# table's active half (full-length addresses) and the trie (prefixes, and addresses whose probe
# window was full).
datapath_addresses() {
  local family=$1 trie=addr_v4 half slots
  [ "$family" = 6 ] && trie=addr_v6
  half=$(bpftool -j map dump pinned "$PIN_DIR/addr_ctl" | jq '.[0].formatted.value.active_half')
  slots=$(($(bpftool -j map show pinned "$PIN_DIR/addr_exact" | jq '.max_entries') / 2))
  local defs='
    def hex: if . < 16 then "0123456789abcdef"[.:. + 1] else ((. / 16 | floor) | hex) + (. % 16 | hex) end;
    def bytes4: [., (. / 256 | floor), (. / 65536 | floor), (. / 16777216 | floor)] | map(. % 256);
    def text($b): if $family == 4 then $b[0:4] | map(tostring) | join(".")
      else [range(0; 8) as $i | ($b[2 * $i] * 256 + $b[2 * $i + 1]) | hex] | join(":") end;'
  {
    bpftool -j map dump pinned "$PIN_DIR/addr_exact" |
      jq -r --argjson family "$family" --argjson lo $((half * slots)) \
        --argjson hi $(((half + 1) * slots)) "$defs"'
        .[].formatted | select(.key >= $lo and .key < $hi and .value.family == $family and
                               .value.id != 0 and .value.id != 4294967295)
          | "\(text(.value.addr | map(bytes4) | add))/\(if $family == 4 then 32 else 128 end) id \(.value.id)"'
    bpftool -j map dump pinned "$PIN_DIR/$trie" |
      jq -r --argjson family "$family" "$defs"'
        .[].formatted | "\(text(.key.addr))/\(.key.prefixlen) id \(.value)"'
  } | sort
}

daemon_log() { echo "${DAEMON_LOG:-$WORK/enforcerd.log}"; }
# The daemon follows its config files: a test that writes the file and runs `ctl reload` gets a
# second reload of the same write from the follower, up to 1.3 s later (daemon/config_follower).
# One that then reads the datapath must wait for it: a reload the datapath refuses is attempted
# and undone again, and the tables change under the reader meanwhile.
# follower_reloads: how many reloads the follower has finished; wait_follower_reload N: until
# more than N (at most 5 s).
follower_reloads() {
  awk '/its files changed: reloading/ { open = 1 }
    /configuration reloaded:|the configuration was not reloaded/ { if (open) { open = 0; n++ } }
    END { print n + 0 }' "$(daemon_log)"
}
follower_reloaded_since() { [ "$(follower_reloads)" -gt "$1" ]; }
wait_follower_reload() {
  wait_until 5 follower_reloaded_since "$1" || fail "the daemon did not reload its changed config file within 5 s"
}
# curl is bounded: a daemon that accepts the connection and never answers fails the wait it is in,
# instead of hanging the test until its time limit (with no word of where).
metrics_answer() { nsenter --net="/run/netns/${DAEMON_NETNS:-$NODE}" curl -sf --max-time 10 -o /dev/null "http://${METRICS_ADDR:-127.0.0.1:9724}/metrics"; }
daemon_ready() { grep -qs ' enforcing [0-9]* experiment' "$(daemon_log)" && metrics_answer; }
daemon_alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }
daemon_ready_or_gone() { daemon_ready || ! daemon_alive; }

# daemon_start CONFIG [ARGS...]: runs enforcerd in the node namespace (network namespace only, so
# that /sys/fs/bpf and cgroup2 stay the host's) and waits until it has attached (its log line)
# and serves metrics.
daemon_start() {
  local config=$1 log
  shift
  log=$(daemon_log)
  nsenter --net="/run/netns/${DAEMON_NETNS:-$NODE}" "$ENFORCERD" --config "$config" "$@" >"$log" 2>&1 &
  DAEMON_PID=$!
  [[ " ${FAIL_LOGS[*]} " == *" $log "* ]] || FAIL_LOGS+=("$log")
  wait_until 10 daemon_ready_or_gone
  daemon_alive || { cat "$log"; fail "enforcerd exited at start"; }
  daemon_ready || { cat "$log"; fail "enforcerd's metrics endpoint did not answer within 10 s"; }
}

daemon_stop() {
  if [ -n "$DAEMON_PID" ] && daemon_alive; then
    kill -TERM "$DAEMON_PID"
    wait_until 10 eval '! daemon_alive' || true
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
    wait "$DAEMON_PID" 2>/dev/null || true
  fi
  DAEMON_PID=
  # A sanitizer build's daemon reports in its log (leaks only at exit). The test fails at
  # topo_down, after cleaning up (a later daemon_start overwrites the log, so note it now).
  local log
  log=$(daemon_log)
  if [ -z "$SANITIZER_REPORT" ] && [ -f "$log" ] && grep -qE 'Sanitizer|runtime error:' "$log"; then
    SANITIZER_REPORT=1
    printf 'FAIL: the daemon reported a sanitizer finding:\n' >&2
    cat "$log" >&2
  fi
}

# wait_log SECONDS PATTERN...: waits until the daemon's log has a line matching each (grep -E)
# PATTERN; fails naming the first that is missing.
log_has() { grep -qE -- "$1" "$(daemon_log)"; }
wait_log() {
  local seconds=$1 pattern
  shift
  for pattern in "$@"; do
    wait_until "$seconds" log_has "$pattern" || fail "the daemon did not log '$pattern' within $seconds s"
  done
}

# Waits until the daemon has sampled at least twice more (tick is short in tests).
wait_ticks() { sleep "${1:-0.5}"; }

# ctl ARGS...: enforcerctl on this test's daemon.
ctl() { "$ENFORCERCTL" --socket "${CONTROL_SOCKET:-$WORK/run/control.sock}" "$@"; }

scrape() { nsenter --net="/run/netns/${DAEMON_NETNS:-$NODE}" curl -sf --max-time 60 "http://${METRICS_ADDR:-127.0.0.1:9724}/metrics"; }

# metric NAME LABELS [FILE]: the value of one series, e.g. metric enforcer_experiment_bytes_total
# 'direction="egress",experiment="a"' (LABELS empty for a series without labels), from a fresh
# scrape or from FILE, one saved with `scrape >FILE` (in the vm's guest a scrape costs 0.3-0.5 s:
# several series of one moment read from one); fails when the series is not exported.
metric() {
  local name=$1 labels=$2 want v
  want=$name${labels:+"{$labels}"}
  v=$(if [ -n "${3:-}" ]; then cat "$3"; else scrape; fi | awk -v want="$want" '$1 == want { printf "%.0f\n", $2 }')
  [ -n "$v" ] || fail "metric $want not exported"
  echo "$v"
}

# dropped_packets EXP DIRECTION: the packets EXP's limit has dropped in DIRECTION (the metric).
dropped_packets() { metric enforcer_experiment_dropped_packets_total "direction=\"$2\",experiment=\"$1\""; }

# Fails unless the uplink's root qdisc is still the one the topology set up (never replaced).
assert_root_qdisc() {
  [ -n "$UPLINK_QDISC" ] || return 0
  local root
  root=$(tc -n "${DAEMON_NETNS:-$NODE}" qdisc show dev eth0 root | awk '{print $2; exit}')
  [ "$root" = "$UPLINK_QDISC" ] || fail "$1: root qdisc of eth0 is '$root', expected $UPLINK_QDISC"
  log "ok: $1: eth0's root qdisc is still $UPLINK_QDISC"
}
