// The maps' I/O: experiments' addresses, limits and rate state, reading the counters, and the pod
// cgroups that attribute egress packets.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "account.skel.h"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"
#include "datapath/exact_table.hpp"
#include "enforcer_abi.h"

namespace enforcer {

namespace {

template <std::size_t N>
void fill_key(std::uint8_t (&dst)[N], const Prefix& p) {
  std::memcpy(dst, p.bytes.data(), N);
}

// An LPM key as the bytes the map holds (the sets of written keys compare them).
template <typename Key>
std::array<std::uint8_t, sizeof(Key)> key_bytes(const Key& key) {
  std::array<std::uint8_t, sizeof(Key)> bytes{};
  std::memcpy(bytes.data(), &key, sizeof key);
  return bytes;
}

}  // namespace

Expected<void> BpfDatapath::set_limits(const std::vector<LimitUpdate>& updates) {
  if (updates.empty()) return {};
  keys_.resize(updates.size());
  std::vector<enforcer_limit> values(updates.size());
  for (std::size_t i = 0; i < updates.size(); ++i) {
    keys_[i] = updates[i].id;
    const RateLimit& l = updates[i].limit;
    for (Direction d : kDirections) {
      values[i].rate_bytes_per_sec[d] = l.bytes_per_second[d];
      values[i].police_tolerance_ns[d] = l.police_tolerance_ns[d];
      values[i].budget_bytes_total[d] = l.budget_bytes_total[d];
      values[i].fallback_rate_bytes_per_sec[d] = l.fallback_bytes_per_second[d];
      values[i].fallback_tolerance_ns[d] = l.fallback_tolerance_ns[d];
    }
    values[i].edt_horizon_ns = l.edt_horizon_ns;
  }
  const int fd = bpf_map__fd(skel_->maps.limits);
  auto count = static_cast<std::uint32_t>(updates.size());
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  if (bpf_map_update_batch(fd, keys_.data(), values.data(), &count, &opts) == 0) return {};
  // Kernels without batch updates for arrays: one update per experiment.
  for (std::size_t i = 0; i < updates.size(); ++i) {
    if (bpf_map_update_elem(fd, &keys_[i], &values[i], BPF_ANY) != 0) {
      return errno_error(errno, "cannot set the rate limit of experiment id {}", keys_[i]);
    }
  }
  return {};
}

Expected<void> BpfDatapath::zero_shaper(std::uint32_t id) {
  const enforcer_shaper zero{};
  const enforcer_limit none{};
  const enforcer_charged nothing{};
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.shapers), &id, &zero, BPF_ANY) != 0 ||
      bpf_map_update_elem(bpf_map__fd(skel_->maps.limits), &id, &none, BPF_ANY) != 0 ||
      bpf_map_update_elem(bpf_map__fd(skel_->maps.charged), &id, &nothing, BPF_ANY) != 0) {
    return errno_error(errno, "cannot reset the rate state of experiment id {}", id);
  }
  return {};
}

Expected<void> BpfDatapath::zero_counters(std::uint32_t id) {
  std::vector<enforcer_counters> zero(static_cast<std::size_t>(ncpus_));
  if (bpf_map_update_elem(counters_fd(), &id, zero.data(), BPF_ANY) != 0) {
    return errno_error(errno, "cannot reset counters of experiment id {}", id);
  }
  return {};
}

Expected<void> BpfDatapath::add_experiment(std::uint32_t id, const std::vector<Prefix>& addresses) {
  if (id == ENFORCER_UNATTRIBUTED_ID || id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range 1..{}", id, options_.max_experiments)};
  }
  if (auto r = zero_counters(id); !r) return r;
  if (auto r = zero_shaper(id); !r) return r;
  return write_addresses(id, addresses);
}

Expected<void> BpfDatapath::keep_experiment(std::uint32_t id,
                                            const std::vector<Prefix>& addresses) {
  if (id == ENFORCER_UNATTRIBUTED_ID || id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range 1..{}", id, options_.max_experiments)};
  }
  return write_addresses(id, addresses);
}

int BpfDatapath::write_trie(std::uint32_t id, const Prefix& p) {
  int err;
  if (p.v6) {
    enforcer_lpm_v6 key{p.length, {}};
    fill_key(key.addr, p);
    err = bpf_map_update_elem(bpf_map__fd(skel_->maps.addr_v6), &key, &id, BPF_ANY);
    if (err == 0) written_v6_.insert(key_bytes(key));
  } else {
    enforcer_lpm_v4 key{p.length, {}};
    fill_key(key.addr, p);
    err = bpf_map_update_elem(bpf_map__fd(skel_->maps.addr_v4), &key, &id, BPF_ANY);
    if (err == 0) written_v4_.insert(key_bytes(key));
  }
  return err ? errno : 0;
}

int BpfDatapath::delete_trie(const Prefix& p, bool only_written) {
  int err = 0;
  if (p.v6) {
    enforcer_lpm_v6 key{p.length, {}};
    fill_key(key.addr, p);
    if (!written_v6_.erase(key_bytes(key)) && only_written) return ENOENT;
    if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.addr_v6), &key) != 0) err = errno;
  } else {
    enforcer_lpm_v4 key{p.length, {}};
    fill_key(key.addr, p);
    if (!written_v4_.erase(key_bytes(key)) && only_written) return ENOENT;
    if (bpf_map_delete_elem(bpf_map__fd(skel_->maps.addr_v4), &key) != 0) err = errno;
  }
  return err;
}

Expected<void> BpfDatapath::write_addresses(std::uint32_t id,
                                            const std::vector<Prefix>& addresses) {
  bool overflowed = false;
  std::optional<Error> failed;
  for (const Prefix& p : addresses) {
    // Full-length addresses in the exact table; shorter prefixes, and an address whose slots are
    // all taken, in the trie.
    const auto exact = exact_key(p);
    if (exact && write_exact(id, *exact)) continue;
    if (exact) {
      // Only removed slots in its window can make room: a fresh layout (two grace periods) is
      // worth it then, not for a window full of attributed addresses.
      overflowed = overflowed || exact_.window_has_removed(*exact);
      trie_overflow_[*exact] = id;
    }
    if (int err = write_trie(id, p); err) {
      failed = errno_error(err, "cannot add address {} of experiment id {}", to_string(p), id);
      break;
    }
  }
  publish_trie_flags();
  if (exact_.wants_rebuild() || overflowed) rebuild_exact();
  if (failed) return *failed;
  return {};
}

std::size_t BpfDatapath::prune_addresses() {
  std::size_t removed = prune_exact();
  auto prune = [&]<std::size_t N>(int fd, const std::set<std::array<std::uint8_t, N>>& keep) {
    // Collect first: deleting while walking an LPM trie's keys would restart the walk.
    std::vector<std::array<std::uint8_t, N>> gone;
    std::array<std::uint8_t, N> key{}, next{};
    const void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      if (!keep.count(next)) gone.push_back(next);
      key = next;
      prev = key.data();
    }
    for (const auto& k : gone) {
      if (bpf_map_delete_elem(fd, k.data()) == 0) ++removed;
    }
  };
  prune(bpf_map__fd(skel_->maps.addr_v4), written_v4_);
  prune(bpf_map__fd(skel_->maps.addr_v6), written_v6_);
  // The tries hold only what this instance wrote now.
  trie_may_hold_adopted_ = false;
  publish_trie_flags();
  if (exact_.wants_rebuild()) rebuild_exact();
  return removed;
}

Expected<void> BpfDatapath::remove_addresses(const std::vector<Prefix>& addresses) {
  std::string failed;
  for (const Prefix& p : addresses) {
    const auto exact = exact_key(p);
    if (exact) {
      remove_exact(*exact);
      trie_overflow_.erase(*exact);
    }
    // A full-length address is in the trie only when its slots were full, or when an adopted
    // datapath (an older layout) had it there.
    const int err = delete_trie(p, /*only_written=*/exact && !trie_may_hold_adopted_);
    if (err != 0 && err != ENOENT) {
      failed += fmt::format("{}{}: {}", failed.empty() ? "" : ", ", to_string(p), errno_text(err));
    }
  }
  publish_trie_flags();
  if (exact_.wants_rebuild()) rebuild_exact();
  if (!failed.empty()) return Error{fmt::format("cannot remove address(es) {}", failed)};
  return {};
}

Expected<void> BpfDatapath::remove_experiment(std::uint32_t id,
                                              const std::vector<Prefix>& addresses) {
  detach_cgroups(id);
  for (auto it = pod_cgroups_.begin(); it != pod_cgroups_.end();) {
    if (it->second != id) {
      ++it;
      continue;
    }
    bpf_map_delete_elem(bpf_map__fd(skel_->maps.pod_cgroups), &it->first);
    it = pod_cgroups_.erase(it);
  }
  auto removed = remove_addresses(addresses);
  if (auto r = zero_shaper(id); !r) return r;
  if (auto r = zero_counters(id); !r) return r;
  return removed;
}

Expected<void> BpfDatapath::lookup_array(int fd, std::uint32_t want, void* out,
                                         std::size_t value_size, const char* what) {
  keys_.resize(want);
  std::uint32_t count = want;
  std::uint32_t next = 0;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  const int err = bpf_map_lookup_batch(fd, nullptr, &next, keys_.data(), out, &count, &opts);
  // An array's batch starts at key 0 and runs in key order: a full one is ids 0..want-1.
  if ((err == 0 || errno == ENOENT) && count == want) return {};
  // Kernels without batch support for arrays: one lookup per id.
  for (std::uint32_t id = 0; id < want; ++id) {
    if (bpf_map_lookup_elem(fd, &id, static_cast<std::uint8_t*>(out) + id * value_size) != 0) {
      return errno_error(errno, "cannot read the {} of id {}", what, id);
    }
  }
  return {};
}

Expected<void> BpfDatapath::read_counters(std::uint32_t max_id, std::vector<CounterSample>& out) {
  if (max_id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range", max_id)};
  }
  const std::uint32_t want = max_id + 1;
  out.assign(want, CounterSample{});
  // The charged bytes first (CounterSample::charged says why).
  charged_.resize(want);
  if (auto r = lookup_array(bpf_map__fd(skel_->maps.charged), want, charged_.data(),
                            sizeof(enforcer_charged), "budget counters");
      !r) {
    return r;
  }
  for (std::uint32_t id = 0; id < want; ++id) {
    for (Direction d : kDirections) out[id].charged[d] = charged_[id].bytes[d];
  }
  const std::size_t per_id = static_cast<std::size_t>(ncpus_) * sizeof(enforcer_counters);
  values_.resize(want * per_id);
  if (auto r = lookup_array(counters_fd(), want, values_.data(), per_id, "counters"); !r) return r;
  const auto* values = reinterpret_cast<const enforcer_counters*>(values_.data());
  for (std::uint32_t id = 0; id < want; ++id) {
    CounterSample& s = out[id];
    for (int cpu = 0; cpu < ncpus_; ++cpu) {
      const enforcer_counters& c = values[static_cast<std::size_t>(id) * ncpus_ + cpu];
      for (Direction d : kDirections) {
        s.bytes[d] += c.bytes[d];
        s.packets[d] += c.packets[d];
        s.dropped_bytes[d] += c.dropped_bytes[d];
        s.dropped_packets[d] += c.dropped_packets[d];
      }
    }
  }
  return {};
}

Expected<void> BpfDatapath::set_pod_cgroups(const std::map<std::uint64_t, std::uint32_t>& wanted) {
  const int fd = bpf_map__fd(skel_->maps.pod_cgroups);
  // The programs look in the map once the flag is set, before the first entry is there.
  if (!wanted.empty()) publish_pod_cgroups_flag(true);
  // What the map holds beyond `wanted`: read all keys first (deleting while walking with
  // get_next_key can restart the walk).
  std::vector<std::uint64_t> stale;
  std::uint64_t key = 0;
  std::uint64_t* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &key) == 0) {
    if (!wanted.contains(key)) stale.push_back(key);
    prev = &key;
  }
  for (std::uint64_t k : stale) bpf_map_delete_elem(fd, &k);
  std::optional<Error> first;
  std::map<std::uint64_t, std::uint32_t> written;
  for (const auto& [cgroup_id, id] : wanted) {
    if (bpf_map_update_elem(fd, &cgroup_id, &id, BPF_ANY) != 0) {
      if (!first) {
        first =
            errno_error(errno, "cannot register pod cgroup {} of experiment id {}", cgroup_id, id);
      }
      continue;
    }
    written.emplace(cgroup_id, id);
  }
  pod_cgroups_ = std::move(written);
  // Empty (nothing was left behind): the programs need not look.
  std::uint64_t any = 0;
  if (bpf_map_get_next_key(fd, nullptr, &any) != 0) publish_pod_cgroups_flag(false);
  if (first) return *first;
  return {};
}

}  // namespace enforcer
