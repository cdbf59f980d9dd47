// libFuzzer target: the config parser (lib/config/config.hpp). parse_config must return for any
// bytes, every error must say something, and a config it accepts must be written back by
// format_config (what --check-config prints) as TOML that parses to the same effective
// configuration. Experiments given by index read a fixed kernel command line (an M-Lab node's),
// never a file.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace enforcer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const CmdlineReader cmdline = [](const std::string&) -> Expected<std::string> {
    return std::string(
        "BOOT_IMAGE=/vmlinuz epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8,8.8.4.4 "
        "epoxy.ipv6=2001:1900:2100:2d::112/64,2001:1900:2100:2d::1,2001:4860:4860::8888,"
        "2001:4860:4860::8844 net.ifnames=0\n");
  };
  const ConfigResult first = parse_config(text, "fuzz", cmdline);
  if (!first.config) {
    if (first.errors.empty()) std::abort();
    for (const auto& e : first.errors) {
      if (e.message.empty()) std::abort();
    }
    return 0;
  }
  const std::string once = format_config(*first.config);
  const ConfigResult again = parse_config(once, "formatted", cmdline);
  if (!again.config) std::abort();  // --check-config printed something the daemon rejects
  if (format_config(*again.config) != once) std::abort();
  return 0;
}
