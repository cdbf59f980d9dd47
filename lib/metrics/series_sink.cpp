#include "metrics/series_sink.hpp"

#include <charconv>
#include <cmath>

namespace enforcer {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void FamilyBuilder::begin_family(const char* name, const char* help, MetricType type) {
  out_.push_back(MetricFamily{name, help, type, {}});
}

void FamilyBuilder::series(std::initializer_list<LabelRef> labels, double value) {
  MetricFamily& f = out_.back();
  ClientMetric m;
  m.label.reserve(labels.size());
  for (const LabelRef& l : labels) m.label.push_back({std::string(l.name), std::string(l.value)});
  (f.type == MetricType::Counter ? m.counter.value : m.gauge.value) = value;
  f.metric.push_back(std::move(m));
}

void FamilyBuilder::histogram(const std::vector<ClientMetric::Bucket>& buckets, std::uint64_t count,
                              double sum) {
  ClientMetric h;
  h.histogram.bucket = buckets;
  h.histogram.sample_count = count;
  h.histogram.sample_sum = sum;
  out_.back().metric.push_back(std::move(h));
}

namespace {

const char* type_name(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

void TextWriter::begin_family(const char* name, const char* help, MetricType type) {
  name_ = name;
  if (*help) {
    out_ += "# HELP ";
    out_ += name_;
    out_ += ' ';
    out_ += help;
    out_ += '\n';
  }
  out_ += "# TYPE ";
  out_ += name_;
  out_ += ' ';
  out_ += type_name(type);
  out_ += '\n';
}

void TextWriter::head(std::string_view suffix, std::initializer_list<LabelRef> labels) {
  out_.append(name_);
  out_.append(suffix);
  if (labels.size() == 0) {
    out_ += ' ';
    return;
  }
  char separator = '{';
  for (const LabelRef& l : labels) {
    out_ += separator;
    out_.append(l.name);
    out_.append("=\"");
    // Escapes \, " and newline; the runs between them (all of a usual value) in one append.
    std::size_t run = 0;
    for (std::size_t i = 0; i < l.value.size(); ++i) {
      const char c = l.value[i];
      if (c != '\\' && c != '"' && c != '\n') continue;
      out_.append(l.value.substr(run, i - run));
      out_.append(c == '\n' ? "\\n" : c == '"' ? "\\\"" : "\\\\");
      run = i + 1;
    }
    out_.append(l.value.substr(run));
    out_ += '"';
    separator = ',';
  }
  out_.append("} ");
}

void TextWriter::count(std::uint64_t n) {
  char buf[24];
  out_.append(buf, std::to_chars(buf, buf + sizeof buf, n).ptr);
}

void TextWriter::value(double v) {
  if (std::isnan(v)) {
    out_ += "Nan";
  } else if (std::isinf(v)) {
    out_ += v < 0 ? "-Inf" : "+Inf";
  } else if (v >= 0 && v < 1e16 && v == std::floor(v) && !std::signbit(v)) {
    // Most values are whole counts of bytes or packets; %.16g writes those (up to 16 digits) as
    // plain integers, and an integer conversion is several times cheaper.
    count(static_cast<std::uint64_t>(v));
  } else {
    char buf[32];
    out_.append(buf, std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 16).ptr);
  }
}

void TextWriter::series(std::initializer_list<LabelRef> labels, double v) {
  head({}, labels);
  value(v);
  out_ += '\n';
  maybe_flush();
}

void TextWriter::histogram(const std::vector<ClientMetric::Bucket>& buckets, std::uint64_t n,
                           double sum) {
  head("_count", {});
  count(n);
  out_ += '\n';
  head("_sum", {});
  value(sum);
  out_ += '\n';
  double last = -INFINITY;
  for (const ClientMetric::Bucket& b : buckets) {
    std::string le;  // the bound as a label value, formatted as any value
    TextWriter(le).value(b.upper_bound);
    head("_bucket", {{"le", le}});
    count(b.cumulative_count);
    out_ += '\n';
    last = b.upper_bound;
  }
  if (last != INFINITY) {
    head("_bucket", {{"le", "+Inf"}});
    count(n);
    out_ += '\n';
  }
  maybe_flush();
}

}  // namespace enforcer
