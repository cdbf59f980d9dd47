#!/usr/bin/env bash
# unit tier: the fleet example (config/examples/fleet, as a machine of lga03 sees it) through
# `enforcerd --check-config`: each experiment's effective values and where they came from.
#   check_fleet_example.sh ENFORCERD MAIN_FILE DROPIN_DIR
# (grep/awk per line: a single regular expression over the whole printout backtracks
# exponentially in CTest's PASS_REGULAR_EXPRESSION.)
set -euo pipefail
out=$("$1" --check-config --config "$2" --config-dir "$3")
# key_of EXPERIMENT KEY: that experiment's line for KEY, as printed.
key_of() {
  awk -v want="$1" -v key="$2" '/^\[\[/ { name = "" } /^name = / { name = $3; gsub(/"/, "", name) }
    name == want && $1 == key { print; exit }' <<<"$out"
}
expect() { # EXPERIMENT KEY PATTERN
  local line
  line=$(key_of "$1" "$2")
  grep -qE -- "$3" <<<"$line" || { printf '%s\n' "$out"; echo "FAIL: experiment $1: $2 is '$line', not /$3/" >&2; exit 1; }
}
expect ndt bandwidth '^bandwidth = "10Gbit"  # from .*/enforcer\.d/10-fleet\.toml:10 \(read from .*iface-max-rate\)$'
expect msak bandwidth '^bandwidth = "200Mbit"  # from .*/enforcer\.d/10-fleet\.toml:6$'
expect host-probe optional '^optional = true'
grep -q '^interfaces = \["auto"\]' <<<"$out" || { printf '%s\n' "$out"; echo "FAIL: the fleet's uplink is not found by address" >&2; exit 1; }
[ -z "$(key_of wehe name)" ] && grep -q '^# disabled on this host: experiment "wehe"' <<<"$out" ||
  { printf '%s\n' "$out"; echo "FAIL: wehe is not disabled on mlab2-lga03" >&2; exit 1; }
[ -n "$(key_of revtr name)" ] || { printf '%s\n' "$out"; echo "FAIL: revtr is not enabled on mlab2-lga03" >&2; exit 1; }
echo "ok: the fleet example's values and their sources, as mlab2-lga03 sees them"
