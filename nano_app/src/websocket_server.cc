#include "websocket_server.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <set>

#include "chorus/nano/rpc_handler.h"
#include "chorus/overlay/node.h"
#include "chorus/web/http_server.h"
#include "chorus/web/loop_thread.h"
#include "clock.h"

namespace chorus::nano {

using Json = nlohmann::ordered_json;

struct WebSocketServer::Impl {
  WebSocketServerContext ctx;
  std::set<PublicKey> local_accounts;
  std::unique_ptr<RpcHandler> rpc;  // answers `telemetry` (reads only)
  std::unique_ptr<web::LoopThread> loop;
  overlay::SocketAddress address;
  uint64_t started_ms = 0;
  std::atomic<uint32_t> wanted{0};  // WebSocketApi::wanted_topics(), for post()
  std::atomic<uint64_t> dropped{0};
  bool stopped = false;

  // The loop thread's.
  std::unique_ptr<WebSocketApi> api;
  std::unique_ptr<web::HttpServer> http;
  std::map<uint64_t, web::WebSocket> conns;
  uv_timer_t timer{};
  bool timer_started = false;

  uint64_t now_ms() const { return ctx.now_ms(); }

  void deliver(std::vector<WebSocketOutput> out) {
    for (auto& o : out) {
      auto it = conns.find(o.session);
      // kLimit: the client does not read; the web layer closes it (1008)
      // and on_close follows.
      if (it != conns.end()) (void)it->second.send(std::move(o.text));
    }
  }
  void refresh() { wanted.store(api->wanted_topics(), std::memory_order_relaxed); }

  void on_open(web::WebSocket ws) {
    if (auto r = api->open(ws.id()); !r.ok()) {
      ws.close(web::kClosePolicy, "too many sessions");
      return;
    }
    conns.emplace(ws.id(), ws);
  }
  void on_message(web::WebSocket ws, const std::string& text) {
    deliver(api->message(ws.id(), text, now_ms()));
    refresh();
  }
  void on_close(web::WebSocket ws) {
    conns.erase(ws.id());
    api->close(ws.id());
    refresh();
  }

  void on_tick() {
    const uint32_t bit = uint32_t{1} << static_cast<unsigned>(WebSocketTopic::kTelemetry);
    if (!(api->wanted_topics() & bit)) return;
    if (auto t = telemetry()) deliver(api->telemetry(*t, now_ms()));
  }

  // What the RPC's `telemetry` answers, with the uptime and the time filled
  // in, and the overlay address this node listens on (nano-node gives the
  // address of the peer the telemetry came from).
  std::optional<Json> telemetry() {
    std::optional<Json> out;
    rpc->handle_json(Json{{"action", "telemetry"}}, [&](std::string text) {
      auto j = Json::parse(text, nullptr, false);
      if (j.is_object() && !j.contains("error")) out = std::move(j);
    });
    if (!out) return std::nullopt;
    const uint64_t now = now_ms();
    (*out)["uptime"] = std::to_string((now > started_ms ? now - started_ms : 0) / 1000);
    (*out)["timestamp"] = std::to_string(now);
    if (ctx.overlay) {
      if (auto a = ctx.overlay->listen_address()) {
        (*out)["address"] = a->host;
        (*out)["port"] = std::to_string(a->port);
      }
    }
    return out;
  }

  // The overlay's links, asked on its loop; at most a second's wait (the
  // telemetry then counts none).
  std::vector<RpcServices::Peer> peers() {
    std::vector<RpcServices::Peer> out;
    overlay::Node* node = ctx.overlay;
    if (!node) return out;
    auto done = std::make_shared<std::promise<size_t>>();
    auto f = done->get_future();
    node->post([node, done] { done->set_value(node->peers().size()); },
               [done] { done->set_value(0); });
    if (f.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return out;
    out.resize(f.get());  // only the number is used by `telemetry`
    return out;
  }
};

Result<std::unique_ptr<WebSocketServer>> WebSocketServer::start(WebSocketServerContext context) {
  if (!context.network || !context.store) return invalid_argument("websocket: no ledger");
  auto impl = std::make_unique<Impl>();
  impl->ctx = std::move(context);
  Impl* self = impl.get();
  if (!self->ctx.now_ms) self->ctx.now_ms = wall_ms;
  self->started_ms = self->now_ms();
  self->local_accounts.insert(self->ctx.config.local_accounts.begin(),
                              self->ctx.config.local_accounts.end());
  RpcServices services;
  services.unchecked_count = self->ctx.unchecked_count;
  if (self->ctx.overlay) services.peers = [self] { return self->peers(); };
  self->rpc = std::make_unique<RpcHandler>(*self->ctx.network, *self->ctx.store, services);

  WebSocketHooks hooks;
  hooks.is_local_account = [self](const PublicKey& k) {
    return self->local_accounts.count(k) != 0;
  };
  hooks.sideband_of = [self](const BlockHash& h) -> std::optional<Sideband> {
    auto txn = self->ctx.store->begin_read();
    auto b = txn->block(h);
    if (!b) return std::nullopt;
    return b->sideband;
  };
  self->api = std::make_unique<WebSocketApi>(self->ctx.config.limits, std::move(hooks));

  auto loop = web::LoopThread::start("websocket");
  if (!loop.ok()) return loop.error();
  self->loop = std::move(*loop);

  std::promise<Result<uint16_t>> listening;
  auto port = listening.get_future();
  self->loop->post([self, &listening](uv_loop_s* uv) {
    const WebSocketConfig& cfg = self->ctx.config;
    web::HttpServerOptions ho;
    ho.host = self->ctx.listen.host;
    ho.port = self->ctx.listen.port;
    ho.max_connections = cfg.limits.max_sessions + 16;  // room to refuse politely
    ho.max_ws_message_bytes = cfg.limits.max_message_bytes;
    ho.max_ws_queued_bytes = cfg.max_queued_bytes;
    ho.max_body_bytes = 1024;  // nothing but upgrades is served
    web::WebSocketHandlers ws;
    ws.accept = [](const web::HttpRequest&) { return 0; };  // any path, as nano-node
    ws.on_open = [self](web::WebSocket c) { self->on_open(c); };
    ws.on_message = [self](web::WebSocket c, std::string m) { self->on_message(c, m); };
    ws.on_close = [self](web::WebSocket c, int, const std::string&) { self->on_close(c); };
    auto server = web::HttpServer::start(
        uv, ho,
        [](const web::HttpRequest&, web::Responder reply) {
          reply({426, "text/plain", "this port speaks WebSocket only\n"});
        },
        std::move(ws));
    if (!server.ok()) return listening.set_value(server.error());
    self->http = std::move(*server);
    if (cfg.telemetry_interval_ms > 0) {
      uv_timer_init(uv, &self->timer);
      self->timer.data = self;
      uv_timer_start(
          &self->timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_tick(); },
          cfg.telemetry_interval_ms, cfg.telemetry_interval_ms);
      self->timer_started = true;
    }
    listening.set_value(self->http->port());
  });
  auto bound = port.get();
  if (!bound.ok()) {
    self->loop->stop();
    return bound.error();
  }
  self->address = overlay::SocketAddress{self->ctx.listen.host, *bound};
  return std::unique_ptr<WebSocketServer>(new WebSocketServer(std::move(impl)));
}

WebSocketServer::WebSocketServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebSocketServer::~WebSocketServer() {
  stop();
}

void WebSocketServer::post(const NodeEvent& event) {
  const uint32_t bit = uint32_t{1} << static_cast<unsigned>(websocket_topic_of(event));
  if (!(impl_->wanted.load(std::memory_order_relaxed) & bit)) return;
  Impl* self = impl_.get();
  auto copy = std::make_shared<NodeEvent>(event);
  const bool queued = self->loop->post(
      [self, copy](uv_loop_s*) { self->deliver(self->api->event(*copy, self->now_ms())); });
  if (!queued) self->dropped.fetch_add(1, std::memory_order_relaxed);
}

void WebSocketServer::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  Impl* self = impl_.get();
  self->loop->stop([self] {
    if (self->timer_started) uv_close(reinterpret_cast<uv_handle_t*>(&self->timer), nullptr);
    if (self->http) self->http->stop();
    self->conns.clear();
  });
  self->http.reset();  // after its loop has finished
  if (self->dropped.load() != 0)
    spdlog::warn("websocket: {} events dropped (the loop was behind)", self->dropped.load());
}

overlay::SocketAddress WebSocketServer::address() const {
  return impl_->address;
}

uint64_t WebSocketServer::events_dropped() const {
  return impl_->dropped.load(std::memory_order_relaxed);
}

}  // namespace chorus::nano
