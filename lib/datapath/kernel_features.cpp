// Probing the running kernel for what the datapath needs (kernel_features.hpp).
#include "datapath/kernel_features.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/bpf.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace enforcer {
namespace {

std::string errno_text(int err) {
  return std::strerror(err < 0 ? -err : err);
}

KernelFeature prog_type(const char* name, const char* since, bpf_prog_type type) {
  const int r = libbpf_probe_bpf_prog_type(type, nullptr);
  return {name, since, r == 1, r < 0 ? errno_text(r) : ""};
}

KernelFeature map_type(const char* name, const char* since, bpf_map_type type) {
  const int r = libbpf_probe_bpf_map_type(type, nullptr);
  return {name, since, r == 1, r < 0 ? errno_text(r) : ""};
}

KernelFeature helper(const char* name, const char* since, bpf_prog_type type, bpf_func_id id) {
  const int r = libbpf_probe_bpf_helper(type, id, nullptr);
  return {name, since, r == 1, r < 0 ? errno_text(r) : ""};
}

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
              std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

// A socket filter that compares and swaps a 64-bit word on its stack: the instruction bpf/rate.h
// compiles to (__sync_val_compare_and_swap). Kernels before 5.12 reject the opcode.
KernelFeature compare_and_swap() {
  const bpf_insn prog[] = {
      insn(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, -8, 0),           // *(u64 *)(fp - 8) = 0
      insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_10, 0, 0),  // r1 = fp
      insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_1, 0, 0, -8),          // r1 -= 8
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),           // r0 = 0 (expected)
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_2, 0, 0, 1),           // r2 = 1 (new)
      insn(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_1, BPF_REG_2, 0, BPF_CMPXCHG),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0),  // r0 = 0
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  KernelFeature f{"BPF compare-and-swap (BPF_ATOMIC | BPF_CMPXCHG)", "5.12", false, ""};
  const int fd = bpf_prog_load(BPF_PROG_TYPE_SOCKET_FILTER, "enforcer_cas", "Dual BSD/GPL", prog,
                               sizeof prog / sizeof prog[0], nullptr);
  if (fd >= 0) {
    close(fd);
    f.present = true;
  } else {
    f.detail = "loading a program with it: " + errno_text(errno);
  }
  return f;
}

// The programs' globals live in an array map the daemon memory-maps (limits_valid_until_ns).
KernelFeature mmapable_array() {
  KernelFeature f{"memory-mapped BPF array maps (BPF_F_MMAPABLE)", "5.5", false, ""};
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_MMAPABLE);
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "enforcer_mmap", 4, 8, 1, &opts);
  if (fd >= 0) {
    close(fd);
    f.present = true;
  } else {
    f.detail = "creating one: " + errno_text(errno);
  }
  return f;
}

// The tick reads every experiment's counters in one batch lookup.
KernelFeature array_batch_lookup() {
  KernelFeature f{"batch lookups of BPF array maps (BPF_MAP_LOOKUP_BATCH)", "5.6", false, ""};
  const int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "enforcer_batch", 4, 8, 2, nullptr);
  if (fd < 0) {
    f.detail = "creating an array map: " + errno_text(errno);
    return f;
  }
  std::uint32_t keys[2], next = 0, count = 2;
  std::uint64_t values[2];
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  const int r = bpf_map_lookup_batch(fd, nullptr, &next, keys, values, &count, &opts);
  const int err = r < 0 ? errno : 0;
  close(fd);
  f.present = r == 0 || err == ENOENT;  // ENOENT: the whole map was read
  if (!f.present) f.detail = errno_text(err);
  return f;
}

}  // namespace

bool KernelFeatureReport::complete() const {
  for (const auto& f : features) {
    if (!f.present) return false;
  }
  return true;
}

KernelFeatureReport probe_kernel_features() {
  KernelFeatureReport r;
  utsname u{};
  r.release = uname(&u) == 0 ? u.release : "(unknown)";
  const auto tc = BPF_PROG_TYPE_SCHED_CLS;
  const auto cg = BPF_PROG_TYPE_CGROUP_SKB;
  r.features = {
      prog_type("tc programs (BPF_PROG_TYPE_SCHED_CLS)", "4.1", tc),
      prog_type("cgroup_skb programs (BPF_PROG_TYPE_CGROUP_SKB)", "4.10", cg),
      map_type("per-CPU array maps", "4.6", BPF_MAP_TYPE_PERCPU_ARRAY),
      map_type("longest-prefix-match maps (BPF_MAP_TYPE_LPM_TRIE)", "4.11", BPF_MAP_TYPE_LPM_TRIE),
      helper("bpf_skb_cgroup_id in tc programs", "4.18", tc, BPF_FUNC_skb_cgroup_id),
      helper("bpf_skb_ancestor_cgroup_id in tc programs", "4.19", tc,
             BPF_FUNC_skb_ancestor_cgroup_id),
      helper("bpf_skb_cgroup_id in cgroup_skb programs", "", cg, BPF_FUNC_skb_cgroup_id),
      helper("bpf_skb_ancestor_cgroup_id in cgroup_skb programs", "", cg,
             BPF_FUNC_skb_ancestor_cgroup_id),
      helper("bpf_skb_pull_data in tc programs", "4.9", tc, BPF_FUNC_skb_pull_data),
      mmapable_array(),
      array_batch_lookup(),
      compare_and_swap(),
  };
  return r;
}

Expected<void> kernel_features_error(const KernelFeatureReport& report) {
  std::string missing;
  for (const auto& f : report.features) {
    if (f.present) continue;
    missing += fmt::format("{}{}{}{}", missing.empty() ? "" : "; ", f.name,
                           f.since.empty() ? "" : fmt::format(" (Linux {})", f.since),
                           f.detail.empty() ? "" : fmt::format(": {}", f.detail));
  }
  if (missing.empty()) return {};
  return Error{
      fmt::format("kernel {} lacks what enforcer's datapath needs: {}. enforcer needs Linux "
                  "{} or later (and root or CAP_BPF to probe and load)",
                  report.release, missing, kMinimumKernel)};
}

}  // namespace enforcer
