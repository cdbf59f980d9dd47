#include "metrics_server.hpp"

#include <fmt/format.h>

#include <exception>
#include <vector>

namespace enforcer {

bool MetricsServer::Handler::handleGet(CivetServer*, mg_connection* conn) {
  // Chunked transfer encoding: the length is not known until the last series is written.
  if (mg_send_http_ok(conn, "text/plain; charset=utf-8", -1) < 0) return true;
  bool open = true;
  collector_->write_text(kChunkBytes, [&](std::string_view chunk) {
    // A client that went away: the rest is still written (cheap), but not sent.
    if (open) {
      open = mg_send_chunk(conn, chunk.data(), static_cast<unsigned>(chunk.size())) > 0;
    }
  });
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
