// load_config: the main file, the drop-ins that apply on this host, the values read from files,
// then the one merged document read as parse_config reads a text (config_layers.hpp has the
// steps); and the system's file access (system_file_access).
#include "config/config_files.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>

#include <dirent.h>
#include <limits.h>
#include <unistd.h>

#include "config/config_layers.hpp"
#include "config/config_parse.hpp"

namespace enforcer {

using namespace config_layers;

std::string dropin_dir_of(const ConfigPaths& paths) {
  if (!paths.dropin_dir.empty()) return paths.dropin_dir;
  const auto slash = paths.main.rfind('/');
  if (slash == std::string::npos) return "enforcer.d";
  return paths.main.substr(0, slash + 1) + "enforcer.d";
}

namespace {

Expected<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error{std::strerror(errno)};
  // In pieces, up to one byte more than allowed: that tells a file that is too large, and
  // /dev/zero is not read for ever (nor is the whole allowance allocated for a small file).
  std::string text;
  char piece[65536];
  while (text.size() <= max_bytes) {
    const std::size_t want = std::min(sizeof piece, max_bytes + 1 - text.size());
    in.read(piece, static_cast<std::streamsize>(want));
    if (in.bad()) return Error{std::strerror(errno)};
    text.append(piece, static_cast<std::size_t>(in.gcount()));
    if (in.eof()) break;
  }
  if (text.size() > max_bytes) return Error{fmt::format("larger than {} bytes", max_bytes)};
  return text;
}

Expected<DirListing> list_dir(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return DirListing{};
    return Error{std::strerror(errno)};
  }
  DirListing out{true, {}};
  while (const dirent* e = ::readdir(d)) out.names.emplace_back(e->d_name);
  ::closedir(d);
  return out;
}

Expected<std::string> kernel_hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return Error{std::strerror(errno)};
  return std::string(name);
}

// The drop-ins of a listing: `*.toml` not starting with '.' (editors' and Kubernetes' own
// entries, such as ConfigMap's ..data), in byte order.
std::vector<std::string> dropin_names(std::vector<std::string> names) {
  std::vector<std::string> out;
  for (auto& n : names) {
    if (n.size() > 5 && n.front() != '.' && n.compare(n.size() - 5, 5, ".toml") == 0) {
      out.push_back(std::move(n));
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// One file read and parsed (its nodes name `path`); nullopt after an error.
std::optional<toml::table> parse_file(const std::string& path, const ConfigFileAccess& access,
                                      std::vector<ConfigError>& errors) {
  const auto text = access.read_file(path, kMaxConfigFileBytes);
  if (!text) {
    errors.push_back(
        ConfigError{path, 0, "", fmt::format("cannot read {}: {}", path, text.error().message)});
    return std::nullopt;
  }
  try {
    return toml::parse(*text, path);
  } catch (const toml::parse_error& e) {
    errors.push_back(ConfigError{path, static_cast<int>(e.source().begin.line), "",
                                 fmt::format("TOML syntax error: {}", e.description())});
    return std::nullopt;
  }
}

// daemon.hostname of the main file (the host name drop-ins are matched against), or the
// kernel's, asked once.
class Hostname {
 public:
  Hostname(const toml::table& main, const ConfigFileAccess& access) : access_(access) {
    if (const toml::node* n = main.at_path("daemon.hostname").node();
        n && n->is_string() && !n->as_string()->get().empty()) {
      name_ = n->as_string()->get();
    }
  }
  Expected<std::string> operator()() {
    if (!name_) name_ = access_.hostname();
    return *name_;
  }

 private:
  const ConfigFileAccess& access_;
  std::optional<Expected<std::string>> name_;
};

// The drop-ins of the directory into `doc`, those that apply on this host.
void apply_dropins(toml::table& doc, const std::string& dir, bool dir_given,
                   const ConfigFileAccess& access, ConfigResult& r) {
  const auto listing = access.list_dir(dir);
  if (!listing) {
    r.errors.push_back(ConfigError{
        dir, 0, "",
        fmt::format("cannot list the drop-in directory {}: {}", dir, listing.error().message)});
    return;
  }
  if (!listing->exists) {
    // enforcer.d beside the main file is optional; a directory asked for must be there.
    if (dir_given) {
      r.errors.push_back(
          ConfigError{dir, 0, "", fmt::format("the drop-in directory {} does not exist", dir)});
    }
    return;
  }
  Hostname hostname(doc, access);
  const HostnameSource host = [&hostname] { return hostname(); };
  for (const std::string& name : dropin_names(listing->names)) {
    const std::string path = dir.back() == '/' ? dir + name : dir + "/" + name;
    auto dropin = parse_file(path, access, r.errors);
    if (!dropin) continue;
    std::string why;
    const std::size_t errors_before = r.errors.size();
    if (!dropin_applies(*dropin, host, r.errors, why)) {
      if (r.errors.size() == errors_before) r.sources.skipped.push_back(SkippedDropin{path, why});
      continue;
    }
    if (const toml::node* n = dropin->at_path("daemon.hostname").node()) {
      r.errors.push_back(error_at(*n, "daemon.hostname",
                                  "daemon.hostname chooses the drop-ins: set it in the main "
                                  "file only"));
      continue;
    }
    r.sources.files.push_back(path);
    merge_dropin(doc, *dropin, r.errors);
  }
}

}  // namespace

ConfigFileAccess system_file_access() {
  return ConfigFileAccess{read_file, list_dir, kernel_hostname, read_cmdline_file};
}

ConfigResult load_config(const ConfigPaths& paths, const ConfigFileAccess& access) {
  ConfigResult r;
  r.sources.dropin_dir = dropin_dir_of(paths);
  auto doc = parse_file(paths.main, access, r.errors);
  if (!doc) return r;
  r.sources.files.push_back(paths.main);
  reject_match(*doc, r.errors);
  apply_dropins(*doc, r.sources.dropin_dir, !paths.dropin_dir.empty(), access, r);
  remove_disabled(*doc, r.errors, r.sources.disabled);
  ValueFileMap values;
  const ValueFileReader read_value = [&access](const std::string& path) {
    return access.read_file(path, kMaxValueFileBytes);
  };
  resolve_value_files(*doc, read_value, values, r.sources.watched_files, r.errors);
  collect_origins(*doc, values, r.sources.origins);
  ConfigResult parsed = config_parse::read_document(*doc, paths.main, access.read_cmdline, &values);
  r.errors.insert(r.errors.end(), parsed.errors.begin(), parsed.errors.end());
  if (r.errors.empty()) r.config = std::move(parsed.config);
  return r;
}

ConfigResult load_config(const std::string& path, const CmdlineReader& read_cmdline) {
  ConfigFileAccess access = system_file_access();
  access.read_cmdline = read_cmdline;
  return load_config(ConfigPaths{path, ""}, access);
}

}  // namespace enforcer
