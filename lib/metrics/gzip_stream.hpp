// A gzip stream (zlib's deflate with a gzip header) that hands its output on in pieces: the
// /metrics response for a client that accepts gzip (Prometheus always does), compressed as the
// text is written. Level 1: the exposition's repetitive lines compress about 25 times even so,
// and a scrape of 10,000 experiments stays cheap.
#pragma once

#include <zlib.h>

#include <functional>
#include <string>
#include <string_view>

namespace enforcer {

class GzipStream {
 public:
  // `out` gets each piece of compressed output; it returns false when the receiver is gone.
  explicit GzipStream(std::function<bool(std::string_view)> out);
  ~GzipStream();
  GzipStream(const GzipStream&) = delete;
  GzipStream& operator=(const GzipStream&) = delete;

  // False once zlib or the receiver failed; later calls do nothing.
  bool write(std::string_view text);
  // Ends the stream (the gzip trailer).
  bool finish();

 private:
  bool deflate_all(int flush);

  std::function<bool(std::string_view)> out_;
  z_stream z_{};
  std::string buffer_;
  bool ok_ = false;
};

}  // namespace enforcer
