#!/usr/bin/env bash
# vm tier: lib/cgroup_apply and lib/quota on the guest's kernel (tests/vm/cgroup_quota_test.cpp).
# cgroup part, on the ndt experiment's container scope: cpu.max for 1.0 and 0.5 cores, memory.max
# 256 MiB (+ memory.high, memory.swap.max 0), io.max on the loop device under /cache/data; the
# values in the files; a value rewritten by hand found by check() and restored; controllers
# enabled in a new slice; EBUSY below a slice with processes; cgroups removed before and while
# applying are "gone" (never a failure) and leak no fd.
# quota part: an 8 MiB project quota on /cache/data/ndt (XFS, prjquota): writing 16 MiB fails
# with ENOSPC (XFS reports a project quota's limit as ENOSPC, not EDQUOT) while the filesystem
# has room; usage and limit equal `xfs_quota -x -c 'report -p'`; then the same on ext4
# (-O quota,project, mounted with prjquota), where the error is EDQUOT (written without
# CAP_SYS_RESOURCE: ext4 lets that capability exceed hard limits).
# vm-timeout: 300
set -euo pipefail
# shellcheck source=../../lib/replica.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"

bin=$ENFORCER_BUILD_DIR/tests/vm/enforcer_vm_cgroup_quota
[ -x "$bin" ] || { echo "FAIL - $bin not built (cmake --build: enforcer_vm_cgroup_quota)"; exit 1; }
failures=0
check() { # DESCRIPTION CMD...
  local what=$1
  shift
  if "$@"; then echo "ok   - $what"; else echo "FAIL - $what"; failures=$((failures + 1)); fi
}
value_of() { # KEY TEXT: the value of KEY=VALUE in TEXT
  local re="(^|[[:space:]])$1=([^[:space:]]+)"
  [[ $2 =~ $re ]] && echo "${BASH_REMATCH[2]}"
}

replica_up
replica_add_experiment ndt 198.18.0.10 2001:db8::10
replica_xfs_up
scope=$(replica_cgroup ndt)

echo "== cgroup"
rc=0
"$bin" cgroup --root /sys/fs/cgroup --dir "$scope" --device "$REPLICA_XFS_LOOP" || rc=$?
check "cgroup part: no failures" [ "$rc" = 0 ]

echo "== quota (xfs)"
mkdir -p /cache/data/ndt
rc=0
out=$("$bin" quota --dir /cache/data/ndt --project 10001 --limit $((8 << 20)) --write $((16 << 20)) --expect ENOSPC) || rc=$?
echo "$out"
check "quota part (xfs): no failures" [ "$rc" = 0 ]
used=$(value_of used_bytes "$out") hard=$(value_of hard_bytes "$out")
# "#10001  8192  8192  8192  00 [--------]": used, soft, hard in KiB.
report=$(xfs_quota -x -c 'report -p -b -N -n' /cache/data)
echo "xfs_quota report -p: $(grep '^#10001 ' <<<"$report")"
read -r _ x_used x_soft x_hard _ <<<"$(grep '^#10001 ' <<<"$report")"
echo "library: used=$((used / 1024)) KiB hard=$((hard / 1024)) KiB; xfs_quota: used=$x_used soft=$x_soft hard=$x_hard KiB"
check "usage matches xfs_quota" [ "$((used / 1024))" = "$x_used" ]
check "limit matches xfs_quota (hard and soft 8192 KiB)" [ "$((hard / 1024))" = "$x_hard" -a "$x_soft" = 8192 -a "$x_hard" = 8192 ]

echo "== quota (ext4)"
if command -v mkfs.ext4 >/dev/null; then
  modprobe -a ext4 quota_v2  # the quota feature needs a quota format module
  img=$REPLICA_STATE_DIR/ext4.img
  truncate -s 64M "$img"
  loop=$(losetup --find --show "$img")
  replica_defer "umount /cache/ext4 2>/dev/null; losetup -d $loop; rm -f $img"
  mkfs.ext4 -q -F -O quota,project -E quotatype=prjquota "$loop"
  mkdir -p /cache/ext4
  mount -t ext4 -o prjquota "$loop" /cache/ext4
  mkdir -p /cache/ext4/ndt
  rc=0
  # ext4 (the generic quota code) lets CAP_SYS_RESOURCE exceed hard limits; XFS does not.
  setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource -- \
    "$bin" quota --dir /cache/ext4/ndt --project 10002 --limit $((8 << 20)) --write $((16 << 20)) --expect EDQUOT || rc=$?
  check "quota part (ext4): no failures" [ "$rc" = 0 ]
else
  echo "skip - no mkfs.ext4"
fi

echo "cgroup_quota: $failures failure(s)"
[ "$failures" = 0 ]
