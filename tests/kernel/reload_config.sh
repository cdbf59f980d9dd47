#!/usr/bin/env bash
# kernel tier (issues "ops control plane" and "reliability", acceptance 3 in part): SIGHUP and
# `enforcerctl reload` read the config again. A file with errors is rejected with its errors and
# the running configuration keeps being enforced; changed allocations and pinned rates apply by
# the next tick; a change that needs a restart (an experiment added) is refused and says so.
source "$(dirname "$0")/lib.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
EXP_A='
[[experiment]]
name = "a"
addresses = ["198.18.0.11", "2001:db8::11"]'
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
pinned_rate = \"10Mbit\""
daemon_start "$WORK/enforcer.toml"
pinned() { ctl show a --json | jq .pinned_bits; }
[ "$(pinned)" = 10000000 ] || fail "a is not pinned at 10 Mbit/s at start: $(pinned)"

# A config with an error: rejected, and the old one stays.
cp "$WORK/enforcer.toml" "$WORK/good.toml"
printf 'bandwidth = "100Mbps"\n' >>"$WORK/enforcer.toml"  # into [[experiment]] a
kill -HUP "$DAEMON_PID"
sleep 0.5
grep -q 'was not reloaded' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "SIGHUP with a bad config: nothing logged"; }
grep -q 'Mbps' "$WORK/enforcerd.log" || fail "the log does not name the bad value"
rc=0; ctl reload --reason "bad config" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'Mbps' "$WORK/out" || { cat "$WORK/out"; fail "reload of a bad config: exit $rc"; }
[ "$(pinned)" = 10000000 ] || fail "a bad config changed the pinned rate: $(pinned)"
kill -0 "$DAEMON_PID" || fail "the daemon died on a bad config"
reload_ok() { scrape | awk '$1 == "enforcer_config_last_reload_successful" { print $2 }'; }
[ "$(reload_ok)" = 0 ] || fail "enforcer_config_last_reload_successful is $(reload_ok) after a rejected reload"
log "ok: a bad config is rejected ($(head -1 "$WORK/out" | cut -c1-120)); still pinned at 10 Mbit/s"

# A changed pinned rate: applied by the next tick.
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
pinned_rate = \"5Mbit\""
kill -HUP "$DAEMON_PID"
sleep 0.3
[ "$(pinned)" = 5000000 ] || fail "SIGHUP did not apply pinned_rate 5Mbit: $(pinned)"
[ "$(ctl show a --json | jq .egress.limit_bits)" = 5000000 ] || fail "the datapath's limit is not 5 Mbit/s after the reload"
log "ok: SIGHUP applied pinned_rate 5Mbit (datapath limit $(ctl show a --json | jq .egress.limit_bits))"
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A"
ctl reload --reason "unpin" >/dev/null || fail "enforcerctl reload of a good config failed"
sleep 0.3
[ "$(pinned)" = 0 ] || fail "reload did not remove the pinned rate: $(pinned)"
grep -q '"reason":"unpin"' "$WORK/state/audit.log" || fail "the reload is not audited"
[ "$(reload_ok)" = 1 ] || fail "enforcer_config_last_reload_successful is $(reload_ok) after a good reload"
log "ok: enforcerctl reload removed the pinned rate, audited; enforcer_config_last_reload_successful 0 -> 1"

# Adding an experiment needs a restart (for now): refused, said so, nothing changes.
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
[[experiment]]
name = \"b\"
addresses = [\"198.18.0.12\"]"
rc=0; ctl reload --reason "add b" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'restart' "$WORK/out" || { cat "$WORK/out"; fail "adding an experiment by reload: exit $rc"; }
[ "$(ctl status --json | jq '.experiments | length')" = 1 ] || fail "the refused reload added an experiment"
log "ok: adding an experiment by reload is refused: $(head -1 "$WORK/out" | cut -c1-140)"
log PASS
