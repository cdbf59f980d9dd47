// Units of the config: rates (bits, SI), sizes (bytes, SI and binary), durations, percentages.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "base/units.hpp"

using namespace enforcer;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

namespace {

struct RateCase {
  const char* text;
  std::uint64_t bits;
};

struct SizeCase {
  const char* text;
  std::uint64_t bytes;
};

struct DurationCase {
  const char* text;
  std::chrono::nanoseconds value;
};

struct PercentCase {
  const char* text;
  double fraction;
};

// Each case's text parses to its value.
template <std::size_t N>
void check_rates_parse(const RateCase (&cases)[N]) {
  for (const auto& c : cases) {
    INFO("text: " << c.text);
    const auto r = parse_rate_bits(c.text);
    REQUIRE(r.ok());
    CHECK(*r == c.bits);
  }
}

template <std::size_t N>
void check_sizes_parse(const SizeCase (&cases)[N]) {
  for (const auto& c : cases) {
    INFO("text: " << c.text);
    const auto r = parse_size_bytes(c.text);
    REQUIRE(r.ok());
    CHECK(*r == c.bytes);
  }
}

}  // namespace

TEST_CASE("parse_rate_bits accepts SI bit rates", "[units]") {
  const RateCase cases[] = {
      {"100Mbit", 100'000'000ULL},
      {"2.5Gbit", 2'500'000'000ULL},
      {"800Kbit", 800'000ULL},
      {"1bit", 1ULL},
      {"100mbit", 100'000'000ULL},
      {"10gbit", 10'000'000'000ULL},
      {"1000000bit", 1'000'000ULL},
      {"0.5Mbit", 500'000ULL},
      {"1Tbit", 1'000'000'000'000ULL},
      {"1.234567Gbit", 1'234'567'000},
      {"0bit", 0},
  };
  check_rates_parse(cases);
}

TEST_CASE("parse_size_bytes distinguishes SI and binary units", "[units]") {
  const SizeCase cases[] = {
      {"1GiB", 1ULL << 30},
      {"20GB", 20'000'000'000ULL},
      {"512MiB", 512ULL << 20},
      {"4096", 4096},
      {"0", 0},
      {"1KB", 1000},
      {"1KiB", 1024},
      {"1MB", 1'000'000},
      {"1.5KiB", 1536},
      {"2TiB", 2ULL << 40},
      {"3TB", 3'000'000'000'000ULL},
      {"7B", 7},
  };
  check_sizes_parse(cases);
}

TEST_CASE("parse_duration accepts ms s m h and fractions", "[units]") {
  const DurationCase cases[] = {
      {"1s", 1s},       {"500ms", 500ms}, {"5m", 5min},   {"1h", 1h},
      {"1.5s", 1500ms}, {"0.1s", 100ms},  {"2.5m", 150s}, {"250us", 250us},
  };
  for (const auto& c : cases) {
    INFO("text: " << c.text);
    const auto r = parse_duration(c.text);
    REQUIRE(r.ok());
    CHECK(r->count() == c.value.count());
  }
}

TEST_CASE("parse_percent returns a fraction and rejects more than 100%", "[units]") {
  const PercentCase cases[] = {
      {"10%", 0.10}, {"0.5%", 0.005}, {"100%", 1.0}, {"0%", 0.0}, {"1%", 0.01}, {"12.5%", 0.125},
  };
  for (const auto& c : cases) {
    INFO("text: " << c.text);
    const auto r = parse_percent(c.text);
    REQUIRE(r.ok());
    CHECK(*r == Approx(c.fraction).margin(1e-15));
  }
  for (const char* bad : {"101%", "150%", "100.5%", "1000%"}) {
    INFO("text: " << bad);
    const auto r = parse_percent(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
  }
}

TEST_CASE("malformed rates are errors that name the value", "[units]") {
  for (const char* bad :
       {"100Mbps", "Mbit", "-5Mbit", "1e3Mbit", "10", "abc", "1.2.3Mbit", "100 Mbitt", "5 Mb"}) {
    INFO("text: " << bad);
    const auto r = parse_rate_bits(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
  }
  // The empty string: there is nothing to name, but it must still fail with a message.
  const auto empty = parse_rate_bits("");
  REQUIRE_FALSE(empty.ok());
  CHECK_FALSE(empty.error().message.empty());
}

TEST_CASE("unknown or missing rate units list the allowed units", "[units]") {
  for (const char* bad : {"100Mbps", "1e3Mbit", "10", "5MB"}) {
    INFO("text: " << bad);
    const auto r = parse_rate_bits(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
    CHECK_THAT(r.error().message, Contains("Kbit"));
    CHECK_THAT(r.error().message, Contains("Mbit"));
    CHECK_THAT(r.error().message, Contains("Gbit"));
  }
}

TEST_CASE("malformed sizes and durations and percentages are errors that name the value",
          "[units]") {
  for (const char* bad : {"1GiBs", "GiB", "-1GB", "1e9", "abc", "20gb", "1 Gi"}) {
    INFO("size: " << bad);
    const auto r = parse_size_bytes(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
  }
  {
    const auto r = parse_size_bytes("20Gb");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains("GiB"));
    CHECK_THAT(r.error().message, Contains("GB"));
  }
  for (const char* bad : {"1", "1sec", "-1s", "s", "abc", "1d", "1e3ms", "5M"}) {
    INFO("duration: " << bad);
    const auto r = parse_duration(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
  }
  {
    const auto r = parse_duration("3days");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains("ms"));
    CHECK_THAT(r.error().message, Contains("h"));
  }
  for (const char* bad : {"10", "-5%", "%", "abc%", "ten%", "1e1%", "10%%"}) {
    INFO("percent: " << bad);
    const auto r = parse_percent(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
  }
  CHECK_FALSE(parse_size_bytes("").ok());
  CHECK_FALSE(parse_duration("").ok());
  CHECK_FALSE(parse_percent("").ok());
}

TEST_CASE("format_rate_bits is canonical and round-trips", "[units]") {
  const RateCase cases[] = {
      {"2.5Gbit", 2'500'000'000ULL},
      {"100Mbit", 100'000'000ULL},
      {"800Kbit", 800'000ULL},
      {"1bit", 1},
      {"10Gbit", 10'000'000'000ULL},
      {"1Mbit", 1'000'000},
      {"1.001Kbit", 1001},
      {"999bit", 999},
      {"1.5Tbit", 1'500'000'000'000ULL},
      {"1234.567Kbit", 1'234'567},
      {"0bit", 0},
      {"12.345Mbit", 12'345'000},
  };
  for (const auto& c : cases) {
    INFO("value: " << c.bits);
    CHECK(format_rate_bits(c.bits) == c.text);
    const auto back = parse_rate_bits(format_rate_bits(c.bits));
    REQUIRE(back.ok());
    CHECK(*back == c.bits);
  }
}

TEST_CASE("decimals are read exactly, also where a double cannot hold the value", "[units]") {
  // Found by tests/fuzz/fuzz_config: "555555.42Tbit" read through a double came out 64 bits off
  // 555555420000000000, so --check-config's output did not parse back to what it printed.
  const RateCase rates[] = {
      {"555555.42Tbit", 555'555'420'000'000'000ULL},
      {"555555420Gbit", 555'555'420'000'000'000ULL},
      {"18446744.073709551615Tbit", 18'446'744'073'709'551'615ULL},
      {"18446744073709551615bit", 18'446'744'073'709'551'615ULL},
      {"9007199254740993bit", 9'007'199'254'740'993ULL},  // 2^53 + 1
      {".5Kbit", 500},
      {"2.Kbit", 2000},
      {"0.0005Kbit", 1},  // half a bit rounds away from zero
      {"0.0004999Kbit", 0},
      {"1.0000000000000000000000009Kbit", 1000},  // past 24 decimals: dropped
  };
  check_rates_parse(rates);
  const SizeCase sizes[] = {
      {"16777215.999999999999TiB", 18'446'744'073'709'551'615ULL},
      {"1.0000000001TiB", 1'099'511'627'886ULL},  // 2^40 + 109.95
      {"0.5B", 1},
  };
  check_sizes_parse(sizes);
  for (const char* big : {"18446744073709551616bit", "18446744.073709551616Tbit",
                          "99999999999999999999999999999999999999999999bit"}) {
    INFO("text: " << big);
    const auto r = parse_rate_bits(big);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains("too large"));
    CHECK_THAT(r.error().message, Contains(big));
  }
  const auto size = parse_size_bytes("16777216TiB");
  REQUIRE_FALSE(size.ok());
  CHECK_THAT(size.error().message, Contains("too large"));
  for (const char* bad : {".", "..5Kbit", "1..Kbit", ".Kbit"}) {
    INFO("text: " << bad);
    const auto r = parse_rate_bits(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains(bad));
  }
}

TEST_CASE("every 64-bit rate, size and duration formats to text that parses back to it",
          "[units]") {
  std::mt19937_64 rng(20261127);
  for (int i = 0; i < 100'000; ++i) {
    // Values of every magnitude, many of them with the trailing zeros that pick larger units.
    std::uint64_t v = rng() >> (rng() % 64);
    for (std::uint64_t zeros = rng() % 13; zeros > 0 && v <= UINT64_MAX / 10; --zeros) v *= 10;
    INFO("value: " << v);
    const auto rate = parse_rate_bits(format_rate_bits(v));
    REQUIRE(rate.ok());
    REQUIRE(*rate == v);
    const auto size = parse_size_bytes(format_size_bytes(v));
    REQUIRE(size.ok());
    REQUIRE(*size == v);
    const auto ns = static_cast<std::int64_t>(v >> 1);
    const auto duration = parse_duration(format_duration(std::chrono::nanoseconds(ns)));
    REQUIRE(duration.ok());
    REQUIRE(duration->count() == ns);
  }
}

TEST_CASE("format_size_bytes is canonical and round-trips", "[units]") {
  const SizeCase cases[] = {
      {"1GiB", 1ULL << 30},
      {"20GB", 20'000'000'000ULL},
      {"512MiB", 512ULL << 20},
      {"1KiB", 1024},
      {"1KB", 1000},
      {"0B", 0},
      {"7B", 7},
      {"1536B", 1536},
      {"3TB", 3'000'000'000'000ULL},
      {"2TiB", 2ULL << 40},
      {"1536KB", 1500 * 1024},
      {"123456789B", 123'456'789},
  };
  for (const auto& c : cases) {
    INFO("value: " << c.bytes);
    CHECK(format_size_bytes(c.bytes) == c.text);
    const auto back = parse_size_bytes(format_size_bytes(c.bytes));
    REQUIRE(back.ok());
    CHECK(*back == c.bytes);
  }
}

TEST_CASE("format_duration is canonical and round-trips", "[units]") {
  const DurationCase cases[] = {
      {"1s", 1s},   {"5m", 5min}, {"1h", 1h},       {"1500ms", 1500ms}, {"500ms", 500ms},
      {"90s", 90s}, {"2h", 2h},   {"250us", 250us}, {"7ns", 7ns},       {"61m", 61min},
  };
  for (const auto& c : cases) {
    INFO("value: " << c.value.count() << "ns");
    CHECK(format_duration(c.value) == c.text);
    const auto back = parse_duration(format_duration(c.value));
    REQUIRE(back.ok());
    CHECK(back->count() == c.value.count());
  }
}

TEST_CASE("format_percent round-trips parse_percent", "[units]") {
  const PercentCase cases[] = {
      {"10%", 0.10},    {"0.5%", 0.005}, {"100%", 1.0}, {"1%", 0.01},
      {"12.5%", 0.125}, {"0%", 0.0},     {"7%", 0.07},  {"33%", 0.33},
  };
  for (const auto& c : cases) {
    INFO("fraction: " << c.fraction);
    CHECK(format_percent(c.fraction) == c.text);
    const auto back = parse_percent(format_percent(c.fraction));
    REQUIRE(back.ok());
    CHECK(*back == Approx(c.fraction).margin(1e-15));
  }
}

TEST_CASE("percentages below the smallest share are refused, none is written with an exponent",
          "[units]") {
  CHECK_FALSE(parse_percent("0.0000001%").ok());
  CHECK(parse_percent("0%").ok());
  // Was "1e-05%", which did not parse back.
  CHECK(format_percent(0.0000001).find('e') == std::string::npos);
  const auto back = parse_percent(format_percent(0.0000001));
  REQUIRE(back.ok());
  CHECK(*back == 0.0000001);
}

TEST_CASE("format_percent keeps every digit a parsed percentage had", "[units]") {
  // The canonical form must represent the value exactly: whatever parse_percent accepted,
  // formatting it and parsing it again gives the same fraction (config round trips rely on it).
  for (const char* text : {"12.3456789%", "0.0123456%", "99.9999999%", "33.3333333%", "0.00001%",
                           "0.000001%", "0.0000012345678901234567%"}) {
    INFO("text: " << text);
    const auto parsed = parse_percent(text);
    REQUIRE(parsed.ok());
    const std::string formatted = format_percent(*parsed);
    INFO("formatted: " << formatted);
    const auto back = parse_percent(formatted);
    REQUIRE(back.ok());
    CHECK(*back == *parsed);
  }
}
