#include "metrics_server.hpp"

#include "metrics/gzip_stream.hpp"

#include <fmt/format.h>

#include <string_view>

#include <exception>
#include <vector>

namespace enforcer {

bool MetricsServer::Handler::handleGet(CivetServer*, mg_connection* conn) {
  const char* accept = mg_get_header(conn, "Accept-Encoding");
  const bool gzip =
      accept != nullptr && std::string_view(accept).find("gzip") != std::string_view::npos;
  // Chunked transfer encoding: the length is not known until the last series is written.
  mg_response_header_start(conn, 200);
  mg_response_header_add(conn, "Content-Type", "text/plain; charset=utf-8", -1);
  if (gzip) mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
  mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
  if (mg_response_header_send(conn) < 0) return true;
  // A client that went away: the rest is still written (cheap), but not sent.
  bool open = true;
  auto send = [&](std::string_view chunk) {
    if (open) open = mg_send_chunk(conn, chunk.data(), static_cast<unsigned>(chunk.size())) > 0;
    return open;
  };
  if (gzip) {
    GzipStream stream(send);
    collector_->write_text(kChunkBytes, [&](std::string_view text) { stream.write(text); });
    stream.finish();
  } else {
    collector_->write_text(kChunkBytes, send);
  }
  if (open) mg_send_chunk(conn, "", 0);  // the last, empty chunk
  return true;
}

Expected<std::unique_ptr<MetricsServer>> MetricsServer::create(
    const std::string& listen, std::shared_ptr<const MetricsCollector> collector) {
  std::unique_ptr<MetricsServer> server(new MetricsServer(std::move(collector)));
  const std::vector<std::string> options = {"listening_ports", listen, "num_threads", "2"};
  try {
    server->server_ = std::make_unique<CivetServer>(options);
  } catch (const std::exception& e) {
    return Error{
        fmt::format("cannot serve metrics on metrics_listen = \"{}\": {}", listen, e.what())};
  }
  server->server_->addHandler("/metrics", server->handler_);
  return server;
}

}  // namespace enforcer
