// The gzip stream /metrics answers with (lib/metrics/gzip_stream.hpp): what it writes inflates to
// the text it was given, however that text was cut, and it stops when the receiver is gone.
#include <zlib.h>

#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "metrics/gzip_stream.hpp"

using namespace enforcer;

namespace {

std::string gunzip(const std::string& compressed) {
  z_stream z{};
  REQUIRE(inflateInit2(&z, 15 + 16) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data()));
  z.avail_in = static_cast<uInt>(compressed.size());
  std::string out;
  char buf[4096];
  int r = Z_OK;
  while (r == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    r = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  CHECK(r == Z_STREAM_END);
  return out;
}

}  // namespace

TEST_CASE("a gzip stream inflates to the text written into it", "[gzip]") {
  std::string text;
  for (int i = 0; i < 50'000; ++i) {
    text += "enforcer_experiment_bytes_total{direction=\"egress\",experiment=\"exp-";
    text += std::to_string(i);
    text += "\"} 123456\n";
  }
  std::string compressed;
  std::size_t pieces = 0;
  GzipStream gz([&](std::string_view piece) {
    compressed += piece;
    ++pieces;
    return true;
  });
  // Cut in uneven pieces, as the collector's chunks end wherever a series ends.
  for (std::size_t at = 0; at < text.size(); at += 100'003) {
    REQUIRE(gz.write(std::string_view(text).substr(at, 100'003)));
  }
  REQUIRE(gz.finish());
  CHECK(pieces > 1);
  CHECK(compressed.size() < text.size() / 10);
  CHECK(gunzip(compressed) == text);

  std::string empty;
  GzipStream nothing([&](std::string_view piece) {
    empty += piece;
    return true;
  });
  REQUIRE(nothing.finish());
  CHECK(gunzip(empty).empty());
}

TEST_CASE("a gzip stream stops when its receiver is gone", "[gzip]") {
  int calls = 0;
  GzipStream gz([&](std::string_view) {
    ++calls;
    return false;
  });
  const std::string text(1 << 20, 'x');
  bool ok = true;
  for (int i = 0; i < 64 && ok; ++i) ok = gz.write(text);
  CHECK_FALSE(ok);
  CHECK_FALSE(gz.write(text));
  CHECK_FALSE(gz.finish());
  CHECK(calls == 1);
}
