// [[device]] tables (each disk's byte rates and iops) and resolve_devices, which finds each
// path's major:minor and rejects what is not a whole block device.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "config/config.hpp"
#include "config_test_support.hpp"
#include "temp_dir.hpp"

using namespace enforcer;
using namespace enforcer::test;
using namespace std::chrono_literals;
using Catch::Matchers::Contains;

TEST_CASE("[[device]] tables give each disk's capacity in byte rates and iops", "[config]") {
  constexpr std::string_view text = R"(
[defaults]
disk_io = "10%"

[[device]]
path = "/dev/vda"
read_bps = "200MB/s"
write_bps = "150MB"
read_iops = 4000
write_iops = 3000

[[device]]   # second
path = "/dev/disk/by-id/virtio-data"
write_bps = "1.5GiB/s"

[[device]]
path = "/dev/loop0"
read_bps = 1000000
)";
  const Config c = parse_ok(text);
  REQUIRE(c.devices.size() == 3);
  const DeviceConfig& vda = c.devices[0];
  CHECK(vda.path == "/dev/vda");
  CHECK(vda.read_bps == 200'000'000ULL);
  CHECK(vda.write_bps == 150'000'000ULL);
  CHECK(vda.read_iops == 4000);
  CHECK(vda.write_iops == 3000);
  CHECK_FALSE(vda.resolved);  // parse_config does not look at the system
  const DeviceConfig& data = c.devices[1];
  CHECK(data.line == line_of(text, "# second"));
  CHECK(data.write_bps == 1'610'612'736ULL);
  CHECK(data.read_bps == 0);  // not configured: no limit
  CHECK(data.read_iops == 0);
  CHECK(data.write_iops == 0);
  CHECK(c.devices[2].read_bps == 1'000'000ULL);
  // The printed config writes byte rates per second, and parses back the same.
  const std::string printed = format_config(c);
  CHECK_THAT(printed, Contains("read_bps = \"200MB/s\""));
  CHECK_THAT(printed, Contains("write_bps = \"1536MiB/s\""));
  check_same_config(c, parse_ok(printed));
}

namespace {

// Some block device node under /dev, if the machine has one (containers may not).
std::optional<std::filesystem::path> some_block_device() {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/dev", ec)) {
    struct stat st {};
    if (::stat(e.path().c_str(), &st) == 0 && S_ISBLK(st.st_mode)) return e.path();
  }
  return std::nullopt;
}

Config with_devices(const std::vector<std::string>& paths) {
  Config c;
  int line = 10;
  for (const auto& p : paths) {
    DeviceConfig d;
    d.path = p;
    d.read_bps = 100'000'000;
    d.line = line++;
    c.devices.push_back(d);
  }
  return c;
}

}  // namespace

TEST_CASE("resolve_devices names each path that is not a block device", "[config]") {
  TempDir tmp;
  const std::string missing = (tmp.path / "no-such-disk").string();
  const std::string file = (tmp.path / "file").string();
  { std::ofstream(file) << "x"; }
  Config c = with_devices({"/dev/null", missing, file, tmp.path.string()});
  const std::vector<ConfigError> errors = resolve_devices(c, "enforcer.toml");
  INFO("errors:" << describe(errors));
  REQUIRE(errors.size() == 4);
  for (std::size_t i = 0; i < errors.size(); ++i) {
    CHECK(errors[i].source == "enforcer.toml");
    CHECK(errors[i].line == c.devices[i].line);
    CHECK_THAT(errors[i].key, Contains(c.devices[i].path));
    CHECK_THAT(errors[i].message, Contains("\"" + c.devices[i].path + "\""));
    CHECK_THAT(errors[i].to_string(),
               Contains("enforcer.toml:" + std::to_string(c.devices[i].line) + ": "));
    CHECK_FALSE(c.devices[i].resolved);
  }
  CHECK_THAT(errors[0].message, Contains("not a block device"));
  CHECK_THAT(errors[0].message, Contains("character device"));
  CHECK_THAT(errors[1].message, Contains("does not exist"));
  CHECK_THAT(errors[2].message, Contains("not a block device"));
  CHECK_THAT(errors[3].message, Contains("not a block device"));
  // No devices, nothing to check.
  Config none;
  CHECK(resolve_devices(none).empty());
}

TEST_CASE("resolve_devices finds major:minor of a block device and rejects partitions",
          "[config]") {
  const auto dev = some_block_device();
  if (!dev) {
    WARN("no block device under /dev: skipped");
    return;
  }
  struct stat st {};
  REQUIRE(::stat(dev->c_str(), &st) == 0);
  const auto major = static_cast<std::uint32_t>(major(st.st_rdev));
  const auto minor = static_cast<std::uint32_t>(minor(st.st_rdev));
  TempDir tmp;
  // An empty sysfs: nothing says it is a partition. A symlink is followed (/dev/disk/by-id/...).
  const auto link = tmp.path / "by-id-disk";
  std::filesystem::create_symlink(*dev, link);
  {
    Config c = with_devices({dev->string(), link.string()});
    const std::string empty_sysfs = (tmp.path / "sys").string();
    const auto errors = resolve_devices(c, "enforcer.toml", empty_sysfs);
    INFO("errors:" << describe(errors));
    // The same device twice is an error on the second.
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].line == c.devices[1].line);
    CHECK_THAT(errors[0].message, Contains(dev->string()));
    CHECK(c.devices[0].resolved);
    CHECK(c.devices[0].major == major);
    CHECK(c.devices[0].minor == minor);
  }
  {
    Config c = with_devices({link.string()});
    CHECK(resolve_devices(c, "enforcer.toml", (tmp.path / "sys").string()).empty());
    CHECK(c.devices[0].resolved);
    CHECK(c.devices[0].major == major);
  }
  // A sysfs that says the device is a partition of "vda".
  const auto sys = tmp.path / "sys2";
  const auto part = sys / "devices/virtual/block/vda/vda1";
  std::filesystem::create_directories(part);
  { std::ofstream(part / "partition") << "1\n"; }
  std::filesystem::create_directories(sys / "dev/block");
  std::filesystem::create_symlink(
      "../../devices/virtual/block/vda/vda1",
      sys / "dev/block" / (std::to_string(major) + ":" + std::to_string(minor)));
  Config c = with_devices({dev->string()});
  const auto errors = resolve_devices(c, "enforcer.toml", sys.string());
  INFO("errors:" << describe(errors));
  REQUIRE(errors.size() == 1);
  CHECK_THAT(errors[0].message, Contains("partition"));
  CHECK_THAT(errors[0].message, Contains("/dev/vda"));
  CHECK_FALSE(c.devices[0].resolved);
}
