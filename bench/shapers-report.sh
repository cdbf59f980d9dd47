#!/usr/bin/env bash
# bench/shapers-report.sh: the tables of bench/shapers.sh, made from its raw run lines on stdin
# ("round=R shaper=S rate=M flows=F key=value ...", one line per run). Rows come in the order of
# RATES, FLOWS and SHAPERS (the same variables as shapers.sh's); a case without runs is left out.
# Three markdown tables on stdout:
#   comparison   medians over the rounds: rate, latency, losses, drops, CPU
#   CPU per GB   the whole machine's busy CPU time per GB carried, one row per rate, flows and
#                shaper, beside htb's in the same rate and flows
#   accuracy     the error of the rate (wire bytes) round by round, their mean, standard
#                deviation and range, and the mean's 95 % confidence interval: an interval that
#                excludes 0 is a bias, one that holds 0 is scatter around the rate
# Needs only awk; shapers.sh calls it, and it can be rerun on the raw lines of a RESULTS.md.
set -euo pipefail
RATES=${RATES:?RATES: the rates of the runs, in the order of the rows}
FLOWS=${FLOWS:-1}
SHAPERS=${SHAPERS:?SHAPERS: the shapers of the runs, in the order of the rows}

# shellcheck disable=SC2016 # awk programs
awk -v rates="$RATES" -v flows_list="$FLOWS" -v shapers="$SHAPERS" '
  function sorted(list, v,    n, i, j, t) {
    n = split(list, v, " ")
    for (i = 2; i <= n; i++) for (j = i; j > 1 && v[j - 1] + 0 > v[j] + 0; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
    return n
  }
  function median(list,    v, n) {
    n = sorted(list, v)
    if (n == 0) return "nan"
    return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
  }
  # Two-sided 95 % quantile of Student'"'"'s t with DF degrees of freedom.
  function t95(df,    t) {
    split("12.706 4.303 3.182 2.776 2.571 2.447 2.365 2.306 2.262 2.228", t, " ")
    if (df <= 10) return t[df] + 0
    return df <= 30 ? 2.1 : 2.0
  }
  { delete kv; for (i = 1; i <= NF; i++) { split($i, p, "="); kv[p[1]] = p[2] }
    if (kv["flows"] == "") kv["flows"] = 1  # lines of a run before the flows were a knob
    k = kv["rate"] SUBSEP kv["flows"] SUBSEP kv["shaper"]
    runs[k]++
    for (f in kv) vals[k, f] = vals[k, f] " " kv[f] }
  END {
    nr = split(rates, r, " "); nf = split(flows_list, fl, " "); ns = split(shapers, s, " ")

    printf "| rate (Mbit/s) | flows | shaper | achieved (wire, Mbit/s) | error (wire) | error (skb->len) | RTT median (ms) | RTT p99 (ms) | pings lost | TCP retransmits | shaper drops | CPU-s per GB (system) | busy CPU (idle before) | iperf3 CPU-s per GB |\n"
    printf "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    for (i = 1; i <= nr; i++) for (f = 1; f <= nf; f++) for (j = 1; j <= ns; j++) {
      k = r[i] SUBSEP fl[f] SUBSEP s[j]
      if (!runs[k]) continue
      printf "| %s | %s | %s | %.2f | %+.1f %% | %+.1f %% | %.2f | %.2f | %.1f %% | %.0f | %.0f | %.2f | %.0f %% (%.0f %%) | %.2f |\n",
        r[i], fl[f], s[j], median(vals[k, "wire_mbit"]), median(vals[k, "err_wire"]), median(vals[k, "err_skb"]),
        median(vals[k, "rtt_med"]), median(vals[k, "rtt_p99"]), median(vals[k, "ping_loss"]),
        median(vals[k, "retrans"]), median(vals[k, "drops"]), median(vals[k, "cpu_s_per_gb"]),
        median(vals[k, "busy_pct"]), median(vals[k, "idle_busy_pct"]), median(vals[k, "iperf_cpu_s_per_gb"])
    }

    printf "\nCPU time of the whole machine per GB carried (medians over the rounds):\n\n"
    printf "| rate (Mbit/s) | flows | shaper | carried (GB, wire) | busy CPU-s (all CPUs) | CPU-s per GB | × htb | CPU-s per GB less the load before | busy CPU (idle before) |\n"
    printf "|---:|---:|---|---:|---:|---:|---:|---:|---:|\n"
    for (i = 1; i <= nr; i++) for (f = 1; f <= nf; f++) {
      h = r[i] SUBSEP fl[f] SUBSEP "htb"
      base = runs[h] ? median(vals[h, "cpu_s_per_gb"]) : 0
      for (j = 1; j <= ns; j++) {
        k = r[i] SUBSEP fl[f] SUBSEP s[j]
        if (!runs[k]) continue
        c = median(vals[k, "cpu_s_per_gb"])
        printf "| %s | %s | %s | %.3f | %.2f | %.2f | %s | %.2f | %.0f %% (%.0f %%) |\n",
          r[i], fl[f], s[j], median(vals[k, "gb"]), median(vals[k, "busy_s"]), c,
          (base > 0 ? sprintf("%.2f", c / base) : "—"), median(vals[k, "net_cpu_s_per_gb"]),
          median(vals[k, "busy_pct"]), median(vals[k, "idle_busy_pct"])
      }
    }

    printf "\nThe rate'"'"'s error (wire bytes) round by round, in the order run:\n\n"
    printf "| rate (Mbit/s) | flows | shaper | rounds | error per round | mean | spread (SD) | range | mean, 95 %% interval | reading |\n"
    printf "|---:|---:|---|---:|---|---:|---:|---:|---:|---|\n"
    for (i = 1; i <= nr; i++) for (f = 1; f <= nf; f++) for (j = 1; j <= ns; j++) {
      k = r[i] SUBSEP fl[f] SUBSEP s[j]
      if (!runs[k]) continue
      n = split(vals[k, "err_wire"], e, " ")
      sum = 0; per = ""
      for (m = 1; m <= n; m++) { sum += e[m]; per = per sprintf("%s%+.2f", m > 1 ? " " : "", e[m]) }
      mean = sum / n; ss = 0
      for (m = 1; m <= n; m++) ss += (e[m] - mean) ^ 2
      sorted(vals[k, "err_wire"], o)
      if (n < 2) {
        printf "| %s | %s | %s | 1 | %s %% | %+.2f %% | — | — | — | one round: bias and scatter not told apart |\n",
          r[i], fl[f], s[j], per, mean
        continue
      }
      sd = sqrt(ss / (n - 1)); half = t95(n - 1) * sd / sqrt(n)
      printf "| %s | %s | %s | %d | %s %% | %+.2f %% | %.2f %% | %+.2f … %+.2f %% | %+.2f ± %.2f %% | %s |\n",
        r[i], fl[f], s[j], n, per, mean, sd, o[1], o[n], mean, half,
        (mean - half > 0 || mean + half < 0) ? "bias (the interval excludes 0)" : "scatter (the interval holds 0)"
    }
  }'

printf '\n"wire": L2 bytes with every TCP segment'"'"'s own headers (what a NIC doing TSO sends, and what tbf\n'
printf 'and htb charge, and enforcer too); "skb->len": GSO aggregates with one set of headers (the\n'
printf 'interface counters): less than the wire by the headers of the segments beyond the first of each\n'
printf 'aggregate (66 B per 1448 B segment: up to 4.6 %%). "pings lost": echo\n'
printf 'requests sent (the namespace'"'"'s counter: with those dropped on the way out, which ping retries\n'
printf 'silently) without a reply, less those sent within the largest RTT before the end. "shaper drops":\n'
printf 'skbs for enforcer and htb; for tbf skbs, or the segments of aggregates larger than its burst (it\n'
printf 'splits those). "CPU-s per GB (system)": busy time of all CPUs (/proc/stat: user + nice + system\n'
printf '+ irq + softirq) over the window per GB on the wire, every other process of the machine\n'
printf 'included: compare "busy CPU" with "idle before" (the moment before the run) to see how much of it\n'
printf 'was ours; "less the load before" subtracts that earlier busy share from the window'"'"'s CPU time\n'
printf '(an estimate that holds while the other load does). "× htb": the CPU-s per GB over htb'"'"'s at the\n'
printf 'same rate and flows. "iperf3 CPU-s per GB": user + system time of the iperf3 client and server\n'
printf 'per GB received (the whole run). "mean, 95 %% interval": the mean error ± Student'"'"'s t × SD /\n'
printf '√rounds; the rounds rotate the shapers'"'"' order, so a drift of the machine'"'"'s load is spread over\n'
printf 'them.\n'
