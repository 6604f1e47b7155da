// The node's HTTP and WebSocket front: GET / (the chat page), GET /health,
// WS /connect for clients, WS /node for nodes that join with a one-time
// token; and the status snapshot tools read.
#include <spdlog/spdlog.h>

#include "chat_page.h"
#include "relay_node_impl.h"

#include "chorus/metrics/node_metrics.h"

namespace chorus::relay {

using nlohmann::json;

HealthInputs RelayNode::Impl::health_inputs() const {
  HealthInputs h;
  h.peers_configured = !options.bootstrap.empty();
  auto peers = node->peers();
  h.peers = peers.size() + node_sockets.size();
  for (const auto& p : peers) h.max_peer_rtt_us = std::max(h.max_peer_rtt_us, p.rtt_us);
  h.clients = clients.size();
  h.local_channels = core->local_channels().size();
  h.owned_channels = owned.size();
  return h;
}

void RelayNode::Impl::on_http(const web::HttpRequest& r, web::Responder reply) {
  if (r.method == "GET" && r.path == "/health") {
    Health h = evaluate_health(health_inputs());
    json j = {{"healthy", h.state}, {"reason", h.reason}};
    reply({200, "application/json", j.dump()});
    return;
  }
  if (r.method == "GET" && (r.path == "/" || r.path == "/index.html")) {
    reply({200, "text/html; charset=utf-8", std::string(kChatPage)});
    return;
  }
  reply({404, "application/json", R"({"error":"not found"})"});
}

int RelayNode::Impl::on_upgrade(const web::HttpRequest& r) {
  if (r.path == "/connect") return clients.size() >= options.max_clients ? 503 : 0;
  if (r.path == "/node") {
    auto token = r.header("authentication");
    if (!token) return 403;
    auto it = tokens.find(*token);
    if (it == tokens.end() || it->second.expires_ms < now()) {
      if (it != tokens.end()) tokens.erase(it);
      return 403;
    }
    return 0;
  }
  return 404;
}

void RelayNode::Impl::on_open(web::WebSocket ws) {
  if (ws.request().path == "/connect") {
    const ClientId id = next_client++;
    clients[id] = ws;
    client_ids[ws.id()] = id;
    core->client_opened(id, now());
    run_actions();
    return;
  }
  node_sockets_pending[ws.id()] = ws;
}

void RelayNode::Impl::on_message(web::WebSocket ws, std::string text) {
  if (auto c = client_ids.find(ws.id()); c != client_ids.end()) {
    core->client_message(c->second, text, now());
    run_actions();
    return;
  }
  if (auto n = node_sockets.find(ws.id()); n != node_sockets.end()) {
    inm_arrived(text, nullptr, n->second);
    return;
  }
  if (node_sockets_pending.count(ws.id())) node_handshake(ws, text);
}

// The first message on WS /node: {"command":"handshake","data":{"name"}}
// with the token given in the Authentication header.
void RelayNode::Impl::node_handshake(web::WebSocket ws, const std::string& text) {
  node_sockets_pending.erase(ws.id());
  const std::string token = ws.header("authentication").value_or("");
  auto it = tokens.find(token);
  json j = json::parse(text, nullptr, false);
  const json nonce = j.is_object() && j.contains("nonce") ? j["nonce"] : json(nullptr);
  std::string who;
  if (string_field(j, "command") == "handshake" && j.contains("data"))
    who = string_field(j["data"], "name");
  const bool good = it != tokens.end() && !who.empty() && it->second.name == who &&
                    !nodes.count(who) && nodes.size() < kMaxNodes;
  if (it != tokens.end()) tokens.erase(it);  // used or wrong: wiped either way
  if (!good) {
    (void)ws.send(json({{"type", "response"},
                        {"data", {{"ok", false}, {"reason", "bad name/token pair"}}},
                        {"nonce", nonce}})
                      .dump());
    ws.close(web::kClosePolicy, "bad name/token pair");
    return;
  }
  NodeEntry e;
  e.socket = ws;
  e.last_seen_ms = now();
  nodes[who] = e;
  node_sockets[ws.id()] = who;
  (void)ws.send(
      json({{"type", "response"}, {"data", {{"ok", true}, {"name", name}}}, {"nonce", nonce}})
          .dump());
  spdlog::info("relay {}: node '{}' joined over WebSocket", name, who);
}

void RelayNode::Impl::on_close(web::WebSocket ws) {
  if (auto c = client_ids.find(ws.id()); c != client_ids.end()) {
    clients.erase(c->second);
    core->client_closed(c->second, now());
    client_ids.erase(c);
    run_actions();
    return;
  }
  node_sockets_pending.erase(ws.id());
  if (auto n = node_sockets.find(ws.id()); n != node_sockets.end()) {
    nodes.erase(n->second);
    node_sockets.erase(n);
  }
}

json RelayNode::Impl::status_json() const {
  Health h = evaluate_health(health_inputs());
  const auto& s = core->stats();
  json channels = json::object();
  for (const auto& [ch, info] : core->channels())
    channels[ch] = {
        {"owner", info.owner}, {"token", info.token}, {"subscribers", info.local_subscribers}};
  json known = json::array();
  for (const auto& [n, e] : nodes) known.push_back(n);
  return {{"name", name},
          {"health", {{"healthy", h.state}, {"reason", h.reason}}},
          {"clients", clients.size()},
          {"peers", node->peers().size()},
          {"nodes", known},
          {"channels", channels},
          {"owned", owned.size()},
          {"delivered_local", s.delivered_local},
          {"client_errors", s.client_errors},
          {"clients_closed", s.clients_closed},
          {"inm_messages_in", s.inm_messages_in},
          {"inm_duplicates", s.inm_duplicates},
          {"inm_reordered", s.inm_reordered},
          {"inm_skipped", s.inm_skipped},
          {"ws_closed_too_big", server ? server->stats().ws_closed_too_big : 0},
          {"ws_closed_slow", server ? server->stats().ws_closed_slow : 0}};
}

void RelayNode::Impl::append_metrics(web::MetricsText& m) const {
  metrics::append_overlay_metrics(m, *node);
  if (dht) metrics::append_dht_metrics(m, *dht);
  const Health h = evaluate_health(health_inputs());
  const auto& s = core->stats();
  auto d = [](uint64_t v) { return static_cast<double>(v); };
  for (const char* state : {"good", "degraded", "bad"})
    m.gauge("chorus_relay_health", "1 for the health state now (GET /health), else 0.",
            h.state == state ? 1 : 0, {{"state", state}});
  m.gauge("chorus_relay_clients", "WebSocket clients on /connect.", d(clients.size()));
  size_t subscribed = 0;
  for (const auto& [ch, info] : core->channels()) subscribed += info.local_subscribers > 0 ? 1 : 0;
  m.gauge("chorus_relay_channels", "Channels known here, and those with a subscriber here.",
          d(core->channels().size()), {{"scope", "known"}});
  m.gauge("chorus_relay_channels", "", d(subscribed), {{"scope", "local"}});
  m.gauge("chorus_relay_reservations", "Channel reservations this node holds.", d(owned.size()));
  m.gauge("chorus_relay_nodes", "Relay nodes this node has heard from.", d(nodes.size()));
  m.counter("chorus_relay_client_requests_total", "Requests from clients.", d(s.client_requests));
  m.counter("chorus_relay_client_errors_total", "Error responses to clients.", d(s.client_errors));
  m.counter("chorus_relay_delivered_total", "Frames delivered to clients here.",
            d(s.delivered_local));
  m.counter("chorus_relay_inm_total", "INMs from other nodes, by what became of them.",
            d(s.inm_messages_in), {{"event", "received"}});
  m.counter("chorus_relay_inm_total", "", d(s.inm_duplicates), {{"event", "duplicate"}});
  m.counter("chorus_relay_inm_total", "", d(s.inm_reordered), {{"event", "reordered"}});
  m.counter("chorus_relay_inm_total", "", d(s.inm_skipped), {{"event", "skipped"}});
  m.counter("chorus_relay_clients_closed_total",
            "Clients closed for repeated bad requests (the server's own closes are "
            "chorus_websocket_closed_total).",
            d(s.clients_closed));
  if (server) web::append_http_metrics(m, {{"ws", server->stats()}});
}

}  // namespace chorus::relay
