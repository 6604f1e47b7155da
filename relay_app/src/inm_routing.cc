// INMs between relay nodes: "*" as a SHOUT (and to every node joined here
// over /node), a named node as an encrypted WHISPER or on its socket; the
// commands a node answers about itself, for other nodes and for clients.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "chorus/base/bytes.h"
#include "relay_node_impl.h"

namespace chorus::relay {

namespace {

using nlohmann::json;

std::string random_hex(size_t bytes) {
  Bytes b(bytes);
  randombytes_buf(b.data(), b.size());
  return to_hex(b);
}

// Clients see which channels are reserved and by whom, not the password
// hashes: a PBKDF2 hash still gives an offline guesser something to check
// guesses against.
void strip_for_client(const std::string& command, json& answer) {
  if (command != "list-reserved-channels" || !answer.contains("channels")) return;
  for (auto& [channel, info] : answer["channels"].items())
    if (info.is_object()) info.erase("hash");
}

}  // namespace

Inm RelayNode::Impl::command_inm(const std::string& destination, json data) {
  Inm inm;
  inm.source = name;
  inm.destination = destination;
  inm.type = "command";
  inm.nonce = name + "#" + std::to_string(next_nonce++);
  inm.data = std::move(data);
  return inm;
}

void RelayNode::Impl::send_to_node_sockets(const std::string& text, const std::string& except) {
  for (auto& [id, peer] : node_sockets) {
    if (peer == except) continue;
    auto n = nodes.find(peer);
    if (n != nodes.end() && n->second.socket) (void)n->second.socket->send(text);
  }
}

void RelayNode::Impl::send_inm(const Inm& inm) {
  const std::string text = inm.to_json();
  if (inm.destination == kEveryNode) {
    node->shout(kRelayApp, to_bytes(text));
    send_to_node_sockets(text, inm.source);
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
    // Through Reach: a direct peer at once, any other node by its record.
    reach->whisper(kRelayApp, *it->second.key, to_bytes(text),
                   [this, inm](Result<overlay::Hash256> r) {
                     if (!r.ok() && !stopped) fail_pending(inm, r.error().message());
                   });
  }
}

void RelayNode::Impl::fail_pending(const Inm& inm, const std::string& reason) {
  if (inm.type != "command") return;
  auto p = pending.find(inm.nonce);
  if (p == pending.end()) return;
  auto done = std::move(p->second.done);
  pending.erase(p);
  done(false, {{"reason", reason}});
}

void RelayNode::Impl::ask(const std::string& to, json data, std::function<void(bool, json)> done) {
  if (pending.size() >= kMaxPendingCommands) return done(false, {{"reason", "busy"}});
  Inm inm = command_inm(to, std::move(data));
  pending[inm.nonce] = Pending{std::move(done), now() + options.command_timeout_ms};
  send_inm(inm);
}

void RelayNode::Impl::expire_pending(int64_t now_ms) {
  for (auto it = pending.begin(); it != pending.end();) {
    if (it->second.deadline_ms > now_ms) {
      ++it;
      continue;
    }
    auto done = std::move(it->second.done);
    it = pending.erase(it);
    done(false, {{"reason", "timeout"}});
  }
}

void RelayNode::Impl::inm_arrived(std::string_view text, const overlay::PublicKey* key,
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
  // A "*" goes on to the nodes joined here over /node and, when one of them
  // sent it, to the overlay as well (send_inm skips its source).
  if (inm.destination == kEveryNode) {
    if (!via_socket.empty()) {
      send_inm(inm);
    } else {
      send_to_node_sockets(inm.to_json(), {});
    }
  }
  handle_inm(inm);
}

bool RelayNode::Impl::learn_node(const std::string& who, const overlay::PublicKey* key,
                                 const std::string& socket) {
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

void RelayNode::Impl::handle_inm(const Inm& inm) {
  if (inm.type == "response") {
    auto p = pending.find(inm.nonce);
    if (p == pending.end()) return;
    auto done = std::move(p->second.done);
    pending.erase(p);
    done(bool_field(inm.data, "ok"), inm.data);
    return;
  }
  if (core->inm_received(inm, now())) {
    run_actions();
    return;
  }
  // A command for the driver.
  const std::string command = string_field(inm.data, "command");
  if (command == "hello") {
    if (inm.data.contains("ws") && inm.data["ws"].is_string())
      nodes[inm.source].ws = inm.data["ws"].get<std::string>();
    return;
  }
  if (command == "channel-subscribers") {
    const std::string channel = string_field(inm.data, "channel");
    auto info = core->channels().find(channel);
    const size_t n = info == core->channels().end() ? 0 : info->second.local_subscribers;
    send_inm(inm.response(name, true, {{"channel", channel}, {"subscribers", n}}));
    return;
  }
  json answer;
  std::string reason;
  const bool ok = local_command(command, inm.data, answer, reason);
  if (!ok) answer["reason"] = reason;
  send_inm(inm.response(name, ok, std::move(answer)));
}

bool RelayNode::Impl::local_command(const std::string& command, const json& data, json& out,
                                    std::string& reason) {
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
    out["url"] = node_url();
    return true;
  }
  if (command == "get-connection-token") {
    if (!options.open_join) {
      reason = "joining is closed on this node";
      return false;
    }
    const std::string who = string_field(data, "name");
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
    out["url"] = node_url();
    return true;
  }
  reason = "unknown command: " + utf8_prefix(command, 64);
  return false;
}

std::string RelayNode::Impl::node_url() const {
  const bool tls = !options.tls_cert_file.empty();
  return (tls ? "wss://" : "ws://") + ws_bound.to_string() + "/node";
}

void RelayNode::Impl::network_command(NetworkCommand& a) {
  const json target_field = a.data.contains("node") ? a.data["node"] : json(name);
  if (!target_field.is_string()) {
    core->answer_client(a.client, a.nonce, false, json::object(), "node: want a string");
    run_actions();
    return;
  }
  const std::string target = target_field.get<std::string>();
  if (target == name) {
    json out;
    std::string reason;
    const bool ok = local_command(a.command, a.data, out, reason);
    strip_for_client(a.command, out);
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
  ask(target, std::move(data), [this, client, nonce, command = a.command](bool ok, json answer) {
    std::string reason = string_field(answer, "reason");
    answer.erase("ok");
    answer.erase("reason");
    strip_for_client(command, answer);
    core->answer_client(client, nonce, ok, std::move(answer), reason);
    run_actions();
  });
}

}  // namespace chorus::relay
