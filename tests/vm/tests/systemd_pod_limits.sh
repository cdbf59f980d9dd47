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
#    not move. For comparison, a third systemd pod whose files are written by hand, as enforcerd
#    did before, is shown after the same reload;
#  - memory.max rewritten by hand on ndt's pod: seen in the file, corrected through systemd, and
#    kept across another daemon-reload.
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
REPLICA_POD_MAKER=systemd replica_add_experiment byhand 198.18.0.12 2001:db8::12
ndt_pod=$(replica_pod_cgroup ndt)
wehe_pod=$(replica_pod_cgroup wehe)
byhand_pod=$(replica_pod_cgroup byhand)
ndt_unit=${ndt_pod##*/}
systemctl is-active --quiet "$ndt_unit" || fail "$ndt_unit is not an active systemd unit"
! systemctl is-active --quiet "${wehe_pod##*/}" || fail "wehe's pod is a systemd unit"

# A device for io.max: a loop device on a small file.
mkdir -p "$WORK"
truncate -s 16M "$WORK/disk.img"
loop=$(losetup --find --show "$WORK/disk.img")
replica_defer "losetup -d $loop"
devno=$(cat "/sys/class/block/${loop##*/}/dev")

cat >"$WORK/enforcer.toml" <<TOML
[daemon]
tick = "500ms"
state_dir = "$WORK/state"
bpf_pin_dir = "/sys/fs/bpf/enforcer-vm"
on_stop = "remove"
metrics_listen = "127.0.0.1:9724"
cgroup_root = "/sys/fs/cgroup"

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
replica_defer daemon_stop
daemon_start "$WORK/enforcer.toml"
wait_log 20 'experiment ndt: found in' 'experiment wehe: found in'
log_has "experiment ndt: found in $ndt_pod; limits applied \(.*through systemd unit $ndt_unit\)" ||
  { cat "$(daemon_log)"; fail "ndt's limits were not set through systemd unit $ndt_unit"; }
log_has "experiment wehe: found in $wehe_pod; limits applied \([0-9]+ of [0-9]+\)" ||
  { cat "$(daemon_log)"; fail "wehe's limits were not written directly"; }
! log_has 'writing the cgroup files directly instead' ||
  { cat "$(daemon_log)"; fail "the daemon fell back from systemd to the files"; }
log "ok: ndt's limits through systemd unit $ndt_unit, wehe's written to its files"

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
check_limits "limits in place"
props=$(systemctl show -p CPUQuotaPerSecUSec -p MemoryMax -p MemorySwapMax -p IOReadBandwidthMax -p IOWriteBandwidthMax "$ndt_unit" | tr '\n' ' ')
log "$ndt_unit: $props"
[[ $props == *CPUQuotaPerSecUSec=500ms* && $props == *MemoryMax=268435456* && $props == *MemorySwapMax=0* ]] ||
  fail "systemd does not hold ndt's limits as unit properties: $props"

# The way enforcerd wrote before: straight into the files of a systemd pod.
echo 50000 100000 >"$byhand_pod/cpu.max"
echo 268435456 >"$byhand_pod/memory.max"

drift_corrections() { metric enforcer_cgroup_drift_corrections_total ''; }
sleep 1.5  # three ticks: nothing to correct
drift0=$(drift_corrections)
t0=$EPOCHREALTIME
systemctl daemon-reload
log "systemctl daemon-reload took $(seconds_since "$t0") s"
sleep 2  # four ticks: the drift check has read every file again
byhand_cpu=$(cat "$byhand_pod/cpu.max" 2>/dev/null || echo '(no cpu.max)')
byhand_memory=$(cat "$byhand_pod/memory.max" 2>/dev/null || echo '(no memory.max)')
log "written by hand into a systemd pod, after daemon-reload: cpu.max '$byhand_cpu', memory.max $byhand_memory (were '50000 100000', 268435456)"
check_limits "after daemon-reload"
drift1=$(drift_corrections)
[ "$drift1" = "$drift0" ] || { cat "$(daemon_log)"; fail "drift corrections moved $drift0 -> $drift1 across daemon-reload"; }
log "ok: no drift correction across daemon-reload (enforcer_cgroup_drift_corrections_total $drift0 -> $drift1)"

# Drift on the systemd pod is still seen in the files and corrected through systemd.
echo max >"$ndt_pod/memory.max"
wait_until 3 holds "$ndt_pod/memory.max" 268435456 || fail "ndt's memory.max was not restored"
drift2=$(drift_corrections)
[ "$drift2" -gt "$drift1" ] || fail "the correction was not counted ($drift1 -> $drift2)"
systemctl daemon-reload
sleep 1
expect "$ndt_pod" memory.max 268435456
log "ok: memory.max rewritten by hand restored through systemd (corrections $drift1 -> $drift2), kept across another daemon-reload"
log PASS
