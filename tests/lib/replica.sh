# shellcheck shell=bash
# An M-Lab node in miniature, for tests of the vm tier (run inside the guest, as root).
#
#   source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"   # and common.sh with it
#   replica_up                                  # world + node namespaces, eth0 with root fq
#   replica_add_experiment ndt 198.18.0.10 2001:db8::10
#   replica_xfs_up                              # /cache/data: XFS with prjquota on a loop device
#   replica_exec ndt iperf3 -c 198.18.0.1 -t 3  # in exp-ndt's netns and its container cgroup
#   (replica_down runs by itself when the script exits)
#
# Topology (addresses from 198.18.0.0/15 and 2001:db8::/32; nothing leaves the guest):
#
#   netns "world": world0 198.18.0.1/24 2001:db8::1/64
#        | veth
#   netns "node":  eth0 (root qdisc fq) 198.18.0.254/24 2001:db8::fe/64, default routes via world
#        +-- ipvlan L2 "net1" in netns "exp-NAME" (IPV4/24, IPV6/64, default routes via world)
#
# cgroup v2 per experiment, as the kubelet (systemd driver) and containerd lay it out, with
# cpu, memory, io and pids enabled in every subtree_control down to the pod:
#   /sys/fs/cgroup/kubepods.slice/kubepods-besteffort.slice/
#       kubepods-besteffort-pod<uid>.slice/cri-containerd-<64 hex>.scope
#
# Functions (all return non-zero with a message on stderr when they fail):
#   replica_up                          build world, node and eth0; installs an EXIT trap that
#                                       calls replica_down (an EXIT trap set before is kept and
#                                       runs after it)
#   replica_add_experiment NAME IPV4[/LEN] IPV6[/LEN]
#   replica_add_host_pod NAME           a host-network experiment's pod (the node's netns)
#   replica_xfs_up [SIZE]               loop file (default 512M, sparse) -> mkfs.xfs -> /cache/data
#   replica_down                        tear everything down (idempotent; also runs the commands
#                                       given to replica_defer, last first)
#   replica_defer COMMAND...            run COMMAND at replica_down, before the teardown
#   replica_remove_cgroup PATH          kill what runs in the cgroup PATH, remove it and the
#                                       cgroups directly below it (a pod slice and its scopes)
#   replica_exec NAME CMD...            CMD in the experiment's netns and container cgroup (in
#                                       its container, by runc exec, for a pod runc made)
#   replica_node CMD...                 CMD in the node's netns (nsenter --net: the mount
#                                       namespace stays, so /sys/fs/bpf and cgroup2 are there)
#   replica_world CMD...                CMD in the world's netns
#   replica_bg WHERE CMD...             start CMD in the background in WHERE: node, world or an
#                                       experiment's NAME (netns + cgroup). REPLICA_BG_PID is
#                                       CMD's own pid (`replica_node cmd &` would give a subshell's
#                                       $!). replica_down stops it: SIGTERM, then SIGKILL after 5 s
#   replica_netns NAME                  prints exp-NAME (the netns; /run/netns/exp-NAME)
#   replica_cgroup NAME                 prints the container scope's path
#   replica_pod_cgroup NAME             prints the pod slice's path
#   replica_ipv4 NAME / replica_ipv6 NAME   print the experiment's addresses (no prefix length)
#   replica_experiments                 prints the experiment names, one a line
#   replica_toml_experiments            prints [[experiment]] tables for enforcer.toml
#   replica_ping NETNS ADDRESS          one ping (v4 or v6) from a netns ("world", "node",
#                                       "exp-NAME"); uses busybox when iputils is missing
#   replica_wait_port NETNS PORT [SECONDS]   wait until a TCP port listens (default 10 s)
# Settings (variables, before replica_up): REPLICA_CONTROLLERS ("cpu memory io pids"),
#   REPLICA_POD_MAKER (read by replica_add_experiment and replica_add_host_pod: "mkdir", the
#   default, makes the pod and container cgroups as directories, as the cgroupfs driver does;
#   "runc" starts the pod's container with runc and the systemd cgroup driver, as containerd does
#   on an M-Lab node, its pod slice and container scope systemd units (replica_runc.sh; needs
#   systemd as PID 1); REPLICA_POD_DATA binds a directory at the container's /data),
#   REPLICA_ALLOW_HOST=1 (replica_up refuses to run outside the guest otherwise),
#   REPLICA_STATE_DIR (/run/replica: the XFS image lives there, in the guest's RAM),
#   REPLICA_XFS_MOUNT (/cache/data).

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source=replica_runc.sh
source "$(dirname "${BASH_SOURCE[0]}")/replica_runc.sh"

REPLICA_CONTROLLERS=${REPLICA_CONTROLLERS:-cpu memory io pids}
REPLICA_POD_MAKER=${REPLICA_POD_MAKER:-mkdir}
REPLICA_STATE_DIR=${REPLICA_STATE_DIR:-/run/replica}
REPLICA_XFS_MOUNT=${REPLICA_XFS_MOUNT:-/cache/data}
REPLICA_CGROUP_ROOT=/sys/fs/cgroup
REPLICA_WORLD_IPV4=198.18.0.1
REPLICA_WORLD_IPV6=2001:db8::1
REPLICA_NODE_IPV4=198.18.0.254
REPLICA_NODE_IPV6=2001:db8::fe
REPLICA_KUBEPODS=$REPLICA_CGROUP_ROOT/kubepods.slice
REPLICA_QOS_SLICE=$REPLICA_KUBEPODS/kubepods-besteffort.slice

REPLICA_EXPERIMENT_NAMES=()
declare -gA REPLICA_IPV4=() REPLICA_IPV6=() REPLICA_SCOPE=() REPLICA_POD=() REPLICA_POD_UNIT=() REPLICA_NETNS=()
REPLICA_DEFERRED=()
REPLICA_BG_PIDS=()
REPLICA_BG_PID=
REPLICA_IS_UP=0
REPLICA_XFS_LOOP=
REPLICA_XFS_IMAGE=
REPLICA_PREVIOUS_EXIT_TRAP=

replica__die() { echo "replica: error: $*" >&2; return 1; }
replica__warn() { echo "replica: warning: $*" >&2; }
replica__log() { echo "replica: $*" >&2; }

replica__ns_run() { # NETNS CMD...
  local ns=$1
  shift
  [ -e "/run/netns/$ns" ] || replica__die "no network namespace $ns" || return
  nsenter --net="/run/netns/$ns" -- "$@"
}
replica_node() { replica__ns_run node "$@"; }
replica_world() { replica__ns_run world "$@"; }
replica_netns() { echo "${REPLICA_NETNS[$1]:-exp-$1}"; }

replica__need_experiment() { # NAME
  [ -n "${REPLICA_SCOPE[$1]:-}" ] || replica__die "no experiment named '$1' (replica_add_experiment first)"
}
replica_cgroup() { replica__need_experiment "$1" && echo "${REPLICA_SCOPE[$1]}"; }
replica_pod_cgroup() { replica__need_experiment "$1" && echo "${REPLICA_POD[$1]}"; }
replica_ipv4() { replica__need_experiment "$1" && echo "${REPLICA_IPV4[$1]%/*}"; }
replica_ipv6() { replica__need_experiment "$1" && echo "${REPLICA_IPV6[$1]%/*}"; }
replica_experiments() {
  [ "${#REPLICA_EXPERIMENT_NAMES[@]}" -eq 0 ] || printf '%s\n' "${REPLICA_EXPERIMENT_NAMES[@]}"
}

replica_exec() { # NAME CMD...: in the experiment's netns and container cgroup
  local name=$1
  shift
  replica__need_experiment "$name" || return
  [ $# -gt 0 ] || replica__die "replica_exec $name: no command" || return
  [ -z "${REPLICA_CONTAINER[$name]:-}" ] || { replica_runc_exec "$name" "$@"; return; }
  # A subshell (a fork, no exec) joins the cgroup, then becomes CMD inside the netns.
  (
    echo "$BASHPID" >"${REPLICA_SCOPE[$name]}/cgroup.procs" || exit
    exec nsenter --net="/run/netns/$(replica_netns "$name")" -- "$@"
  )
}

replica_bg() { # WHERE CMD...: node, world or an experiment's name; sets REPLICA_BG_PID
  local where=$1 scope=''
  shift
  [ $# -gt 0 ] || replica__die "replica_bg $where: no command" || return
  case $where in
    node | world) ;;
    *)
      replica__need_experiment "$where" || return
      if [ -n "${REPLICA_CONTAINER[$where]:-}" ]; then
        # runc exec stays CMD's parent and passes signals on: stopping it stops CMD.
        replica_runc_exec "$where" "$@" &
        REPLICA_BG_PID=$!
        REPLICA_BG_PIDS+=("$REPLICA_BG_PID")
        return
      fi
      scope=${REPLICA_SCOPE[$where]}
      where=$(replica_netns "$where")
      ;;
  esac
  [ -e "/run/netns/$where" ] || replica__die "no network namespace $where" || return
  # The subshell becomes nsenter, which becomes CMD (setns needs no fork): $! is CMD's pid.
  (
    [ -z "$scope" ] || echo "$BASHPID" >"$scope/cgroup.procs" || exit
    exec nsenter --net="/run/netns/$where" -- "$@"
  ) &
  REPLICA_BG_PID=$!
  REPLICA_BG_PIDS+=("$REPLICA_BG_PID")
}

replica__bg_gone() {
  local pid
  for pid in "${REPLICA_BG_PIDS[@]}"; do ! kill -0 "$pid" 2>/dev/null || return 1; done
}
replica__stop_bg() { # SIGTERM to what replica_bg started, SIGKILL to what is left after 5 s
  local pid
  [ "${#REPLICA_BG_PIDS[@]}" -gt 0 ] || return 0
  kill -TERM "${REPLICA_BG_PIDS[@]}" 2>/dev/null || true
  wait_until 5 replica__bg_gone || true
  kill -KILL "${REPLICA_BG_PIDS[@]}" 2>/dev/null || true
  for pid in "${REPLICA_BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  REPLICA_BG_PIDS=()
}

replica_ping() { # NETNS ADDRESS
  local ns=$1 addr=$2 v6=0
  case $addr in *:*) v6=1 ;; esac
  if command -v ping >/dev/null 2>&1; then
    if [ "$v6" = 1 ]; then replica__ns_run "$ns" ping -6 -c 1 -W 3 "$addr"; else replica__ns_run "$ns" ping -4 -c 1 -W 3 "$addr"; fi
  else
    if [ "$v6" = 1 ]; then replica__ns_run "$ns" busybox ping6 -c 1 -W 3 "$addr"; else replica__ns_run "$ns" busybox ping -c 1 -W 3 "$addr"; fi
  fi
}

replica__listens() { [ -n "$(replica__ns_run "$1" ss -Htln "sport = :$2")" ]; }
replica_wait_port() { # NETNS PORT [SECONDS]
  wait_until "${3:-10}" replica__listens "$1" "$2" || replica__die "nothing listens on TCP port $2 in $1"
}

replica_defer() { # COMMAND...
  REPLICA_DEFERRED+=("$*")
}

replica__on_exit() {
  local rc=$?
  replica_down || true
  if [ -n "$REPLICA_PREVIOUS_EXIT_TRAP" ]; then
    eval "$REPLICA_PREVIOUS_EXIT_TRAP"
  fi
  exit "$rc"
}

replica_up() {
  [ "$(id -u)" = 0 ] || replica__die "replica_up must run as root" || return
  # It changes sysctls and makes namespaces and cgroups: meant for the guest, not a developer's host.
  [ "${ENFORCER_VM:-}" = 1 ] || [ "${REPLICA_ALLOW_HOST:-}" = 1 ] ||
    replica__die "replica_up runs in the vm tier's guest (tests/vm/run-vm-test); set REPLICA_ALLOW_HOST=1 to override" || return
  [ "$REPLICA_IS_UP" = 0 ] || replica__die "replica_up: already up" || return
  [ -f "$REPLICA_CGROUP_ROOT/cgroup.controllers" ] ||
    replica__die "no cgroup2 at $REPLICA_CGROUP_ROOT (is this the vm tier's guest?)" || return
  local existing
  for existing in world node; do
    [ ! -e "/run/netns/$existing" ] || replica__die "network namespace $existing exists already" || return
  done
  # Keep a test's own EXIT trap: it runs after the teardown.
  REPLICA_PREVIOUS_EXIT_TRAP=$(trap -p EXIT | sed -e "s/^trap -- '//" -e "s/' EXIT\$//" -e "s/'\\\\''/'/g")
  trap replica__on_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  REPLICA_IS_UP=1

  modprobe -a sch_fq ipvlan veth tcp_bbr || replica__die "modprobe sch_fq ipvlan veth tcp_bbr failed" || return
  # No duplicate address detection in the namespaces made from here on: addresses are usable at
  # once, and the ipvlan interfaces share eth0's MAC (so their link-local addresses are equal).
  # Every process costs ~0.1 s under TCG, hence the ip batches and the echo into /proc below.
  echo 1 >/proc/sys/net/core/devconf_inherit_init_net &&
    echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad &&
    echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad || replica__die "setting accept_dad=0 failed" || return

  ip netns add world && ip netns add node || replica__die "ip netns add failed" || return
  ip link add eth0 netns node type veth peer name world0 netns world ||
    replica__die "creating the veth pair eth0 (node) <-> world0 (world) failed" || return
  ip -n world -batch - <<EOF || replica__die "addressing world0 failed" || return
link set lo up
addr add $REPLICA_WORLD_IPV4/24 dev world0
addr add $REPLICA_WORLD_IPV6/64 dev world0 nodad
link set world0 up
EOF
  ip -n node -batch - <<EOF || replica__die "addressing eth0 failed" || return
link set lo up
addr add $REPLICA_NODE_IPV4/24 dev eth0
addr add $REPLICA_NODE_IPV6/64 dev eth0 nodad
link set eth0 up
route add default via $REPLICA_WORLD_IPV4
route add ::/0 via $REPLICA_WORLD_IPV6
EOF
  tc -n node qdisc replace dev eth0 root fq || replica__die "tc qdisc replace dev eth0 root fq failed" || return

  local c line=
  for c in $REPLICA_CONTROLLERS; do line+=" +$c"; done
  echo "$line" >"$REPLICA_CGROUP_ROOT/cgroup.subtree_control" ||
    replica__die "enabling$line at the cgroup root failed" || return
  mkdir -p "$REPLICA_QOS_SLICE" &&
    echo "$line" >"$REPLICA_KUBEPODS/cgroup.subtree_control" &&
    echo "$line" >"$REPLICA_QOS_SLICE/cgroup.subtree_control" ||
    replica__die "creating $REPLICA_QOS_SLICE with$line failed" || return
  replica__log "up: world (world0 $REPLICA_WORLD_IPV4, $REPLICA_WORLD_IPV6) <-> node (eth0, root fq)"
}

replica_add_experiment() { # NAME IPV4[/LEN] IPV6[/LEN]
  [ $# -eq 3 ] || replica__die "usage: replica_add_experiment NAME IPV4[/LEN] IPV6[/LEN]" || return
  local name=$1 v4=$2 v6=$3 ns=exp-$1
  [ "$REPLICA_IS_UP" = 1 ] || replica__die "replica_add_experiment: replica_up first" || return
  [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || replica__die "experiment name '$name': use a-z, 0-9 and -" || return
  [ -z "${REPLICA_SCOPE[$name]:-}" ] || replica__die "experiment $name exists already" || return
  [[ $v4 == */* ]] || v4=$v4/24
  [[ $v6 == */* ]] || v6=$v6/64

  ip netns add "$ns" || replica__die "ip netns add $ns failed" || return
  # Registered at once, so that replica_down removes whatever part was made.
  REPLICA_EXPERIMENT_NAMES+=("$name")
  # net1 is made on eth0 in the node's netns and lands in the experiment's at once.
  ip -n node link add link eth0 name net1 netns "$ns" type ipvlan mode l2 ||
    replica__die "creating the ipvlan net1 of $name on eth0 failed" || return
  ip -n "$ns" -batch - <<EOF || replica__die "addressing net1 of $name ($v4, $v6) failed" || return
link set lo up
addr add $v4 dev net1
addr add $v6 dev net1 nodad
link set net1 up
route add default via $REPLICA_WORLD_IPV4
route add ::/0 via $REPLICA_WORLD_IPV6
EOF

  replica__add_pod "$name" "$ns" || return
  REPLICA_IPV4[$name]=$v4
  REPLICA_IPV6[$name]=$v6
  replica__log "experiment $name: net1 (ipvlan on eth0) $v4 $v6 in netns $ns, cgroup ${REPLICA_SCOPE[$name]#"$REPLICA_CGROUP_ROOT"/}"
}

# replica_add_host_pod NAME: a host-network experiment's pod (no addresses of its own: its
# container shares the node's network namespace; enforcer finds it by a cgroup glob).
replica_add_host_pod() {
  [ $# -eq 1 ] || replica__die "usage: replica_add_host_pod NAME" || return
  local name=$1
  [ "$REPLICA_IS_UP" = 1 ] || replica__die "replica_add_host_pod: replica_up first" || return
  [[ $name =~ ^[a-z0-9][a-z0-9-]*$ ]] || replica__die "experiment name '$name': use a-z, 0-9 and -" || return
  [ -z "${REPLICA_SCOPE[$name]:-}" ] || replica__die "experiment $name exists already" || return
  REPLICA_EXPERIMENT_NAMES+=("$name")
  replica__add_pod "$name" node || return
  replica__log "experiment $name: host network (netns node), cgroup ${REPLICA_SCOPE[$name]#"$REPLICA_CGROUP_ROOT"/}"
}

# replica__add_pod NAME NETNS: NAME's pod slice and container scope, made as REPLICA_POD_MAKER
# says; with runc, REPLICA_POD_DATA (a directory) is bound at the container's /data.
replica__add_pod() {
  local name=$1 ns=$2 hash uid id pod scope c line=
  # A pod uid as systemd escapes it (dashes become underscores) and a containerd id, both
  # derived from the name so that runs are reproducible.
  hash=$(printf '%s' "$name" | sha256sum)
  uid=${hash:0:8}_${hash:8:4}_${hash:12:4}_${hash:16:4}_${hash:20:12}
  id=${hash:32:32}${hash:0:32}
  pod=$REPLICA_QOS_SLICE/kubepods-besteffort-pod$uid.slice
  scope=$pod/cri-containerd-$id.scope
  case $REPLICA_POD_MAKER in
    mkdir)
      for c in $REPLICA_CONTROLLERS; do line+=" +$c"; done
      # The slices above again: systemd, once it owns them (a pod made by it), enables only the
      # controllers its units need.
      echo "$line" >"$REPLICA_KUBEPODS/cgroup.subtree_control" &&
        echo "$line" >"$REPLICA_QOS_SLICE/cgroup.subtree_control" &&
        mkdir -p "$scope" && echo "$line" >"$pod/cgroup.subtree_control" ||
        replica__die "creating the cgroups of $name ($pod) failed" || return
      ;;
    runc)
      replica__runc_pod "$name" "${pod##*/}" "${scope##*/}" "/run/netns/$ns" "${REPLICA_POD_DATA:-}" || return
      ;;
    *) replica__die "REPLICA_POD_MAKER=$REPLICA_POD_MAKER: expected mkdir or runc" || return ;;
  esac
  REPLICA_NETNS[$name]=$ns
  REPLICA_POD[$name]=$pod
  REPLICA_SCOPE[$name]=$scope
}

replica_toml_experiments() {
  local name
  for name in "${REPLICA_EXPERIMENT_NAMES[@]}"; do
    [ -n "${REPLICA_IPV4[$name]:-}" ] || continue
    printf '[[experiment]]\nname = "%s"\naddresses = ["%s", "%s"]\n\n' \
      "$name" "${REPLICA_IPV4[$name]%/*}" "${REPLICA_IPV6[$name]%/*}"
  done
}

replica_xfs_up() { # [SIZE]
  local size=${1:-512M} mnt=$REPLICA_XFS_MOUNT
  [ "$REPLICA_IS_UP" = 1 ] || replica__die "replica_xfs_up: replica_up first" || return
  [ -z "$REPLICA_XFS_LOOP" ] || replica__die "replica_xfs_up: already up" || return
  ! mountpoint -q "$mnt" || replica__die "$mnt is a mount point already" || return
  modprobe -a loop xfs || replica__die "modprobe loop xfs failed" || return
  mkdir -p "$REPLICA_STATE_DIR" "$mnt" || return
  REPLICA_XFS_IMAGE=$REPLICA_STATE_DIR/cache-data.xfs
  truncate -s "$size" "$REPLICA_XFS_IMAGE" || replica__die "truncate -s $size $REPLICA_XFS_IMAGE failed" || return
  REPLICA_XFS_LOOP=$(losetup --find --show "$REPLICA_XFS_IMAGE") ||
    { REPLICA_XFS_LOOP=; replica__die "losetup $REPLICA_XFS_IMAGE failed"; return; }
  mkfs.xfs -q -f -K "$REPLICA_XFS_LOOP" || replica__die "mkfs.xfs $REPLICA_XFS_LOOP failed" || return
  mount -t xfs -o prjquota "$REPLICA_XFS_LOOP" "$mnt" ||
    replica__die "mount -o prjquota $REPLICA_XFS_LOOP $mnt failed" || return
  replica__log "xfs: $mnt on $REPLICA_XFS_LOOP ($size, prjquota)"
}

replica_xfs_down() {
  local ok=0
  if [ -n "$REPLICA_XFS_LOOP" ]; then
    if mountpoint -q "$REPLICA_XFS_MOUNT"; then
      umount "$REPLICA_XFS_MOUNT" || umount -l "$REPLICA_XFS_MOUNT" || { replica__warn "umount $REPLICA_XFS_MOUNT failed"; ok=1; }
    fi
    losetup -d "$REPLICA_XFS_LOOP" || { replica__warn "losetup -d $REPLICA_XFS_LOOP failed"; ok=1; }
    REPLICA_XFS_LOOP=
  fi
  if [ -n "$REPLICA_XFS_IMAGE" ]; then
    rm -f "$REPLICA_XFS_IMAGE"
    REPLICA_XFS_IMAGE=
  fi
  return "$ok"
}

# replica_remove_cgroup PATH: kills what is in PATH and its children, then removes them (up to 5 s).
replica__rmdir_tree() { # PATH: rmdir children first; true once PATH is gone
  local child
  for child in "$1"/*/; do [ ! -d "$child" ] || rmdir "$child" 2>/dev/null || true; done
  rmdir "$1" 2>/dev/null || [ ! -d "$1" ]
}
replica_remove_cgroup() {
  local dir=$1
  [ -d "$dir" ] || return 0
  [ ! -e "$dir/cgroup.kill" ] || echo 1 >"$dir/cgroup.kill" 2>/dev/null || true
  wait_until 5 replica__rmdir_tree "$dir" && return 0
  replica__warn "cannot remove cgroup $dir"
  return 1
}

replica_down() {
  local ok=0 i ns name pid
  [ "$REPLICA_IS_UP" = 1 ] || return 0
  for ((i = ${#REPLICA_DEFERRED[@]} - 1; i >= 0; i--)); do
    eval "${REPLICA_DEFERRED[i]}" || replica__warn "deferred command failed: ${REPLICA_DEFERRED[i]}"
  done
  REPLICA_DEFERRED=()
  replica__stop_bg
  replica__runc_down || ok=1
  # Pods made by systemd: their units go, and the slices above them (made by mkdir, then taken
  # over by systemd) with them.
  if [ "${#REPLICA_POD_UNIT[@]}" -gt 0 ]; then
    systemctl stop kubepods.slice 2>/dev/null || true
  fi
  replica_xfs_down || ok=1
  for name in "${REPLICA_EXPERIMENT_NAMES[@]}"; do
    [ -z "${REPLICA_SCOPE[$name]:-}" ] || replica_remove_cgroup "${REPLICA_SCOPE[$name]}" || ok=1
    [ -z "${REPLICA_POD[$name]:-}" ] || replica_remove_cgroup "${REPLICA_POD[$name]}" || ok=1
  done
  for ns in "${REPLICA_EXPERIMENT_NAMES[@]/#/exp-}" node world; do
    [ -e "/run/netns/$ns" ] || continue
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" || { replica__warn "ip netns del $ns failed"; ok=1; }
  done
  replica_remove_cgroup "$REPLICA_QOS_SLICE" || ok=1
  replica_remove_cgroup "$REPLICA_KUBEPODS" || ok=1
  REPLICA_EXPERIMENT_NAMES=()
  REPLICA_IPV4=() REPLICA_IPV6=() REPLICA_SCOPE=() REPLICA_POD=() REPLICA_POD_UNIT=() REPLICA_NETNS=()
  REPLICA_IS_UP=0
  trap - INT TERM
  if [ "$ok" = 0 ]; then replica__log "down"; else replica__warn "down, with leftovers"; fi
  return "$ok"
}
