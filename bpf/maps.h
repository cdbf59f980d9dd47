/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The maps of the accounting programs (bpf/account.bpf.c), shared with bench/stages.bpf.c, whose
 * stage programs run on the very maps BpfDatapath pinned (bpf_map__reuse_fd by name). One
 * definition, so that the two objects cannot drift apart. The names are also the pin names under
 * bpf_pin_dir. Every size is set by the loader before load (bpf_map__set_max_entries).
 */
#ifndef ENFORCER_MAPS_H
#define ENFORCER_MAPS_H

#include <linux/bpf.h>

#include <bpf/bpf_helpers.h>

#include "enforcer_abi.h"

/* Per-CPU counters, indexed by experiment id (0 = unattributed). */
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_counters);
} counters SEC(".maps");

/* The rate each experiment is held to, written by the daemon every tick. */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_limit);
} limits SEC(".maps");

/* What each experiment has sent against its budget in bytes (enforcer_limit.budget_bytes_total). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_charged);
} charged SEC(".maps");

/* Each experiment's schedule (GCRA state, bpf/rate.h). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct enforcer_shaper);
} shapers SEC(".maps");

/* Classification by address on the uplink: prefix → experiment id. Full-length addresses are
 * in addr_exact instead, unless their slots were full. */
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

/* Classification of full-length addresses before the tries (enforcer_abi.h): two halves of
 * slots, and which one the programs search. Memory-mapped by the daemon, which writes a slot's
 * address before its id, each with plain aligned stores (lib/datapath/exact_table.hpp). */
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct enforcer_exact_slot);
} addr_exact SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, struct enforcer_addr_ctl);
} addr_ctl SEC(".maps");

/* Classification of host-network experiments (cgroup_skb programs): the id of the cgroup v2
 * directory the programs are attached to (its inode number, as name_to_handle_at reports it) →
 * experiment id. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, __u64);
  __type(value, __u32);
} cgroup_ids SEC(".maps");

/* Egress attribution of pods with addresses of their own: the id of a pod's cgroup v2 directory
 * (as for cgroup_ids) → experiment id. A packet whose socket was created in that cgroup, or in one
 * below it (a container's scope), is the experiment's, whatever its source address (tc egress,
 * cgroup_experiment in classify.h; looked in only while addr_ctl.pod_cgroups is set). No programs
 * are attached to these cgroups. */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __type(key, __u64);
  __type(value, __u32);
} pod_cgroups SEC(".maps");

#endif /* ENFORCER_MAPS_H */
