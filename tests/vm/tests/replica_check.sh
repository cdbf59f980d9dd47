#!/usr/bin/env bash
# vm tier: the M-Lab replica is what it claims to be (see tests/lib/replica.sh).
# Asserts: cgroup2 controllers at the root and in each pod, fq as eth0's root qdisc, ipvlan
# experiments, v4 + v6 ping both ways between experiments and the world, XFS with project quotas
# on /cache/data, and that replica_down leaves nothing behind. Reports iperf3 rates (experiment
# <-> world) when iperf3 is installed. (Processes are dear under TCG: checks use builtins.)
# vm-timeout: 240
set -euo pipefail
# shellcheck source=../../lib/replica.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"

failures=0
check() { # DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then
    echo "ok   - $what"
  else
    echo "FAIL - $what"
    failures=$((failures + 1))
  fi
}
quietly() { "$@" >/dev/null 2>&1; }
has_words() { # FILE WORD...: FILE's first line holds every WORD
  local file=$1 line word
  shift
  read -r line <"$file" || true
  for word in "$@"; do
    [[ " $line " == *" $word "* ]] || { echo "  $file: '$line' lacks $word" >&2; return 1; }
  done
}
in_experiment() { # NAME: replica_exec lands in the experiment's cgroup and netns
  local scope cgroup addrs
  scope=$(replica_cgroup "$1")
  cgroup=$(replica_exec "$1" cat /proc/self/cgroup)
  addrs=$(replica_exec "$1" ip -br addr show net1)
  [ "$cgroup" = "0::${scope#/sys/fs/cgroup}" ] || { echo "  in cgroup $cgroup" >&2; return 1; }
  [[ $addrs == *"$(replica_ipv4 "$1")/"* ]] || { echo "  net1: $addrs" >&2; return 1; }
}
is_kube_scope() { [[ $1 == /sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice/cri-containerd-*.scope ]]; }
is_ipvlan() { [[ $(ip -n "$1" -d link show net1) == *" ipvlan "* ]]; }
root_qdisc_is_fq() { [[ $(tc -n node qdisc show dev eth0 root) == "qdisc fq "*": root "* ]]; }
is_xfs_prjquota() { # MOUNTPOINT
  local mnt type opts
  while read -r _ mnt type opts _; do
    if [ "$mnt" = "$1" ]; then
      [ "$type" = xfs ] || { echo "  $1 is $type" >&2; return 1; }
      [[ ,$opts, == *,prjquota,* || ,$opts, == *,pquota,* ]] || { echo "  $1 options: $opts" >&2; return 1; }
      return 0
    fi
  done </proc/mounts
  echo "  $1 is not mounted" >&2
  return 1
}
project_quota_on() { # xfs_quota state: project quota accounting and enforcement ON
  local state
  state=$(xfs_quota -x -c state "$1") || return 1
  state=${state#*Project quota state}
  [[ $state == *"Accounting: ON"*"Enforcement: ON"* ]] || { echo "  $state" >&2; return 1; }
}
nothing_left() {
  [ -z "$(ip netns list)" ] || { echo "  netns left: $(ip netns list)" >&2; return 1; }
  [ ! -e /sys/fs/cgroup/kubepods.slice ] || { echo "  kubepods.slice left" >&2; return 1; }
  [ -z "$(losetup -a)" ] || { echo "  loop devices left: $(losetup -a)" >&2; return 1; }
  ! mountpoint -q /cache/data || { echo "  /cache/data still mounted" >&2; return 1; }
}

echo "# kernel $(uname -r)"
check "root cgroup.controllers has cpu memory io pids" \
  has_words /sys/fs/cgroup/cgroup.controllers cpu memory io pids

replica_up
replica_add_experiment ndt 198.18.0.10 2001:db8::10
replica_add_experiment msak 198.18.0.11 2001:db8::11
replica_xfs_up

for name in $(replica_experiments); do
  check "$name: pod cgroup.controllers has cpu memory io pids" \
    has_words "$(replica_pod_cgroup "$name")/cgroup.controllers" cpu memory io pids
  check "$name: container scope has cpu memory io pids" \
    has_words "$(replica_cgroup "$name")/cgroup.controllers" cpu memory io pids
  check "$name: cgroup is kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod*.slice/cri-containerd-*.scope" \
    is_kube_scope "$(replica_cgroup "$name")"
  check "$name: net1 is an ipvlan" is_ipvlan "exp-$name"
  check "$name: replica_exec runs in the experiment's cgroup and netns" in_experiment "$name"
done

check "eth0's root qdisc is fq" root_qdisc_is_fq
tc -n node qdisc show dev eth0

for name in $(replica_experiments); do
  check "$name -> world ping v4" quietly replica_ping "exp-$name" "$REPLICA_WORLD_IPV4"
  check "$name -> world ping v6" quietly replica_ping "exp-$name" "$REPLICA_WORLD_IPV6"
  check "world -> $name ping v4" quietly replica_ping world "$(replica_ipv4 "$name")"
  check "world -> $name ping v6" quietly replica_ping world "$(replica_ipv6 "$name")"
done

check "/cache/data is XFS mounted with prjquota" is_xfs_prjquota /cache/data
check "xfs_quota: project quota accounting and enforcement ON" project_quota_on /cache/data
check "/cache/data is writable" quietly mkdir -p /cache/data/ndt

if command -v iperf3 >/dev/null; then
  replica_bg world iperf3 -s -B "$REPLICA_WORLD_IPV4" >/dev/null 2>&1
  replica_wait_port world 5201
  read -r comm <"/proc/$REPLICA_BG_PID/comm"
  check "replica_bg: REPLICA_BG_PID is the command's own pid ($comm)" test "$comm" = iperf3
  for dir in up down; do
    flag=
    what="experiment -> world"
    [ "$dir" = up ] || { flag=-R; what="world -> experiment"; }
    json=$(replica_exec ndt iperf3 -c "$REPLICA_WORLD_IPV4" -t 3 -O 1 $flag -J) || json=
    # The receiver's total: the last "bits_per_second" of the JSON report.
    rate=${json##*\"bits_per_second\":}
    rate=${rate%%[,$'\n'\}]*}
    rate=${rate//[[:space:]]/}
    [[ $rate =~ ^[0-9.e+]+$ ]] || rate=0
    mbit=$(awk -v r="$rate" 'BEGIN { printf "%.0f", r / 1e6 }')
    check "iperf3 ndt, $what over ipvlan + veth: $mbit Mbit/s" test "$mbit" -gt 1
  done
  scope=$(replica_cgroup ndt)
  read -r peak <"$scope/memory.peak" 2>/dev/null || read -r peak <"$scope/memory.current"
  check "ndt's container cgroup accounted iperf3's memory ($peak bytes)" test "$peak" -gt 0
else
  echo "# iperf3 not installed: no rate measured"
fi

replica_down
check "replica_down left no netns, cgroup, loop device or mount" nothing_left

if [ "$failures" -gt 0 ]; then
  echo "replica_check: $failures check(s) failed"
  exit 1
fi
echo "replica_check: all checks passed"
