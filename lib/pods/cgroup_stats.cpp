#include "pods/cgroup_stats.hpp"

#include <fmt/format.h>
#include <charconv>
#include <map>
#include <optional>
#include <string>

#include "base/text.hpp"

namespace enforcer {
namespace {

template <typename T>
std::optional<T> parse_uint(std::string_view s) {
  T v = 0;
  if (s.empty()) return std::nullopt;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// The lines of `text` with their 1-based numbers; blank lines are skipped.
template <typename Fn>
Expected<void> for_each_line(std::string_view text, Fn fn) {
  int number = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    ++number;
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    if (split_words(line).empty()) continue;
    if (auto r = fn(number, line); !r) return r;
  }
  return {};
}

// A flat-keyed file ("key value" lines): the values of `known` keys, each a u64. Unknown keys
// are skipped whatever their value.
Expected<std::map<std::string_view, std::uint64_t>> parse_flat_keyed(
    std::string_view file, std::string_view text, const std::vector<std::string_view>& known) {
  std::map<std::string_view, std::uint64_t> values;
  auto r = for_each_line(text, [&](int number, std::string_view line) -> Expected<void> {
    const auto words = split_words(line);
    if (words.size() != 2) {
      return Error{
          fmt::format("{} line {}: \"{}\": expected \"<key> <value>\"", file, number, trim(line))};
    }
    std::string_view key;
    for (std::string_view k : known) {
      if (k == words[0]) key = k;  // a view of `known`, which outlives the map's use
    }
    if (key.empty()) return {};
    const auto v = parse_uint<std::uint64_t>(words[1]);
    if (!v) {
      return Error{fmt::format("{} line {}: \"{}\": {} is not a non-negative integer", file, number,
                               trim(line), words[1])};
    }
    if (!values.emplace(key, *v).second) {
      return Error{
          fmt::format("{} line {}: \"{}\": {} appears twice", file, number, trim(line), key)};
    }
    return {};
  });
  if (!r) return r.error();
  return values;
}

Error missing(std::string_view file, std::string_view key, std::string_view text) {
  constexpr std::size_t kQuote = 120;
  const std::string_view t = trim(text);
  if (t.empty()) return Error{fmt::format("{}: no \"{}\" (the file is empty)", file, key)};
  return Error{fmt::format("{}: no \"{}\" in \"{}{}\"", file, key, t.substr(0, kQuote),
                           t.size() > kQuote ? "..." : "")};
}

}  // namespace

Expected<CpuStat> parse_cpu_stat(std::string_view text) {
  static const std::vector<std::string_view> kKeys{"usage_usec", "user_usec",    "system_usec",
                                                   "nr_periods", "nr_throttled", "throttled_usec"};
  auto values = parse_flat_keyed("cpu.stat", text, kKeys);
  if (!values) return values.error();
  const auto& v = *values;
  if (!v.count("usage_usec")) return missing("cpu.stat", "usage_usec", text);
  auto get = [&](std::string_view key) {
    const auto it = v.find(key);
    return it == v.end() ? 0 : it->second;
  };
  CpuStat s;
  s.usage_usec = get("usage_usec");
  s.user_usec = get("user_usec");
  s.system_usec = get("system_usec");
  s.nr_periods = get("nr_periods");
  s.nr_throttled = get("nr_throttled");
  s.throttled_usec = get("throttled_usec");
  s.bandwidth_stats = v.count("nr_periods") || v.count("nr_throttled") || v.count("throttled_usec");
  return s;
}

Expected<MemoryEvents> parse_memory_events(std::string_view text) {
  static const std::vector<std::string_view> kKeys{"low", "high", "max", "oom", "oom_kill"};
  auto values = parse_flat_keyed("memory.events", text, kKeys);
  if (!values) return values.error();
  const auto& v = *values;
  for (std::string_view key : {"high", "max", "oom", "oom_kill"}) {
    if (!v.count(key)) return missing("memory.events", key, text);
  }
  MemoryEvents e;
  e.low = v.count("low") ? v.at("low") : 0;
  e.high = v.at("high");
  e.max = v.at("max");
  e.oom = v.at("oom");
  e.oom_kill = v.at("oom_kill");
  return e;
}

Expected<std::uint64_t> parse_memory_current(std::string_view text) {
  const std::string_view t = trim(text);
  if (t.empty()) return Error{"memory.current is empty: expected a number of bytes"};
  const auto v = parse_uint<std::uint64_t>(t);
  if (!v) {
    return Error{fmt::format("memory.current: \"{}\" is not a number of bytes", t.substr(0, 40))};
  }
  return *v;
}

Expected<IoStat> parse_io_stat(std::string_view text) {
  IoStat out;
  auto r = for_each_line(text, [&](int number, std::string_view line) -> Expected<void> {
    const auto words = split_words(line);
    auto bad = [&](std::string_view why) {
      return Error{fmt::format("io.stat line {}: \"{}\": {}", number, trim(line), why)};
    };
    IoStatDevice d;
    const auto colon = words[0].find(':');
    const auto major = colon == std::string_view::npos
                           ? std::nullopt
                           : parse_uint<std::uint32_t>(words[0].substr(0, colon));
    const auto minor = colon == std::string_view::npos
                           ? std::nullopt
                           : parse_uint<std::uint32_t>(words[0].substr(colon + 1));
    if (!major || !minor) return bad(fmt::format("\"{}\" is not MAJ:MIN", words[0]));
    d.major = *major;
    d.minor = *minor;
    for (std::size_t i = 1; i < words.size(); ++i) {
      const auto eq = words[i].find('=');
      if (eq == std::string_view::npos || eq == 0) {
        return bad(fmt::format("\"{}\" is not key=value", words[i]));
      }
      const std::string_view key = words[i].substr(0, eq);
      std::uint64_t* slot = key == "rbytes"   ? &d.counters.rbytes
                            : key == "wbytes" ? &d.counters.wbytes
                            : key == "rios"   ? &d.counters.rios
                            : key == "wios"   ? &d.counters.wios
                            : key == "dbytes" ? &d.counters.dbytes
                            : key == "dios"   ? &d.counters.dios
                                              : nullptr;
      if (!slot) continue;
      const auto v = parse_uint<std::uint64_t>(words[i].substr(eq + 1));
      if (!v) return bad(fmt::format("\"{}\": not a non-negative integer", words[i]));
      *slot = *v;
    }
    out.total.rbytes += d.counters.rbytes;
    out.total.wbytes += d.counters.wbytes;
    out.total.rios += d.counters.rios;
    out.total.wios += d.counters.wios;
    out.total.dbytes += d.counters.dbytes;
    out.total.dios += d.counters.dios;
    out.devices.push_back(d);
    return {};
  });
  if (!r) return r.error();
  return out;
}

}  // namespace enforcer
