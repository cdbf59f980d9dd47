#include "base/json_text.hpp"

#include <string>

namespace enforcer {

std::string_view json_error_text(const std::exception& e) {
  std::string_view s = e.what();
  if (s.substr(0, 1) == "[") {
    if (const auto end = s.find("] "); end != std::string_view::npos) s.remove_prefix(end + 2);
  }
  return s;
}

Expected<nlohmann::json> parse_json_text(std::string_view text) {
  try {
    return nlohmann::json::parse(text.begin(), text.end());
  } catch (const nlohmann::json::exception& e) {
    return Error{std::string{json_error_text(e)}};
  }
}

}  // namespace enforcer
