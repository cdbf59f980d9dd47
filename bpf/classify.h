/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Classification for the accounting programs (bpf/account.bpf.c): the experiment a packet on the
 * uplink belongs to, by the cgroup of its socket (pods, egress) or by its address: the
 * exact-address table first (addr_exact, bpf/enforcer_abi.h), then the LPM tries, only when they
 * hold anything (addr_ctl).
 */
#ifndef ENFORCER_CLASSIFY_H
#define ENFORCER_CLASSIFY_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "enforcer_abi.h"
#include "maps.h"

#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)

struct vlan_tag {
  __be16 tci;
  __be16 encapsulated_proto;
};

#define ENFORCER_VLAN_TAGS_MAX 2
#define ENFORCER_CGROUP_MAX_DEPTH 16

/*
 * skip_vlan_tags - moves *l3 past up to ENFORCER_VLAN_TAGS_MAX 802.1Q/802.1ad tags, *proto to the
 * protocol they carry. Returns how many it skipped, or -1 for a frame too short for its tag.
 */
static __always_inline int skip_vlan_tags(void** l3, void* data_end, __be16* proto) {
  int tags = 0;
#pragma unroll
  for (int i = 0; i < ENFORCER_VLAN_TAGS_MAX; i++) {
    if (*proto != ETH_P_8021Q_BE && *proto != ETH_P_8021AD_BE) break;
    struct vlan_tag* tag = *l3;
    if ((void*)(tag + 1) > data_end) return -1;
    *proto = tag->encapsulated_proto;
    *l3 = tag + 1;
    tags++;
  }
  return tags;
}

/*
 * cgroup_experiment - the experiment id `map` (cgroup id → id) gives the cgroup of the packet's
 * socket or one of its ancestors, or null. The socket's own cgroup is the one it was created in
 * (bpf_skb_cgroup_id; 0 for a packet without a full socket: forwarded, ARP, ICMP errors, a
 * timewait socket's reset). User space never registers two nested cgroups, so at most one
 * ancestor matches. Level 0 is the root, never registered.
 */
static __always_inline __u32* cgroup_experiment(struct __sk_buff* skb, void* map) {
  __u64 cgid = bpf_skb_cgroup_id(skb);
  if (cgid == 0) return 0;
  __u32* id = bpf_map_lookup_elem(map, &cgid);
  if (id) return id;
  for (int level = 1; level < ENFORCER_CGROUP_MAX_DEPTH; level++) {
    cgid = bpf_skb_ancestor_cgroup_id(skb, level);
    if (cgid == 0) break; /* deeper than the socket's own cgroup */
    id = bpf_map_lookup_elem(map, &cgid);
    if (id) return id;
  }
  return 0;
}

/* log2 of the slots in each half of addr_exact; set by the loader before load. */
const volatile __u32 exact_slot_bits = 1;

/*
 * exact_lookup - the experiment id of the full-length address a0..a3 (network byte order; IPv4:
 * a0, the rest 0) in half `half` of the exact table, or 0 when it is not there (or removed).
 * The id is read before the address, with a compiler barrier between: the daemon writes a slot's
 * address before its id (lib/datapath/exact_table.hpp), so an id seen is never paired with the
 * address the slot held before.
 */
static __always_inline __u32 exact_lookup(__u32 a0, __u32 a1, __u32 a2, __u32 a3, __u32 family,
                                          __u32 half) {
  const __u32 mask = (1U << exact_slot_bits) - 1;
  const __u32 first = enforcer_exact_hash(a0, a1, a2, a3, exact_slot_bits);
  const __u32 base = half << exact_slot_bits;
#pragma unroll
  for (__u32 probe = 0; probe < ENFORCER_EXACT_PROBES; probe++) {
    __u32 index = base + ((first + probe) & mask);
    struct enforcer_exact_slot* slot = bpf_map_lookup_elem(&addr_exact, &index);
    if (!slot) return 0;
    const __u32 id = *(volatile __u32*)&slot->id;
    if (id == ENFORCER_EXACT_EMPTY) return 0;
    asm volatile("" ::: "memory");
    if (slot->addr[0] == a0 && slot->family == family &&
        (family == 4 || (slot->addr[1] == a1 && slot->addr[2] == a2 && slot->addr[3] == a3))) {
      return id == ENFORCER_EXACT_REMOVED ? 0 : id; /* an address has one slot at most */
    }
  }
  return 0;
}

/* address_v4_experiment - the experiment of an IPv4 address: the exact table, then (when the
 * trie holds anything) the longest prefix. 0: none. */
static __always_inline __u32 address_v4_experiment(__be32 addr,
                                                   const struct enforcer_addr_ctl* ctl) {
  const __u32 id = exact_lookup(addr, 0, 0, 0, 4, ctl->active_half & 1);
  if (id || !ctl->trie_v4) return id;
  struct enforcer_lpm_v4 key = {.prefixlen = 32};
  __builtin_memcpy(key.addr, &addr, 4);
  const __u32* found = bpf_map_lookup_elem(&addr_v4, &key);
  return found ? *found : ENFORCER_UNATTRIBUTED_ID;
}

static __always_inline __u32 address_v6_experiment(const struct in6_addr* addr,
                                                   const struct enforcer_addr_ctl* ctl) {
  __u32 a[4];
  __builtin_memcpy(a, addr, 16);
  const __u32 id = exact_lookup(a[0], a[1], a[2], a[3], 6, ctl->active_half & 1);
  if (id || !ctl->trie_v6) return id;
  struct enforcer_lpm_v6 key = {.prefixlen = 128};
  __builtin_memcpy(key.addr, a, 16);
  const __u32* found = bpf_map_lookup_elem(&addr_v6, &key);
  return found ? *found : ENFORCER_UNATTRIBUTED_ID;
}

/*
 * classify - the experiment a packet belongs to.
 * Egress: the experiment of the pod whose socket sent it (pod_cgroups), when it has one: a
 * process in a pod cannot leave its experiment's allocation by sending from another address (a
 * second address on its interface, a raw socket) nor spend another experiment's by sending from
 * that one's; both are charged to its own. Otherwise (no socket, or a socket outside every
 * registered pod) the source address decides.
 * Ingress: the destination address (no socket is known yet at the tc hook).
 * Reads the headers with direct packet access; a frame too short for its headers is
 * unattributed. Up to two 802.1Q/802.1ad tags in the payload are skipped (QinQ; a tag the NIC
 * stripped is not in the payload at all).
 */
static __always_inline __u32 classify(struct __sk_buff* skb, int dir, int* tcp) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  void* l3 = eth + 1;
  if (l3 > data_end) return ENFORCER_UNATTRIBUTED_ID;

  __be16 proto = eth->h_proto;
  if (skip_vlan_tags(&l3, data_end, &proto) < 0) return ENFORCER_UNATTRIBUTED_ID;

  __u32 zero = 0;
  const struct enforcer_addr_ctl* ctl = bpf_map_lookup_elem(&addr_ctl, &zero);
  if (!ctl) return ENFORCER_UNATTRIBUTED_ID;
  const __u32* pod =
      dir == ENFORCER_DIR_EGRESS && ctl->pod_cgroups ? cgroup_experiment(skb, &pod_cgroups) : 0;
  const __u32 pod_id = pod ? *pod : ENFORCER_UNATTRIBUTED_ID;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = l3;
    if ((void*)(ip + 1) > data_end) return pod_id;
    *tcp = ip->protocol == IPPROTO_TCP;
    if (pod) return pod_id;
    return address_v4_experiment(dir == ENFORCER_DIR_EGRESS ? ip->saddr : ip->daddr, ctl);
  }
  if (proto == bpf_htons(ETH_P_IPV6)) {
    struct ipv6hdr* ip6 = l3;
    if ((void*)(ip6 + 1) > data_end) return pod_id;
    *tcp = ip6->nexthdr == IPPROTO_TCP; /* TCP behind extension headers counts as not TCP */
    if (pod) return pod_id;
    return address_v6_experiment(dir == ENFORCER_DIR_EGRESS ? &ip6->saddr : &ip6->daddr, ctl);
  }
  return pod_id;
}

#endif /* ENFORCER_CLASSIFY_H */
