// Reads the [[experiment]] tables (name, addresses or M-Lab index, cgroup, data_dir, project id,
// allocation, pinned rate) and checks that no two experiments share a name, address or claim.
#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "base/units.hpp"
#include "config/config_parse.hpp"
#include "config/index2ip.hpp"

namespace enforcer::config_parse {
namespace {

bool valid_experiment_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

// A cgroup glob: a relative path ("a/b*/c"), no empty, "." or ".." components.
std::optional<std::string> invalid_cgroup_glob(std::string_view glob) {
  if (glob.empty()) return "must not be empty";
  if (glob.front() == '/') {
    return "must be relative to daemon.cgroup_root, e.g. \"system.slice/ndt.service\"";
  }
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = glob.find('/', start);
    const std::string_view part = glob.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") {
      return "must be a path without empty, \".\" or \"..\" components";
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  for (char c : glob) {
    if (c == '\0' || c == '\n') return "must not contain a newline or NUL";
  }
  return std::nullopt;
}

// Strips trailing slashes ("/cache/data/" and "/cache/data" are one directory).
std::string without_trailing_slashes(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

// The last address of a prefix (all host bits set).
std::array<std::uint8_t, 16> last_address(const Prefix& p) {
  std::array<std::uint8_t, 16> end = p.bytes;
  const int max = p.v6 ? 128 : 32;
  for (int bit = p.length; bit < max; ++bit)
    end[bit / 8] |= static_cast<std::uint8_t>(0x80 >> (bit % 8));
  return end;
}

// A prefix and the experiment that has it.
struct Owned {
  Prefix prefix;
  std::string experiment;
  std::string where;
  const toml::node* node;
  std::string key;  // "addresses", or "index" for derived addresses
  int position;     // the experiment's (1-based): drop-ins come after the main file
};

// No address may belong to two experiments. Sorted by first address, a prefix overlaps an
// earlier one exactly when it starts at or before the furthest end seen so far: O(n log n), so
// that a node with 10,000 experiments starts in a blink. The error goes to the later line.
void check_overlaps(Parser& p, std::vector<Owned>& owned) {
  std::sort(owned.begin(), owned.end(), [](const Owned& a, const Owned& b) {
    if (a.prefix.v6 != b.prefix.v6) return !a.prefix.v6;
    if (a.prefix.bytes != b.prefix.bytes) return a.prefix.bytes < b.prefix.bytes;
    return a.prefix.length < b.prefix.length;
  });
  const Owned* cover = nullptr;  // the earlier prefix that reaches furthest
  std::array<std::uint8_t, 16> cover_end{};
  for (const Owned& o : owned) {
    if (cover && cover->prefix.v6 == o.prefix.v6 && o.prefix.bytes <= cover_end) {
      const bool later = std::pair(o.position, o.node->source().begin.line) >=
                         std::pair(cover->position, cover->node->source().begin.line);
      const Owned& at = later ? o : *cover;
      const Owned& other = later ? *cover : o;
      p.error(at.node, at.where + "." + at.key,
              fmt::format("{}.{}: {} overlaps {} of experiment \"{}\"", at.where, at.key,
                          to_string(at.prefix), to_string(other.prefix), other.experiment));
    }
    const auto end = last_address(o.prefix);
    if (!cover || cover->prefix.v6 != o.prefix.v6 || end > cover_end) {
      cover = &o;
      cover_end = end;
    }
  }
}

struct Claim {  // a cgroup glob, data_dir or project id, and who has it
  std::string experiment;
  int line;
  std::string file;
};

std::string file_of(const toml::node& n) {
  return n.source().path ? *n.source().path : std::string();
}

// Where a claim is, as seen from a message about `at`: its line, or its file and line when the
// claim is in another file (a drop-in).
std::string place(const Claim& c, const toml::node& at) {
  if (c.file == file_of(at)) return fmt::format("line {}", c.line);
  return fmt::format("{}:{}", c.file, c.line);
}

// One [[experiment]] table as it is read.
struct Table {
  const toml::table& t;
  int index;  // 1-based position among the [[experiment]] tables
  ExperimentConfig x;
  std::string where;  // "experiment[N]", then `experiment "name"` once it has a valid name
  std::string who;    // the experiment in messages about the whole table
};

// Reads the tables one after the other, keeping what the experiments read so far claim.
class ExperimentsReader {
 public:
  ExperimentsReader(Parser& p, Config& c, const CmdlineReader& read_cmdline)
      : p_(p), c_(c), read_cmdline_(read_cmdline) {}

  void read(const toml::table& t, int index);
  // The checks across all experiments, once every table is read.
  void finish(const toml::node& node);

 private:
  void read_name(Table& e);
  void read_addresses(Table& e);
  void read_address(Table& e, const toml::node& item);
  void read_index(Table& e);
  const Expected<EpoxyAddresses>& host_addresses();
  void read_cgroup(Table& e);
  void check_discoverable(const Table& e);
  void read_data_dir(Table& e);
  void read_project_id(Table& e);
  void claim_project_id(Table& e, const toml::node* id);
  void read_pinned_rate(Table& e);
  void read_optional(Table& e);

  Parser& p_;
  Config& c_;
  const CmdlineReader& read_cmdline_;
  std::map<std::string, int> names_;  // name -> line
  std::vector<Owned> owned_;
  // The host's addresses from the kernel command line: read at the first experiment given by
  // index, and its error reported there only.
  std::optional<Expected<EpoxyAddresses>> host_;
  std::map<std::string, Claim> globs_;
  std::map<std::string, Claim> data_dirs_;
  std::map<std::uint32_t, Claim> project_ids_;
};

void ExperimentsReader::read(const toml::table& t, int index) {
  Table e{t, index, ExperimentConfig{}, fmt::format("experiment[{}]", index), ""};
  e.x.id = static_cast<std::uint32_t>(index);
  e.x.line = static_cast<int>(t.source().begin.line);
  if (const auto& path = t.source().path) e.x.file = *path;
  e.x.allocation = c_.defaults;
  std::set<std::string_view> known = kAllocationKeys;
  known.insert({"name", "addresses", "wide_prefixes", "index", "pinned_rate", "cgroup", "data_dir",
                "project_id", "optional"});
  p_.check_keys(t, e.where, known);
  read_name(e);
  read_addresses(e);
  read_index(e);
  read_cgroup(e);
  check_discoverable(e);
  read_data_dir(e);
  read_project_id(e);
  p_.allocation(t, e.where, e.x.allocation);
  p_.check_allocation(e.x.allocation, t, e.where, c_.daemon.tick);
  read_pinned_rate(e);
  read_optional(e);
  c_.experiments.push_back(std::move(e.x));
}

void ExperimentsReader::finish(const toml::node& node) {
  check_overlaps(p_, owned_);
  if (c_.experiments.size() > c_.daemon.max_experiments) {
    p_.error(&node, "experiment",
             fmt::format("{} experiments configured, daemon.max_experiments is {}",
                         c_.experiments.size(), c_.daemon.max_experiments));
  }
}

void ExperimentsReader::read_name(Table& e) {
  const toml::node* name = e.t.get("name");
  if (!name) {
    p_.error(&e.t, e.where + ".name", fmt::format("{} has no name", e.where));
  } else if (!name->is_string() || !valid_experiment_name(name->as_string()->get())) {
    p_.error(name, e.where + ".name",
             fmt::format("{}.name = {}: use 1-63 letters, digits, '-', '_' or '.'", e.where,
                         Parser::spell(*name)));
  } else {
    e.x.name = name->as_string()->get();
    e.where = fmt::format("experiment \"{}\"", e.x.name);
    if (auto [it, fresh] = names_.emplace(e.x.name, static_cast<int>(name->source().begin.line));
        !fresh) {
      p_.error(name, e.where + ".name",
               fmt::format("experiment name \"{}\" is used twice (first at line {})", e.x.name,
                           it->second));
    }
  }
  e.who = e.x.name.empty() ? e.where : fmt::format("experiment \"{}\"", e.x.name);
}

// wide_prefixes, then the addresses it allows.
void ExperimentsReader::read_addresses(Table& e) {
  if (const toml::node* w = e.t.get("wide_prefixes")) {
    if (!w->is_boolean()) {
      p_.error(
          w, e.where + ".wide_prefixes",
          fmt::format("{}.wide_prefixes = {}: expected true or false", e.where, Parser::spell(*w)));
    } else {
      e.x.wide_prefixes = w->as_boolean()->get();
    }
  }
  const toml::node* a = e.t.get("addresses");
  if (!a) return;
  const toml::array* list = a->as_array();
  if (!list) {
    p_.error(
        a, e.where + ".addresses",
        fmt::format("{}.addresses = {}: expected a list of addresses", e.where, Parser::spell(*a)));
    return;
  }
  for (const toml::node& item : *list) read_address(e, item);
}

// One item of addresses: a prefix no wider than allowed.
void ExperimentsReader::read_address(Table& e, const toml::node& item) {
  const std::string& where = e.where;
  if (!item.is_string()) {
    p_.error(&item, where + ".addresses",
             fmt::format("{}.addresses: {} is not an address string", where, Parser::spell(item)));
    return;
  }
  auto prefix = parse_prefix(item.as_string()->get());
  if (!prefix) {
    p_.error(&item, where + ".addresses",
             fmt::format("{}.addresses: {}", where, prefix.error().message));
    return;
  }
  const int shortest = prefix->v6 ? kShortestPrefixV6 : kShortestPrefixV4;
  if (prefix->length == 0) {
    p_.error(&item, where + ".addresses",
             fmt::format("{}.addresses: {} is every address: the host's own traffic (ssh, "
                         "the kubelet) would be held to the experiment's limit",
                         where, to_string(*prefix)));
    return;
  }
  if (prefix->length < shortest && !e.x.wide_prefixes) {
    p_.error(&item, where + ".addresses",
             fmt::format("{}.addresses: {} is shorter than /{}: it may hold the host's own "
                         "addresses, whose traffic (ssh, the kubelet) would be held to the "
                         "experiment's limit; set wide_prefixes = true if it is meant",
                         where, to_string(*prefix), shortest));
    return;
  }
  owned_.push_back(Owned{*prefix, e.x.name, where, &item, "addresses", e.index});
  e.x.addresses.push_back(*prefix);
}

// Reads the kernel command line (network.kernel_cmdline) and the host's addresses in it.
const Expected<EpoxyAddresses>& ExperimentsReader::host_addresses() {
  if (host_) return *host_;
  const std::string& path = c_.network.kernel_cmdline;
  auto text = read_cmdline_(path);
  if (!text) {
    host_ =
        Error{fmt::format("cannot read the kernel command line (network.kernel_cmdline "
                          "= \"{}\"): {}",
                          path, text.error().message)};
  } else if (auto parsed = parse_epoxy_cmdline(*text); !parsed) {
    host_ = Error{fmt::format("{} (from {})", parsed.error().message, path)};
  } else {
    host_ = std::move(parsed);
  }
  return *host_;
}

// M-Lab's addressing: the index instead of the addresses (lib/config/index2ip.hpp).
void ExperimentsReader::read_index(Table& e) {
  const toml::node* ix = e.t.get("index");
  if (!ix) return;
  const toml::node* a = e.t.get("addresses");
  const std::string k = e.where + ".index";
  if (!ix->is_integer() || ix->as_integer()->get() < 1 ||
      ix->as_integer()->get() > kMaxExperimentIndex) {
    p_.error(ix, k,
             fmt::format("{} = {}: expected the experiment's M-Lab index, an integer from 1 to "
                         "{}",
                         k, Parser::spell(*ix), kMaxExperimentIndex));
    return;
  }
  if (a) {
    p_.error(ix, k,
             fmt::format("{}: give either addresses (line {}) or index (line {}), not both", e.who,
                         a->source().begin.line, ix->source().begin.line));
    return;
  }
  const std::int64_t n = ix->as_integer()->get();
  e.x.index = static_cast<std::uint32_t>(n);
  const bool first = !host_.has_value();
  const Expected<EpoxyAddresses>& host = host_addresses();
  if (!host) {
    if (first) p_.error(ix, k, fmt::format("{} = {}: {}", k, n, host.error().message));
  } else if (auto derived = index_to_addresses(*host, n); !derived) {
    p_.error(ix, k, fmt::format("{} = {}: {}", k, n, derived.error().message));
  } else {
    for (const Prefix& prefix : *derived) {
      owned_.push_back(Owned{prefix, e.x.name, e.where, ix, "index", e.index});
      e.x.addresses.push_back(prefix);
    }
  }
}

void ExperimentsReader::read_cgroup(Table& e) {
  const toml::node* glob = e.t.get("cgroup");
  if (!glob) return;
  const std::string k = e.where + ".cgroup";
  if (!glob->is_string()) {
    p_.error(glob, k,
             fmt::format("{} = {}: expected a glob over cgroup paths", k, Parser::spell(*glob)));
  } else if (auto why = invalid_cgroup_glob(glob->as_string()->get())) {
    p_.error(glob, k, fmt::format("{} = {}: {}", k, Parser::spell(*glob), *why));
  } else {
    e.x.cgroup = glob->as_string()->get();
    const int line = static_cast<int>(glob->source().begin.line);
    if (auto [it, fresh] = globs_.emplace(e.x.cgroup, Claim{e.x.name, line, file_of(*glob)});
        !fresh) {
      p_.error(glob, k,
               fmt::format("{} = {}: also the cgroup of experiment \"{}\" ({})", k,
                           Parser::spell(*glob), it->second.experiment, place(it->second, *glob)));
    }
  }
}

// Discovery needs one of the two: addresses (found in the pod's network namespace) or a
// glob (host-network experiments). Only when neither was written, or the list is empty.
void ExperimentsReader::check_discoverable(const Table& e) {
  const toml::node* a = e.t.get("addresses");
  const bool no_addresses = !a || (a->as_array() && a->as_array()->empty());
  if (no_addresses && !e.t.get("index") && !e.t.get("cgroup")) {
    p_.error(a ? a : &e.t, e.where + ".addresses",
             fmt::format("{} has no addresses and no cgroup: list its addresses, give its M-Lab "
                         "index (index = N), or for a host-network experiment give cgroup = "
                         "\"<glob under cgroup_root>\"",
                         e.who));
  }
}

void ExperimentsReader::read_data_dir(Table& e) {
  const toml::node* d = e.t.get("data_dir");
  if (!d) return;
  const std::string k = e.where + ".data_dir";
  if (!d->is_string()) {
    p_.error(d, k, fmt::format("{} = {}: expected a directory path", k, Parser::spell(*d)));
  } else if (d->as_string()->get().empty() || d->as_string()->get().front() != '/' ||
             without_trailing_slashes(d->as_string()->get()) == "/") {
    p_.error(d, k, fmt::format("{} = {}: must be an absolute path below /", k, Parser::spell(*d)));
  } else {
    e.x.data_dir = without_trailing_slashes(d->as_string()->get());
    const int line = static_cast<int>(d->source().begin.line);
    if (auto [it, fresh] = data_dirs_.emplace(e.x.data_dir, Claim{e.x.name, line, file_of(*d)});
        !fresh) {
      p_.error(d, k,
               fmt::format("{} = {}: also the data_dir of experiment \"{}\" ({})", k,
                           Parser::spell(*d), it->second.experiment, place(it->second, *d)));
    }
  }
}

// project_id: as written, else daemon.project_id_base + the position; only with a data_dir.
void ExperimentsReader::read_project_id(Table& e) {
  const toml::node* id = e.t.get("project_id");
  std::uint32_t explicit_id = 0;
  const bool id_ok = integer_value(p_, e.t, e.where, "project_id", 1, kMaxProjectId, explicit_id);
  if (id && id_ok && !e.t.get("data_dir")) {
    p_.error(id, e.where + ".project_id",
             fmt::format("{}.project_id = {}: a project id needs a data_dir", e.where,
                         Parser::spell(*id)));
  } else if (!e.x.data_dir.empty() && (!id || id_ok)) {
    const std::int64_t derived = std::int64_t{c_.daemon.project_id_base} + e.index;
    if (id) {
      e.x.project_id = explicit_id;
    } else if (derived > kMaxProjectId) {
      p_.error(&e.t, e.where + ".project_id",
               fmt::format("{}: its project id would be daemon.project_id_base ({}) + its "
                           "position ({}), above {}: set project_id",
                           e.who, c_.daemon.project_id_base, e.index, kMaxProjectId));
    } else {
      e.x.project_id = static_cast<std::uint32_t>(derived);
    }
    claim_project_id(e, id);
  }
}

// No two experiments may share a project id (`id`: the project_id key, null when derived).
void ExperimentsReader::claim_project_id(Table& e, const toml::node* id) {
  if (e.x.project_id == 0) return;
  const int line = static_cast<int>((id ? id : &e.t)->source().begin.line);
  // Who holds an id, for the message of a later experiment that wants it too.
  const std::string holder =
      id ? fmt::format("experiment \"{}\" (line {})", e.x.name, line)
         : fmt::format("experiment \"{}\" (daemon.project_id_base + its position {}, line {})",
                       e.x.name, e.index, line);
  if (auto [it, fresh] = project_ids_.emplace(e.x.project_id, Claim{holder, line, {}}); !fresh) {
    const std::string how =
        id ? fmt::format("{}.project_id = {}", e.where, Parser::spell(*id))
           : fmt::format("{}: project id {} (daemon.project_id_base {} + position {})", e.who,
                         e.x.project_id, c_.daemon.project_id_base, e.index);
    p_.error(id ? id : &e.t, e.where + ".project_id",
             fmt::format("{}: also the project id of {}; give each experiment its own "
                         "project_id",
                         how, it->second.experiment));
  }
}

// optional: its pod may be absent on this host (the pod-not-found alert leaves it out).
void ExperimentsReader::read_optional(Table& e) {
  const toml::node* o = e.t.get("optional");
  if (!o) return;
  if (!o->is_boolean()) {
    p_.error(o, e.where + ".optional",
             fmt::format("{}.optional = {}: expected true or false", e.where, Parser::spell(*o)));
    return;
  }
  e.x.optional = o->as_boolean()->get();
}

void ExperimentsReader::read_pinned_rate(Table& e) {
  const std::size_t errors_before = p_.errors().size();
  p_.unit_value(e.t, e.where, "pinned_rate", e.x.pinned_rate_bits, parse_rate_bits);
  if (const toml::node* n = e.t.get("pinned_rate");
      n && p_.errors().size() == errors_before && e.x.pinned_rate_bits < 8) {
    p_.error(n, e.where + ".pinned_rate",
             fmt::format("{}.pinned_rate = {}: must be at least 8bit", e.where, Parser::spell(*n)));
  }
}

}  // namespace

void parse_experiments(Parser& p, const toml::node& node, Config& c,
                       const CmdlineReader& read_cmdline) {
  const toml::array* arr = node.as_array();
  if (!arr || !arr->is_array_of_tables()) {
    p.error(&node, "experiment", "experiment must be written as [[experiment]] tables");
    return;
  }
  ExperimentsReader reader(p, c, read_cmdline);
  int index = 0;
  for (const toml::node& e : *arr) reader.read(*e.as_table(), ++index);
  reader.finish(node);
}

}  // namespace enforcer::config_parse
