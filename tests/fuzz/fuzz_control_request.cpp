// libFuzzer target: one control request line (lib/control/control_protocol.hpp). Whatever the
// bytes, parse_request must return (no crash, no exception, no sanitizer report) and every response
// built from its result must be one line of valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "control/control_protocol.hpp"
#include "control/overrides.hpp"

namespace {

void check_line(const std::string& line) {
  if (line.empty() || line.back() != '\n' || line.find('\n') != line.size() - 1) std::abort();
  if (!nlohmann::json::accept(line)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace enforcer;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const ParsedRequest p = parse_request(line);
  if (!p.request) {
    if (p.error.code.empty() || p.error.message.empty()) std::abort();
    check_line(error_response(p.error));
    return 0;
  }
  const Request& r = *p.request;
  if (r.version != kProtocolVersion) std::abort();
  if (is_change(r.command) && r.reason.empty()) std::abort();
  if (r.for_duration && r.until_unix_seconds) std::abort();
  if (r.resource == Resource::kThrottle) std::abort();
  // What the daemon would do next with the fields: parse the value, answer.
  if (r.resource) (void)parse_override_value(*r.resource, r.value);
  if (r.command == Command::kThrottle) (void)parse_override_value(Resource::kThrottle, r.value);
  nlohmann::json result = {{"command", std::string(to_string(r.command))},
                           {"experiment", r.experiment},
                           {"value", r.value},
                           {"reason", r.reason}};
  check_line(ok_response(r.id, std::move(result)));
  check_line(error_response(ProtocolError{"unknown_experiment", r.experiment, r.id},
                            {{"known", {r.experiment, r.value}}}));
  return 0;
}
