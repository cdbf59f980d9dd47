#!/usr/bin/env bash
# kernel tier, acceptance: a real Prometheus (Debian's) scrapes the daemon; a query through its
# HTTP API returns the experiment's byte counter, consistent with the traffic sent. A second
# experiment, with a pod (a process of its namespace in a cgroup below a private cgroup_root)
# and a manual throttle that drops its UDP flood, and a config override of a's with an expiry, makes
# every series kind appear; on that scrape run promtool check metrics and scripts/check-metric-names
# (every metric the rules and the dashboard use is exported). The same Prometheus loads
# config/prometheus/enforcer.rules.yml: a recording rule has a value and the throttle alert is
# pending. Then a newer pod puts b's address into its own namespace: b's limits stay on b's pod,
# and the conflict is counted and alerted.
source "$(dirname "$0")/../lib/node.sh"
PROM_PID=
POD_PID=
CG=/sys/fs/cgroup/unified/$P  # the hybrid layout of the build machines; else the cgroup2 mount
[ -d /sys/fs/cgroup/unified ] || CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)/$P
POD=$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice
POD2=$CG/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod2.slice
POD2_PID=
cleanup() {
  [ -z "$PROM_PID" ] || { kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null || true; }
  daemon_stop
  for pid in "$POD_PID" "$POD2_PID"; do
    [ -z "$pid" ] || { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; }
  done
  ip netns del "$P-x" 2>/dev/null || true
  for d in "$POD/cri-containerd-1.scope" "$POD" "$POD2/cri-containerd-2.scope" "$POD2" "${POD%/*}" \
    "$CG/kubepods.slice" "$CG"; do
    [ ! -d "$d" ] || rmdir "$d" 2>/dev/null || log "could not remove $d"
  done
  topo_down
}
trap cleanup EXIT
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/install-deps installs it)"

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
topo_add_experiment b 198.18.0.12 2001:db8::12
# b's pod: a process of b's network namespace in a kubepods-like cgroup (no controllers are
# enabled there on the build machines: its limits fail to apply, logged, but its usage is read).
mkdir -p "$POD/cri-containerd-1.scope"
ip netns exec "$P-b" sleep 600 &
POD_PID=$!
echo "$POD_PID" >"$POD/cri-containerd-1.scope/cgroup.procs"
write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"'

[[experiment]]
name = "b"
addresses = ["198.18.0.12", "2001:db8::12"]
pinned_rate = "10Mbit"

[[override]]  # the override families: one in force, with an expiry
experiment = "a"
resource = "cpu"
value = "2"
reason = "prometheus_scrape test"
until = 2099-01-01T00:00:00Z'
sed -i "s|^metrics_listen = .*|&\ncgroup_root = \"$CG\"|" "$WORK/enforcer.toml"
daemon_start "$WORK/enforcer.toml"

cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $SRC/config/prometheus/enforcer.rules.yml
scrape_configs:
  - job_name: enforcer
    static_configs:
      - targets: ["127.0.0.1:9724"]
YML
nsenter --net="/run/netns/$NODE" prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address=127.0.0.1:9090 >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!

query() {  # prints the value of the instant query $1, or nothing
  in_node curl -sf --get http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // empty'
}
log "waiting for Prometheus to scrape the daemon"
target_up_or_prometheus_gone() { [ "$(query 'up{job="enforcer"}')" = 1 ] || ! kill -0 "$PROM_PID" 2>/dev/null; }
wait_until 30 target_up_or_prometheus_gone || true
kill -0 "$PROM_PID" 2>/dev/null || { cat "$WORK/prometheus.log"; fail "prometheus exited"; }
[ "$(query 'up{job="enforcer"}')" = 1 ] || { tail "$WORK/prometheus.log"; fail "target never up"; }

SENT=$((200 * 1000 * 1000))
in_world timeout 60 iperf3 -s -p 5201 -1 >/dev/null 2>&1 &
wait_listen 5201
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
wait_ticks 0.5
before=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"')
add_root_qdisc "$P-a" net1  # its byte counter is the wire bytes, which enforcer counts
iface_before=$(qdisc_sent "$P-a" net1)
log "experiment a sends $SENT bytes"
in_exp a timeout 30 iperf3 -p 5201 -c 198.18.0.1 -n "$SENT" >/dev/null
wait_ticks 0.5
daemon_value=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"')
sent=$(($(qdisc_sent "$P-a" net1) - iface_before))
# iperf3 counts what it wrote, not what left; the interface's root qdisc is the truth.
[ "$sent" -ge $((SENT / 2)) ] || fail "only $sent bytes left the experiment's interface"
within "$sent" $((daemon_value - before)) 0.5 2048 "daemon's count of the bytes sent"

sel='enforcer_experiment_bytes_total{experiment="a",direction="egress"}'
log "waiting for Prometheus to see the traffic"
prometheus_caught_up() {
  prom_value=$(query "$sel")
  [ -n "$prom_value" ] && [ "${prom_value%.*}" -ge "$daemon_value" ]
}
prom_value=
wait_until 20 prometheus_caught_up || true
[ -n "$prom_value" ] || fail "Prometheus has no $sel"
# The experiment is idle now: what Prometheus stored is what the daemon reports (ARP slack).
within "$daemon_value" "${prom_value%.*}" 0 2048 "Prometheus' $sel"
# Labels as stored: ours plus job/instance, nothing renamed to exported_*.
labels=$(in_node curl -sf --get http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$sel" |
  jq -r '.data.result[0].metric | keys | join(",")')
[ "$labels" = "__name__,direction,experiment,instance,job" ] || fail "unexpected labels: $labels"
rate=$(query "max_over_time(enforcer_experiment_window_bytes{experiment=\"a\",direction=\"egress\"}[1m])")
[ "${rate%.*}" -ge "$sent" ] || fail "window bytes in Prometheus ($rate) below the bytes sent"

log "experiment b (throttled to 10 Mbit/s) floods UDP at 50 Mbit/s"
in_world timeout 60 iperf3 -s -p 5202 -1 >/dev/null 2>&1 &
wait_listen 5202
in_exp b timeout 30 iperf3 -p 5202 -c 198.18.0.1 -u -b 50M -t 3 >/dev/null
wait_ticks 0.5
scrape >"$WORK/scrape.txt"
sel_b='direction="egress",experiment="b"'
[ "$(metric enforcer_experiment_throttled "$sel_b")" = 1 ] || fail "b is not reported throttled"
[ "$(metric enforcer_experiment_rate_limit_bytes_per_second "$sel_b")" = 1250000 ] ||
  fail "b's rate limit is not 10 Mbit/s"
[ "$(metric enforcer_experiment_dropped_packets_total "$sel_b")" -gt 0 ] || fail "nothing of b dropped"
[ "$(metric enforcer_experiment_containers 'experiment="b"')" = 1 ] || fail "b's pod not found"
# Every family has samples, but the project quota's: no quota on the host kernel (the vm tier).
no_samples=$(awk '$1 == "#" && $2 == "TYPE" { declared[$3] = 1; next }
  $1 !~ /^#/ { n = $1; sub(/[{ ].*/, "", n); sub(/_(bucket|sum|count)$/, "", n); seen[n] = 1 }
  END { for (f in declared) if (!(f in seen)) print f }' "$WORK/scrape.txt" | sort | tr '\n' ' ')
[ "$no_samples" = "enforcer_experiment_disk_limit_bytes enforcer_experiment_disk_used_bytes " ] ||
  fail "families without samples: $no_samples"
log "ok: every series kind present (but the disk quota's)"

log "promtool check metrics on the live scrape"
if ! promtool check metrics <"$WORK/scrape.txt" >"$WORK/promtool.txt" 2>&1 || [ -s "$WORK/promtool.txt" ]; then
  cat "$WORK/promtool.txt"
  fail "promtool check metrics reported problems"
fi
# Prometheus adds these labels itself at M-Lab; the daemon must never emit them.
if grep -E '[{,](machine|node|site|deployment|pod|container|namespace)=' "$WORK/scrape.txt"; then
  fail "the daemon emits a label name that M-Lab's Prometheus sets itself"
fi
log "every metric the rules and the dashboard use is in the live scrape"
"$SRC/scripts/check-metric-names" --scrape "$WORK/scrape.txt" \
  "$SRC/config/prometheus/enforcer.rules.yml" "$SRC/config/grafana/enforcer.json" ||
  fail "the rules or the dashboard use a metric the daemon does not export"

log "the rules in Prometheus: a recording rule's value, b's throttle alert pending"
rules_evaluated() {
  ratio=$(query 'experiment:enforcer_experiment_window_use:ratio{experiment="a",direction="egress"}')
  pending=$(query 'ALERTS{alertname="PlatformCluster_ExperimentThrottled",alertstate="pending",experiment="b",direction="egress"}')
  [ -n "$ratio" ] && [ -n "$pending" ]
}
ratio= pending=
wait_until 20 rules_evaluated || true
[ -n "$ratio" ] || fail "no experiment:enforcer_experiment_window_use:ratio for a in Prometheus"
[ "$pending" = 1 ] || fail "PlatformCluster_ExperimentThrottled is not pending for b"
log "ok: a's window use ratio $ratio; b's throttle alert pending"
# A newer pod that puts b's address into its own network namespace (on its lo) does not take
# b's limits: they stay on b's pod, the conflict is logged and counted, and its alert is pending.
ip netns add "$P-x"
ip -n "$P-x" link set lo up
ip -n "$P-x" addr add 198.18.0.12/32 dev lo
mkdir -p "$POD2/cri-containerd-2.scope"
ip netns exec "$P-x" sleep 600 &
POD2_PID=$!
echo "$POD2_PID" >"$POD2/cri-containerd-2.scope/cgroup.procs"
conflict_counted() { [ "$(metric enforcer_experiment_pod_conflicts 'experiment="b"')" = 1 ]; }
wait_until 10 conflict_counted || fail "the second pod holding b's address is not counted as a conflict"
grep -q "discovery: experiment b matches 2 pod cgroups: its limits stay on .*-pod1.slice" "$WORK/enforcerd.log" ||
  { grep discovery "$WORK/enforcerd.log"; fail "the conflict is not logged as b's limits staying on its pod"; }
[ "$(ctl show b --json | jq -r .pod)" = "$POD" ] || fail "b's limits moved to $(ctl show b --json | jq -r .pod)"
[ "$(metric enforcer_experiment_pod_conflicts 'experiment="a"')" = 0 ] || fail "a conflict counted for a"
conflict_pending() { [ "$(query 'ALERTS{alertname="PlatformCluster_ExperimentPodConflict",alertstate="pending",experiment="b"}')" = 1 ]; }
wait_until 10 conflict_pending || fail "PlatformCluster_ExperimentPodConflict is not pending for b"
log "ok: a newer pod with b's address is a conflict (logged, counted, alert pending); b's limits stay on its pod"
log "PASS (Prometheus: $prom_value bytes, daemon: $daemon_value)"
