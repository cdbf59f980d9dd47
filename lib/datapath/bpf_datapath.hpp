// The BPF datapath: loads the accounting programs (bpf/account.bpf.c), pins them and their maps
// under bpf_pin_dir, attaches them to tc clsact ingress and egress of every uplink, next to the
// existing root qdisc (which is never touched), and to the cgroups of host-network experiments
// (cgroup_skb ingress and egress). Destroying it detaches and unpins everything it made; a clsact
// qdisc is removed only when this instance created it.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/expected.hpp"
#include "base/fd.hpp"
#include "config/config.hpp"
#include "datapath/datapath.hpp"
#include "datapath/exact_table.hpp"
#include "datapath/qdisc.hpp"

struct account;   // the generated skeleton (account.skel.h)
struct bpf_link;  // libbpf
struct bpf_map;   // libbpf

namespace enforcer {

struct BpfDatapathOptions {
  std::string pin_dir;
  std::vector<std::string> interfaces;
  std::uint32_t max_experiments = 4096;
  // Egress: auto paces (EDT) where fq holds the packets (the root qdisc, or every queue under an
  // mq root) and polices elsewhere; edt and police
  // force one (edt on an interface without fq is an error: nothing would honour the timestamps).
  Enforcement enforcement = Enforcement::kAuto;
  // interfaces = ["auto"]: the uplink follows the host's address, which may have moved while no
  // daemon ran, so a previous instance's filters are looked for on every interface, and those
  // on interfaces that are no uplink now are removed once the uplinks are attached.
  bool leftovers_anywhere = false;
  // The daemon's datapath: the limits hold only while confirm_limits_until() keeps confirming
  // them; until the first confirmation (and in a previous instance's adopted limits) each
  // experiment's fallback holds. Off (tests of the programs): the limits hold as they are set.
  bool limits_need_confirming = false;
  // The daemon's datapath: the cgroup_skb links are pinned (bpf_pin_dir/cgroup_links), so that a
  // stopped or killed daemon's host-network experiments stay enforced, and adopted by the next.
  bool pin_cgroup_links = false;
};

enum class Program { kEgressPolice, kEgressEdt, kIngress, kCgroupEgress, kCgroupIngress };

// tc filter coordinates of enforcer's programs on every uplink.
inline constexpr std::uint32_t kTcHandle = 0xe4f0;
inline constexpr std::uint32_t kTcPriority = 1;

class BpfDatapath final : public Datapath {
 public:
  // Loads, pins and attaches. A previous instance that did not stop cleanly (killed, crashed)
  // left its datapath running: its pinned maps are adopted when they fit this build (same type,
  // key and value size, max_entries), so counters, limits, rate state and addresses go on, and
  // its filters are replaced in place by the new programs (no moment without a program). What
  // does not fit is removed and rebuilt (logged). A foreign filter at enforcer's handle is an
  // error.
  static Expected<std::unique_ptr<BpfDatapath>> create(const BpfDatapathOptions& options);
  ~BpfDatapath() override;
  BpfDatapath(const BpfDatapath&) = delete;
  BpfDatapath& operator=(const BpfDatapath&) = delete;

  Expected<void> add_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) override;
  // True when create() adopted a previous instance's maps.
  bool adopted() const override { return adopted_; }
  // Adopted maps: attributes `addresses` to `id` like add_experiment, but keeps the id's
  // counters, limit and rate state (the id is still the same experiment's).
  Expected<void> keep_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) override;
  // Adopted maps: removes the address entries no add_experiment or keep_experiment of this
  // instance wrote (experiments no longer configured, addresses dropped). Returns how many.
  std::size_t prune_addresses() override;
  // Also detaches the experiment's cgroups (detach_cgroups) and forgets its pod cgroups: a freed
  // id attributes nothing.
  Expected<void> remove_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) override;
  // Removes address entries (whoever they attribute to; missing ones are no error), e.g. those a
  // kept experiment no longer has after a reload.
  Expected<void> remove_addresses(const std::vector<Prefix>& addresses) override;
  Expected<void> read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) override;
  Expected<void> set_limits(const std::vector<LimitUpdate>& updates) override;
  // One store to the programs' memory-mapped global section; no system call.
  void confirm_limits_until(std::uint64_t monotonic_ns) override;
  // A clean stop that holds (daemon.on_stop = "hold"): the limits stop holding at once (each
  // experiment falls back to its allocation), and destroying this instance then leaves the
  // programs attached and every map, program and pinned cgroup link in place, for the next
  // daemon to adopt.
  void hold();

  // Checks every uplink against what it should run, cheaply enough for every tick (one qdisc dump
  // and two filter queries per uplink): under enforcement = "auto" the egress program follows the
  // root qdisc (EDT while fq holds the packets, policing otherwise), swapped in place
  // (BPF_TC_F_REPLACE), so no packet passes unenforced; a filter or clsact qdisc someone removed is
  // put back; an uplink that vanished is reported once and attached again when an interface of its
  // name returns. Returns an error only for what it could not repair; the next call tries again.
  Expected<void> refresh();

  // Host-network experiments (they share the host's addresses, so the uplink cannot attribute
  // their packets): attaches the cgroup_skb ingress and egress programs to the cgroup v2 directory
  // `cgroup_path`, so that every packet of a socket created in it, or in a cgroup below it, is
  // counted and limited as experiment `experiment_id`'s, in the same counters, limit and schedule
  // as the uplink's programs use (bytes include ETH_HLEN, as on the uplink; loopback traffic is
  // neither counted nor limited). Only for experiments without addresses of their own: the
  // programs would count an addressed experiment's packets a second time.
  //
  // The programs are attached as bpf_links (BPF_F_ALLOW_MULTI semantics: programs others attached
  // to the cgroup, such as systemd's IP accounting, keep running; the packet passes only when all
  // pass). With pin_cgroup_links they are pinned as <cgroup id>_egress / _ingress under
  // bpf_pin_dir/cgroup_links and outlive the process like the uplink's filters; the next instance
  // adopts them (their programs swapped for its own, BPF_LINK_UPDATE) until its pod scan finds
  // the cgroup again (attach_cgroup claims them) or has finished without it
  // (release_unclaimed_cgroups). Without, they go with this instance or its process. An experiment
  // may have several cgroups (a restarted container's new one); attaching an attached path again is
  // a no-op. A cgroup nested in (or containing) another experiment's cgroup is refused: its packets
  // would run both experiments' programs. A cgroup directory that does not exist (it vanished) is
  // an error naming it, and changes nothing.
  Expected<void> attach_cgroup(std::uint32_t experiment_id, const std::string& cgroup_path);
  // Detaches the programs from one cgroup of the experiment (the cgroup may be gone already).
  Expected<void> detach_cgroup(std::uint32_t experiment_id, const std::string& cgroup_path);
  // Detaches every cgroup of the experiment (remove_experiment does this too).
  void detach_cgroups(std::uint32_t experiment_id) override;
  // How many cgroups the programs are attached to.
  std::size_t cgroup_attachments() const { return cgroups_.size(); }
  // Detaches the adopted cgroup links no attach_cgroup claimed: the first complete pod scan is
  // over, so their cgroups are no experiment's now. Returns how many cgroups.
  std::size_t release_unclaimed_cgroups();

  // Pods with addresses of their own: their egress packets are attributed by the pod their socket
  // belongs to (the cgroup it was created in, or one below it), whatever their source address, so
  // that a pod cannot leave its experiment's allocation by sending from another address nor spend
  // another experiment's. `wanted` is the whole set, pod cgroup id → experiment id; what the map
  // holds beyond it (pods gone, entries an adopted map kept from a previous instance) is removed.
  // Returns the first error (the map full); what could be written is.
  Expected<void> set_pod_cgroups(const std::map<std::uint64_t, std::uint32_t>& wanted);
  // How many pod cgroups attribute egress packets.
  std::size_t pod_cgroup_count() const { return pod_cgroups_.size(); }

  // Moves enforcement from the uplink `from` to the interface `to` (network.interfaces = ["auto"]:
  // the host's address moved): `to` is attached first (a filter of ours already there is swapped
  // in place, a foreign one is an error), then `from` is detached. On an error `from` stays as
  // it was and nothing is left on `to`.
  Expected<void> move_uplink(const std::string& from, const std::string& to);
  // The uplinks attached, in order.
  std::vector<std::string> uplinks() const;

  // True when `interface`'s egress is paced (EDT) rather than policed.
  bool egress_paced(const std::string& interface) const;

  int counters_fd() const;
  int program_fd(Program program) const;

  // log2 of the slots of each half of the exact-address table for `max_experiments`.
  static unsigned exact_slot_bits(std::uint32_t max_experiments);

 private:
  // Reads ids 0..want-1 of the array map `fd` (values of value_size bytes each) into `out`: one
  // batch where the kernel has it, else one lookup per id. `what` names the values in errors.
  Expected<void> lookup_array(int fd, std::uint32_t want, void* out, std::size_t value_size,
                              const char* what);
  struct Attachment {
    std::string interface;
    int ifindex = 0;
    bool created_clsact = false;
    bool egress_edt = false;
    bool egress_attached = false;
    bool ingress_attached = false;
    bool missing = false;         // the interface is gone (reported once)
    bool foreign_warned = false;  // someone else's filter holds our handle (reported once)
  };

  struct CgroupAttachment {
    std::uint32_t experiment_id = 0;
    std::string path;  // as given, without trailing slashes
    std::uint64_t cgroup_id = 0;
    bpf_link* egress = nullptr;
    bpf_link* ingress = nullptr;
    // false: adopted from a previous instance's pins and not found again yet (`path` unknown).
    bool claimed = true;
  };

  // A filter of the previous instance still attached (create() found it).
  struct Leftover {
    std::string interface;
    int ifindex = 0;
    int point = 0;       // bpf_tc_attach_point
    bool uplink = true;  // false: on an interface that is no uplink now (leftovers_anywhere)
  };

  // Owns the generated skeleton: account__destroy, which closes what it loaded, when the datapath
  // goes (after the destructor has detached and unpinned).
  struct DestroySkeleton {
    void operator()(account* skel) const;
  };
  // Whether reconcile_hooks puts the filters on a new attachment, repairs an attached one, or
  // puts them on the interface an uplink moves to.
  enum class HookPass { kAttach, kRepair, kMove };

  explicit BpfDatapath(BpfDatapathOptions options);

  // Loading, in the libbpf-tools order (bpf_loader.cpp): open and size the maps, adopt a previous
  // instance's maps or remove its leftovers, load, pin, read the programs' ids.
  Expected<void> load_and_pin(const std::vector<Leftover>& leftovers);
  Expected<void> open_skeleton();
  void migrate_limits();
  Expected<void> pin_all();
  Expected<void> read_prog_ids();
  std::vector<std::pair<const char*, bpf_map*>> map_pins() const;
  void unpin_all();

  // A previous instance's leftovers (bpf_adopt.cpp). Its filters at enforcer's handle on the
  // uplinks; an error names a filter there that is not its.
  static Expected<std::vector<Leftover>> find_leftovers(const BpfDatapathOptions& options,
                                                        const std::vector<int>& ifindexes);
  // Before load: reuses the pinned maps when adoptable_maps() allows, else removes the leftover
  // filters and pins.
  Expected<void> adopt_or_remove(const std::vector<Leftover>& leftovers);
  // Open fds of the pinned maps, in map_pins() order, when all are there and fit this build
  // (an empty Fd for a map of added_later() that is not there, or a grown map of an older layout:
  // it is created; old_limits_ keeps the latter to copy from); otherwise none,
  // and `why_not` says why.
  std::vector<Fd> adoptable_maps(std::string& why_not);

  // The uplinks' tc filters (tc_hooks.cpp).
  Expected<void> attach(const std::string& interface, HookPass pass = HookPass::kAttach);
  Expected<void> refresh_one(Attachment& a);
  Expected<void> reconcile_hooks(Attachment& a, const EgressQdisc& qdisc, bool edt, HookPass pass);
  bool wants_edt(const EgressQdisc& qdisc) const;
  void detach_one(Attachment& a);
  void detach_all();
  // After attaching: removes the leftovers on interfaces that are no uplink now.
  void detach_stale(const std::vector<Leftover>& leftovers);

  void detach_cgroup_at(std::size_t index);
  std::string cgroup_link_dir() const { return options_.pin_dir + "/cgroup_links"; }
  void pin_cgroup_links(const CgroupAttachment& c);
  // After load, adopted: the previous instance's pinned cgroup links run this instance's
  // programs; cgroup_ids entries without one are removed.
  void adopt_cgroup_links();
  Expected<void> write_addresses(std::uint32_t id, const std::vector<Prefix>& addresses);
  // One trie entry (bpf_maps.cpp): 0 or the errno. delete_trie with only_written deletes only
  // what this instance wrote (ENOENT otherwise).
  int write_trie(std::uint32_t id, const Prefix& p);
  int delete_trie(const Prefix& p, bool only_written);

  // The exact-address table (bpf_exact.cpp; exact_table.hpp says why its updates are safe).
  // After load: maps addr_exact and addr_ctl; `adopted_table`: they are a previous instance's,
  // whose active half becomes the mirror.
  Expected<void> map_exact_table(bool adopted_table);
  void unmap_exact_table();
  enforcer_exact_slot* exact_half(std::uint32_t half);
  // false: the key's window is full (it belongs in the trie).
  bool write_exact(std::uint32_t id, const ExactKey& key);
  bool remove_exact(const ExactKey& key);
  // Removes the attributed keys no write_exact of this instance wrote; returns how many.
  std::size_t prune_exact();
  // Lays the table out afresh in the other half and switches to it (two RCU grace periods).
  void rebuild_exact();
  void publish_trie_flags();
  void publish_pod_cgroups_flag(bool may_hold);
  static void wait_for_readers();
  std::uint32_t prog_id(Program program) const;
  Expected<void> zero_counters(std::uint32_t id);
  Expected<void> zero_shaper(std::uint32_t id);

  BpfDatapathOptions options_;
  std::unique_ptr<account, DestroySkeleton> skel_;
  int ncpus_ = 0;
  std::vector<Attachment> attachments_;
  std::vector<CgroupAttachment> cgroups_;
  std::map<std::uint64_t, std::uint32_t> pod_cgroups_;  // what set_pod_cgroups wrote
  std::vector<std::string> pinned_;
  bool adopted_ = false;
  bool hold_ = false;  // hold(): the destructor leaves the datapath in place
  // An adopted limits map of an older layout (enforcer_limit grew): its entries are copied into
  // the new map after load (migrate_limits), which replaces its pin.
  Fd old_limits_;
  std::vector<std::string> created_on_adoption_;  // maps an adopted datapath lacked (added_later)
  // The LPM keys this instance wrote, as bytes (struct enforcer_lpm_v4 / _v6: 8 and 20 bytes;
  // enforcer_abi.h asserts both sizes).
  std::set<std::array<std::uint8_t, 8>> written_v4_;
  std::set<std::array<std::uint8_t, 20>> written_v6_;
  // The exact-address table: its maps memory-mapped, the mirror of the half the programs search,
  // and the keys this instance wrote (prune_addresses removes the others).
  enforcer_exact_slot* exact_slots_ = nullptr;
  enforcer_addr_ctl* addr_ctl_ = nullptr;
  std::size_t exact_bytes_ = 0;
  std::size_t ctl_bytes_ = 0;
  std::uint32_t exact_half_ = 0;
  ExactTable exact_{4};
  std::set<ExactKey> written_exact_;
  // Full-length addresses in the trie because their window was full (a fresh layout retries them).
  std::map<ExactKey, std::uint32_t> trie_overflow_;
  // Adopted tries may hold entries no instance of this build wrote, until prune_addresses().
  bool trie_may_hold_adopted_ = false;
  std::uint32_t prog_ids_[5] = {};    // by Program
  std::vector<std::uint8_t> values_;  // scratch for batch reads
  std::vector<enforcer_charged> charged_;
  std::vector<std::uint32_t> keys_;
};

// What uninstall_datapath did, left alone, and failed to do (one line each).
struct UninstallReport {
  std::vector<std::string> removed;
  std::vector<std::string> kept;
  std::vector<std::string> errors;
};

// Removes what a daemon that did not stop cleanly left behind (enforcerd --uninstall; the caller
// holds the state_dir lock, so no daemon runs): enforcer's tc filters on `interfaces` (its
// handle and priority, running the programs pinned in `pin_dir` or programs of enforcer's names;
// any other filter stays, and so does the clsact qdisc, which may hold others' filters and whose
// creator is not known any more), and every pin in `pin_dir`, the cgroup_skb links' in
// `pin_dir`/cgroup_links too (unpinned, they detach), and the directories when empty.
UninstallReport uninstall_datapath(const std::string& pin_dir,
                                   const std::vector<std::string>& interfaces);

// The ifindex of each named interface; an error names the first that does not exist.
Expected<std::vector<int>> interface_indexes(const std::vector<std::string>& names);
// The names of every interface of the calling thread's network namespace.
std::vector<std::string> all_interfaces();

// Routes libbpf's messages into enforcer's log (once per process).
void route_libbpf_log();

}  // namespace enforcer
