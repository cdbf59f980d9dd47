#!/usr/bin/env bash
# kernel tier, acceptance: a real Prometheus (Debian's) scrapes the daemon; a query through its
# HTTP API returns the experiment's byte counter, consistent with the traffic sent. Also runs
# promtool's checks on a live scrape.
source "$(dirname "$0")/lib.sh"
PROM_PID=
cleanup() {
  [ -z "$PROM_PID" ] || { kill "$PROM_PID" 2>/dev/null; wait "$PROM_PID" 2>/dev/null; }
  topo_down
}
trap cleanup EXIT
command -v prometheus >/dev/null || fail "prometheus is not installed (scripts/install-deps installs it)"

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
write_config "$WORK/enforcer.toml" '
[[experiment]]
name = "a"
addresses = ["198.18.0.11", "2001:db8::11"]'
daemon_start "$WORK/enforcer.toml"

log "promtool check metrics on a live scrape"
scrape >"$WORK/scrape.txt"
if ! promtool check metrics <"$WORK/scrape.txt" >"$WORK/promtool.txt" 2>&1 || [ -s "$WORK/promtool.txt" ]; then
  cat "$WORK/promtool.txt"
  fail "promtool check metrics reported problems"
fi
# Prometheus adds these labels itself at M-Lab; the daemon must never emit them.
if grep -E '[{,](machine|node|site|deployment|pod|container|namespace)=' "$WORK/scrape.txt"; then
  fail "the daemon emits a label name that M-Lab's Prometheus sets itself"
fi

cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
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
for _ in $(seq 150); do
  [ "$(query 'up{job="enforcer"}')" = 1 ] && break
  kill -0 "$PROM_PID" 2>/dev/null || { cat "$WORK/prometheus.log"; fail "prometheus exited"; }
  sleep 0.2
done
[ "$(query 'up{job="enforcer"}')" = 1 ] || { tail "$WORK/prometheus.log"; fail "target never up"; }

SENT=$((200 * 1000 * 1000))
in_world timeout 60 iperf3 -s -p 5201 -1 >/dev/null 2>&1 &
wait_listen 5201
in_exp a ping -c1 -W2 198.18.0.1 >/dev/null
wait_ticks 0.5
before=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"')
iface_before=$(iface_bytes a tx)
log "experiment a sends $SENT bytes"
in_exp a timeout 30 iperf3 -p 5201 -c 198.18.0.1 -n "$SENT" >/dev/null
wait_ticks 0.5
daemon_value=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"')
sent=$(($(iface_bytes a tx) - iface_before))
# iperf3 counts what it wrote, not what left; the interface's counter is the truth.
[ "$sent" -ge $((SENT / 2)) ] || fail "only $sent bytes left the experiment's interface"
within "$sent" $((daemon_value - before)) 0.5 2048 "daemon's count of the bytes sent"

sel='enforcer_experiment_bytes_total{experiment="a",direction="egress"}'
log "waiting for Prometheus to see the traffic"
prom_value=
for _ in $(seq 100); do
  prom_value=$(query "$sel")
  if [ -n "$prom_value" ] && [ "${prom_value%.*}" -ge "$daemon_value" ]; then break; fi
  sleep 0.2
done
[ -n "$prom_value" ] || fail "Prometheus has no $sel"
# The experiment is idle now: what Prometheus stored is what the daemon reports (ARP slack).
within "$daemon_value" "${prom_value%.*}" 0 2048 "Prometheus' $sel"
# Labels as stored: ours plus job/instance, nothing renamed to exported_*.
labels=$(in_node curl -sf --get http://127.0.0.1:9090/api/v1/query --data-urlencode "query=$sel" |
  jq -r '.data.result[0].metric | keys | join(",")')
[ "$labels" = "__name__,direction,experiment,instance,job" ] || fail "unexpected labels: $labels"
rate=$(query "max_over_time(enforcer_experiment_window_bytes{experiment=\"a\",direction=\"egress\"}[1m])")
[ "${rate%.*}" -ge "$sent" ] || fail "window bytes in Prometheus ($rate) below the bytes sent"
log "PASS (Prometheus: $prom_value bytes, daemon: $daemon_value)"
