// The entry points (parse_config, read_cmdline_file, resolve_devices) and the
// methods of config.hpp's types; the tables themselves are read in config_parse_*.cpp.
#include "config/config.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <cerrno>
#include <cstring>

#include "base/units.hpp"
#include "config/config_parse.hpp"

namespace enforcer {

using config_parse::Parser;

std::string format_min_rate(const MinRate& m) {
  return m.is_fraction ? format_percent(m.fraction) : format_rate_bits(m.bits_per_second);
}

std::uint64_t Allocation::min_rate_bits() const {
  if (!min_rate.is_fraction) return min_rate.bits_per_second;
  return static_cast<std::uint64_t>(
      std::llround(min_rate.fraction * static_cast<double>(bandwidth_bits)));
}

bool Allocation::min_rate_is_stop() const {
  return min_rate.is_fraction ? min_rate.fraction == 0 : min_rate.bits_per_second == 0;
}

std::string Allocation::min_rate_problem() const {
  if (min_rate_is_stop() || min_rate_bits() >= kMinRateBits) return {};
  return fmt::format(
      "comes to {} bit/s: must be 0 (a hard stop once the budget is spent) or at "
      "least {}, the datapath's smallest rate",
      min_rate_bits(), format_rate_bits(kMinRateBits));
}

std::string ConfigError::to_string() const {
  if (line > 0) return fmt::format("{}:{}: {}", source, line, message);
  return fmt::format("{}: {}", source, message);
}

std::string_view to_string(Enforcement e) {
  switch (e) {
    case Enforcement::kAuto:
      return "auto";
    case Enforcement::kEdt:
      return "edt";
    case Enforcement::kPolice:
      return "police";
  }
  return "?";
}

std::string_view to_string(OnStop s) {
  return s == OnStop::kHold ? "hold" : "remove";
}

std::string_view to_string(CgroupManager m) {
  switch (m) {
    case CgroupManager::kAuto:
      return "auto";
    case CgroupManager::kSystemd:
      return "systemd";
    case CgroupManager::kCgroupfs:
      return "cgroupfs";
  }
  return "?";
}

Expected<std::string> read_cmdline_file(const std::string& path) {
  // A kernel command line is at most a few KiB (COMMAND_LINE_SIZE); the bound keeps a path such
  // as /dev/zero from being read for ever.
  constexpr std::size_t kMax = 1 << 20;
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{std::strerror(errno)};
  std::string text(kMax + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return Error{std::strerror(errno)};
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMax) return Error{fmt::format("longer than {} bytes", kMax)};
  return text;
}

ConfigResult parse_config(std::string_view text, std::string_view source,
                          const CmdlineReader& read_cmdline) {
  toml::table doc;
  try {
    doc = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return ConfigResult{std::nullopt,
                        {ConfigError{std::string(source), static_cast<int>(e.source().begin.line),
                                     "", fmt::format("TOML syntax error: {}", e.description())}},
                        {}};
  }
  // `enabled = false` means the same in one text as in a file with drop-ins.
  std::vector<ConfigError> errors;
  ConfigSources sources;
  config_layers::remove_disabled(doc, errors, sources.disabled);
  ConfigResult r = config_parse::read_document(doc, source, read_cmdline, nullptr);
  if (!errors.empty()) {
    errors.insert(errors.end(), r.errors.begin(), r.errors.end());
    return ConfigResult{std::nullopt, std::move(errors), std::move(sources)};
  }
  r.sources = std::move(sources);
  return r;
}

namespace config_parse {

ConfigResult read_document(const toml::table& doc, std::string_view source,
                           const CmdlineReader& read_cmdline,
                           const config_layers::ValueFileMap* values) {
  Parser p(source, values);
  Config c;
  p.check_keys(doc, "", {"daemon", "network", "defaults", "experiment", "device", "override"});
  auto section = [&](std::string_view name) -> const toml::table* {
    const toml::node* n = doc.get(name);
    if (!n) return nullptr;
    if (!n->is_table()) {
      p.error(n, std::string(name), fmt::format("{} must be a table ([{}])", name, name));
      return nullptr;
    }
    return n->as_table();
  };
  // [daemon] first: the tick is needed to check windows.
  if (const toml::table* t = section("daemon")) parse_daemon(p, *t, c.daemon);
  if (const toml::table* t = section("network")) parse_network(p, *t, c.network, read_cmdline);
  parse_defaults(p, section("defaults"), c);
  if (const toml::node* n = doc.get("experiment")) parse_experiments(p, *n, c, read_cmdline);
  if (const toml::node* n = doc.get("device")) parse_devices(p, *n, c);
  if (const toml::node* n = doc.get("override")) parse_overrides(p, *n, c);

  if (!p.errors().empty()) return ConfigResult{std::nullopt, std::move(p.errors()), {}};
  return ConfigResult{std::move(c), {}, {}};
}

}  // namespace config_parse

namespace {

// io.max takes whole disks only: the kernel answers a partition with ENODEV. A message when
// major:minor is a partition (naming its disk where sysfs tells it); else empty.
std::string partition_problem(const std::string& sysfs, std::uint32_t major, std::uint32_t minor) {
  const std::string dev = fmt::format("{}/dev/block/{}:{}", sysfs, major, minor);
  struct stat part {};
  if (::stat((dev + "/partition").c_str(), &part) != 0) return {};
  std::string disk;
  char target[4096];
  const ssize_t n = ::readlink(dev.c_str(), target, sizeof(target) - 1);
  if (n > 0) {
    std::string link(target, static_cast<std::size_t>(n));
    const auto last = link.rfind('/');
    const auto prev = last == std::string::npos ? std::string::npos : link.rfind('/', last - 1);
    if (prev != std::string::npos) disk = link.substr(prev + 1, last - prev - 1);
  }
  return fmt::format("{}:{} is a partition; io.max limits whole disks{}", major, minor,
                     disk.empty() ? "" : fmt::format(" (its disk is /dev/{})", disk));
}

}  // namespace

std::vector<ConfigError> resolve_devices(Config& config, std::string_view source,
                                         const std::string& sysfs) {
  std::vector<ConfigError> errors;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::string> seen;  // major:minor -> path
  for (std::size_t i = 0; i < config.devices.size(); ++i) {
    DeviceConfig& d = config.devices[i];
    d.resolved = false;
    auto fail = [&](std::string message) {
      errors.push_back(ConfigError{d.file.empty() ? std::string(source) : d.file, d.line,
                                   fmt::format("device \"{}\".path", d.path),
                                   fmt::format("device \"{}\": {}", d.path, message)});
    };
    struct stat st {};
    if (::stat(d.path.c_str(), &st) != 0) {
      const int err = errno;
      fail(err == ENOENT ? std::string("no such device (the path does not exist)")
                         : fmt::format("cannot stat it: {}", std::strerror(err)));
      continue;
    }
    if (!S_ISBLK(st.st_mode)) {
      const char* kind = S_ISCHR(st.st_mode)   ? "a character device"
                         : S_ISDIR(st.st_mode) ? "a directory"
                         : S_ISREG(st.st_mode) ? "a regular file"
                                               : "not a device";
      fail(fmt::format("not a block device (it is {})", kind));
      continue;
    }
    const std::uint32_t major = ::major(st.st_rdev);
    const std::uint32_t minor = ::minor(st.st_rdev);
    if (std::string problem = partition_problem(sysfs, major, minor); !problem.empty()) {
      fail(std::move(problem));
      continue;
    }
    if (auto [it, fresh] = seen.emplace(std::pair{major, minor}, d.path); !fresh) {
      fail(fmt::format("the same device ({}:{}) as \"{}\"", major, minor, it->second));
      continue;
    }
    d.major = major;
    d.minor = minor;
    d.resolved = true;
  }
  return errors;
}

}  // namespace enforcer
