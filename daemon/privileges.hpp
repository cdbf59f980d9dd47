#pragma once

#include <cstdint>

#include "base/expected.hpp"

namespace enforcer {

// enforcerd needs CAP_NET_ADMIN (tc) and CAP_BPF or CAP_SYS_ADMIN (BPF programs and maps) in its
// effective set; says which are missing.
Expected<void> check_privileges();

// Raises the soft limit on open files to the hard one (systemd and login shells start services
// at a soft 1024, less than 1,024 control clients and a cgroup fd per host-network experiment
// need); returns the limit in effect.
std::uint64_t raise_open_file_limit();

}  // namespace enforcer
