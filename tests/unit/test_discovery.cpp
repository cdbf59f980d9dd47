// Discovery: pod names, cgroup globs, matching experiments to pods and
// its conflicts; the scanner and the watcher on a plain directory tree (no cgroup2, no root).
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "pods/discovery.hpp"

using namespace enforcer;
using Catch::Matchers::Contains;

namespace {

Prefix prefix(const char* text) {
  const auto p = parse_prefix(text);
  INFO("prefix: " << text);
  REQUIRE(p.ok());
  return *p;
}

PodInfo pod(std::string relative, std::uint64_t id, std::vector<const char*> addresses,
            bool host_network = false) {
  PodInfo p;
  p.path = "/sys/fs/cgroup/" + relative;
  p.relative = std::move(relative);
  p.cgroup_id = id;
  p.netns = NetnsKey{4, 4026532000 + id};
  p.host_network = host_network;
  for (auto a : addresses) p.addresses.push_back(prefix(a));
  return p;
}

ExperimentSpec experiment(std::string name, std::vector<const char*> addresses,
                          std::optional<std::string> glob = std::nullopt) {
  ExperimentSpec e{std::move(name), {}, std::move(glob)};
  for (auto a : addresses) e.addresses.push_back(prefix(a));
  return e;
}

const std::string kQos = "kubepods.slice/kubepods-besteffort.slice/";

// A temporary directory tree, removed at the end of the test.
class TempTree {
 public:
  TempTree() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "enforcer-disc-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    root_ = tmpl;
  }
  ~TempTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path mkdir(const std::string& relative) {
    const auto p = root_ / relative;
    std::filesystem::create_directories(p);
    return p;
  }
  void write(const std::string& relative, const std::string& text) {
    std::ofstream(root_ / relative) << text;
  }

 private:
  std::filesystem::path root_;
};

pid_t a_dead_pid() {
  for (pid_t pid = 4194303; pid > 1000; --pid) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) return pid;
  }
  FAIL("no free pid found");
  return 0;
}

}  // namespace

TEST_CASE("pod cgroups and container scopes are recognised by name", "[discovery]") {
  CHECK(is_pod_name("kubepods-besteffort-pod0f1e2d3c_4b5a_6978_8695_a4b3c2d1e0f9.slice"));
  CHECK(is_pod_name("kubepods-pod0f1e2d3c.slice"));               // Guaranteed QoS: no qos level
  CHECK(is_pod_name("pod0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9"));  // cgroupfs driver
  CHECK_FALSE(is_pod_name("kubepods.slice"));
  CHECK_FALSE(is_pod_name("kubepods-besteffort.slice"));
  CHECK_FALSE(is_pod_name("kubepods-pod.slice"));  // nothing after "-pod"
  CHECK_FALSE(is_pod_name("cri-containerd-0123abcd.scope"));
  CHECK_FALSE(is_pod_name("pod"));
  CHECK_FALSE(is_pod_name("podman.service"));
  CHECK(is_container_scope_name("cri-containerd-0123abcd.scope"));
  CHECK(is_container_scope_name("crio-0123abcd.scope"));
  CHECK(is_container_scope_name("docker-0123abcd.scope"));
  CHECK_FALSE(is_container_scope_name("session-1.scope"));
  CHECK_FALSE(is_container_scope_name("cri-containerd-0123abcd.slice"));
}

TEST_CASE("cgroup globs match relative paths with FNM_PATHNAME", "[discovery]") {
  const std::string pod_path = kQos + "kubepods-besteffort-pod1234.slice";
  CHECK(cgroup_glob_matches("kubepods.slice/*/kubepods-besteffort-pod1234.slice", pod_path));
  CHECK(cgroup_glob_matches("kubepods.slice/kubepods-*.slice/*-pod12??.slice", pod_path));
  CHECK(cgroup_glob_matches("/kubepods.slice/*/*pod1234*", pod_path));  // a leading '/' is fine
  CHECK(cgroup_glob_matches("kubepods.slice/*/*pod1234*", "/" + pod_path));
  // '*' and '?' never cross a '/'.
  CHECK_FALSE(cgroup_glob_matches("kubepods.slice/*pod1234.slice", pod_path));
  CHECK_FALSE(cgroup_glob_matches("*", pod_path));
  CHECK_FALSE(cgroup_glob_matches("kubepods.slice?kubepods-besteffort.slice/*", pod_path));
  // The whole path, not a prefix of it.
  CHECK_FALSE(cgroup_glob_matches("kubepods.slice/*", pod_path));
  CHECK(cgroup_glob_matches("kubepods.slice/[k]ubepods-besteffort.slice/*", pod_path));
}

TEST_CASE("paths relative to cgroup_root", "[discovery]") {
  CHECK(relative_cgroup_path("/sys/fs/cgroup", "/sys/fs/cgroup/kubepods.slice/a.slice") ==
        "kubepods.slice/a.slice");
  CHECK(relative_cgroup_path("/sys/fs/cgroup/", "/sys/fs/cgroup/kubepods.slice") ==
        "kubepods.slice");
  CHECK(relative_cgroup_path("/sys/fs/cgroup", "/sys/fs/cgroup2/x") == "sys/fs/cgroup2/x");
  CHECK(relative_cgroup_path("/", "/kubepods.slice") == "kubepods.slice");
}

TEST_CASE("experiments match pods by address containment", "[discovery]") {
  const std::vector<PodInfo> pods{
      pod(kQos + "kubepods-besteffort-podaaa.slice", 100, {"198.18.0.10", "2001:db8::10"}),
      pod(kQos + "kubepods-besteffort-podbbb.slice", 101, {"2001:db8::20"}),
      pod(kQos + "kubepods-besteffort-podccc.slice", 102, {"198.18.1.7"}),
      pod(kQos + "kubepods-besteffort-podddd.slice", 103, {"198.18.0.99"}),
  };
  const std::vector<ExperimentSpec> exps{
      experiment("ndt", {"198.18.0.10", "2001:db8::10"}),
      experiment("msak", {"198.18.0.20", "2001:db8::20"}),  // only its IPv6 address is up
      experiment("wehe", {"198.18.1.0/24"}),                // a prefix holds the pod's address
      experiment("absent", {"198.18.0.30"}),
      experiment("v6only", {"2001:db8:ffff::/48"}),
  };
  const MatchResult r = match(exps, pods);
  REQUIRE(r.experiments.size() == exps.size());
  CHECK(r.warnings.empty());
  for (std::size_t i = 0; i < exps.size(); ++i) CHECK(r.experiments[i].name == exps[i].name);
  REQUIRE(r.experiments[0].chosen);
  CHECK(r.experiments[0].chosen->pod == 0);
  CHECK(r.experiments[0].chosen->by == MatchKind::kAddress);
  REQUIRE(r.experiments[1].chosen);
  CHECK(r.experiments[1].chosen->pod == 1);
  REQUIRE(r.experiments[2].chosen);
  CHECK(r.experiments[2].chosen->pod == 2);
  CHECK_FALSE(r.experiments[3].chosen);  // pod ddd's 198.18.0.99 is nobody's
  CHECK_FALSE(r.experiments[4].chosen);
  for (const auto& m : r.experiments) CHECK(m.passed_over.empty());
}

TEST_CASE("an address inside a pod never matches a longer experiment prefix", "[discovery]") {
  // The experiment owns 198.18.0.10 only; a pod holding 198.18.0.0/24's .11 is not it.
  const std::vector<PodInfo> pods{
      pod(kQos + "kubepods-besteffort-podaaa.slice", 1, {"198.18.0.11"})};
  const std::vector<ExperimentSpec> exps{experiment("ndt", {"198.18.0.10"})};
  CHECK_FALSE(match(exps, pods).experiments[0].chosen);
}

TEST_CASE("host-network pods match by glob only", "[discovery]") {
  std::vector<PodInfo> pods{
      pod(kQos + "kubepods-besteffort-podhost.slice", 7, {}, true),
      pod(kQos + "kubepods-besteffort-podnoproc.slice", 8, {}),
  };
  pods[1].netns.reset();  // no process yet: a glob still finds it
  // Even if a host-network pod were reported with the host's addresses, they are nobody's.
  pods[0].addresses.push_back(prefix("198.18.0.254"));
  const std::vector<ExperimentSpec> exps{
      experiment("node-exporter-like", {"198.18.0.254"}),
      experiment("host", {}, "kubepods.slice/*/*-podhost.slice"),
      experiment("early", {}, "/kubepods.slice/kubepods-besteffort.slice/*-podnoproc.slice"),
  };
  const MatchResult r = match(exps, pods);
  CHECK(r.warnings.empty());
  CHECK_FALSE(r.experiments[0].chosen);
  REQUIRE(r.experiments[1].chosen);
  CHECK(r.experiments[1].chosen->pod == 0);
  CHECK(r.experiments[1].chosen->by == MatchKind::kGlob);
  REQUIRE(r.experiments[2].chosen);
  CHECK(r.experiments[2].chosen->pod == 1);
}

TEST_CASE("a pod claimed by two experiments goes to one, with a warning", "[discovery]") {
  const std::vector<PodInfo> pods{
      pod(kQos + "kubepods-besteffort-podaaa.slice", 10, {"198.18.0.10"}),
      pod(kQos + "kubepods-besteffort-podbbb.slice", 11, {}),
  };
  SECTION("a glob never claims the pod of an experiment known by its addresses") {
    const std::vector<ExperimentSpec> exps{
        experiment("greedy", {}, "kubepods.slice/*/*"),
        experiment("ndt", {"198.18.0.10"}),
    };
    const MatchResult r = match(exps, pods);
    REQUIRE(r.experiments[1].chosen);
    CHECK(r.experiments[1].chosen->pod == 0);
    REQUIRE(r.experiments[0].chosen);  // the glob has the pod nobody else claims
    CHECK(r.experiments[0].chosen->pod == 1);
    CHECK(r.experiments[0].passed_over.empty());
    CHECK(r.experiments[0].conflicts == 0);
    CHECK(r.warnings.empty());
  }
  SECTION("nor a newer pod with such an address: the glob's limits stay where they are") {
    std::vector<PodInfo> more = pods;
    more.push_back(pod(kQos + "kubepods-besteffort-podnewer.slice", 900, {"198.18.0.10"}));
    std::vector<ExperimentSpec> exps{
        experiment("greedy", {}, "kubepods.slice/*/*-podbbb.slice"),
        experiment("ndt", {"198.18.0.10"}),
    };
    exps[0].cgroup_glob = "kubepods.slice/*/*";
    exps[0].held_cgroup_id = 11;
    const MatchResult r = match(exps, more);
    REQUIRE(r.experiments[0].chosen);
    CHECK(r.experiments[0].chosen->pod == 1);
    CHECK(r.experiments[0].conflicts == 0);
  }
  SECTION("between two globs the experiment listed first wins") {
    const std::vector<ExperimentSpec> exps{
        experiment("first", {}, "kubepods.slice/*/*-podbbb.slice"),
        experiment("second", {}, "kubepods.slice/*/*bbb*"),
    };
    const MatchResult r = match(exps, pods);
    REQUIRE(r.experiments[0].chosen);
    CHECK(r.experiments[0].chosen->pod == 1);
    CHECK_FALSE(r.experiments[1].chosen);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Contains("goes to first"));
  }
  SECTION("overlapping addresses (config forbids them; match still copes)") {
    const std::vector<ExperimentSpec> exps{
        experiment("a", {"198.18.0.0/24"}),
        experiment("b", {"198.18.0.10"}),
    };
    const MatchResult r = match(exps, pods);
    REQUIRE(r.experiments[0].chosen);
    CHECK_FALSE(r.experiments[1].chosen);
    CHECK(r.experiments[0].conflicts == 0);
    CHECK(r.experiments[1].conflicts == 1);  // a pod it matched went to a
    CHECK(r.warnings.size() == 1);
  }
}

TEST_CASE("a glob without wildcards matches its one path, like any glob", "[discovery]") {
  // match() looks such globs up by path instead of calling fnmatch for every pod: the outcome must
  // be the same as for a pattern.
  std::vector<PodInfo> pods{
      pod(kQos + "kubepods-besteffort-podlit.slice", 20, {}),
      pod(kQos + "kubepods-besteffort-podaddr.slice", 21, {"198.18.0.30"}),
      pod(kQos + "kubepods-besteffort-podlit2.slice", 22, {}),
  };
  pods[0].netns.reset();
  pods[2].netns.reset();
  const std::string literal = "/" + kQos + "kubepods-besteffort-podlit.slice";
  SECTION("a pattern listed first wins over a literal glob, with a warning") {
    const std::vector<ExperimentSpec> exps{
        experiment("pattern", {}, "kubepods.slice/*/*-podlit.slice"),
        experiment("literal", {}, literal),
    };
    const MatchResult r = match(exps, pods);
    REQUIRE(r.experiments[0].chosen);
    CHECK(r.experiments[0].chosen->pod == 0);
    CHECK_FALSE(r.experiments[1].chosen);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Contains("goes to pattern"));
  }
  SECTION("a literal glob listed first wins over a pattern") {
    const std::vector<ExperimentSpec> exps{
        experiment("literal", {}, literal),
        experiment("pattern", {}, "kubepods.slice/*/*-podlit*.slice"),
    };
    const MatchResult r = match(exps, pods);
    REQUIRE(r.experiments[0].chosen);
    CHECK(r.experiments[0].chosen->pod == 0);
    REQUIRE(r.experiments[1].chosen);  // podlit2, which only the pattern claims
    CHECK(r.experiments[1].chosen->pod == 2);
    REQUIRE(r.warnings.size() == 1);
    CHECK_THAT(r.warnings[0], Contains("podlit.slice") && Contains("goes to literal"));
  }
  SECTION("an experiment that holds a pod's address and names it claims it once, by address") {
    const std::string path = kQos + "kubepods-besteffort-podaddr.slice";
    const std::vector<ExperimentSpec> exps{experiment("both", {"198.18.0.30"}, path)};
    const MatchResult r = match(exps, pods);
    REQUIRE(r.experiments[0].chosen);
    CHECK(r.experiments[0].chosen->pod == 1);
    CHECK(r.experiments[0].chosen->by == MatchKind::kAddress);
    CHECK(r.warnings.empty());
  }
  SECTION("a literal glob does not match a longer or shorter path") {
    const std::vector<ExperimentSpec> exps{
        experiment("parent", {}, "kubepods.slice/kubepods-besteffort.slice"),
        experiment("trailing", {}, kQos + "kubepods-besteffort-podlit.slice/x"),
    };
    const MatchResult r = match(exps, pods);
    CHECK_FALSE(r.experiments[0].chosen);
    CHECK_FALSE(r.experiments[1].chosen);
  }
}

TEST_CASE("an experiment found in two pods keeps the one it has, else gets the newest",
          "[discovery]") {
  // A rolling restart: the old pod (smaller cgroup id) is still there, the new one has the
  // addresses too.
  const std::vector<PodInfo> pods{
      pod(kQos + "kubepods-besteffort-podnew.slice", 500, {"198.18.0.10"}),
      pod(kQos + "kubepods-besteffort-podold.slice", 20, {"198.18.0.10", "2001:db8::10"}),
      pod(kQos + "kubepods-besteffort-podmid.slice", 300, {"2001:db8::10"}),
  };
  const std::vector<ExperimentSpec> exps{experiment("ndt", {"198.18.0.10", "2001:db8::10"})};
  const MatchResult r = match(exps, pods);
  const ExperimentMatch& m = r.experiments[0];
  REQUIRE(m.chosen);
  CHECK(m.chosen->pod == 0);
  REQUIRE(m.passed_over.size() == 2);
  CHECK(m.passed_over[0].pod == 2);
  CHECK(m.passed_over[1].pod == 1);
  CHECK(m.conflicts == 2);
  REQUIRE(r.warnings.size() == 1);
  CHECK_THAT(r.warnings[0], Contains("ndt matches 3 pod cgroups") &&
                                Contains("go to " + kQos + "kubepods-besteffort-podnew.slice") &&
                                Contains("the newest"));

  SECTION("one that has its limits already keeps them: a pod cannot take them with its address") {
    // podold holds ndt's limits; podnew, newer, added ndt's address to its own namespace.
    std::vector<ExperimentSpec> held = exps;
    held[0].held_cgroup_id = 20;
    const MatchResult r2 = match(held, pods);
    REQUIRE(r2.experiments[0].chosen);
    CHECK(r2.experiments[0].chosen->pod == 1);
    CHECK(r2.experiments[0].conflicts == 2);
    REQUIRE(r2.warnings.size() == 1);
    CHECK_THAT(r2.warnings[0], Contains("stay on " + kQos + "kubepods-besteffort-podold.slice") &&
                                   Contains("the pod that has them"));
  }
  SECTION("a held pod that is gone: the newest of the rest") {
    std::vector<ExperimentSpec> held = exps;
    held[0].held_cgroup_id = 7;
    CHECK(match(held, pods).experiments[0].chosen->pod == 0);
  }

  SECTION("an address match is preferred over a newer glob match") {
    std::vector<ExperimentSpec> with_glob = exps;
    with_glob[0].cgroup_glob = "kubepods.slice/*/*-podglob.slice";
    std::vector<PodInfo> more = pods;
    more.push_back(pod(kQos + "kubepods-besteffort-podglob.slice", 900, {}));
    const MatchResult r2 = match(with_glob, more);
    REQUIRE(r2.experiments[0].chosen);
    CHECK(r2.experiments[0].chosen->pod == 0);
    CHECK(r2.experiments[0].passed_over.size() == 3);
  }
}

TEST_CASE("match with nothing to match", "[discovery]") {
  CHECK(match({}, {}).experiments.empty());
  const std::vector<ExperimentSpec> exps{experiment("ndt", {"198.18.0.10"})};
  const MatchResult r = match(exps, {});
  REQUIRE(r.experiments.size() == 1);
  CHECK_FALSE(r.experiments[0].chosen);
}

TEST_CASE("a persisting conflict is logged once", "[discovery]") {
  ConflictLog log;
  CHECK(log.report({"a", "b"}) == 2);
  CHECK(log.report({"a", "b"}) == 0);
  CHECK(log.report({"b", "c"}) == 1);
  CHECK(log.report({}) == 0);
  CHECK(log.report({"a"}) == 1);  // back after it went away: logged again
}

TEST_CASE("the scanner walks a directory tree laid out like kubepods.slice", "[discovery]") {
  TempTree t;
  const std::string qos = "kubepods.slice/kubepods-besteffort.slice/";
  t.mkdir(qos + "kubepods-besteffort-podaaa.slice/cri-containerd-0a.scope");
  t.mkdir(qos + "kubepods-besteffort-podaaa.slice/cri-containerd-0b.scope");
  t.mkdir(qos + "kubepods-besteffort-podempty.slice");
  t.mkdir("kubepods.slice/kubepods-podguaranteed.slice/cri-containerd-0c.scope");
  t.mkdir("kubepods.slice/oddly-named/cri-containerd-0d.scope");  // a pod by its children
  t.mkdir("kubepods.slice/stray.scope");                          // not a pod, not descended
  // The first listed process has exited: the next one is taken. This test's own process shares
  // the scanner's network namespace, so the pod is a host-network pod (no setns needed).
  t.write(qos + "kubepods-besteffort-podaaa.slice/cri-containerd-0a.scope/cgroup.procs", "");
  t.write(qos + "kubepods-besteffort-podaaa.slice/cri-containerd-0b.scope/cgroup.procs",
          std::to_string(a_dead_pid()) + "\n" + std::to_string(::getpid()) + "\n");
  t.write("kubepods.slice/kubepods-podguaranteed.slice/cri-containerd-0c.scope/cgroup.procs",
          std::to_string(a_dead_pid()) + "\n");

  ScanOptions options;
  options.cgroup_root = t.root().string();
  PodScanner scanner(options);
  CHECK(scanner.options().root == (t.root() / "kubepods.slice").string());
  auto pods = scanner.scan();
  REQUIRE(pods.ok());
  REQUIRE(pods->size() == 4);
  std::vector<std::string> names;
  for (const auto& p : *pods) names.push_back(p.relative);
  CHECK(names == std::vector<std::string>{
                     qos + "kubepods-besteffort-podaaa.slice",
                     qos + "kubepods-besteffort-podempty.slice",
                     "kubepods.slice/kubepods-podguaranteed.slice",
                     "kubepods.slice/oddly-named",
                 });
  const PodInfo& aaa = (*pods)[0];
  CHECK(aaa.path == (t.root() / qos / "kubepods-besteffort-podaaa.slice").string());
  CHECK(aaa.cgroup_id != 0);
  REQUIRE(aaa.netns);
  CHECK(aaa.host_network);
  CHECK(aaa.addresses.empty());
  for (std::size_t i = 1; i < 4; ++i) CHECK_FALSE((*pods)[i].netns);  // nobody home
  CHECK(scanner.incomplete());
  CHECK(scanner.netns_reads() == 0);  // host-network pods are not read

  // Globs see the paths relative to cgroup_root.
  const std::vector<ExperimentSpec> exps{experiment("host", {}, "kubepods.slice/*/*-podaaa.slice")};
  const MatchResult r = match(exps, *pods);
  REQUIRE(r.experiments[0].chosen);
  CHECK(r.experiments[0].chosen->pod == 0);

  SECTION("a missing root is an error") {
    ScanOptions missing;
    missing.cgroup_root = (t.root() / "nowhere").string();
    auto none = PodScanner(missing).scan();
    REQUIRE_FALSE(none.ok());
    CHECK_THAT(none.error().message, Contains("nowhere"));
  }
  SECTION("the depth limit") {
    ScanOptions shallow = options;
    shallow.max_depth = 1;  // only pods directly below the root
    auto some = PodScanner(shallow).scan();
    REQUIRE(some.ok());
    CHECK(some->size() == 2);
  }
}

TEST_CASE("the watcher follows directories coming and going", "[discovery]") {
  TempTree t;
  const std::string qos = "kubepods.slice/kubepods-besteffort.slice";
  t.mkdir(qos + "/kubepods-besteffort-podaaa.slice/cri-containerd-0a.scope");
  auto w = CgroupWatcher::create((t.root() / "kubepods.slice").string());
  REQUIRE(w.ok());
  // kubepods.slice, the qos slice, the pod; never the container scope.
  const std::size_t baseline = 3;
  CHECK(w->watch_count() == baseline);
  CHECK(*w->kernel_watch_count() == baseline);
  CHECK_FALSE(w->drain());  // nothing happened

  // A new pod, with a container already inside when the watch is added: both counted once.
  t.mkdir(qos + "/kubepods-besteffort-podbbb.slice/cri-containerd-0b.scope");
  CHECK(w->drain());
  CHECK(w->watch_count() == baseline + 1);
  CHECK(*w->kernel_watch_count() == baseline + 1);

  // A container restart inside the pod: an event on the pod's watch, no new watch.
  t.mkdir(qos + "/kubepods-besteffort-podbbb.slice/cri-containerd-1b.scope");
  CHECK(w->drain());
  CHECK(w->watch_count() == baseline + 1);

  // Files are not events (cgroupfs makes none by mkdir's side; a test tree does).
  t.write(qos + "/kubepods-besteffort-podbbb.slice/cgroup.procs", "1\n");
  CHECK_FALSE(w->drain());

  // A whole new qos slice with a pod in it.
  t.mkdir("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-podccc.slice");
  CHECK(w->drain());
  CHECK(w->watch_count() == baseline + 3);

  // Removals free the watches.
  std::filesystem::remove_all(t.root() / qos / "kubepods-besteffort-podbbb.slice");
  std::filesystem::remove_all(t.root() / "kubepods.slice/kubepods-burstable.slice");
  CHECK(w->drain());
  CHECK(w->watch_count() == baseline);
  CHECK(*w->kernel_watch_count() == baseline);
  CHECK_FALSE(w->root_gone());

  // A directory renamed within the tree: watched under its new name only.
  t.mkdir(qos + "/kubepods-besteffort-podddd.slice");
  CHECK(w->drain());
  std::filesystem::rename(t.root() / qos / "kubepods-besteffort-podddd.slice",
                          t.root() / qos / "kubepods-besteffort-podeee.slice");
  CHECK(w->drain());
  CHECK(w->watch_count() == baseline + 1);
  CHECK(*w->kernel_watch_count() == baseline + 1);
  std::filesystem::remove(t.root() / qos / "kubepods-besteffort-podeee.slice");
  CHECK(w->drain());
  CHECK(w->watch_count() == baseline);

  // The root itself goes.
  std::filesystem::remove_all(t.root() / "kubepods.slice");
  CHECK(w->drain());
  CHECK(w->root_gone());
  CHECK(w->watch_count() == 0);
  CHECK(*w->kernel_watch_count() == 0);

  // Moving the watcher keeps the fd working.
  CgroupWatcher moved = std::move(*w);
  CHECK(moved.fd() >= 0);
  CHECK(w->fd() < 0);
}

TEST_CASE("a watcher on a missing root is an error", "[discovery]") {
  auto w = CgroupWatcher::create("/nonexistent/enforcer/kubepods.slice");
  REQUIRE_FALSE(w.ok());
  CHECK_THAT(w.error().message, Contains("/nonexistent/enforcer/kubepods.slice"));
}
