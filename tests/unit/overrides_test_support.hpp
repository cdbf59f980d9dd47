// Helpers shared by the overrides tests (test_overrides_*.cpp): a file's whole text, a wall-clock
// time from Unix seconds, and an override made from its value as an operator writes it.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>

#include "control/overrides.hpp"

namespace enforcer::test {

inline std::string get(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline WallClock::time_point at(std::int64_t unix_seconds) {
  return WallClock::time_point(std::chrono::seconds(unix_seconds));
}

inline Override make(std::string experiment, Resource r, std::string text,
                     std::optional<WallClock::time_point> expires = std::nullopt) {
  Override o;
  o.experiment = std::move(experiment);
  o.resource = r;
  auto v = parse_override_value(r, text);
  REQUIRE(v.ok());
  o.value = *v;
  o.text = format_override_value(r, *v);
  o.expires = expires;
  o.reason = "ticket 42";
  o.set_at = at(1'794'900'000);
  o.set_by_uid = 0;
  return o;
}

}  // namespace enforcer::test
