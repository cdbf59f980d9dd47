// What the BPF datapath's files (bpf_*.cpp, tc_hooks.cpp, cgroup_skb.cpp) share; nothing outside
// lib/datapath/ includes it: tc filter coordinates, pin names, quiet libbpf probes, bpffs.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace enforcer {

// Every pin enforcer makes in bpf_pin_dir (uninstall_datapath, and a start that cannot adopt,
// remove them).
inline constexpr const char* kPins[] = {"counters",   "limits",      "charged",    "shapers",
                                        "addr_v4",    "addr_v6",     "addr_exact", "addr_ctl",
                                        "cgroup_ids", "pod_cgroups", "tc_egress",  "tc_egress_edt",
                                        "tc_ingress"};

// The tc programs, by the names they are pinned and known to the kernel under.
inline constexpr const char* kTcPrograms[] = {"tc_egress", "tc_egress_edt", "tc_ingress"};

// Set while probing for things that may legitimately be absent (libbpf warns about those); the
// routed libbpf log (libbpf_log.cpp) drops messages meanwhile.
struct QuietLibbpf {
  QuietLibbpf();
  ~QuietLibbpf();
  QuietLibbpf(const QuietLibbpf&) = delete;
  QuietLibbpf& operator=(const QuietLibbpf&) = delete;
};

// One tc hook of an interface, and enforcer's filter coordinates on it (kTcHandle, kTcPriority).
bpf_tc_hook tc_hook(int ifindex, bpf_tc_attach_point point);
bpf_tc_opts tc_opts(int prog_fd = 0);

// The id of the program at enforcer's handle/priority on one hook, or 0 when there is none.
std::uint32_t attached_prog_id(int ifindex, bpf_tc_attach_point point);

// The ids of the tc programs pinned in `pin_dir` (those there are).
std::vector<std::uint32_t> pinned_tc_prog_ids(const std::string& pin_dir);

bool is_bpffs(const std::string& path);

// Pins need a BPF filesystem: mounts one at /sys/fs/bpf when `pin_dir` is below it and it has none.
Expected<void> ensure_bpffs(const std::string& pin_dir);

}  // namespace enforcer
