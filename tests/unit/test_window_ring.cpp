// The sliding window of per-tick byte counts: sums, wrap-around, missed ticks, and consistent
// snapshots while one writer records and several readers read.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "state/window_ring.hpp"

using namespace enforcer;

namespace {

// The obvious implementation: every tick's bytes in a map, the window recomputed from scratch.
class Model {
 public:
  explicit Model(std::uint64_t slots) : slots_(slots) {}

  void record(std::uint64_t tick, std::uint64_t bytes) {
    if (empty_) {
      empty_ = false;
      first_ = tick;
      head_ = tick;
    }
    if (tick > head_) head_ = tick;
    bytes_[head_] += bytes;  // a tick at or before the newest adds to the newest
  }
  void reset() {
    bytes_.clear();
    empty_ = true;
    head_ = 0;
  }

  std::uint64_t at(std::uint64_t tick) const {
    const auto it = bytes_.find(tick);
    return it == bytes_.end() ? 0 : it->second;
  }

  WindowRing::Snapshot expected() const {
    WindowRing::Snapshot s;
    s.empty = empty_;
    if (empty_) return s;
    s.tick = head_;
    s.newest = at(head_);
    const std::uint64_t span = head_ - first_ + 1;
    s.filled = span < slots_ ? span : slots_;
    // The window is the ticks (head - slots, head].
    for (std::uint64_t t = head_ + 1 - (head_ + 1 >= slots_ ? slots_ : head_ + 1); t <= head_;
         ++t) {
      s.sum += at(t);
    }
    s.oldest = head_ + 1 >= slots_ ? at(head_ + 1 - slots_) : 0;
    return s;
  }

 private:
  std::uint64_t slots_;
  std::map<std::uint64_t, std::uint64_t> bytes_;
  bool empty_ = true;
  std::uint64_t first_ = 0;
  std::uint64_t head_ = 0;
};

void check_equal(const WindowRing::Snapshot& got, const WindowRing::Snapshot& want) {
  CHECK(got.empty == want.empty);
  if (want.empty) return;
  CHECK(got.tick == want.tick);
  CHECK(got.sum == want.sum);
  CHECK(got.newest == want.newest);
  CHECK(got.oldest == want.oldest);
  CHECK(got.filled == want.filled);
}

}  // namespace

TEST_CASE("a new ring is empty", "[window_ring]") {
  WindowRing ring(4);
  CHECK(ring.slots() == 4);
  const auto s = ring.snapshot();
  CHECK(s.empty);
  CHECK(s.sum == 0);
  CHECK(s.filled == 0);
  CHECK(s.newest == 0);
  CHECK(s.oldest == 0);
}

TEST_CASE("a ring needs at least two slots", "[window_ring]") {
  CHECK_THROWS(WindowRing(0));
  CHECK_THROWS(WindowRing(1));
  CHECK_NOTHROW(WindowRing(2));
}

TEST_CASE("the window sums the last slots ticks", "[window_ring]") {
  WindowRing ring(4);
  ring.record(10, 1);
  auto s = ring.snapshot();
  CHECK_FALSE(s.empty);
  CHECK(s.sum == 1);
  CHECK(s.tick == 10);
  CHECK(s.newest == 1);
  CHECK(s.filled == 1);
  CHECK(s.oldest == 0);

  ring.record(11, 2);
  ring.record(12, 4);
  ring.record(13, 8);
  s = ring.snapshot();
  CHECK(s.sum == 15);
  CHECK(s.filled == 4);
  CHECK(s.newest == 8);
  CHECK(s.oldest == 1);  // tick 10 leaves at tick 14
  CHECK(s.sum - s.oldest == 14);

  ring.record(14, 16);  // tick 10 leaves
  s = ring.snapshot();
  CHECK(s.sum == 30);
  CHECK(s.filled == 4);
  CHECK(s.oldest == 2);
  CHECK(s.newest == 16);
  CHECK(s.tick == 14);

  // Several full rotations: the window always holds exactly the last four ticks.
  std::map<std::uint64_t, std::uint64_t> recorded = {{11, 2}, {12, 4}, {13, 8}, {14, 16}};
  for (std::uint64_t t = 15; t < 15 + 4 * 5 + 3; ++t) {
    recorded[t] = 100 + t * t;
    ring.record(t, recorded[t]);
    s = ring.snapshot();
    const std::uint64_t want = recorded[t] + recorded[t - 1] + recorded[t - 2] + recorded[t - 3];
    INFO("tick " << t);
    CHECK(s.sum == want);
    CHECK(s.oldest == recorded[t - 3]);
    CHECK(s.newest == recorded[t]);
    CHECK(s.tick == t);
    CHECK(s.filled == 4);
  }
}

TEST_CASE("missed ticks count as zero and leave the window when due", "[window_ring]") {
  WindowRing ring(5);
  ring.record(0, 100);
  ring.record(1, 10);
  // Ticks 2 and 3 were missed: the bytes measured over the gap go into tick 4.
  ring.record(4, 7);
  auto s = ring.snapshot();
  CHECK(s.tick == 4);
  CHECK(s.sum == 117);
  CHECK(s.newest == 7);
  CHECK(s.filled == 5);    // elapsed ticks, not the number of record() calls
  CHECK(s.oldest == 100);  // tick 0 leaves at tick 5

  ring.record(5, 1);  // tick 0 leaves
  s = ring.snapshot();
  CHECK(s.sum == 18);
  CHECK(s.oldest == 10);

  ring.record(7, 2);  // ticks 1 and 2 leave; 6 was missed
  s = ring.snapshot();
  CHECK(s.sum == 10);    // 3:0 4:7 5:1 6:0 7:2
  CHECK(s.oldest == 0);  // tick 3 was missed
  CHECK(s.newest == 2);

  // A gap as long as the window or longer empties it.
  ring.record(12, 3);
  s = ring.snapshot();
  CHECK(s.sum == 3);
  CHECK(s.filled == 5);
  CHECK(s.oldest == 0);
  ring.record(100, 9);
  s = ring.snapshot();
  CHECK(s.sum == 9);
  CHECK(s.tick == 100);
  CHECK(s.newest == 9);
}

TEST_CASE("a tick that does not advance adds to the newest slot", "[window_ring]") {
  WindowRing ring(3);
  ring.record(5, 1);
  ring.record(5, 2);
  ring.record(3, 4);  // a clock that went backwards: still the newest slot
  auto s = ring.snapshot();
  CHECK(s.tick == 5);
  CHECK(s.newest == 7);
  CHECK(s.sum == 7);
  CHECK(s.filled == 1);
  ring.record(6, 1);
  ring.record(7, 1);
  ring.record(8, 1);  // tick 5 (all 7 bytes) leaves
  s = ring.snapshot();
  CHECK(s.sum == 3);
}

TEST_CASE("filled grows to slots and stays there", "[window_ring]") {
  WindowRing ring(6);
  for (std::uint64_t t = 0; t < 20; ++t) {
    ring.record(1000 + t, 1);
    INFO("tick " << t);
    CHECK(ring.snapshot().filled == (t + 1 < 6 ? t + 1 : 6));
  }
  ring.record(5000, 1);
  CHECK(ring.snapshot().filled == 6);
}

TEST_CASE("sum minus oldest is the last slots-1 ticks", "[window_ring]") {
  WindowRing ring(8);
  for (std::uint64_t t = 1; t <= 50; ++t) {
    ring.record(t, t * t);
    const auto s = ring.snapshot();
    std::uint64_t last = 0;  // ticks (t-7, t]
    for (std::uint64_t u = t >= 7 ? t - 6 : 1; u <= t; ++u) last += u * u;
    INFO("tick " << t);
    CHECK(s.sum - s.oldest == last);
  }
}

TEST_CASE("reset forgets everything", "[window_ring]") {
  WindowRing ring(4);
  for (std::uint64_t t = 0; t < 10; ++t) ring.record(t, 5);
  ring.reset();
  auto s = ring.snapshot();
  CHECK(s.empty);
  CHECK(s.sum == 0);
  CHECK(s.filled == 0);
  // Recording after a reset starts afresh, even at an earlier tick.
  ring.record(3, 2);
  s = ring.snapshot();
  CHECK_FALSE(s.empty);
  CHECK(s.tick == 3);
  CHECK(s.sum == 2);
  CHECK(s.filled == 1);
  CHECK(s.oldest == 0);
  ring.record(4, 3);
  CHECK(ring.snapshot().sum == 5);
}

TEST_CASE("random records match a brute-force model", "[window_ring]") {
  for (const std::uint32_t slots : {2u, 3u, 7u, 60u, 300u}) {
    INFO("slots " << slots);
    std::mt19937_64 rng(12345 + slots);
    WindowRing ring(slots);
    Model model(slots);
    std::uint64_t tick = rng() % 1000;
    for (int i = 0; i < 5000; ++i) {
      // Mostly the next tick; sometimes the same tick again, a clock that went back, or a gap of
      // up to two whole windows.
      const auto kind = rng() % 10;
      if (kind < 6) {
        tick += 1;
      } else if (kind < 7) {
        // the same tick again
      } else if (kind < 8) {
        tick = tick >= 3 ? tick - rng() % 3 : tick;
      } else {
        tick += rng() % (2 * slots + 1);
      }
      const std::uint64_t bytes = rng() % 4 == 0 ? 0 : rng() % 1'000'000'000;
      ring.record(tick, bytes);
      model.record(tick, bytes);
      if (i == 2500) {
        ring.reset();
        model.reset();
      }
      INFO("record #" << i << " tick " << tick << " bytes " << bytes);
      check_equal(ring.snapshot(), model.expected());
    }
  }
}

TEST_CASE("a copied or restored ring records on where the original does", "[window_ring]") {
  // The writer keeps its position in the ring (not recomputed from the tick each time): a copy
  // (a resize to the same length) and a restore from the original's slots must take it over.
  for (const std::uint32_t slots : {2u, 5u, 300u}) {
    INFO("slots " << slots);
    std::mt19937_64 rng(777 + slots);
    WindowRing original(slots);
    std::uint64_t tick = rng() % 1000;
    for (int i = 0; i < 3 * static_cast<int>(slots) + 7; ++i) {
      tick += 1 + (rng() % 5 == 0 ? rng() % 3 : 0);
      original.record(tick, rng() % 1'000'000);
    }
    WindowRing copied(slots, original);
    WindowRing restored(slots);
    restored.restore(original.snapshot().tick, original.newest_first(), original.snapshot().filled);
    for (int i = 0; i < 2 * static_cast<int>(slots) + 3; ++i) {
      tick += 1 + (rng() % 4 == 0 ? rng() % (slots + 1) : 0);
      const std::uint64_t bytes = rng() % 1'000'000;
      for (WindowRing* r : {&original, &copied, &restored}) r->record(tick, bytes);
      INFO("record #" << i << " tick " << tick);
      check_equal(copied.snapshot(), original.snapshot());
      check_equal(restored.snapshot(), original.snapshot());
      CHECK(copied.newest_first() == original.newest_first());
      CHECK(restored.newest_first() == original.newest_first());
    }
  }
}

namespace {

// The writer's deterministic pattern: which ticks it records and how many bytes each gets.
struct Pattern {
  static constexpr std::uint64_t kFirst = 5;

  // The ticks recorded: from kFirst on, skipping a few and now and then a whole window.
  static std::vector<std::uint64_t> ticks(std::size_t records, std::uint32_t slots) {
    std::vector<std::uint64_t> out;
    out.reserve(records);
    std::uint64_t t = kFirst;
    for (std::size_t i = 0; i < records; ++i) {
      out.push_back(t);
      const std::uint64_t h = mix(i);
      if (h % 1000 == 0) {
        t += slots + h % (slots + 1);  // a gap of one to two windows
      } else if (h % 7 == 0) {
        t += 2 + h % 3;  // one to three missed ticks
      } else {
        t += 1;
      }
    }
    return out;
  }
  static std::uint64_t bytes(std::uint64_t tick) { return mix(tick) % 1'000'000 + 1; }
  static std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  }
};

}  // namespace

TEST_CASE("concurrent snapshots are always a window the writer finished",
          "[window_ring][concurrency]") {
  constexpr std::size_t kRecords = 2'000'000;
  constexpr std::uint32_t kSlots = 64;
  constexpr int kReaders = 3;

  const std::vector<std::uint64_t> ticks = Pattern::ticks(kRecords, kSlots);
  // prefix[t - kFirst + 1] = bytes of all recorded ticks in [kFirst, t].
  const std::uint64_t last = ticks.back();
  std::vector<std::uint64_t> recorded(last - Pattern::kFirst + 1, 0);
  for (std::uint64_t t : ticks) recorded[t - Pattern::kFirst] = Pattern::bytes(t);
  std::vector<std::uint64_t> prefix(recorded.size() + 1, 0);
  for (std::size_t i = 0; i < recorded.size(); ++i) prefix[i + 1] = prefix[i] + recorded[i];
  auto bytes_at = [&](std::uint64_t t) -> std::uint64_t {
    return t < Pattern::kFirst ? 0 : recorded[t - Pattern::kFirst];
  };
  // Bytes of the recorded ticks in [from, to], from >= kFirst.
  auto range_sum = [&](std::uint64_t from, std::uint64_t to) -> std::uint64_t {
    return prefix[to - Pattern::kFirst + 1] - prefix[from - Pattern::kFirst];
  };

  WindowRing ring(kSlots);
  std::atomic<bool> done{false};

  struct ReaderResult {
    std::uint64_t checked = 0;
    std::uint64_t bad = 0;
    std::uint64_t went_back = 0;  // a snapshot older than the previous one
    WindowRing::Snapshot first_bad;
  };
  std::vector<ReaderResult> results(kReaders);

  auto reader = [&](ReaderResult& r) {
    std::uint64_t previous_tick = 0;
    auto check = [&](const WindowRing::Snapshot& s) {
      if (s.empty) return;
      bool ok = s.tick >= Pattern::kFirst && s.tick <= last && bytes_at(s.tick) != 0;
      if (ok) {
        const std::uint64_t span = s.tick - Pattern::kFirst + 1;
        const std::uint64_t filled = span < kSlots ? span : kSlots;
        const std::uint64_t from = s.tick + 1 - filled;
        const std::uint64_t oldest = filled == kSlots ? bytes_at(s.tick + 1 - kSlots) : 0;
        ok = s.filled == filled && s.sum == range_sum(from, s.tick) &&
             s.newest == Pattern::bytes(s.tick) && s.oldest == oldest;
      }
      if (!ok && r.bad++ == 0) r.first_bad = s;
      if (s.tick < previous_tick) ++r.went_back;
      previous_tick = s.tick;
      ++r.checked;
    };
    while (!done.load(std::memory_order_acquire)) check(ring.snapshot());
    check(ring.snapshot());  // at least one, after the writer finished
  };

  std::vector<std::thread> threads;
  for (int i = 0; i < kReaders; ++i) threads.emplace_back(reader, std::ref(results[i]));
  for (std::uint64_t t : ticks) ring.record(t, Pattern::bytes(t));
  done.store(true, std::memory_order_release);
  for (auto& t : threads) t.join();

  for (int i = 0; i < kReaders; ++i) {
    const ReaderResult& r = results[i];
    INFO("reader " << i << ": " << r.checked << " snapshots checked, " << r.bad
                   << " inconsistent; first bad: tick " << r.first_bad.tick << " sum "
                   << r.first_bad.sum << " filled " << r.first_bad.filled << " newest "
                   << r.first_bad.newest << " oldest " << r.first_bad.oldest);
    CHECK(r.checked > 0);
    CHECK(r.bad == 0);
    CHECK(r.went_back == 0);
  }
  // The final window, seen after the writer is done.
  const auto s = ring.snapshot();
  CHECK(s.tick == last);
  CHECK(s.filled == kSlots);
  CHECK(s.sum == range_sum(last + 1 - kSlots, last));
}
