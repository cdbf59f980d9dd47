#!/usr/bin/env bash
# kernel tier (issues "ops control plane" and "reliability", acceptance 3 in part): SIGHUP and
# `enforcerctl reload` read the config again. A file with errors is rejected with its errors and
# the running configuration keeps being enforced; changed allocations and pinned rates apply by
# the next tick; experiments are added and removed without disturbing the others (issue 7,
# acceptance 3).
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
EXP_A=$(experiment_toml a 198.18.0.11 2001:db8::11)
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

# Experiments added and removed by a reload, while a (pinned at 20 Mbit/s, flooding at 60) is
# counted and throttled throughout: b is added, c removed, within a tick; a's counters go on
# without a reset or a jump and its limit stays.
topo_add_experiment b 198.18.0.12 2001:db8::12
topo_add_experiment c 198.18.0.13 2001:db8::13
EXP_B=$(experiment_toml b 198.18.0.12 2001:db8::12)
EXP_C=$(experiment_toml c 198.18.0.13 2001:db8::13)
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
pinned_rate = \"20Mbit\"
$EXP_C"
ctl reload --reason "add c" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "reload adding c failed"; }
sleep 0.3
[ "$(ctl status --json | jq -r '[.experiments[].name] | sort | join(",")')" = a,c ] ||
  fail "after adding c: experiments $(ctl status --json | jq -c '[.experiments[].name]')"
in_exp c ping -c 5 -i 0.05 -q 198.18.0.1 >/dev/null || fail "c cannot reach the world"
sleep 0.3
c_bytes=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="c"')
[ "$c_bytes" -gt 0 ] || fail "c's traffic is not counted after it was added by a reload"
log "ok: c added by reload, its traffic counted ($c_bytes bytes egress)"

in_world timeout 60 iperf3 -s -p 5201 >/dev/null 2>&1 &
wait_listen 5201
in_exp a timeout 40 iperf3 -c 198.18.0.1 -p 5201 -u -b 60M -t 30 >"$WORK/flood.log" 2>&1 &
FLOOD_PID=$!
limit_a() { ctl show a --json | jq .egress.limit_bits; }
a_bytes() { metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"'; }
a_dropped() { metric enforcer_experiment_dropped_bytes_total 'direction="egress",experiment="a"'; }
sleep 2
[ "$(limit_a)" = 20000000 ] || fail "a's limit is $(limit_a) before the reload, not 20 Mbit/s"
[ "$(a_dropped)" -gt 0 ] || fail "a is not throttled (nothing dropped) by its 20 Mbit/s pin"
grep -q '^198.18.0.13/32 id ' <<<"$(datapath_addresses 4)" ||
  fail "c's address 198.18.0.13 is not in the datapath before its removal: $(datapath_addresses 4)"

# An override of c's, stored by name: it stays when c goes and applies again when c comes back.
ctl override set c bandwidth 7Mbit --reason "reload test" >/dev/null || fail "cannot override c's bandwidth"

# Samples a's egress counters every 0.1 s across the reload (a background job, bounded).
(for _ in $(seq 40); do printf '%s %s\n' "$(a_bytes)" "$(a_dropped)"; sleep 0.1; done) >"$WORK/a_samples" 2>/dev/null &
SAMPLER_PID=$!
sleep 1.5
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
pinned_rate = \"20Mbit\"
$EXP_B"
kill -HUP "$DAEMON_PID"
sleep 0.3  # three ticks
names=$(ctl status --json | jq -r '[.experiments[].name] | sort | join(",")')
[ "$names" = a,b ] || { cat "$WORK/enforcerd.log"; fail "after SIGHUP adding b and removing c: experiments $names"; }
grep -q 'reload: 1 experiment(s) added: b' "$WORK/enforcerd.log" || fail "the reload's log line is missing"
[ "$(limit_a)" = 20000000 ] || fail "a's limit is $(limit_a) after the reload, not 20 Mbit/s"
# (Outputs captured first: with pipefail, grep -q ending early could fail the pipeline.)
if grep -q 'experiment="c"' <<<"$(scrape)"; then fail "c's metric series are still exported"; fi
if grep -q '^198.18.0.13/' <<<"$(datapath_addresses 4)"; then
  fail "c's address 198.18.0.13 is still in the datapath"
fi
if grep -q '^2001:db8:0:0:0:0:0:13/' <<<"$(datapath_addresses 6)"; then
  fail "c's address 2001:db8::13 is still in the datapath"
fi
grep -q '^2001:db8:0:0:0:0:0:12/128 id ' <<<"$(datapath_addresses 6)" ||
  fail "b's address 2001:db8::12 is not in the datapath: $(datapath_addresses 6)"
b_before=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="b"')
in_exp b ping -c 5 -i 0.05 -q 198.18.0.1 >/dev/null || fail "b cannot reach the world"
sleep 0.3
b_after=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="b"')
[ "$b_after" -gt "$b_before" ] || fail "b's traffic is not counted ($b_before -> $b_after bytes)"
log "ok: SIGHUP added b (its pings counted: $b_before -> $b_after bytes) and removed c (no series, no address in the LPM maps)"
wait "$SAMPLER_PID" || true
# Continuity: never backwards, never a step above 20 Mbit/s over 0.1 s plus one policer burst
# (500 ms of 20 Mbit/s) and scrape jitter: 3 MB.
awk 'NR > 1 { if ($1 < b || $2 < d) { print "backwards at sample " NR ": " b " -> " $1 ", dropped " d " -> " $2; exit 1 }
               if ($1 - b > 3000000) { print "a jump at sample " NR ": " b " -> " $1; exit 1 } }
     { b = $1; d = $2 } END { if (NR < 20) { print "only " NR " samples"; exit 1 } }' "$WORK/a_samples" ||
  { cat "$WORK/a_samples"; fail "a's counters were not continuous across the reload"; }
log "ok: a's counters continuous across the reload ($(head -1 "$WORK/a_samples") -> $(tail -1 "$WORK/a_samples"), $(wc -l <"$WORK/a_samples") samples), limit still 20 Mbit/s"

# Invalid configs (a syntax error; an address a and b share) are rejected and change nothing.
cp "$WORK/enforcer.toml" "$WORK/good.toml"
printf '[[experiment\n' >>"$WORK/enforcer.toml"
rc=0; ctl reload --reason "syntax error" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/out"; fail "reload of a config with a syntax error: exit $rc"; }
[ "$(reload_ok)" = 0 ] || fail "enforcer_config_last_reload_successful is $(reload_ok) after a syntax error"
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
pinned_rate = \"20Mbit\"
$EXP_B
[[experiment]]
name = \"d\"
addresses = [\"198.18.0.11\"]"
rc=0; ctl reload --reason "duplicate address" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q 'overlaps' "$WORK/out" || { cat "$WORK/out"; fail "reload of a config with a duplicate address: exit $rc"; }
[ "$(reload_ok)" = 0 ] || fail "enforcer_config_last_reload_successful is $(reload_ok) after a duplicate address"
names=$(ctl status --json | jq -r '[.experiments[].name] | sort | join(",")')
[ "$names" = a,b ] || fail "a rejected reload changed the experiments: $names"
[ "$(limit_a)" = 20000000 ] || fail "a's limit is $(limit_a) after the rejected reloads"
d0=$(a_dropped); sleep 0.5; d1=$(a_dropped)
[ "$d1" -gt "$d0" ] || fail "a is no longer throttled after the rejected reloads"
log "ok: a syntax error and a duplicate address are rejected ($(head -1 "$WORK/out" | cut -c1-120)); a still throttled, b still there"

# c comes back (on a free id): its stored override applies again, its counters start from zero.
TICK=100ms write_config "$WORK/enforcer.toml" "$EXP_A
pinned_rate = \"20Mbit\"
$EXP_B
$EXP_C"
ctl reload --reason "c again" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "reload adding c again failed"; }
sleep 0.3
[ "$(ctl show c --json | jq .allocation.bandwidth_bits)" = 7000000 ] ||
  fail "c's stored override does not apply after it came back: $(ctl show c --json | jq -c .allocation)"
c_again=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="c"')
[ "$c_again" -lt "$c_bytes" ] || [ "$c_again" = 0 ] || fail "c came back with $c_again bytes counted (it had $c_bytes)"
[ "$(limit_a)" = 20000000 ] || fail "a's limit is $(limit_a) after c came back"
log "ok: c came back with its override (7 Mbit/s) and counters from zero ($c_again bytes)"
kill "$FLOOD_PID" 2>/dev/null || true
wait "$FLOOD_PID" 2>/dev/null || true

# Ids stay with their experiments across a kill -9: a, b, c are at positions 1, 2, 3 of the file
# but hold ids 1, 3, 2 (c came back on a free id). The restarted daemon gives each the id of the
# snapshot, so every one keeps its adopted datapath counters.
in_exp b ping -c 5 -i 0.05 -q 198.18.0.1 >/dev/null
sleep 0.7  # a snapshot (every 5 ticks)
b0=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="b"')
kill -KILL "$DAEMON_PID" || true
wait "$DAEMON_PID" 2>/dev/null || true
DAEMON_PID=
daemon_start "$WORK/enforcer.toml"
grep -q 'adopting the datapath' "$WORK/enforcerd.log" || { cat "$WORK/enforcerd.log"; fail "the restart did not adopt"; }
kept=$(grep -c 'datapath counters kept' "$WORK/enforcerd.log" || true)
[ "$kept" = 3 ] || { cat "$WORK/enforcerd.log"; fail "$kept of 3 experiments kept their datapath counters after the restart"; }
sleep 0.3
b1=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="b"')
[ "$b1" -ge "$b0" ] || fail "b's bytes went back across the restart ($b0 -> $b1)"
log "ok: after kill -9 and a restart every experiment kept its id and datapath counters (b $b0 -> $b1 bytes)"
log PASS
