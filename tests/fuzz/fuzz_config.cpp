// libFuzzer target: the config parser (lib/config.hpp). parse_config must return for any bytes,
// every error must say something, and a config it accepts must be written back by format_config
// (what --check-config prints) as TOML that parses to the same effective configuration.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace enforcer;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const ConfigResult first = parse_config(text, "fuzz");
  if (!first.config) {
    if (first.errors.empty()) std::abort();
    for (const auto& e : first.errors) {
      if (e.message.empty()) std::abort();
    }
    return 0;
  }
  const std::string once = format_config(*first.config);
  const ConfigResult again = parse_config(once, "formatted");
  if (!again.config) std::abort();  // --check-config printed something the daemon rejects
  if (format_config(*again.config) != once) std::abort();
  return 0;
}
