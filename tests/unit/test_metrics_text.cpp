// The scrape's text writer (lib/metrics/series_sink.hpp) against prometheus-cpp's TextSerializer:
// the same families must give the same bytes, for the collector's whole exposition and for the
// values and label texts that need care (escapes, fractions, large and non-finite values).
#include <prometheus/text_serializer.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "metrics/metrics_collector.hpp"
#include "metrics/series_sink.hpp"
#include "metrics/tick_stats.hpp"
#include "state/experiments.hpp"

using namespace enforcer;
using namespace std::chrono_literals;

namespace {

std::string serialized(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

std::shared_ptr<ExperimentState> experiment(std::uint32_t id, const std::string& name,
                                            std::uint64_t bandwidth_bits) {
  ExperimentConfig c;
  c.name = name;
  c.allocation.bandwidth_bits = bandwidth_bits;
  return std::make_shared<ExperimentState>(id, c, 300);
}

}  // namespace

TEST_CASE("the text writer writes what TextSerializer writes for every family", "[metrics]") {
  ExperimentTable table;
  auto ndt = experiment(1, "ndt", 2'500'000'000ULL);
  auto wehe = experiment(2, "wehe-with-a-name-longer-than-sso", 100'000'000ULL);
  auto idle = experiment(3, "idle", 1'000'000ULL);
  table.publish({ndt, wehe, idle});
  for (std::uint64_t t = 10; t < 14; ++t) {
    ndt->direction[kEgress].window.record(t, 1000 * t);
    ndt->direction[kEgress].bytes_total += 1000 * t;
    ndt->direction[kEgress].packets_total += t;
  }
  wehe->direction[kIngress].window.record(20, 70'000);
  wehe->direction[kIngress].bytes_total = 123'456'789'012'345'678ULL;  // beyond 16 digits
  wehe->direction[kIngress].throttled = true;
  wehe->direction[kIngress].limit_bytes_per_second = 12'500;
  wehe->direction[kIngress].allowance_bytes = 333;
  wehe->direction[kIngress].dropped_packets_total = 5;
  wehe->direction[kIngress].dropped_bytes_total = 7570;
  wehe->direction[kIngress].throttle_events = 2;
  ResourceState& r = *ndt->resources;
  r.containers = 1;
  r.cpu_usage_usec = 2'500'001;  // a fraction of a second
  r.cpu_throttled_usec = 1;
  r.memory_bytes = 123'456'789;
  r.memory_limit_bytes = 1ULL << 62;
  r.io_read_bytes = 4096;
  r.io_write_bytes = 8192;
  r.cgroup_known = true;
  r.disk_used_bytes = 5'000'000;
  r.disk_limit_bytes = 20'000'000'000ULL;
  r.disk_known = true;
  wehe->resources->optional = true;
  wehe->resources->pod_conflicts = 1;

  UnattributedTotals unattributed;
  unattributed.bytes[kEgress] = 123'456;
  unattributed.bytes[kIngress] = 789;
  TickStats ticks;
  for (std::chrono::microseconds d : {50us, 100us, 300us, 2000us, 700000us, 3000000us}) {
    ticks.observe(d);
  }
  CgroupTotals cgroups;
  cgroups.drift_corrections = 7;
  DaemonStatus status;
  status.last_reload_success_unix = 1'795'000'000;
  status.reloads_ok = 3;
  status.set_overrides({{"ndt", "cpu", "config", 4'102'444'800}, {"wehe", "memory", "cli", 0}});

  // A tick of 1.5 s makes the window's seconds a fraction.
  const MetricsCollector collector(table, unattributed, ticks, 1500ms, "1.2.3-test", &cgroups,
                                   &status);
  std::string text;
  collector.write_text(text);
  const std::string want = serialized(collector.Collect());
  CHECK(text == want);
  // Streamed in small pieces (as the daemon sends a scrape), the pieces make the same text.
  std::string streamed;
  std::size_t pieces = 0;
  collector.write_text(512, [&](std::string_view piece) {
    CHECK(!piece.empty());
    streamed += piece;
    ++pieces;
  });
  CHECK(streamed == want);
  CHECK(pieces > 3);
  CHECK(want.find("enforcer_experiment_override_expiry_timestamp_seconds{") != std::string::npos);
  CHECK(want.find("enforcer_experiment_disk_limit_bytes{") != std::string::npos);

  // Without the optional sources the families they feed are left out, as Collect() leaves them.
  const MetricsCollector bare(table, unattributed, ticks, 1s, "0.1.0");
  text.clear();
  bare.write_text(text);
  CHECK(text == serialized(bare.Collect()));
}

TEST_CASE("the text writer formats values and escapes labels as TextSerializer does", "[metrics]") {
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<double> values = {0.0,
                                      -0.0,
                                      1.0,
                                      1.5,
                                      0.1,
                                      1.0 / 3,
                                      1e-9,
                                      0.00025,
                                      5e-5,
                                      123456789.0,
                                      9'999'999'999'999'998.0,
                                      1e16,
                                      12345678901234567890.0,
                                      1e300,
                                      -42.0,
                                      -2.5e-7,
                                      std::numeric_limits<double>::quiet_NaN(),
                                      inf,
                                      -inf};
  const std::vector<std::string> label_values = {"",          "plain",  "quote\"d", "back\\slash",
                                                 "new\nline", "ünïcödé"};

  std::vector<prometheus::MetricFamily> families;
  FamilyBuilder builder(families);
  std::string text;
  TextWriter writer(text);
  for (SeriesSink* sink : {static_cast<SeriesSink*>(&builder), static_cast<SeriesSink*>(&writer)}) {
    sink->begin_family("g", "A gauge.", prometheus::MetricType::Gauge);
    for (double v : values) sink->series({}, v);
    for (const std::string& l : label_values) sink->series({{"a", l}, {"b", "x"}}, 2);
    sink->begin_family("c_total", "", prometheus::MetricType::Counter);
    for (double v : values) sink->series({{"a", "1"}}, v);
    sink->begin_family("h", "A histogram.", prometheus::MetricType::Histogram);
    sink->histogram({{1, 0.0001}, {3, 0.25}, {4, inf}}, 4, 0.0006);
    sink->begin_family("h2", "Without a +Inf bucket.", prometheus::MetricType::Histogram);
    sink->histogram({{1, 1.0}, {2, 10.0}}, 3, 12.5);
  }
  CHECK(text == serialized(families));
}
