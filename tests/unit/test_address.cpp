// IPv4/IPv6 addresses and prefixes as the config names them.
#include <catch2/catch.hpp>

#include <string>

#include "base/address.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;

namespace {

Prefix prefix(const char* text) {
  const auto p = parse_prefix(text);
  INFO("prefix: " << text << (p.ok() ? "" : " error: " + p.error().message));
  REQUIRE(p.ok());
  return *p;
}

}  // namespace

TEST_CASE("IPv4 addresses and prefixes parse", "[address]") {
  const Prefix a = prefix("198.18.0.10");
  CHECK_FALSE(a.v6);
  CHECK(a.length == 32);
  CHECK(a.bytes[0] == 198);
  CHECK(a.bytes[1] == 18);
  CHECK(a.bytes[2] == 0);
  CHECK(a.bytes[3] == 10);
  for (std::size_t i = 4; i < a.bytes.size(); ++i) CHECK(a.bytes[i] == 0);

  const Prefix p = prefix("198.18.0.0/15");
  CHECK_FALSE(p.v6);
  CHECK(p.length == 15);
  CHECK(p.bytes[0] == 198);
  CHECK(p.bytes[1] == 18);

  CHECK(prefix("0.0.0.0/0").length == 0);
  CHECK(prefix("10.1.2.3/32").length == 32);
  CHECK(prefix("198.18.0.10/32") == a);
}

TEST_CASE("IPv6 addresses and prefixes parse", "[address]") {
  const Prefix a = prefix("2001:db8::10");
  CHECK(a.v6);
  CHECK(a.length == 128);
  CHECK(a.bytes[0] == 0x20);
  CHECK(a.bytes[1] == 0x01);
  CHECK(a.bytes[2] == 0x0d);
  CHECK(a.bytes[3] == 0xb8);
  CHECK(a.bytes[15] == 0x10);

  const Prefix p = prefix("2001:db8::/32");
  CHECK(p.v6);
  CHECK(p.length == 32);
  CHECK(prefix("::/0").length == 0);
  CHECK(prefix("2001:db8::10/128") == a);
}

TEST_CASE("malformed addresses and prefixes are rejected", "[address]") {
  for (const char* bad : {
           "198.18.0.10/33",     // longer than an IPv4 address
           "2001:db8::/129",     // longer than an IPv6 address
           "198.18.0.1/24",      // host bits set beyond the prefix
           "198.18.0.0/14",      // 18 = 0b00010010 has a bit beyond /14
           "2001:db8::1/64",     // host bits set
           "2001:db8::/16",      // 0x0db8 lies beyond /16
           "198.18.0",           // too short
           "198.18.0.256",       // octet out of range
           "not-an-address",     //
           "",                   //
           "198.18.0.10/",       // empty length
           "198.18.0.10/abc",    //
           "198.18.0.10/24x",    //
           "198.18.0.10/ 32",    //
           "2001:db8:::1",       //
           "198.18.0.10/32/32",  //
       }) {
    INFO("text: \"" << bad << "\"");
    const auto p = parse_prefix(bad);
    REQUIRE_FALSE(p.ok());
    CHECK_THAT(p.error().message, Contains(bad));
  }
}

TEST_CASE("a negative prefix length is rejected", "[address]") {
  // "/-1" is not a prefix length; it must not silently mean a full-length address.
  for (const char* bad : {"198.18.0.10/-1", "198.18.0.10/-32", "2001:db8::10/-1"}) {
    INFO("text: " << bad);
    const auto p = parse_prefix(bad);
    CHECK_FALSE(p.ok());
  }
}

TEST_CASE("overlaps is true exactly when one prefix contains the other", "[address]") {
  struct Case {
    const char* a;
    const char* b;
    bool overlap;
  };
  const Case cases[] = {
      {"198.18.0.10", "198.18.0.10", true},
      {"198.18.0.10", "198.18.0.11", false},
      {"198.18.0.0/24", "198.18.0.10", true},
      {"198.18.0.10", "198.18.0.0/24", true},
      {"198.18.0.0/24", "198.18.1.0/24", false},
      {"198.18.0.0/15", "198.19.255.255", true},
      {"198.18.0.0/15", "198.20.0.0", false},
      {"198.18.0.0/25", "198.18.0.128/25", false},
      {"0.0.0.0/0", "203.0.113.7", true},
      {"2001:db8::10", "2001:db8::10", true},
      {"2001:db8::10", "2001:db8::11", false},
      {"2001:db8::/64", "2001:db8::ffff", true},
      {"2001:db8::/64", "2001:db8:0:1::1", false},
      {"2001:db8::/32", "2001:db9::", false},
      {"::/0", "2001:db8::1", true},
      // IPv4 and IPv6 never overlap, not even the v4-mapped form or the zero prefixes.
      {"198.18.0.10", "::ffff:198.18.0.10", false},
      {"0.0.0.0/0", "::/0", false},
      {"0.0.0.0", "::", false},
  };
  for (const auto& c : cases) {
    INFO(c.a << " vs " << c.b);
    const Prefix a = prefix(c.a);
    const Prefix b = prefix(c.b);
    CHECK(overlaps(a, b) == c.overlap);
    CHECK(overlaps(b, a) == c.overlap);
  }
}

TEST_CASE("to_string round-trips canonical addresses and prefixes", "[address]") {
  for (const char* text :
       {"198.18.0.10", "198.18.0.0/15", "0.0.0.0/0", "10.0.0.0/8", "2001:db8::10", "2001:db8::/32",
        "::/0", "fe80::1", "::1", "2001:db8:1:2:3:4:5:6", "2001:db8::/64"}) {
    INFO("text: " << text);
    const Prefix p = prefix(text);
    CHECK(to_string(p) == text);
    CHECK(prefix(to_string(p).c_str()) == p);
  }
  // Non-canonical spellings come back canonical and parse to the same prefix.
  CHECK(to_string(prefix("2001:0db8:0000::0010")) == "2001:db8::10");
  CHECK(to_string(prefix("198.18.0.10/32")) == "198.18.0.10");
  CHECK(to_string(prefix("2001:db8::10/128")) == "2001:db8::10");
}
