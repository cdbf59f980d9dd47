// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-experiment traffic accounting on the host uplink (tc clsact ingress and egress).
 *
 * Every packet is attributed to an experiment by address: the source address on egress, the
 * destination address on ingress, through longest-prefix-match tries for IPv4 and IPv6. Packets
 * that match no experiment, and non-IP frames, are counted under id 0 (unattributed). Counters are
 * per-CPU, so the hot path takes no lock and shares no cache line between CPUs; user space sums the
 * CPUs once per tick.
 *
 * Enforcement: when the daemon has set a rate for the experiment and direction (limits map),
 * the packet is held to it (bpf/rate.h): policed (dropped when over) on ingress and on egress
 * without fq; paced with an Earliest Departure Time (skb->tstamp) on egress when the uplink's root
 * qdisc is fq — tc_egress_edt is attached there instead of tc_egress. Without a rate, the
 * programs never change a packet's fate: they return TC_ACT_UNSPEC, so any filter behind ours
 * still runs and the qdisc sees the packet unchanged.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "enforcer_abi.h"
#include "rate.h"

#define ENFORCER_EDT_QUEUE_PACKETS 64
#define ENFORCER_EDT_CREDIT_NS 2000000ULL /* 2 ms */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sizes are set by the loader before load (bpf_map__set_max_entries). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_counters);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_limit);
} limits SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_shaper);
} shapers SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct enforcer_lpm_v4);
  __type(value, __u32);
} addr_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_LPM_TRIE);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct enforcer_lpm_v6);
  __type(value, __u32);
} addr_v6 SEC(".maps");

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)

struct vlan_tag {
  __be16 tci;
  __be16 encapsulated_proto;
};

/*
 * classify - experiment id of the packet's source (egress) or destination (ingress) address.
 * Reads the headers with direct packet access; a frame too short for its headers is
 * unattributed. One 802.1Q/802.1ad tag in the payload is skipped (a tag the NIC stripped is not
 * in the payload at all).
 */
static __always_inline __u32 classify(struct __sk_buff* skb, int dir, int* tcp) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  void* l3 = eth + 1;
  if (l3 > data_end) return ENFORCER_UNATTRIBUTED_ID;

  __be16 proto = eth->h_proto;
  if (proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE) {
    struct vlan_tag* tag = l3;
    if ((void*)(tag + 1) > data_end) return ENFORCER_UNATTRIBUTED_ID;
    proto = tag->encapsulated_proto;
    l3 = tag + 1;
  }

  __u32* id = 0;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = l3;
    if ((void*)(ip + 1) > data_end) return ENFORCER_UNATTRIBUTED_ID;
    struct enforcer_lpm_v4 key = {.prefixlen = 32};
    __builtin_memcpy(key.addr, dir == ENFORCER_DIR_EGRESS ? &ip->saddr : &ip->daddr, 4);
    id = bpf_map_lookup_elem(&addr_v4, &key);
    *tcp = ip->protocol == IPPROTO_TCP;
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = l3;
    if ((void*)(ip6 + 1) > data_end) return ENFORCER_UNATTRIBUTED_ID;
    struct enforcer_lpm_v6 key = {.prefixlen = 128};
    __builtin_memcpy(key.addr, dir == ENFORCER_DIR_EGRESS ? &ip6->saddr : &ip6->daddr, 16);
    id = bpf_map_lookup_elem(&addr_v6, &key);
    *tcp = ip6->nexthdr == IPPROTO_TCP; /* TCP behind extension headers counts as not TCP */
  }
  return id ? *id : ENFORCER_UNATTRIBUTED_ID;
}

/*
 * enforce - holds the packet to the experiment's rate, if it has one. Returns TC_ACT_SHOT to
 * drop, TC_ACT_UNSPEC to pass (with skb->tstamp set when pacing).
 */
static __always_inline int enforce(struct __sk_buff* skb, __u32 id, int dir, int edt, int tcp) {
  if (id == ENFORCER_UNATTRIBUTED_ID) return TC_ACT_UNSPEC;
  struct enforcer_limit* limit = bpf_map_lookup_elem(&limits, &id);
  if (!limit) return TC_ACT_UNSPEC;
  const __u64 rate = limit->rate_bytes_per_sec[dir];
  if (rate == 0) return TC_ACT_UNSPEC;
  struct enforcer_shaper* shaper = bpf_map_lookup_elem(&shapers, &id);
  if (!shaper) return TC_ACT_UNSPEC;

  const __u64 now = bpf_ktime_get_ns();
  __u64 start = now;
  const __u64 cost = rate_cost(skb->len, rate);
  __u64 tolerance = limit->police_tolerance_ns[dir];
  if (edt) {
    tolerance = limit->edt_horizon_ns;
    /* fq keeps at most flow_limit (default 100) packets per flow and drops the rest after we
     * admitted them, which would waste the schedule. TCP never gets there: TCP Small Queues
     * hold it back until fq releases its packets. Anything else (a UDP flood) may queue at most
     * ENFORCER_EDT_QUEUE_PACKETS of its own size; beyond that it is dropped here, and counted. */
    if (!tcp && cost * ENFORCER_EDT_QUEUE_PACKETS < tolerance) {
      tolerance = cost * ENFORCER_EDT_QUEUE_PACKETS;
    }
  }
  if (rate_admit(&shaper->tat_ns[dir], now, cost, tolerance, edt ? ENFORCER_EDT_CREDIT_NS : 0,
                 &start)) {
    return TC_ACT_SHOT;
  }
  /* fq releases the packet at its tstamp (CLOCK_MONOTONIC). A later tstamp that TCP's own
   * pacing already set is kept. */
  if (edt && start > now && skb->tstamp < start) skb->tstamp = start;
  return TC_ACT_UNSPEC;
}

static __always_inline int account(struct __sk_buff* skb, int dir, int edt) {
  int tcp = 0;
  __u32 id = classify(skb, dir, &tcp);
  struct enforcer_counters* c = bpf_map_lookup_elem(&counters, &id);
  if (!c) {
    /* An id beyond the array (a race with a shrinking table) still counts somewhere. */
    id = ENFORCER_UNATTRIBUTED_ID;
    c = bpf_map_lookup_elem(&counters, &id);
    if (!c) return TC_ACT_UNSPEC;
  }
  const int verdict = enforce(skb, id, dir, edt, tcp);
  /* Per-CPU value: no other CPU writes it, and tc programs run with preemption (migration)
   * disabled, so plain increments are exact. */
  if (verdict == TC_ACT_SHOT) {
    c->dropped_bytes[dir] += skb->len;
    c->dropped_packets[dir] += 1;
  } else {
    c->bytes[dir] += skb->len;
    c->packets[dir] += 1;
  }
  return verdict;
}

/* Egress where the root qdisc is not fq: rates are policed. */
SEC("tc")
int tc_egress(struct __sk_buff* skb) {
  return account(skb, ENFORCER_DIR_EGRESS, 0);
}

/* Egress where the root qdisc is fq: rates are paced (Earliest Departure Time). */
SEC("tc")
int tc_egress_edt(struct __sk_buff* skb) {
  return account(skb, ENFORCER_DIR_EGRESS, 1);
}

SEC("tc")
int tc_ingress(struct __sk_buff* skb) {
  return account(skb, ENFORCER_DIR_INGRESS, 0);
}
