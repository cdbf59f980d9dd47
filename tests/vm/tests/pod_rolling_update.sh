#!/usr/bin/env bash
# vm-timeout: 600
# The container image under podman on the M-Lab replica, run as the DaemonSet's pod
# (deploy/k8s/enforcer.yaml: its mounts, capabilities, read-only root, host network and PID, as
# tests/vm/podman_args_of_pod translates them), with its ConfigMap as the kubelet lays one out.
# Experiment ndt (ipvlan on eth0, root qdisc fq) sends one TCP flow to the world, paced by EDT:
#   1. pinned at 50 Mbit/s by the ConfigMap: the wire rate over 8 s is 50 ±10 %;
#   2. the ConfigMap changed the kubelet's way (..data swapped) to 30 Mbit/s: the container's
#      daemon applies it by itself; the wire rate over 8 s is 30 ±10 %;
#   3. a rolling update: the container is stopped (SIGTERM, as the kubelet does: on_stop = "hold")
#      and a new one started, which adopts the datapath, while the wire rate is sampled every
#      0.5 s: no sample above 30 Mbit/s + 10 %. The one allowance: a sample above passes when it
#      and the sample before it together are within the limit, since fq's late timer (a busy
#      guest) moves bytes from one sample into the next, never earlier (see the check). A sample's
#      own error: its time stamps bracket its counter read within 5 ms (1 % of 0.5 s);
#   4. after the update, the wire rate over 8 s is 30 ±10 % again.
# Why podman run and not `podman kube play`: see podman_args_of_pod. The livenessProbe's command
# runs once by hand (podman's health checks need systemd). The kube-rbac-proxy container is not
# run: its image is not in the guest (no registry) and it takes no part in enforcing.
# podman runs in the node's network namespace, so the pod's host network is the node's (the
# replica's eth0 lives there). Its storage, runtime state and the image are in the guest's /tmp.
# The image archive: ENFORCER_IMAGE (a path the guest sees: not under /tmp), else the build
# folder's (scripts/build-image's default, which ctest's fixture vm.image makes on the host).
# Cost: 100-190 s on the 2-core build machine (103 s at a load average of 3, 181-188 s at 5): boot
# 4-8 s, podman load 6-20 s, a podman run 3-10 s to the limit, the update 15-30 s.
set -euo pipefail
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"
source "$ENFORCER_SOURCE_DIR/tests/lib/wire.sh"
SRC=$ENFORCER_SOURCE_DIR
BUILD=${ENFORCER_BUILD_DIR:?ENFORCER_BUILD_DIR must name the build folder}
# Every wait here is for something that takes seconds; polling the metrics (curl, awk) more often
# would take the emulated CPUs from the flow under test.
WAIT_INTERVAL=0.5
for tool in podman crun conmon curl iperf3 python3; do
  command -v "$tool" >/dev/null || fail "$tool is missing in the guest (scripts/install-deps installs it on the host)"
done

# The kernel cannot load these when the daemon asks (its module helper runs in the guest's
# initramfs, which has no modules; on a node it would), and a container cannot load modules.
# cls_u32: the test's own wire meter.
modprobe -a sch_ingress cls_bpf cls_u32 # clsact lives in sch_ingress
replica_up
replica_add_experiment ndt 198.18.0.10 2001:db8::10
# What the test makes outside its folder, removed at the end: the manifest's hostPaths (the
# first folder of each path that is missing), and the cgroups podman makes.
ROOT_DIRS=() ROOT_CGROUPS=()
new_dir() { # PATH: records the top-most missing folder of PATH
  local top=$1
  while [ ! -d "$(dirname "$top")" ]; do top=$(dirname "$top"); done
  [ -d "$1" ] || ROOT_DIRS+=("$top")
}
for dir in /cache/data /var/local/metadata; do # type Directory: they must exist
  new_dir "$dir"
  mkdir -p "$dir"
done
for dir in /var/lib/enforcer /run/enforcer; do new_dir "$dir"; done # DirectoryOrCreate: the translator makes them
for cg in libpod_parent podman_probe; do [ -d "/sys/fs/cgroup/$cg" ] || ROOT_CGROUPS+=("/sys/fs/cgroup/$cg"); done

WORK=$(mktemp -d /tmp/pod-rolling.XXXX)
PODMAN=(podman --root "$WORK/storage" --runroot "$WORK/run" --tmpdir "$WORK/tmp" --storage-driver vfs
  --events-backend file --cgroup-manager cgroupfs)
pod() { replica_node "${PODMAN[@]}" "$@"; }
cleanup_podman() {
  pod rm -af -t 0 >/dev/null 2>&1 || true
  pod rmi -af >/dev/null 2>&1 || true
  if grep -q " $WORK" /proc/self/mounts; then
    grep " $WORK" /proc/self/mounts | cut -d' ' -f2 | sort -r | xargs -r umount -l || true
  fi
  rm -rf --one-file-system "$WORK"
  for cg in "${ROOT_CGROUPS[@]}"; do
    [ ! -d "$cg" ] || find "$cg" -depth -type d -exec rmdir {} + || echo "pod_rolling_update: cannot remove $cg" >&2
  done
  [ "${#ROOT_DIRS[@]}" -eq 0 ] || rm -rf "${ROOT_DIRS[@]}"
}
replica_defer cleanup_podman

# --- the image ---
# Made on the host: in the guest, scripts/build-image ran 4.5 minutes under emulation and then
# failed on the missing /dev/fd.
archive=${ENFORCER_IMAGE:-$BUILD/enforcer-image.oci.tar}
[ -f "$archive" ] && [ "$archive" -nt "$BUILD/daemon/enforcerd" ] ||
  fail "no image archive newer than $BUILD/daemon/enforcerd at $archive: run scripts/build-image on the host" \
    "(ctest's vm.image does) or set ENFORCER_IMAGE to one outside /tmp"
T0=$EPOCHREALTIME
pod load -q -i "$archive" >/dev/null || fail "podman load -i $archive failed"
log "image loaded in $(seconds_since "$T0") s"

# --- the ConfigMap, as the kubelet writes one: files through ..data into a timestamped folder ---
CM=$WORK/configmap
configmap_version() { # STAMP MBIT: a new version of the ConfigMap, ndt pinned at MBIT
  mkdir "$CM/..$1"
  printf '[[experiment]]\nname = "ndt"\naddresses = ["%s", "%s"]\npinned_rate = "%sMbit"\n' \
    "$(replica_ipv4 ndt)" "$(replica_ipv6 ndt)" "$2" >"$CM/..$1/50-vm.toml"
}
mkdir -p "$CM"
configmap_version 2026_12_01_0 50
ln -s ..2026_12_01_0 "$CM/..data"
ln -s ..data/50-vm.toml "$CM/50-vm.toml"

# (Files, not <(...): the guest's /dev has no /dev/fd.)
python3 "$SRC/tests/vm/podman_args_of_pod" "$SRC/deploy/k8s/enforcer.yaml" enforcer \
  "enforcer-config=$CM" --name enforcer >"$WORK/run-args" || fail "tests/vm/podman_args_of_pod failed"
mapfile -t RUN_ARGS <"$WORK/run-args"
log "podman run ${RUN_ARGS[*]}"
# The datapath a held stop leaves must go when the test ends: the image's own --uninstall, with
# the pod's mounts, once no daemon runs (deferred commands run last first).
uninstall() {
  pod rm -f -t 0 enforcer >/dev/null 2>&1 || true
  pod run --rm "${RUN_ARGS[@]:1}" --uninstall >/dev/null 2>&1 || echo "pod_rolling_update: --uninstall failed" >&2
}
replica_defer uninstall

EG='direction="egress",experiment="ndt"'
metric() { # NAME LABELS: a series' value from the pod's metrics listener (the node's 127.0.0.1)
  replica_node curl -sf http://127.0.0.1:9724/metrics | awk -v want="$1{$2}" '$1 == want { printf "%.0f\n", $2 }'
}
limit_is() { [ "$(metric enforcer_experiment_rate_limit_bytes_per_second "$EG")" = $(($1 * 1000000 / 8)) ]; }
start_pod() { # WHAT
  T0=$EPOCHREALTIME
  pod run -d "${RUN_ARGS[@]}" >/dev/null || fail "podman run of the pod's container failed ($1)"
}
pod_log() { pod logs enforcer 2>&1; }

start_pod "first"
FAIL_LOGS=("$WORK/enforcer.log")
wait_until 60 limit_is 50 || { pod_log >"$WORK/enforcer.log"; fail "ndt is not limited to 50 Mbit/s 60 s after the pod started"; }
log "the pod's daemon limits ndt to 50 Mbit/s, $(seconds_since "$T0") s after podman run"
# The livenessProbe's command, in the container's mount namespace and root. Not `podman exec`:
# the guest's init chroots into its root rather than pivoting, so a mount namespace made in the
# guest has the initramfs as its root, and crun exec, which enters the container's mount
# namespace without the container's chroot, finds no /usr/bin/enforcerctl there.
pid=$(pod inspect --format '{{.State.Pid}}' enforcer)
nsenter --target "$pid" --mount --root --wd /usr/bin/enforcerctl --timeout 10s status >/dev/null ||
  fail "the livenessProbe's command (enforcerctl status) failed in the container"
log "ok: the livenessProbe's command succeeds"

# --- the flood ---
rx_meter_up world world0
replica_bg world iperf3 -s -B "$REPLICA_WORLD_IPV4" -p 5201 >/dev/null 2>&1
replica_wait_port world 5201
replica_bg ndt iperf3 -c "$REPLICA_WORLD_IPV4" -p 5201 -t 400 -i 0 >"$WORK/flood.log" 2>&1
FLOOD=$REPLICA_BG_PID
delivering() { local b; b=$(rx_bytes world world0) && [ $((b - base)) -ge 2000000 ]; }
base=$(rx_bytes world world0)
wait_until 20 delivering || fail "the flood delivers nothing"

# check WHAT MBIT: the wire rate over 8 s is MBIT ±10 % (segments counted exactly: rx_wire_sample).
check_window() {
  local s0 s1 rate
  s0=$(rx_wire_sample world world0 start)
  sleep 8
  s1=$(rx_wire_sample world world0 end)
  rate=$(wire_rate "$s0" "$s1")
  kill -0 "$FLOOD" 2>/dev/null || { cat "$WORK/flood.log" >&2; fail "$1: the flood ended"; }
  if ! in_range $(($2 * 1000000)) "$rate" 10 0; then
    # What held the flow: the guest's CPUs (TCG), fq's drops and throttling, the flow's TCP state.
    top -b -n 1 | head -n 15 >&2 || true
    tc -n node -s qdisc show dev eth0 >&2 || true
    ip netns exec exp-ndt ss -tin >&2 || true
    fail "$1: $rate bit/s on the wire, not $2 Mbit/s ±10 %"
  fi
  log "ok: $1: $rate bit/s on the wire (pinned $2 Mbit/s)"
}
check_window "1. pinned by the ConfigMap" 50

# --- 2. the ConfigMap changes: the kubelet's atomic swap of ..data ---
RATE=30
configmap_version 2026_12_01_1 "$RATE"
T0=$EPOCHREALTIME
ln -s ..2026_12_01_1 "$CM/..data_tmp"
mv -T "$CM/..data_tmp" "$CM/..data"
rm -rf "$CM/..2026_12_01_0"
wait_until 10 limit_is "$RATE" || { pod_log >"$WORK/enforcer.log"; fail "the ConfigMap's change to 30 Mbit/s did not apply within 10 s"; }
log "the ConfigMap's change applied $(seconds_since "$T0") s after ..data was swapped"
sleep 1
check_window "2. the ConfigMap changed" "$RATE"

# --- 3. the rolling update, sampled every 0.5 s ---
# sampler FILE: "TIME0 TIME1 BYTES PACKETS" lines (world0's receive counters, read between the
# two time stamps) every 0.5 s or a little more, until killed; a read not bracketed within 5 ms (the guest was busy)
# is taken again. Builtins only: a tc call per sample would cost the guest 0.1-1 s of CPU.
sampler() {
  local out=$1 next t0 t1 line name b p pause_fd delay
  mkfifo "$WORK/pause"
  exec {pause_fd}<>"$WORK/pause" # a pipe nobody writes: read -t is a sleep without a process
  while true; do
    for _ in 1 2 3 4 5; do
      t0=${EPOCHREALTIME/./}
      while IFS= read -r line; do
        read -r name b p _ <<<"${line/:/ }"
        [ "$name" = world0 ] && break
      done <"/proc/${RX_HOLDER[world]}/net/dev"
      t1=${EPOCHREALTIME/./}
      [ $((t1 - t0)) -gt 5000 ] || break
    done
    echo "$t0 $t1 $b $p" >>"$out"
    # 0.5 s after this sample, not on a fixed grid: a sampler that fell behind (a busy guest) would
    # catch up with samples a few ms apart, whose rates are mostly the noise of their boundaries.
    next=$((t0 + 500000))
    delay=$((next - ${EPOCHREALTIME/./}))
    [ "$delay" -le 0 ] || read -r -t "$((delay / 1000000)).$(printf '%06d' $((delay % 1000000)))" -u "$pause_fd" _ || true
  done
}
SERIES=$WORK/series
wire0=$(rx_wire_sample world world0 start)
sampler "$SERIES" &
SAMPLER=$!
replica_defer "kill $SAMPLER 2>/dev/null || true"
sleep 2
T_STOP=$EPOCHREALTIME
pod stop -t 30 enforcer >/dev/null || fail "podman stop (SIGTERM) of the pod's container failed"
T_GONE=$EPOCHREALTIME
pod_log >"$WORK/enforcer-old.log"
pod rm enforcer >/dev/null
start_pod "the rolling update's new pod"
T_NEW=$EPOCHREALTIME
wait_until 60 limit_is "$RATE" || { pod_log >"$WORK/enforcer.log"; fail "the new pod's daemon does not limit ndt to 30 Mbit/s within 60 s"; }
T_UP=$EPOCHREALTIME
pod_log >"$WORK/enforcer.log"
grep -q 'adopting the datapath' "$WORK/enforcer.log" || fail "the new pod's daemon did not adopt the held datapath"
sleep 3
kill "$SAMPLER"
wait "$SAMPLER" 2>/dev/null || true
wire1=$(rx_wire_sample world world0 end)
kill -0 "$FLOOD" 2>/dev/null || { cat "$WORK/flood.log" >&2; fail "3: the flood ended during the rolling update"; }
log "rolling update: SIGTERM at +0, old container gone at +$(awk -v a="$T_STOP" -v b="$T_GONE" 'BEGIN { printf "%.2f", b - a }') s," \
  "new one started at +$(awk -v a="$T_STOP" -v b="$T_NEW" 'BEGIN { printf "%.2f", b - a }') s, its limit seen at" \
  "+$(awk -v a="$T_STOP" -v b="$T_UP" 'BEGIN { printf "%.2f", b - a }') s; the wire every 0.5 s:"

# Each interval between samples: its rate from the bytes over the time between the reads (the
# middle of each read's bracket). The bytes on the wire: world0 counts an aggregate of TCP
# segments (GSO) as one packet with one set of headers (HDR bytes: Ethernet, IPv4, TCP with
# timestamps), so a sample's wire bytes are its payload, bytes - packets * HDR, times
# (MSS + HDR) / MSS: exact for a bulk flow's full-sized segments, and checked against the whole
# series counted segment by segment (rx_wire_sample) to within 2 %.
# The allowance: fq sends a packet at its EDT time or, when its timer fires late (a busy guest),
# at once with the others then due: bytes come late, never early, and move from one sample into
# the next. So a sample above the limit passes when it and the sample before it, together, are
# within it (their shared boundary moved); no other is allowed. The mean is shown, not checked:
# podman's work starves the emulated sender, not the limit.
awk -v limit=$((RATE * 1000000)) -v whole="$(wire_rate "$wire0" "$wire1")" -v hdr="${RX_HEADERS[world]}" \
  -v events="$T_STOP SIGTERM $T_GONE old-gone $T_NEW new-started $T_UP new-limit" '
  function wire(bytes, packets) { return (bytes - packets * hdr) * (1514 / (1514 - hdr)) } # MSS 1514 - hdr
  BEGIN { ne = split(events, e, " "); stop = e[1]; k = 1 }
  { t = ($1 + $2) / 2 / 1e6; w = wire($3, $4); if (NR == 1) { t1 = t; w1 = w }
    if (NR > 1) {
      r = (w - b) * 8 / (t - tp); n++; sum += r; note = ""
      if (r > max) max = r; if (min == "" || r < min) min = r
      if (r > limit * 1.1) {
        if (NR > 2 && (w - bpp) * 8 / (t - tpp) <= limit * 1.1) { allowed++; note = "  above; with the sample before within" }
        else { over++; note = "  OVER" }
      }
      while (k < ne && e[k] <= t) { note = note "  <- " e[k + 1]; k += 2 }
      printf "  %+6.2f s  %6.2f Mbit/s%s\n", t - stop, r / 1e6, note }
    tpp = tp; bpp = b; tp = t; b = w }
  END {
    printf "samples %d (%d above %.1f Mbit/s but within it with the sample before), min %.2f, mean %.2f, max %.2f Mbit/s;" \
      " whole series (segments counted) %.2f Mbit/s\n", n, allowed, limit * 1.1 / 1e6, min / 1e6, sum / n / 1e6, max / 1e6, whole / 1e6
    if (n < 10) { print "FAIL: fewer than 10 samples"; exit 1 }
    est = (b - w1) * 8 / (tp - t1)
    if (est < whole * 0.98 || est > whole * 1.02) { printf "FAIL: the samples give %.2f Mbit/s over the series, its segments %.2f\n", est / 1e6, whole / 1e6; exit 1 }
    if (over) { printf "FAIL: %d samples above %.1f Mbit/s, with the sample before too\n", over, limit * 1.1 / 1e6; exit 1 }
  }' "$SERIES" || fail "3. the rolling update: the rate was not held"
log "ok: 3. the rolling update: no 0.5 s sample above $RATE Mbit/s + 10 % (but for moved boundaries)"

# --- 4. the new pod holds the rate as the first did ---
sleep 5
check_window "4. after the rolling update" "$RATE"
log "PASS"
