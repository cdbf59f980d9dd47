// Times as people and log readers see them.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace enforcer {

// RFC 3339 in UTC, whole seconds: "2026-11-27T05:00:00Z". A time gmtime cannot represent (a year
// beyond int) comes back as its decimal Unix seconds, so a wild value still reads as something.
std::string rfc3339_utc(std::int64_t unix_seconds);

// Whole Unix seconds of a wall-clock time (rounded down, also before 1970), and back.
inline std::int64_t to_unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline std::chrono::system_clock::time_point from_unix_seconds(std::int64_t s) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::seconds(s)));
}

}  // namespace enforcer
