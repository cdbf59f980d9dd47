// What the datapath needs of the running kernel, probed before anything is loaded, so that an
// older kernel gets one error naming each missing feature and the kernel that brought it,
// instead of a verifier log about an unknown instruction or helper.
//
// The minimum is Linux 5.12: the rate schedule is advanced with BPF compare-and-swap
// (bpf/rate.h), which came with 5.12. Everything else the programs and the daemon use is older:
// the cgroup id helpers (4.18, 4.19), __sk_buff's gso_size (5.7), memory-mapped array maps for
// the programs' globals (5.5), batch lookups of array maps (5.6), cgroup links that can be
// updated in place (5.7).
#pragma once

#include <string>
#include <vector>

#include "base/expected.hpp"

namespace enforcer {

inline constexpr const char* kMinimumKernel = "5.12";

struct KernelFeature {
  std::string name;   // "BPF compare-and-swap (BPF_ATOMIC | BPF_CMPXCHG)"
  std::string since;  // the Linux release that brought it: "5.12"
  bool present = false;
  std::string detail;  // why a probe failed: "bpf_prog_load: Invalid argument"
};

struct KernelFeatureReport {
  std::string release;  // uname -r
  std::vector<KernelFeature> features;

  bool complete() const;
};

// Probes every feature on the running kernel (root or CAP_BPF; loads and frees a few tiny
// programs and maps).
KernelFeatureReport probe_kernel_features();

// The error for a report that is not complete: the kernel, every missing feature with its
// release and why, and the minimum. Ok when complete.
Expected<void> kernel_features_error(const KernelFeatureReport& report);

}  // namespace enforcer
