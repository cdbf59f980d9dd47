// Times as people and log readers see them.
#pragma once

#include <cstdint>
#include <string>

namespace enforcer {

// RFC 3339 in UTC, whole seconds: "2026-11-27T05:00:00Z". A time gmtime cannot represent (a year
// beyond int) comes back as its decimal Unix seconds, so a wild value still reads as something.
std::string rfc3339_utc(std::int64_t unix_seconds);

}  // namespace enforcer
