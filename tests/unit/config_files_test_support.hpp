// Helpers for the tests of loading a configuration from its files (test_config_dropins.cpp,
// test_config_file_values.cpp): an in-memory file system behind ConfigFileAccess.
#pragma once

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "config/config_files.hpp"

namespace enforcer::test {

struct FakeFiles {
  std::map<std::string, std::string> files;  // path -> text
  std::string hostname = "mlab2-lga03.mlab-oti.measurement-lab.org";
  int hostname_calls = 0;
  std::vector<std::string> reads;  // every path read, in order

  ConfigFileAccess access() {
    ConfigFileAccess a;
    a.read_file = [this](const std::string& path, std::size_t) -> Expected<std::string> {
      reads.push_back(path);
      auto it = files.find(path);
      if (it == files.end()) return Error{"No such file or directory"};
      return it->second;
    };
    a.list_dir = [this](const std::string& dir) -> Expected<DirListing> {
      DirListing out;
      const std::string prefix = dir + "/";
      for (const auto& [path, text] : files) {
        if (path.rfind(prefix, 0) != 0) continue;
        out.exists = true;
        const std::string rest = path.substr(prefix.size());
        if (rest.find('/') == std::string::npos) out.names.push_back(rest);
      }
      return out;
    };
    a.hostname = [this]() -> Expected<std::string> {
      ++hostname_calls;
      return hostname;
    };
    a.read_cmdline = [](const std::string&) -> Expected<std::string> {
      return std::string("epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8,8.8.4.4\n");
    };
    return a;
  }

  ConfigResult load(const std::string& dropin_dir = "") {
    return load_config(ConfigPaths{"/etc/enforcer/enforcer.toml", dropin_dir}, access());
  }
};

inline constexpr const char* kMain = "/etc/enforcer/enforcer.toml";
inline constexpr const char* kDropins = "/etc/enforcer/enforcer.d";

inline std::string dropin(const std::string& name) {
  return std::string(kDropins) + "/" + name;
}

inline std::string describe_errors(const ConfigResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += "\n  " + e.to_string();
  return out;
}

inline Config load_ok(FakeFiles& fs, const std::string& dropin_dir = "") {
  const ConfigResult r = fs.load(dropin_dir);
  INFO("errors:" << describe_errors(r));
  REQUIRE(r.errors.empty());
  REQUIRE(r.config.has_value());
  return *r.config;
}

// The one error of a load that must fail.
inline ConfigError load_error(FakeFiles& fs, const std::string& dropin_dir = "") {
  const ConfigResult r = fs.load(dropin_dir);
  INFO("errors:" << describe_errors(r));
  CHECK_FALSE(r.config.has_value());
  REQUIRE(r.errors.size() == 1);
  return r.errors.front();
}

}  // namespace enforcer::test
