// bench/bpf_cost: the per-packet cost of the accounting programs (bpf/account.bpf.c), measured
// with BPF_PROG_TEST_RUN beside an empty tc program (bench/empty.bpf.c) in the same run.
//
// For each size (experiments registered through BpfDatapath, as the daemon does: their addresses
// in the exact-address table, the tries empty) the cases are: IPv4 and IPv6 frames hitting an
// experiment, IPv4 frames missing every experiment (a "near" miss: the next unregistered address of
// the experiments' range, which walks the trie as deep as a hit; a "far" one in another /16), on
// the egress and the ingress program. Then the same hits on experiments that have a rate limit
// (BpfDatapath::set_limits, as the daemon sets it every tick), so that the rate enforcement runs
// too (limits and shapers lookups, the cost division, the GCRA compare-and-swap): a 100 Mbit/s
// limit with a tolerance nothing reaches (every packet passes: the path of every packet of a
// throttled experiment that stays within its rate), the same on the EDT egress program with a TCP
// frame (skb->tstamp set), and a limit of 1 byte/s with no tolerance (every packet after the first
// is dropped: the path of a policed flood).
// `--no-rate-cases` leaves them out. Each round runs
// the cases in order with the empty program before every third case and after the last one;
// every measurement is `repeat` runs in the kernel. A case's ratio and added cost are taken
// against the mean of the two empty runs around it; the table shows medians over the rounds.
//
// Then the stage programs (bench/stages.bpf.c) split the cost into parsing, the LPM lookup (in
// tries holding the same addresses, as before the exact table) and the counter update, and
// measure two alternatives (exact-address hash maps; an inlined array table, the design the
// datapath adopted). `--json` prints one JSON object per case instead of the tables.
//
// Two clocks: the kernel's own mean (opts.duration, whole nanoseconds, rounded down) and the
// calling thread's CPU time around the call divided by the repeat count (fractional; the
// thread's CPU time includes the syscall, excludes time other tasks ran). Ratios use the latter.
//
// Needs root. Pins under /sys/fs/bpf/enforcer-bench-<pid>-<n>, removed at exit (also on
// SIGINT/SIGTERM/SIGHUP: the kernel stops a test run when a signal is pending).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <time.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "datapath/bpf_datapath.hpp"
#include "empty_tc.skel.h"
#include "stages.skel.h"

using namespace enforcer;

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}

struct Options {
  std::uint32_t repeat = 10'000'000;       // at most INT_MAX (bpf_test_run_opts.repeat is an int)
  std::uint32_t stage_repeat = 1'000'000;  // the decomposition needs less precision
  int rounds = 5;
  int stage_rounds = 3;
  std::vector<std::uint32_t> sizes = {10, 1000, 10000};
  std::vector<std::uint32_t> read_sizes = {10, 1000, 10000};
  bool stages = true;
  bool rate_cases = true;
  bool json = false;
};

void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--repeat N] [--rounds N] [--experiments N[,N...]] [--stage-repeat N]\n"
               "          [--stage-rounds N] [--no-stages] [--no-rate-cases]\n"
               "          [--read-counters N[,N...]] [--json]\n"
               "  --repeat         BPF_PROG_TEST_RUN repeats per measurement (default 10000000)\n"
               "  --rounds         measurements per case; the median is reported (default 5)\n"
               "  --experiments    experiments registered (default 10,1000,10000)\n"
               "  --stage-repeat   repeats for the stage programs (default 1000000)\n"
               "  --stage-rounds   rounds for the stage programs (default 3)\n"
               "  --no-stages      skip the decomposition into parse / LPM / counter stages\n"
               "  --no-rate-cases  skip the cases with a rate limit set (needs 3+ experiments)\n"
               "  --read-counters  sizes for timing BpfDatapath::read_counters, 0 to skip\n"
               "                   (default 10,1000,10000)\n"
               "  --json           one JSON object per case and size on stdout instead of the\n"
               "                   tables: case, family, experiments, rate, ns_per_packet,\n"
               "                   empty_ns_per_packet, ratio (stage cases add \"stage\": true;\n"
               "                   read_counters is not timed)\n",
               argv0);
}

std::uint32_t positive(const char* v) {
  const unsigned long n = std::stoul(v);
  if (n == 0 || n > 0x7fffffffUL) throw std::out_of_range(v);
  return static_cast<std::uint32_t>(n);
}

std::vector<std::uint32_t> list(const std::string& s) {
  std::vector<std::uint32_t> out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t comma = s.find(',', pos);
    out.push_back(positive(s.substr(pos, comma - pos).c_str()));
    if (comma == std::string::npos) return out;
    pos = comma + 1;
  }
}

bool parse_options(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--repeat" && has_value) {
      o.repeat = positive(argv[++i]);
    } else if (a == "--stage-repeat" && has_value) {
      o.stage_repeat = positive(argv[++i]);
    } else if (a == "--rounds" && has_value) {
      o.rounds = static_cast<int>(positive(argv[++i]));
    } else if (a == "--stage-rounds" && has_value) {
      o.stage_rounds = static_cast<int>(positive(argv[++i]));
    } else if (a == "--experiments" && has_value) {
      o.sizes = list(argv[++i]);
    } else if (a == "--read-counters" && has_value) {
      const std::string v = argv[++i];
      o.read_sizes = v == "0" ? std::vector<std::uint32_t>{} : list(v);
    } else if (a == "--no-stages") {
      o.stages = false;
    } else if (a == "--no-rate-cases") {
      o.rate_cases = false;
    } else if (a == "--json") {
      o.json = true;
    } else {
      return false;
    }
  }
  return true;
}

// Experiment i (1-based) owns 198.19.(i >> 8).(i & 255) and 2001:db8:1::<i hex>, as in
// bench/daemon_scale.sh. 198.18.0.0/16 is the "world" end of the frames.
std::string v4_of(std::uint32_t i) {
  return fmt::format("198.19.{}.{}", i >> 8, i & 255);
}
std::string v6_of(std::uint32_t i) {
  return fmt::format("2001:db8:1::{:x}", i);
}
const char* kWorldV4 = "198.18.0.1";
const char* kWorldV6 = "2001:db8::1";
const char* kFarV4 = "198.18.200.77";

void put16(std::vector<std::uint8_t>& b, std::size_t at, std::uint16_t v) {
  b[at] = static_cast<std::uint8_t>(v >> 8);
  b[at + 1] = static_cast<std::uint8_t>(v);
}

// A full-size (1514-byte) Ethernet frame carrying UDP (or TCP: only the protocol number, the
// programs read no further) over IPv4 or IPv6.
std::vector<std::uint8_t> frame(bool v6, const std::string& src, const std::string& dst,
                                bool tcp = false) {
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

double thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

struct Sample {
  double kernel_ns = 0;  // opts.duration: the kernel's mean, whole ns
  double cpu_ns = 0;     // thread CPU time / repeat
};

// Runs `prog_fd` `repeat` times on `data`; returns false when interrupted or failing (also when
// the last run's verdict is not the expected one: pass, or drop when `drop`).
bool measure(int prog_fd, const std::vector<std::uint8_t>& data, std::uint32_t repeat, Sample& out,
             bool drop = false) {
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

struct Case {
  std::string name;
  int prog_fd;
  std::vector<std::uint8_t> data;
  std::vector<double> kernel, cpu, ratio, added, empty;
  bool drop = false;  // the program is expected to drop the frame
  bool rate = false;  // the experiment has a rate set
};

// Whether a case's frame is IPv6 (its EtherType).
bool is_v6(const Case& c) {
  return c.data.size() > 13 && c.data[12] == 0x86 && c.data[13] == 0xdd;
}

// One JSON object per case (--json).
void json_rows(const std::vector<Case>& cases, std::uint32_t n, bool stage, std::string& out);

// Measures `cases` for `rounds` rounds, the empty program before every third case and after the
// last; appends the rows (and one for the empty program) to `table`.
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

std::string read_sysctl(const char* path) {
  std::ifstream f(path);
  std::string v;
  if (!(f >> v)) return "?";
  return v;
}

// The datapath and stage programs for one trie size; the destructor releases everything (the
// datapath unpins and removes its pin folder).
struct Setup {
  std::unique_ptr<BpfDatapath> dp;
  stages* st = nullptr;
  ~Setup() {
    if (st) stages__destroy(st);
    dp.reset();
  }
};

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

// The alternatives must attribute like the real program: one run on `data` must count one
// egress packet for experiment `id` (0: unattributed).
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

bool run_size(const Options& o, std::uint32_t n, int empty_fd, std::string& table,
              std::string& stage_table, std::string& json) {
  Setup s;
  const std::string pin_dir = fmt::format("/sys/fs/bpf/enforcer-bench-{}-{}", getpid(), n);
  auto dp = BpfDatapath::create(BpfDatapathOptions{pin_dir, {}, n});
  if (!dp) {
    std::fprintf(stderr, "BpfDatapath::create: %s\n", dp.error().message.c_str());
    return false;
  }
  s.dp = std::move(*dp);
  for (std::uint32_t i = 1; i <= n; ++i) {
    std::vector<Prefix> addrs = {*parse_prefix(v4_of(i)), *parse_prefix(v6_of(i))};
    if (auto r = s.dp->add_experiment(i, addrs); !r) {
      std::fprintf(stderr, "add_experiment %u: %s\n", i, r.error().message.c_str());
      return false;
    }
  }
  const std::uint32_t hit = (n + 1) / 2;  // an experiment in the middle of the range
  const std::string near = v4_of(n + 1);  // unregistered, next to the last experiment
  const int egress = s.dp->program_fd(Program::kEgressPolice),
            ingress = s.dp->program_fd(Program::kIngress);
  const auto v4_hit_out = frame(false, v4_of(hit), kWorldV4);
  const auto v6_hit_out = frame(true, v6_of(hit), kWorldV6);

  std::vector<Case> cases = {
      {"egress, IPv4, hit", egress, v4_hit_out, {}, {}, {}, {}, {}},
      {"egress, IPv6, hit", egress, v6_hit_out, {}, {}, {}, {}, {}},
      {"egress, IPv4, miss (near)", egress, frame(false, near, kWorldV4), {}, {}, {}, {}, {}},
      {"egress, IPv4, miss (far)", egress, frame(false, kFarV4, kWorldV4), {}, {}, {}, {}, {}},
      {"ingress, IPv4, hit", ingress, frame(false, kWorldV4, v4_of(hit)), {}, {}, {}, {}, {}},
      {"ingress, IPv6, hit", ingress, frame(true, kWorldV6, v6_of(hit)), {}, {}, {}, {}, {}},
      {"ingress, IPv4, miss (near)", ingress, frame(false, kWorldV4, near), {}, {}, {}, {}, {}},
  };
  if (o.rate_cases && n >= 3) {
    // Two experiments other than `hit` get a limit (the cases above stay without one).
    const std::uint32_t pass = hit % n + 1, drop = pass % n + 1;
    RateLimit never;  // 100 Mbit/s; tolerances no run reaches (~146 years)
    never.bytes_per_second = {12'500'000, 12'500'000};
    never.police_tolerance_ns = {std::uint64_t{1} << 62, std::uint64_t{1} << 62};
    never.edt_horizon_ns = std::uint64_t{1} << 62;
    RateLimit always;  // 1 byte/s, no tolerance: the first packet passes, every later one drops
    always.bytes_per_second = {1, 1};
    if (auto r = s.dp->set_limits({{pass, never}, {drop, always}}); !r) {
      std::fprintf(stderr, "set_limits: %s\n", r.error().message.c_str());
      return false;
    }
    const int edt = s.dp->program_fd(Program::kEgressEdt);
    auto add = [&](const char* name, int prog_fd, std::vector<std::uint8_t> data, bool drops) {
      Case c{name, prog_fd, std::move(data), {}, {}, {}, {}, {}};
      c.drop = drops;
      c.rate = true;
      cases.push_back(std::move(c));
    };
    add("egress, IPv4, hit, rate set (passes)", egress, frame(false, v4_of(pass), kWorldV4), false);
    add("egress, IPv6, hit, rate set (passes)", egress, frame(true, v6_of(pass), kWorldV6), false);
    add("egress EDT, IPv4 TCP, hit, rate set (paced)", edt,
        frame(false, v4_of(pass), kWorldV4, true), false);
    add("ingress, IPv4, hit, rate set (passes)", ingress, frame(false, kWorldV4, v4_of(pass)),
        false);
    add("egress, IPv4, hit, over the rate (dropped)", egress, frame(false, v4_of(drop), kWorldV4),
        true);
  }
  std::fprintf(stderr, "bpf_cost: %u experiments: %zu cases x %d rounds x %u repeats\n", n,
               cases.size(), o.rounds, o.repeat);
  if (!measure_group(cases, empty_fd, o.repeat, o.rounds, n, table)) return false;
  json_rows(cases, n, false, json);

  if (o.stages) {
    if (!load_stages(s, pin_dir, n)) return false;
    const int parse = bpf_program__fd(s.st->progs.stage_parse);
    const int lpm = bpf_program__fd(s.st->progs.stage_lpm);
    const int count = bpf_program__fd(s.st->progs.stage_count);
    const int hash = bpf_program__fd(s.st->progs.alt_hash);
    const int array = bpf_program__fd(s.st->progs.alt_array);
    const auto v4_near = frame(false, near, kWorldV4);
    for (int prog : {hash, array}) {
      if (!attributes(*s.dp, prog, v4_hit_out, hit, n, "alternative, IPv4 hit") ||
          !attributes(*s.dp, prog, v6_hit_out, hit, n, "alternative, IPv6 hit") ||
          !attributes(*s.dp, prog, v4_near, 0, n, "alternative, IPv4 miss")) {
        return false;
      }
    }
    std::vector<Case> stage_cases = {
        {"IPv4: parse only", parse, v4_hit_out, {}, {}, {}, {}, {}},
        {"IPv4: parse + LPM lookup", lpm, v4_hit_out, {}, {}, {}, {}, {}},
        {"counter update only", count, v4_hit_out, {}, {}, {}, {}, {}},
        {"IPv6: parse only", parse, v6_hit_out, {}, {}, {}, {}, {}},
        {"IPv6: parse + LPM lookup", lpm, v6_hit_out, {}, {}, {}, {}, {}},
        {"alternative: IPv4, hash instead of LPM, complete", hash, v4_hit_out, {}, {}, {}, {}, {}},
        {"alternative: IPv6, hash instead of LPM, complete", hash, v6_hit_out, {}, {}, {}, {}, {}},
        {"alternative: IPv4, inlined array table, complete", array, v4_hit_out, {}, {}, {}, {}, {}},
        {"alternative: IPv6, inlined array table, complete", array, v6_hit_out, {}, {}, {}, {}, {}},
    };
    std::fprintf(stderr, "bpf_cost: %u experiments: %zu stage cases x %d rounds x %u repeats\n", n,
                 stage_cases.size(), o.stage_rounds, o.stage_repeat);
    if (!measure_group(stage_cases, empty_fd, o.stage_repeat, o.stage_rounds, n, stage_table)) {
      return false;
    }
    json_rows(stage_cases, n, true, json);
  }
  return true;
}

// The kernel side of a tick: BpfDatapath::read_counters over ids 0..n (one batch lookup of the
// per-CPU array, summed over CPUs), median of 51 calls.
bool time_read_counters(std::uint32_t n, std::string& table) {
  const std::string pin_dir = fmt::format("/sys/fs/bpf/enforcer-bench-{}-read{}", getpid(), n);
  auto dp = BpfDatapath::create(BpfDatapathOptions{pin_dir, {}, n});
  if (!dp) {
    std::fprintf(stderr, "BpfDatapath::create: %s\n", dp.error().message.c_str());
    return false;
  }
  std::vector<CounterSample> out;
  std::vector<double> us;
  for (int i = 0; i < 51 && !g_stop; ++i) {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (auto r = (*dp)->read_counters(n, out); !r) {
      std::fprintf(stderr, "read_counters: %s\n", r.error().message.c_str());
      return false;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    us.push_back(static_cast<double>(t1.tv_sec - t0.tv_sec) * 1e6 +
                 static_cast<double>(t1.tv_nsec - t0.tv_nsec) / 1e3);
  }
  const double m = median(us);
  table += fmt::format("| {} | {:.1f} µs | {:.0f} ns |\n", n, m, m * 1e3 / n);
  return !g_stop;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    if (!parse_options(argc, argv, o)) {
      usage(argv[0]);
      return 2;
    }
  } catch (const std::exception&) {
    usage(argv[0]);
    return 2;
  }
  if (geteuid() != 0) {
    std::fprintf(stderr, "bpf_cost needs root (BPF_PROG_TEST_RUN, pins in /sys/fs/bpf)\n");
    return 1;
  }
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigaction(sig, &sa, nullptr);
  }
  route_libbpf_log();

  empty_tc* empty = empty_tc__open_and_load();
  if (!empty) {
    std::fprintf(stderr, "cannot load the empty program: %s\n", std::strerror(errno));
    return 1;
  }
  const int empty_fd = bpf_program__fd(empty->progs.tc_empty);

  const std::string header =
      "| experiments | case | ns/packet (kernel) | ns/packet (CPU time) | ratio to empty | "
      "added ns |\n|---:|---|---:|---:|---:|---:|\n";
  std::string table = header, stage_table = header, json;
  bool ok = true;
  for (std::uint32_t n : o.sizes) {
    if (g_stop || !run_size(o, n, empty_fd, table, stage_table, json)) {
      ok = false;
      break;
    }
  }
  empty_tc__destroy(empty);
  std::string read_table =
      "| experiments | read_counters (median of 51) | per experiment |\n|---:|---:|---:|\n";
  for (std::uint32_t n : o.json ? std::vector<std::uint32_t>{} : o.read_sizes) {
    if (!ok || g_stop || !time_read_counters(n, read_table)) {
      ok = false;
      break;
    }
  }
  if (!ok) {
    std::fprintf(stderr, g_stop ? "bpf_cost: interrupted\n" : "bpf_cost: failed\n");
    return 1;
  }

  if (o.json) {
    std::printf("%s", json.c_str());
    return 0;
  }
  std::printf(
      "BPF_PROG_TEST_RUN, %u repeats per measurement, median of %d rounds, 1514-byte frames; "
      "JIT %s, bpf_stats_enabled %s. \"kernel\" is opts.duration (whole ns, rounded down); "
      "\"CPU time\" is the calling thread's CPU time over the call / repeats. Ratio and added "
      "ns: each case against the empty tc program run around it on the same frame.\n\n",
      o.repeat, o.rounds, read_sysctl("/proc/sys/net/core/bpf_jit_enable").c_str(),
      read_sysctl("/proc/sys/kernel/bpf_stats_enabled").c_str());
  std::printf("%s", table.c_str());
  if (o.stages) {
    std::printf(
        "\nWhere the cost goes (bench/stages.bpf.c: egress direction, the frames of the \"hit\" "
        "cases, the same tries; %u repeats per measurement, median of %d rounds):\n\n%s",
        o.stage_repeat, o.stage_rounds, stage_table.c_str());
  }
  if (!o.read_sizes.empty()) {
    std::printf(
        "\nThe kernel side of a tick: BpfDatapath::read_counters of every id (batch lookup of the "
        "per-CPU counters, %d CPUs, summed in user space):\n\n%s",
        libbpf_num_possible_cpus(), read_table.c_str());
  }
  return 0;
}
