// Where the collector's families go: into prometheus-cpp's MetricFamily vectors (Collect(), the
// library's interface) or straight into the text exposition format (a scrape). Writing the text
// directly skips a ClientMetric with its label vector and strings per series, and the ostream
// TextSerializer formats through: at 10,000 experiments (220,000 series) that was most of a
// scrape's time and the memory the daemon kept after scrapes.
#pragma once

#include <prometheus/metric_family.h>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace enforcer {

struct LabelRef {
  std::string_view name;
  std::string_view value;
};

class SeriesSink {
 public:
  virtual ~SeriesSink() = default;
  // Starts a family.
  virtual void begin_family(const char* name, const char* help, prometheus::MetricType type) = 0;
  // The current family will have about `series` series (a capacity hint).
  virtual void reserve(std::size_t series) { (void)series; }
  // One series of the current family: its labels in order, its value.
  virtual void series(std::initializer_list<LabelRef> labels, double value) = 0;
  // The current family's one histogram, without labels: buckets with cumulative counts (the last
  // bound +Inf), the count and the sum of the observations.
  virtual void histogram(const std::vector<prometheus::ClientMetric::Bucket>& buckets,
                         std::uint64_t count, double sum) = 0;
};

// Builds MetricFamily vectors, as prometheus-cpp's Collectable returns them.
class FamilyBuilder final : public SeriesSink {
 public:
  explicit FamilyBuilder(std::vector<prometheus::MetricFamily>& out) : out_(out) {}
  void reserve(std::size_t series) override { out_.back().metric.reserve(series); }
  void begin_family(const char* name, const char* help, prometheus::MetricType type) override;
  void series(std::initializer_list<LabelRef> labels, double value) override;
  void histogram(const std::vector<prometheus::ClientMetric::Bucket>& buckets, std::uint64_t count,
                 double sum) override;

 private:
  std::vector<prometheus::MetricFamily>& out_;
};

// Appends the text exposition format (version 0.0.4) to a string, byte for byte what
// prometheus-cpp 1.0's TextSerializer writes for the same families (tests/unit compare them):
// "# HELP" and "# TYPE" lines, label values escaped (\\, \", \n), values as printf's %.16g in the
// C locale, "Nan", "+Inf", "-Inf".
class TextWriter final : public SeriesSink {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}
  // Streams: whenever `out` holds `flush_at` bytes or more after a series, hands it to `flush`
  // (which empties it). The caller flushes what is left at the end.
  TextWriter(std::string& out, std::size_t flush_at, std::function<void(std::string&)> flush)
      : out_(out), flush_at_(flush_at), flush_(std::move(flush)) {}
  void begin_family(const char* name, const char* help, prometheus::MetricType type) override;
  void series(std::initializer_list<LabelRef> labels, double value) override;
  void histogram(const std::vector<prometheus::ClientMetric::Bucket>& buckets, std::uint64_t count,
                 double sum) override;

 private:
  void head(std::string_view suffix, std::initializer_list<LabelRef> labels);
  void value(double v);
  void count(std::uint64_t n);
  void maybe_flush() {
    if (flush_ && out_.size() >= flush_at_) flush_(out_);
  }

  std::string& out_;
  const std::size_t flush_at_ = 0;
  const std::function<void(std::string&)> flush_;
  std::string_view name_;
};

}  // namespace enforcer
