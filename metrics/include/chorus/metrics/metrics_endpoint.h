// chorus::metrics::MetricsEndpoint — `--metrics HOST:PORT` for a long-running
// program: an HTTP server answering GET /metrics. With an overlay Node it
// runs on the node's own loop, so a scrape reads the counters where they
// live, with no locks and no copies kept in step:
//
//   auto endpoint = MetricsEndpoint::attach(*node, "127.0.0.1:9100",
//       [&](web::MetricsText& m) { append_overlay_metrics(m, *node); });
//   node->start();
//   auto bound = (*endpoint)->wait_listening();   // "127.0.0.1:9100"
//   ...
//   node->stop();
//   endpoint->reset();                            // after the node stopped
//
// A program whose node is optional or whose figures live on several threads
// (chorus-nano) starts one on a thread of its own, and reads a node's
// counters with collect_on_node_loop().
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "chorus/base/result.h"
#include "chorus/overlay/config.h"
#include "chorus/web/http_server.h"
#include "chorus/web/metrics.h"

struct uv_loop_s;

namespace chorus::overlay {
class Node;
}
namespace chorus::web {
class LoopThread;
}

namespace chorus::metrics {

class MetricsEndpoint {
 public:
  // Before node.start(): hooks an HTTP server onto the node's loop that
  // serves GET /metrics from `collect` (run on the loop thread, once a
  // scrape; the process figures are added after it). kInvalidArgument for
  // an address that is not HOST:PORT.
  static Result<std::unique_ptr<MetricsEndpoint>> attach(
      overlay::Node& node, const std::string& address,
      std::function<void(web::MetricsText&)> collect);

  // Starts serving now, on a loop thread of its own; `collect` runs there,
  // once a scrape, and must only read what other threads may read.
  // kInvalidArgument for a bad address, kIo when it cannot bind.
  static Result<std::unique_ptr<MetricsEndpoint>> start(
      const std::string& address, std::function<void(web::MetricsText&)> collect);

  // After node.start() (or start()): the bound "HOST:PORT" (port 0 asked: the one the
  // system chose), or why it could not bind. Waits for the loop to start.
  Result<std::string> wait_listening();

  // With attach(): destroy after the node stopped (HttpServer's rule).
  // With start(): stops the server and joins its thread.
  ~MetricsEndpoint();

 private:
  MetricsEndpoint() = default;
  // The address checked, the promise of the bound port made.
  static Result<std::unique_ptr<MetricsEndpoint>> create(const std::string& address);
  void serve(uv_loop_s* loop, const std::function<void(web::MetricsText&)>& collect);
  overlay::SocketAddress address_;
  std::unique_ptr<web::HttpServer> server_;
  std::promise<Result<uint16_t>> listening_;
  std::shared_future<Result<uint16_t>> bound_;
  std::unique_ptr<web::LoopThread> thread_;  // start() only
};

// From any thread but the node's loop: runs `collect` on the node's loop
// and returns what it wrote, to be merged with MetricsText::append.
// kTimedOut when the loop did not get to it within `timeout`, kCancelled
// when the node stopped first.
Result<web::MetricsText> collect_on_node_loop(
    overlay::Node& node, std::function<void(web::MetricsText&)> collect,
    std::chrono::milliseconds timeout = std::chrono::milliseconds(1000));

}  // namespace chorus::metrics
