// libFuzzer target: the config parser (lib/config/config.hpp). parse_config must return for any
// bytes, every error must say something, and a config it accepts must be written back by
// format_config (what --check-config prints) as TOML that parses to the same effective
// configuration. Experiments given by index read a fixed kernel command line (an M-Lab node's),
// never a file. The same bytes are then read as a main file and drop-ins (split at lines "#---")
// by load_config, from memory: the merge, [match] and "@" values must hold to the same rules, and
// an accepted configuration printed with its sources must read back the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "config/config_files.hpp"

namespace {

using namespace enforcer;

Expected<std::string> mlab_cmdline(const std::string&) {
  return std::string(
      "BOOT_IMAGE=/vmlinuz epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8,8.8.4.4 "
      "epoxy.ipv6=2001:1900:2100:2d::112/64,2001:1900:2100:2d::1,2001:4860:4860::8888,"
      "2001:4860:4860::8844 net.ifnames=0\n");
}

void check_errors(const ConfigResult& r) {
  if (r.errors.empty()) std::abort();
  for (const auto& e : r.errors) {
    if (e.message.empty()) std::abort();
  }
}

// The text as /e/main.toml and drop-ins /e/enforcer.d/NN.toml, beside a few "@" files.
void check_layers(std::string_view text) {
  std::map<std::string, std::string> files = {{"/v/rate", "10000000000\n"},
                                              {"/v/cpu", " 1.5\n"},
                                              {"/v/word", "eth1"},
                                              {"/v/lines", "a\nb\n"},
                                              {"/v/big", std::string(5000, '1')},
                                              {"/v/empty", ""}};
  std::string main;
  int n = 0;
  for (std::size_t start = 0; start <= text.size();) {
    const std::size_t cut = text.find("\n#---\n", start);
    const std::string_view chunk = text.substr(start, cut - start);
    if (n == 0) {
      main = std::string(chunk);
    } else {
      files[std::string("/e/enforcer.d/") + char('0' + n / 10) + char('0' + n % 10) + ".toml"] =
          std::string(chunk);
    }
    ++n;
    if (cut == std::string_view::npos || n > 99) break;
    start = cut + 6;
  }
  files["/e/main.toml"] = main;
  ConfigFileAccess access;
  access.read_file = [&files](const std::string& path, std::size_t) -> Expected<std::string> {
    auto it = files.find(path);
    if (it == files.end()) return Error{"No such file or directory"};
    return it->second;
  };
  access.list_dir = [&files](const std::string& dir) -> Expected<DirListing> {
    DirListing out;
    for (const auto& [path, body] : files) {
      if (path.rfind(dir + "/", 0) == 0) {
        out.exists = true;
        out.names.push_back(path.substr(dir.size() + 1));
      }
    }
    return out;
  };
  access.hostname = []() -> Expected<std::string> { return std::string("mlab2-lga03.example"); };
  access.read_cmdline = mlab_cmdline;
  const ConfigResult r = load_config(ConfigPaths{"/e/main.toml", ""}, access);
  if (!r.config) return check_errors(r);
  const std::string printed = format_config(*r.config, &r.sources);
  const ConfigResult again = parse_config(printed, "formatted", mlab_cmdline);
  if (!again.config) std::abort();  // --check-config printed something the daemon rejects
  if (format_config(*again.config) != format_config(*r.config)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace enforcer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const CmdlineReader cmdline = mlab_cmdline;
  check_layers(text);
  const ConfigResult first = parse_config(text, "fuzz", cmdline);
  if (!first.config) {
    check_errors(first);
    return 0;
  }
  const std::string once = format_config(*first.config);
  const ConfigResult again = parse_config(once, "formatted", cmdline);
  if (!again.config) std::abort();  // --check-config printed something the daemon rejects
  if (format_config(*again.config) != once) std::abort();
  return 0;
}
