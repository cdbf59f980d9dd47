// The exact-address table's I/O (addr_exact, addr_ctl): both maps memory-mapped, slots written in
// the order lib/datapath/exact_table.hpp explains, a fresh layout written into the other half and
// switched to, and the "may hold anything" flags of the tries and pod_cgroups the programs read.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>
#include <linux/membarrier.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "account.skel.h"
#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"

namespace enforcer {

namespace {

std::size_t mapped_size(const bpf_map* map) {
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t bytes =
      static_cast<std::size_t>(bpf_map__max_entries(map)) * bpf_map__value_size(map);
  return (bytes + page - 1) / page * page;
}

void store(std::uint32_t& word, std::uint32_t value) {
  std::atomic_ref<std::uint32_t>(word).store(value, std::memory_order_release);
}

Prefix prefix_of(const ExactKey& key) {
  Prefix p;
  p.v6 = key.family == 6;
  p.length = p.v6 ? 128 : 32;
  std::memcpy(p.bytes.data(), key.addr.data(), p.v6 ? 16 : 4);
  return p;
}

}  // namespace

unsigned BpfDatapath::exact_slot_bits(std::uint32_t max_experiments) {
  // One IPv4 and one IPv6 address per experiment, and room for small nodes' extra addresses.
  return ExactTable::bits_for(std::max<std::size_t>(512, 2 * std::size_t{max_experiments}));
}

Expected<void> BpfDatapath::map_exact_table(bool adopted_table) {
  exact_bytes_ = mapped_size(skel_->maps.addr_exact);
  ctl_bytes_ = mapped_size(skel_->maps.addr_ctl);
  void* slots = mmap(nullptr, exact_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED,
                     bpf_map__fd(skel_->maps.addr_exact), 0);
  if (slots == MAP_FAILED) return errno_error(errno, "cannot map the exact-address table");
  exact_slots_ = static_cast<enforcer_exact_slot*>(slots);
  void* ctl = mmap(nullptr, ctl_bytes_, PROT_READ | PROT_WRITE, MAP_SHARED,
                   bpf_map__fd(skel_->maps.addr_ctl), 0);
  if (ctl == MAP_FAILED) return errno_error(errno, "cannot map the address control word");
  addr_ctl_ = static_cast<enforcer_addr_ctl*>(ctl);
  const unsigned bits = exact_slot_bits(options_.max_experiments);
  exact_half_ = std::atomic_ref<std::uint32_t>(addr_ctl_->active_half).load() & 1;
  // A previous instance's table goes on as it is, like its tries, until prune_addresses().
  exact_ = adopted_table ? ExactTable::from_slots(bits, exact_slots_ + exact_half_ * (1u << bits))
                         : ExactTable(bits);
  // Adopted tries hold a previous instance's entries (an older layout's full-length addresses
  // among them), which the programs must find until this instance has written its own.
  trie_may_hold_adopted_ = adopted_;
  publish_trie_flags();
  // An adopted pod_cgroups map may hold entries until the first pod scan's set_pod_cgroups.
  publish_pod_cgroups_flag(adopted_);
  return {};
}

void BpfDatapath::unmap_exact_table() {
  if (exact_slots_) munmap(exact_slots_, exact_bytes_);
  if (addr_ctl_) munmap(addr_ctl_, ctl_bytes_);
  exact_slots_ = nullptr;
  addr_ctl_ = nullptr;
}

enforcer_exact_slot* BpfDatapath::exact_half(std::uint32_t half) {
  return exact_slots_ + static_cast<std::size_t>(half) * exact_.slot_count();
}

bool BpfDatapath::write_exact(std::uint32_t id, const ExactKey& key) {
  const auto slot = exact_.place(key);
  if (!slot) return false;
  enforcer_exact_slot& s = exact_half(exact_half_)[*slot];
  // The address first (unchanged when the slot was the key's already), the id last.
  for (std::size_t i = 0; i < key.addr.size(); ++i) store(s.addr[i], key.addr[i]);
  store(s.family, key.family);
  store(s.id, id);
  exact_.set(*slot, key, id);
  written_exact_.insert(key);
  return true;
}

bool BpfDatapath::remove_exact(const ExactKey& key) {
  written_exact_.erase(key);
  const auto slot = exact_.remove(key);
  if (!slot) return false;
  store(exact_half(exact_half_)[*slot].id, ENFORCER_EXACT_REMOVED);
  return true;
}

void BpfDatapath::publish_trie_flags() {
  store(addr_ctl_->trie_v4, trie_may_hold_adopted_ || !written_v4_.empty() ? 1 : 0);
  store(addr_ctl_->trie_v6, trie_may_hold_adopted_ || !written_v6_.empty() ? 1 : 0);
}

void BpfDatapath::publish_pod_cgroups_flag(bool may_hold) {
  store(addr_ctl_->pod_cgroups, may_hold ? 1 : 0);
}

void BpfDatapath::wait_for_readers() {
  // The programs run under RCU; MEMBARRIER_CMD_GLOBAL returns after a grace period
  // (synchronize_rcu), when every program that started before it has finished.
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0) return;
  // Not available (nohz_full CPUs): a program runs for microseconds; wait far longer.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void BpfDatapath::rebuild_exact() {
  // Everything attributed: the table's entries and the addresses whose window was full.
  auto entries = exact_.entries();
  for (const auto& [key, id] : trie_overflow_) {
    if (!exact_.find(key)) entries.emplace_back(key, id);
  }
  auto [table, overflow] = ExactTable::build(exact_.slot_bits(), entries);
  // What finds no slot goes to the trie before the new half can be searched.
  for (const auto& [key, id] : overflow) {
    if (write_trie(id, prefix_of(key)) != 0) {
      log_warning("cannot move address {} into the trie: {}; the exact table keeps it",
                  to_string(prefix_of(key)), errno_text(errno));
      return;
    }
  }
  publish_trie_flags();
  const std::uint32_t next = exact_half_ ^ 1;
  wait_for_readers();  // nobody is left in the half searched before the last switch
  std::memcpy(exact_half(next), table.slots().data(),
              table.slots().size() * sizeof(enforcer_exact_slot));
  std::atomic_thread_fence(std::memory_order_release);
  store(addr_ctl_->active_half, next);
  exact_half_ = next;
  wait_for_readers();  // nobody is left in the old half, nor needs the trie for what moved
  std::size_t moved = 0;
  for (const auto& [key, id] : table.entries()) {
    if (delete_trie(prefix_of(key), /*only_written=*/true) == 0) ++moved;
  }
  trie_overflow_.clear();
  for (const auto& [key, id] : overflow) trie_overflow_[key] = id;
  log_info(
      "exact-address table laid out afresh: {} address(es), {} removed slot(s) freed, {} in "
      "the trie, {} moved out of it",
      table.live(), exact_.removed(), overflow.size(), moved);
  exact_ = std::move(table);
  publish_trie_flags();
}

std::size_t BpfDatapath::prune_exact() {
  std::size_t removed = 0;
  for (const auto& [key, id] : exact_.entries()) {
    if (!written_exact_.contains(key) && remove_exact(key)) ++removed;
  }
  return removed;
}

}  // namespace enforcer
