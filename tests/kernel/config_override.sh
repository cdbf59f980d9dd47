#!/usr/bin/env bash
# kernel tier (issue 18, item 5): [[override]] tables in the configuration, with the real daemon.
# Cost: about 10 s (no traffic; a start, a few ticks per step, four reloads by file change).
#   - a config override pins experiment a and changes its bandwidth: `show a --json` and the
#     allocation metric say so, enforcer_experiment_override_info{source="config"} is 1 and the
#     expiry metric holds its `until`;
#   - `enforcerctl override set` of the same resource wins; `override list --json` shows both
#     sources (config with file:line, cli); the two metrics pass `promtool check metrics`;
#   - clearing the CLI override brings the config's back;
#   - a change of the config file (no signal) changes the config override, and removing it ends it;
#   - a config override whose `until` passes ends by itself (logged once); one already expired in
#     a reloaded file is ignored, not an error.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
EXP_A=$(experiment_toml a 198.18.0.11 2001:db8::11)
UNTIL=2099-01-01T00:00:00Z
UNTIL_UNIX=$(date -d "$UNTIL" +%s)
config_with() {
  TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
$1"
}
override_toml() {  # RESOURCE VALUE [UNTIL]
  printf '\n[[override]]\nexperiment = "a"\nresource = "%s"\nvalue = "%s"\nreason = "config test"\n' "$1" "$2"
  if [ $# -gt 2 ]; then printf 'until = %s\n' "$3"; fi
}
config_with "$(override_toml bandwidth 30Mbit "$UNTIL")$(override_toml throttle 7Mbit)"
daemon_start "$WORK/enforcer.toml"

field() { ctl show a --json | jq -r "$1"; }
bandwidth_is() { [ "$(field .allocation.bandwidth_bits)" = "$1" ]; }
info() { scrape | awk -v want="enforcer_experiment_override_info{experiment=\"a\",resource=\"$1\",source=\"$2\"}" '$1 == want { print $2 }'; }

# 1. The config's overrides hold from the start.
bandwidth_is 30000000 || fail "the config override did not set bandwidth 30Mbit: $(field .allocation)"
[ "$(field .pinned_bits)" = 7000000 ] || fail "the config override did not pin a at 7Mbit: $(field .pinned_bits)"
wait_until 2 eval '[ "$(field .egress.limit_bits)" = 7000000 ]' || fail "the datapath's limit is $(field .egress.limit_bits), not 7 Mbit/s"
[ "$(metric enforcer_experiment_allocation_bytes_per_second 'direction="egress",experiment="a"')" = 3750000 ] ||
  fail "the allocation metric does not show 30 Mbit/s"
[ "$(info bandwidth config)" = 1 ] || fail "no enforcer_experiment_override_info for the config's bandwidth"
[ "$(info throttle config)" = 1 ] || fail "no enforcer_experiment_override_info for the config's throttle"
[ "$(metric enforcer_experiment_override_expiry_timestamp_seconds 'experiment="a",resource="bandwidth"')" = "$UNTIL_UNIX" ] ||
  fail "the expiry metric does not hold $UNTIL"
log "ok: config overrides in force from the start (bandwidth 30Mbit until $UNTIL, throttle 7Mbit)"

# 2. enforcerctl wins over the config for the same resource.
ctl override set a bandwidth 50Mbit --reason "config test: emergency" >/dev/null
bandwidth_is 50000000 || fail "the CLI override does not win: $(field .allocation)"
[ "$(info bandwidth cli)" = 1 ] || fail "no enforcer_experiment_override_info{source=\"cli\"}"
[ -z "$(info bandwidth config)" ] || fail "the config's bandwidth override is still reported in force"
ctl override list --json >"$WORK/list.json"
jq -e '[.overrides[] | select(.resource == "bandwidth") | .source] | sort == ["cli", "config"]' "$WORK/list.json" >/dev/null ||
  { cat "$WORK/list.json"; fail "override list --json does not show both sources"; }
jq -e --arg f "$WORK/enforcer.toml" '.overrides[] | select(.source == "config" and .resource == "bandwidth")
  | .file == $f and (.line > 0) and .in_force == false' "$WORK/list.json" >/dev/null ||
  { cat "$WORK/list.json"; fail "the config override's file:line or in_force is wrong"; }
ctl override list | grep -q "config $WORK/enforcer.toml:" || fail "override list does not name the config file"
scrape >"$WORK/scrape.txt"
promtool check metrics <"$WORK/scrape.txt" || fail "promtool check metrics failed on the scrape"
log "ok: the CLI override wins; list --json shows both sources; promtool accepts the scrape"

# 3. Clearing the CLI override brings the config's back.
ctl override clear a bandwidth --reason "config test: done" >/dev/null
bandwidth_is 30000000 || fail "the config override did not come back: $(field .allocation)"
[ "$(info bandwidth config)" = 1 ] || fail "the config override is not reported in force again"
log "ok: after override clear the config's bandwidth 30Mbit applies again"

# 4. A change of the file (followed without a signal) changes the config override; removing it
# ends it.
config_with "$(override_toml bandwidth 40Mbit)$(override_toml throttle 7Mbit)"
wait_until 5 bandwidth_is 40000000 || fail "the changed config override did not apply: $(field .allocation)"
wait_until 2 eval '! scrape | grep -q "^enforcer_experiment_override_expiry_timestamp_seconds{"' ||
  fail "an expiry is still exported for an override without until"
config_with ""
wait_until 5 eval '[ "$(field .pinned_bits)" = 0 ]' || fail "removing the config override did not unpin a"
bandwidth_is 1000000000000 || fail "removing the config override left bandwidth $(field .allocation.bandwidth_bits)"
[ -z "$(info bandwidth config)$(info throttle config)" ] || fail "removed config overrides are still reported"
log "ok: a reload by file change changed and then removed the config overrides"

# 5. An override whose until passes ends by itself; one already expired is ignored at a reload.
soon=$(date -u -d @$(($(date +%s) + 3)) +%Y-%m-%dT%H:%M:%SZ)
config_with "$(override_toml bandwidth 20Mbit "$soon")$(override_toml cpu 2 2020-01-01T00:00:00Z)"
wait_until 5 bandwidth_is 20000000 || fail "the override until $soon did not apply: $(field .allocation)"
wait_log 2 "config override a cpu = 2 .* expired at 2020-01-01T00:00:00Z: ignored"
[ "$(scrape | awk '$1 == "enforcer_config_last_reload_successful" { print $2 }')" = 1 ] ||
  fail "a reload with an expired config override was not successful"
wait_until 6 bandwidth_is 1000000000000 || fail "the override did not end at $soon: $(field .allocation)"
wait_log 2 "config override a bandwidth = 20Mbit .* expired at $soon: ignored"
[ -z "$(info bandwidth config)" ] || fail "an expired config override is still reported in force"
[ "$(grep -c "a cpu = 2 .* expired" "$(daemon_log)")" = 1 ] || fail "the expired override was not logged exactly once"
log "ok: a config override ended at its until ($soon); an expired one was ignored and logged once"
