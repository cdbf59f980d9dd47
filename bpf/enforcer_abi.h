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

/* Value of the per-CPU counters array, indexed by experiment id. Bytes are skb->len at the tc
 * hook, which includes the link-layer header: the interface counters count the same. */
struct enforcer_counters {
  __u64 bytes[ENFORCER_DIRECTIONS];
  __u64 packets[ENFORCER_DIRECTIONS];
};

/* Value of the limits array, indexed by experiment id. A rate of 0 means "no limit". Filled by
 * the policy (bandwidth enforcement); the accounting programs only carry it. */
struct enforcer_limit {
  __u64 rate_bytes_per_sec[ENFORCER_DIRECTIONS];
  __u64 flags;
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

#ifdef __cplusplus
static_assert(sizeof(struct enforcer_counters) == 32, "enforcer_counters layout");
static_assert(sizeof(struct enforcer_limit) == 24, "enforcer_limit layout");
static_assert(sizeof(struct enforcer_lpm_v4) == 8, "enforcer_lpm_v4 layout");
static_assert(sizeof(struct enforcer_lpm_v6) == 20, "enforcer_lpm_v6 layout");
#else
_Static_assert(sizeof(struct enforcer_counters) == 32, "enforcer_counters layout");
_Static_assert(sizeof(struct enforcer_limit) == 24, "enforcer_limit layout");
_Static_assert(sizeof(struct enforcer_lpm_v4) == 8, "enforcer_lpm_v4 layout");
_Static_assert(sizeof(struct enforcer_lpm_v6) == 20, "enforcer_lpm_v6 layout");
#endif

#endif /* ENFORCER_ABI_H */
