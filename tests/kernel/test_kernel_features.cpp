// kernel tier: the start-up probe of what the datapath needs (lib/datapath/kernel_features).
// This kernel has everything; the error a kernel without some of it gets is checked on a report
// made by hand (no kernel here lacks them). Needs root.
#include <unistd.h>
#include <catch2/catch.hpp>

#include "datapath/kernel_features.hpp"

using namespace enforcer;

TEST_CASE("Every feature the datapath needs is found on this kernel", "[kernel][bpf]") {
  REQUIRE(geteuid() == 0);
  const KernelFeatureReport report = probe_kernel_features();
  CHECK(!report.release.empty());
  CHECK(report.features.size() >= 10);
  for (const auto& f : report.features) {
    INFO(f.name << ": " << f.detail);
    CHECK(f.present);
  }
  CHECK(report.complete());
  CHECK(kernel_features_error(report).ok());
}

TEST_CASE("A kernel without a feature gets one error naming each and the minimum",
          "[kernel][bpf]") {
  KernelFeatureReport report;
  report.release = "5.10.0-test";
  report.features = {
      {"tc programs (BPF_PROG_TYPE_SCHED_CLS)", "4.1", true, ""},
      {"BPF compare-and-swap (BPF_ATOMIC | BPF_CMPXCHG)", "5.12", false,
       "loading a program with it: Invalid argument"},
      {"bpf_skb_cgroup_id in cgroup_skb programs", "", false, ""},
  };
  CHECK(!report.complete());
  const auto r = kernel_features_error(report);
  REQUIRE(!r.ok());
  CHECK(r.error().message ==
        "kernel 5.10.0-test lacks what enforcer's datapath needs: BPF compare-and-swap "
        "(BPF_ATOMIC | BPF_CMPXCHG) (Linux 5.12): loading a program with it: Invalid argument; "
        "bpf_skb_cgroup_id in cgroup_skb programs. enforcer needs Linux 5.12 or later (and root "
        "or CAP_BPF to probe and load)");
}
