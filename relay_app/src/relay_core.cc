#include "chorus/relay/relay_core.h"

#include <algorithm>

#include "chorus/web/websocket.h"

namespace chorus::relay {

namespace {

// A source whose first message we see has at most this number: it just
// started (see inm_received).
constexpr uint64_t kFreshSourceSeq = 16;

using nlohmann::json;

// Commands of WS /connect the driver answers (spec/relay.md).
bool is_network_command(const std::string& c) {
  static const std::set<std::string> kCommands = {
      "list-nodes", "list-channels", "list-reserved-channels", "node-stats",
      "host-stats", "get-latency",   "get-node-connection",    "get-connection-token"};
  return kCommands.count(c) > 0;
}

// A topic is printable text without control characters.
bool valid_topic(const std::string& t, size_t max) {
  if (t.empty() || t.size() > max) return false;
  return std::none_of(t.begin(), t.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

}  // namespace

RelayCore::RelayCore(RelayCoreConfig config) : config_(std::move(config)) {}

void RelayCore::client_opened(ClientId client, int64_t now_ms) {
  Client& c = clients_[client];
  c.tokens = config_.client_burst;
  c.last_refill_ms = now_ms;
}

void RelayCore::client_closed(ClientId client, int64_t) {
  auto it = clients_.find(client);
  if (it == clients_.end()) return;
  const std::set<std::string> channels = it->second.channels;
  for (const std::string& ch : channels) leave(client, ch);
  clients_.erase(client);
  for (auto& [channel, list] : waiting_)
    list.erase(std::remove_if(list.begin(), list.end(),
                              [&](const Waiting& w) { return w.client == client; }),
               list.end());
}

void RelayCore::respond(ClientId client, const json& nonce, bool ok, std::string reason,
                        json extra) {
  json data = extra.is_object() ? std::move(extra) : json::object();
  data["ok"] = ok;
  if (!reason.empty()) data["reason"] = std::move(reason);
  json frame = {{"type", "response"}, {"data", std::move(data)}, {"nonce", nonce}};
  // A reason from the driver may carry bytes that are not UTF-8: replaced,
  // rather than throwing out of the core.
  actions_.push_back(ToClient{client, frame.dump(-1, ' ', false, json::error_handler_t::replace)});
}

void RelayCore::refuse(ClientId client, const json& nonce, std::string reason) {
  ++stats_.client_errors;
  respond(client, nonce, false, std::move(reason));
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second.closing) return;
  if (++it->second.strikes >= config_.max_strikes) {
    it->second.closing = true;
    ++stats_.clients_closed;
    actions_.push_back(
        CloseClient{client, web::kClosePolicy,
                    "too many bad requests: " + std::to_string(config_.max_strikes)});
  }
}

void RelayCore::answer_client(ClientId client, const json& nonce, bool ok, json data,
                              std::string reason) {
  if (!clients_.count(client)) return;
  // A response has "reason" exactly when it is not ok (spec/relay.md §4),
  // whatever the answer the driver relays from another node carried.
  if (ok) {
    reason.clear();
    if (data.is_object()) data.erase("reason");
  } else {
    ++stats_.client_errors;
    if (reason.empty()) reason = "no reason given";
  }
  respond(client, nonce, ok, std::move(reason), std::move(data));
}

void RelayCore::client_message(ClientId client, std::string_view text, int64_t now_ms) {
  auto it = clients_.find(client);
  if (it == clients_.end() || it->second.closing) return;
  Client& c = it->second;
  ++stats_.client_requests;
  // The rate: a token bucket refilled with the time that passed.
  c.tokens = std::min(config_.client_burst,
                      c.tokens + (now_ms - c.last_refill_ms) * config_.client_rate / 1000.0);
  c.last_refill_ms = now_ms;
  if (c.tokens < 1) {
    refuse(client, nullptr,
           "rate limit: over " + std::to_string(static_cast<int>(config_.client_rate)) +
               " requests per second");
    return;
  }
  c.tokens -= 1;

  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return refuse(client, nullptr, "malformed JSON");
  if (!j.is_object()) return refuse(client, nullptr, "want a JSON object");
  json nonce = j.contains("nonce") ? j["nonce"] : json(nullptr);
  auto cmd = j.find("command");
  if (cmd == j.end() || !cmd->is_string()) return refuse(client, nonce, "missing command");
  const std::string command = cmd->get<std::string>();
  json data = j.contains("data") ? j["data"] : json::object();
  if (!data.is_object()) return refuse(client, nonce, "data: want an object");

  if (command == "subscribe") return subscribe(client, nonce, data);
  if (command == "unsubscribe") return unsubscribe(client, nonce, data);
  if (command == "send") return send(client, nonce, data, now_ms);
  if (command == "list") {
    json mine = json::array();
    for (const auto& ch : c.channels) mine.push_back(ch);
    json all = json::array();
    for (const auto& [name, info] : channels_) all.push_back(name);
    c.strikes = 0;
    return respond(client, nonce, true, {},
                   {{"channels", std::move(all)}, {"subscribed", std::move(mine)}});
  }
  if (is_network_command(command)) {
    c.strikes = 0;
    actions_.push_back(NetworkCommand{client, nonce, command, std::move(data)});
    return;
  }
  refuse(client, nonce, "unknown command: " + utf8_prefix(command, 64));
}

void RelayCore::subscribe(ClientId client, const json& nonce, const json& data) {
  auto topic = data.find("topic");
  if (topic == data.end() || !topic->is_string()) return refuse(client, nonce, "missing topic");
  const std::string channel = topic->get<std::string>();
  if (!valid_topic(channel, config_.max_topic_bytes))
    return refuse(
        client, nonce,
        "topic: want 1 to " + std::to_string(config_.max_topic_bytes) + " printable bytes");
  std::string password;
  if (auto p = data.find("password"); p != data.end() && !p->is_null()) {
    if (!p->is_string()) return refuse(client, nonce, "password: want a string");
    password = p->get<std::string>();
    if (password.size() > config_.max_password_bytes)
      return refuse(client, nonce,
                    "password: over " + std::to_string(config_.max_password_bytes) + " bytes");
  }
  Client& c = clients_[client];
  if (c.channels.count(channel)) return respond(client, nonce, true);
  if (c.channels.size() >= config_.max_channels_per_client)
    return refuse(client, nonce, "too many channels for one client");
  // One request was taken already; the hash takes the rest of its cost.
  const double extra = std::max(0.0, config_.password_check_cost - 1);
  if (c.tokens < extra)
    return refuse(client, nonce,
                  "rate limit: a subscribe costs " +
                      std::to_string(static_cast<int>(config_.password_check_cost)) + " requests");
  c.tokens -= extra;
  auto known = channels_.find(channel);
  if (known != channels_.end()) {
    if (!password_matches(known->second.hash, channel, password, config_.password_iterations))
      return refuse(client, nonce, "invalid password");
    c.strikes = 0;
    join(client, channel);
    return respond(client, nonce, true);
  }
  // Not known here: wait for the driver to find or reserve it. One lookup
  // per channel: an entry in waiting_ (even one whose clients all closed)
  // means OpenChannel is out and its answer will come.
  auto w = waiting_.find(channel);
  if (w == waiting_.end()) {
    if (channels_.size() + waiting_.size() >= config_.max_channels)
      return refuse(client, nonce, "too many channels on this node");
    waiting_[channel].push_back(Waiting{client, nonce, password});
    actions_.push_back(
        OpenChannel{channel, hash_password(channel, password, config_.password_iterations)});
    return;
  }
  if (w->second.size() >= config_.max_waiting_per_channel)
    return refuse(client, nonce, "busy: try again");
  w->second.push_back(Waiting{client, nonce, password});
}

void RelayCore::unsubscribe(ClientId client, const json& nonce, const json& data) {
  auto topic = data.find("topic");
  if (topic == data.end() || !topic->is_string()) return refuse(client, nonce, "missing topic");
  const std::string channel = topic->get<std::string>();
  if (!clients_[client].channels.count(channel)) return refuse(client, nonce, "not subscribed");
  leave(client, channel);
  clients_[client].strikes = 0;
  respond(client, nonce, true);
}

void RelayCore::send(ClientId client, const json& nonce, const json& data, int64_t now_ms) {
  auto ch = data.find("channel");
  if (ch == data.end() || !ch->is_string()) return refuse(client, nonce, "missing channel");
  auto msg = data.find("message");
  if (msg == data.end()) return refuse(client, nonce, "missing message");
  const std::string channel = ch->get<std::string>();
  if (!clients_[client].channels.count(channel)) return refuse(client, nonce, "not subscribed");
  clients_[client].strikes = 0;
  respond(client, nonce, true);
  deliver_local(channel, *msg, nonce, client, now_ms);
  Inm inm;
  inm.source = config_.name;
  inm.destination = std::string(kEveryNode);
  inm.type = "message";
  const uint64_t seq = next_seq_++;
  inm.nonce = config_.name + ":" + std::to_string(seq);
  inm.data = {{"channel", channel},
              {"message", *msg},
              {"nonce", nonce},
              {"seq", seq},
              {"session", config_.session}};
  actions_.push_back(SendInm{std::move(inm)});
}

void RelayCore::join(ClientId client, const std::string& channel) {
  clients_[client].channels.insert(channel);
  subscribers_[channel].insert(client);
  channels_[channel].local_subscribers = subscribers_[channel].size();
}

void RelayCore::leave(ClientId client, const std::string& channel) {
  clients_[client].channels.erase(channel);
  auto it = subscribers_.find(channel);
  if (it == subscribers_.end()) return;
  it->second.erase(client);
  auto info = channels_.find(channel);
  if (info != channels_.end()) info->second.local_subscribers = it->second.size();
  if (!it->second.empty()) return;
  subscribers_.erase(it);
  if (info != channels_.end() && info->second.owner == config_.name)
    actions_.push_back(ChannelEmpty{channel});
}

void RelayCore::deliver_local(const std::string& channel, const json& message, const json& nonce,
                              ClientId except, int64_t now_ms) {
  auto it = subscribers_.find(channel);
  if (it == subscribers_.end()) return;
  json frame = {{"type", "message"},
                {"data", {{"message", message}, {"channel", channel}}},
                {"nonce", nonce}};
  const std::string text = frame.dump();
  for (ClientId c : it->second) {
    if (c == except) continue;
    actions_.push_back(ToClient{c, text});
    ++stats_.delivered_local;
    traffic_.record(channel, text.size(), now_ms);
  }
}

bool RelayCore::inm_received(const Inm& inm, int64_t now_ms) {
  if (inm.source == config_.name) return true;  // our own SHOUT, looped back
  if (inm.type == "message") {
    auto seq = inm.data.find("seq");
    auto ch = inm.data.find("channel");
    if (seq == inm.data.end() || !seq->is_number_unsigned() || ch == inm.data.end() ||
        !ch->is_string() || !inm.data.contains("message"))
      return true;  // malformed: dropped (the driver counts it)
    ++stats_.inm_messages_in;
    SourceOrder& order = order_[inm.source];
    const uint64_t n = seq->get<uint64_t>();
    const uint64_t session = uint_field(inm.data, "session");
    if (order.next != 0 && session < order.session) {
      ++stats_.inm_duplicates;  // from an earlier run of the source
      return true;
    }
    // The source restarted: its new run starts a new sequence.
    if (order.next != 0 && session > order.session) order = SourceOrder{};
    if (order.next == 0) {
      // First contact. A source that just started (a low number) is read
      // from 1, so its first messages overtaken on the way still count;
      // one met mid-stream starts here.
      order.session = session;
      order.next = n <= kFreshSourceSeq ? 1 : n;
      order.gap_since_ms = now_ms;
    }
    if (n < order.next || order.held.count(n)) {
      ++stats_.inm_duplicates;
      return true;
    }
    if (n > order.next) {
      if (order.held.empty()) order.gap_since_ms = now_ms;
      order.held.emplace(n, inm);
      ++stats_.inm_reordered;
      if (order.held.size() > config_.reorder_window) {
        stats_.inm_skipped += order.held.begin()->first - order.next;
        order.next = order.held.begin()->first;
      }
      release_ordered(order, now_ms);
      return true;
    }
    deliver_inm(inm, now_ms);
    ++order.next;
    release_ordered(order, now_ms);
    return true;
  }
  if (inm.type == "command") {
    const std::string command = string_field(inm.data, "command");
    if (command == "reserve-channel") {
      auto hash = hash_from_hex(string_field(inm.data, "hash"));
      const std::string channel = string_field(inm.data, "channel");
      if (hash && valid_topic(channel, config_.max_topic_bytes))
        channel_known(channel, *hash, uint_field(inm.data, "token"), inm.source, now_ms);
      return true;
    }
    if (command == "unreserve-channel") {
      channel_released(string_field(inm.data, "channel"), uint_field(inm.data, "token"));
      return true;
    }
  }
  return false;
}

void RelayCore::deliver_inm(const Inm& inm, int64_t now_ms) {
  deliver_local(inm.data["channel"].get<std::string>(), inm.data["message"],
                inm.data.contains("nonce") ? inm.data["nonce"] : json(nullptr), 0, now_ms);
}

void RelayCore::release_ordered(SourceOrder& order, int64_t now_ms) {
  for (;;) {
    auto it = order.held.find(order.next);
    if (it == order.held.end()) break;
    deliver_inm(it->second, now_ms);
    order.held.erase(it);
    ++order.next;
    order.gap_since_ms = now_ms;
  }
}

void RelayCore::channel_known(const std::string& channel, const PasswordHash& hash, uint64_t token,
                              const std::string& owner, int64_t) {
  auto it = channels_.find(channel);
  if (it != channels_.end() && it->second.token > token) return;  // an older reservation
  // A channel with subscribers waiting took its place in max_channels when
  // they subscribed; any other new one needs a free place, so a node full of
  // others' reservations still answers its own subscribers.
  if (it == channels_.end() && !waiting_.count(channel) &&
      channels_.size() + waiting_.size() >= config_.max_channels)
    return;
  ChannelInfo& info = channels_[channel];
  info.hash = hash;
  info.token = token;
  info.owner = owner;
  auto sub = subscribers_.find(channel);
  info.local_subscribers = sub == subscribers_.end() ? 0 : sub->second.size();
  auto w = waiting_.find(channel);
  if (w == waiting_.end()) return;
  std::vector<Waiting> list = std::move(w->second);
  waiting_.erase(w);
  for (const Waiting& x : list) {
    if (!clients_.count(x.client)) continue;
    if (!password_matches(hash, channel, x.password, config_.password_iterations)) {
      refuse(x.client, x.nonce, "invalid password");
      continue;
    }
    if (clients_[x.client].channels.size() >= config_.max_channels_per_client) {
      refuse(x.client, x.nonce, "too many channels for one client");
      continue;
    }
    join(x.client, channel);
    respond(x.client, x.nonce, true);
  }
}

void RelayCore::channel_failed(const std::string& channel, const std::string& reason) {
  auto w = waiting_.find(channel);
  if (w == waiting_.end()) return;
  std::vector<Waiting> list = std::move(w->second);
  waiting_.erase(w);
  for (const Waiting& x : list)
    if (clients_.count(x.client)) refuse(x.client, x.nonce, "channel unavailable: " + reason);
}

void RelayCore::channel_released(const std::string& channel, uint64_t token) {
  auto it = channels_.find(channel);
  if (it == channels_.end() || it->second.token > token) return;
  if (it->second.local_subscribers > 0) {
    // Still in use here: reserve it again, with the same password hash.
    actions_.push_back(OpenChannel{channel, it->second.hash, token});
    return;
  }
  channels_.erase(it);
}

void RelayCore::tick(int64_t now_ms) {
  for (auto& [source, order] : order_) {
    if (order.held.empty() || now_ms - order.gap_since_ms < config_.reorder_wait_ms) continue;
    // The gap did not fill in time: skip it rather than hold the rest.
    stats_.inm_skipped += order.held.begin()->first - order.next;
    order.next = order.held.begin()->first;
    release_ordered(order, now_ms);
  }
}

std::vector<RelayAction> RelayCore::take_actions() {
  std::vector<RelayAction> out;
  out.swap(actions_);
  return out;
}

std::vector<std::string> RelayCore::local_channels() const {
  std::vector<std::string> out;
  for (const auto& [name, subs] : subscribers_) out.push_back(name);
  return out;
}

}  // namespace chorus::relay
