#include "pods/cgroup_values.hpp"

#include <fmt/format.h>
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

#include "base/text.hpp"

namespace enforcer {
namespace {

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();  // "max"

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || ptr != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

// A number or "max" (kMax).
std::optional<std::uint64_t> parse_limit(std::string_view s) {
  if (s == "max") return kMax;
  return parse_u64(s);
}

// fraction × capacity rounded down, at least kIoMaxMinValue; "max" for an unconfigured capacity.
// The relative nudge keeps a product such as 0.29 × 100 (28.999999999999996 in doubles) at 29.
std::string io_share(std::uint64_t capacity, double fraction, std::uint64_t cap = kMax) {
  if (capacity == 0) return "max";
  const long double exact = static_cast<long double>(fraction) * capacity;
  const long double nudged = std::floor(exact + exact * 1e-12L);
  std::uint64_t v = nudged >= static_cast<long double>(capacity)
                        ? capacity
                        : static_cast<std::uint64_t>(std::max<long double>(nudged, 0));
  v = std::min(std::max(v, kIoMaxMinValue), cap);
  return std::to_string(v);
}

// rbps, wbps, riops, wiops of one io.max line; "max" (kMax) for absent keys.
struct IoLimits {
  std::string device;  // "MAJ:MIN"
  std::array<std::uint64_t, 4> values{kMax, kMax, kMax, kMax};
};

constexpr std::array<std::string_view, 4> kIoKeys{"rbps", "wbps", "riops", "wiops"};

std::optional<IoLimits> parse_io_max_line(std::string_view line) {
  const auto words = split_words(line);
  if (words.empty()) return std::nullopt;
  IoLimits out;
  out.device = std::string(words[0]);
  for (std::size_t i = 1; i < words.size(); ++i) {
    const auto eq = words[i].find('=');
    if (eq == std::string_view::npos) return std::nullopt;
    const std::string_view key = words[i].substr(0, eq);
    const auto it = std::find(kIoKeys.begin(), kIoKeys.end(), key);
    if (it == kIoKeys.end()) continue;  // a key of a later kernel
    const auto v = parse_limit(words[i].substr(eq + 1));
    if (!v) return std::nullopt;
    out.values[static_cast<std::size_t>(it - kIoKeys.begin())] = *v;
  }
  return out;
}

bool io_max_matches(std::string_view wanted, std::string_view read_back) {
  const auto want = parse_io_max_line(wanted);
  if (!want) return false;
  IoLimits have;  // no line for the device: no limits
  std::size_t start = 0;
  while (start <= read_back.size()) {
    auto end = read_back.find('\n', start);
    if (end == std::string_view::npos) end = read_back.size();
    const std::string_view line = read_back.substr(start, end - start);
    const auto words = split_words(line);
    if (!words.empty() && words[0] == want->device) {
      const auto parsed = parse_io_max_line(line);
      if (!parsed) return false;
      have = *parsed;
      break;
    }
    start = end + 1;
  }
  // The kernel keeps iops in 32 bits.
  auto normal = [](std::array<std::uint64_t, 4> v) {
    for (std::size_t i = 2; i < 4; ++i) {
      if (v[i] != kMax)
        v[i] = std::min<std::uint64_t>(v[i], std::numeric_limits<std::uint32_t>::max());
    }
    return v;
  };
  return normal(want->values) == normal(have.values);
}

bool memory_matches(std::string_view wanted, std::string_view read_back, std::uint64_t page_size) {
  const auto want = parse_limit(trim(wanted));
  const auto have = parse_limit(trim(read_back));
  if (!want || !have) return false;
  if (*want == kMax || *have == kMax) return *want == *have;
  if (page_size == 0) page_size = 1;
  return *want / page_size * page_size == *have;
}

bool cpu_max_matches(std::string_view wanted, std::string_view read_back) {
  const auto want = split_words(wanted);
  const auto have = split_words(read_back);
  if (want.empty() || want.size() > 2 || have.size() != 2) return false;
  const auto want_quota = parse_limit(want[0]);
  const auto have_quota = parse_limit(have[0]);
  // "max" alone keeps the period; the kernel's default period is 100 ms.
  const auto want_period = want.size() == 2 ? parse_u64(want[1]) : parse_u64(have[1]);
  const auto have_period = parse_u64(have[1]);
  return want_quota && have_quota && want_period && have_period && *want_quota == *have_quota &&
         *want_period == *have_period;
}

}  // namespace

std::string cpu_max_value(double cores) {
  double quota = std::round(cores * static_cast<double>(kCpuPeriodUsec));
  if (!(quota >= static_cast<double>(kCpuMinQuotaUsec))) quota = kCpuMinQuotaUsec;  // NaN too
  // The kernel's largest quota is far above any machine's cores (2^44 µs per period).
  quota = std::min(quota, 1e13);
  return fmt::format("{} {}", static_cast<std::uint64_t>(quota), kCpuPeriodUsec);
}

Expected<std::string> io_max_value(const DeviceConfig& d, double fraction) {
  if (!d.resolved) {
    return Error{
        fmt::format("device \"{}\" has no major:minor yet (resolve_devices() first)", d.path)};
  }
  constexpr std::uint64_t kIopsCap = std::numeric_limits<std::uint32_t>::max();
  return fmt::format("{}:{} rbps={} wbps={} riops={} wiops={}", d.major, d.minor,
                     io_share(d.read_bps, fraction), io_share(d.write_bps, fraction),
                     io_share(d.read_iops, fraction, kIopsCap),
                     io_share(d.write_iops, fraction, kIopsCap));
}

Expected<std::vector<CgroupFileValue>> cgroup_values(const Allocation& a,
                                                     const std::vector<DeviceConfig>& devices) {
  std::vector<CgroupFileValue> out;
  out.push_back({"cpu.max", cpu_max_value(a.cpu_cores)});
  out.push_back({"memory.max", std::to_string(a.memory_bytes)});
  out.push_back({"memory.high", kMemoryHigh});
  out.push_back({"memory.swap.max", "0"});
  for (const DeviceConfig& d : devices) {
    auto line = io_max_value(d, a.disk_io_fraction);
    if (!line) return line.error();
    out.push_back({"io.max", std::move(*line)});
  }
  return out;
}

bool cgroup_value_matches(const CgroupFileValue& wanted, std::string_view read_back,
                          std::uint64_t page_size) {
  if (wanted.file == "cpu.max") return cpu_max_matches(wanted.value, read_back);
  if (wanted.file == "memory.max" || wanted.file == "memory.high" ||
      wanted.file == "memory.swap.max") {
    return memory_matches(wanted.value, read_back, page_size);
  }
  if (wanted.file == "io.max") return io_max_matches(wanted.value, read_back);
  return trim(wanted.value) == trim(read_back);
}

}  // namespace enforcer
