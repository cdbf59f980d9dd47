# shellcheck shell=bash
# Pods started by a real OCI runtime, for the replica (REPLICA_POD_MAKER=runc; sourced by
# replica.sh). As containerd does for the kubelet's systemd cgroup driver, `runc --systemd-cgroup`
# asks systemd for the container's scope (cri-containerd-<id>.scope) in the pod's slice
# (kubepods-besteffort-pod<uid>.slice; systemd makes it and its parents as units), then starts the
# container's first process (the sandbox, `sleep infinity`, as the pause container) in namespaces
# of its own (pid, mount, ipc, uts) and the pod's network namespace: the experiment's, or the
# node's for a host-network pod. The root file system is the guest's /usr and /etc, read-only;
# /tmp is the guest's (tests hand files to the container there); a data directory may be bound
# at /data (the experiment's quota'd directory, as M-Lab's hostPath volumes).
#
#   replica_runc_exec NAME CMD...      CMD in NAME's container (`runc exec`: its namespaces, cgroup)
#   replica_runc_container NAME        prints the container's id
# The pods' units need systemd as PID 1 (# vm-init: systemd) and its D-Bus (runc asks through it).

REPLICA_RUNC_ROOT=${REPLICA_RUNC_ROOT:-/run/replica-runc}  # runc's state, and the bundles
declare -gA REPLICA_CONTAINER=()                           # NAME -> container id

replica__runc() { runc --root "$REPLICA_RUNC_ROOT" --systemd-cgroup "$@"; }

replica_runc_container() {
  [ -n "${REPLICA_CONTAINER[$1]:-}" ] || replica__die "no container for '$1' (REPLICA_POD_MAKER=runc)" || return
  echo "${REPLICA_CONTAINER[$1]}"
}

replica_runc_exec() { # NAME CMD...
  local id
  id=$(replica_runc_container "$1") || return
  shift
  replica__runc exec "$id" "$@"
}

# replica__runc_bundle DIR NETNS_PATH CGROUPS_PATH DATA_DIR: an OCI bundle (config.json, and a
# root of mount points and merged-/usr symlinks); DATA_DIR empty for none.
replica__runc_bundle() {
  local dir=$1 netns=$2 cgroups=$3 data=$4 link
  mkdir -p "$dir/rootfs"/{usr,etc,proc,sys,dev,tmp,data} || return
  for link in bin sbin lib lib64; do
    [ -e "/usr/$link" ] && ln -sfn "usr/$link" "$dir/rootfs/$link"
  done
  jq -n --arg netns "$netns" --arg cgroups "$cgroups" --arg data "$data" '
    def bind($from; $to; $opts): {destination: $to, type: "bind", source: $from, options: (["rbind"] + $opts)};
    {
      ociVersion: "1.0.2",
      process: {
        terminal: false,
        user: {uid: 0, gid: 0},
        args: ["sleep", "infinity"],
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        cwd: "/",
        noNewPrivileges: true
      },
      root: {path: "rootfs", readonly: true},
      hostname: "pod",
      mounts: ([
        {destination: "/proc", type: "proc", source: "proc"},
        {destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"]},
        bind("/usr"; "/usr"; ["ro"]),
        bind("/etc"; "/etc"; ["ro"]),
        bind("/tmp"; "/tmp"; ["rw"])
      ] + (if $data == "" then [] else [bind($data; "/data"; ["rw"])] end)),
      linux: {
        cgroupsPath: $cgroups,
        namespaces: [{type: "pid"}, {type: "mount"}, {type: "ipc"}, {type: "uts"},
                     {type: "network", path: $netns}]
      }
    }' >"$dir/config.json"
}

# replica__runc_pod NAME POD_SLICE SCOPE_UNIT NETNS_PATH [DATA_DIR]: NAME's pod, its container
# started by runc in POD_SLICE as SCOPE_UNIT (cri-containerd-<id>.scope).
replica__runc_pod() {
  local name=$1 slice=$2 unit=$3 netns=$4 data=${5:-} id bundle cgroup
  [ "$(cat /proc/1/comm)" = systemd ] || replica__die "REPLICA_POD_MAKER=runc: PID 1 is not systemd (# vm-init: systemd)" || return
  command -v runc >/dev/null || replica__die "REPLICA_POD_MAKER=runc: no runc (scripts/install-deps installs it)" || return
  id=${unit#cri-containerd-}
  id=${id%.scope}
  bundle=$REPLICA_RUNC_ROOT/bundles/$name
  replica__runc_bundle "$bundle" "$netns" "$slice:cri-containerd:$id" "$data" ||
    replica__die "writing the OCI bundle of $name ($bundle) failed" || return
  REPLICA_POD_UNIT[$name]=$slice
  # Registered before it starts, so that replica_down deletes whatever runc made.
  REPLICA_CONTAINER[$name]=$id
  replica__runc run --detach --bundle "$bundle" "$id" </dev/null >"$bundle/console.log" 2>&1 ||
    replica__die "runc run of $name's container failed: $(cat "$bundle/console.log")" || return
  cgroup=$REPLICA_QOS_SLICE/$slice/$unit
  [ -d "$cgroup" ] || replica__die "runc made no $cgroup for $name (cgroups: $(cat "/proc/$(replica__runc state "$id" | jq .pid)/cgroup"))" || return
}

# replica__runc_down: every container runc made here, deleted (killed first).
replica__runc_down() {
  local name ok=0
  for name in "${!REPLICA_CONTAINER[@]}"; do
    replica__runc delete --force "${REPLICA_CONTAINER[$name]}" 2>/dev/null ||
      ! replica__runc state "${REPLICA_CONTAINER[$name]}" >/dev/null 2>&1 ||
      { replica__warn "runc delete --force of $name's container failed"; ok=1; }
  done
  REPLICA_CONTAINER=()
  return "$ok"
}
