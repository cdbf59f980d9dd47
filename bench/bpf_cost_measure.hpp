// bench/bpf_cost's measuring: the test frames, one BPF_PROG_TEST_RUN measurement on both clocks,
// a group of cases measured against the empty program, and their table and JSON rows.
#pragma once

#include <csignal>
#include <cstdint>
#include <string>
#include <vector>

namespace enforcer::bench {

// Set by bpf_cost's signal handler: a failed test run was interrupted, not an error to print.
extern volatile std::sig_atomic_t g_stop;

// Experiment i (1-based) owns 198.19.(i >> 8).(i & 255) and 2001:db8:1::<i hex>, as in
// bench/daemon_scale.sh.
std::string v4_of(std::uint32_t i);
std::string v6_of(std::uint32_t i);

// A full-size (1514-byte) Ethernet frame carrying UDP (or TCP: only the protocol number, the
// programs read no further) over IPv4 or IPv6.
std::vector<std::uint8_t> frame(bool v6, const std::string& src, const std::string& dst,
                                bool tcp = false);

struct Sample {
  double kernel_ns = 0;  // opts.duration: the kernel's mean, whole ns
  double cpu_ns = 0;     // thread CPU time / repeat
};

// Runs `prog_fd` `repeat` times on `data`; returns false when interrupted or failing (also when
// the last run's verdict is not the expected one: pass, or drop when `drop`).
bool measure(int prog_fd, const std::vector<std::uint8_t>& data, std::uint32_t repeat, Sample& out,
             bool drop = false);

double median(std::vector<double> v);

struct Case {
  std::string name;
  int prog_fd;
  std::vector<std::uint8_t> data;
  std::vector<double> kernel, cpu, ratio, added, empty;
  bool drop = false;  // the program is expected to drop the frame
  bool rate = false;  // the experiment has a rate set
};

// Measures `cases` for `rounds` rounds, the empty program before every third case and after the
// last; appends the rows (and one for the empty program) to `table`.
bool measure_group(std::vector<Case>& cases, int empty_fd, std::uint32_t repeat, int rounds,
                   std::uint32_t n, std::string& table);

// One JSON object per case (--json).
void json_rows(const std::vector<Case>& cases, std::uint32_t n, bool stage, std::string& out);

}  // namespace enforcer::bench
