// bench/control_plane: the user-space cost of a tick and of a scrape, without the kernel.
//
//   BM_SamplerSample/N   Sampler::sample on a fake Datapath whose cumulative counters advance for
//                        every experiment on every call (so every window ring records a delta)
//   BM_Collect/N         MetricsCollector::Collect(): the metric families of N experiments
//   BM_Scrape/N          Collect() + prometheus::TextSerializer: the text a scrape returned
//                        until the daemon wrote it itself
//   BM_ScrapeText/N      MetricsCollector::write_text: the same text into one string
//   BM_ScrapeStream/N    the same in 256 KiB pieces, as the daemon's /metrics sends it (without
//                        HTTP: each piece is only counted)
//   BM_FakeRead/N        the fake datapath's read_counters alone: a part of BM_SamplerSample
//                        that the real daemon spends in the kernel instead (bpf_cost)
//
// N experiments (10, 1,000, 10,000), each with one IPv4 and one IPv6 address and M-Lab's default
// allocation (5 min window at a 1 s tick: 300 slots per direction). The rings are full (300
// ticks sampled) before Collect and Scrape are measured.
//
// Plain Google Benchmark flags apply. `--markdown` (ours, first argument) prints the usual
// console table on stderr and a markdown table of the medians (of 5 repetitions) on stdout
// (bench/run-all). Wall time includes time the thread waited for a CPU; CPU time does not.
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <prometheus/text_serializer.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bandwidth/sampler.hpp"
#include "config/config.hpp"
#include "datapath/null_datapath.hpp"
#include "metrics/metrics_collector.hpp"
#include "metrics/tick_stats.hpp"
#include "state/experiments.hpp"

using namespace enforcer;

namespace {

constexpr auto kTick = std::chrono::seconds(1);
constexpr std::uint32_t kSlots = 300;  // window 5 min / tick 1 s

// Cumulative counters that advance on every read, by a different amount per experiment and
// tick, as if every experiment moved traffic all the time.
class FakeDatapath final : public NullDatapath {
 public:
  explicit FakeDatapath(std::uint32_t n) : counters_(n + 1) {}

  Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) override {
    ++reads_;
    out.resize(max_id + 1);
    for (std::uint32_t id = 0; id <= max_id && id < counters_.size(); ++id) {
      CounterSample& c = counters_[id];
      const std::uint64_t packets = 1 + (id + reads_) % 7;
      for (Direction d : kDirections) {
        c.packets[d] += packets;
        c.bytes[d] += packets * 1514;
      }
      out[id] = c;
    }
    return {};
  }

 private:
  std::vector<CounterSample> counters_;
  std::uint64_t reads_ = 0;
};

// The daemon's shared state for N experiments, built once per N and reused by all benchmarks.
struct World {
  explicit World(std::uint32_t n)
      : datapath(n),
        sampler(datapath, table, unattributed),
        collector(table, unattributed, ticks, kTick, "bench") {
    ExperimentList list;
    list.reserve(n);
    for (std::uint32_t i = 1; i <= n; ++i) {
      ExperimentConfig c;
      c.name = fmt::format("exp-{}", i);
      c.addresses = {*parse_prefix(fmt::format("198.19.{}.{}", i >> 8, i & 255)),
                     *parse_prefix(fmt::format("2001:db8:1::{:x}", i))};
      list.push_back(std::make_shared<ExperimentState>(i, c, kSlots));
    }
    table.publish(std::move(list));
    for (int t = 0; t < 3; ++t) ticks.observe(std::chrono::microseconds(100 * (t + 1)));
  }

  // Samples until every ring holds a full window.
  void fill() {
    while (tick < kSlots + 1) sample();
  }
  void sample() {
    if (!sampler.sample(tick++)) std::abort();
  }

  FakeDatapath datapath;
  ExperimentTable table;
  UnattributedTotals unattributed;
  TickStats ticks;
  Sampler sampler;
  MetricsCollector collector;
  std::uint64_t tick = 0;
};

World& world(std::uint32_t n) {
  static std::map<std::uint32_t, std::unique_ptr<World>> worlds;
  auto& w = worlds[n];
  if (!w) {
    w = std::make_unique<World>(n);
    w->fill();
  }
  return *w;
}

void BM_SamplerSample(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  World& w = world(n);
  for (auto _ : state) w.sample();
  state.SetItemsProcessed(state.iterations() * n);
}

void BM_Collect(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  World& w = world(n);
  std::size_t series = 0;
  for (auto _ : state) {
    auto families = w.collector.Collect();
    benchmark::DoNotOptimize(families.data());
    series = 0;
    for (const auto& f : families) series += f.metric.size();
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["series"] = static_cast<double>(series);
}

void BM_Scrape(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  World& w = world(n);
  const prometheus::TextSerializer serializer;
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::ostringstream out;
    serializer.Serialize(out, w.collector.Collect());
    bytes = static_cast<std::size_t>(out.tellp());
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes"] = static_cast<double>(bytes);
}

void BM_ScrapeText(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  World& w = world(n);
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text;
    text.reserve(bytes);  // as the daemon does: the previous scrape's size
    w.collector.write_text(text);
    bytes = text.size();
    benchmark::DoNotOptimize(text.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes"] = static_cast<double>(bytes);
}

void BM_ScrapeStream(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  World& w = world(n);
  std::size_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    w.collector.write_text(256 * 1024, [&](std::string_view piece) { bytes += piece.size(); });
    benchmark::DoNotOptimize(bytes);
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["bytes"] = static_cast<double>(bytes);
}

void BM_FakeRead(benchmark::State& state) {
  const auto n = static_cast<std::uint32_t>(state.range(0));
  World& w = world(n);
  std::vector<CounterSample> out;
  for (auto _ : state) {
    if (!w.datapath.read_counters(n, out)) std::abort();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(10)->Arg(1000)->Arg(10000);
  b->Unit(benchmark::kMicrosecond)->MinTime(0.1)->Repetitions(5)->ReportAggregatesOnly(true);
}

BENCHMARK(BM_SamplerSample)->Apply(sizes);
BENCHMARK(BM_Collect)->Apply(sizes);
BENCHMARK(BM_Scrape)->Apply(sizes);
BENCHMARK(BM_ScrapeText)->Apply(sizes);
BENCHMARK(BM_ScrapeStream)->Apply(sizes);
BENCHMARK(BM_FakeRead)->Apply(sizes);

// The console table goes to stderr; the medians are collected for a markdown table.
class MarkdownReporter : public benchmark::ConsoleReporter {
 public:
  MarkdownReporter() : ConsoleReporter(OO_Tabular) {
    SetOutputStream(&std::cerr);
    SetErrorStream(&std::cerr);
  }
  void ReportRuns(const std::vector<Run>& reports) override {
    ConsoleReporter::ReportRuns(reports);
    for (const Run& r : reports) {
      if (r.error_occurred) continue;
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      rows_.push_back(r);
    }
  }
  std::string markdown() const {
    static const std::map<std::string, std::string> what = {
        {"BM_SamplerSample", "Sampler::sample (one tick, fake datapath)"},
        {"BM_Collect", "MetricsCollector::Collect()"},
        {"BM_Scrape", "Collect() + TextSerializer (a scrape before)"},
        {"BM_ScrapeText", "write_text (one scrape into one string)"},
        {"BM_ScrapeStream", "write_text in 256 KiB pieces (one scrape, as the daemon sends it)"},
        {"BM_FakeRead", "the fake datapath's read_counters (part of a tick above)"}};
    std::string out =
        "| benchmark | experiments | wall time per call | CPU time per call | CPU per "
        "experiment | scrape size |\n|---|---:|---:|---:|---:|---:|\n";
    for (const Run& r : rows_) {
      const std::string name = r.run_name.function_name;
      const std::string arg = r.run_name.args;
      const double us = r.GetAdjustedRealTime();  // microseconds (Unit above)
      const double cpu_us = r.GetAdjustedCPUTime();
      const double n = std::stod(arg);
      const auto bytes = r.counters.find("bytes");
      const std::string size =
          bytes == r.counters.end() ? "" : fmt::format("{:.1f} KB", bytes->second.value / 1e3);
      const auto it = what.find(name);
      out += fmt::format("| {} | {} | {} | {} | {:.0f} ns | {} |\n",
                         it == what.end() ? name : it->second, arg, pretty_us(us),
                         pretty_us(cpu_us), cpu_us * 1e3 / n, size);
    }
    return out;
  }

 private:
  static std::string pretty_us(double us) {
    if (us >= 1000) return fmt::format("{:.2f} ms", us / 1e3);
    return fmt::format("{:.1f} µs", us);
  }
  std::vector<Run> rows_;
};

}  // namespace

int main(int argc, char** argv) {
  bool markdown = false;
  if (argc > 1 && std::strcmp(argv[1], "--markdown") == 0) {
    markdown = true;
    argv[1] = argv[0];
    ++argv;
    --argc;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (markdown) {
    MarkdownReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    std::cout << reporter.markdown();
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}
