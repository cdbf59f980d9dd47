// rfc3339_utc: the one formatter behind the audit log, the daemon's messages and enforcerctl.
#include <catch2/catch.hpp>
#include <limits>

#include "base/time_text.hpp"

using namespace enforcer;

TEST_CASE("RFC 3339 in UTC, whole seconds", "[base]") {
  CHECK(rfc3339_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(rfc3339_utc(1795000000) == "2026-11-18T11:06:40Z");
  CHECK(rfc3339_utc(951782400) == "2000-02-29T00:00:00Z");  // a leap day
  CHECK(rfc3339_utc(-1) == "1969-12-31T23:59:59Z");
  // The largest expiry an override may carry (kMaxUnixSeconds in lib/control/overrides.cpp).
  CHECK(rfc3339_utc(9'000'000'000) == "2255-03-14T16:00:00Z");
}

TEST_CASE("a time gmtime cannot represent prints as its Unix seconds", "[base]") {
  const auto huge = std::numeric_limits<std::int64_t>::max();
  CHECK(rfc3339_utc(huge) == std::to_string(huge));
}
