// RelayNode: start and stop, the loop hooks, the core's actions and the
// timer. The rest of the driver is in inm_routing.cc,
// channel_reservations.cc and relay_front.cc (relay_node_impl.h).
#include "chorus/relay/relay_node.h"

#include <sodium.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <future>

#include "relay_node_impl.h"

namespace chorus::relay {

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RelayNode::Impl::run_actions() {
  for (auto& action : core->take_actions()) {
    std::visit([this](auto& a) { handle(a); }, action);
  }
}

void RelayNode::Impl::handle(ToClient& a) {
  auto it = clients.find(a.client);
  if (it != clients.end()) (void)it->second.send(std::move(a.text));
}

void RelayNode::Impl::handle(CloseClient& a) {
  auto it = clients.find(a.client);
  if (it != clients.end()) it->second.close(a.code, a.reason);
}

void RelayNode::Impl::handle(OpenChannel& a) {
  // Replicas refuse holds for their start-up grace (the lease): a channel
  // opened right after the network started waits that long at most.
  open_channel(
      {a.channel, a.hash, a.released_token, now() + options.reservation_lease_ms + kSettleMs}, 0);
}

void RelayNode::Impl::on_tick() {
  const int64_t t = now();
  core->tick(t);
  run_actions();
  expire_pending(t);
  if (t - last_announce_ms >= options.announce_interval_ms) announce();
  if (t - last_host_sample_ms >= HostStats::kBucketMs) {
    host.sample(t);
    last_host_sample_ms = t;
  }
  if (t - last_republish_ms >= kRepublishMs) {
    last_republish_ms = t;
    republish();
  }
  // Onboarding: as soon as there is a peer, and now and then after.
  if (!node->peers().empty() && (!onboarded || t - last_onboard_ms >= kOnboardMs)) {
    onboarded = true;
    last_onboard_ms = t;
    onboard();
  }
  // Channels this node reserved and no longer uses here: released once no
  // node has subscribers left (the last one may have left elsewhere).
  if (t - last_release_check_ms >= options.announce_interval_ms) {
    last_release_check_ms = t;
    for (const auto& ch : idle_owned_channels()) maybe_release(ch);
  }
}

void RelayNode::Impl::announce() {
  last_announce_ms = now();
  send_inm(
      command_inm(std::string(kEveryNode), {{"command", "hello"}, {"ws", ws_bound.to_string()}}));
}

Result<std::unique_ptr<RelayNode>> RelayNode::start(RelayNodeOptions options) {
  if (options.core.client_rate <= 0 || options.core.client_burst < 1)
    return invalid_argument("relay: client rate and burst must be positive");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  overlay::NodeOptions no;
  no.listen = options.listen;
  no.key_file = options.key_file;
  // A client frame of max_frame_bytes travels in one INM.
  no.overlay.max_frame_bytes =
      std::max<size_t>(no.overlay.max_frame_bytes, options.max_frame_bytes + (64 << 10));
  auto node = overlay::Node::create(no);
  if (!node.ok()) return node.error();
  impl->node = std::move(*node);
  impl->name = options.name.empty() ? "relay-" + to_hex(ByteView(impl->node->key().data(), 4))
                                    : options.name;
  if (impl->name == kEveryNode || impl->name.size() > 64)
    return invalid_argument("relay: name: want 1 to 64 bytes, not \"*\"");
  RelayCoreConfig cc = options.core;
  cc.name = impl->name;
  uint16_t salt = 0;
  randombytes_buf(&salt, sizeof salt);
  const auto start_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  cc.session = (static_cast<uint64_t>(start_ms) << 16) | salt;
  impl->core = std::make_unique<RelayCore>(cc);

  dht::DhtOptions dopts;
  for (const auto& b : options.bootstrap) dopts.bootstrap.push_back({b.host, b.port});
  // Replicas refuse grants for as long after their start as a lease they
  // may have granted before a restart could last: the relay's lease.
  dopts.config.lock_grace_after_start_ms = options.reservation_lease_ms;
  // One hold per channel this node reserves.
  dopts.config.max_holds = std::max<size_t>(dopts.config.max_holds, options.core.max_channels);
  auto d = dht::Dht::create(*impl->node, dopts);
  if (!d.ok()) return d.error();
  impl->dht = std::move(*d);
  auto reach = dht::Reach::create(*impl->node, *impl->dht);
  if (!reach.ok()) return reach.error();
  impl->reach = std::move(*reach);

  Impl* self = impl.get();
  overlay::AppHandlers app;
  app.on_shout = [self](const overlay::ShoutInfo& s) {
    self->inm_arrived(
        std::string_view(reinterpret_cast<const char*>(s.payload.data()), s.payload.size()),
        &s.origin, {});
  };
  app.on_whisper = [self](const overlay::WhisperInfo& w, overlay::Responder) {
    self->inm_arrived(
        std::string_view(reinterpret_cast<const char*>(w.payload.data()), w.payload.size()),
        &w.from, {});
  };
  if (auto r = impl->node->register_app(kRelayApp, std::move(app)); !r.ok()) return r.error();

  std::promise<Result<uint16_t>> ready;
  auto ready_f = ready.get_future();
  overlay::LoopHooks hooks;
  hooks.started = [self, &ready](uv_loop_s* loop) {
    self->loop = loop;
    web::HttpServerOptions ho;
    ho.host = self->options.ws.host;
    ho.port = self->options.ws.port;
    ho.max_connections = self->options.max_clients + 64;
    ho.max_ws_message_bytes = self->options.max_frame_bytes;
    ho.max_ws_queued_bytes = self->options.max_queued_bytes;
    ho.idle_timeout_s = 300;
    ho.tls_cert_file = self->options.tls_cert_file;
    ho.tls_key_file = self->options.tls_key_file;
    web::WebSocketHandlers ws;
    ws.accept = [self](const web::HttpRequest& r) { return self->on_upgrade(r); };
    ws.on_open = [self](web::WebSocket c) { self->on_open(c); };
    ws.on_message = [self](web::WebSocket c, std::string m) { self->on_message(c, std::move(m)); };
    ws.on_close = [self](web::WebSocket c, int, const std::string&) { self->on_close(c); };
    auto s = web::HttpServer::start(
        loop, ho,
        [self](const web::HttpRequest& r, web::Responder reply) { self->on_http(r, reply); },
        std::move(ws));
    if (!s.ok()) {
      ready.set_value(s.error());
      return;
    }
    self->server = std::move(*s);
    uv_timer_init(loop, &self->timer);
    self->timer.data = self;
    uv_timer_start(
        &self->timer, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->on_tick(); }, kTickMs,
        kTickMs);
    self->timer_started = true;
    ready.set_value(self->server->port());
  };
  hooks.stopping = [self] {
    self->stopped = true;
    if (self->timer_started) uv_close(reinterpret_cast<uv_handle_t*>(&self->timer), nullptr);
    if (self->server) self->server->stop();
  };
  hooks.peer = [self](const overlay::PublicKey&, bool up, const std::string&) {
    if (up && !self->stopped) self->announce();
  };
  if (auto r = impl->node->add_loop_hooks(std::move(hooks)); !r.ok()) return r.error();
  if (!options.metrics.empty()) {
    auto m = metrics::MetricsEndpoint::attach(
        *impl->node, options.metrics,
        [self](web::MetricsText& text) { self->append_metrics(text); });
    if (!m.ok()) return m.error();
    impl->metrics_endpoint = std::move(*m);
  }
  if (auto r = impl->node->start(); !r.ok()) return r.error();
  if (ready_f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    impl->node->stop();
    return timed_out("relay: the loop did not start");
  }
  auto port = ready_f.get();
  if (!port.ok()) {
    impl->node->stop();
    impl->server.reset();
    return port.error();
  }
  impl->ws_bound = {options.ws.host, *port};
  if (impl->metrics_endpoint) {
    auto bound = impl->metrics_endpoint->wait_listening();
    if (!bound.ok()) {
      impl->node->stop();
      impl->server.reset();
      impl->metrics_endpoint.reset();
      return bound.error();
    }
    impl->metrics_bound = *bound;
  }
  if (auto r = impl->dht->start(); !r.ok()) {
    impl->node->stop();
    impl->server.reset();
    return r.error();
  }
  if (auto r = impl->reach->start(); !r.ok()) {
    impl->dht->stop();
    impl->node->stop();
    impl->server.reset();
    return r.error();
  }
  for (const auto& b : options.bootstrap) impl->node->add_peer(b);
  return std::unique_ptr<RelayNode>(new RelayNode(std::move(impl)));
}

RelayNode::RelayNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

RelayNode::~RelayNode() {
  stop();
}

void RelayNode::stop() {
  if (!impl_ || !impl_->node) return;
  // Let go of reservations while the DHT still runs, so a rival need not
  // wait for the leases to run out.
  std::promise<void> released;
  auto f = released.get_future();
  Impl* self = impl_.get();
  impl_->node->post(
      [self, &released] {
        self->release_all();
        released.set_value();
      },
      [&released] { released.set_value(); });
  f.wait_for(std::chrono::seconds(1));
  impl_->reach->stop();
  impl_->dht->stop();
  impl_->node->stop();
  impl_->server.reset();  // after its loop has finished
  impl_->metrics_endpoint.reset();
  impl_->reach.reset();
  impl_->dht.reset();
  impl_->node.reset();
}

const std::string& RelayNode::name() const {
  return impl_->name;
}

overlay::SocketAddress RelayNode::listen_address() const {
  auto a = impl_->node ? impl_->node->listen_address() : std::nullopt;
  return a ? *a : overlay::SocketAddress{};
}

overlay::SocketAddress RelayNode::ws_address() const {
  return impl_->ws_bound;
}

const std::string& RelayNode::metrics_address() const {
  return impl_->metrics_bound;
}

nlohmann::json RelayNode::status() const {
  if (!impl_->node) return nlohmann::json::object();
  std::promise<nlohmann::json> p;
  auto f = p.get_future();
  Impl* self = impl_.get();
  impl_->node->post([self, &p] { p.set_value(self->status_json()); },
                    [&p] { p.set_value(nlohmann::json::object()); });
  return f.get();
}

}  // namespace chorus::relay
