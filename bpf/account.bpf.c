// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-experiment traffic accounting on the host uplink (tc clsact ingress and egress), and in the
 * cgroups of host-network experiments (cgroup_skb ingress and egress, at the end of this file).
 *
 * Every packet is attributed to an experiment (classify): on egress by the pod its socket belongs
 * to, else by its source address; on ingress by its destination address: full-length addresses
 * through an exact-match table (addr_exact), shorter prefixes through longest-prefix-match tries
 * for IPv4 and IPv6. Packets that match no experiment, and non-IP
 * frames, are counted under id 0 (unattributed). Counters are
 * per-CPU, so the hot path takes no lock and shares no cache line between CPUs; user space sums the
 * CPUs once per tick. Bytes, counted and charged to the rate, are wire bytes: a GSO aggregate's
 * segments each with its own headers (wire_len below).
 *
 * Enforcement: when the daemon has set a rate for the experiment and direction (limits map), a
 * packet passes at once while the experiment has budget left in bytes, and is held to the rate
 * (bpf/rate.h) once it has none — or dropped, when the rate is ENFORCER_RATE_STOP (a hard
 * stop): policed (dropped when over) on ingress and on egress without fq; paced with an Earliest
 * Departure Time (skb->tstamp) on egress when the uplink's root qdisc is fq — tc_egress_edt is
 * attached there instead of tc_egress. Without a rate, the programs never change a packet's fate:
 * they return TC_ACT_UNSPEC, so any filter behind ours still runs and the qdisc sees the packet
 * unchanged.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "classify.h"
#include "enforcer_abi.h"
#include "maps.h"
#include "rate.h"

/* Until when (CLOCK_MONOTONIC ns, bpf_ktime_get_ns) the limits map holds the daemon's current
 * decisions: the daemon moves it a few ticks ahead every tick, through the memory-mapped global
 * section (no system call). Past it, every experiment is held to its fallback rate (struct
 * enforcer_limit). 0, what a datapath no daemon ever confirmed holds: the limits hold as they are.
 * Each program object has its own: a restarted daemon's programs start from its value. */
volatile __u64 limits_valid_until_ns = 0;

/* The catch-up credit of an idle EDT schedule (rate_admit): 2 ms, plus one GSO aggregate at the
 * rate. fq releases a packet late by its timer slack, and more on a busy CPU, and TCP Small
 * Queues keep only about two aggregates per flow in fq, so a sender's next aggregate often
 * arrives after its slot: at 10 Mbit/s one aggregate of two segments alone takes 2.3 ms, and
 * with 2 ms of credit every late refill was lost for good. After a real idle period this is the
 * burst that leaves at once (policing's bucket is at least 512 KiB). */
#define ENFORCER_EDT_CREDIT_NS 2000000ULL /* 2 ms */
#define ENFORCER_EDT_CREDIT_BYTES 65536
#define ENFORCER_POLICE_OTHER_HEADROOM 65536 /* bytes: one GSO/GRO aggregate at most */
#define ENFORCER_EDT_JUMP_HEADROOM 16384     /* bytes of small packets that may leave at once */
#define ENFORCER_EDT_JUMP_MAX_LEN 576        /* wire bytes: a ping, a DNS query, a QUIC ACK */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Headers the programs read: Ethernet, two VLAN tags, IPv4 with options or IPv6, and the fixed part
 * of a TCP header (gso_wire_len). */
#define ENFORCER_HEADERS_MAX (ETH_HLEN + 2 * 4 + 60 + 20)

/*
 * ensure_headers - makes the packet's headers readable with direct packet access. A packet whose
 * headers are not all in the linear area (some drivers and tunnels leave them in page fragments)
 * is pulled, up to ENFORCER_HEADERS_MAX bytes or the whole packet. Without the pull such a packet
 * would be unattributed, and an experiment could pass its limit in it. The pull may move the
 * data: packet pointers are read after it.
 */
static __always_inline void ensure_headers(struct __sk_buff* skb) {
  const __u32 want = skb->len < ENFORCER_HEADERS_MAX ? skb->len : ENFORCER_HEADERS_MAX;
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  if (data + want > data_end) bpf_skb_pull_data(skb, want);
}

/*
 * budget_admits - whether a packet of `len` bytes fits what is left of the experiment's budget
 * total in `dir` (enforcer_limit.budget_bytes_total; 0: no budget form, the rate alone holds it),
 * and charges it. A TCP flow with budget left then meets neither a rate nor a bucket. Several
 * CPUs may each find the last bytes free and pass a packet: the total is exceeded by at most one
 * packet per CPU. A packet that finds the budget spent, or loses the race for its last bytes, is
 * held to the rate; what the loser added to the counter is not given back, since the daemon sets
 * the next total from the counter as it reads it.
 */
static __always_inline int budget_admits(__u32 id, int dir, __u64 len,
                                         const struct enforcer_limit* limit) {
  const __u64 total = limit->budget_bytes_total[dir];
  if (!total) return 0;
  struct enforcer_charged* spent = bpf_map_lookup_elem(&charged, &id);
  return spent && *(volatile __u64*)&spent->bytes[dir] < total &&
         __sync_fetch_and_add(&spent->bytes[dir], len) < total;
}

/*
 * police - passes (0) or drops (1) a packet at `rate` with a bucket of `tolerance` ns.
 * A policed TCP flow keeps the schedule at the edge of the tolerance (up to one aggregate beyond
 * it), so a packet of the experiment's other traffic (ping, DNS) would find it full and be
 * dropped. It may go one aggregate's worth further: its own traffic then passes beside the flow,
 * and a flood of it gets that much more burst, once.
 */
static __always_inline int police(struct enforcer_shaper* shaper,
                                  const struct enforcer_limit* limit, __u64 now, int dir, __u64 len,
                                  __u64 rate, __u64 tolerance, int tcp) {
  const __u64 cost = rate_cost(len, rate);
  if (!tcp) tolerance += rate_cost(ENFORCER_POLICE_OTHER_HEADROOM, rate);
  /* Egress may have been paced up to the horizon ahead until the uplink's qdisc changed. */
  const __u64 others = dir == ENFORCER_DIR_EGRESS ? limit->edt_horizon_ns : 0;
  __u64 begin;
  return rate_admit(&shaper->tat_ns[dir], now, cost, tolerance, others, 0, &begin) ? 1 : 0;
}

/*
 * tcp_without_data - whether a frame that classify found to be TCP carries no data: its IP
 * header's length field leaves room for the TCP header alone (a pure ACK, a SYN, FIN or RST). A
 * GSO aggregate always carries data.
 */
static __always_inline int tcp_without_data(struct __sk_buff* skb) {
  if (skb->gso_size) return 0;
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  void* l3 = eth + 1;
  if (l3 > data_end) return 0;
  __be16 proto = eth->h_proto;
  if (skip_vlan_tags(&l3, data_end, &proto) < 0) return 0;
  if (proto == bpf_htons(ETH_P_IP)) {
    struct iphdr* ip = l3;
    if ((void*)(ip + 1) > data_end) return 0;
    const __u32 ip_len = ip->ihl * 4;
    struct tcphdr* th = l3 + ip_len;
    if ((void*)(th + 1) > data_end) return 0;
    return bpf_ntohs(ip->tot_len) == ip_len + th->doff * 4;
  }
  struct ipv6hdr* ip6 = l3;
  if ((void*)(ip6 + 1) > data_end) return 0;
  struct tcphdr* th = (void*)(ip6 + 1);
  if ((void*)(th + 1) > data_end) return 0;
  return bpf_ntohs(ip6->payload_len) == th->doff * 4;
}

/*
 * pace - gives an egress packet its departure time at `rate` (EDT: fq releases it then), in
 * *start (0: now). Returns 1 when it must be dropped instead: beyond the drop horizon, or a packet
 * other than TCP that finds its queue full.
 * fq keeps at most flow_limit (default 100) packets per flow and drops the rest after we admitted
 * them, which would waste their slots of the schedule. TCP never gets there: TCP Small Queues hold
 * it back until fq releases its packets. Anything else (a UDP flood) may have at most
 * ENFORCER_EDT_OTHER_QUEUE packets waiting; beyond that it is dropped here, and counted.
 * A small packet other than TCP (a ping, a DNS query, a QUIC ACK) need not wait behind what the
 * experiment's own TCP has in fq: it leaves at once, still charged to the schedule, so the TCP
 * behind it departs that much later and the rate over any interval is exact but for the jump
 * headroom. What may jump is bounded by a second schedule at the same rate whose tolerance is
 * ENFORCER_EDT_JUMP_HEADROOM bytes; beyond it, small packets wait in line like the rest. (A jump
 * can reorder a UDP flow that also has large packets waiting.)
 * A TCP segment without data (a pure ACK, or a SYN, FIN or RST) jumps the same way: the
 * ACKs of an experiment's download must not wait behind its own paced upload, or the download
 * is clocked by the upload's rate. Carrying no data, it reorders nothing a receiver reassembles.
 */
static __always_inline int pace(struct __sk_buff* skb, struct enforcer_shaper* shaper,
                                const struct enforcer_limit* limit, __u64 now, __u64 len,
                                __u64 rate, int tcp, __u64* start) {
  const int dir = ENFORCER_DIR_EGRESS;
  const __u64 cost = rate_cost(len, rate);
  const int other = !tcp;
  const int short_len = len <= ENFORCER_EDT_JUMP_MAX_LEN;
  const int small = other && short_len;
  int queue_full = 0;
  if (other) {
    /* The slot the next admitted packet will take holds the departure time of the packet
     * admitted a full ring before it: until that one has left, the ring's worth is waiting.
     * Only packets that wait take a slot (a drop or a jump must not age the ring). Two CPUs may
     * both see the same free slot and both pass: the bound is then exceeded by at most one
     * packet per CPU, for a moment. */
    const __u64 next = *(volatile __u64*)&shaper->edt_other_next;
    queue_full = shaper->edt_other_departures_ns[next & (ENFORCER_EDT_OTHER_QUEUE - 1)] > now;
    if (queue_full && !small) return 1;
  }
  __u64 begin = now;
  /* The credit's aggregate costs a division, paid only when the schedule has fallen idle. */
  __u64 credit = ENFORCER_EDT_CREDIT_NS;
  if (*(volatile __u64*)&shaper->tat_ns[dir] + credit < now) {
    credit += rate_cost(ENFORCER_EDT_CREDIT_BYTES, rate);
  }
  if (rate_admit(&shaper->tat_ns[dir], now, cost, limit->edt_horizon_ns, 0, credit, &begin)) {
    return 1;
  }
  __u64 jump_begin;
  /* Whether TCP carries data is read only for a packet that would otherwise wait. */
  if (begin > now && short_len && (other || tcp_without_data(skb)) &&
      rate_admit(&shaper->edt_jump_tat_ns, now, cost, rate_cost(ENFORCER_EDT_JUMP_HEADROOM, rate),
                 0, 0, &jump_begin) == 0) {
    return 0; /* leaves now: *start stays 0 */
  }
  if (other && begin > now) {
    if (queue_full) {
      /* It can neither jump nor wait: give its slot of the schedule back. */
      __sync_fetch_and_add(&shaper->tat_ns[dir], -cost);
      return 1;
    }
    const __u64 slot = __sync_fetch_and_add(&shaper->edt_other_next, 1);
    shaper->edt_other_departures_ns[slot & (ENFORCER_EDT_OTHER_QUEUE - 1)] = begin;
  }
  if (begin > now) *start = begin;
  return 0;
}

/*
 * over_limit - holds a packet of `len` bytes to experiment `id`'s limit in `dir`, if it has one:
 * budget left passes at once, else the rate, policed or paced (edt); once the daemon has stopped
 * confirming its limits (limits_valid_until_ns), the fallback rate alone. Returns 1 when the
 * packet must be dropped, 0 when it passes; *start is then its departure time when pacing made it
 * wait, else 0.
 */
static __always_inline int over_limit(struct __sk_buff* skb, __u32 id, int dir, __u64 len, int edt,
                                      int tcp, __u64* start) {
  *start = 0;
  if (id == ENFORCER_UNATTRIBUTED_ID) return 0;
  struct enforcer_limit* limit = bpf_map_lookup_elem(&limits, &id);
  if (!limit) return 0;
  /* Neither the rate nor the fallback holds the packet, whichever applies: no need for the clock
   * that decides which (the accounting alone stays as cheap as the classification). */
  if (enforcer_rate_unlimited(limit->rate_bytes_per_sec[dir]) &&
      enforcer_rate_unlimited(limit->fallback_rate_bytes_per_sec[dir])) {
    return 0;
  }
  const __u64 now = bpf_ktime_get_ns();
  const __u64 valid_until = limits_valid_until_ns;
  const int confirmed = valid_until == 0 || now <= valid_until;
  const __u64 rate =
      confirmed ? limit->rate_bytes_per_sec[dir] : limit->fallback_rate_bytes_per_sec[dir];
  if (enforcer_rate_unlimited(rate)) return 0;
  if (enforcer_rate_stops(rate)) return 1;
  if (confirmed && budget_admits(id, dir, len, limit)) return 0;
  struct enforcer_shaper* shaper = bpf_map_lookup_elem(&shapers, &id);
  if (!shaper) return 0;
  if (edt) return pace(skb, shaper, limit, now, len, rate, tcp, start);
  return police(shaper, limit, now, dir, len, rate,
                confirmed ? limit->police_tolerance_ns[dir] : limit->fallback_tolerance_ns[dir],
                tcp);
}

/* The counters of experiment `*id`; an id beyond the array (a race with a shrinking table) is
 * counted as unattributed, and *id says so. */
static __always_inline struct enforcer_counters* counters_of(__u32* id) {
  struct enforcer_counters* c = bpf_map_lookup_elem(&counters, id);
  if (c) return c;
  *id = ENFORCER_UNATTRIBUTED_ID;
  return bpf_map_lookup_elem(&counters, id);
}

/*
 * count - adds one packet of `len` bytes to what passed or what was dropped. The value is this
 * CPU's own, so `atomic` is only needed where another run of a program may interrupt this one on
 * the same CPU: tc programs run with bottom halves disabled and need not; cgroup_skb egress runs
 * in process context with only migration disabled, where a softirq's transmit (an ACK-clocked
 * TCP send) can interrupt it between the load and the store.
 */
static __always_inline void count(struct enforcer_counters* c, int dir, __u64 len, int dropped,
                                  int atomic) {
  if (atomic) {
    __sync_fetch_and_add(dropped ? &c->dropped_bytes[dir] : &c->bytes[dir], len);
    __sync_fetch_and_add(dropped ? &c->dropped_packets[dir] : &c->packets[dir], 1);
  } else if (dropped) {
    c->dropped_bytes[dir] += len;
    c->dropped_packets[dir] += 1;
  } else {
    c->bytes[dir] += len;
    c->packets[dir] += 1;
  }
}

/*
 * Wire bytes. A GSO aggregate (a TCP sender's TSO/GSO skb, a GRO-merged skb on ingress, a UDP
 * GSO send) goes out as gso_segs frames, each with its own headers, but skb->len counts one set.
 * The experiment is charged and counted what the wire carries, from the Ethernet header on, as a
 * qdisc counts it (qdisc_pkt_len_init in net/core/dev.c, which tbf and htb charge):
 *   len + (segs - 1) × hdr,  hdr = the headers up to and including the L4 header's
 * (TCP: doff × 4, UDP: 8; IPv4 with its options, IPv6 without extension headers: a GSO packet
 * with extension headers, or of another protocol, is counted as `len`). When gso_segs is 0 but
 * gso_size is not (an skb from an untrusted source, SKB_GSO_DODGY), segs is derived as the kernel
 * does: ceil((len - hdr) / gso_size). A non-GSO packet is `len`.
 *
 * gso_wire_len - the wire bytes of a packet of `len` bytes (from the Ethernet header) whose IP
 * header is at `l3`, `l2` bytes after the Ethernet header's start.
 */
static __always_inline __u64 gso_wire_len(struct __sk_buff* skb, __u64 len, void* l3, __u32 l2) {
  const __u32 gso_size = skb->gso_size;
  if (gso_size == 0) return len;
  void* data_end = (void*)(long)skb->data_end;
  struct iphdr* ip = l3;
  if ((void*)(ip + 1) > data_end) return len;
  __u32 l3_len;
  __u8 proto;
  if (ip->version == 4) {
    l3_len = ip->ihl * 4;
    proto = ip->protocol;
    if (l3_len < sizeof(*ip)) return len;
  } else if (ip->version == 6) {
    struct ipv6hdr* ip6 = l3;
    if ((void*)(ip6 + 1) > data_end) return len;
    l3_len = sizeof(*ip6);
    proto = ip6->nexthdr;
  } else {
    return len;
  }
  __u32 hdr = l2 + l3_len;
  if (proto == IPPROTO_TCP) {
    struct tcphdr* th = l3 + l3_len;
    if ((void*)(th + 1) > data_end) return len;
    hdr += th->doff * 4;
  } else if (proto == IPPROTO_UDP) {
    hdr += 8;
  } else {
    return len;
  }
  __u64 segs = skb->gso_segs;
  if (segs == 0) {
    if (len <= hdr) return len;
    segs = (len - hdr + gso_size - 1) / gso_size;
  }
  if (segs <= 1) return len;
  return len + (segs - 1) * hdr;
}

/*
 * wire_len - the packet's wire bytes at the tc hook. Egress: the kernel has computed them already
 * for the qdisc (qdisc_pkt_len_init runs before sch_handle_egress): __sk_buff->wire_len. Ingress:
 * wire_len there is skb->len before the MAC header was pushed, without the segments' headers, so
 * they are computed from the packet (802.1Q/802.1ad tags in the payload count per segment).
 */
static __always_inline __u64 wire_len(struct __sk_buff* skb, int dir) {
  const __u64 len = skb->len;
  if (dir == ENFORCER_DIR_EGRESS) {
    const __u64 wire = skb->wire_len;
    return wire > len ? wire : len;
  }
  if (skb->gso_size == 0) return len;
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct ethhdr* eth = data;
  void* l3 = eth + 1;
  if (l3 > data_end) return len;
  __be16 proto = eth->h_proto;
  const int tags = skip_vlan_tags(&l3, data_end, &proto);
  if (tags < 0) return len;
  return gso_wire_len(skb, len, l3, ETH_HLEN + tags * sizeof(struct vlan_tag));
}

static __always_inline int account(struct __sk_buff* skb, int dir, int edt) {
  ensure_headers(skb);
  int tcp = 0;
  __u32 id = classify(skb, dir, &tcp);
  struct enforcer_counters* c = counters_of(&id);
  if (!c) return TC_ACT_UNSPEC;
  const __u64 len = wire_len(skb, dir);
  __u64 start;
  const int drop = over_limit(skb, id, dir, len, edt, tcp, &start);
  count(c, dir, len, drop, 0);
  if (drop) return TC_ACT_SHOT;
  /* fq releases the packet at its tstamp (CLOCK_MONOTONIC). A later tstamp that TCP's own
   * pacing already set is kept. */
  if (edt && start && skb->tstamp < start) skb->tstamp = start;
  return TC_ACT_UNSPEC;
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

/*
 * Host-network experiments share the host's addresses, so the uplink cannot tell their packets
 * apart (it counts them as unattributed). Their cgroup runs these programs instead: the kernel
 * runs a cgroup's cgroup_skb programs for every packet sent or received by a socket created in
 * that cgroup or in one below it (not for packets without a socket: ARP, forwarding, ICMP
 * errors). The accounting and the enforcement are the uplink programs': the same counters, limit
 * and schedule for the same experiment id, so an experiment is held to one rate however its
 * traffic is seen. (An experiment must be found by one mechanism only: the programs of a
 * container with its own address would count its packets a second time.)
 *
 * The experiment is found by the socket's cgroup, bpf_skb_cgroup_id(): the cgroup the socket was
 * created in, which is what decides that these programs run at all. bpf_get_current_cgroup_id()
 * would be wrong: ingress runs in softirq context, where the current task is whoever was
 * interrupted (or ksoftirqd), and so do many egress packets (TCP's ACK-clocked sends and
 * retransmissions, the TSQ tasklet). A socket in a cgroup below the attached one (a container's
 * scope under its pod's slice) is found through its ancestors.
 *
 * Lengths: the cgroup hooks see a packet from its network header (ip_finish_output on egress,
 * before fragmentation and GSO segmentation; the socket's receive filter on ingress, after GRO
 * and reassembly), while the uplink's tc programs count wire bytes from the Ethernet header.
 * ETH_HLEN is added, per segment of a GSO aggregate (gso_wire_len: the packet is read from its
 * network header), so that a host-network experiment's bytes are the ones the uplink would have
 * counted for the same packets (exactly, for an untagged Ethernet uplink; a datagram the IP layer
 * fragments counts one Ethernet and IP header, not one per fragment), and its limit means the
 * same as an addressed experiment's.
 *
 * Loopback (ifindex 1 in every network namespace) is neither counted nor limited: it never
 * reaches the uplink, and the allocation is the uplink's. Traffic of other local interfaces (a
 * bridge to local containers) is.
 */
#define ENFORCER_LOOPBACK_IFINDEX 1

/* cgroup_skb verdicts. On egress, bit 1 asks for congestion notification. */
#define CGROUP_SKB_DROP 0
#define CGROUP_SKB_PASS 1
#define CGROUP_SKB_DROP_CN 2

/* l4_is_tcp - whether a packet that starts at its IP header (cgroup_skb) carries TCP: IPv4's
 * protocol, IPv6's next header (TCP behind extension headers counts as not TCP, as in classify). */
static __always_inline int l4_is_tcp(struct __sk_buff* skb) {
  void* data = (void*)(long)skb->data;
  void* data_end = (void*)(long)skb->data_end;
  struct iphdr* ip = data;
  if ((void*)(ip + 1) > data_end) return 0;
  if (ip->version == 4) return ip->protocol == IPPROTO_TCP;
  struct ipv6hdr* ip6 = data;
  if (ip->version != 6 || (void*)(ip6 + 1) > data_end) return 0;
  return ip6->nexthdr == IPPROTO_TCP;
}

static __always_inline int account_cgroup(struct __sk_buff* skb, int dir) {
  if (skb->ifindex == ENFORCER_LOOPBACK_IFINDEX) return CGROUP_SKB_PASS;
  __u32* found = cgroup_experiment(skb, &cgroup_ids);
  /* Not (or no longer) an experiment's cgroup: pass uncounted. The uplink counts the packet as
   * unattributed already; counting it here too would count it twice. */
  if (!found) return CGROUP_SKB_PASS;
  __u32 id = *found;
  struct enforcer_counters* c = counters_of(&id);
  if (!c) return CGROUP_SKB_PASS;
  const __u64 len = gso_wire_len(skb, (__u64)skb->len + ETH_HLEN, (void*)(long)skb->data, ETH_HLEN);
  __u64 start;
  const int drop = over_limit(skb, id, dir, len, 0, l4_is_tcp(skb), &start);
  count(c, dir, len, drop, 1);
  if (!drop) return CGROUP_SKB_PASS;
  /* Egress: "drop and notify congestion". The kernel hands NET_XMIT_DROP up (kernel/bpf/cgroup.c,
   * __cgroup_bpf_run_filter_skb); TCP then enters CWR (cwnd reduction, as for a local qdisc
   * drop: __tcp_transmit_skb calls tcp_enter_cwr for a positive NET_XMIT code) and keeps the
   * segment unsent in its queue: no loss, no retransmission timeout. The next ACK sends it again;
   * with nothing in flight, the zero-window probe timer does (tcp_check_probe_timer, at least
   * TCP_RTO_MIN later). A UDP sender's sendmsg does not fail (ENOBUFS is hidden unless
   * IP_RECVERR is set). A plain 0 would give -EPERM instead: TCP would not reduce cwnd and would
   * keep offering what is dropped, and a UDP sendmsg would fail with EPERM.
   * Ingress: dropped before the socket sees it; a TCP sender recovers as from any loss. */
  return dir == ENFORCER_DIR_EGRESS ? CGROUP_SKB_DROP_CN : CGROUP_SKB_DROP;
}

SEC("cgroup_skb/egress")
int cgroup_egress(struct __sk_buff* skb) {
  return account_cgroup(skb, ENFORCER_DIR_EGRESS);
}

SEC("cgroup_skb/ingress")
int cgroup_ingress(struct __sk_buff* skb) {
  return account_cgroup(skb, ENFORCER_DIR_INGRESS);
}
