// Errors keep the errno of the system call that failed, beside their text.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/expected.hpp"
#include "base/state_file.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using enforcer::test::TempDir;

TEST_CASE("errno_error formats what failed, the errno's text, and keeps the errno") {
  const Error e = errno_error(ENOENT, "cannot open {}", "/x/y");
  CHECK(e.message == std::string("cannot open /x/y: ") + std::strerror(ENOENT));
  CHECK(e.code == ENOENT);
  // libbpf returns -errno: the code is the errno itself.
  CHECK(errno_error(-EPERM, "cannot attach").code == EPERM);
  CHECK(Error{"not a system call"}.code == 0);
}

TEST_CASE("a state file that cannot be written reports the errno") {
  TempDir dir;
  const auto r = write_file_atomic((dir.path / "no-such-folder" / "state.json").string(), "{}");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ENOENT);
  CHECK(r.error().message.find("no-such-folder") != std::string::npos);
}
