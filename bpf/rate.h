/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rate enforcement for one experiment and direction, shared by every CPU: the generic cell rate
 * algorithm (GCRA, "virtual scheduling"). The state is one number, the theoretical arrival time
 * (TAT): when the experiment's schedule at its rate is next free. A packet of len bytes starts at
 * max(now, TAT) and moves TAT on by len / rate.
 *  - Policing: the packet passes when its start is at most `tolerance` ahead of now, else it is
 *    dropped and TAT stays. A TAT left far ahead by a lower rate is cut back (see rate_admit).
 * Equivalent to a token bucket of depth rate × tolerance (+ one packet).
 *  - EDT pacing (egress, fq root qdisc): the packet gets skb->tstamp = its start, so fq releases
 *    it at exactly the rate; one further than `tolerance` (the drop horizon) is dropped.
 *
 * Concurrency: packets of one experiment arrive on several CPUs at once. TAT is advanced with
 * compare-and-swap (BPF atomics, kernel 5.12+), so every admitted packet reserves its own slot of
 * the schedule and no reservation is lost. After a bounded number of failed attempts (heavy
 * contention), the packet reserves with an atomic add instead: still exact in total, only the
 * idle-to-busy edge may start from a TAT slightly in the past.
 */
#ifndef ENFORCER_RATE_H
#define ENFORCER_RATE_H

#include <linux/types.h>

#define ENFORCER_NSEC_PER_SEC 1000000000ULL
#define ENFORCER_CAS_ATTEMPTS 4

/* rate_cost - how long len bytes take at `rate` bytes/s, in ns, rounded up: rounded down, small
 * packets at high rates would each be charged less than their time (60 bytes at 9.4 Gbit/s:
 * 50 ns for 50.99), and pass up to 2 % over the rate. (A multiplication checks the remainder: no
 * second division, and no overflow, since q · rate never exceeds len · 10^9.) */
static __always_inline __u64 rate_cost(__u64 len, __u64 rate) {
  const __u64 ns = len * ENFORCER_NSEC_PER_SEC;
  const __u64 q = ns / rate;
  return q * rate < ns ? q + 1 : q;
}

/*
 * rate_admit - reserve a packet costing `cost` ns on the schedule at *tat (see credit below).
 * Returns 0 and the packet's start time in *start when admitted, -1 when the start would lie more
 * than `tolerance_ns` ahead of `now` (the packet is to be dropped; *tat is unchanged).
 * `others_ns`: the longest tolerance other packets on the same schedule may have had at this rate
 * (EDT's horizon, for a policed egress schedule the paced program ran until the uplink's qdisc
 * changed). A schedule further ahead than twice the packet's tolerance and than others_ns is
 * taken for one left over from a lower rate (below).
 */
static __always_inline int rate_admit(__u64* tat, __u64 now, __u64 cost, __u64 tolerance_ns,
                                      __u64 others_ns, __u64 credit_ns, __u64* start) {
  /* A schedule that fell idle restarts at now - credit, not now: a sender that was held back
   * for a moment (a qdisc timer firing late) may catch up that much, no more. */
  const __u64 floor = now > credit_ns ? now - credit_ns : 0;
  /* At one rate, TAT never gets further ahead of now than the longest tolerance + one packet's
   * cost. A schedule further ahead than twice that was made at a lower rate (or with a longer
   * tolerance): its debt, measured in the old rate's time, would hold the new rate back for
   * seconds (21 s after 200 kbit/s with a 512 KiB bucket). It is cut to an empty bucket at the
   * new rate instead. (With a shorter tolerance for some packets, each of them would cut the
   * debt of the others: once every ping sent beside paced TCP did, and 2x the rate got through;
   * and policing, taking over from pacing, forgave all but its bucket of the up to 2 s that
   * pacing had admitted ahead while the uplink's new qdisc ignored the departure times.) */
  const __u64 ceiling = now + tolerance_ns;
  const __u64 stale = (2 * tolerance_ns > others_ns ? 2 * tolerance_ns : others_ns) + cost;
#ifdef __clang__ /* the daemon's unit tests include this file, compiled by GCC */
#pragma unroll
#endif
  for (int i = 0; i < ENFORCER_CAS_ATTEMPTS; i++) {
    const __u64 old = *(volatile __u64*)tat;
    __u64 begin = old > floor ? old : floor;
    if (begin > now && begin - now > stale) begin = ceiling;
    if (begin > now && begin - now > tolerance_ns) return -1;
    if (__sync_val_compare_and_swap(tat, old, begin + cost) == old) {
      *start = begin;
      return 0;
    }
  }
  const __u64 old = __sync_fetch_and_add(tat, cost);
  if (old > now && old - now > tolerance_ns) {
    /* Over the limit after all: give the reservation back. */
    __sync_fetch_and_add(tat, -cost);
    return -1;
  }
  *start = old > floor ? old : floor;
  return 0;
}

#endif /* ENFORCER_RATE_H */
