// The log keeps every message on one line: what a request or a stored file holds cannot forge a
// line of its own, nor its syslog priority.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "base/log.hpp"
#include "temp_dir.hpp"

using namespace enforcer;

TEST_CASE("control characters are escaped, other text is kept", "[log]") {
  CHECK(escape_control("plain text, UTF-8: 1 µs") == "plain text, UTF-8: 1 µs");
  CHECK(escape_control("a\nb\rc\td") == "a\\nb\\rc\\td");
  CHECK(escape_control(std::string("nul\0esc\x1b[31mdel\x7f", 16)) ==
        "nul\\x00esc\\x1b[31mdel\\x7f");
  CHECK(escape_control("") == "");
}

TEST_CASE("a message with a newline stays one line and cannot forge a priority", "[log]") {
  test::TempDir dir;
  const std::string file = (dir.path / "stderr").string();
  const int saved = dup(STDERR_FILENO);
  REQUIRE(saved >= 0);
  const int fd = open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  fflush(stderr);
  REQUIRE(dup2(fd, STDERR_FILENO) == STDERR_FILENO);
  close(fd);
  log_info("control: uid 1000: throttle x (reason: {})", "maintenance\n<2>enforcerd: forged");
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);

  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  const std::string logged = text.str();
  CHECK(std::count(logged.begin(), logged.end(), '\n') == 1);
  CHECK(logged.find("(reason: maintenance\\n<2>enforcerd: forged)") != std::string::npos);
}
