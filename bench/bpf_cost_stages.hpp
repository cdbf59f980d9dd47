// bench/bpf_cost's stage programs (bench/stages.bpf.c): loading them on the datapath's pinned
// maps, filling their tables, and checking that the alternatives attribute like the datapath.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datapath/bpf_datapath.hpp"

struct stages;  // stages.skel.h

namespace enforcer::bench {

// The datapath and stage programs for one trie size; the destructor releases everything (the
// datapath unpins and removes its pin folder).
struct Setup {
  std::unique_ptr<BpfDatapath> dp;
  stages* st = nullptr;
  ~Setup();
};

// Opens the stage programs into `s.st` on the maps `s.dp` pinned in `pin_dir`, loads them and
// fills their exact-address maps and table with experiments 1..n.
bool load_stages(Setup& s, const std::string& pin_dir, std::uint32_t n);

// The alternatives must attribute like the real program: one run on `data` must count one
// egress packet for experiment `id` (0: unattributed).
bool attributes(BpfDatapath& dp, int prog_fd, const std::vector<std::uint8_t>& data,
                std::uint32_t id, std::uint32_t n, const char* what);

}  // namespace enforcer::bench
