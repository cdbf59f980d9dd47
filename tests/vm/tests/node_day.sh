#!/usr/bin/env bash
# vm-timeout: 420
# vm-init: systemd
# A day on an M-Lab node, compressed: three experiments at once on the replica (systemd as PID 1,
# pods started by runc as containerd does, fq root, EDT), the window scaled to W = 20 s (T = 0.5 s,
# min_rate 1 Mbit/s) and the day to 3 W:
#  - ndt (A = 100 Mbit/s, B = 250 MB) serves speed tests: a client in the world downloads for 1 s
#    every 3 s, from two servers in ndt's container. Those that fit in its budget (the first
#    two or three at 50-80 MB) are not throttled and run at the path's speed (>= 30 % of an idle
#    experiment's download just before the day, ref's, in a guest busy with the day; a held one
#    runs at min_rate); no 20 s interval of ndt's egress carries more than (A + min_rate) W;
#  - steady (A = 100 Mbit/s) sends 5 Mbit/s the whole day: never throttled, all of it delivered;
#    its container also runs two busy loops held to its 0.2 cores (cpu.stat);
#  - hostnet, a host-network experiment (its container in the node's netns, counted and limited by
#    cgroup_skb on its pod; A = 20 Mbit/s) sends TCP as fast as it can: no 20 s interval above
#    (A + min_rate) W, and A on average over the day (-10 %, +2 % + min_rate); halfway, a process
#    in its container grows past its 128 MiB and is OOM-killed, and its upload goes on.
# With vm.linux612.window_budget (the window with one EDT-paced greedy sender and an idle one's
# burst on 6.12), this is the window's proof on 6.1.
# About 2 minutes (systemd's boot included).
set -euo pipefail
# shellcheck source=../../lib/replica.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"
NODE=node WORK=/tmp/enforcer-vm CONTROL_SOCKET=/run/enforcer/control.sock
# shellcheck source=../../lib/daemon.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/daemon.sh"
modprobe -a sch_ingress cls_bpf  # clsact lives in sch_ingress

W=20
DAY=$((3 * W))
MIN_RATE_BIT=1000000
NDT_A_BIT=100000000
HOSTNET_A_BIT=20000000
STEADY_CPU=0.2

replica_up
REPLICA_POD_MAKER=runc replica_add_experiment ndt 198.18.0.10 2001:db8::10
REPLICA_POD_MAKER=runc replica_add_experiment steady 198.18.0.11 2001:db8::11
REPLICA_POD_MAKER=runc replica_add_host_pod hostnet
# ref, idle but for one download before the day: the path's speed (its pod a cgroup directory).
replica_add_experiment ref 198.18.0.12 2001:db8::12
hostnet_pod=$(replica_pod_cgroup hostnet)
steady_pod=$(replica_pod_cgroup steady)

mkdir -p "$WORK"
write_replica_config "$WORK/enforcer.toml"
cat >>"$WORK/enforcer.toml" <<TOML

[defaults]
window = "${W}s"
bandwidth = "${NDT_A_BIT}bit"
min_rate = "${MIN_RATE_BIT}bit"
cpu = 1.0
memory = "256MiB"

$(replica_toml_experiments)
[[experiment]]
name = "hostnet"
cgroup = "${hostnet_pod#/sys/fs/cgroup/}"
bandwidth = "${HOSTNET_A_BIT}bit"
memory = "128MiB"
TOML
sed -i "/^name = \"steady\"/{n;s/\$/\ncpu = $STEADY_CPU/}" "$WORK/enforcer.toml"
grep -q "^cpu = $STEADY_CPU" "$WORK/enforcer.toml" || fail "could not set steady's cpu"
replica_defer daemon_stop
daemon_start "$WORK/enforcer.toml"
wait_log 20 'experiment ndt: found in' 'experiment steady: found in' 'experiment hostnet: found in'
log_has 'egress paced \(EDT\)' || fail "egress is not paced on the fq uplink"

# Servers: ndt's two speed-test servers in its container, the world's sinks.
replica_bg ndt iperf3 -s -p 5201
replica_bg ndt iperf3 -s -p 5202
replica_bg world iperf3 -s -p 5301 -1 -J >"$WORK/hostnet.json"
replica_bg world iperf3 -s -p 5302 -1 -J >"$WORK/steady.json"
replica_bg ref iperf3 -s -p 5203
for p in 5201 5202; do replica_wait_port exp-ndt "$p"; done
replica_wait_port exp-ref 5203
for p in 5301 5302; do replica_wait_port world "$p"; done
for x in ndt steady ref; do replica_ping "exp-$x" "$REPLICA_WORLD_IPV4" >/dev/null; done

# The path's speed: the same 1 s download as ndt's tests, from ref (unthrottled, idle).
replica_world iperf3 -c "$(replica_ipv4 ref)" -p 5203 -R -t 1 -J >"$WORK/path.json" 2>&1 ||
  { cat "$WORK/path.json"; fail "the path's reference download failed"; }
path_bps=$(jq '.end.sum_received.bits_per_second | floor' "$WORK/path.json")
log "the path's speed (a download from ref, unthrottled): $path_bps bit/s"
# steady's busy loops, which its 5 Mbit/s sender shares the 0.2 cores with.
replica_bg steady sh -c 'while :; do :; done'
replica_bg steady sh -c 'while :; do :; done'

# ndt's egress, sampled every second in its netns by one shell (builtins only).
ip netns exec exp-ndt bash -c 'while :; do read -r v </sys/class/net/net1/statistics/tx_bytes;
  echo "$EPOCHREALTIME $v"; sleep 1; done' >"$WORK/ndt.samples" &
sampler=$!
replica_defer "kill $sampler 2>/dev/null || true"
steady_cpu0=$(awk '$1 == "usage_usec" { print $2 }' "$steady_pod/cpu.stat")
steady_events0=$(metric enforcer_experiment_throttle_events_total 'direction="egress",experiment="steady"')
oom0=$(metric enforcer_experiment_oom_kills_total 'experiment="hostnet"')
t_day=$EPOCHREALTIME
log "the day begins: $DAY s"
replica_bg hostnet iperf3 -c "$REPLICA_WORLD_IPV4" -p 5301 -t "$DAY"
hostnet_iperf=$REPLICA_BG_PID
replica_bg steady iperf3 -c "$REPLICA_WORLD_IPV4" -p 5302 -b 5M -t "$DAY"
steady_iperf=$REPLICA_BG_PID

# ndt's speed tests: 1 s downloads every 3 s, from 2 s into the day to its end.
tests=0 oom_done=0
rates=() sizes=() events=()
ndt_events0=$(metric enforcer_experiment_throttle_events_total 'direction="egress",experiment="ndt"')
while :; do
  start=$(awk -v t0="$t_day" -v n="$tests" 'BEGIN { printf "%.3f", t0 + 2 + 3 * n }')
  awk -v s="$start" -v d="$DAY" -v t0="$t_day" 'BEGIN { exit !(s + 1 < t0 + d) }' || break
  wait_s=$(awk -v s="$start" -v now="$EPOCHREALTIME" 'BEGIN { w = s - now; printf "%.3f", (w > 0 ? w : 0) }')
  sleep "$wait_s"
  port=$((5201 + tests % 2))
  replica_world iperf3 -c 198.18.0.10 -p "$port" -R -t 1 -J >"$WORK/test-$tests.json" 2>&1 ||
    { cat "$WORK/test-$tests.json"; fail "ndt's speed test $tests failed"; }
  rates+=("$(jq '.end.sum_received.bits_per_second | floor' "$WORK/test-$tests.json")")
  sizes+=("$(jq '.end.sum_received.bytes' "$WORK/test-$tests.json")")
  # ndt's throttle events after each test of the first window (a scrape costs the guest 0.3 s).
  if [ "$tests" -lt $((W / 3)) ]; then
    events+=("$(metric enforcer_experiment_throttle_events_total 'direction="egress",experiment="ndt"')")
  fi
  tests=$((tests + 1))
  # Halfway: a process in hostnet's container grows past its 128 MiB.
  if [ "$oom_done" = 0 ] && [ "$(seconds_since "$t_day" | cut -d. -f1)" -ge $((DAY / 2)) ]; then
    oom_done=1
    ! replica_exec hostnet python3 -c 'b = b"x" * (256 << 20); print(len(b))' >/dev/null 2>&1 ||
      fail "a process in hostnet's container took 256 MiB under its 128 MiB limit"
  fi
done
wait "$hostnet_iperf" || fail "hostnet's upload ended with an error (killed with the OOM victim?)"
wait "$steady_iperf" || fail "steady's upload ended with an error"
day_s=$(seconds_since "$t_day")
steady_cpu1=$(awk '$1 == "usage_usec" { print $2 }' "$steady_pod/cpu.stat")
kill "$sampler" 2>/dev/null || true
sleep 1 # the servers' last reports
log "ndt's speed tests (bit/s): ${rates[*]}"
cp "$WORK"/*.json "$WORK/ndt.samples" "$(daemon_log)" "${ENFORCER_VM_RESULTS:-$WORK}/" 2>/dev/null || true

# ndt: the tests that fit in its budget ran unthrottled, at the path's speed. All of the first
# window's tests count against B; those whose bytes, with every test's before, stay within 75 %
# of B fit: the datapath's limit falls below link_rate (throttled, in the metric's words) once
# what is left is less than a tick at link_rate (31 MB, 12.5 % of B), and a tick's bytes are
# counted a tick late. The path's speed is an idle guest's: beside the day's other traffic and busy loops
# the guest's two emulated CPUs carry 40-70 % of it (a held test runs at min_rate, 1-3 Mbit/s).
fitting=0 spent=0
for ((i = 0; i < ${#events[@]}; i++)); do
  spent=$((spent + sizes[i]))
  [ "$spent" -le $((NDT_A_BIT / 8 * W * 75 / 100)) ] || break
  [ "${events[i]}" = "$ndt_events0" ] ||
    fail "ndt was throttled by its speed test $((i + 1)), within its budget ($spent bytes so far)"
  at_least "${rates[i]}" "$(awk -v p="$path_bps" 'BEGIN { print 0.3 * p }')" ||
    fail "ndt's speed test $((i + 1)) ran at ${rates[i]} bit/s, below 30 % of the path's $path_bps, within its budget ($spent bytes so far)"
  fitting=$((fitting + 1))
done
[ "$fitting" -ge 2 ] || fail "only $fitting of ndt's speed tests fit in its budget: the check proves little"
log "ok: ndt's $fitting speed tests within its budget at $(printf '%s ' "${rates[@]:0:fitting}")bit/s (the path: $path_bps)"

# worst_window FILE: the most bytes in an interval of at most W between two "time bytes" samples.
worst_window() {
  awk -v W="$W" '{ t[NR] = $1; v[NR] = $2 }
    END { worst = 0; j = 1
      for (i = 1; i <= NR; i++) { while (j < NR && t[j + 1] - t[i] <= W) j++; if (v[j] - v[i] > worst) worst = v[j] - v[i] }
      print worst }' "$1"
}
cap() { echo $((($1 + MIN_RATE_BIT) / 8 * W * 102 / 100)); }
ndt_worst=$(worst_window "$WORK/ndt.samples")
[ "$ndt_worst" -le "$(cap "$NDT_A_BIT")" ] ||
  fail "ndt carried $ndt_worst bytes in a $W s interval, above (A + min_rate) W + 2 % = $(cap "$NDT_A_BIT")"
log "ok: ndt's worst $W s: $ndt_worst bytes (cap $(cap "$NDT_A_BIT"))"

# hostnet: the world's per-second receipts, summed over every W consecutive seconds.
jq -r '.intervals[] | "\(.sum.end) \(.sum.bytes)"' "$WORK/hostnet.json" |
  awk '{ total += $2; print $1, total }' >"$WORK/hostnet.samples"
hostnet_worst=$(worst_window "$WORK/hostnet.samples")
hostnet_total=$(jq '.end.sum_received.bytes' "$WORK/hostnet.json")
[ "$hostnet_worst" -le "$(cap "$HOSTNET_A_BIT")" ] ||
  fail "hostnet carried $hostnet_worst bytes in a $W s interval, above (A + min_rate) W + 2 % = $(cap "$HOSTNET_A_BIT")"
# Over the day it averages A: its first budget at the path's speed, then what comes back as the
# window slides (-10 %: TCP takes a moment to use an allowance that comes back; see
# window_budget.sh), never above A + min_rate (+2 %).
lo=$((HOSTNET_A_BIT / 8 * DAY * 90 / 100))
hi=$(((HOSTNET_A_BIT + MIN_RATE_BIT) / 8 * DAY * 102 / 100))
[ "$hostnet_total" -ge "$lo" ] && [ "$hostnet_total" -le "$hi" ] ||
  fail "hostnet's average over the day is off A: $hostnet_total bytes, expected $lo..$hi"
log "ok: hostnet's worst $W s: $hostnet_worst bytes (cap $(cap "$HOSTNET_A_BIT")); the day: $hostnet_total bytes ($(awk -v b="$hostnet_total" -v A="$HOSTNET_A_BIT" -v d="$DAY" 'BEGIN { printf "%.1f", 100 * b * 8 / (A * d) }') % of A)"
oom1=$(metric enforcer_experiment_oom_kills_total 'experiment="hostnet"')
[ "$oom1" -gt "$oom0" ] || fail "no OOM kill counted for hostnet ($oom0 -> $oom1)"
log "ok: hostnet's 256 MiB process OOM-killed under its 128 MiB (oom kills $oom0 -> $oom1), its upload went on"

# steady: never throttled, everything delivered; its busy loops held to 0.2 cores.
steady_events1=$(metric enforcer_experiment_throttle_events_total 'direction="egress",experiment="steady"')
[ "$steady_events1" = "$steady_events0" ] || fail "steady was throttled ($steady_events0 -> $steady_events1 events)"
steady_bytes=$(jq '.end.sum_received.bytes' "$WORK/steady.json")
[ "$steady_bytes" -ge $((5000000 / 8 * DAY * 95 / 100)) ] ||
  fail "steady delivered $steady_bytes bytes, less than 95 % of 5 Mbit/s for $DAY s"
cores=$(awk -v a="$steady_cpu0" -v b="$steady_cpu1" -v s="$day_s" 'BEGIN { printf "%.3f", (b - a) / 1e6 / s }')
# +10 %: the usage is read a moment before and after the day that divides it, and CFS bandwidth
# control lets a period's quota run over at its edges.
at_most "$cores" "$(awk -v c="$STEADY_CPU" 'BEGIN { print c * 1.1 }')" ||
  fail "steady's container used $cores cores, more than its $STEADY_CPU"
at_least "$cores" "$(awk -v c="$STEADY_CPU" 'BEGIN { print c * 0.8 }')" ||
  fail "steady's busy loops used only $cores cores: the CPU check proves nothing"
log "ok: steady never throttled, $steady_bytes bytes delivered; its busy loops held to $cores cores (limit $STEADY_CPU)"
log PASS
