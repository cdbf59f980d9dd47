#!/usr/bin/env bash
# kernel tier (issue 7, acceptance 3): a reload the datapath refuses half-way is undone. The
# daemon runs with max_experiments = 4 (1,024 addresses in the exact-address table, 1,024 prefixes
# in each trie, where addresses beyond the table go) and experiments a and c. A reload that
# removes c and adds b (one address) and d (2,100 addresses: table and trie fill up in the middle
# of d) fails: the error names d and says the reload was undone; a and c are still enforced (c's
# addresses back, nothing of b's or d's in the table or the trie, the same entries as before),
# a's counters go on, enforcer_config_last_reload_successful is 0. The same reload without d
# then succeeds.
source "$(dirname "$0")/../lib/node.sh"
trap topo_down EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
topo_add_experiment c 198.18.0.13 2001:db8::13
EXP_A=$(experiment_toml a 198.18.0.11 2001:db8::11)
EXP_B=$(experiment_toml b 198.18.0.12 2001:db8::12)
EXP_C=$(experiment_toml c 198.18.0.13 2001:db8::13)
config() {  # config FILE EXTRA
  TICK=100ms write_config "$1" "$2"
  sed -i 's|^\[daemon\]$|[daemon]\nmax_experiments = 4|' "$1"
}
config "$WORK/enforcer.toml" "$EXP_A
$EXP_C"
daemon_start "$WORK/enforcer.toml"

v4_keys() { datapath_addresses 4; }
names() { ctl status --json | jq -r '[.experiments[].name] | sort | join(",")'; }
a_bytes() { metric enforcer_experiment_bytes_total 'direction="egress",experiment="a"'; }
reload_ok() { scrape | awk '$1 == "enforcer_config_last_reload_successful" { print $2 }'; }

in_exp a ping -c 3 -i 0.1 -q 198.18.0.1 >/dev/null
sleep 0.3
keys_before=$(v4_keys)
a0=$(a_bytes)
[ "$(wc -l <<<"$keys_before")" = 2 ] || fail "expected 2 IPv4 entries at start: $keys_before"

reloads0=$(follower_reloads)
d_addresses=$(for ((i = 0; i < 2100; i++)); do printf '"198.19.%d.%d", ' $((i / 256)) $((i % 256)); done)
config "$WORK/enforcer.toml" "$EXP_A
$EXP_B
[[experiment]]
name = \"d\"
addresses = [${d_addresses%, }]"
rc=0; ctl reload --reason "a full map" >"$WORK/out" 2>&1 || rc=$?
[ "$rc" = 1 ] || { cat "$WORK/out"; fail "a reload the datapath cannot hold: exit $rc"; }
grep -q 'experiment \\\?"d\\\?"' "$WORK/out" && grep -q 'undone' "$WORK/out" ||
  { cat "$WORK/out"; fail "the error does not name d and the undo"; }
log "ok: refused: $(head -c 300 "$WORK/out")"
wait_follower_reload "$reloads0"
[ "$(names)" = a,c ] || fail "after the undone reload: experiments $(names)"
[ "$(v4_keys)" = "$keys_before" ] || { v4_keys | head; fail "the IPv4 addresses differ after the undo ($(v4_keys | wc -l) entries)"; }
[ "$(reload_ok)" = 0 ] || fail "enforcer_config_last_reload_successful is $(reload_ok) after the undone reload"
in_exp a ping -c 3 -i 0.1 -q 198.18.0.1 >/dev/null
in_exp c ping -c 3 -i 0.1 -q 198.18.0.1 >/dev/null
sleep 0.3
a1=$(a_bytes)
[ "$a1" -gt "$a0" ] || fail "a's traffic is not counted after the undone reload ($a0 -> $a1)"
c1=$(metric enforcer_experiment_bytes_total 'direction="egress",experiment="c"')
[ "$c1" -gt 0 ] || fail "c's traffic is not counted after the undone reload"
log "ok: undone: a and c enforced and counted (a $a0 -> $a1 bytes, c $c1), the addresses as before"

reloads0=$(follower_reloads)
config "$WORK/enforcer.toml" "$EXP_A
$EXP_B"
ctl reload --reason "without d" >"$WORK/out" 2>&1 || { cat "$WORK/out"; fail "the reload without d failed"; }
wait_follower_reload "$reloads0"
[ "$(names)" = a,b ] || fail "after the reload without d: experiments $(names)"
[ "$(reload_ok)" = 1 ] || fail "enforcer_config_last_reload_successful is $(reload_ok) after a good reload"
[ "$(a_bytes)" -ge "$a1" ] || fail "a's counters went back"
log "ok: the same reload without d applies"
log PASS
