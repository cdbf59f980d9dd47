#!/usr/bin/env bash
# kernel tier (issue 18, "reload on change"): the daemon applies a change of its configuration's
# files within 2 s, without a signal, while a UDP flood runs against experiment a:
#  - a drop-in written, changed, then removed: a's pinned rate follows each time;
#  - a value read from a file ("@/path") whose file changes;
#  - the main file as a Kubernetes ConfigMap mounts it (a symlink through ..data into a
#    timestamped folder), updated the kubelet's way: ..data renamed over;
#  - a broken drop-in: rejected, enforcer_config_last_reload_successful 0, the limit and the rate
#    on the wire unchanged; removing it is a successful reload again.
# Each reload is counted in enforcer_config_reloads_total{result}. About 30 s.
set -euo pipefail
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
wire_meters_up a

# The main file, mounted as a ConfigMap is: enforcer.toml -> ..data/enforcer.toml, ..data -> a
# timestamped folder. The drop-ins are in a folder of their own (--config-dir).
CM=$WORK/configmap DROPINS=$WORK/enforcer.d VALUES=$WORK/metadata
mkdir -p "$CM/..2026_12_01" "$DROPINS" "$VALUES"
main_config() { # FOLDER MBIT: the main file, experiment a pinned at MBIT
  TICK=100ms write_config "$1/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)
pinned_rate = \"${2}Mbit\""
}
main_config "$CM/..2026_12_01" 20
ln -s ..2026_12_01 "$CM/..data"
ln -s ..data/enforcer.toml "$CM/enforcer.toml"
daemon_start "$CM/enforcer.toml" --config-dir "$DROPINS"

EG='direction="egress",experiment="a"'
egress_limit() { metric enforcer_experiment_rate_limit_bytes_per_second "$EG"; }
limit_is() { [ "$(egress_limit)" = $(($1 * 1000000 / 8)) ]; }
reloads() { scrape | awk -v want="enforcer_config_reloads_total{result=\"$1\"}" '$1 == want { print $2; f = 1 } END { if (!f) print 0 }'; }
# applied MBIT WHAT: a's egress limit is MBIT Mbit/s within 2 s of T0 (set just before the change).
applied() {
  wait_until 2 limit_is "$1" ||
    fail "$2: a's egress limit is $(egress_limit) B/s 2 s after the change, not $(($1 * 1000000 / 8))"
  log "ok: $2: a's limit is $1 Mbit/s after $(seconds_since "$T0") s"
}
limit_is 20 || fail "a's egress limit at start is $(egress_limit) B/s, not 20 Mbit/s"

# The flood: 100 Mbit/s from a for the whole test (bounded), policed to a's rate.
in_world timeout 90 "$BUILD/tests/kernel/udp_flood" sink 5300 80 >/dev/null &
in_exp a timeout 90 "$BUILD/tests/kernel/udp_flood" send 198.18.0.1 5300 100 75 >"$WORK/flood.log" 2>&1 &
FLOOD=$!

ok0=$(reloads success)
T0=$EPOCHREALTIME
printf '[[experiment]]\nname = "a"\npinned_rate = "10Mbit"\n' >"$DROPINS/50-a.toml"
applied 10 "a drop-in written"
T0=$EPOCHREALTIME
printf '[[experiment]]\nname = "a"\npinned_rate = "15Mbit"\n' >"$DROPINS/50-a.toml.tmp"
mv "$DROPINS/50-a.toml.tmp" "$DROPINS/50-a.toml"  # renamed over, as editors and installers do
applied 15 "the drop-in changed"
T0=$EPOCHREALTIME
rm "$DROPINS/50-a.toml"
applied 20 "the drop-in removed"

echo 30000000 >"$VALUES/rate"
T0=$EPOCHREALTIME
printf '[[experiment]]\nname = "a"\npinned_rate = "@%s"\n' "$VALUES/rate" >"$DROPINS/60-a-from-file.toml"
applied 30 "a drop-in with a value from a file (a bare number: bit/s)"
T0=$EPOCHREALTIME
echo 25000000 >"$VALUES/rate"
applied 25 "the value's file changed"
rm "$DROPINS/60-a-from-file.toml"
wait_until 2 limit_is 20 || fail "removing the drop-in with the @ value did not bring back 20 Mbit/s"

# The kubelet's update of a ConfigMap: a new timestamped folder, ..data_tmp pointing at it,
# renamed over ..data.
mkdir "$CM/..2026_12_02"
main_config "$CM/..2026_12_02" 12
T0=$EPOCHREALTIME
ln -s ..2026_12_02 "$CM/..data_tmp"
mv -T "$CM/..data_tmp" "$CM/..data"
applied 12 "the ConfigMap updated (..data swapped)"
rm -rf "$CM/..2026_12_01"

# A broken drop-in: rejected whole; the running configuration and its enforcement stay.
failed0=$(reloads failure)
reload_ok() { metric enforcer_config_last_reload_successful ''; }
printf '[[experiment]]\nname = "a"\npinned_rate = "fast"\n' >"$DROPINS/70-broken.toml"
reload_failed() { [ "$(reload_ok)" = 0 ]; }
wait_until 2 reload_failed || fail "a broken drop-in did not make enforcer_config_last_reload_successful 0 within 2 s"
[ "$(reloads failure)" -gt "$failed0" ] || fail "the rejected reload is not counted as a failure"
log_has '70-broken.toml:3' || fail "the daemon's log does not name the broken drop-in's file and line"
limit_is 12 || fail "after the broken drop-in a's limit is $(egress_limit) B/s, not 12 Mbit/s"
kill -0 "$FLOOD" 2>/dev/null || { cat "$WORK/flood.log"; fail "the flood ended early"; }
rate=$(wire_window egress a 3)
within 12000000 "$rate" 10 0 "a's flood on the wire (bit/s) after the broken drop-in"
T0=$EPOCHREALTIME
rm "$DROPINS/70-broken.toml"
reload_good() { [ "$(reload_ok)" = 1 ]; }
wait_until 2 reload_good || fail "removing the broken drop-in did not make the reload succeed within 2 s"
log "ok: the broken drop-in removed: reloaded after $(seconds_since "$T0") s"

ok1=$(reloads success)
[ "$((ok1 - ok0))" -ge 7 ] || fail "enforcer_config_reloads_total{result=\"success\"} grew by $((ok1 - ok0)), not at least 7"
log "ok: reloads counted: success $ok0 -> $ok1, failure $failed0 -> $(reloads failure)"
stop_flow "$FLOOD"
log PASS
