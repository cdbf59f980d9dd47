// cgroup_skb: attaching the accounting programs to host-network experiments' cgroups (as
// bpf_links, pinned for the daemon), adopting a previous instance's pinned links, detaching them.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <map>

#include "account.skel.h"
#include "base/fd.hpp"
#include "base/log.hpp"
#include "base/text.hpp"
#include "datapath/bpf_datapath.hpp"
#include "enforcer_abi.h"

namespace enforcer {

namespace {

// "/a/b/" and "/a//b" are "/a/b".
std::string normal_cgroup_path(const std::string& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

// True when one of the two cgroup directories contains the other (or they are the same).
bool nested(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() <= b.size() ? a : b;
  const std::string& longer = a.size() <= b.size() ? b : a;
  return longer.compare(0, shorter.size(), shorter) == 0 &&
         (longer.size() == shorter.size() || longer[shorter.size()] == '/' || shorter == "/");
}

// The id of the cgroup v2 directory open at `fd` (what bpf_skb_cgroup_id() returns for its
// sockets): the kernfs node id, which the kernel hands out as the directory's file handle and,
// on 64-bit hosts, its inode number.
Expected<std::uint64_t> cgroup_id_of(int fd, const std::string& path) {
  alignas(file_handle) unsigned char buf[sizeof(file_handle) + sizeof(std::uint64_t)] = {};
  auto* handle = reinterpret_cast<file_handle*>(buf);
  handle->handle_bytes = sizeof(std::uint64_t);
  int mount_id = 0;
  if (name_to_handle_at(fd, "", handle, &mount_id, AT_EMPTY_PATH) == 0 &&
      handle->handle_bytes == sizeof(std::uint64_t)) {
    std::uint64_t id;
    std::memcpy(&id, buf + sizeof(file_handle), sizeof id);
    return id;
  }
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    return errno_error(errno, "cannot read the id of cgroup {}", path);
  }
  return static_cast<std::uint64_t>(st.st_ino);
}

}  // namespace

Expected<void> BpfDatapath::attach_cgroup(std::uint32_t experiment_id,
                                          const std::string& cgroup_path) {
  if (experiment_id == ENFORCER_UNATTRIBUTED_ID || experiment_id > options_.max_experiments) {
    return Error{fmt::format("experiment id {} out of range 1..{}", experiment_id,
                             options_.max_experiments)};
  }
  const std::string path = normal_cgroup_path(cgroup_path);
  const Fd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    return Error{fmt::format("cgroup {} of experiment id {}: {}{}", path, experiment_id,
                             errno_text(err), err == ENOENT ? " (it vanished)" : ""),
                 err};
  }
  struct statfs sfs {};
  if (fstatfs(fd.get(), &sfs) != 0 || sfs.f_type != CGROUP2_SUPER_MAGIC) {
    return Error{fmt::format(
        "{} is not a cgroup v2 directory (cgroup_skb programs attach to cgroup2 only)", path)};
  }
  auto id = cgroup_id_of(fd.get(), path);
  if (!id) return id.error();

  // A previous instance's link, adopted: this is its cgroup.
  for (std::size_t i = 0; i < cgroups_.size(); ++i) {
    CgroupAttachment& c = cgroups_[i];
    if (c.claimed || c.cgroup_id != *id) continue;
    if (c.egress && c.ingress && c.experiment_id == experiment_id) {
      c.path = path;
      c.claimed = true;
      log_info("cgroup {} (id {}) of experiment id {}: its adopted links go on", path, *id,
               experiment_id);
      return {};
    }
    detach_cgroup_at(i);  // half of it, or another experiment's then: attached anew below
    break;
  }
  for (const CgroupAttachment& c : cgroups_) {
    if (!c.claimed) continue;  // path unknown yet
    if (c.cgroup_id == *id || c.path == path) {
      if (c.experiment_id == experiment_id) return {};  // attached already
      return Error{fmt::format("cgroup {} is experiment id {}'s already; not attaching it to {}",
                               path, c.experiment_id, experiment_id)};
    }
    if (nested(c.path, path)) {
      return Error{fmt::format(
          "cgroup {} (experiment id {}) and cgroup {} (experiment id {}) are nested: the "
          "packets of the inner one would be counted twice; not attaching",
          path, experiment_id, c.path, c.experiment_id)};
    }
  }

  // The id goes into the map first, so that the programs attribute the very first packet.
  const int map_fd = bpf_map__fd(skel_->maps.cgroup_ids);
  if (bpf_map_update_elem(map_fd, &*id, &experiment_id, BPF_ANY) != 0) {
    return errno_error(errno, "cannot register cgroup {} of experiment id {}", path, experiment_id);
  }
  CgroupAttachment c;
  c.experiment_id = experiment_id;
  c.path = path;
  c.cgroup_id = *id;
  for (auto [prog, link, where] :
       {std::tuple{skel_->progs.cgroup_egress, &c.egress, "egress"},
        std::tuple{skel_->progs.cgroup_ingress, &c.ingress, "ingress"}}) {
    *link = bpf_program__attach_cgroup(prog, fd.get());
    if (!*link) {
      const int err = errno;
      if (c.egress) bpf_link__destroy(c.egress);
      bpf_map_delete_elem(map_fd, &*id);
      return Error{
          fmt::format(
              "cannot attach the cgroup_skb {} program to cgroup {} (experiment id {}): {}{}",
              where, path, experiment_id, errno_text(err),
              err == EPERM ? " (a program attached there without BPF_F_ALLOW_MULTI excludes others)"
              : err == ENOENT ? " (it vanished)"
                              : ""),
          err};
    }
  }
  if (options_.pin_cgroup_links) pin_cgroup_links(c);
  cgroups_.push_back(c);
  log_info("attached accounting to cgroup {} (id {}) for experiment id {}", path, *id,
           experiment_id);
  return {};
}

void BpfDatapath::pin_cgroup_links(const CgroupAttachment& c) {
  // bpffs takes mkdir; EEXIST is the common answer.
  mkdir(cgroup_link_dir().c_str(), 0700);
  for (auto [link, where] : {std::pair{c.egress, "egress"}, std::pair{c.ingress, "ingress"}}) {
    // No dot: bpffs refuses names with one (EPERM), keeping them for its own files.
    const std::string pin = fmt::format("{}/{}_{}", cgroup_link_dir(), c.cgroup_id, where);
    unlink(pin.c_str());  // a link of an earlier cgroup with this id, long gone
    if (int err = bpf_link__pin(link, pin.c_str()); err) {
      // It still works; it only ends with this process.
      log_warning("cannot pin the cgroup_skb {} link of cgroup {}: {}", where, c.path,
                  errno_text(err));
    }
  }
}

void BpfDatapath::adopt_cgroup_links() {
  namespace fs = std::filesystem;
  const int ids_fd = bpf_map__fd(skel_->maps.cgroup_ids);
  std::map<std::uint64_t, CgroupAttachment> adopted;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cgroup_link_dir(), ec)) {
    const std::string pin = entry.path().string();
    const std::string name = entry.path().filename().string();  // "<cgroup id>_egress"
    const auto sep = name.find('_');
    std::uint64_t cgroup_id = 0;
    const bool parsed =
        sep != std::string::npos &&
        std::from_chars(name.data(), name.data() + sep, cgroup_id).ptr == name.data() + sep;
    const std::string where = parsed ? name.substr(sep + 1) : "";
    bpf_program* prog = where == "egress"    ? skel_->progs.cgroup_egress
                        : where == "ingress" ? skel_->progs.cgroup_ingress
                                             : nullptr;
    std::uint32_t experiment_id = 0;
    bpf_link* link = prog && options_.pin_cgroup_links ? bpf_link__open(pin.c_str()) : nullptr;
    // A link whose cgroup is gone cannot take the new program: it attributes nothing any more.
    if (!link || bpf_map_lookup_elem(ids_fd, &cgroup_id, &experiment_id) != 0 ||
        bpf_link__update_program(link, prog) != 0) {
      if (link) bpf_link__destroy(link);
      unlink(pin.c_str());
      continue;
    }
    CgroupAttachment& c = adopted[cgroup_id];
    c.cgroup_id = cgroup_id;
    c.experiment_id = experiment_id;
    c.claimed = false;
    (where == "egress" ? c.egress : c.ingress) = link;
  }
  // The ids of cgroups without a link attribute nothing: their daemon attaches them again.
  std::vector<std::uint64_t> stale;
  std::uint64_t key = 0, next = 0;
  for (int more = bpf_map_get_next_key(ids_fd, nullptr, &next); more == 0;
       more = bpf_map_get_next_key(ids_fd, &key, &next)) {
    key = next;
    if (!adopted.count(key)) stale.push_back(key);
  }
  for (std::uint64_t id : stale) bpf_map_delete_elem(ids_fd, &id);
  for (auto& [id, c] : adopted) cgroups_.push_back(c);
  if (!adopted.empty()) {
    log_info(
        "adopted the cgroup_skb links of {} cgroup(s) a previous enforcerd left: they run "
        "this instance's programs until its pod scan finds their cgroups",
        adopted.size());
  }
}

std::size_t BpfDatapath::release_unclaimed_cgroups() {
  std::size_t released = 0;
  for (std::size_t i = cgroups_.size(); i-- > 0;) {
    if (cgroups_[i].claimed) continue;
    detach_cgroup_at(i);
    ++released;
  }
  return released;
}

void BpfDatapath::detach_cgroup_at(std::size_t index) {
  CgroupAttachment& c = cgroups_[index];
  // Links first, then the map entry: no packet runs the programs with the entry gone. A link of a
  // removed cgroup is defunct already; destroying it only releases it. A pinned link is detached
  // once its pin is gone too.
  for (bpf_link* link : {c.egress, c.ingress}) {
    if (!link) continue;
    bpf_link__unpin(link);
    bpf_link__destroy(link);
  }
  bpf_map_delete_elem(bpf_map__fd(skel_->maps.cgroup_ids), &c.cgroup_id);
  log_info("detached accounting from cgroup {} (experiment id {})",
           c.claimed ? c.path : fmt::format("id {}", c.cgroup_id), c.experiment_id);
  cgroups_.erase(cgroups_.begin() + static_cast<std::ptrdiff_t>(index));
}

Expected<void> BpfDatapath::detach_cgroup(std::uint32_t experiment_id,
                                          const std::string& cgroup_path) {
  const std::string path = normal_cgroup_path(cgroup_path);
  for (std::size_t i = 0; i < cgroups_.size(); ++i) {
    if (cgroups_[i].path == path && cgroups_[i].experiment_id == experiment_id) {
      detach_cgroup_at(i);
      return {};
    }
  }
  return Error{fmt::format("cgroup {} is not attached for experiment id {}", path, experiment_id)};
}

void BpfDatapath::detach_cgroups(std::uint32_t experiment_id) {
  for (std::size_t i = cgroups_.size(); i-- > 0;) {
    if (cgroups_[i].experiment_id == experiment_id) detach_cgroup_at(i);
  }
}

}  // namespace enforcer
