#!/usr/bin/env bash
# vm-timeout: 300
# vm-init: systemd
# Limits through systemd where systemd owns the pod's cgroup (issue 21, item 3), on the replica
# with Debian's systemd as PID 1:
#  - ndt's pod made as the kubelet's systemd driver makes it (a kubepods-besteffort-pod<uid>.slice
#    unit, its sandbox in a cri-containerd-<id>.scope, both by systemd-run): enforcerd sets its
#    limits as the slice's runtime unit properties (SetUnitProperties); cpu.max, memory.max,
#    memory.swap.max and io.max hold what the daemon's own writes would;
#  - wehe's pod made with mkdir (the cgroupfs driver, no unit): the same limits written directly;
#  - `systemctl daemon-reload`: both still hold, and enforcer_cgroup_drift_corrections_total did
#    not move;
#  - memory.max rewritten by hand on ndt's pod: seen in the file, corrected through systemd.
# First, for comparison, the same with daemon.cgroup_manager = "cgroupfs" (the files only, as
# enforcerd did before): the reload undoes ndt's limits and the drift check puts them back.
set -euo pipefail
# shellcheck source=../../lib/replica.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"
# The daemon runs in the replica's node namespace; its log, config and state are in WORK.
NODE=node WORK=/tmp/enforcer-vm CONTROL_SOCKET=/run/enforcer/control.sock
# shellcheck source=../../lib/daemon.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/daemon.sh"
modprobe -a sch_ingress cls_bpf  # clsact lives in sch_ingress
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"

replica_up
REPLICA_POD_MAKER=systemd replica_add_experiment ndt 198.18.0.10 2001:db8::10
replica_add_experiment wehe 198.18.0.11 2001:db8::11
replica_bg wehe sleep 1000  # the sandbox of wehe's pod, made with mkdir (systemd-run started ndt's)
ndt_pod=$(replica_pod_cgroup ndt)
wehe_pod=$(replica_pod_cgroup wehe)
ndt_unit=${ndt_pod##*/}
systemctl is-active --quiet "$ndt_unit" || fail "$ndt_unit is not an active systemd unit"
! systemctl is-active --quiet "${wehe_pod##*/}" || fail "wehe's pod is a systemd unit"

# A device for io.max: a loop device on a small file.
mkdir -p "$WORK"
truncate -s 16M "$WORK/disk.img"
loop=$(losetup --find --show "$WORK/disk.img")
replica_defer "losetup -d $loop"
devno=$(cat "/sys/class/block/${loop##*/}/dev")

write_test_config() { # CGROUP_MANAGER
  cat >"$WORK/enforcer.toml" <<TOML
[daemon]
tick = "500ms"
state_dir = "$WORK/state"
bpf_pin_dir = "/sys/fs/bpf/enforcer-vm"
on_stop = "remove"
metrics_listen = "127.0.0.1:9724"
cgroup_root = "/sys/fs/cgroup"
cgroup_manager = "$1"

[network]
interfaces = ["eth0"]
link_rate = "500Mbit"

[defaults]
cpu = 1.0
memory = "256MiB"

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10", "2001:db8::10"]
cpu = 0.5

[[experiment]]
name = "wehe"
addresses = ["198.18.0.11", "2001:db8::11"]
cpu = 0.25
memory = "128MiB"

[[device]]
path = "$loop"
read_bps = "400MB/s"
write_bps = "100MB/s"
TOML
}

holds() { local v; v=$(cat "$1" 2>/dev/null) && [ "$v" = "$2" ]; }
# expect POD FILE VALUE: FILE holds VALUE (within 3 s: systemd writes the files after it answered).
expect() { wait_until 3 holds "$1/$2" "$3" || fail "$1/$2 holds '$(cat "$1/$2" 2>&1)', not '$3'"; }
io_line="$devno rbps=40000000 wbps=10000000 riops=max wiops=max"
check_limits() { # WHEN
  expect "$ndt_pod" cpu.max "50000 100000"
  expect "$ndt_pod" memory.max 268435456
  expect "$ndt_pod" memory.swap.max 0
  expect "$ndt_pod" io.max "$io_line"
  expect "$wehe_pod" cpu.max "25000 100000"
  expect "$wehe_pod" memory.max 134217728
  expect "$wehe_pod" memory.swap.max 0
  expect "$wehe_pod" io.max "$io_line"
  log "ok: $1: ndt cpu.max '$(cat "$ndt_pod/cpu.max")', memory.max $(cat "$ndt_pod/memory.max"), memory.swap.max $(cat "$ndt_pod/memory.swap.max"), io.max '$(cat "$ndt_pod/io.max")'; wehe cpu.max '$(cat "$wehe_pod/cpu.max")', memory.max $(cat "$wehe_pod/memory.max")"
}
drift_corrections() { metric enforcer_cgroup_drift_corrections_total ''; }
# reload: systemctl daemon-reload, then four ticks for the drift check to read every file again.
reload() {
  local t0=$EPOCHREALTIME
  systemctl daemon-reload
  log "systemctl daemon-reload took $(seconds_since "$t0") s"
  sleep 2
}
replica_defer daemon_stop

# Without: every limit written to the files.
write_test_config cgroupfs
daemon_start "$WORK/enforcer.toml"
wait_log 20 'experiment ndt: found in' 'experiment wehe: found in'
! log_has 'through systemd unit' || { cat "$(daemon_log)"; fail "cgroup_manager = cgroupfs, but limits went through systemd"; }
check_limits "cgroupfs, limits in place"
sleep 1.5  # three ticks: nothing to correct
drift0=$(drift_corrections)
reload
drift1=$(drift_corrections)
log "cgroupfs: the daemon's drift check after daemon-reload:"
grep 'restoring it' "$(daemon_log)" | sed 's/^/  /' || true
[ "$drift1" -gt "$drift0" ] || fail "cgroupfs: daemon-reload undid nothing ($drift0 -> $drift1): the comparison proves nothing"
check_limits "cgroupfs, after daemon-reload and $((drift1 - drift0)) drift corrections"
daemon_stop

# With: the systemd pod's limits through systemd.
write_test_config auto
daemon_start "$WORK/enforcer.toml"
wait_log 20 'experiment ndt: found in' 'experiment wehe: found in'
log_has "experiment ndt: found in $ndt_pod; limits applied \(.*through systemd unit $ndt_unit\)" ||
  { cat "$(daemon_log)"; fail "ndt's limits were not set through systemd unit $ndt_unit"; }
log_has "experiment wehe: found in $wehe_pod; limits applied \([0-9]+ of [0-9]+\)" ||
  { cat "$(daemon_log)"; fail "wehe's limits were not written directly"; }
! log_has 'writing the cgroup files directly instead' ||
  { cat "$(daemon_log)"; fail "the daemon fell back from systemd to the files"; }
log "ok: ndt's limits through systemd unit $ndt_unit, wehe's written to its files"
check_limits "auto, limits in place"
props=$(systemctl show -p CPUQuotaPerSecUSec -p MemoryMax -p MemorySwapMax -p IOReadBandwidthMax -p IOWriteBandwidthMax "$ndt_unit" | tr '\n' ' ')
log "$ndt_unit: $props"
[[ $props == *CPUQuotaPerSecUSec=500ms* && $props == *MemoryMax=268435456* && $props == *MemorySwapMax=0* ]] ||
  fail "systemd does not hold ndt's limits as unit properties: $props"
sleep 1.5
drift0=$(drift_corrections)
reload
check_limits "auto, after daemon-reload"
drift1=$(drift_corrections)
[ "$drift1" = "$drift0" ] || { cat "$(daemon_log)"; fail "drift corrections moved $drift0 -> $drift1 across daemon-reload"; }
log "ok: no drift correction across daemon-reload (enforcer_cgroup_drift_corrections_total $drift0 -> $drift1)"

# Drift on the systemd pod is still seen in the files, and corrected through systemd.
echo max >"$ndt_pod/memory.max"
wait_until 3 holds "$ndt_pod/memory.max" 268435456 || fail "ndt's memory.max was not restored"
drift2=$(drift_corrections)
[ "$drift2" -gt "$drift1" ] || fail "the correction was not counted ($drift1 -> $drift2)"
[ "$(systemctl show -P MemoryMax "$ndt_unit")" = 268435456 ] || fail "ndt's unit lost its MemoryMax"
log "ok: memory.max rewritten by hand restored (corrections $drift1 -> $drift2)"
log PASS
