// Parsing of cgroup v2 statistics files (issue 5, acceptance 6): the kernel's own text, keys of
// later kernels, and malformed text.
#include <catch2/catch.hpp>

#include <string>

#include "pods/cgroup_stats.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;

TEST_CASE("cpu.stat", "[cgroup_stats]") {
  SECTION("with the cpu controller enabled (a 6.x kernel)") {
    const auto s = parse_cpu_stat(
        "usage_usec 5014356\nuser_usec 4990000\nsystem_usec 24356\ncore_sched.force_idle_usec 0\n"
        "nr_periods 50\nnr_throttled 48\nthrottled_usec 15003741\nnr_bursts 0\nburst_usec 0\n");
    REQUIRE(s.ok());
    CHECK(s->usage_usec == 5014356);
    CHECK(s->user_usec == 4990000);
    CHECK(s->system_usec == 24356);
    CHECK(s->nr_periods == 50);
    CHECK(s->nr_throttled == 48);
    CHECK(s->throttled_usec == 15003741);
    CHECK(s->bandwidth_stats);
  }
  SECTION("without it: only the usage keys") {
    const auto s = parse_cpu_stat("usage_usec 12\nuser_usec 10\nsystem_usec 2\n");
    REQUIRE(s.ok());
    CHECK(s->usage_usec == 12);
    CHECK(s->nr_throttled == 0);
    CHECK(s->throttled_usec == 0);
    CHECK_FALSE(s->bandwidth_stats);
  }
  SECTION("no trailing newline, extra blanks") {
    const auto s = parse_cpu_stat("usage_usec  7\n\nthrottled_usec\t3");
    REQUIRE(s.ok());
    CHECK(s->usage_usec == 7);
    CHECK(s->throttled_usec == 3);
  }
  SECTION("malformed") {
    struct Case {
      const char* text;
      const char* needle;
    };
    for (const Case& c : {
             Case{"", "empty"},
             Case{"user_usec 5\n", "usage_usec"},
             Case{"usage_usec\n", "line 1"},
             Case{"usage_usec 1\nnr_throttled x\n", "line 2"},
             Case{"usage_usec 1\nnr_throttled -4\n", "-4"},
             Case{"usage_usec 1.5\n", "1.5"},
             Case{"usage_usec 99999999999999999999999\n", "99999999999999999999999"},
             Case{"usage_usec 1 2\n", "usage_usec 1 2"},
             Case{"usage_usec 1\nusage_usec 2\n", "twice"},
             Case{"<html>error</html>", "<html>"},
         }) {
      INFO(c.text);
      const auto s = parse_cpu_stat(c.text);
      REQUIRE_FALSE(s.ok());
      CHECK_THAT(s.error().message, Contains("cpu.stat"));
      CHECK_THAT(s.error().message, Contains(c.needle));
    }
  }
  SECTION("an unknown key's value is not read") {
    CHECK(parse_cpu_stat("usage_usec 1\nfuture_key 0.5\n").ok());
  }
}

TEST_CASE("memory.events", "[cgroup_stats]") {
  const auto e =
      parse_memory_events("low 0\nhigh 1532\nmax 220\noom 3\noom_kill 2\noom_group_kill 0\n");
  REQUIRE(e.ok());
  CHECK(e->low == 0);
  CHECK(e->high == 1532);
  CHECK(e->max == 220);
  CHECK(e->oom == 3);
  CHECK(e->oom_kill == 2);
  // The keys in another order, a key of a later kernel, no "low".
  const auto f = parse_memory_events("oom_kill 9\nsomething_new 4\nmax 1\nhigh 2\noom 5");
  REQUIRE(f.ok());
  CHECK(f->oom_kill == 9);
  CHECK(f->oom == 5);
  CHECK(f->low == 0);
  struct Case {
    const char* text;
    const char* needle;
  };
  for (const Case& c : {
           Case{"", "empty"},
           Case{"low 0\nhigh 0\nmax 0\noom 0\n", "oom_kill"},
           Case{"low 0\nhigh 0\nmax 0\noom 0\noom_kill many\n", "line 5"},
           Case{"low 0 high 0\n", "line 1"},
           Case{"high 1\nmax 0\noom 0\noom_kill 1\noom_kill 2\n", "twice"},
       }) {
    INFO(c.text);
    const auto r = parse_memory_events(c.text);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains("memory.events"));
    CHECK_THAT(r.error().message, Contains(c.needle));
  }
}

TEST_CASE("memory.current", "[cgroup_stats]") {
  CHECK(*parse_memory_current("268431360\n") == 268431360);
  CHECK(*parse_memory_current("0") == 0);
  CHECK(*parse_memory_current(" 4096 \n") == 4096);
  for (const char* bad : {"", "\n", "max\n", "-1\n", "12 34\n", "1e9\n", "4096x\n"}) {
    INFO('"' << bad << '"');
    const auto r = parse_memory_current(bad);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Contains("memory.current"));
  }
}

TEST_CASE("io.stat", "[cgroup_stats]") {
  SECTION("several devices, summed per op") {
    const auto s = parse_io_stat(
        "253:0 rbytes=1048576 wbytes=52428800 rios=256 wios=12800 dbytes=0 dios=0\n"
        "7:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=512 dios=1\n");
    REQUIRE(s.ok());
    REQUIRE(s->devices.size() == 2);
    CHECK(s->devices[0].major == 253);
    CHECK(s->devices[0].minor == 0);
    CHECK(s->devices[0].counters.rbytes == 1048576);
    CHECK(s->devices[0].counters.wbytes == 52428800);
    CHECK(s->devices[0].counters.rios == 256);
    CHECK(s->devices[0].counters.wios == 12800);
    CHECK(s->devices[1].major == 7);
    CHECK(s->devices[1].counters.dbytes == 512);
    CHECK(s->total.rbytes == 1048576 + 4096);
    CHECK(s->total.wbytes == 52428800 + 8192);
    CHECK(s->total.rios == 257);
    CHECK(s->total.wios == 12802);
    CHECK(s->total.dbytes == 512);
    CHECK(s->total.dios == 1);
  }
  SECTION("no I/O yet: an empty file") {
    const auto s = parse_io_stat("");
    REQUIRE(s.ok());
    CHECK(s->devices.empty());
    CHECK(s->total == IoCounters{});
  }
  SECTION("keys of io.cost and io.latency, and a device line without counters") {
    const auto s = parse_io_stat(
        "8:16 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0 cost.vrate=100.00 "
        "cost.usage=1234 cost.wait=0 cost.indebt=0 cost.indelay=0 use_delay=0 delay_nsec=0\n"
        "8:32\n"
        "8:0 wbytes=5\n");
    REQUIRE(s.ok());
    REQUIRE(s->devices.size() == 3);
    CHECK(s->devices[0].counters.wbytes == 20);
    CHECK(s->devices[1].counters == IoCounters{});
    CHECK(s->devices[2].counters.wbytes == 5);
    CHECK(s->devices[2].counters.rbytes == 0);
    CHECK(s->total.wbytes == 25);
  }
  SECTION("malformed") {
    struct Case {
      const char* text;
      const char* needle;
    };
    for (const Case& c : {
             Case{"253 rbytes=1\n", "\"253\" is not MAJ:MIN"},
             Case{"a:b rbytes=1\n", "a:b"},
             Case{"253:0 rbytes=1\n253:x rbytes=1\n", "line 2"},
             Case{"253:0 rbytes=-1\n", "rbytes=-1"},
             Case{"253:0 rbytes=1 wbytes\n", "\"wbytes\" is not key=value"},
             Case{"253:0 rbytes=1 =5\n", "=5"},
             Case{"253:0 wios=\n", "wios="},
             Case{"rbytes=1 wbytes=2\n", "rbytes=1"},
             Case{"99999999999:0 rbytes=1\n", "99999999999:0"},
         }) {
      INFO(c.text);
      const auto r = parse_io_stat(c.text);
      REQUIRE_FALSE(r.ok());
      CHECK_THAT(r.error().message, Contains("io.stat"));
      CHECK_THAT(r.error().message, Contains(c.needle));
    }
  }
}
