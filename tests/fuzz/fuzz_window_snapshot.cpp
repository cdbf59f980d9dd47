// libFuzzer target: the window snapshot file (lib/bandwidth/window_snapshot.hpp), which the daemon
// reads at start. parse_window_snapshot must return for any bytes; what it accepts must serialize
// and parse back to the same text, and the elapsed time and window shift computed from it must stay
// within their bounds (UBSan catches an overflow).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <string_view>

#include "bandwidth/window_snapshot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace enforcer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_window_snapshot(text);
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();
    return 0;
  }
  const std::string once = serialize_window_snapshot(*parsed);
  auto again = parse_window_snapshot(once);
  if (!again) std::abort();
  if (serialize_window_snapshot(*again) != once) std::abort();

  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  for (const std::int64_t now : {kMin, std::int64_t{0}, parsed->wall_ns, kMax}) {
    const std::uint64_t ticks = ticks_since(*parsed, now, now, parsed->boot_id);
    for (const ExperimentSnapshot& x : parsed->experiments) {
      for (const DirectionSnapshot& d : x.direction) {
        const std::uint32_t slots =
            x.window_slots > 0 && x.window_slots < 100'000 ? x.window_slots : 1;
        const ShiftedWindow w = shift_window(d, slots, ticks);
        if (w.filled > slots || w.newest_first.size() > slots) std::abort();
      }
    }
  }
  return 0;
}
