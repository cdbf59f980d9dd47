#include "config/config_watch.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>

namespace enforcer {

namespace {

// A path as the watches name it: lexically normal, without a trailing slash.
std::string normal_path(const std::string& path) {
  std::string p = std::filesystem::path(path).lexically_normal().string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.empty()) p.push_back('.');
  return p;
}

// The directory part and the name of a path, as the watch on the directory reports the name.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const std::filesystem::path p(normal_path(path));
  std::string dir = p.parent_path().string();
  if (dir.empty()) dir.push_back('.');
  return {dir, p.filename().string()};
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

constexpr std::uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF |
                                IN_MOVE_SELF | IN_ONLYDIR;

}  // namespace

ConfigInputs config_inputs(const ConfigPaths& paths, const ConfigSources& sources) {
  ConfigInputs in;
  in.files.push_back(paths.main);
  in.files.insert(in.files.end(), sources.files.begin(), sources.files.end());
  in.files.insert(in.files.end(), sources.watched_files.begin(), sources.watched_files.end());
  in.directories.push_back(sources.dropin_dir.empty() ? dropin_dir_of(paths) : sources.dropin_dir);
  return merge_inputs(in, {});
}

ConfigInputs merge_inputs(const ConfigInputs& a, const ConfigInputs& b) {
  std::set<std::string> files, dirs;
  for (const auto* in : {&a, &b}) {
    for (const auto& f : in->files) files.insert(normal_path(f));
    for (const auto& d : in->directories) dirs.insert(normal_path(d));
  }
  return ConfigInputs{{files.begin(), files.end()}, {dirs.begin(), dirs.end()}};
}

bool operator==(const ConfigInputs& a, const ConfigInputs& b) {
  return a.files == b.files && a.directories == b.directories;
}

ConfigWatchSet::ConfigWatchSet(const ConfigInputs& inputs) {
  for (const auto& file : inputs.files) {
    auto [dir, name] = split_path(file);
    names_[dir].insert(name);
  }
  for (const auto& d : inputs.directories) {
    auto [parent, name] = split_path(d);
    names_[parent].insert(name);  // the directory made, removed or replaced
    const std::string dir = normal_path(d);
    dropin_dirs_.insert(dir);
    names_[dir];  // watched itself
  }
}

std::vector<std::string> ConfigWatchSet::directories() const {
  std::vector<std::string> out;
  for (const auto& [dir, names] : names_) out.push_back(dir);
  return out;
}

bool ConfigWatchSet::concerns(const std::string& dir, std::string_view name) const {
  // Kubernetes' atomic writer: `..data` renamed over, `..<timestamp>` folders made and removed.
  if (name.substr(0, 2) == "..") return names_.count(dir) > 0;
  if (dropin_dirs_.count(dir) && ends_with(name, ".toml")) return true;
  const auto it = names_.find(dir);
  return it != names_.end() && it->second.count(std::string(name)) > 0;
}

Expected<ConfigWatcher> ConfigWatcher::create(const ConfigInputs& inputs) {
  Fd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd) return errno_error(errno, "cannot watch the configuration (inotify_init1)");
  ConfigWatcher w(std::move(fd), ConfigWatchSet(inputs));
  for (const auto& dir : w.set_.directories()) {
    const int wd = ::inotify_add_watch(w.fd_.get(), dir.c_str(), kMask);
    if (wd >= 0) {
      w.dirs_[wd] = dir;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      return errno_error(errno, "cannot watch {} for configuration changes", dir);
    }
  }
  return w;
}

bool ConfigWatcher::drain() {
  alignas(inotify_event) std::array<char, 16 * 1024> buf;
  bool relevant = false;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf.data(), buf.size());
    if (n <= 0) break;  // EAGAIN: nothing more
    for (ssize_t off = 0; off + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
      inotify_event ev{};
      std::memcpy(&ev, buf.data() + off, sizeof ev);
      const std::string_view name =
          ev.len ? std::string_view(buf.data() + off + sizeof ev) : std::string_view();
      off += static_cast<ssize_t>(sizeof ev + ev.len);
      if (ev.mask & IN_Q_OVERFLOW) {
        relevant = true;
        continue;
      }
      const auto it = dirs_.find(ev.wd);
      if (it == dirs_.end()) continue;
      if (ev.mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
        relevant = true;  // a watched directory went: the caller makes a new watcher
        continue;
      }
      if (set_.concerns(it->second, name)) relevant = true;
    }
  }
  return relevant;
}

}  // namespace enforcer
