// The control protocol (lib/control/control_protocol.hpp): each command's request, each error code,
// and malformed lines of every kind, which must come back as errors, never as a crash.
#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control/control_protocol.hpp"

using namespace enforcer;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;
using json = nlohmann::json;

namespace {

Request parse_ok(const std::string& line) {
  INFO(line);
  auto p = parse_request(line);
  if (!p.request) FAIL(p.error.code << ": " << p.error.message);
  return *p.request;
}

ProtocolError parse_error(const std::string& line) {
  INFO(line);
  auto p = parse_request(line);
  REQUIRE_FALSE(p.request);
  return p.error;
}

}  // namespace

TEST_CASE("command names round trip, changes are marked", "[control_protocol]") {
  const std::pair<Command, bool> all[] = {
      {Command::kStatus, false},       {Command::kShow, false},
      {Command::kOverrideSet, true},   {Command::kOverrideClear, true},
      {Command::kOverrideList, false}, {Command::kThrottle, true},
      {Command::kRelease, true},       {Command::kReload, true},
      {Command::kVersion, false},
  };
  for (const auto& [c, change] : all) {
    INFO(to_string(c));
    CHECK(parse_command(to_string(c)) == c);
    CHECK(is_change(c) == change);
  }
  CHECK(to_string(Command::kOverrideSet) == "override.set");
  CHECK_FALSE(parse_command("override"));
}

TEST_CASE("every command's good form parses", "[control_protocol]") {
  Request r = parse_ok(R"({"v":1,"cmd":"status"})");
  CHECK(r.command == Command::kStatus);
  CHECK(r.version == 1);
  CHECK(r.id.is_null());

  r = parse_ok(R"({"v":1,"cmd":"show","experiment":"ndt","id":"a1"})");
  CHECK(r.command == Command::kShow);
  CHECK(r.experiment == "ndt");
  CHECK(r.id == "a1");

  r = parse_ok(
      R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"bandwidth","value":"2.5Gbit","for":"24h","reason":"  M-Lab ticket 7 ","id":7})");
  CHECK(r.command == Command::kOverrideSet);
  CHECK(r.experiment == "ndt");
  CHECK(r.resource == Resource::kBandwidth);
  CHECK(r.value == "2.5Gbit");
  CHECK(r.for_duration == std::chrono::nanoseconds(24h));
  CHECK_FALSE(r.until_unix_seconds);
  CHECK(r.reason == "M-Lab ticket 7");
  CHECK(r.id == 7);

  r = parse_ok(
      R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"min_rate","value":"1%","until":1795000000,"reason":"r"})");
  CHECK(r.resource == Resource::kMinRate);
  CHECK(r.until_unix_seconds == 1'795'000'000);
  CHECK_FALSE(r.for_duration);

  r = parse_ok(R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"cpu","value":"2",)"
               R"("reason":"r"})");
  CHECK_FALSE(r.for_duration);
  CHECK_FALSE(r.until_unix_seconds);

  r = parse_ok(R"({"v":1,"cmd":"override.clear","experiment":"ndt","reason":"done"})");
  CHECK(r.command == Command::kOverrideClear);
  CHECK_FALSE(r.resource);
  r = parse_ok(
      R"({"v":1,"cmd":"override.clear","experiment":"ndt","resource":"window","reason":"done"})");
  CHECK(r.resource == Resource::kWindow);

  r = parse_ok(R"({"v":1,"cmd":"override.list"})");
  CHECK(r.command == Command::kOverrideList);
  CHECK(r.experiment.empty());
  r = parse_ok(R"({"v":1,"cmd":"override.list","experiment":"wehe"})");
  CHECK(r.experiment == "wehe");

  r = parse_ok(
      R"({"v":1,"cmd":"throttle","experiment":"wehe","value":"10Mbit","for":"30m","reason":"abuse"})");
  CHECK(r.command == Command::kThrottle);
  CHECK(r.value == "10Mbit");
  CHECK(r.for_duration == std::chrono::nanoseconds(30min));
  r = parse_ok(R"({"v":1,"cmd":"throttle","experiment":"wehe","value":"10Mbit","reason":"x"})");
  CHECK_FALSE(r.for_duration);

  r = parse_ok(R"({"v":1,"cmd":"release","experiment":"wehe","reason":"resolved"})");
  CHECK(r.command == Command::kRelease);
  r = parse_ok(R"({"v":1,"cmd":"reload","reason":"new config"})");
  CHECK(r.command == Command::kReload);
  CHECK(r.reason == "new config");
  r = parse_ok(R"({"v":1,"cmd":"version","id":-3})");
  CHECK(r.command == Command::kVersion);
  CHECK(r.id == -3);

  // Whitespace around the JSON is fine; so is a field order of one's own.
  r = parse_ok(" \t{ \"cmd\" : \"status\" , \"v\" : 1 }\r ");
  CHECK(r.command == Command::kStatus);
}

TEST_CASE("every error code", "[control_protocol]") {
  struct Case {
    std::string line;
    const char* code;
    std::vector<const char*> message;
    json id = nullptr;
  };
  const std::vector<Case> cases = {
      {"not json", "bad_request", {"not valid JSON", "parse error at line 1, column"}},
      {R"({"v":1e999,"cmd":"status"})", "bad_request", {"not valid JSON", "number overflow"}},
      {"[1]", "bad_request", {"must be a JSON object, not array"}},
      {R"({"cmd":"status"})", "bad_request", {"\"v\" is missing"}},
      {R"({"v":"1","cmd":"status"})", "bad_request", {"\"v\" must be an integer", "not string"}},
      {R"({"v":1.0,"cmd":"status"})", "bad_request", {"\"v\" must be an integer"}},
      {R"({"v":2,"cmd":"status","id":"x"})",
       "unsupported_version",
       {"protocol version 2 is not supported"},
       "x"},
      {R"({"v":-1,"cmd":"status"})", "unsupported_version", {"version -1"}},
      {R"({"v":1,"id":5})", "bad_request", {"\"cmd\" is missing", "override.set"}, 5},
      {R"({"v":1,"cmd":7})", "bad_request", {"\"cmd\" must be a string"}},
      {R"({"v":1,"cmd":"stop","id":"q"})",
       "unknown_command",
       {"unknown command \"stop\"",
        "status, show, override.set, override.clear, override.list, throttle, release, reload, "
        "version"},
       "q"},
      {R"({"v":1,"cmd":"status","experiment":"ndt"})",
       "bad_request",
       {"unknown field \"experiment\" for status", "allowed: v, cmd, id"}},
      {R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"cpu","valeu":"2","reason":"r","id":1})",
       "bad_request",
       {"unknown field \"valeu\"",
        "allowed: v, cmd, id, experiment, resource, value, for, until, reason"},
       1},
      {R"({"v":1,"cmd":"show","experiment":5})",
       "bad_request",
       {"\"experiment\" must be a string", "not number"}},
      {R"({"v":1,"cmd":"release","experiment":"ndt","reason":null})",
       "bad_request",
       {"\"reason\" must be a string"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":10,"reason":"r"})",
       "bad_request",
       {"\"value\" must be a string"}},
      {R"({"v":1,"cmd":"show"})", "bad_request", {"show needs \"experiment\""}},
      {R"({"v":1,"cmd":"show","experiment":""})", "bad_request", {"must not be empty"}},
      {R"({"v":1,"cmd":"override.set","experiment":"ndt","value":"2","reason":"r"})",
       "bad_request",
       {"override.set needs \"resource\""}},
      {R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"cpu","reason":"r"})",
       "bad_request",
       {"override.set needs \"value\""}},
      {R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"cpu","value":" ","reason":"r"})",
       "bad_request",
       {"\"value\" must not be empty"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","reason":"r"})",
       "bad_request",
       {"throttle needs \"value\""}},
      {R"({"v":1,"cmd":"release","reason":"r"})", "bad_request", {"release needs \"experiment\""}},
      {R"({"v":1,"cmd":"override.clear","experiment":"ndt"})",
       "bad_request",
       {"override.clear needs \"reason\""}},
      {R"({"v":1,"cmd":"reload"})", "bad_request", {"reload needs \"reason\""}},
      {R"({"v":1,"cmd":"reload","reason":"  \t "})", "bad_request", {"\"reason\" must say why"}},
      {R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"throttle","value":"1Mbit","reason":"r","id":"t"})",
       "unknown_resource",
       {"use the throttle and release commands"},
       "t"},
      {R"({"v":1,"cmd":"override.clear","experiment":"ndt","resource":"throttle","reason":"r"})",
       "unknown_resource",
       {"use the throttle and release commands"}},
      {R"({"v":1,"cmd":"override.set","experiment":"ndt","resource":"gpu","value":"1","reason":"r"})",
       "unknown_resource",
       {"unknown resource \"gpu\"", "bandwidth, window, min_rate, cpu, memory, disk_io, disk"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","for":"1h","until":1795000000,"reason":"r"})",
       "bad_request",
       {"not both"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","for":"soon","reason":"r"})",
       "bad_value",
       {"\"for\"", "soon"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","for":"0s","reason":"r","id":9})",
       "bad_value",
       {"\"for\" \"0s\" must be above 0"},
       9},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","for":"1000000h","reason":"r"})",
       "bad_value",
       {"longer than"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","for":"-1h","reason":"r"})",
       "bad_value",
       {"\"for\""}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","until":"tomorrow","reason":"r"})",
       "bad_request",
       {"\"until\" must be an integer", "not string"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","until":1.5e9,"reason":"r"})",
       "bad_request",
       {"\"until\" must be an integer"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","until":-1,"reason":"r"})",
       "bad_value",
       {"\"until\" -1 must be Unix seconds"}},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":"1Mbit","until":18446744073709551615,"reason":"r"})",
       "bad_value",
       {"\"until\""}},
      {R"({"v":1,"cmd":"status","id":1.5})",
       "bad_request",
       {"\"id\" must be a string or an integer"}},
      {R"({"v":1,"cmd":"status","id":[1]})", "bad_request", {"\"id\""}},
      {R"({"v":1,"cmd":"status","id":null})", "bad_request", {"\"id\""}},
      {"{\"v\":1,\"cmd\":\"show\",\"experiment\":\"" + std::string(257, 'e') + "\",\"id\":2}",
       "bad_request",
       {"\"experiment\" is longer than 256 bytes"},
       2},
      {R"({"v":1,"cmd":"throttle","experiment":"ndt","value":")" + std::string(65, '1') +
           R"(","reason":"r"})",
       "bad_request",
       {"\"value\" is longer than 64 bytes"}},
      {R"({"v":1,"cmd":"reload","reason":")" + std::string(1025, 'r') + R"("})",
       "bad_request",
       {"\"reason\" is longer than 1024 bytes"}},
      {std::string(kMaxRequestBytes + 1, ' '), "too_large", {"longer than 65536 bytes"}},
  };
  for (const auto& c : cases) {
    const ProtocolError e = parse_error(c.line);
    INFO(c.line.substr(0, 300) << "\n-> " << e.code << ": " << e.message);
    CHECK(e.code == c.code);
    for (const char* m : c.message) CHECK_THAT(e.message, Contains(m));
    CHECK(e.id == c.id);
  }
  // The longest accepted values still parse.
  parse_ok("{\"v\":1,\"cmd\":\"show\",\"experiment\":\"" + std::string(256, 'e') + "\"}");
  parse_ok(R"({"v":1,"cmd":"reload","reason":")" + std::string(1024, 'r') + R"("})");
}

TEST_CASE("malformed lines are errors, never crashes", "[control_protocol]") {
  std::string nul_inside("{\"v\":1,\"cmd\":\"status\"}\0", 24);
  std::string nul_in_string("{\"v\":1,\"cmd\":\"sta\0tus\"}", 24);
  const std::vector<std::string> lines = {
      "",
      "{",
      "}",
      "[]",
      "null",
      "true",
      "1",
      "\"status\"",
      "{\"v\":1}",
      "{\"v\":1,}",
      "{\"v\":1,\"cmd\":\"status\"}{}",
      "{\"v\":1,\"cmd\":\"status\"}\n{\"v\":1,\"cmd\":\"status\"}",
      "{\"v\":1,\"cmd\":\"status\",\"v\":2}",
      std::string(10000, '['),
      std::string(10000, '[') + std::string(10000, ']'),
      std::string(10000, '{'),
      "{\"v\":1,\"cmd\":\"status\",\"x\":" + std::string(65, '[') + std::string(65, ']') + "}",
      "{\"v\":1e999,\"cmd\":\"status\"}",
      "{\"v\":-1e999,\"cmd\":\"status\"}",
      "{\"v\":123456789012345678901234567890,\"cmd\":\"status\"}",
      "{\"v\":1,\"cmd\":\"status\",\"id\":123456789012345678901234567890}",
      "{\"v\":1,\"cmd\":\"throttle\",\"experiment\":\"a\",\"value\":\"1Mbit\",\"until\":"
      "1e400,\"reason\":\"r\"}",
      nul_inside,
      nul_in_string,
      std::string("\0", 1),
      "{\"v\":1,\"cmd\":\"\xff\xfe\"}",
      "{\"v\":1,\"cmd\":\"status\",\"id\":\"\xc3\x28\"}",
      "\xef\xbb\xbf{\"v\":1,\"cmd\":\"nope\"}",
      "{\"v\":1,\"cmd\":\"\\ud800\"}",
      "{\"v\":1,\"cmd\":\"show\",\"experiment\":\"\\u0000\"}x",
      "{\"v\":1,\"cmd\":\"status\"",
      "{'v':1,'cmd':'status'}",
  };
  for (const auto& line : lines) {
    INFO("line (" << line.size() << " bytes): " << line.substr(0, 80));
    ParsedRequest p;
    REQUIRE_NOTHROW(p = parse_request(line));
    // A few of these parse (the duplicate key: nlohmann keeps the last "v"); the rest must not.
    if (p.request) continue;
    CHECK_FALSE(p.error.code.empty());
    CHECK_FALSE(p.error.message.empty());
    // The error always turns into one line of valid JSON.
    const std::string out = error_response(p.error);
    REQUIRE(out.back() == '\n');
    CHECK(out.find('\n') == out.size() - 1);
    REQUIRE_NOTHROW(json::parse(out));
  }
  CHECK(parse_error(std::string(10000, '[')).message ==
        "not a request: nested deeper than 64 levels");
  CHECK(parse_error("").code == "bad_request");
  CHECK(parse_error("{\"v\":1}").message.find("\"cmd\" is missing") != std::string::npos);
  CHECK_THAT(parse_error("{\"v\":1,\"cmd\":\"\xff\xfe\"}").message,
             Contains("invalid string: ill-formed UTF-8 byte"));
  // Brackets inside strings do not count as nesting.
  const Request r = parse_ok(R"({"v":1,"cmd":"reload","reason":")" + std::string(100, '[') + "\"}");
  CHECK(r.reason == std::string(100, '['));
  // The id survives an error that comes after the object was read.
  CHECK(parse_error(R"({"v":1,"cmd":"status","id":"abc","bogus":1})").id == "abc");
}

TEST_CASE("responses are one compact JSON line", "[control_protocol]") {
  std::string ok = ok_response("r1", json{{"version", "0.3.0"}, {"protocol", 1}});
  CHECK(ok == R"({"id":"r1","ok":true,"result":{"protocol":1,"version":"0.3.0"},"v":1})"
              "\n");
  ok = ok_response(nullptr, json::object());
  CHECK(ok == "{\"ok\":true,\"result\":{},\"v\":1}\n");
  CHECK(ok_response(12, {{"overrides", json::array()}}) ==
        "{\"id\":12,\"ok\":true,\"result\":{\"overrides\":[]},\"v\":1}\n");

  const std::string err = error_response(
      ProtocolError{"unknown_experiment", "no experiment \"x\"", 3}, {{"known", {"ndt", "wehe"}}});
  const json e = json::parse(err);
  CHECK(e["v"] == 1);
  CHECK(e["ok"] == false);
  CHECK(e["id"] == 3);
  CHECK(e["error"]["code"] == "unknown_experiment");
  CHECK(e["error"]["message"] == "no experiment \"x\"");
  CHECK(e["error"]["known"] == json({"ndt", "wehe"}));
  // The extra fields cannot replace code or message.
  const json f = json::parse(
      error_response(ProtocolError{"failed", "m", nullptr}, {{"code", "ok"}, {"errors", {"a"}}}));
  CHECK(f["error"]["code"] == "failed");
  CHECK(f["error"]["errors"] == json({"a"}));
  CHECK_FALSE(f.contains("id"));

  // Invalid UTF-8 in a message (quoted from the request) is replaced, never thrown.
  std::string bad;
  REQUIRE_NOTHROW(bad = error_response(ProtocolError{"bad_request", "x\xff\xfey", "\xc3"}));
  REQUIRE_NOTHROW(json::parse(bad));
  CHECK_THAT(bad, Contains("x\xef\xbf\xbd"));
  REQUIRE_NOTHROW(ok_response(nullptr, {{"reason", "\xff"}}));
}
