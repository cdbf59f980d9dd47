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
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "bpf_cost_measure.hpp"
#include "bpf_cost_stages.hpp"
#include "datapath/bpf_datapath.hpp"
#include "empty_tc.skel.h"
#include "stages.skel.h"

namespace enforcer::bench {
namespace {

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

// 198.18.0.0/16 is the "world" end of the frames (experiment addresses: v4_of, v6_of).
const char* kWorldV4 = "198.18.0.1";
const char* kWorldV6 = "2001:db8::1";
const char* kFarV4 = "198.18.200.77";

std::string read_sysctl(const char* path) {
  std::ifstream f(path);
  std::string v;
  if (!(f >> v)) return "?";
  return v;
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
}  // namespace enforcer::bench

using namespace enforcer::bench;

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
  enforcer::route_libbpf_log();

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
