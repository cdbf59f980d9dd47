// libFuzzer target: the overrides file (lib/control/overrides.hpp). parse_overrides must return for
// any bytes, and what it accepts must serialize and parse back to the same text.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/overrides.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace enforcer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_overrides(text);
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();
    return 0;
  }
  const std::string once = serialize_overrides(*parsed);
  auto again = parse_overrides(once);
  if (!again) std::abort();
  if (serialize_overrides(*again) != once) std::abort();

  // Combining them with an allocation and checking them must not misbehave either.
  OverrideSet set;
  for (const Override& o : *parsed) {
    const auto current = effective_allocation(Allocation{}, set.all(), o.experiment,
                                              WallClock::time_point(std::chrono::seconds(1)));
    (void)check_override(o, current, 10'000'000'000ULL, std::chrono::seconds(1));
    (void)format_allocation_value(current, o.resource);
    set.set(o);
  }
  (void)set.next_expiry();
  (void)set.expire(WallClock::time_point(std::chrono::seconds(1'800'000'000)));
  return 0;
}
