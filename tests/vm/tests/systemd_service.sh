#!/usr/bin/env bash
# vm-timeout: 300
# vm-init: systemd
# enforcerd as the service the package installs (systemd/enforcerd.service with its hardening as
# it is, this build's enforcerd copied to the unit's /usr/sbin/enforcerd in the guest's overlay: a
# build folder under /tmp is hidden by the unit's PrivateTmp; a drop-in only puts the service in
# the replica's node network namespace and shortens the watchdog), under Debian's systemd as the
# guest's PID 1:
#  - `systemctl start` returns once the daemon said READY=1 after its first enforcement pass, and
#    it enforces: the experiment's packets are counted (enforcerctl through the socket in
#    RuntimeDirectory, state in StateDirectory);
#  - the watchdog (WatchdogSec=2s here) sees the event loop for longer than three of its periods;
#  - `systemctl reload` (SIGHUP) applies a new allocation and the service stays active;
#  - kill -9: systemd restarts it (Restart=always) and the new daemon adopts the pinned datapath;
#  - `systemctl stop` within TimeoutStopSec, the datapath held (on_stop = "hold"), then
#    `enforcerd --uninstall` removes it.
set -euo pipefail
# shellcheck source=../../lib/replica.sh
source "$ENFORCER_SOURCE_DIR/tests/lib/replica.sh"
modprobe -a sch_ingress cls_bpf  # clsact lives in sch_ingress; the unit may not load modules

BUILD=$ENFORCER_BUILD_DIR
CTL=("$BUILD/cli/enforcerctl" --socket /run/enforcer/control.sock)
PIN_DIR=/sys/fs/bpf/enforcer  # the default bpf_pin_dir
[ "$(cat /proc/1/comm)" = systemd ] || fail "PID 1 is $(cat /proc/1/comm), not systemd"
log "PID 1: $(systemctl --version | head -n 1), $(systemd-detect-virt); $(systemd-analyze time 2>/dev/null | head -n 1 || true)"

replica_up
replica_add_experiment ndt 198.18.0.10 2001:db8::10
replica_bg ndt sleep 1000  # the pod's sandbox

write_config() { # BANDWIDTH
  mkdir -p /etc/enforcer
  cat >/etc/enforcer/enforcer.toml <<EOF
[daemon]
tick = "500ms"

[network]
interfaces = ["eth0"]
link_rate = "500Mbit"

[defaults]
bandwidth = "$1"
EOF
  replica_toml_experiments >>/etc/enforcer/enforcer.toml
}
write_config 100Mbit

install -m 0755 "$BUILD/daemon/enforcerd" /usr/sbin/enforcerd  # the guest's overlay only
cp "$ENFORCER_SOURCE_DIR/systemd/enforcerd.service" /etc/systemd/system/
mkdir -p /etc/systemd/system/enforcerd.service.d
cat >/etc/systemd/system/enforcerd.service.d/vm-test.conf <<EOF
[Service]
NetworkNamespacePath=/run/netns/node
WatchdogSec=2s
EOF
replica_defer "systemctl stop enforcerd; nsenter --net=/run/netns/node $BUILD/daemon/enforcerd --uninstall --config /etc/enforcer/enforcer.toml >/dev/null 2>&1"
systemctl daemon-reload

journal() { journalctl -u enforcerd --no-pager -o cat; }
prop() { systemctl show -P "$1" enforcerd; }
t0=$EPOCHREALTIME
systemctl start enforcerd || { journal; fail "systemctl start enforcerd failed"; }
log "ok: started in $(seconds_since "$t0") s (Type=notify: after READY=1), main pid $(prop MainPID)"
[ "$(systemctl is-active enforcerd)" = active ] || { journal; fail "not active after start"; }
journal | grep -q 'enforcing 1 experiment' || { journal; fail "the journal does not say it enforces"; }
[ -d /var/lib/enforcer ] && [ -S /run/enforcer/control.sock ] ||
  fail "no StateDirectory or control socket in RuntimeDirectory"

# Enforcing: the experiment's packets are counted.
egress_bytes() { "${CTL[@]}" show ndt --json | jq -r '.egress.bytes_total'; }
replica_exec ndt ping -c 5 -i 0.2 -W 2 198.18.0.1 >/dev/null || fail "ndt cannot reach the world"
counted() { [ "$(egress_bytes)" -gt 0 ]; }
wait_until 5 counted || fail "ndt's pings are not counted: $("${CTL[@]}" show ndt --json)"
log "ok: ndt's egress counted: $(egress_bytes) bytes"

# The watchdog: more than three periods of 2 s without a restart.
pid=$(prop MainPID)
sleep 7
[ "$(prop MainPID)" = "$pid" ] && [ "$(prop NRestarts)" = 0 ] ||
  { journal; fail "restarted within 7 s at WatchdogSec=2s (NRestarts $(prop NRestarts))"; }
log "ok: no watchdog restart in 7 s (WatchdogSec=2s)"

# Reload: a new allocation, the same process.
write_config 40Mbit
systemctl reload enforcerd || { journal; fail "systemctl reload failed"; }
bandwidth() { "${CTL[@]}" show ndt --json | jq -r '.allocation.bandwidth_bits'; }
reloaded() { [ "$(bandwidth)" = 40000000 ]; }
wait_until 5 reloaded || { journal; fail "after reload ndt's bandwidth is $(bandwidth)"; }
[ "$(prop MainPID)" = "$pid" ] && [ "$(systemctl is-active enforcerd)" = active ] ||
  fail "reload did not keep the process"
log "ok: reload applied 40 Mbit/s in the same process"

# kill -9: systemd restarts it, and the new daemon adopts the pinned datapath.
kill -KILL "$pid"
restarted() { [ "$(systemctl is-active enforcerd)" = active ] && [ "$(prop MainPID)" != "$pid" ] && [ "$(prop MainPID)" != 0 ]; }
wait_until 20 restarted || { journal; fail "not restarted after kill -9"; }
journal | grep -q 'adopting the datapath a previous enforcerd left' || { journal; fail "the restarted daemon did not adopt the pinned datapath"; }
log "ok: restarted after kill -9 (NRestarts $(prop NRestarts)), adopted the pinned datapath"

# Stop: within the unit's TimeoutStopSec, the datapath held for the next daemon.
t0=$EPOCHREALTIME
systemctl stop enforcerd
log "ok: stopped in $(seconds_since "$t0") s, result $(prop Result)"
[ "$(prop Result)" = success ] || { journal; fail "stop ended with $(prop Result)"; }
[ -e "$PIN_DIR/limits" ] || fail "on_stop = hold, but $PIN_DIR/limits is gone"
nsenter --net=/run/netns/node "$BUILD/daemon/enforcerd" --uninstall --config /etc/enforcer/enforcer.toml >/dev/null
[ ! -e "$PIN_DIR/limits" ] || fail "--uninstall left $PIN_DIR"
log "ok: the held datapath was there after the stop, and --uninstall removed it"
log PASS
