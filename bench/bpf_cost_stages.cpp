// bench/bpf_cost's stage programs: reusing the datapath's pinned maps, alt_array's table, loading.
#include "bpf_cost_stages.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "bpf_cost_measure.hpp"
#include "stages.skel.h"

namespace enforcer::bench {

namespace {

bool reuse_pinned(bpf_map* map, const std::string& path) {
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) {
    std::fprintf(stderr, "bpf_obj_get %s: %s\n", path.c_str(), std::strerror(errno));
    return false;
  }
  const int err = bpf_map__reuse_fd(map, fd);
  close(fd);
  if (err) std::fprintf(stderr, "bpf_map__reuse_fd %s: %s\n", path.c_str(), std::strerror(-err));
  return err == 0;
}

// alt_array's open-addressing table (struct exact_slot, fib_hash and ALT_PROBES in
// bench/stages.bpf.c): returns the slots and log2 of their number.
struct ExactSlot {
  std::uint32_t addr[4];
  std::uint32_t id;
  std::uint32_t family;
};
constexpr std::uint32_t kAltProbes = 4;

std::vector<ExactSlot> build_exact_table(std::uint32_t n, std::uint32_t& bits) {
  const std::size_t entries = 2 * static_cast<std::size_t>(n);
  bits = 1;
  while ((std::size_t{1} << bits) < 4 * entries) ++bits;  // load factor <= 1/4
  for (;; ++bits) {
    std::vector<ExactSlot> table(std::size_t{1} << bits, ExactSlot{});
    const std::uint32_t mask = (1u << bits) - 1;
    bool ok = true;
    for (std::uint32_t i = 1; i <= n && ok; ++i) {
      for (int family : {4, 6}) {
        ExactSlot e{{0, 0, 0, 0}, i, static_cast<std::uint32_t>(family)};
        inet_pton(family == 4 ? AF_INET : AF_INET6, (family == 4 ? v4_of(i) : v6_of(i)).c_str(),
                  e.addr);
        std::uint32_t folded = ntohl(e.addr[0]);
        if (family == 6) folded ^= ntohl(e.addr[1]) ^ ntohl(e.addr[2]) ^ ntohl(e.addr[3]);
        const std::uint32_t h = (folded * 0x9E3779B1u) >> (32 - bits);
        std::uint32_t probe = 0;
        while (probe < kAltProbes && table[(h + probe) & mask].id != 0) ++probe;
        if (probe == kAltProbes) {
          ok = false;  // a chain too long: a bigger table
          break;
        }
        table[(h + probe) & mask] = e;
      }
    }
    if (ok) return table;
  }
}

}  // namespace

Setup::~Setup() {
  if (st) stages__destroy(st);
  dp.reset();
}

bool load_stages(Setup& s, const std::string& pin_dir, std::uint32_t n) {
  s.st = stages__open();
  if (!s.st) {
    std::fprintf(stderr, "stages__open: %s\n", std::strerror(errno));
    return false;
  }
  if (!reuse_pinned(s.st->maps.counters, pin_dir + "/counters") ||
      !reuse_pinned(s.st->maps.addr_v4, pin_dir + "/addr_v4") ||
      !reuse_pinned(s.st->maps.addr_v6, pin_dir + "/addr_v6")) {
    return false;
  }
  bpf_map__set_max_entries(s.st->maps.exact_v4, n);
  bpf_map__set_max_entries(s.st->maps.exact_v6, n);
  std::uint32_t bits = 0;
  const std::vector<ExactSlot> slots = build_exact_table(n, bits);
  bpf_map__set_max_entries(s.st->maps.exact_slots, static_cast<std::uint32_t>(slots.size()));
  s.st->rodata->exact_shift = 32 - bits;
  if (int err = stages__load(s.st); err) {
    std::fprintf(stderr, "stages__load: %s\n", std::strerror(-err));
    return false;
  }
  for (std::uint32_t i = 1; i <= n; ++i) {
    std::uint8_t v4[4], v6[16];
    inet_pton(AF_INET, v4_of(i).c_str(), v4);
    inet_pton(AF_INET6, v6_of(i).c_str(), v6);
    // The datapath keeps full-length addresses out of its tries (addr_exact): stage_lpm measures
    // the tries the design before the exact table had, so they get the addresses here. The
    // datapath's programs never look in them (addr_ctl says they hold nothing).
    enforcer_lpm_v4 k4{32, {}};
    enforcer_lpm_v6 k6{128, {}};
    std::memcpy(k4.addr, v4, 4);
    std::memcpy(k6.addr, v6, 16);
    if (bpf_map_update_elem(bpf_map__fd(s.st->maps.exact_v4), v4, &i, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s.st->maps.exact_v6), v6, &i, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s.st->maps.addr_v4), &k4, &i, BPF_ANY) != 0 ||
        bpf_map_update_elem(bpf_map__fd(s.st->maps.addr_v6), &k6, &i, BPF_ANY) != 0) {
      std::fprintf(stderr, "filling the exact-address maps: %s\n", std::strerror(errno));
      return false;
    }
  }
  for (std::uint32_t i = 0; i < slots.size(); ++i) {
    if (bpf_map_update_elem(bpf_map__fd(s.st->maps.exact_slots), &i, &slots[i], BPF_ANY) != 0) {
      std::fprintf(stderr, "filling the exact-address table: %s\n", std::strerror(errno));
      return false;
    }
  }
  return true;
}

bool attributes(BpfDatapath& dp, int prog_fd, const std::vector<std::uint8_t>& data,
                std::uint32_t id, std::uint32_t n, const char* what) {
  std::vector<CounterSample> before, after;
  Sample ignored;
  if (!dp.read_counters(n, before) || !measure(prog_fd, data, 1, ignored) ||
      !dp.read_counters(n, after)) {
    return false;
  }
  for (std::uint32_t i = 0; i <= n; ++i) {
    const std::uint64_t counted = after[i].packets[kEgress] - before[i].packets[kEgress];
    if (counted != (i == id ? 1u : 0u)) {
      std::fprintf(stderr, "%s: id %u counted %llu packets, expected the packet on id %u\n", what,
                   i, static_cast<unsigned long long>(counted), id);
      return false;
    }
  }
  return true;
}

}  // namespace enforcer::bench
