// M-Lab's addressing (lib/config/index2ip.hpp): the examples are the published ones of M-Lab's
// index2ip (github.com/m-lab/index2ip, main_test.go: TestAddIndexToIP, TestBase10AdditionInBase16,
// AddEndToEnd, and the kernel command line of mlab4.lga0t in TestMakeIPConfig).
#include <catch2/catch.hpp>

#include <limits>
#include <string>
#include <vector>

#include "config/index2ip.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;

namespace {

// The /proc/cmdline of mlab4.lga0t that index2ip's tests use.
constexpr const char* kLga0t =
    "rootflags=rw mount.usrflags=ro epoxy.ip=4.14.159.112::4.14.159.65:255.255.255.192:mlab4."
    "lga0t.measurement-lab.org:eth0:off:8.8.8.8:8.8.4.4 "
    "epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8,8.8.4.4 "
    "epoxy.ipv6=2001:1900:2100:2d::112/64,2001:1900:2100:2d::1,2001:4860:4860::8888,2001:4860:"
    "4860::8844 epoxy.interface=eth0 epoxy.hostname=mlab4.lga0t.measurement-lab.org "
    "epoxy.project=mlab-sandbox net.ifnames=0 coreos.autologin=tty1\n";

HostAddress host(const std::string& text) {
  const auto slash = text.find('/');
  auto p = parse_prefix(text.substr(0, slash));
  REQUIRE(p);
  return HostAddress{*p, static_cast<std::uint8_t>(std::stoi(text.substr(slash + 1)))};
}

std::string v4(const std::string& h, std::int64_t index) {
  auto r = index_to_ipv4(host(h), index);
  if (!r) return "error: " + r.error().message;
  return to_string(*r);
}

std::string v6(const std::string& h, std::int64_t index) {
  auto r = index_to_ipv6(host(h), index);
  if (!r) return "error: " + r.error().message;
  return to_string(*r);
}

}  // namespace

TEST_CASE("index2ip: host .9 with index 2 is .11, in IPv4 and in IPv6", "[index2ip]") {
  CHECK(v4("192.0.2.9/26", 2) == "192.0.2.11");
  // Base10AdditionInBase16({0, 9}, 2) == 0x11: the group's digits count in decimal.
  CHECK(v6("2001:db8::9/64", 2) == "2001:db8::11");
  CHECK(v6("2001:db8::9/64", 12) == "2001:db8::21");  // 0x21, not 0x15
  CHECK(v6("2001:db8::201/64", 12) == "2001:db8::213");
}

TEST_CASE("index2ip: M-Lab's published examples", "[index2ip]") {
  struct Case {
    const char* ip4;
    const char* ip6;  // "" : none
    int index;
    const char* answer4;
    const char* answer6;
  };
  // TestAddIndexToIP's good pairs (index2ip prints the host's /length after each answer; the
  // address an experiment owns is the single address).
  const std::vector<Case> cases = {
      {"1.2.3.4/26", "", 1, "1.2.3.5", ""},
      {"1.2.3.4/26", "", 5, "1.2.3.9", ""},
      {"1.2.3.4/26", "1:2::/64", 6, "1.2.3.10", "1:2::6"},
      {"1.2.3.4/26", "1:2::/64", 10, "1.2.3.14", "1:2::10"},
      {"1.2.3.4/26", "1::10/64", 11, "1.2.3.15", "1::21"},
      {"1.2.3.4/26", "", 12, "1.2.3.16", ""},
      // mlab1s are ::9, ::73, ::137, ::201; mlab4s ::48, ::112, ::176, ::240.
      {"1.2.3.9/26", "::9/64", 12, "1.2.3.21", "::21"},
      {"1.2.3.73/26", "::73/64", 11, "1.2.3.84", "::84"},
      {"1.2.3.137/26", "::137/64", 10, "1.2.3.147", "::147"},
      {"1.2.3.201/26", "::201/64", 9, "1.2.3.210", "::210"},
      {"1.2.3.48/26", "::48/64", 8, "1.2.3.56", "::56"},
      {"1.2.3.112/26", "::112/64", 7, "1.2.3.119", "::119"},
      {"1.2.3.176/26", "::176/64", 6, "1.2.3.182", "::182"},
      {"1.2.3.240/26", "::240/64", 5, "1.2.3.245", "::245"},
  };
  for (const Case& c : cases) {
    INFO(c.ip4 << " " << c.ip6 << " + " << c.index);
    CHECK(v4(c.ip4, c.index) == c.answer4);
    if (*c.ip6) CHECK(v6(c.ip6, c.index) == c.answer6);
  }
}

TEST_CASE("index2ip: mlab4.lga0t's kernel command line, index 5 (AddEndToEnd)", "[index2ip]") {
  auto host = parse_epoxy_cmdline(kLga0t);
  REQUIRE(host);
  CHECK(to_string(host->ipv4.address) == "4.14.159.112");
  CHECK(host->ipv4.subnet_length == 26);
  REQUIRE(host->ipv6);
  CHECK(to_string(host->ipv6->address) == "2001:1900:2100:2d::112");
  CHECK(host->ipv6->subnet_length == 64);
  auto addresses = index_to_addresses(*host, 5);
  REQUIRE(addresses);
  REQUIRE(addresses->size() == 2);
  CHECK(to_string((*addresses)[0]) == "4.14.159.117");
  CHECK((*addresses)[0].length == 32);
  CHECK(to_string((*addresses)[1]) == "2001:1900:2100:2d::117");
  CHECK((*addresses)[1].length == 128);
  // ndt (index 2)
  auto ndt = index_to_addresses(*host, 2);
  REQUIRE(ndt);
  CHECK(to_string((*ndt)[0]) == "4.14.159.114");
  CHECK(to_string((*ndt)[1]) == "2001:1900:2100:2d::114");
}

TEST_CASE("index2ip: a host without IPv6 gives IPv4 only (TestMakeIPConfigV4Only)", "[index2ip]") {
  for (const char* cmdline : {"epoxy.ipv4=1.2.3.9/26,1.2.3.1,8.8.8.8,8.8.4.4 epoxy.ipv6= x=1",
                              "epoxy.ipv4=1.2.3.9/26,1.2.3.1,8.8.8.8,8.8.4.4",
                              "epoxy.ipv6 epoxy.ipv4=1.2.3.9/26,1.2.3.1,8.8.8.8,8.8.4.4\n"}) {
    INFO(cmdline);
    auto host = parse_epoxy_cmdline(cmdline);
    REQUIRE(host);
    CHECK_FALSE(host->ipv6);
    auto addresses = index_to_addresses(*host, 2);
    REQUIRE(addresses);
    REQUIRE(addresses->size() == 1);
    CHECK(to_string((*addresses)[0]) == "1.2.3.11");
  }
}

TEST_CASE("index2ip: the command line is split as the kernel does", "[index2ip]") {
  // Tabs and newlines separate, quotes keep a value together and are not part of it, the first
  // occurrence counts (as index2ip's regular expression), a longer key is another parameter.
  auto host = parse_epoxy_cmdline(
      "a=\"b c\"\txepoxy.ipv4=9.9.9.9/24,9.9.9.1,1.1.1.1,1.1.1.1 epoxy.ipv40=8.8.8.8/24,a,b,c\n"
      "epoxy.ipv4=\"1.2.3.9/26,1.2.3.1,8.8.8.8,8.8.4.4\" "
      "epoxy.ipv4=5.5.5.5/24,5.5.5.1,8.8.8.8,8.8.4.4");
  REQUIRE(host);
  CHECK(to_string(host->ipv4.address) == "1.2.3.9");
}

TEST_CASE("index2ip: a missing or malformed parameter is a clear error", "[index2ip]") {
  struct Case {
    const char* cmdline;
    const char* says;
  };
  const std::vector<Case> cases = {
      {"", "has no epoxy.ipv4= parameter"},
      {"root=/dev/sda1 ro", "has no epoxy.ipv4= parameter"},
      {"epoxy.ipv4= epoxy.ipv6=::9/64,::1,::2,::3", "has an empty epoxy.ipv4= parameter"},
      // TestMakeIPConfigFails
      {"epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8", "3 fields where there should be 4"},
      {"epoxy.ipv4=4.14.159.112/26,4.14.159.65,8.8.8.8,8.8.4.4 "
       "epoxy.ipv6=2001:1900:2100:2d::112/64,2001:1900:2100:2d::1,2001:4860:4860::8888",
       "epoxy.ipv6=2001:1900:2100:2d::112/64,2001:1900:2100:2d::1,2001:4860:4860::8888: 3 "
       "fields"},
      {"epoxy.ipv4=1.c.3.4/26,a,b,c", "\"1.c.3.4\" is not an IPv4 address"},
      {"epoxy.ipv4=1.2.3.4,a,b,c", "\"1.2.3.4\" has no /<length>"},
      {"epoxy.ipv4=1.2.3.4/33,a,b,c", "\"/33\" is not an IPv4 prefix length"},
      {"epoxy.ipv4=1.2.3.4/,a,b,c", "\"/\" is not an IPv4 prefix length"},
      {"epoxy.ipv4=1.2.3.4/-1,a,b,c", "\"/-1\" is not an IPv4 prefix length"},
      {"epoxy.ipv4=::9/26,a,b,c", "\"::9\" is not an IPv4 address"},
      {"epoxy.ipv4=1.2.3.4/26,a,b,c epoxy.ipv6=1:Z::/64,a,b,c", "\"1:Z::\" is not an IPv6"},
      {"epoxy.ipv4=1.2.3.4/26,a,b,c epoxy.ipv6=1:2::,a,b,c", "\"1:2::\" has no /<length>"},
      {"epoxy.ipv4=1.2.3.4/26,a,b,c epoxy.ipv6=1.2.3.4/26,a,b,c", "is not an IPv6 address"},
      {"epoxy.ipv4=1.2.3.4/26,a,b,c epoxy.ipv6=::9/129,a,b,c", "not an IPv6 prefix length"},
  };
  for (const Case& c : cases) {
    INFO(c.cmdline);
    auto r = parse_epoxy_cmdline(c.cmdline);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Contains(c.says));
  }
}

TEST_CASE("index2ip: indexes out of range are errors", "[index2ip]") {
  // index2ip: an index below 1, or a last octet past 255 (TestAddIndexToIP: 1.2.3.4 + 254).
  CHECK_THAT(v4("1.2.3.4/26", 0), Contains("index 0: must be at least 1"));
  CHECK_THAT(v4("1.2.3.4/26", -3), Contains("index -3: must be at least 1"));
  CHECK_THAT(v6("::9/64", 0), Contains("must be at least 1"));
  CHECK_THAT(v4("1.2.3.4/16", 254), Contains("1.2.3.4 (epoxy.ipv4) + 254 is past .255"));
  CHECK(v4("1.2.3.4/16", 251) == "1.2.3.255");  // inside a /16, .255 is an ordinary address
  CHECK_THAT(v4("1.2.3.4/16", std::numeric_limits<std::int64_t>::max()), Contains("past .255"));
  // enforcer: inside the host's subnet, not on its broadcast address.
  CHECK(v4("1.2.3.48/26", 14) == "1.2.3.62");
  CHECK_THAT(v4("1.2.3.48/26", 15),
             Contains("1.2.3.48 (epoxy.ipv4) + 15 = 1.2.3.63 is the broadcast address of the "
                      "host's subnet 1.2.3.0/26"));
  CHECK_THAT(v4("1.2.3.48/26", 16),
             Contains("+ 16 = 1.2.3.64 is outside the host's subnet 1.2.3.0/26"));
  CHECK_THAT(v4("1.2.3.4/32", 1), Contains("outside the host's subnet 1.2.3.4/32"));
  CHECK(v4("1.2.3.4/31", 1) == "1.2.3.5");  // RFC 3021: a /31 has no broadcast address

  // IPv6: a group with a hex letter (TestAddIndexToIP: 1:2::FE), a sum index2ip cannot write.
  CHECK_THAT(v6("1:2::fe/64", 6),
             Contains("the last group of 1:2::fe (epoxy.ipv6) is \"fe\": index2ip reads"));
  CHECK_THAT(v6("::a9/64", 2), Contains("\"a9\""));
  CHECK(v6("::7990/64", 9) == "::7999");
  CHECK_THAT(v6("::7990/64", 10), Contains("the last group, 7990 + 10, would be above 7999"));
  CHECK_THAT(v6("::9/64", 65536), Contains("above 7999"));  // TestBase10AdditionInBase16
  CHECK_THAT(v6("::9/64", std::numeric_limits<std::int64_t>::max()), Contains("above 7999"));
  CHECK(v6("2001:db8::1:9/64", 2) == "2001:db8::1:11");  // only the last group changes
  CHECK(v6("::1/124", 8) == "::9");
  CHECK_THAT(v6("::1/124", 9), Contains("::1 (epoxy.ipv6) + 9 = ::10 is outside the host's "
                                        "subnet ::/124"));

  // Both families: the first error wins.
  EpoxyAddresses h{host("1.2.3.250/24"), host("::9/64")};
  auto r = index_to_addresses(h, 6);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Contains("past .255"));
  h = EpoxyAddresses{host("1.2.3.9/24"), host("::fe/64")};
  r = index_to_addresses(h, 6);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Contains("\"fe\""));
}
