// `--metrics HOST:PORT` for the long-running commands: Prometheus text of a
// node's counters (and its DHT's), served on the node's own loop, so a
// scrape reads them where they live without locks or copies.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>

#include "chorus/base/result.h"
#include "chorus/web/http_server.h"
#include "chorus/web/metrics.h"

namespace chorus::overlay {
class Node;
}
namespace chorus::dht {
class Dht;
}

namespace chorus::tools {

// The overlay's counters (NodeStats), its links and what waits to be written
// to them. Loop thread only, like Node::stats().
void append_overlay_metrics(web::MetricsText& m, const overlay::Node& node);
// The DHT's protocol and UDP counters. Loop thread only.
void append_dht_metrics(web::MetricsText& m, const dht::Dht& dht);

class MetricsEndpoint {
 public:
  // Before node.start(): hooks an HTTP server onto the node's loop that
  // serves GET /metrics from `collect` (run on the loop thread, once a
  // scrape). kInvalidArgument for an address that is not HOST:PORT.
  static Result<std::unique_ptr<MetricsEndpoint>> attach(
      overlay::Node& node, const std::string& address,
      std::function<void(web::MetricsText&)> collect);
  // After node.start(): the bound "HOST:PORT", or why it could not bind.
  Result<std::string> wait_listening();
  // Destroy after the node stopped (HttpServer's rule).
  ~MetricsEndpoint();

 private:
  MetricsEndpoint() = default;
  std::string host_;
  std::unique_ptr<web::HttpServer> server_;
  std::promise<Result<uint16_t>> listening_;
};

}  // namespace chorus::tools
