// bench/bpf_cost's measuring: frames, BPF_PROG_TEST_RUN on two clocks, medians over rounds.
#include "bpf_cost_measure.hpp"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <time.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace enforcer::bench {

volatile std::sig_atomic_t g_stop = 0;

namespace {

void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// Whether a case's frame is IPv6 (its EtherType).
bool is_v6(const Case& c) {
  return c.data.size() > 13 && c.data[12] == 0x86 && c.data[13] == 0xdd;
}

}  // namespace

std::string v4_of(std::uint32_t i) {
  return fmt::format("198.19.{}.{}", i >> 8, i & 255);
}
std::string v6_of(std::uint32_t i) {
  return fmt::format("2001:db8:1::{:x}", i);
}

std::vector<std::uint8_t> frame(bool v6, const std::string& src, const std::string& dst, bool tcp) {
  const std::uint8_t proto = tcp ? IPPROTO_TCP : IPPROTO_UDP;
  std::vector<std::uint8_t> b(1514, 0);
  std::memset(b.data(), 0x02, 12);  // locally administered MACs
  std::uint8_t* ip = b.data() + 14;
  if (v6) {
    put16(b, 12, ETH_P_IPV6);
    ip[0] = 0x60;
    put16(b, 14 + 4, static_cast<std::uint16_t>(b.size() - 14 - 40));
    ip[6] = proto;
    ip[7] = 64;
    inet_pton(AF_INET6, src.c_str(), ip + 8);
    inet_pton(AF_INET6, dst.c_str(), ip + 24);
  } else {
    put16(b, 12, ETH_P_IP);
    ip[0] = 0x45;
    put16(b, 14 + 2, static_cast<std::uint16_t>(b.size() - 14));
    ip[8] = 64;
    ip[9] = proto;
    inet_pton(AF_INET, src.c_str(), ip + 12);
    inet_pton(AF_INET, dst.c_str(), ip + 16);
  }
  return b;
}

bool measure(int prog_fd, const std::vector<std::uint8_t>& data, std::uint32_t repeat, Sample& out,
             bool drop) {
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = data.data(),
              .data_size_in = static_cast<std::uint32_t>(data.size()),
              .repeat = static_cast<int>(repeat));
  const double t0 = thread_cpu_ns();
  const int err = bpf_prog_test_run_opts(prog_fd, &opts);
  const double t1 = thread_cpu_ns();
  if (err) {
    if (!g_stop) std::fprintf(stderr, "bpf_prog_test_run_opts: %s\n", std::strerror(-err));
    return false;
  }
  const int verdict = static_cast<int>(opts.retval);
  if (drop ? verdict != TC_ACT_SHOT : verdict != TC_ACT_UNSPEC && verdict != TC_ACT_OK) {
    std::fprintf(stderr, "unexpected verdict %d (expected %s)\n", verdict, drop ? "drop" : "pass");
    return false;
  }
  out.kernel_ns = opts.duration;
  out.cpu_ns = (t1 - t0) / repeat;
  return true;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

bool measure_group(std::vector<Case>& cases, int empty_fd, std::uint32_t repeat, int rounds,
                   std::uint32_t n, std::string& table) {
  std::vector<double> empty_kernel, empty_cpu;
  auto run_empty = [&](const std::vector<std::uint8_t>& data, Sample& e) {
    if (!measure(empty_fd, data, repeat, e)) return false;
    empty_kernel.push_back(e.kernel_ns);
    empty_cpu.push_back(e.cpu_ns);
    return true;
  };
  for (int r = 0; r < rounds; ++r) {
    std::vector<Sample> results(cases.size());
    std::vector<double> reference(cases.size());
    for (std::size_t start = 0; start < cases.size(); start += 3) {
      const std::size_t end = std::min(cases.size(), start + 3);
      Sample before, after;
      if (!run_empty(cases[start].data, before)) return false;
      for (std::size_t i = start; i < end; ++i) {
        if (!measure(cases[i].prog_fd, cases[i].data, repeat, results[i], cases[i].drop)) {
          return false;
        }
      }
      if (!run_empty(cases[end - 1].data, after)) return false;
      for (std::size_t i = start; i < end; ++i) reference[i] = (before.cpu_ns + after.cpu_ns) / 2;
    }
    for (std::size_t i = 0; i < cases.size(); ++i) {
      cases[i].kernel.push_back(results[i].kernel_ns);
      cases[i].cpu.push_back(results[i].cpu_ns);
      cases[i].ratio.push_back(results[i].cpu_ns / reference[i]);
      cases[i].added.push_back(results[i].cpu_ns - reference[i]);
      cases[i].empty.push_back(reference[i]);
    }
  }
  table += fmt::format("| {} | empty tc program (all its runs) | {:.0f} | {:.1f} | 1.00 | — |\n", n,
                       median(empty_kernel), median(empty_cpu));
  for (const Case& c : cases) {
    table += fmt::format("| {} | {} | {:.0f} | {:.1f} | {:.2f} | {:+.1f} |\n", n, c.name,
                         median(c.kernel), median(c.cpu), median(c.ratio), median(c.added));
  }
  return true;
}

void json_rows(const std::vector<Case>& cases, std::uint32_t n, bool stage, std::string& out) {
  for (const Case& c : cases) {
    nlohmann::json row = {{"case", c.name},
                          {"family", is_v6(c) ? "ipv6" : "ipv4"},
                          {"experiments", n},
                          {"rate", c.rate},
                          {"ns_per_packet", median(c.cpu)},
                          {"empty_ns_per_packet", median(c.empty)},
                          {"ratio", median(c.ratio)}};
    if (stage) row["stage"] = true;
    out += row.dump() + "\n";
  }
}

}  // namespace enforcer::bench
