#!/usr/bin/env bash
# vm-timeout: 420
# enforcerd finds each experiment's pod by the addresses in its network namespace and holds it to
# its allocation (issue "experiment discovery, and cgroup v2 / quota enforcement"), on the M-Lab
# replica kernel:
#  - CPU: 4 busy threads in ndt use <= 1.05 cores over 5 s (cpu.stat); in wehe, whose override is
#    0.5 cores, <= 0.55;
#  - memory: a process in ndt that grows past its 256 MiB is OOM-killed (memory.events oom_kill
#    and enforcer_experiment_oom_kills_total follow), while the same outside is not;
#  - disk I/O: a direct-I/O writer in ndt gets <= 10 % of the device's configured capacity (+5 %);
#  - drift: cpu.max rewritten by hand is restored within a tick and counted;
#  - a pod deleted and re-created (new cgroup, same addresses) has every limit back within two
#    ticks;
#  - disk: ndt's data_dir gets its project quota; the usage and limit metrics match xfs_quota; the
#    tree from before the daemon is tagged by its walk; a directory and a file reset to project 0
#    are tagged again at the next check and counted as drift.
set -euo pipefail
# shellcheck source=../../lib/replica.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"
# The daemon runs in the replica's node namespace; its log, config and state are in WORK.
NODE=node WORK=/tmp/enforcer-vm CONTROL_SOCKET=/run/enforcer/control.sock
# shellcheck source=../../lib/daemon.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/daemon.sh"
modprobe -a sch_ingress cls_bpf  # clsact lives in sch_ingress

TICK_MS=500  # the tick of write_replica_config (tests/lib/daemon.sh)

replica_up
replica_add_experiment ndt 198.18.0.10 2001:db8::10
replica_add_experiment wehe 198.18.0.11 2001:db8::11
replica_xfs_up
mkdir -p /cache/data/ndt/old/sub
echo before >/cache/data/ndt/old/sub/file  # there before the daemon: tagged by its first walk
# The pods' sandboxes: a process in each namespace, as the pause container is.
replica_bg ndt sleep 1000
replica_bg wehe sleep 1000

mkdir -p "$WORK"
write_replica_config "$WORK/enforcer.toml" "status_dir = \"$WORK/experiments\"
quota_check_interval = \"2s\""
cat >>"$WORK/enforcer.toml" <<EOF

[defaults]
cpu = 1.0
memory = "256MiB"
disk = "16MiB"

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10", "2001:db8::10"]
data_dir = "/cache/data/ndt"

[[experiment]]
name = "wehe"
addresses = ["198.18.0.11", "2001:db8::11"]
cpu = 0.5

# The loop device under /cache/data; ndt's 10 % is 10 MB/s of writes.
[[device]]
path = "$REPLICA_XFS_LOOP"
read_bps = "400MB/s"
write_bps = "100MB/s"
EOF
replica_defer daemon_stop
daemon_start "$WORK/enforcer.toml"
wait_log 20 'experiment ndt: found in' 'experiment wehe: found in'
ndt_pod=$(replica_pod_cgroup ndt)
wehe_pod=$(replica_pod_cgroup wehe)
log_has "experiment ndt: found in $ndt_pod" || fail "ndt was found elsewhere than $ndt_pod"

read -r v <"$ndt_pod/cpu.max"; [ "$v" = "100000 100000" ] || fail "ndt cpu.max is '$v'"
read -r v <"$wehe_pod/cpu.max"; [ "$v" = "50000 100000" ] || fail "wehe cpu.max is '$v'"
read -r v <"$ndt_pod/memory.max"; [ "$v" = 268435456 ] || fail "ndt memory.max is '$v'"
read -r v <"$ndt_pod/memory.swap.max"; [ "$v" = 0 ] || fail "ndt memory.swap.max is '$v'"
log "ok: limits written: cpu.max 1.0 and 0.5 cores, memory.max 256 MiB, no swap"

drift_corrections() { metric enforcer_cgroup_drift_corrections_total ''; }
# holds FILE VALUE: FILE's first line is VALUE. wait_holds FILE VALUE SECONDS: until it is, polled
# every 50 ms (the times below are measured by it).
holds() { local v; read -r v <"$1" && [ "$v" = "$2" ]; }
wait_holds() { WAIT_INTERVAL=0.05 wait_until "$3" holds "$1" "$2"; }
usage_usec() { local k v; while read -r k v; do [ "$k" = usage_usec ] && { echo "$v"; return; }; done <"$1/cpu.stat"; }

# CPU: 4 busy loops in each pod's container; usage over 5 s.
burners=()
for x in ndt wehe; do
  for _ in 1 2 3 4; do
    replica_bg "$x" bash -c 'end=$((SECONDS + 30)); while [ $SECONDS -lt $end ]; do :; done'
    burners+=("$REPLICA_BG_PID")
  done
done
sleep 2
u0_ndt=$(usage_usec "$ndt_pod"); u0_wehe=$(usage_usec "$wehe_pod"); t0=$EPOCHREALTIME
sleep 5
u1_ndt=$(usage_usec "$ndt_pod"); u1_wehe=$(usage_usec "$wehe_pod"); t1=$EPOCHREALTIME
kill "${burners[@]}" 2>/dev/null || true
cores() { awk -v u=$(($2 - $1)) -v t0="$3" -v t1="$4" 'BEGIN { printf "%.3f", u / 1e6 / (t1 - t0) }'; }
ndt_cores=$(cores "$u0_ndt" "$u1_ndt" "$t0" "$t1")
wehe_cores=$(cores "$u0_wehe" "$u1_wehe" "$t0" "$t1")
log "4 busy threads each: ndt used $ndt_cores cores (limit 1.0), wehe $wehe_cores (limit 0.5)"
awk -v c="$ndt_cores" 'BEGIN { exit !(c <= 1.05) }' || fail "ndt used $ndt_cores cores, above 1.05"
awk -v c="$wehe_cores" 'BEGIN { exit !(c <= 0.55) }' || fail "wehe used $wehe_cores cores, above 0.55"
awk -v c="$wehe_cores" 'BEGIN { exit !(c >= 0.3) }' || fail "wehe used only $wehe_cores cores: was it running at all?"
log "ok: CPU held to the allocation"

# Disk I/O: a direct-I/O writer in ndt is held to 10 % of the device's configured 100 MB/s.
log_has 'io.max' || fail "no io.max was applied"
t0=$EPOCHREALTIME
replica_exec ndt dd if=/dev/zero of=/cache/data/ndt/io bs=1M count=12 oflag=direct status=none ||
  fail "the direct-I/O writer failed"
t1=$EPOCHREALTIME
rm -f /cache/data/ndt/io
io_rate=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", 12 * 1048576 / (t1 - t0) }')
log "direct-I/O writer in ndt: $io_rate B/s (limit 10,000,000 B/s)"
[ "$io_rate" -le 10500000 ] || fail "ndt wrote at $io_rate B/s, above 10 MB/s + 5 %"
[ "$io_rate" -ge 5000000 ] || fail "ndt wrote at only $io_rate B/s: is the limit far too low?"
# The same writer outside the experiment: the device itself is faster than the limit.
t0=$EPOCHREALTIME
dd if=/dev/zero of=/cache/data/io-outside bs=1M count=48 oflag=direct status=none || fail "the writer outside failed"
t1=$EPOCHREALTIME
rm -f /cache/data/io-outside
free_rate=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.0f", 48 * 1048576 / (t1 - t0) }')
log "the same writer outside any experiment: $free_rate B/s"
[ "$free_rate" -ge 15000000 ] || fail "the device writes only $free_rate B/s unlimited: the test proves nothing"
log "ok: disk I/O held to 10 % of the configured capacity"

# Memory: `tail -n 1` keeps all of its input (there is no newline in it): 400 MiB in ndt is OOM-killed; outside the
# experiment, in a cgroup of its own without a limit, the same completes.
oom0=$(metric enforcer_experiment_oom_kills_total 'experiment="ndt"') || fail "no oom metric for ndt"
rc=0
replica_exec ndt bash -c 'head -c 400M /dev/zero | tail -n 1 >/dev/null' || rc=$?
[ "$rc" != 0 ] || fail "a 400 MiB process in ndt (256 MiB) was not killed"
while read -r k v; do [ "$k" = oom_kill ] && oom_events=$v; done <"$ndt_pod/memory.events"
[ "${oom_events:-0}" -ge 1 ] || fail "memory.events of ndt shows no oom_kill"
sleep 1.5
oom1=$(metric enforcer_experiment_oom_kills_total 'experiment="ndt"')
[ "$oom1" -gt "$oom0" ] || fail "enforcer_experiment_oom_kills_total stayed at $oom1"
mkdir -p /sys/fs/cgroup/outside
(echo "$BASHPID" >/sys/fs/cgroup/outside/cgroup.procs; exec bash -c 'head -c 400M /dev/zero | tail -n 1 >/dev/null') ||
  fail "the same process outside the experiment failed"
rmdir /sys/fs/cgroup/outside 2>/dev/null || true
log "ok: memory: OOM-killed in ndt (exit $rc, oom_kill $oom_events, metric $oom0 -> $oom1); outside unaffected"

# Drift: someone lifts ndt's CPU limit; it is back within a tick (two, for the scheduling).
drift0=$(drift_corrections)
echo "max 100000" >"$ndt_pod/cpu.max"
t_drift=$EPOCHREALTIME
wait_holds "$ndt_pod/cpu.max" "100000 100000" 2 ||
  fail "cpu.max rewritten by hand was not restored within 2 s (holds '$(cat "$ndt_pod/cpu.max")')"
took=$(seconds_since "$t_drift")
# Within a tick, plus the emulated guest's scheduling and this loop's own reads (0.3 s).
at_most "$took" "$(awk -v t="$TICK_MS" 'BEGIN { print t / 1000 + 0.3 }')" ||
  fail "cpu.max was restored after $took s, more than a tick"
drift1=$(drift_corrections)
[ "$drift1" -gt "$drift0" ] || fail "the drift correction was not counted ($drift0 -> $drift1)"
log "ok: drift: cpu.max restored after $took s (tick $TICK_MS ms), corrections $drift0 -> $drift1"

# Overrides through the control socket (enforcerctl, as root): written to the pod by the next
# tick, not counted as drift, and undone by clearing them.
# wait_value FILE VALUE WHAT: FILE holds VALUE within two ticks (+0.3 s).
TWO_TICKS=$(awk -v t="$TICK_MS" 'BEGIN { print 2 * t / 1000 + 0.3 }')
wait_value() {
  local t0=$EPOCHREALTIME took
  wait_holds "$1" "$2" 2 || fail "$3: $1 holds '$(cat "$1")', not '$2'"
  took=$(seconds_since "$t0")
  at_most "$took" "$TWO_TICKS" || fail "$3: took $took s, more than two ticks"
  log "ok: $3: $1 = $2 after $took s"
}
drift0=$(drift_corrections)
ctl override set wehe cpu 0.25 --reason "vm test: cpu" >/dev/null || fail "override set wehe cpu"
wait_value "$wehe_pod/cpu.max" "25000 100000" "override cpu 0.25"
ctl override set wehe memory 128MiB --for 1h --reason "vm test: memory" >/dev/null || fail "override set wehe memory"
wait_value "$wehe_pod/memory.max" 134217728 "override memory 128MiB"
ctl show wehe --json | jq -e '.allocation.cpu_cores == 0.25 and .allocation.memory_bytes == 134217728' >/dev/null ||
  fail "show wehe does not report the overrides: $(ctl show wehe --json | jq -c .allocation)"
ctl override clear wehe --reason "vm test: clear" >/dev/null || fail "override clear wehe"
wait_value "$wehe_pod/cpu.max" "50000 100000" "override cleared: cpu"
wait_value "$wehe_pod/memory.max" 268435456 "override cleared: memory"
drift1=$(drift_corrections)
[ "$drift1" = "$drift0" ] || fail "overrides were counted as drift ($drift0 -> $drift1)"
grep -q '"reason":"vm test: memory"' "$WORK/state/audit.log" || fail "the memory override is not audited"
log "ok: cpu and memory overrides applied and cleared, not counted as drift"

# The pod is deleted and re-created under a new uid, with a new sandbox in the same namespace.
kill "$(cat "$ndt_pod"/*/cgroup.procs 2>/dev/null)" 2>/dev/null || true
replica_remove_cgroup "$ndt_pod" || fail "could not remove ndt's pod"
new_pod=${ndt_pod%pod*}pod0000aaaa_bbbb_cccc_dddd_eeeeffff0000.slice
mkdir -p "$new_pod/cri-containerd-0000.scope"
echo "+cpu +memory +io +pids" >"$new_pod/cgroup.subtree_control"
t_new=$EPOCHREALTIME
(echo "$BASHPID" >"$new_pod/cri-containerd-0000.scope/cgroup.procs"; exec nsenter --net=/run/netns/exp-ndt sleep 1000) &
sandbox=$!
limits_back() { holds "$new_pod/cpu.max" "100000 100000" && holds "$new_pod/memory.max" 268435456; }
back=0
WAIT_INTERVAL=0.05 wait_until 2 limits_back || back=$?
took=$(seconds_since "$t_new")
kill "$sandbox" 2>/dev/null || true
[ "$back" = 0 ] || fail "the re-created pod did not get its limits within 2 s (cpu.max '$(cat "$new_pod/cpu.max")', memory.max '$(cat "$new_pod/memory.max")')"
at_most "$took" "$TWO_TICKS" || fail "the re-created pod got its limits after $took s, more than two ticks"
log "ok: the re-created pod got its limits after $took s (tick $TICK_MS ms)"
replica_remove_cgroup "$new_pod" || true

# Disk: the quota on ndt's data_dir, as xfs_quota sees it.
dd if=/dev/zero of=/cache/data/ndt/f bs=1M count=4 status=none conv=fsync
sleep 6  # the quota is read every 10 ticks
used=$(metric enforcer_experiment_disk_used_bytes 'experiment="ndt"') || fail "no disk usage metric"
limit=$(metric enforcer_experiment_disk_limit_bytes 'experiment="ndt"') || fail "no disk limit metric"
report=$(xfs_quota -x -c 'report -p -b -N' /cache/data | awk '$1 == "#10001" || $1 == "10001" { print $2 * 1024, $4 * 1024 }')
[ -n "$report" ] || { xfs_quota -x -c 'report -p -b' /cache/data; fail "project 10001 not in xfs_quota's report"; }
read -r q_used q_limit <<<"$report"
[ "$used" = "$q_used" ] || fail "disk used: metric $used, xfs_quota $q_used"
[ "$limit" = "$q_limit" ] || fail "disk limit: metric $limit, xfs_quota $q_limit"
[ "$limit" = $((16 * 1024 * 1024)) ] || fail "disk limit is $limit, not 16 MiB"
log "ok: disk: used $used and limit $limit bytes, as xfs_quota reports"

# A disk override sets the project quota at once.
ctl override set ndt disk 32MiB --reason "vm test: disk" >/dev/null || fail "override set ndt disk"
q_limit=$(xfs_quota -x -c 'report -p -b -N' /cache/data | awk '$1 == "#10001" || $1 == "10001" { print $4 * 1024 }')
[ "$q_limit" = $((32 * 1024 * 1024)) ] || fail "after override disk 32MiB, xfs_quota's limit is $q_limit"
log "ok: override disk 32MiB: xfs_quota's hard limit is $q_limit"

# The tree from before the daemon was tagged by its walk (off the tick loop).
lsproj() { xfs_io -c lsproj "$1" | awk '{ print $NF }'; }
[ "$(lsproj /cache/data/ndt/old/sub/file)" = 10001 ] ||
  fail "a file from before the daemon has project $(lsproj /cache/data/ndt/old/sub/file), not 10001"
log_has "experiment ndt: [0-9]* files and directories below /cache/data/ndt tagged with project 10001" ||
  fail "the first walk of ndt's data_dir is not logged"
# Its owner resets a directory's and a file's project id to 0 (and the directory's inherit flag):
# what is written there would be outside the quota. The next check (quota_check_interval = 2s)
# tags them again and counts them as drift.
drift0=$(drift_corrections)
# (No look at the reset ids: the next check may already have tagged them again. The drift count
# below proves the reset and the re-tagging both happened.)
xfs_io -c 'chproj 0' -c 'chattr -P' /cache/data/ndt/old/sub
xfs_io -c 'chproj 0' /cache/data/ndt/old/sub/file
tagged_again() { [ "$(lsproj /cache/data/ndt/old/sub/file)" = 10001 ] && [ "$(lsproj /cache/data/ndt/old/sub)" = 10001 ]; }
WAIT_INTERVAL=0.2 wait_until 10 tagged_again ||
  fail "the reset project ids were not tagged again within 10 s"
xfs_io -c 'lsattr' /cache/data/ndt/old/sub | grep -q P || xfs_io -c 'lsattr -v' /cache/data/ndt/old/sub | grep -q inherit ||
  fail "the directory's inherit flag is not back: $(xfs_io -c 'lsattr -v' /cache/data/ndt/old/sub)"
sleep 1  # the tick that collects the walk's outcome
drift1=$(drift_corrections)
[ "$((drift1 - drift0))" -ge 2 ] || fail "drift corrections went from $drift0 to $drift1, not up by 2"
log_has "experiment ndt: [0-9]* files or directories below /cache/data/ndt had lost project id 10001" ||
  fail "the re-tagging is not logged"
log "ok: the data_dir's tree was tagged at start; 2 entries reset to project 0 were tagged again and counted"
log "PASS"
