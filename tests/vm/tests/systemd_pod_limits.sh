#!/usr/bin/env bash
# vm-timeout: 300
# vm-init: systemd
# Pods made by a real container runtime, and limits through systemd where systemd owns the pod's
# cgroup, on the replica with Debian's systemd as PID 1:
#  - ndt's pod made as containerd makes it with the kubelet's systemd driver: runc
#    --systemd-cgroup starts its container (the sandbox) in a cri-containerd-<id>.scope in a
#    kubepods-besteffort-pod<uid>.slice unit, in ndt's netns (ipvlan on eth0, fq root), with
#    ndt's XFS data_dir at /data (tests/lib/replica_runc.sh). enforcerd finds it by its addresses
#    and sets its limits as the slice's runtime unit properties (SetUnitProperties); cpu.max,
#    memory.max, memory.swap.max and io.max hold what the daemon's own writes would; a write of
#    more than its 16 MiB disk in the container fails (ENOSPC, XFS's word for a project's limit);
#  - hostnet, a host-network experiment (its runc container in the node's netns), found by its
#    pod's cgroup glob: its traffic to the world is charged to it by the cgroup_skb programs on
#    that pod (20 MB sent by iperf3 in the container: charged 20 MB plus headers), and to no one
#    else; its limits go through its slice's unit too;
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
replica_xfs_up
mkdir -p /cache/data/ndt
REPLICA_POD_MAKER=runc REPLICA_POD_DATA=/cache/data/ndt replica_add_experiment ndt 198.18.0.10 2001:db8::10
REPLICA_POD_MAKER=runc replica_add_host_pod hostnet
replica_add_experiment wehe 198.18.0.11 2001:db8::11
replica_bg wehe sleep 1000  # the sandbox of wehe's pod, made with mkdir (runc started the others)
ndt_pod=$(replica_pod_cgroup ndt)
hostnet_pod=$(replica_pod_cgroup hostnet)
wehe_pod=$(replica_pod_cgroup wehe)
ndt_unit=${ndt_pod##*/}
hostnet_unit=${hostnet_pod##*/}
for unit in "$ndt_unit" "$hostnet_unit" "$(basename "$(replica_cgroup ndt)")"; do
  systemctl is-active --quiet "$unit" || fail "$unit is not an active systemd unit"
done
! systemctl is-active --quiet "${wehe_pod##*/}" || fail "wehe's pod is a systemd unit"
[ "$(replica_exec ndt cat /proc/1/cmdline | tr '\0' ' ')" = "sleep infinity " ] ||
  fail "ndt's commands do not run in its container (pid 1 there: $(replica_exec ndt cat /proc/1/cmdline))"
log "ok: runc started ndt's and hostnet's containers in $(basename "$(replica_cgroup ndt)") and $(basename "$(replica_cgroup hostnet)")"

# A device for io.max: a loop device on a small file.
mkdir -p "$WORK"
truncate -s 16M "$WORK/disk.img"
loop=$(losetup --find --show "$WORK/disk.img")
replica_defer "losetup -d $loop"
devno=$(cat "/sys/class/block/${loop##*/}/dev")

write_test_config() { # CGROUP_MANAGER
  write_replica_config "$WORK/enforcer.toml" "cgroup_manager = \"$1\""
  cat >>"$WORK/enforcer.toml" <<TOML

[defaults]
cpu = 1.0
memory = "256MiB"
disk = "16MiB"

[[experiment]]
name = "ndt"
addresses = ["198.18.0.10", "2001:db8::10"]
cpu = 0.5
data_dir = "/cache/data/ndt"

[[experiment]]
name = "hostnet"
cgroup = "${hostnet_pod#/sys/fs/cgroup/}"
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
wait_log 20 'experiment ndt: found in' 'experiment wehe: found in' 'experiment hostnet: found in'
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
wait_log 20 'experiment ndt: found in' 'experiment wehe: found in' 'experiment hostnet: found in'
log_has "experiment ndt: found in $ndt_pod; limits applied \(.*through systemd unit $ndt_unit\)" ||
  { cat "$(daemon_log)"; fail "ndt's limits were not set through systemd unit $ndt_unit"; }
log_has "experiment wehe: found in $wehe_pod; limits applied \([0-9]+ of [0-9]+\)" ||
  { cat "$(daemon_log)"; fail "wehe's limits were not written directly"; }
! log_has 'writing the cgroup files directly instead' ||
  { cat "$(daemon_log)"; fail "the daemon fell back from systemd to the files"; }
log_has "experiment hostnet: found in $hostnet_pod; limits applied \(.*through systemd unit $hostnet_unit\)" ||
  { cat "$(daemon_log)"; fail "hostnet's limits were not set through systemd unit $hostnet_unit"; }
expect "$hostnet_pod" cpu.max "50000 100000"
log "ok: ndt's and hostnet's limits through systemd units $ndt_unit and $hostnet_unit, wehe's written to its files"
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

# The quota, from inside ndt's container: /data is its data_dir; 16 MiB and no more.
wait_log 10 'experiment ndt: disk quota 16777216 bytes on /cache/data/ndt'
! replica_exec ndt dd if=/dev/zero of=/data/big bs=1M count=32 conv=fsync status=none 2>"$WORK/dd.err" ||
  fail "ndt's container wrote 32 MiB into its 16 MiB data_dir"
# XFS reports a project quota's limit as ENOSPC (a project is a directory tree, seen as a
# smaller disk), so the file system's own free space tells the quota from a full disk.
grep -q 'No space left on device' "$WORK/dd.err" || fail "ndt's write failed, but not on the quota: $(cat "$WORK/dd.err")"
free=$(df --output=avail -B1 /cache/data | tail -n 1)
[ "$free" -gt $((100 * 1024 * 1024)) ] || fail "/cache/data itself is full ($free bytes free): the quota proves nothing"
size=$(stat -c %s /cache/data/ndt/big)
[ "$size" -le $((16 * 1024 * 1024)) ] || fail "ndt's container wrote $size bytes, more than its 16 MiB quota"
log "ok: ndt's container: a 32 MiB write into /data stopped at $size bytes (ENOSPC, $free bytes free on /cache/data)"

# hostnet's traffic, counted by cgroup_skb on its pod: 20 MB from its container to the world.
replica_bg world iperf3 -s -p 5201 -B "$REPLICA_WORLD_IPV4"
replica_wait_port world 5201
counted() { metric enforcer_experiment_bytes_total "direction=\"$2\",experiment=\"$1\"" "$3"; }
scrape >"$WORK/before.prom"
replica_exec hostnet iperf3 -c "$REPLICA_WORLD_IPV4" -p 5201 -n 20M >"$WORK/iperf.log" 2>&1 ||
  { cat "$WORK/iperf.log"; fail "iperf3 in hostnet's container failed"; }
sleep 1  # two ticks
scrape >"$WORK/after.prom"
sent=$((20 * 1024 * 1024))
declare -A d=()
for x in hostnet ndt wehe; do
  for dir in egress ingress; do
    d[$x.$dir]=$(($(counted "$x" "$dir" "$WORK/after.prom") - $(counted "$x" "$dir" "$WORK/before.prom")))
  done
done
# Headers: at most 52 + 14 bytes per 1448-byte segment is under 5 %; the handshake and ACKs
# coming back are a few hundred packets.
[ "${d[hostnet.egress]}" -ge "$sent" ] && [ "${d[hostnet.egress]}" -le $((sent * 105 / 100)) ] ||
  fail "hostnet sent $sent bytes of payload and was charged ${d[hostnet.egress]} egress bytes"
[ "${d[hostnet.ingress]}" -gt 0 ] || fail "hostnet was charged nothing for the ACKs it received"
[ $((${d[ndt.egress]} + ${d[ndt.ingress]} + ${d[wehe.egress]} + ${d[wehe.ingress]})) -lt 4096 ] ||
  fail "hostnet's traffic was charged to others: ndt ${d[ndt.egress]}/${d[ndt.ingress]}, wehe ${d[wehe.egress]}/${d[wehe.ingress]}"
log "ok: hostnet's 20 MiB from its container charged to it by cgroup_skb: ${d[hostnet.egress]} egress, ${d[hostnet.ingress]} ingress bytes; ndt and wehe nothing"
log PASS
