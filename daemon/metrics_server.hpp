// The daemon's Prometheus endpoint: GET /metrics on daemon.metrics_listen, answered by
// MetricsCollector::write_text on the HTTP server's own threads (never the event loop).
//
// civetweb serves it directly, not prometheus-cpp's Exposer (which runs the same civetweb): the
// Exposer builds every family as prometheus-cpp objects and formats them through an ostream,
// which at 10,000 experiments took 130 ms and left the daemon 85 MiB larger after scrapes. Here
// the text is written straight from the experiment state and sent in chunks of
// kChunkBytes as it is written, so a scrape never holds its whole text (18 MB at 10,000).
#pragma once

#include <CivetServer.h>

#include <memory>
#include <string>

#include "base/expected.hpp"
#include "metrics/metrics_collector.hpp"

namespace enforcer {

class MetricsServer {
 public:
  static constexpr std::size_t kChunkBytes = 256 * 1024;

  // Listens on `listen` ("address:port", "port" or "[v6]:port", as civetweb's listening_ports)
  // with two threads.
  static Expected<std::unique_ptr<MetricsServer>> create(
      const std::string& listen, std::shared_ptr<const MetricsCollector> collector);

 private:
  class Handler final : public CivetHandler {
   public:
    explicit Handler(std::shared_ptr<const MetricsCollector> collector)
        : collector_(std::move(collector)) {}
    bool handleGet(CivetServer* server, mg_connection* conn) override;

   private:
    std::shared_ptr<const MetricsCollector> collector_;
  };

  explicit MetricsServer(std::shared_ptr<const MetricsCollector> collector)
      : handler_(std::move(collector)) {}

  Handler handler_;                      // outlives server_ (declared first, destroyed last)
  std::unique_ptr<CivetServer> server_;  // stops its threads when destroyed
};

}  // namespace enforcer
