#include "chorus/relay/relay_node.h"

#include <sodium.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <chrono>
#include <future>
#include <map>
#include <set>

#include "chat_page.h"
#include "chorus/base/bytes.h"
#include "chorus/dht/dht.h"
#include "chorus/overlay/node.h"
#include "chorus/relay/health.h"
#include "chorus/relay/host_stats.h"
#include "chorus/web/http_server.h"

namespace chorus::relay {

namespace {

using nlohmann::json;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string random_hex(size_t bytes) {
  Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  return to_hex(b);
}

Bytes to_bytes(const std::string& s) {
  return Bytes(s.begin(), s.end());
}

constexpr size_t kMaxPendingCommands = 4096;
constexpr size_t kMaxTokens = 256;
constexpr size_t kMaxNodes = 4096;
constexpr int64_t kTokenLifetimeMs = 60'000;
constexpr int64_t kTickMs = 100;
constexpr int kLookupRetries = 40;  // every 100 ms: a rival's value has 4 s to appear
constexpr uint32_t kChannelTtlS = 3600;
constexpr int64_t kRepublishMs = 60'000;

}  // namespace

struct RelayNode::Impl {
  RelayNodeOptions options;
  std::string name;
  std::unique_ptr<overlay::Node> node;
  std::unique_ptr<dht::Dht> dht;
  std::unique_ptr<web::HttpServer> server;
  std::unique_ptr<RelayCore> core;
  HostStats host;
  uv_loop_s* loop = nullptr;
  uv_timer_t timer{};
  bool timer_started = false;
  bool stopped = false;
  overlay::SocketAddress ws_bound;
  int64_t last_announce_ms = 0;
  int64_t last_host_sample_ms = 0;
  int64_t last_republish_ms = 0;
  int64_t last_onboard_ms = 0;

  std::map<ClientId, web::WebSocket> clients;  // on /connect
  ClientId next_client = 1;

  // Other nodes by name: their overlay key, or their socket when joined
  // over WS /node.
  struct NodeEntry {
    std::optional<overlay::PublicKey> key;
    std::string ws;  // their client address, as they announced it
    int64_t last_seen_ms = 0;
    std::optional<web::WebSocket> socket;
  };
  std::map<std::string, NodeEntry> nodes;
  std::map<uint64_t, std::string> node_sockets;  // WebSocket id -> name, after handshake
  std::set<uint64_t> node_sockets_pending;       // upgraded, no handshake yet

  struct Token {
    std::string name;
    int64_t expires_ms;
  };
  std::map<std::string, Token> tokens;

  struct Pending {
    std::function<void(bool ok, json data)> done;
    int64_t deadline_ms;
  };
  std::map<std::string, Pending> pending;
  uint64_t next_nonce = 1;

  struct Owned {
    dht::HoldHandle hold = 0;
    uint64_t token = 0;
    PasswordHash hash{};
  };
  std::map<std::string, Owned> owned;
  uint64_t index_seq = 0;

  // --- plumbing -----------------------------------------------------------
  int64_t now() const { return steady_ms(); }

  void run_actions() {
    for (auto& action : core->take_actions()) {
      std::visit([this](auto& a) { handle(a); }, action);
    }
  }
  void handle(ToClient& a) {
    auto it = clients.find(a.client);
    if (it != clients.end()) (void)it->second.send(std::move(a.text));
  }
  void handle(CloseClient& a) {
    auto it = clients.find(a.client);
    if (it != clients.end()) it->second.close(a.code, a.reason);
  }
  void handle(SendInm& a) { send_inm(a.inm); }
  void handle(OpenChannel& a) { open_channel(a.channel, a.hash, 0); }
  void handle(ChannelEmpty& a) { maybe_release(a.channel); }
  void handle(NetworkCommand& a) { network_command(a); }

  void send_inm(const Inm& inm) {
    const std::string text = inm.to_json();
    if (inm.destination == kEveryNode) {
      node->shout(kRelayApp, to_bytes(text));
      for (auto& [id, peer] : node_sockets) {
        auto n = nodes.find(peer);
        if (n != nodes.end() && n->second.socket && peer != inm.source) (void)n->second.socket->send(text);
      }
      return;
    }
    auto it = nodes.find(inm.destination);
    if (it == nodes.end()) {
      fail_pending(inm, "unknown node: " + inm.destination);
      return;
    }
    if (it->second.socket) {
      (void)it->second.socket->send(text);
    } else if (it->second.key) {
      node->whisper(kRelayApp, *it->second.key, to_bytes(text), /*encrypt=*/true,
                    [](Result<overlay::Hash256>) {});
    }
  }
  void fail_pending(const Inm& inm, const std::string& reason) {
    if (inm.type != "command") return;
    auto p = pending.find(inm.nonce);
    if (p == pending.end()) return;
    auto done = std::move(p->second.done);
    pending.erase(p);
    done(false, {{"reason", reason}});
  }

  // A command to another node; `done` runs once with its answer or a timeout.
  void ask(const std::string& to, json data, std::function<void(bool, json)> done) {
    if (pending.size() >= kMaxPendingCommands) return done(false, {{"reason", "busy"}});
    Inm inm;
    inm.source = name;
    inm.destination = to;
    inm.type = "command";
    inm.nonce = name + "#" + std::to_string(next_nonce++);
    inm.data = std::move(data);
    pending[inm.nonce] = Pending{std::move(done), now() + options.command_timeout_ms};
    send_inm(inm);
  }

  // --- INMs in ------------------------------------------------------------
  // From the overlay (`key` set) or from a node's WebSocket (`via_socket`).
  void inm_arrived(std::string_view text, const overlay::PublicKey* key,
                   const std::string& via_socket) {
    auto parsed = Inm::parse(text);
    if (!parsed.ok()) {
      spdlog::debug("relay {}: dropped INM: {}", name, parsed.error().message());
      return;
    }
    Inm& inm = *parsed;
    if (inm.source == name) return;
    // A name belongs to the first key (or socket) that spoke for it.
    if (!learn_node(inm.source, key, via_socket)) {
      spdlog::warn("relay {}: INM from '{}' on the wrong key or socket: dropped", name, inm.source);
      return;
    }
    if (inm.destination != kEveryNode && inm.destination != name) {
      // For a node joined here over /node, or passing through: route it.
      if (nodes.count(inm.destination)) send_inm(inm);
      return;
    }
    // A "*" goes on to the nodes joined here over /node and, when one of
    // them sent it, to the overlay (send_inm skips its source).
    if (inm.destination == kEveryNode) {
      if (!via_socket.empty()) {
        send_inm(inm);
      } else {
        const std::string out = inm.to_json();
        for (auto& [id, peer] : node_sockets) {
          auto n = nodes.find(peer);
          if (n != nodes.end() && n->second.socket) (void)n->second.socket->send(out);
        }
      }
    }
    handle_inm(inm);
  }

  bool learn_node(const std::string& who, const overlay::PublicKey* key, const std::string& socket) {
    auto it = nodes.find(who);
    if (it == nodes.end()) {
      if (nodes.size() >= kMaxNodes) return false;
      NodeEntry e;
      if (key) e.key = *key;
      e.last_seen_ms = now();
      nodes[who] = e;
      return true;
    }
    NodeEntry& e = it->second;
    if (key) {
      if (e.key && *e.key != *key) return false;
      if (e.socket) return false;
      e.key = *key;
    } else if (!socket.empty() && socket != who) {
      return false;
    }
    e.last_seen_ms = now();
    return true;
  }

  void handle_inm(const Inm& inm) {
    if (inm.type == "response") {
      auto p = pending.find(inm.nonce);
      if (p == pending.end()) return;
      auto done = std::move(p->second.done);
      pending.erase(p);
      done(inm.data.value("ok", false), inm.data);
      return;
    }
    if (core->inm_received(inm, now())) {
      run_actions();
      return;
    }
    // A command for the driver.
    const std::string command = inm.data.value("command", "");
    if (command == "hello") {
      if (inm.data.contains("ws") && inm.data["ws"].is_string()) nodes[inm.source].ws = inm.data["ws"].get<std::string>();
      return;
    }
    if (command == "channel-subscribers") {
      const std::string channel = inm.data.value("channel", "");
      size_t n = 0;
      for (const auto& c : core->local_channels()) n += c == channel;
      auto info = core->channels().find(channel);
      send_inm(inm.response(name, true,
                            {{"channel", channel},
                             {"subscribers", n ? info->second.local_subscribers : 0}}));
      return;
    }
    json answer;
    std::string reason;
    const bool ok = local_command(command, inm.data, inm.source, answer, reason);
    if (!ok) answer["reason"] = reason;
    send_inm(inm.response(name, ok, std::move(answer)));
  }

  // The network commands this node answers about itself.
  bool local_command(const std::string& command, const json& data, const std::string& asker,
                     json& out, std::string& reason) {
    const int64_t t = now();
    if (command == "list-nodes") {
      json list = json::array({name});
      for (const auto& [n, e] : nodes) list.push_back(n);
      out["nodes"] = std::move(list);
      return true;
    }
    if (command == "list-channels") {
      out["channels"] = core->local_channels();
      return true;
    }
    if (command == "list-reserved-channels") {
      json list = json::object();
      for (const auto& [ch, info] : core->channels())
        list[ch] = {{"hash", hash_to_hex(info.hash)}, {"token", info.token}, {"owner", info.owner}};
      out["channels"] = std::move(list);
      return true;
    }
    if (command == "node-stats") {
      out = core->traffic().to_json(t);
      out["clients"] = clients.size();
      return true;
    }
    if (command == "host-stats") {
      out = host.to_json();
      return true;
    }
    if (command == "get-latency") {
      json peers = json::object();
      for (const auto& p : node->peers()) {
        std::string who = overlay::address_to_text(p.key);
        for (const auto& [n, e] : nodes)
          if (e.key && *e.key == p.key) who = n;
        peers[who] = {{"rtt_ms", static_cast<double>(p.rtt_us) / 1000.0}};
      }
      out["peers"] = std::move(peers);
      return true;
    }
    if (command == "get-node-connection") {
      out["node"] = name;
      out["url"] = "ws://" + ws_bound.to_string() + "/node";
      return true;
    }
    if (command == "get-connection-token") {
      if (!options.open_join) {
        reason = "joining is closed on this node";
        return false;
      }
      const std::string who = data.value("name", "");
      if (who.empty() || who.size() > 64 || who == name || who == std::string(kEveryNode)) {
        reason = "name: want 1 to 64 bytes, not this node's";
        return false;
      }
      for (auto it = tokens.begin(); it != tokens.end();)
        it = it->second.expires_ms < t ? tokens.erase(it) : std::next(it);
      if (tokens.size() >= kMaxTokens) {
        reason = "too many tokens outstanding";
        return false;
      }
      const std::string token = random_hex(32);
      tokens[token] = Token{who, t + kTokenLifetimeMs};
      out["token"] = token;
      out["node"] = name;
      out["url"] = "ws://" + ws_bound.to_string() + "/node";
      (void)asker;
      return true;
    }
    reason = "unknown command: " + command.substr(0, 64);
    return false;
  }

  void network_command(NetworkCommand& a) {
    const std::string target = a.data.value("node", name);
    if (target == name) {
      json out;
      std::string reason;
      const bool ok = local_command(a.command, a.data, name, out, reason);
      core->answer_client(a.client, a.nonce, ok, std::move(out), reason);
      run_actions();
      return;
    }
    if (!nodes.count(target)) {
      core->answer_client(a.client, a.nonce, false, json::object(), "unknown node: " + target);
      run_actions();
      return;
    }
    json data = a.data;
    data["command"] = a.command;
    data.erase("node");
    const ClientId client = a.client;
    const json nonce = a.nonce;
    ask(target, std::move(data), [this, client, nonce](bool ok, json answer) {
      std::string reason = answer.value("reason", "");
      answer.erase("ok");
      answer.erase("reason");
      core->answer_client(client, nonce, ok, std::move(answer), reason);
      run_actions();
    });
  }

  // --- channels in the DHT ----------------------------------------------
  static dht::Key channel_key(const std::string& channel) {
    return dht::key_for("chorus-relay/channel/" + channel);
  }
  static dht::Key lock_key(const std::string& channel) {
    return dht::key_for("chorus-relay/channel-lock/" + channel);
  }
  static dht::Key index_key() { return dht::key_for("chorus-relay/channels"); }

  // The newest live reservation among the signed values under a channel's
  // key: the highest fencing token wins; a release ends it.
  struct Found {
    bool live = false;
    PasswordHash hash{};
    uint64_t token = 0;
    std::string owner;
  };
  static Found newest(const std::string& channel, const dht::OpResult& r) {
    Found best;
    uint64_t best_token = 0;
    for (const auto& v : r.signed_values) {
      json j = json::parse(v.data.begin(), v.data.end(), nullptr, false);
      if (!j.is_object() || j.value("channel", "") != channel) continue;
      const uint64_t token = j.value("token", uint64_t{0});
      if (token < best_token) continue;
      auto hash = hash_from_hex(j.value("hash", ""));
      if (!hash) continue;
      best_token = token;
      best.live = !j.value("released", false);
      best.hash = *hash;
      best.token = token;
      best.owner = j.value("owner", "");
    }
    return best;
  }

  void open_channel(const std::string& channel, const PasswordHash& hash, int attempt) {
    if (stopped) return;
    dht->get(channel_key(channel), [this, channel, hash, attempt](Result<dht::OpResult> r) {
      if (stopped) return;
      if (r.ok()) {
        Found f = newest(channel, *r);
        if (f.live) {
          core->channel_known(channel, f.hash, f.token, f.owner, now());
          run_actions();
          return;
        }
      } else if (r.error().code() != ErrorCode::kNotFound && attempt == 0) {
        spdlog::debug("relay {}: lookup of '{}': {}", name, channel, r.error().message());
      }
      // Nothing there: reserve it, first time and now and then while
      // waiting (a hold refused by replicas still in their start-up grace
      // leaves no rival value to wait for).
      if (attempt == 0 || attempt % 10 == 0) return reserve(channel, hash, attempt);
      retry_lookup(channel, hash, attempt);
    });
  }

  void retry_lookup(const std::string& channel, const PasswordHash& hash, int attempt) {
    if (attempt >= kLookupRetries) {
      core->channel_failed(channel, "reservation did not settle");
      run_actions();
      return;
    }
    auto* t = new uv_timer_t;
    uv_timer_init(loop, t);
    struct Ctx {
      Impl* self;
      std::string channel;
      PasswordHash hash;
      int attempt;
    };
    t->data = new Ctx{this, channel, hash, attempt};
    uv_timer_start(
        t,
        [](uv_timer_t* h) {
          auto* c = static_cast<Ctx*>(h->data);
          c->self->open_channel(c->channel, c->hash, c->attempt + 1);
          delete c;
          uv_close(reinterpret_cast<uv_handle_t*>(h),
                   [](uv_handle_t* x) { delete reinterpret_cast<uv_timer_t*>(x); });
        },
        100, 0);
  }

  void reserve(const std::string& channel, const PasswordHash& hash, int attempt) {
    auto handle = std::make_shared<dht::HoldHandle>(0);
    *handle = dht->hold(
        lock_key(channel), options.reservation_lease_ms,
        [this, channel, hash, handle, attempt](Result<dht::HoldGrant> g) {
          if (stopped) return;
          const bool alone = node->peers().empty() && node_sockets.empty();
          if (!g.ok() && !(alone && g.error().code() != ErrorCode::kRefused)) {
            // Someone else holds it (or is taking it): their value follows.
            spdlog::warn("relay {}: '{}' held elsewhere: {}", name, channel, g.error().message());
            return retry_lookup(channel, hash, attempt + 1);
          }
          // A node with no peer has no replicas to ask: a network of one
          // reserves for itself (token 1), and republishes once peers come.
          Owned& o = owned[channel];
          o.hold = g.ok() ? *handle : 0;
          o.token = g.ok() ? g->fencing_token : 1;
          o.hash = hash;
          publish_channel(channel, o, false, [this, channel, hash, token = o.token] {
            core->channel_known(channel, hash, token, name, now());
            run_actions();
            Inm inm;
            inm.source = name;
            inm.destination = std::string(kEveryNode);
            inm.type = "command";
            inm.nonce = name + "#" + std::to_string(next_nonce++);
            inm.data = {{"command", "reserve-channel"},
                        {"channel", channel},
                        {"hash", hash_to_hex(hash)},
                        {"token", token}};
            send_inm(inm);
            publish_index();
          });
        },
        [this, channel](Error e) {
          if (stopped) return;
          spdlog::warn("relay {}: lost the reservation of '{}': {}", name, channel, e.message());
          owned.erase(channel);
        });
  }

  void publish_channel(const std::string& channel, const Owned& o, bool released,
                       std::function<void()> then) {
    json v = {{"channel", channel},
              {"hash", hash_to_hex(o.hash)},
              {"token", o.token},
              {"owner", name},
              {"released", released}};
    const std::string text = v.dump();
    // One slot per owner: a release (2t+1) replaces the reservation (2t).
    dht->put_signed(channel_key(channel), to_bytes(text), o.token * 2 + (released ? 1 : 0),
                    kChannelTtlS, [then = std::move(then)](Result<dht::OpResult>) {
                      if (then) then();
                    });
  }

  // This node's reservations, for nodes that join later (onboarding).
  void publish_index() {
    json list = json::object();
    for (const auto& [ch, o] : owned) list[ch] = {{"hash", hash_to_hex(o.hash)}, {"token", o.token}};
    json v = {{"owner", name}, {"channels", std::move(list)}};
    index_seq = std::max<uint64_t>(index_seq + 1, static_cast<uint64_t>(std::time(nullptr)) * 1000);
    dht->put_signed(index_key(), to_bytes(v.dump()), index_seq, kChannelTtlS,
                    [](Result<dht::OpResult>) {});
  }

  void onboard() {
    dht->get(index_key(), [this](Result<dht::OpResult> r) {
      if (stopped || !r.ok()) return;
      for (const auto& v : r->signed_values) {
        json j = json::parse(v.data.begin(), v.data.end(), nullptr, false);
        if (!j.is_object() || !j.contains("channels") || !j["channels"].is_object()) continue;
        const std::string owner = j.value("owner", "");
        if (owner == name) continue;
        for (auto& [ch, info] : j["channels"].items()) {
          if (!info.is_object()) continue;
          auto hash = hash_from_hex(info.value("hash", ""));
          if (hash) core->channel_known(ch, *hash, info.value("token", uint64_t{0}), owner, now());
        }
      }
      run_actions();
    });
  }

  // The last local subscriber left a channel we reserved: release it only
  // when no other node has subscribers.
  void maybe_release(const std::string& channel) {
    auto it = owned.find(channel);
    if (it == owned.end()) return;
    auto remaining = std::make_shared<size_t>(0);
    auto in_use = std::make_shared<bool>(false);
    std::vector<std::string> others;
    for (const auto& [n, e] : nodes)
      if (now() - e.last_seen_ms < 4 * options.announce_interval_ms) others.push_back(n);
    auto finish = [this, channel, in_use] {
      auto o = owned.find(channel);
      if (o == owned.end() || *in_use) return;
      for (const auto& c : core->local_channels())
        if (c == channel) return;  // someone subscribed here meanwhile
      Owned copy = o->second;
      owned.erase(o);
      dht->release_hold(copy.hold);
      publish_channel(channel, copy, true, {});
      publish_index();
      Inm inm;
      inm.source = name;
      inm.destination = std::string(kEveryNode);
      inm.type = "command";
      inm.nonce = name + "#" + std::to_string(next_nonce++);
      inm.data = {{"command", "unreserve-channel"}, {"channel", channel}, {"token", copy.token}};
      send_inm(inm);
      core->channel_released(channel, copy.token);
      run_actions();
    };
    if (others.empty()) return finish();
    *remaining = others.size();
    for (const auto& n : others) {
      ask(n, {{"command", "channel-subscribers"}, {"channel", channel}},
          [remaining, in_use, finish](bool ok, json answer) {
            // No answer counts as in use: releasing a channel someone still
            // uses is worse than keeping an empty one.
            if (!ok || answer.value("subscribers", 0) > 0) *in_use = true;
            if (--*remaining == 0) finish();
          });
    }
  }

  // --- timer --------------------------------------------------------------
  void on_tick() {
    const int64_t t = now();
    core->tick(t);
    run_actions();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->second.deadline_ms > t) {
        ++it;
        continue;
      }
      auto done = std::move(it->second.done);
      it = pending.erase(it);
      done(false, {{"reason", "timeout"}});
    }
    if (t - last_announce_ms >= options.announce_interval_ms) announce();
    if (t - last_host_sample_ms >= HostStats::kBucketMs) {
      host.sample(t);
      last_host_sample_ms = t;
    }
    if (t - last_republish_ms >= kRepublishMs) {
      last_republish_ms = t;
      for (auto& [ch, o] : owned) publish_channel(ch, o, false, {});
      if (!owned.empty()) publish_index();
    }
    // Onboarding: soon after start, and now and then after.
    if ((last_onboard_ms == 0 && !node->peers().empty()) || t - last_onboard_ms >= 30'000) {
      last_onboard_ms = t;
      onboard();
    }
  }

  void announce() {
    last_announce_ms = now();
    Inm inm;
    inm.source = name;
    inm.destination = std::string(kEveryNode);
    inm.type = "command";
    inm.nonce = name + "#" + std::to_string(next_nonce++);
    inm.data = {{"command", "hello"}, {"ws", ws_bound.to_string()}};
    send_inm(inm);
  }

  // --- HTTP and WebSockets ------------------------------------------------
  HealthInputs health_inputs() const {
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

  void on_http(const web::HttpRequest& r, web::Responder reply) {
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

  int on_upgrade(const web::HttpRequest& r) {
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

  void on_open(web::WebSocket ws) {
    if (ws.request().path == "/connect") {
      const ClientId id = next_client++;
      clients[id] = ws;
      client_ids[ws.id()] = id;
      core->client_opened(id, now());
      run_actions();
      return;
    }
    node_sockets_pending.insert(ws.id());
    pending_node_sockets[ws.id()] = ws;
  }

  void on_message(web::WebSocket ws, std::string text) {
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
  void node_handshake(web::WebSocket ws, const std::string& text) {
    node_sockets_pending.erase(ws.id());
    pending_node_sockets.erase(ws.id());
    const std::string token = ws.header("authentication").value_or("");
    auto it = tokens.find(token);
    json j = json::parse(text, nullptr, false);
    const json nonce = j.is_object() && j.contains("nonce") ? j["nonce"] : json(nullptr);
    std::string who;
    if (j.is_object() && j.value("command", "") == "handshake" && j.contains("data") &&
        j["data"].is_object())
      who = j["data"].value("name", "");
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

  void on_close(web::WebSocket ws) {
    if (auto c = client_ids.find(ws.id()); c != client_ids.end()) {
      clients.erase(c->second);
      core->client_closed(c->second, now());
      client_ids.erase(c);
      run_actions();
      return;
    }
    node_sockets_pending.erase(ws.id());
    pending_node_sockets.erase(ws.id());
    if (auto n = node_sockets.find(ws.id()); n != node_sockets.end()) {
      nodes.erase(n->second);
      node_sockets.erase(n);
    }
  }

  std::map<uint64_t, ClientId> client_ids;  // WebSocket id -> client
  std::map<uint64_t, web::WebSocket> pending_node_sockets;

  json status_json() const {
    Health h = evaluate_health(health_inputs());
    const auto& s = core->stats();
    json channels = json::object();
    for (const auto& [ch, info] : core->channels())
      channels[ch] = {{"owner", info.owner}, {"token", info.token}, {"subscribers", info.local_subscribers}};
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
};

Result<std::unique_ptr<RelayNode>> RelayNode::start(RelayNodeOptions options) {
  if (options.core.client_rate <= 0 || options.core.client_burst < 1)
    return invalid_argument("relay: client rate and burst must be positive");
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  overlay::NodeOptions no;
  no.listen = options.listen;
  no.key_file = options.key_file;
  // A client frame of max_frame_bytes travels in one INM.
  no.overlay.max_frame_bytes = std::max<size_t>(no.overlay.max_frame_bytes,
                                                options.max_frame_bytes + (64 << 10));
  auto node = overlay::Node::create(no);
  if (!node.ok()) return node.error();
  impl->node = std::move(*node);
  impl->name = options.name.empty()
                   ? "relay-" + to_hex(ByteView(impl->node->key().data(), 4))
                   : options.name;
  if (impl->name == kEveryNode || impl->name.size() > 64)
    return invalid_argument("relay: name: want 1 to 64 bytes, not \"*\"");
  RelayCoreConfig cc = options.core;
  cc.name = impl->name;
  impl->core = std::make_unique<RelayCore>(cc);

  dht::DhtOptions dopts;
  for (const auto& b : options.bootstrap) dopts.bootstrap.push_back({b.host, b.port});
  // Replicas refuse grants for as long after their start as a lease they
  // may have granted before a restart could last: the relay's lease.
  dopts.config.lock_grace_after_start_ms = options.reservation_lease_ms;
  auto d = dht::Dht::create(*impl->node, dopts);
  if (!d.ok()) return d.error();
  impl->dht = std::move(*d);

  Impl* self = impl.get();
  overlay::AppHandlers app;
  app.on_shout = [self](const overlay::ShoutInfo& s) {
    self->inm_arrived(std::string_view(reinterpret_cast<const char*>(s.payload.data()), s.payload.size()),
                      &s.origin, {});
  };
  app.on_whisper = [self](const overlay::WhisperInfo& w, overlay::Responder) {
    self->inm_arrived(std::string_view(reinterpret_cast<const char*>(w.payload.data()), w.payload.size()),
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
    web::WebSocketHandlers ws;
    ws.accept = [self](const web::HttpRequest& r) { return self->on_upgrade(r); };
    ws.on_open = [self](web::WebSocket c) { self->on_open(c); };
    ws.on_message = [self](web::WebSocket c, std::string m) { self->on_message(c, std::move(m)); };
    ws.on_close = [self](web::WebSocket c, int, const std::string&) { self->on_close(c); };
    auto s = web::HttpServer::start(
        loop, ho, [self](const web::HttpRequest& r, web::Responder reply) { self->on_http(r, reply); },
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
  if (auto r = impl->dht->start(); !r.ok()) {
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
        for (auto& [ch, o] : self->owned) self->dht->release_hold(o.hold);
        self->owned.clear();
        released.set_value();
      },
      [&released] { released.set_value(); });
  f.wait_for(std::chrono::seconds(1));
  impl_->dht->stop();
  impl_->node->stop();
  impl_->server.reset();  // after its loop has finished
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
