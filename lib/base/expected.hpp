// Errors as values: Expected<T> holds either a T or an Error with a human-readable message and,
// when a system call failed, its errno (so that a caller can tell "gone" from "refused" without
// reading the text).
#pragma once

#include <fmt/format.h>

#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace enforcer {

struct Error {
  std::string message;
  int code = 0;  // the errno of the failed system call (positive); 0 when the error is not one
};

// errno_error(err, "cannot open {}", path): the message "cannot open PATH: <strerror(err)>" and
// code err. A negative err (libbpf's -errno) is read as its absolute value. The arguments are
// evaluated before the call, so errno is read before anything formats.
template <typename... Args>
Error errno_error(int err, fmt::format_string<Args...> what, Args&&... args) {
  const int code = err < 0 ? -err : err;
  return Error{
      fmt::format("{}: {}", fmt::format(what, std::forward<Args>(args)...), std::strerror(code)),
      code};
}

template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Expected(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Expected<void>: success or an Error.
template <>
class [[nodiscard]] Expected<void> {
 public:
  Expected() = default;
  Expected(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace enforcer
