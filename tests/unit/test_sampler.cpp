// The sampler: cumulative datapath counters -> per-tick deltas in window rings and totals.
#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bandwidth/sampler.hpp"
#include "config/config.hpp"
#include "datapath/null_datapath.hpp"
#include "state/experiments.hpp"

using namespace enforcer;

namespace {

// A datapath whose cumulative counters the test sets directly.
class FakeDatapath : public NullDatapath {
 public:
  Expected<void> add_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) override {
    added[id] = addresses;
    counters[id] = {};
    return {};
  }
  Expected<void> remove_experiment(std::uint32_t id, const std::vector<Prefix>&) override {
    added.erase(id);
    counters.erase(id);
    return {};
  }
  Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) override {
    ++reads;
    last_max_id = max_id;
    if (fail) {
      // A failed read may leave anything in `out`: the sampler must not use it.
      out.assign(max_id + 1, CounterSample{{999'999, 999'999}, {999'999, 999'999}});
      return Error{"map lookup failed: injected"};
    }
    out.assign(max_id + 1, CounterSample{});
    for (const auto& [id, c] : counters) {
      if (id <= max_id) out[id] = c;
    }
    return {};
  }

  Expected<void> set_limits(const std::vector<LimitUpdate>& updates) override {
    for (const auto& u : updates) limits[u.id] = u.limit;
    return {};
  }

  std::map<std::uint32_t, RateLimit> limits;
  // Cumulative counters per id (0 = unattributed).
  std::map<std::uint32_t, CounterSample> counters;
  std::map<std::uint32_t, std::vector<Prefix>> added;
  bool fail = false;
  int reads = 0;
  std::uint32_t last_max_id = 0;

  void set(std::uint32_t id, std::uint64_t egress_bytes, std::uint64_t ingress_bytes,
           std::uint64_t egress_packets, std::uint64_t ingress_packets) {
    counters[id] = CounterSample{{egress_bytes, ingress_bytes}, {egress_packets, ingress_packets}};
  }
};

std::shared_ptr<ExperimentState> experiment(std::uint32_t id, const std::string& name,
                                            std::uint32_t slots = 5) {
  ExperimentConfig c;
  c.name = name;
  return std::make_shared<ExperimentState>(id, c, slots);
}

std::uint64_t bytes_total(const ExperimentState& x, Direction d) {
  return x.direction[d].bytes_total.load();
}
std::uint64_t packets_total(const ExperimentState& x, Direction d) {
  return x.direction[d].packets_total.load();
}
WindowRing::Snapshot window(const ExperimentState& x, Direction d) {
  return x.direction[d].window.snapshot();
}

struct Fixture {
  FakeDatapath datapath;
  ExperimentTable table;
  UnattributedTotals unattributed;
  Sampler sampler{datapath, table, unattributed};
  std::shared_ptr<ExperimentState> ndt = experiment(1, "ndt");
  std::shared_ptr<ExperimentState> wehe = experiment(3, "wehe");

  Fixture() { table.publish({ndt, wehe}); }
};

}  // namespace

TEST_CASE("counter_delta treats a counter that went backwards as reset", "[sampler]") {
  STATIC_REQUIRE(counter_delta(100, 150) == 50);
  STATIC_REQUIRE(counter_delta(100, 100) == 0);
  STATIC_REQUIRE(counter_delta(100, 30) == 30);
  STATIC_REQUIRE(counter_delta(0, 0) == 0);
  STATIC_REQUIRE(counter_delta(UINT64_MAX, 5) == 5);
}

TEST_CASE("deltas go into each experiment's windows and totals per direction", "[sampler]") {
  Fixture f;
  f.datapath.set(1, 1000, 200, 10, 2);
  f.datapath.set(3, 50, 7000, 1, 70);
  REQUIRE(f.sampler.sample(100).ok());
  CHECK(f.datapath.last_max_id == 3);

  CHECK(bytes_total(*f.ndt, kEgress) == 1000);
  CHECK(bytes_total(*f.ndt, kIngress) == 200);
  CHECK(packets_total(*f.ndt, kEgress) == 10);
  CHECK(packets_total(*f.ndt, kIngress) == 2);
  CHECK(bytes_total(*f.wehe, kEgress) == 50);
  CHECK(bytes_total(*f.wehe, kIngress) == 7000);
  CHECK(packets_total(*f.wehe, kEgress) == 1);
  CHECK(packets_total(*f.wehe, kIngress) == 70);
  CHECK(window(*f.ndt, kEgress).newest == 1000);
  CHECK(window(*f.ndt, kEgress).tick == 100);
  CHECK(window(*f.ndt, kIngress).newest == 200);
  CHECK(window(*f.wehe, kIngress).newest == 7000);

  // Next tick: only what was added since.
  f.datapath.set(1, 1500, 200, 15, 2);
  f.datapath.set(3, 50, 9000, 1, 90);
  REQUIRE(f.sampler.sample(101).ok());
  CHECK(bytes_total(*f.ndt, kEgress) == 1500);
  CHECK(bytes_total(*f.ndt, kIngress) == 200);
  CHECK(packets_total(*f.ndt, kEgress) == 15);
  CHECK(bytes_total(*f.wehe, kIngress) == 9000);
  CHECK(packets_total(*f.wehe, kIngress) == 90);

  auto w = window(*f.ndt, kEgress);
  CHECK(w.tick == 101);
  CHECK(w.newest == 500);
  CHECK(w.sum == 1500);
  CHECK(w.filled == 2);
  w = window(*f.ndt, kIngress);
  CHECK(w.newest == 0);
  CHECK(w.sum == 200);
  w = window(*f.wehe, kIngress);
  CHECK(w.newest == 2000);
  CHECK(w.sum == 9000);
  w = window(*f.wehe, kEgress);
  CHECK(w.newest == 0);
  CHECK(w.sum == 50);

  // Five more ticks: the window (5 slots) forgets tick 100 and 101.
  for (std::uint64_t t = 102; t <= 106; ++t) {
    f.datapath.counters[1].bytes[kEgress] += 10;
    REQUIRE(f.sampler.sample(t).ok());
  }
  w = window(*f.ndt, kEgress);
  CHECK(w.tick == 106);
  CHECK(w.sum == 50);
  CHECK(w.filled == 5);
  CHECK(bytes_total(*f.ndt, kEgress) == 1550);
}

TEST_CASE("traffic of no experiment (id 0) goes to the unattributed totals", "[sampler]") {
  Fixture f;
  f.datapath.set(0, 4000, 600, 40, 6);
  f.datapath.set(1, 100, 100, 1, 1);
  REQUIRE(f.sampler.sample(1).ok());
  CHECK(f.unattributed.bytes[kEgress].load() == 4000);
  CHECK(f.unattributed.bytes[kIngress].load() == 600);
  CHECK(f.unattributed.packets[kEgress].load() == 40);
  CHECK(f.unattributed.packets[kIngress].load() == 6);
  // Unattributed traffic is nobody's.
  CHECK(bytes_total(*f.ndt, kEgress) == 100);
  CHECK(bytes_total(*f.wehe, kEgress) == 0);

  f.datapath.set(0, 4500, 610, 45, 7);
  REQUIRE(f.sampler.sample(2).ok());
  CHECK(f.unattributed.bytes[kEgress].load() == 4500);
  CHECK(f.unattributed.bytes[kIngress].load() == 610);
  CHECK(f.unattributed.packets[kEgress].load() == 45);
  CHECK(f.unattributed.packets[kIngress].load() == 7);

  SECTION("with no experiments at all") {
    f.table.publish({});
    f.datapath.set(0, 5000, 610, 50, 7);
    REQUIRE(f.sampler.sample(3).ok());
    CHECK(f.datapath.last_max_id == 0);
    CHECK(f.unattributed.bytes[kEgress].load() == 5000);
    CHECK(f.unattributed.packets[kEgress].load() == 50);
  }
}

TEST_CASE("a counter that goes backwards counts its current value", "[sampler]") {
  Fixture f;
  f.datapath.set(0, 10'000, 10'000, 100, 100);
  f.datapath.set(1, 1'000'000, 500'000, 1000, 500);
  REQUIRE(f.sampler.sample(10).ok());

  // The experiment was removed and added back: its counters restarted from zero.
  f.datapath.set(0, 300, 10'100, 3, 101);
  f.datapath.set(1, 2500, 500'700, 25, 507);
  REQUIRE(f.sampler.sample(11).ok());
  CHECK(bytes_total(*f.ndt, kEgress) == 1'002'500);
  CHECK(packets_total(*f.ndt, kEgress) == 1025);
  CHECK(bytes_total(*f.ndt, kIngress) == 500'700);
  CHECK(packets_total(*f.ndt, kIngress) == 507);
  CHECK(window(*f.ndt, kEgress).newest == 2500);
  CHECK(window(*f.ndt, kEgress).sum == 1'002'500);
  CHECK(window(*f.ndt, kIngress).newest == 700);
  CHECK(f.unattributed.bytes[kEgress].load() == 10'300);
  CHECK(f.unattributed.packets[kEgress].load() == 103);
  CHECK(f.unattributed.bytes[kIngress].load() == 10'100);

  // Back to normal increments after the reset.
  f.datapath.set(1, 2600, 500'700, 26, 507);
  REQUIRE(f.sampler.sample(12).ok());
  CHECK(window(*f.ndt, kEgress).newest == 100);
  CHECK(bytes_total(*f.ndt, kEgress) == 1'002'600);
  // Never a wrapped-around (huge) number anywhere.
  for (const auto& x : {f.ndt, f.wehe}) {
    for (Direction d : kDirections) {
      CHECK(bytes_total(*x, d) < 10'000'000);
      CHECK(window(*x, d).sum < 10'000'000);
    }
  }
}

TEST_CASE("a read_counters error is returned and changes nothing", "[sampler]") {
  Fixture f;
  f.datapath.set(0, 100, 100, 1, 1);
  f.datapath.set(1, 1000, 2000, 10, 20);
  f.datapath.set(3, 3000, 4000, 30, 40);
  REQUIRE(f.sampler.sample(1).ok());

  const auto before_egress = window(*f.ndt, kEgress);
  const auto before_wehe = window(*f.wehe, kIngress);

  f.datapath.set(1, 1500, 2500, 15, 25);
  f.datapath.fail = true;
  const Expected<void> r = f.sampler.sample(2);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("injected") != std::string::npos);

  CHECK(bytes_total(*f.ndt, kEgress) == 1000);
  CHECK(bytes_total(*f.ndt, kIngress) == 2000);
  CHECK(packets_total(*f.ndt, kEgress) == 10);
  CHECK(bytes_total(*f.wehe, kEgress) == 3000);
  CHECK(f.unattributed.bytes[kEgress].load() == 100);
  CHECK(f.unattributed.packets[kIngress].load() == 1);
  const auto after_egress = window(*f.ndt, kEgress);
  CHECK(after_egress.tick == before_egress.tick);
  CHECK(after_egress.sum == before_egress.sum);
  CHECK(after_egress.newest == before_egress.newest);
  CHECK(after_egress.filled == before_egress.filled);
  const auto after_wehe = window(*f.wehe, kIngress);
  CHECK(after_wehe.tick == before_wehe.tick);
  CHECK(after_wehe.sum == before_wehe.sum);
  CHECK(f.ndt->last_raw.bytes[kEgress] == 1000);
  CHECK(f.unattributed.last_raw.bytes[kEgress] == 100);

  // The next successful read accounts for everything since the last good one.
  f.datapath.fail = false;
  REQUIRE(f.sampler.sample(3).ok());
  CHECK(bytes_total(*f.ndt, kEgress) == 1500);
  CHECK(bytes_total(*f.ndt, kIngress) == 2500);
  CHECK(packets_total(*f.ndt, kIngress) == 25);
  CHECK(bytes_total(*f.wehe, kEgress) == 3000);
  const auto w = window(*f.ndt, kEgress);
  CHECK(w.tick == 3);
  CHECK(w.newest == 500);
  CHECK(w.sum == 1500);
  CHECK(f.unattributed.bytes[kEgress].load() == 100);
}

TEST_CASE("an experiment published later starts from its counters' current value", "[sampler]") {
  Fixture f;
  f.datapath.set(1, 1000, 0, 10, 0);
  REQUIRE(f.sampler.sample(1).ok());
  auto msak = experiment(7, "msak");
  f.table.publish({f.ndt, f.wehe, msak});
  f.datapath.set(7, 800, 90, 8, 9);
  REQUIRE(f.sampler.sample(2).ok());
  CHECK(f.datapath.last_max_id == 7);
  CHECK(bytes_total(*msak, kEgress) == 800);
  CHECK(bytes_total(*msak, kIngress) == 90);
  CHECK(window(*msak, kEgress).newest == 800);
  CHECK(window(*msak, kEgress).filled == 1);
  CHECK(window(*msak, kEgress).tick == 2);
  CHECK(bytes_total(*f.ndt, kEgress) == 1000);
}
