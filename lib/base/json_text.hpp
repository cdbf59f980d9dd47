// Reading JSON text that comes from outside (the control socket, the overrides file, the window
// snapshot): every way nlohmann can refuse a text becomes an Error, never an exception.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "base/expected.hpp"

namespace enforcer {

// The parsed document, or why the text is not one: a syntax error, or a number that does not
// fit a double ("3e999" throws out_of_range, not parse_error).
Expected<nlohmann::json> parse_json_text(std::string_view text);

// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string_view json_error_text(const std::exception& e);

}  // namespace enforcer
