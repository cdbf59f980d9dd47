// Fd: the one owner of a file descriptor; each test checks the kernel's view with fcntl(F_GETFD).
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <utility>

#include "base/fd.hpp"

using namespace enforcer;

namespace {

bool is_open(int fd) {
  return ::fcntl(fd, F_GETFD) != -1;
}

int open_null() {
  const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

}  // namespace

TEST_CASE("Fd closes what it holds when it goes", "[base]") {
  int raw = -1;
  {
    const Fd fd(open_null());
    raw = fd.get();
    CHECK(fd.valid());
    CHECK(is_open(raw));
  }
  CHECK_FALSE(is_open(raw));
  const Fd empty;
  CHECK_FALSE(empty.valid());
  CHECK(empty.get() == -1);
}

TEST_CASE("Fd moves ownership, leaving the moved-from one empty", "[base]") {
  Fd a(open_null());
  const int raw = a.get();
  Fd b(std::move(a));
  CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): that is the point
  CHECK(b.get() == raw);

  Fd c(open_null());
  const int other = c.get();
  c = std::move(b);  // c's own descriptor is closed, b's is now c's
  CHECK_FALSE(is_open(other));
  CHECK(c.get() == raw);
  CHECK(is_open(raw));
}

TEST_CASE("Fd release, reset and close", "[base]") {
  Fd fd(open_null());
  const int raw = fd.release();
  CHECK_FALSE(fd.valid());
  CHECK(is_open(raw));  // released: the caller owns it now
  fd.reset(raw);
  CHECK(fd.get() == raw);
  fd.reset(raw);  // the same descriptor again: kept, not closed under its own feet
  CHECK(is_open(raw));
  const int next = open_null();
  fd.reset(next);
  CHECK_FALSE(is_open(raw));
  CHECK(fd.close() == 0);
  CHECK_FALSE(is_open(next));
  CHECK_FALSE(fd.valid());
  CHECK(fd.close() == 0);  // nothing held: nothing to close
}
