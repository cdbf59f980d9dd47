#!/usr/bin/env bash
# kernel tier (issue "ops control plane", acceptance 6): `enforcerctl top` in a real terminal
# (tmux): it lists every experiment, follows a change (a throttle shows up within a few ticks),
# and quits on q, leaving the terminal usable.
source "$(dirname "$0")/../lib/node.sh"
SESSION=enftop$$
cleanup() {
  tmux kill-session -t "$SESSION" 2>/dev/null || true
  topo_down
}
trap cleanup EXIT

topo_up
topo_add_experiment a 198.18.0.11 2001:db8::11
topo_add_experiment b 198.18.0.12 2001:db8::12
TICK=200ms write_config "$WORK/enforcer.toml" "$(experiment_toml a 198.18.0.11 2001:db8::11)"'
[[experiment]]
name = "b"
addresses = ["198.18.0.12", "2001:db8::12"]'
daemon_start "$WORK/enforcer.toml"

tmux new-session -d -s "$SESSION" -x 160 -y 40 "$ENFORCERCTL --socket $WORK/run/control.sock top"
screen() { tmux capture-pane -p -t "$SESSION"; }
# wait_screen PATTERN WHAT: the pane shows PATTERN within 5 s.
screen_shows() { screen | grep -qE -- "$1"; }
wait_screen() {
  wait_until 5 screen_shows "$1" && return 0
  screen
  fail "top never showed $2"
}
wait_screen '^ *a ' "experiment a"
wait_screen '^ *b ' "experiment b"
log "ok: top lists a and b"
ctl throttle b 3Mbit --reason "top test" >/dev/null
wait_screen '^ *b .*THROTTLED' "b's throttle"
screen | grep -qE '^ *a .*THROTTLED' && { screen; fail "top shows a throttled too"; }
log "ok: top shows b's throttle: $(screen | grep -E '^ *b ' | head -1 | tr -s ' ')"
tmux send-keys -t "$SESSION" q
top_gone() { ! tmux has-session -t "$SESSION" 2>/dev/null; }
wait_until 3 top_gone || { screen; fail "top did not quit on q"; }
log "ok: top quit on q"
log PASS
