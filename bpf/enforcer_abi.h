/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The ABI between enforcer's BPF programs and user space: every struct that both sides read.
 * Plain fixed-width types only, no padding holes; static_asserts on both sides keep the layout.
 */
#ifndef ENFORCER_ABI_H
#define ENFORCER_ABI_H

#include <linux/types.h>

/* Experiment id 0 collects traffic that matches no experiment (unattributed). */
#define ENFORCER_UNATTRIBUTED_ID 0

/* Index into the per-direction arrays below. Egress: from an experiment out of the uplink
 * (attributed by source address); ingress: into the uplink towards an experiment (by
 * destination address). */
#define ENFORCER_DIR_EGRESS 0
#define ENFORCER_DIR_INGRESS 1
#define ENFORCER_DIRECTIONS 2

/* Value of the per-CPU counters array, indexed by experiment id. Bytes are wire bytes from the
 * Ethernet header on: skb->len at the tc hook, plus, for a GSO/GRO aggregate, the headers
 * (Ethernet, IP, TCP or UDP) of each segment beyond the first, which the wire carries and skb->len
 * does not (what a qdisc counts and tbf/htb charge; the interface counters count skb->len, less
 * for bulk TCP). The rate limit charges the same bytes. The cgroup_skb programs of host-network
 * experiments see packets from the network header and add ETH_HLEN per segment, so that their
 * bytes are the uplink's for the same packets. Bytes and packets count what passed (packets:
 * skbs, an aggregate once); what the rate limit dropped is counted apart. */
struct enforcer_counters {
  __u64 bytes[ENFORCER_DIRECTIONS];
  __u64 packets[ENFORCER_DIRECTIONS];
  __u64 dropped_bytes[ENFORCER_DIRECTIONS];
  __u64 dropped_packets[ENFORCER_DIRECTIONS];
};

/* rate_bytes_per_sec values with a meaning of their own. 0, what an entry nobody wrote holds:
 * no limit, the packet's fate is not changed. ENFORCER_RATE_STOP: nothing passes (a throttle whose
 * min_rate is 0, a hard stop); no real rate comes near it (the daemon caps rates below it). Any
 * other value: held to that many bytes/s. The programs and the daemon's tests read a rate through
 * the two predicates below, so that they cannot mean different things by it. */
#define ENFORCER_RATE_UNLIMITED 0ULL
#define ENFORCER_RATE_STOP 0xffffffffffffffffULL

static inline int enforcer_rate_unlimited(__u64 rate) {
  return rate == ENFORCER_RATE_UNLIMITED;
}
static inline int enforcer_rate_stops(__u64 rate) {
  return rate == ENFORCER_RATE_STOP;
}

/* Value of the limits array, indexed by experiment id; written by the daemon every tick.
 * The rate, tolerance and budget total are the daemon's decision for this tick and hold only
 * while the daemon keeps confirming them (limits_valid_until_ns in account.bpf.c): once a daemon
 * stops confirming (it stopped holding the datapath, was killed, crashed or hangs), the
 * experiment is held to fallback_rate_bytes_per_sec with fallback_tolerance_ns instead, its
 * allocation A (or its pinned rate), without a budget: neither the last tick's burst nor its
 * min_rate outlives the daemon by more than a few ticks.
 * budget_bytes_total: the budget in the form of bytes, so that it passes at the path's speed.
 * While the experiment's charged counter (below) is under this total, a packet passes at once,
 * without a look at the rate, and is charged; beyond it the rate holds. The daemon moves the total
 * every tick to (charged as it read it) + (the part of the tick's allowance beyond what the rate
 * carries), so that nothing is handed out twice; 0 (what an entry nobody wrote holds): no budget,
 * the rate alone.
 * How far ahead of now an experiment's schedule may run, in ns:
 * police_tolerance_ns when policing (the burst the bucket admits: rate × tolerance bytes),
 * edt_horizon_ns when pacing egress (how long a packet may wait in fq before it is dropped). */
struct enforcer_limit {
  __u64 rate_bytes_per_sec[ENFORCER_DIRECTIONS];
  __u64 police_tolerance_ns[ENFORCER_DIRECTIONS];
  __u64 edt_horizon_ns;
  __u64 budget_bytes_total[ENFORCER_DIRECTIONS];
  __u64 fallback_rate_bytes_per_sec[ENFORCER_DIRECTIONS];
  __u64 fallback_tolerance_ns[ENFORCER_DIRECTIONS];
};

/* Value of the charged array, indexed by experiment id: the bytes that passed against
 * budget_bytes_total, ever (they only grow). Shared by every CPU (atomic adds); written only by
 * the programs, read by the daemon every tick before the counters. */
struct enforcer_charged {
  __u64 bytes[ENFORCER_DIRECTIONS];
};

/* How many packets other than TCP an experiment may have waiting in fq under EDT pacing (fq's
 * per-flow limit, flow_limit, is 100 by default). A power of two: the ring below wraps by mask. */
#define ENFORCER_EDT_OTHER_QUEUE 64

/* Value of the shaper array, indexed by experiment id: per direction, the theoretical arrival
 * time (GCRA) — when the experiment's next byte is due at its rate, in CLOCK_MONOTONIC ns.
 * EDT pacing (egress) also keeps the departure times of the last ENFORCER_EDT_OTHER_QUEUE
 * packets other than TCP it admitted, in a ring (edt_other_next counts the packets admitted):
 * while the one a full ring ago has not left yet, that many are waiting in fq; and the schedule
 * (TAT) of the small packets other than TCP that leave at once instead of waiting in line.
 * Written only by the programs (atomically where shared); the daemon zeroes it when an id is
 * (re)assigned. */
struct enforcer_shaper {
  __u64 tat_ns[ENFORCER_DIRECTIONS];
  __u64 edt_jump_tat_ns;
  __u64 edt_other_next;
  __u64 edt_other_departures_ns[ENFORCER_EDT_OTHER_QUEUE];
};

/* Keys of the address classification tries (BPF_MAP_TYPE_LPM_TRIE); the value is the __u32
 * experiment id. Addresses in network byte order. */
struct enforcer_lpm_v4 {
  __u32 prefixlen;
  __u8 addr[4];
};

struct enforcer_lpm_v6 {
  __u32 prefixlen;
  __u8 addr[16];
};

/*
 * The exact-address table (map addr_exact): full-length addresses (/32, /128: what pods have) →
 * experiment id, looked up before the LPM tries, which keep the shorter prefixes only. An
 * open-addressing table that user space lays out inside a BPF_MAP_TYPE_ARRAY (the verifier inlines
 * array lookups, so a lookup makes no call): two halves of 2^exact_slot_bits slots each; the
 * programs search the half enforcer_addr_ctl.active_half names. An address lives in one of the
 * ENFORCER_EXACT_PROBES slots after enforcer_exact_hash(); a slot whose id is ENFORCER_EXACT_EMPTY
 * ends the search, one whose id is ENFORCER_EXACT_REMOVED holds an address no longer attributed
 * (it keeps the search going for the addresses behind it). An address that finds no slot within
 * the probes goes to the trie instead. lib/datapath/exact_table.hpp says why a reader on another
 * CPU never sees an update half done.
 */
#define ENFORCER_EXACT_PROBES 4
#define ENFORCER_EXACT_EMPTY 0U
#define ENFORCER_EXACT_REMOVED 0xffffffffU

/* A slot: the address in network byte order (IPv4 in addr[0], the rest 0), its family (4 or 6)
 * and the experiment id. */
struct enforcer_exact_slot {
  __u32 addr[4];
  __u32 family;
  __u32 id;
};

/* Value of the one-entry addr_ctl array: which half of addr_exact the programs search, and
 * whether the tries and pod_cgroups may hold anything (0: they are not looked in, so a node
 * without prefixes or pods never pays for those lookups). Written by the daemon, one aligned
 * 32-bit store per field; a flag is set before the first entry is written and cleared only once
 * the map is empty. */
struct enforcer_addr_ctl {
  __u32 active_half;
  __u32 trie_v4;
  __u32 trie_v6;
  __u32 pod_cgroups;
};

/* The first slot of an address's window: the four words (network byte order, as loaded) folded,
 * then Fibonacci hashing into `bits` bits (1..31). The programs and the daemon use this one
 * definition. */
static inline __u32 enforcer_exact_hash(__u32 a0, __u32 a1, __u32 a2, __u32 a3, __u32 bits) {
  return ((a0 ^ a1 ^ a2 ^ a3) * 0x9E3779B1U) >> (32 - bits);
}

#ifdef __cplusplus
static_assert(sizeof(struct enforcer_counters) == 64, "enforcer_counters layout");
static_assert(sizeof(struct enforcer_limit) == 88, "enforcer_limit layout");
static_assert(sizeof(struct enforcer_charged) == 16, "enforcer_charged layout");
static_assert(sizeof(struct enforcer_shaper) == 32 + 8 * ENFORCER_EDT_OTHER_QUEUE,
              "enforcer_shaper layout");
static_assert(sizeof(struct enforcer_lpm_v4) == 8, "enforcer_lpm_v4 layout");
static_assert(sizeof(struct enforcer_lpm_v6) == 20, "enforcer_lpm_v6 layout");
static_assert(sizeof(struct enforcer_exact_slot) == 24, "enforcer_exact_slot layout");
static_assert(sizeof(struct enforcer_addr_ctl) == 16, "enforcer_addr_ctl layout");
#else
_Static_assert(sizeof(struct enforcer_counters) == 64, "enforcer_counters layout");
_Static_assert(sizeof(struct enforcer_limit) == 88, "enforcer_limit layout");
_Static_assert(sizeof(struct enforcer_charged) == 16, "enforcer_charged layout");
_Static_assert(sizeof(struct enforcer_shaper) == 32 + 8 * ENFORCER_EDT_OTHER_QUEUE,
               "enforcer_shaper layout");
_Static_assert(sizeof(struct enforcer_lpm_v4) == 8, "enforcer_lpm_v4 layout");
_Static_assert(sizeof(struct enforcer_lpm_v6) == 20, "enforcer_lpm_v6 layout");
_Static_assert(sizeof(struct enforcer_exact_slot) == 24, "enforcer_exact_slot layout");
_Static_assert(sizeof(struct enforcer_addr_ctl) == 16, "enforcer_addr_ctl layout");
#endif

#endif /* ENFORCER_ABI_H */
