// The metrics collector, as Prometheus sees it: the text exposition of its families.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include <prometheus/text_serializer.h>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "metrics/metrics_collector.hpp"
#include "metrics/tick_stats.hpp"
#include "state/experiments.hpp"

using namespace enforcer;
using namespace std::chrono_literals;

namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  std::string value_text;
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> type
  std::vector<Sample> samples;

  std::vector<Sample> named(const std::string& name) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      if (s.name == name) out.push_back(s);
    }
    return out;
  }
  // The one sample of `name` with exactly these labels.
  const Sample* find(const std::string& name,
                     const std::map<std::string, std::string>& labels) const {
    const Sample* found = nullptr;
    for (const auto& s : samples) {
      if (s.name == name && s.labels == labels) {
        if (found) return nullptr;  // duplicate series
        found = &s;
      }
    }
    return found;
  }
};

double parse_value(const std::string& text) {
  if (text == "+Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  std::size_t used = 0;
  const double v = std::stod(text, &used);
  if (used != text.size()) throw std::runtime_error("bad value " + text);
  return v;
}

// A small parser for the text exposition format (what prometheus-cpp's TextSerializer writes).
Exposition parse_exposition(const std::string& text) {
  Exposition out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream words(line.substr(7));
      std::string name, type;
      words >> name >> type;
      out.types[name] = type;
      continue;
    }
    if (line[0] == '#') continue;
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = line.substr(0, i);
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (i < line.size() && line[i] != '}') {
        const auto eq = line.find('=', i);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
          throw std::runtime_error("bad labels: " + line);
        }
        const std::string label = line.substr(i, eq - i);
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\' && j + 1 < line.size()) ++j;
          value += line[j];
        }
        if (s.labels.count(label)) throw std::runtime_error("label twice: " + line);
        s.labels[label] = value;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      ++i;  // '}'
    }
    while (i < line.size() && line[i] == ' ') ++i;
    std::string rest = line.substr(i);
    const auto space = rest.find(' ');  // an optional timestamp follows the value
    s.value_text = rest.substr(0, space);
    s.value = parse_value(s.value_text);
    out.samples.push_back(std::move(s));
  }
  return out;
}

std::shared_ptr<ExperimentState> experiment(std::uint32_t id, const std::string& name,
                                            std::uint64_t bandwidth_bits, std::uint32_t slots) {
  ExperimentConfig c;
  c.name = name;
  c.allocation.bandwidth_bits = bandwidth_bits;
  return std::make_shared<ExperimentState>(id, c, slots);
}

void record(ExperimentState& x, Direction d, std::uint64_t tick, std::uint64_t bytes,
            std::uint64_t packets) {
  DirectionState& s = x.direction[d];
  s.window.record(tick, bytes);
  s.bytes_total.fetch_add(bytes);
  s.packets_total.fetch_add(packets);
}

const std::set<std::string> kForbiddenLabels = {"machine", "node",      "site",     "deployment",
                                                "pod",     "container", "namespace"};

}  // namespace

TEST_CASE("the collector exposes the documented families with the right values", "[metrics]") {
  ExperimentTable table;
  auto ndt = experiment(1, "ndt", 2'500'000'000ULL, 300);
  auto wehe = experiment(2, "wehe", 100'000'000ULL, 300);
  table.publish({ndt, wehe});

  // ndt: ticks 10..13 egress, one ingress tick. wehe: a gap (ticks 10 and 20).
  record(*ndt, kEgress, 10, 1000, 10);
  record(*ndt, kEgress, 11, 2000, 20);
  record(*ndt, kEgress, 12, 3000, 30);
  record(*ndt, kEgress, 13, 4000, 40);
  record(*ndt, kIngress, 13, 555, 5);
  record(*wehe, kEgress, 10, 7, 1);
  record(*wehe, kEgress, 20, 70'000, 60);
  // wehe ingress: nothing recorded.

  UnattributedTotals unattributed;
  unattributed.bytes[kEgress] = 123'456;
  unattributed.bytes[kIngress] = 789;
  unattributed.packets[kEgress] = 1000;

  TickStats ticks;
  ticks.observe(50us);   // <= 0.0001
  ticks.observe(100us);  // <= 0.0001 (bounds are inclusive)
  ticks.observe(300us);  // <= 0.0005
  ticks.observe(2ms);    // <= 0.0025
  ticks.observe(2ms);    // <= 0.0025
  ticks.observe(700ms);  // <= 1.0
  ticks.observe(3s);     // +Inf only

  const MetricsCollector collector(table, unattributed, ticks, 500ms, "1.2.3-test");
  const std::vector<prometheus::MetricFamily> families = collector.Collect();
  const std::string text = prometheus::TextSerializer().Serialize(families);
  INFO("exposition:\n" << text);
  const Exposition e = parse_exposition(text);

  SECTION("family names and types") {
    const std::map<std::string, std::string> want = {
        {"enforcer_experiment_bytes_total", "counter"},
        {"enforcer_experiment_packets_total", "counter"},
        {"enforcer_experiment_window_bytes", "gauge"},
        {"enforcer_experiment_window_seconds", "gauge"},
        {"enforcer_experiment_allocation_bytes_per_second", "gauge"},
        {"enforcer_experiment_throttled", "gauge"},
        {"enforcer_experiment_rate_limit_bytes_per_second", "gauge"},
        {"enforcer_experiment_allowance_bytes", "gauge"},
        {"enforcer_experiment_dropped_packets_total", "counter"},
        {"enforcer_experiment_dropped_bytes_total", "counter"},
        {"enforcer_experiment_throttle_events_total", "counter"},
        {"enforcer_unattributed_bytes_total", "counter"},
        {"enforcer_build_info", "gauge"},
        {"enforcer_tick_duration_seconds", "histogram"},
    };
    CHECK(e.types == want);
    // Every sample belongs to a declared family.
    for (const auto& s : e.samples) {
      INFO("sample " << s.name);
      std::string family = s.name;
      if (e.types.count(family) == 0) {
        for (const char* suffix : {"_bucket", "_count", "_sum"}) {
          const std::string sx = suffix;
          if (family.size() > sx.size() &&
              family.compare(family.size() - sx.size(), sx.size(), sx) == 0) {
            family.resize(family.size() - sx.size());
            break;
          }
        }
      }
      CHECK(e.types.count(family) == 1);
    }
  }

  SECTION("no label Prometheus adds itself, anywhere") {
    REQUIRE_FALSE(e.samples.empty());
    for (const auto& s : e.samples) {
      for (const auto& [label, value] : s.labels) {
        INFO(s.name << " has label " << label);
        CHECK(kForbiddenLabels.count(label) == 0);
      }
    }
  }

  SECTION("per-experiment series: labels {experiment, direction} and recorded values") {
    struct Want {
      const char* experiment;
      const char* direction;
      double bytes, packets, window_bytes, window_seconds, allocation;
    };
    const Want wants[] = {
        // window_seconds = filled ticks x 0.5 s; allocation = bandwidth bits / 8.
        {"ndt", "egress", 10'000, 100, 10'000, 4 * 0.5, 312'500'000},
        {"ndt", "ingress", 555, 5, 555, 1 * 0.5, 312'500'000},
        {"wehe", "egress", 70'007, 61, 70'007, 11 * 0.5, 12'500'000},
        {"wehe", "ingress", 0, 0, 0, 0, 12'500'000},
    };
    const char* names[] = {"enforcer_experiment_bytes_total", "enforcer_experiment_packets_total",
                           "enforcer_experiment_window_bytes", "enforcer_experiment_window_seconds",
                           "enforcer_experiment_allocation_bytes_per_second"};
    for (const char* name : names) {
      const auto series = e.named(name);
      INFO(name);
      CHECK(series.size() == 4);
      for (const auto& s : series) {
        CHECK(s.labels.size() == 2);
        CHECK(s.labels.count("experiment") == 1);
        REQUIRE(s.labels.count("direction") == 1);
        const std::string d = s.labels.at("direction");
        CHECK((d == "egress" || d == "ingress"));
      }
    }
    for (const Want& w : wants) {
      INFO(w.experiment << " " << w.direction);
      const std::map<std::string, std::string> labels = {{"experiment", w.experiment},
                                                         {"direction", w.direction}};
      const double values[] = {w.bytes, w.packets, w.window_bytes, w.window_seconds, w.allocation};
      for (std::size_t i = 0; i < std::size(names); ++i) {
        INFO(names[i]);
        const Sample* s = e.find(names[i], labels);
        REQUIRE(s != nullptr);
        CHECK(s->value == Approx(values[i]).epsilon(1e-12));
      }
    }
  }

  SECTION("unattributed bytes by direction") {
    const auto series = e.named("enforcer_unattributed_bytes_total");
    CHECK(series.size() == 2);
    const Sample* egress = e.find("enforcer_unattributed_bytes_total", {{"direction", "egress"}});
    const Sample* ingress = e.find("enforcer_unattributed_bytes_total", {{"direction", "ingress"}});
    REQUIRE(egress != nullptr);
    REQUIRE(ingress != nullptr);
    CHECK(egress->value == 123'456);
    CHECK(ingress->value == 789);
  }

  SECTION("build info") {
    const auto series = e.named("enforcer_build_info");
    REQUIRE(series.size() == 1);
    CHECK(series[0].labels == std::map<std::string, std::string>{{"version", "1.2.3-test"}});
    CHECK(series[0].value == 1);
  }

  SECTION("tick duration histogram: cumulative buckets ending with +Inf = count") {
    const auto buckets = e.named("enforcer_tick_duration_seconds_bucket");
    const auto count = e.named("enforcer_tick_duration_seconds_count");
    const auto sum = e.named("enforcer_tick_duration_seconds_sum");
    REQUIRE(count.size() == 1);
    REQUIRE(sum.size() == 1);
    CHECK(count[0].value == 7);
    CHECK(sum[0].value == Approx(0.00005 + 0.0001 + 0.0003 + 0.002 + 0.002 + 0.7 + 3.0));
    REQUIRE(buckets.size() == TickStats::kBounds.size() + 1);
    double previous_bound = -INFINITY;
    double previous_count = 0;
    int inf = 0;
    for (const auto& b : buckets) {
      REQUIRE(b.labels.count("le") == 1);
      CHECK(b.labels.size() == 1);
      const double bound = parse_value(b.labels.at("le"));
      INFO("le=" << b.labels.at("le"));
      CHECK(bound > previous_bound);
      CHECK(b.value >= previous_count);
      inf += std::isinf(bound) ? 1 : 0;
      previous_bound = bound;
      previous_count = b.value;
    }
    CHECK(inf == 1);
    CHECK(buckets.back().labels.at("le") == "+Inf");
    CHECK(buckets.back().value == count[0].value);
    // The cumulative counts of the observations above.
    const std::map<std::string, double> want = {
        {"0.0001", 2}, {"0.00025", 2}, {"0.0005", 3}, {"0.001", 3}, {"0.0025", 5},
        {"0.005", 5},  {"0.01", 5},    {"0.025", 5},  {"0.05", 5},  {"0.1", 5},
        {"0.25", 5},   {"1", 6},       {"+Inf", 7},
    };
    for (const auto& b : buckets) {
      const double bound = parse_value(b.labels.at("le"));
      bool matched = false;
      for (const auto& [le, n] : want) {
        if (parse_value(le) == bound) {
          INFO("le=" << le);
          CHECK(b.value == n);
          matched = true;
        }
      }
      CHECK(matched);
    }
  }
}

TEST_CASE("an empty table still exposes the daemon-wide families", "[metrics]") {
  ExperimentTable table;
  UnattributedTotals unattributed;
  TickStats ticks;
  const MetricsCollector collector(table, unattributed, ticks, 1s, "0.1.0");
  const std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  INFO("exposition:\n" << text);
  const Exposition e = parse_exposition(text);
  CHECK(e.named("enforcer_experiment_bytes_total").empty());
  CHECK(e.named("enforcer_unattributed_bytes_total").size() == 2);
  REQUIRE(e.named("enforcer_build_info").size() == 1);
  CHECK(e.named("enforcer_build_info")[0].labels.at("version") == "0.1.0");
  const auto count = e.named("enforcer_tick_duration_seconds_count");
  REQUIRE(count.size() == 1);
  CHECK(count[0].value == 0);
  const auto buckets = e.named("enforcer_tick_duration_seconds_bucket");
  REQUIRE_FALSE(buckets.empty());
  for (const auto& b : buckets) CHECK(b.value == 0);
}

TEST_CASE("cgroup and quota figures: exported once read, in seconds and bytes", "[metrics]") {
  ExperimentTable table;
  auto ndt = experiment(1, "ndt", 2'500'000'000ULL, 300);
  auto wehe = experiment(2, "wehe", 100'000'000ULL, 300);
  table.publish({ndt, wehe});
  ResourceState& r = *ndt->resources;
  r.containers = 1;
  r.cpu_usage_usec = 2'500'000;
  r.cpu_throttled_usec = 250'000;
  r.memory_bytes = 123'456'789;
  r.memory_limit_bytes = 1ULL << 30;
  r.oom_kills = 3;
  r.io_read_bytes = 4096;
  r.io_write_bytes = 8192;
  r.cgroup_known = true;
  r.disk_used_bytes = 5'000'000;
  r.disk_limit_bytes = 20'000'000'000ULL;
  r.disk_known = true;
  r.pod_conflicts = 1;
  // wehe: not discovered yet, nothing read; optional (set at reload from the config).
  ExperimentConfig wehe_config;
  wehe_config.name = "wehe";
  wehe_config.optional = true;
  Config config;
  config.experiments = {wehe_config};
  set_optional_flags(table, config);
  wehe->applied.bandwidth_bits = 800'000'000;  // the allocation gauge follows an override

  UnattributedTotals unattributed;
  TickStats ticks;
  CgroupTotals cgroups;
  cgroups.drift_corrections = 7;
  const MetricsCollector collector(table, unattributed, ticks, 1s, "0.1.0", &cgroups);
  const std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  INFO("exposition:\n" << text);
  const Exposition e = parse_exposition(text);

  auto value = [&](const std::string& name, const std::string& experiment,
                   const std::string& op = "") {
    for (const auto& s : e.named(name)) {
      if (s.labels.at("experiment") == experiment && (op.empty() || s.labels.at("op") == op)) {
        return s.value;
      }
    }
    FAIL("no " << name << " for " << experiment);
    return -1.0;
  };
  CHECK(e.types.at("enforcer_experiment_cpu_usage_seconds_total") == "counter");
  CHECK(e.types.at("enforcer_experiment_memory_bytes") == "gauge");
  CHECK(e.types.at("enforcer_cgroup_drift_corrections_total") == "counter");
  CHECK(value("enforcer_experiment_containers", "ndt") == 1);
  CHECK(value("enforcer_experiment_containers", "wehe") == 0);
  CHECK(e.types.at("enforcer_experiment_optional") == "gauge");
  CHECK(value("enforcer_experiment_optional", "ndt") == 0);
  CHECK(value("enforcer_experiment_optional", "wehe") == 1);
  CHECK(value("enforcer_experiment_pod_conflicts", "ndt") == 1);
  CHECK(value("enforcer_experiment_pod_conflicts", "wehe") == 0);
  CHECK(value("enforcer_experiment_cpu_usage_seconds_total", "ndt") == Approx(2.5));
  CHECK(value("enforcer_experiment_cpu_throttled_seconds_total", "ndt") == Approx(0.25));
  CHECK(value("enforcer_experiment_memory_bytes", "ndt") == 123'456'789);
  CHECK(value("enforcer_experiment_memory_limit_bytes", "ndt") == 1073741824.0);
  CHECK(value("enforcer_experiment_oom_kills_total", "ndt") == 3);
  CHECK(value("enforcer_experiment_io_bytes_total", "ndt", "read") == 4096);
  CHECK(value("enforcer_experiment_io_bytes_total", "ndt", "write") == 8192);
  CHECK(value("enforcer_experiment_disk_used_bytes", "ndt") == 5'000'000);
  CHECK(value("enforcer_experiment_disk_limit_bytes", "ndt") == 2e10);
  // Nothing is invented for an experiment whose figures were never read.
  for (const char* name :
       {"enforcer_experiment_cpu_usage_seconds_total", "enforcer_experiment_memory_bytes",
        "enforcer_experiment_disk_used_bytes"}) {
    CHECK(e.named(name).size() == 1);
  }
  REQUIRE(e.named("enforcer_cgroup_drift_corrections_total").size() == 1);
  CHECK(e.named("enforcer_cgroup_drift_corrections_total")[0].value == 7);
  CHECK(value("enforcer_experiment_allocation_bytes_per_second", "wehe") == 100'000'000);
}

TEST_CASE("scrapes on other threads while the writer records, resizes and republishes",
          "[metrics][concurrency]") {
  // What the daemon does: one writer (the event loop) records ticks, resizes windows (a window
  // override publishes copies) and replaces the set, while scrapes run on the exposer's threads.
  // Every scrape must be well formed and its totals never go backwards. Run under TSan by
  // scripts/test.
  ExperimentTable table;
  ExperimentList list;
  for (std::uint32_t id = 1; id <= 8; ++id) {
    list.push_back(experiment(id, fmt::format("x{}", id), 100'000'000ULL, 50));
  }
  table.publish(list);
  UnattributedTotals unattributed;
  TickStats ticks;
  const MetricsCollector collector(table, unattributed, ticks, 100ms, "test");
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::atomic<bool> bad{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      double last = 0;
      while (!stop.load()) {
        const auto text = prometheus::TextSerializer().Serialize(collector.Collect());
        const Exposition e = parse_exposition(text);
        const Sample* s = e.find("enforcer_experiment_bytes_total",
                                 {{"experiment", "x1"}, {"direction", "egress"}});
        if (!s || s->value < last) bad = true;
        if (s) last = s->value;
        ++scrapes;
      }
    });
  }
  for (std::uint64_t tick = 1; tick <= 400; ++tick) {
    for (const auto& x : *table.snapshot()) {
      record(*x, kEgress, tick, 1000, 1);
      record(*x, kIngress, tick, 10, 1);
    }
    unattributed.bytes[kEgress].fetch_add(5);
    ticks.observe(100us);
    if (tick % 50 == 0) {
      // Alternate the window of x1 between 20 ticks and its allocation's: resize_windows
      // publishes a copy.
      auto x1 = (*table.snapshot())[0];
      x1->applied.window_ns.store(tick % 100 == 0 ? 0 : std::chrono::nanoseconds(2s).count());
      resize_windows(table, 100ms);
    }
  }
  // Let the readers see the final state at least once.
  const int seen = scrapes.load();
  while (scrapes.load() < seen + 4) std::this_thread::yield();
  stop = true;
  for (auto& t : readers) t.join();
  CHECK_FALSE(bad.load());
  CHECK(scrapes.load() >= 4);
  const Exposition e =
      parse_exposition(prometheus::TextSerializer().Serialize(collector.Collect()));
  const Sample* s =
      e.find("enforcer_experiment_bytes_total", {{"experiment", "x1"}, {"direction", "egress"}});
  REQUIRE(s);
  CHECK(s->value == 400 * 1000);
}

TEST_CASE("the config reload families follow the daemon's status", "[metrics]") {
  ExperimentTable table;
  UnattributedTotals unattributed;
  TickStats ticks;
  CgroupTotals cgroups;
  DaemonStatus status;
  status.last_reload_success_unix = 1'795'000'000;
  const MetricsCollector collector(table, unattributed, ticks, 1s, "test", &cgroups, &status);
  auto scrape = [&] {
    return parse_exposition(prometheus::TextSerializer().Serialize(collector.Collect()));
  };
  Exposition e = scrape();
  CHECK(e.types["enforcer_config_last_reload_successful"] == "gauge");
  REQUIRE(e.find("enforcer_config_last_reload_successful", {}));
  CHECK(e.find("enforcer_config_last_reload_successful", {})->value == 1);
  CHECK(e.find("enforcer_config_last_reload_success_timestamp_seconds", {})->value ==
        1'795'000'000);
  status.last_reload_ok = false;
  e = scrape();
  CHECK(e.find("enforcer_config_last_reload_successful", {})->value == 0);
  // Without a status (tests, tools) the families are left out.
  const MetricsCollector bare(table, unattributed, ticks, 1s, "test", &cgroups);
  const auto text = prometheus::TextSerializer().Serialize(bare.Collect());
  CHECK(text.find("enforcer_config_last_reload") == std::string::npos);
}
