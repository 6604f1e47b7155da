#include "chorus/metrics/metrics_endpoint.h"

#include <memory>
#include <utility>

#include "chorus/overlay/config.h"
#include "chorus/overlay/node.h"
#include "chorus/web/loop_thread.h"

namespace chorus::metrics {

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::create(const std::string& address) {
  auto parsed = overlay::parse_socket_address(address);
  if (!parsed) return invalid_argument("metrics: " + parsed.error().message());
  std::unique_ptr<MetricsEndpoint> e(new MetricsEndpoint());
  e->address_ = std::move(*parsed);
  e->bound_ = e->listening_.get_future().share();
  return e;
}

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::attach(
    overlay::Node& node, const std::string& address,
    std::function<void(web::MetricsText&)> collect) {
  auto e = create(address);
  if (!e) return e.error();
  MetricsEndpoint* self = e->get();
  overlay::LoopHooks hooks;
  hooks.started = [self, collect = std::move(collect)](uv_loop_s* loop) {
    self->serve(loop, collect);
  };
  hooks.stopping = [self] {
    if (self->server_) self->server_->stop();
  };
  if (auto r = node.add_loop_hooks(std::move(hooks)); !r) return r.error();
  return e;
}

void MetricsEndpoint::serve(uv_loop_s* loop,
                            const std::function<void(web::MetricsText&)>& collect) {
  web::HttpServerOptions o;
  o.host = address_.host;
  o.port = address_.port;
  o.max_body_bytes = 1024;  // a scrape is a GET
  o.max_connections = 16;
  auto server = web::HttpServer::start(loop, o, web::metrics_handler(collect));
  if (!server) {
    listening_.set_value(server.error());
    return;
  }
  server_ = std::move(*server);
  listening_.set_value(server_->port());
}

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::start(
    const std::string& address, std::function<void(web::MetricsText&)> collect) {
  auto e = create(address);
  if (!e) return e.error();
  auto thread = web::LoopThread::start("metrics", 64);
  if (!thread) return thread.error();
  MetricsEndpoint* self = e->get();
  self->thread_ = std::move(*thread);
  self->thread_->post(
      [self, collect = std::move(collect)](uv_loop_s* loop) { self->serve(loop, collect); });
  if (auto bound = self->bound_.get(); !bound) return bound.error();  // e stops the thread
  return e;
}

Result<std::string> MetricsEndpoint::wait_listening() {
  auto port = bound_.get();
  if (!port) return port.error();
  return address_.host + ":" + std::to_string(*port);
}

MetricsEndpoint::~MetricsEndpoint() {
  if (thread_) {
    thread_->stop([this] {
      if (server_) server_->stop();
    });
    thread_.reset();
  }
}

Result<web::MetricsText> collect_on_node_loop(overlay::Node& node,
                                              std::function<void(web::MetricsText&)> collect,
                                              std::chrono::milliseconds timeout) {
  // Shared: on a timeout the loop may still run `collect` after we return.
  struct Pending {
    web::MetricsText text;
    std::promise<bool> done;  // false: dropped, the node stopped
  };
  auto pending = std::make_shared<Pending>();
  auto done = pending->done.get_future();
  node.post(
      [pending, collect = std::move(collect)] {
        collect(pending->text);
        pending->done.set_value(true);
      },
      [pending] { pending->done.set_value(false); });
  if (done.wait_for(timeout) != std::future_status::ready)
    return timed_out("metrics: the node's loop did not answer in time");
  if (!done.get()) return cancelled("metrics: the node stopped");
  return std::move(pending->text);
}

}  // namespace chorus::metrics
