// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench/bpf_cost's decomposition of the accounting program (bpf/account.bpf.c) into its stages,
 * to show where the per-packet cost goes. Each program does a prefix of the real work, egress
 * direction (source address):
 *   stage_parse  Ethernet (+ one VLAN tag) and IP header parsing, the LPM key built, no map access
 *   stage_lpm    the same plus the LPM trie lookup (classification), no counter update
 *   stage_count  the per-CPU counter update alone (experiment id 0), no parsing
 * and one alternative design, complete (parse, classify, count):
 *   alt_hash     classification by exact address in hash maps (exact_v4/exact_v6) instead of the
 *                LPM tries, then the same counter update as the real program
 *   alt_array    classification by exact address in an open-addressing table that user space
 *                builds inside a BPF_MAP_TYPE_ARRAY (exact_slots): the verifier inlines array
 *                lookups, so the whole program makes no function call at all
 * The maps are not this object's own: bpf_cost replaces them (bpf_map__reuse_fd) with the maps
 * BpfDatapath pinned, so the tries hold exactly the experiments registered there.
 *
 * The parsing is a copy of classify() in bpf/account.bpf.c; keep them alike. The maps are the
 * real program's definitions (bpf/maps.h); this object uses counters and the address tries.
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
#include "maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Exact addresses (host routes) for alt_hash; bpf_cost sizes and fills them. */
struct exact_v6_key {
  __u8 addr[16];
};

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u32);
} exact_v4 SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, struct exact_v6_key);
  __type(value, __u32);
} exact_v6 SEC(".maps");

/* alt_array's table: slot (fib_hash(address) + probe) & (slots - 1), probe < ALT_PROBES; an
 * entry with id 0 is empty and ends the search. bench/bpf_cost computes the same hash. */
#define ALT_PROBES 4
struct exact_slot {
  __u32 addr[4]; /* network byte order; IPv4 in addr[0], the rest 0 */
  __u32 id;
  __u32 family; /* 4 or 6 */
};

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct exact_slot);
} exact_slots SEC(".maps");

const volatile __u32 exact_shift = 31; /* 32 - log2(slots), set before load */

static __always_inline __u32 fib_hash(__u32 folded) {
  return (folded * 0x9E3779B1u) >> exact_shift;
}

static __always_inline __u32 array_lookup(const __u32* addr, __u32 family) {
  __u32 folded = bpf_ntohl(addr[0]);
  if (family == 6) folded ^= bpf_ntohl(addr[1]) ^ bpf_ntohl(addr[2]) ^ bpf_ntohl(addr[3]);
  const __u32 mask = (1u << (32 - exact_shift)) - 1;
  const __u32 h = fib_hash(folded);
#pragma unroll
  for (__u32 probe = 0; probe < ALT_PROBES; probe++) {
    __u32 idx = (h + probe) & mask;
    struct exact_slot* e = bpf_map_lookup_elem(&exact_slots, &idx);
    if (!e || e->id == 0) return 0;
    if (e->family == family && e->addr[0] == addr[0] &&
        (family == 4 || (e->addr[1] == addr[1] && e->addr[2] == addr[2] && e->addr[3] == addr[3])))
      return e->id;
  }
  return 0;
}

#define LOOKUP_NONE 0
#define LOOKUP_LPM 1
#define LOOKUP_HASH 2
#define LOOKUP_ARRAY 3

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)

struct vlan_tag {
  __be16 tci;
  __be16 encapsulated_proto;
};

/* Parses like classify(); with LOOKUP_NONE it stops after building the key and returns a value
 * derived from it (so that the compiler keeps the work); LOOKUP_HASH looks the address up in
 * the exact-address hash maps instead of the tries. */
static __always_inline __u32 parse(struct __sk_buff* skb, int lookup) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  void* l3 = eth + 1;
  if (l3 > data_end) return 0;

  __be16 proto = eth->h_proto;
  if (proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE) {
    struct vlan_tag* tag = l3;
    if ((void*)(tag + 1) > data_end) return 0;
    proto = tag->encapsulated_proto;
    l3 = tag + 1;
  }

  __u32* id = 0;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = l3;
    if ((void*)(ip + 1) > data_end) return 0;
    struct enforcer_lpm_v4 key = {.prefixlen = 32};
    __builtin_memcpy(key.addr, &ip->saddr, 4);
    if (lookup == LOOKUP_NONE) return key.addr[3];
    if (lookup == LOOKUP_ARRAY) {
      __u32 a[4] = {ip->saddr, 0, 0, 0};
      return array_lookup(a, 4);
    }
    if (lookup == LOOKUP_HASH) {
      __u32 a = ip->saddr;
      id = bpf_map_lookup_elem(&exact_v4, &a);
    } else {
      id = bpf_map_lookup_elem(&addr_v4, &key);
    }
  } else if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = l3;
    if ((void*)(ip6 + 1) > data_end) return 0;
    struct enforcer_lpm_v6 key = {.prefixlen = 128};
    __builtin_memcpy(key.addr, &ip6->saddr, 16);
    if (lookup == LOOKUP_NONE) return key.addr[15];
    if (lookup == LOOKUP_ARRAY) {
      __u32 a[4];
      __builtin_memcpy(a, &ip6->saddr, 16);
      return array_lookup(a, 6);
    }
    if (lookup == LOOKUP_HASH) {
      struct exact_v6_key a;
      __builtin_memcpy(a.addr, &ip6->saddr, 16);
      id = bpf_map_lookup_elem(&exact_v6, &a);
    } else {
      id = bpf_map_lookup_elem(&addr_v6, &key);
    }
  }
  return id ? *id : 0;
}

/* The verdict is what the real program returns; the computed value only keeps the work alive. */
SEC("tc")
int stage_parse(struct __sk_buff* skb) {
  return parse(skb, LOOKUP_NONE) == 0xffffffff ? TC_ACT_OK : TC_ACT_UNSPEC;
}

SEC("tc")
int stage_lpm(struct __sk_buff* skb) {
  return parse(skb, LOOKUP_LPM) == 0xffffffff ? TC_ACT_OK : TC_ACT_UNSPEC;
}

SEC("tc")
int stage_count(struct __sk_buff* skb) {
  __u32 id = ENFORCER_UNATTRIBUTED_ID;
  struct enforcer_counters* c = bpf_map_lookup_elem(&counters, &id);
  if (!c) return TC_ACT_UNSPEC;
  c->bytes[ENFORCER_DIR_EGRESS] += skb->len;
  c->packets[ENFORCER_DIR_EGRESS] += 1;
  return TC_ACT_UNSPEC;
}

static __always_inline int count_as(struct __sk_buff* skb, __u32 id) {
  struct enforcer_counters* c = bpf_map_lookup_elem(&counters, &id);
  if (!c) {
    __u32 unattributed = ENFORCER_UNATTRIBUTED_ID;
    c = bpf_map_lookup_elem(&counters, &unattributed);
    if (!c) return TC_ACT_UNSPEC;
  }
  c->bytes[ENFORCER_DIR_EGRESS] += skb->len;
  c->packets[ENFORCER_DIR_EGRESS] += 1;
  return TC_ACT_UNSPEC;
}

SEC("tc")
int alt_hash(struct __sk_buff* skb) {
  return count_as(skb, parse(skb, LOOKUP_HASH));
}

SEC("tc")
int alt_array(struct __sk_buff* skb) {
  return count_as(skb, parse(skb, LOOKUP_ARRAY));
}
