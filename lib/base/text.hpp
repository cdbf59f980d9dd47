// Small text helpers for the kernel's interface files (cgroup files, /proc): whitespace is
// space, tab, CR and LF.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace enforcer {

constexpr bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

constexpr std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Trims spaces and tabs only: for values a person typed (a config or override value, a unit), in
// which a line break is not padding but a mistake that the parser reports.
constexpr std::string_view trim_blanks(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The text of an errno value; a negative one (libbpf's -errno) is read as its absolute value.
inline std::string errno_text(int err) {
  return std::strerror(err < 0 ? -err : err);
}

inline std::vector<std::string_view> split_words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const std::size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace enforcer
