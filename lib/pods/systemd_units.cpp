#include "pods/systemd_units.hpp"

#include <fmt/format.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <array>
#include <charconv>
#include <optional>

#include "base/text.hpp"

namespace enforcer {
namespace {

constexpr const char* kDestination = "org.freedesktop.systemd1";
constexpr const char* kManagerPath = "/org/freedesktop/systemd1";
constexpr const char* kManagerInterface = "org.freedesktop.systemd1.Manager";
// A bus call that takes longer than this holds the daemon's event loop: give up and write the
// files directly.
constexpr std::uint64_t kCallTimeoutUsec = 2'000'000;
constexpr std::uint64_t kUsecPerSec = 1'000'000;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::optional<std::uint64_t> parse_u64(std::string_view s) {
  std::uint64_t v = 0;
  const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// A number or "max" (infinity).
std::optional<std::uint64_t> parse_limit(std::string_view s) {
  if (s == "max") return kSystemdInfinity;
  return parse_u64(s);
}

Error bad_value(const CgroupFileValue& v) {
  return Error{fmt::format("{} \"{}\": not a value systemd can be given", v.file, v.value)};
}

Error bus_error(std::string_view what, int r, const sd_bus_error& e) {
  if (sd_bus_error_is_set(&e)) {
    return Error{fmt::format("{}: {}", what, e.message ? e.message : e.name), -r};
  }
  return errno_error(r, "{}", what);
}

// Appends one (s, v) entry: "t" or "a(st)".
int append_property(sd_bus_message* m, const SystemdProperty& p) {
  int r = sd_bus_message_open_container(m, 'r', "sv");
  if (r < 0) return r;
  r = sd_bus_message_append(m, "s", p.name.c_str());
  if (r < 0) return r;
  if (const auto* number = std::get_if<std::uint64_t>(&p.value)) {
    r = sd_bus_message_append(m, "v", "t", *number);
    if (r < 0) return r;
  } else {
    const auto& limits = std::get<SystemdProperty::DeviceLimits>(p.value);
    r = sd_bus_message_open_container(m, 'v', "a(st)");
    if (r < 0) return r;
    r = sd_bus_message_open_container(m, 'a', "(st)");
    if (r < 0) return r;
    for (const auto& [device, value] : limits) {
      r = sd_bus_message_append(m, "(st)", device.c_str(), value);
      if (r < 0) return r;
    }
    r = sd_bus_message_close_container(m);
    if (r < 0) return r;
    r = sd_bus_message_close_container(m);
    if (r < 0) return r;
  }
  return sd_bus_message_close_container(m);
}

}  // namespace

std::string systemd_unit_of(std::string_view cgroup_dir) {
  while (cgroup_dir.size() > 1 && cgroup_dir.back() == '/') cgroup_dir.remove_suffix(1);
  const auto slash = cgroup_dir.rfind('/');
  const std::string_view name =
      slash == std::string_view::npos ? cgroup_dir : cgroup_dir.substr(slash + 1);
  for (std::string_view suffix : {std::string_view(".slice"), std::string_view(".scope")}) {
    if (name.size() > suffix.size() && ends_with(name, suffix)) return std::string(name);
  }
  return {};
}

std::string systemd_control_group(std::string_view cgroup_root, std::string_view cgroup_dir) {
  while (cgroup_root.size() > 1 && cgroup_root.back() == '/') cgroup_root.remove_suffix(1);
  while (cgroup_dir.size() > 1 && cgroup_dir.back() == '/') cgroup_dir.remove_suffix(1);
  if (cgroup_dir == cgroup_root) return "/";
  const std::string prefix = cgroup_root == "/" ? std::string() : std::string(cgroup_root);
  if (cgroup_dir.size() <= prefix.size() + 1 || cgroup_dir.substr(0, prefix.size()) != prefix ||
      cgroup_dir[prefix.size()] != '/') {
    return {};
  }
  return std::string(cgroup_dir.substr(prefix.size()));
}

Expected<std::vector<SystemdProperty>> systemd_properties(
    const std::vector<CgroupFileValue>& values) {
  std::vector<SystemdProperty> out;
  // The four I/O properties, each a list over the devices, in io.max's key order.
  constexpr std::array<std::string_view, 4> kIoKeys{"rbps", "wbps", "riops", "wiops"};
  constexpr std::array<const char*, 4> kIoProperties{"IOReadBandwidthMax", "IOWriteBandwidthMax",
                                                     "IOReadIOPSMax", "IOWriteIOPSMax"};
  std::array<SystemdProperty::DeviceLimits, 4> io;
  bool any_io = false;
  for (const CgroupFileValue& v : values) {
    if (v.file == "cpu.max") {
      const auto words = split_words(v.value);
      if (words.empty() || words.size() > 2) return bad_value(v);
      const auto quota = parse_limit(words[0]);
      const auto period = words.size() == 2 ? parse_u64(words[1]) : kCpuPeriodUsec;
      if (!quota || !period || *period == 0) return bad_value(v);
      // systemd gives the quota per second of wall time and writes quota × period / 1 s back:
      // exact for the whole microseconds cgroup_values() makes.
      const std::uint64_t per_sec =
          *quota == kSystemdInfinity ? kSystemdInfinity : *quota * kUsecPerSec / *period;
      out.push_back({"CPUQuotaPerSecUSec", per_sec});
      if (*period != kCpuPeriodUsec) out.push_back({"CPUQuotaPeriodUSec", *period});
    } else if (v.file == "memory.max" || v.file == "memory.high" || v.file == "memory.swap.max") {
      const auto bytes = parse_limit(trim(v.value));
      if (!bytes) return bad_value(v);
      const char* name = v.file == "memory.max"    ? "MemoryMax"
                         : v.file == "memory.high" ? "MemoryHigh"
                                                   : "MemorySwapMax";
      out.push_back({name, *bytes});
    } else if (v.file == "io.max") {
      const auto words = split_words(v.value);
      if (words.empty() || words[0].find(':') == std::string_view::npos) return bad_value(v);
      std::array<std::uint64_t, 4> limits{kSystemdInfinity, kSystemdInfinity, kSystemdInfinity,
                                          kSystemdInfinity};
      for (std::size_t i = 1; i < words.size(); ++i) {
        const auto eq = words[i].find('=');
        if (eq == std::string_view::npos) return bad_value(v);
        const std::string_view key = words[i].substr(0, eq);
        std::size_t k = 0;
        while (k < kIoKeys.size() && kIoKeys[k] != key) ++k;
        if (k == kIoKeys.size()) return bad_value(v);
        const auto limit = parse_limit(words[i].substr(eq + 1));
        if (!limit) return bad_value(v);
        limits[k] = *limit;
      }
      const std::string device = fmt::format("/dev/block/{}", words[0]);
      for (std::size_t k = 0; k < io.size(); ++k) io[k].emplace_back(device, limits[k]);
      any_io = true;
    } else {
      return Error{fmt::format("{}: systemd has no unit property for this file", v.file)};
    }
  }
  if (any_io) {
    for (std::size_t k = 0; k < io.size(); ++k) out.push_back({kIoProperties[k], io[k]});
  }
  return out;
}

SystemdUnits::~SystemdUnits() {
  drop_bus();
}

bool SystemdUnits::systemd_is_init() {
  static const bool booted = sd_booted() > 0;
  return booted;
}

void SystemdUnits::drop_bus() {
  if (bus_ != nullptr) bus_ = sd_bus_flush_close_unref(bus_);
}

Expected<sd_bus*> SystemdUnits::bus() {
  if (bus_ != nullptr && sd_bus_is_open(bus_) > 0) return bus_;
  drop_bus();
  sd_bus* b = nullptr;
  int r = -EPERM;
  // systemd's own socket (root only) works with no D-Bus daemon running, as systemctl does.
  if (::geteuid() == 0) {
    r = sd_bus_new(&b);
    if (r >= 0) r = sd_bus_set_address(b, "unix:path=/run/systemd/private");
    if (r >= 0) r = sd_bus_start(b);
    if (r < 0) b = sd_bus_unref(b);
  }
  if (r < 0) {
    r = sd_bus_open_system(&b);
    if (r < 0) {
      return errno_error(r, "connecting to systemd (/run/systemd/private, then the system bus)");
    }
  }
  sd_bus_set_method_call_timeout(b, kCallTimeoutUsec);
  bus_ = b;
  return bus_;
}

Expected<bool> SystemdUnits::owns(const std::string& unit, const std::string& control_group) {
  auto b = bus();
  if (!b) return b.error();
  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply = nullptr;
  int r = sd_bus_call_method(*b, kDestination, kManagerPath, kManagerInterface, "GetUnit", &error,
                             &reply, "s", unit.c_str());
  if (r < 0) {
    const bool unknown = sd_bus_error_has_name(&error, "org.freedesktop.systemd1.NoSuchUnit");
    Error e = bus_error(fmt::format("systemd GetUnit({})", unit), r, error);
    sd_bus_error_free(&error);
    if (unknown) return false;
    drop_bus();  // a broken connection is made again at the next call
    return e;
  }
  const char* object = nullptr;
  r = sd_bus_message_read(reply, "o", &object);
  const std::string path = r >= 0 && object != nullptr ? object : "";
  sd_bus_message_unref(reply);
  if (path.empty()) return errno_error(r < 0 ? r : EBADMSG, "systemd GetUnit({}): reply", unit);
  const std::string interface = ends_with(unit, ".slice") ? "org.freedesktop.systemd1.Slice"
                                                          : "org.freedesktop.systemd1.Scope";
  char* cgroup = nullptr;
  r = sd_bus_get_property_string(*b, kDestination, path.c_str(), interface.c_str(), "ControlGroup",
                                 &error, &cgroup);
  if (r < 0) {
    Error e = bus_error(fmt::format("systemd {} ControlGroup", unit), r, error);
    sd_bus_error_free(&error);
    return e;
  }
  const bool same = control_group == cgroup;
  std::free(cgroup);
  return same;
}

Expected<void> SystemdUnits::set_properties(const std::string& unit,
                                            const std::vector<SystemdProperty>& properties) {
  auto b = bus();
  if (!b) return b.error();
  sd_bus_message* m = nullptr;
  int r = sd_bus_message_new_method_call(*b, &m, kDestination, kManagerPath, kManagerInterface,
                                         "SetUnitProperties");
  if (r >= 0) r = sd_bus_message_append(m, "sb", unit.c_str(), 1);
  if (r >= 0) r = sd_bus_message_open_container(m, 'a', "(sv)");
  for (const SystemdProperty& p : properties) {
    if (r >= 0) r = append_property(m, p);
  }
  if (r >= 0) r = sd_bus_message_close_container(m);
  if (r < 0) {
    sd_bus_message_unref(m);
    return errno_error(r, "systemd SetUnitProperties({}): building the message", unit);
  }
  sd_bus_error error = SD_BUS_ERROR_NULL;
  r = sd_bus_call(*b, m, 0, &error, nullptr);
  sd_bus_message_unref(m);
  if (r < 0) {
    Error e = bus_error(fmt::format("systemd SetUnitProperties({})", unit), r, error);
    sd_bus_error_free(&error);
    if (sd_bus_is_open(*b) <= 0) drop_bus();
    return e;
  }
  return {};
}

}  // namespace enforcer
