#include "metrics/gzip_stream.hpp"

namespace enforcer {

namespace {
constexpr std::size_t kOutputBytes = 64 * 1024;
constexpr int kGzipWindowBits = 15 + 16;  // the largest window, with a gzip header and trailer
}  // namespace

GzipStream::GzipStream(std::function<bool(std::string_view)> out)
    : out_(std::move(out)), buffer_(kOutputBytes, '\0') {
  ok_ = deflateInit2(&z_, 1, Z_DEFLATED, kGzipWindowBits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

GzipStream::~GzipStream() {
  deflateEnd(&z_);
}

bool GzipStream::deflate_all(int flush) {
  do {
    z_.next_out = reinterpret_cast<Bytef*>(buffer_.data());
    z_.avail_out = static_cast<uInt>(buffer_.size());
    const int r = deflate(&z_, flush);
    if (r == Z_STREAM_ERROR) return ok_ = false;
    const std::size_t produced = buffer_.size() - z_.avail_out;
    if (produced && !out_(std::string_view(buffer_.data(), produced))) return ok_ = false;
  } while (z_.avail_out == 0);
  return true;
}

bool GzipStream::write(std::string_view text) {
  if (!ok_) return false;
  z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  z_.avail_in = static_cast<uInt>(text.size());
  return deflate_all(Z_NO_FLUSH);
}

bool GzipStream::finish() {
  if (!ok_) return false;
  z_.next_in = nullptr;
  z_.avail_in = 0;
  return deflate_all(Z_FINISH);
}

}  // namespace enforcer
