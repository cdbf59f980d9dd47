#include "request.hpp"

#include <fmt/format.h>

#include <cctype>
#include <charconv>
#include <chrono>

#include "base/units.hpp"

namespace enforcer::ctl {
namespace {

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0) return false;
  }
  return true;
}

// Reads exactly `n` digits at `pos` of `s`.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size() || !all_digits(s.substr(pos, n))) return std::nullopt;
  int v = 0;
  std::from_chars(s.data() + pos, s.data() + pos + n, v);
  return v;
}

Error until_error(std::string_view text) {
  return Error{fmt::format(
      "--until \"{}\": expected RFC 3339 (\"2026-11-28T12:00:00Z\" or with an offset like "
      "\"+02:00\") or Unix seconds",
      text)};
}

}  // namespace

Expected<std::int64_t> parse_until(std::string_view text) {
  if (all_digits(text)) {
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc() || ptr != text.data() + text.size()) return until_error(text);
    return v;
  }
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  const std::string_view s = text;
  auto year = digits(s, 0, 4);
  auto month = digits(s, 5, 2);
  auto day = digits(s, 8, 2);
  auto hour = digits(s, 11, 2);
  auto minute = digits(s, 14, 2);
  auto second = digits(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return until_error(text);
  }
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    const std::size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos])) != 0) ++pos;
    if (pos == start) return until_error(text);
  }
  int offset_seconds = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int sign = s[pos] == '-' ? -1 : 1;
    auto oh = digits(s, pos + 1, 2);
    auto om = digits(s, pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || *oh > 23 || *om > 59) {
      return until_error(text);
    }
    offset_seconds = sign * (*oh * 3600 + *om * 60);
    pos += 6;
  } else {
    return Error{
        fmt::format("--until \"{}\": the time needs a zone: \"Z\" (UTC) or an offset "
                    "like \"+02:00\"",
                    text)};
  }
  if (pos != s.size()) return until_error(text);

  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year{*year},
                           std::chrono::month{static_cast<unsigned>(*month)},
                           std::chrono::day{static_cast<unsigned>(*day)}};
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 60) {
    return Error{fmt::format("--until \"{}\": no such date or time", text)};
  }
  const std::int64_t days = sys_days{ymd}.time_since_epoch().count();
  return days * 86400 + *hour * 3600 + *minute * 60 + *second - offset_seconds;
}

Expected<std::string> check_for(std::string_view text) {
  auto d = parse_duration(text);
  if (!d) return Error{"--for: " + d.error().message};
  if (d->count() <= 0) return Error{fmt::format("--for \"{}\": must be longer than 0", text)};
  return std::string(text);
}

Expected<std::chrono::milliseconds> parse_timeout(std::string_view text) {
  std::chrono::nanoseconds ns{0};
  bool plain = !text.empty();
  for (char c : text) {
    if (std::isdigit(static_cast<unsigned char>(c)) == 0 && c != '.') plain = false;
  }
  if (plain) {
    double seconds = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || ptr != text.data() + text.size()) {
      return Error{fmt::format("--timeout \"{}\": not a number of seconds", text)};
    }
    ns = std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
  } else {
    auto d = parse_duration(text);
    if (!d) return Error{"--timeout: " + d.error().message};
    ns = *d;
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(ns);
  if (ms.count() <= 0) {
    return Error{fmt::format("--timeout \"{}\": must be at least 1ms", text)};
  }
  return ms;
}

json make_request(std::string_view cmd) {
  return json{{"v", kProtocolVersion}, {"cmd", std::string(cmd)}};
}

Expected<void> add_expiry(json& request, const std::optional<std::string>& for_text,
                          const std::optional<std::string>& until_text) {
  if (for_text && until_text) return Error{"--for and --until exclude each other"};
  if (for_text) {
    auto f = check_for(*for_text);
    if (!f) return f.error();
    request["for"] = *f;
  }
  if (until_text) {
    auto u = parse_until(*until_text);
    if (!u) return u.error();
    request["until"] = *u;
  }
  return {};
}

std::string request_line(const json& request) {
  // Invalid UTF-8 (in a reason, say) is replaced rather than thrown about.
  return request.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace enforcer::ctl
