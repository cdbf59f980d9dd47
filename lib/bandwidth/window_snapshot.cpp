#include "bandwidth/window_snapshot.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <type_traits>

#include "base/json_text.hpp"
#include "base/state_file.hpp"

namespace enforcer {

namespace {

using json = nlohmann::json;

// Field access that names what is wrong instead of throwing nlohmann's generic errors.
template <typename T>
T field(const json& j, const char* key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) {
    throw std::runtime_error(fmt::format("{}: \"{}\" is missing", where, key));
  }
  const json& v = j.at(key);
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw std::runtime_error(fmt::format("{}.{}: not a string", where, key));
  } else if constexpr (std::is_unsigned_v<T>) {
    if (!v.is_number_unsigned()) {
      throw std::runtime_error(fmt::format("{}.{}: not a non-negative integer", where, key));
    }
  } else {
    if (!v.is_number_integer()) {
      throw std::runtime_error(fmt::format("{}.{}: not an integer", where, key));
    }
  }
  if constexpr (std::is_integral_v<T>) {
    // nlohmann converts an out-of-range number by truncating it (an id of 2^32 + 1 would read
    // as 1): out of the type's range is an error.
    const bool fits =
        v.is_number_unsigned()
            ? v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max())
            : v.get<std::int64_t>() >= static_cast<std::int64_t>(std::numeric_limits<T>::min()) &&
                  v.get<std::int64_t>() <= static_cast<std::int64_t>(std::numeric_limits<T>::max());
    if (!fits) throw std::runtime_error(fmt::format("{}.{}: out of range", where, key));
  }
  return v.get<T>();
}

}  // namespace

const ExperimentSnapshot* WindowSnapshot::find(std::string_view name) const {
  for (const auto& x : experiments) {
    if (x.name == name) return &x;
  }
  return nullptr;
}

namespace {

// The snapshot's JSON is written directly, not built as a nlohmann::json document first: at
// 10,000 experiments the document held 6 million slot values (over 100 MB for a moment, every
// few ticks, on the daemon's loop). The text is the same as that document's dump(): compact,
// keys in sorted order (tests/unit/test_window_snapshot.cpp compares the two).
class JsonText {
 public:
  explicit JsonText(std::string& out) : out_(out) {}
  // `"key":`, after a comma unless it is the object's first.
  JsonText& key(const char* k) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_ += k;
    out_ += "\":";
    return *this;
  }
  void open(char bracket) {
    out_ += bracket;
    first_ = true;
  }
  void close(char bracket) {
    out_ += bracket;
    first_ = false;
  }
  template <typename Integer>
  void number(Integer v) {
    char buf[24];
    out_.append(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  }
  void string(const std::string& v) { out_ += json(v).dump(); }  // nlohmann's escaping
  void numbers(const std::vector<std::uint64_t>& values) {
    out_ += '[';
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) out_ += ',';
      number(values[i]);
    }
    out_ += ']';
  }

 private:
  std::string& out_;
  bool first_ = true;
};

void write_direction(JsonText& w, const DirectionSnapshot& ds, const CounterSample& raw,
                     Direction d) {
  w.open('{');
  w.key("bytes_total").number(ds.bytes_total);
  w.key("dropped_bytes_total").number(ds.dropped_bytes_total);
  w.key("dropped_packets_total").number(ds.dropped_packets_total);
  w.key("filled").number(ds.filled);
  w.key("packets_total").number(ds.packets_total);
  w.key("raw").open('{');
  w.key("bytes").number(raw.bytes[d]);
  w.key("dropped_bytes").number(raw.dropped_bytes[d]);
  w.key("dropped_packets").number(raw.dropped_packets[d]);
  w.key("packets").number(raw.packets[d]);
  w.close('}');
  w.key("slots").numbers(ds.slots);
  w.close('}');
}

}  // namespace

std::string serialize_window_snapshot(const WindowSnapshot& s) {
  std::string out;
  JsonText w(out);
  w.open('{');
  w.key("boot_id").string(s.boot_id);
  w.key("experiments").open('[');
  for (const auto& x : s.experiments) {
    if (&x != s.experiments.data()) out += ',';
    w.open('{');
    w.key("direction").open('{');
    w.key("egress");
    write_direction(w, x.direction[kEgress], x.raw, kEgress);
    w.key("ingress");
    write_direction(w, x.direction[kIngress], x.raw, kIngress);
    w.close('}');
    w.key("id").number(x.id);
    w.key("name").string(x.name);
    w.key("window_slots").number(x.window_slots);
    w.close('}');
  }
  w.close(']');
  w.key("monotonic_ns").number(s.monotonic_ns);
  w.key("tick_ns").number(s.tick_ns);
  w.key("version").number(s.version);
  w.key("wall_ns").number(s.wall_ns);
  w.close('}');
  out += '\n';
  return out;
}

Expected<WindowSnapshot> parse_window_snapshot(std::string_view text) {
  if (text.empty()) return Error{"the file is empty"};
  auto parsed = parse_json_text(text);
  if (!parsed) return Error{fmt::format("not valid JSON (truncated?): {}", parsed.error().message)};
  const json j = std::move(*parsed);
  WindowSnapshot s;
  try {
    s.version = field<int>(j, "version", "snapshot");
    if (s.version != kWindowSnapshotVersion) {
      return Error{fmt::format("version {} is not {}", s.version, kWindowSnapshotVersion)};
    }
    s.tick_ns = field<std::int64_t>(j, "tick_ns", "snapshot");
    if (s.tick_ns <= 0) return Error{"tick_ns must be positive"};
    s.wall_ns = field<std::int64_t>(j, "wall_ns", "snapshot");
    s.monotonic_ns = field<std::int64_t>(j, "monotonic_ns", "snapshot");
    if (s.wall_ns < 0 || s.monotonic_ns < 0) return Error{"wall_ns and monotonic_ns must be >= 0"};
    s.boot_id = field<std::string>(j, "boot_id", "snapshot");
    if (!j.contains("experiments") || !j["experiments"].is_array()) {
      return Error{"snapshot: \"experiments\" is missing or not a list"};
    }
    std::size_t n = 0;
    for (const json& jx : j["experiments"]) {
      const std::string where = fmt::format("experiments[{}]", n++);
      ExperimentSnapshot x;
      x.name = field<std::string>(jx, "name", where);
      x.id = field<std::uint32_t>(jx, "id", where);
      x.window_slots = field<std::uint32_t>(jx, "window_slots", where);
      if (!jx.contains("direction") || !jx["direction"].is_object()) {
        return Error{fmt::format("{}: \"direction\" is missing", where)};
      }
      for (Direction d : kDirections) {
        const std::string dw = fmt::format("{}.{}", where, direction_name(d));
        if (!jx["direction"].contains(direction_name(d))) {
          return Error{fmt::format("{}: missing", dw)};
        }
        const json& jd = jx["direction"][direction_name(d)];
        DirectionSnapshot& ds = x.direction[d];
        if (!jd.contains("slots") || !jd["slots"].is_array()) {
          return Error{fmt::format("{}: \"slots\" is missing or not a list", dw)};
        }
        for (const json& v : jd["slots"]) {
          if (!v.is_number_unsigned()) return Error{fmt::format("{}.slots: not a byte count", dw)};
          ds.slots.push_back(v.get<std::uint64_t>());
        }
        if (ds.slots.size() > x.window_slots) {
          return Error{
              fmt::format("{}: {} slots in a window of {}", dw, ds.slots.size(), x.window_slots)};
        }
        ds.filled = field<std::uint64_t>(jd, "filled", dw);
        ds.bytes_total = field<std::uint64_t>(jd, "bytes_total", dw);
        ds.packets_total = field<std::uint64_t>(jd, "packets_total", dw);
        ds.dropped_bytes_total = field<std::uint64_t>(jd, "dropped_bytes_total", dw);
        ds.dropped_packets_total = field<std::uint64_t>(jd, "dropped_packets_total", dw);
        if (!jd.contains("raw")) return Error{fmt::format("{}: \"raw\" is missing", dw)};
        const json& raw = jd["raw"];
        x.raw.bytes[d] = field<std::uint64_t>(raw, "bytes", dw + ".raw");
        x.raw.packets[d] = field<std::uint64_t>(raw, "packets", dw + ".raw");
        x.raw.dropped_bytes[d] = field<std::uint64_t>(raw, "dropped_bytes", dw + ".raw");
        x.raw.dropped_packets[d] = field<std::uint64_t>(raw, "dropped_packets", dw + ".raw");
      }
      s.experiments.push_back(std::move(x));
    }
  } catch (const std::exception& e) {
    return Error{e.what()};
  }
  return s;
}

std::uint64_t ticks_since(const WindowSnapshot& s, std::int64_t now_wall_ns,
                          std::int64_t now_monotonic_ns, std::string_view now_boot_id) {
  // In unsigned arithmetic, and only forwards: times read from a file must not overflow.
  auto forward = [](std::int64_t from, std::int64_t to) -> std::uint64_t {
    return to > from ? static_cast<std::uint64_t>(to) - static_cast<std::uint64_t>(from) : 0;
  };
  std::uint64_t elapsed = 0;
  if (!s.boot_id.empty() && s.boot_id == now_boot_id && now_monotonic_ns >= s.monotonic_ns) {
    elapsed = forward(s.monotonic_ns, now_monotonic_ns);
  } else {
    elapsed = forward(s.wall_ns, now_wall_ns);
  }
  return s.tick_ns > 0 ? elapsed / static_cast<std::uint64_t>(s.tick_ns) : 0;
}

ShiftedWindow shift_window(const DirectionSnapshot& d, std::uint32_t slots,
                           std::uint64_t elapsed_ticks) {
  ShiftedWindow out;
  if (d.filled == 0 && d.slots.empty()) return out;  // nothing was ever recorded
  const std::uint64_t zeros = std::min<std::uint64_t>(elapsed_ticks, slots);
  out.newest_first.assign(zeros, 0);
  for (std::size_t i = 0; i < d.slots.size() && out.newest_first.size() < slots; ++i) {
    out.newest_first.push_back(d.slots[i]);
  }
  // Slots the snapshot did not hold (before its first record) are zeros, as in the ring.
  out.filled = std::min<std::uint64_t>(std::max<std::uint64_t>(d.filled, 1) + elapsed_ticks, slots);
  out.newest_first.resize(std::min<std::uint64_t>(out.newest_first.size(), out.filled));
  return out;
}

RestoredExperiment match_experiment(const WindowSnapshot& snapshot, std::string_view name,
                                    std::chrono::nanoseconds tick, std::uint32_t window_slots) {
  RestoredExperiment r;
  r.from = snapshot.find(name);
  if (!r.from) {
    r.note = "not in the snapshot";
    return r;
  }
  if (snapshot.tick_ns != tick.count()) {
    r.note = fmt::format("the tick changed ({} ns, was {} ns): its window starts empty",
                         tick.count(), snapshot.tick_ns);
  } else if (r.from->window_slots != window_slots) {
    r.note = fmt::format("its window changed ({} ticks, was {}): its window starts empty",
                         window_slots, r.from->window_slots);
  } else {
    r.windows = true;
  }
  return r;
}

LoadedWindowSnapshot load_window_snapshot(const std::string& path,
                                          std::chrono::system_clock::time_point now) {
  LoadedWindowSnapshot out;
  bool missing = false;
  auto text = read_file(path, missing);
  if (missing) return out;
  std::string problem;
  if (!text) {
    problem = text.error().message;
  } else {
    auto parsed = parse_window_snapshot(*text);
    if (parsed) {
      out.snapshot = std::move(*parsed);
      return out;
    }
    problem = parsed.error().message;
  }
  auto moved = set_aside(path, now);
  out.warning = fmt::format("{}: {}; {}; the windows start empty", path, problem,
                            moved ? fmt::format("moved it to {}", *moved) : moved.error().message);
  return out;
}

}  // namespace enforcer
