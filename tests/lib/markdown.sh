# shellcheck shell=bash
# Reading the markdown tables the benchmarks print (bench/), by a column's header rather than its
# position: bench/run-all takes its targets from them and the smoke tests (tests/bench) check them,
# so a column moved or renamed shows as a missing column, not as another column's number.
#
#   table=$(md_table 2 <output.md)          # the second table: header, then its rows, tab-separated
#   md_column "$table" "mean tick"           # that column's cells, one per line
#   md_cell "$table" case "egress, IPv4, hit" "ratio to empty"   # one cell, by a row's key

# md_table N: the Nth markdown table (from 1) on stdin as tab-separated lines, its header first,
# without the |---| line; cells trimmed. Prints nothing when there are fewer tables.
md_table() {
  awk -v want="$1" '
    /^\|/ {
      if (!inside) { inside = 1; n++ }
      if (n != want || $0 ~ /^\|[-:| ]+\|$/) next
      line = $0
      sub(/^\| */, "", line); sub(/ *\| *$/, "", line); gsub(/ *\| */, "\t", line)
      print line
      next
    }
    { inside = 0 }'
}

# md_column TABLE NAME: the cells of the column headed NAME (exactly), one per row; returns 1 when
# the table has no such column.
md_column() {
  awk -F'\t' -v name="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; if (!c) exit 1; next }
    { print $c }' <<<"$1"
}

# md_cell TABLE KEY_COLUMN KEY COLUMN: the cell of COLUMN in the first row whose KEY_COLUMN is KEY;
# returns 1 when a column or the row is missing.
md_cell() {
  awk -F'\t' -v kname="$2" -v key="$3" -v name="$4" '
    NR == 1 { for (i = 1; i <= NF; i++) { if ($i == kname) k = i; if ($i == name) c = i }
      if (!k || !c) exit 1; next }
    $k == key { print $c; found = 1; exit }
    END { exit !found }' <<<"$1"
}

# md_select TABLE NAME...: the cells of the columns headed NAME..., tab-separated, one line per
# row; returns 1 (printing nothing) when the table lacks one of them.
md_select() {
  local t=$1
  shift
  awk -F'\t' -v names="$(printf '%s\t' "$@")" '
    NR == 1 { n = split(names, want, "\t") - 1
      for (j = 1; j <= n; j++) { for (i = 1; i <= NF; i++) if ($i == want[j]) c[j] = i; if (!c[j]) exit 1 }
      next }
    { line = ""; for (j = 1; j <= n; j++) line = line (j > 1 ? "\t" : "") $c[j]; print line }' <<<"$t"
}

# md_number CELL: the cell's leading number ("+1.2 %" -> 1.2, "0.04 s" -> 0.04, "—" -> nothing).
md_number() { awk '{ sub(/^[+]/, ""); if ($1 ~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) print $1 + 0 }' <<<"$1"; }
