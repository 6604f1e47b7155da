#include "chorus/nano/websocket_api.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <set>
#include <type_traits>
#include <utility>

#include "chorus/nano/account.h"
#include "chorus/nano/block.h"

namespace chorus::nano {
namespace {

using Json = nlohmann::ordered_json;

// A request the core will not carry out: its text goes back as
// {"error": ...}. Thrown and caught inside message() only.
struct Refusal {
  std::string text;
};

// nano-node's confirmation_type bits.
constexpr uint8_t kTypeActiveQuorum = 1;
constexpr uint8_t kTypeActiveConfirmationHeight = 2;
constexpr uint8_t kTypeInactive = 4;
constexpr uint8_t kTypeAll = 7;

uint8_t type_bit(ConfirmationType t) {
  switch (t) {
    case ConfirmationType::kActiveQuorum:
      return kTypeActiveQuorum;
    case ConfirmationType::kActiveConfirmationHeight:
      return kTypeActiveConfirmationHeight;
    case ConfirmationType::kInactive:
      return kTypeInactive;
  }
  return kTypeInactive;
}

struct ConfirmationOptions {
  bool include_block = true;
  bool include_election_info = false;
  bool include_votes = false;  // include_election_info_with_votes
  bool include_sideband_info = false;
  uint8_t types = kTypeAll;
  // Once `accounts` or `all_local_accounts` was given (or an update came),
  // only blocks of the listed or local accounts pass, as in nano-node.
  bool account_filter = false;
  bool all_local_accounts = false;
  std::set<PublicKey> accounts;
};

struct VoteOptions {
  // nano-node: a vote subscription without options passes every vote,
  // replays and indeterminate ones included; with options (even {}),
  // those two are left out unless asked for.
  bool has_options = false;
  bool include_replays = false;
  bool include_indeterminate = false;
  std::set<PublicKey> representatives;  // empty: every representative
};

std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A short, printable excerpt of client text for an error message.
std::string excerpt(std::string_view s) {
  constexpr size_t kMax = 70;
  std::string out;
  for (char c : s.substr(0, kMax)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  if (s.size() > kMax) out += "...";
  return out;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// A boolean as nano-node reads it (boost property tree): true/false, as
// JSON or as a string, or 1/0.
bool read_bool(const Json& j, const char* key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_boolean()) return it->get<bool>();
  if (it->is_number_integer()) {
    const auto v = it->get<int64_t>();
    if (v == 0 || v == 1) return v == 1;
  }
  if (it->is_string()) {
    const std::string s = lower(it->get<std::string>());
    if (s == "true" || s == "1") return true;
    if (s == "false" || s == "0") return false;
  }
  throw Refusal{std::string("Invalid boolean: ") + key};
}

std::set<PublicKey> read_accounts(const Json& list, const char* key, size_t bound) {
  if (!list.is_array()) throw Refusal{std::string("Invalid ") + key + ": want an array"};
  if (list.size() > bound) throw Refusal{"Too many accounts"};
  std::set<PublicKey> out;
  for (const auto& a : list) {
    if (!a.is_string()) throw Refusal{std::string("Invalid account in ") + key};
    auto k = decode_account(a.get_ref<const std::string&>());
    if (!k.ok()) throw Refusal{"Invalid account: " + excerpt(a.get_ref<const std::string&>())};
    out.insert(*k);
  }
  return out;
}

uint8_t read_confirmation_types(const Json& o) {
  auto it = o.find("confirmation_type");
  if (it == o.end()) return kTypeAll;
  if (!it->is_string()) throw Refusal{"Invalid confirmation_type"};
  const std::string t = lower(it->get<std::string>());
  if (t == "all") return kTypeAll;
  if (t == "active") return kTypeActiveQuorum | kTypeActiveConfirmationHeight;
  if (t == "active_quorum") return kTypeActiveQuorum;
  if (t == "active_confirmation_height") return kTypeActiveConfirmationHeight;
  if (t == "inactive") return kTypeInactive;
  throw Refusal{"Invalid confirmation_type: " + excerpt(t)};
}

ConfirmationOptions read_confirmation_options(const Json& o, size_t max_accounts) {
  ConfirmationOptions c;
  c.include_block = read_bool(o, "include_block", true);
  c.include_election_info = read_bool(o, "include_election_info", false);
  c.include_votes = read_bool(o, "include_election_info_with_votes", false);
  c.include_sideband_info = read_bool(o, "include_sideband_info", false);
  c.types = read_confirmation_types(o);
  if (o.contains("all_local_accounts")) {
    c.account_filter = true;
    c.all_local_accounts = read_bool(o, "all_local_accounts", false);
  }
  if (auto it = o.find("accounts"); it != o.end()) {
    c.account_filter = true;
    c.accounts = read_accounts(*it, "accounts", max_accounts);
  }
  return c;
}

VoteOptions read_vote_options(const Json& o, size_t max_accounts) {
  VoteOptions v;
  v.has_options = true;
  v.include_replays = read_bool(o, "include_replays", false);
  v.include_indeterminate = read_bool(o, "include_indeterminate", false);
  if (auto it = o.find("representatives"); it != o.end())
    v.representatives = read_accounts(*it, "representatives", max_accounts);
  return v;
}

// The 64 signature bytes as one big-endian number in decimal: nano-node
// writes a vote's signature that way (a 512-bit integer through a property
// tree), unlike a block's, which is hex.
std::string signature_decimal(const Signature& sig) {
  std::array<uint8_t, 64> n = sig;
  std::string digits;
  bool zero = false;
  while (!zero) {
    unsigned rem = 0;
    zero = true;
    for (uint8_t& b : n) {
      const unsigned cur = (rem << 8) | b;
      b = static_cast<uint8_t>(cur / 10);
      rem = cur % 10;
      zero = zero && b == 0;
    }
    digits.push_back(static_cast<char>('0' + rem));
  }
  std::reverse(digits.begin(), digits.end());
  return digits;
}

// nano-node's subtype of a state block, from the ledger's details (an open
// is a "receive" there).
const char* state_subtype(const BlockDetails& d) {
  if (d.is_send) return "send";
  if (d.is_receive) return "receive";
  if (d.is_epoch) return "epoch";
  return "change";
}

// The other account a block names: a send's destination. nano-node
// matches the link of every state block (as link_as_account); a zero link
// (a change) is left out here, so that filtering for the zero account does
// not catch every change block.
std::optional<PublicKey> destination_of(const Block& b) {
  if (b.type == BlockType::kSend) return b.link;
  if (b.type == BlockType::kState && b.link != Hash32{}) return b.link;
  return std::nullopt;
}

Json envelope(WebSocketTopic topic, uint64_t now_ms) {
  Json j;
  j["topic"] = websocket_topic_name(topic);
  j["time"] = std::to_string(now_ms);
  return j;
}

}  // namespace

const char* websocket_topic_name(WebSocketTopic t) {
  switch (t) {
    case WebSocketTopic::kConfirmation:
      return "confirmation";
    case WebSocketTopic::kVote:
      return "vote";
    case WebSocketTopic::kStartedElection:
      return "started_election";
    case WebSocketTopic::kStoppedElection:
      return "stopped_election";
    case WebSocketTopic::kNewUnconfirmedBlock:
      return "new_unconfirmed_block";
    case WebSocketTopic::kTelemetry:
      return "telemetry";
  }
  return "invalid";
}

std::optional<WebSocketTopic> websocket_topic_from_name(std::string_view name) {
  for (size_t i = 0; i < kWebSocketTopics; ++i) {
    const auto t = static_cast<WebSocketTopic>(i);
    if (name == websocket_topic_name(t)) return t;
  }
  return std::nullopt;
}

WebSocketTopic websocket_topic_of(const NodeEvent& e) {
  return std::visit(
      [](const auto& ev) {
        using T = std::decay_t<decltype(ev)>;
        if constexpr (std::is_same_v<T, BlockConfirmedEvent>) return WebSocketTopic::kConfirmation;
        if constexpr (std::is_same_v<T, VoteSeenEvent>) return WebSocketTopic::kVote;
        if constexpr (std::is_same_v<T, ElectionStartedEvent>)
          return WebSocketTopic::kStartedElection;
        if constexpr (std::is_same_v<T, ElectionStoppedEvent>)
          return WebSocketTopic::kStoppedElection;
        if constexpr (std::is_same_v<T, BlockAcceptedEvent>)
          return WebSocketTopic::kNewUnconfirmedBlock;
      },
      e);
}

struct WebSocketApi::Session {
  bool subscribed[kWebSocketTopics] = {};
  ConfirmationOptions confirmation;
  VoteOptions vote;
};

WebSocketApi::WebSocketApi(WebSocketLimits limits, WebSocketHooks hooks)
    : limits_(limits), hooks_(std::move(hooks)) {}
WebSocketApi::~WebSocketApi() = default;

Result<void> WebSocketApi::open(uint64_t session) {
  if (sessions_.count(session)) return invalid_argument("websocket: session already open");
  if (sessions_.size() >= limits_.max_sessions)
    return limit_exceeded("websocket: more than " + std::to_string(limits_.max_sessions) +
                          " sessions");
  sessions_.emplace(session, std::make_unique<Session>());
  return {};
}

void WebSocketApi::close(uint64_t session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  for (size_t i = 0; i < kWebSocketTopics; ++i)
    if (it->second->subscribed[i]) --subscribers_[i];
  sessions_.erase(it);
}

std::vector<WebSocketOutput> WebSocketApi::message(uint64_t session, std::string_view text,
                                                   uint64_t now_ms) {
  std::vector<WebSocketOutput> out;
  auto found = sessions_.find(session);
  if (found == sessions_.end()) return out;
  Session& s = *found->second;
  std::optional<std::string> id;
  auto refuse = [&](const std::string& why) {
    Json e;
    e["error"] = why;
    if (id) e["id"] = *id;
    out.push_back({session, dump(e)});
  };
  if (text.size() > limits_.max_message_bytes) {
    refuse("Message too large");
    return out;
  }
  auto parsed = parse_json_text(text, limits_.max_message_bytes);
  if (!parsed.ok() || !parsed->is_object()) {
    refuse("Unable to parse JSON");
    return out;
  }
  const Json& req = *parsed;
  // The id first, so that every later refusal carries it. nano-node reads
  // it as a string; a number or a boolean comes back as its text.
  if (auto it = req.find("id"); it != req.end()) {
    if (it->is_string()) {
      id = it->get<std::string>();
    } else if (it->is_number() || it->is_boolean()) {
      id = dump(*it);
    } else if (!it->is_null()) {
      refuse("Invalid id");
      return out;
    }
    if (id && id->size() > limits_.max_id_bytes) {
      id.reset();
      refuse("id too long");
      return out;
    }
  }
  try {
    bool ack = read_bool(req, "ack", false);
    auto action_it = req.find("action");
    if (action_it == req.end() || !action_it->is_string()) throw Refusal{"Missing action"};
    std::string action = action_it->get<std::string>();
    auto topic = [&]() -> WebSocketTopic {
      auto it = req.find("topic");
      if (it == req.end() || !it->is_string()) throw Refusal{"Missing topic"};
      auto t = websocket_topic_from_name(it->get_ref<const std::string&>());
      if (!t) throw Refusal{"Unknown topic: " + excerpt(it->get_ref<const std::string&>())};
      return *t;
    };
    auto options = [&]() -> const Json* {
      auto it = req.find("options");
      if (it == req.end() || it->is_null()) return nullptr;
      if (!it->is_object()) throw Refusal{"Invalid options: want an object"};
      return &*it;
    };
    if (action == "subscribe") {
      const WebSocketTopic t = topic();
      const Json* o = options();
      // Options are read whole before anything changes: a refused
      // subscribe leaves the session as it was.
      if (t == WebSocketTopic::kConfirmation) {
        s.confirmation =
            o ? read_confirmation_options(*o, limits_.max_accounts) : ConfirmationOptions{};
      } else if (t == WebSocketTopic::kVote) {
        s.vote = o ? read_vote_options(*o, limits_.max_accounts) : VoteOptions{};
      }
      const auto i = static_cast<size_t>(t);
      if (!s.subscribed[i]) {
        s.subscribed[i] = true;
        ++subscribers_[i];
      }
    } else if (action == "unsubscribe") {
      const auto i = static_cast<size_t>(topic());
      if (s.subscribed[i]) {
        s.subscribed[i] = false;
        --subscribers_[i];
      }
    } else if (action == "update") {
      const WebSocketTopic t = topic();
      if (!s.subscribed[static_cast<size_t>(t)]) throw Refusal{"Not subscribed to the topic"};
      if (t != WebSocketTopic::kConfirmation) throw Refusal{"The topic has no options to update"};
      const Json* o = options();
      if (!o) throw Refusal{"Missing options"};
      ConfirmationOptions next = s.confirmation;
      next.account_filter = true;
      if (auto it = o->find("accounts_add"); it != o->end()) {
        for (const auto& k : read_accounts(*it, "accounts_add", limits_.max_accounts))
          next.accounts.insert(k);
      }
      if (auto it = o->find("accounts_del"); it != o->end()) {
        for (const auto& k : read_accounts(*it, "accounts_del", limits_.max_accounts))
          next.accounts.erase(k);
      }
      if (next.accounts.size() > limits_.max_accounts) throw Refusal{"Too many accounts"};
      s.confirmation = std::move(next);
    } else if (action == "ping") {
      ack = true;
      action = "pong";
    } else {
      throw Refusal{"Unknown action: " + excerpt(action)};
    }
    if (ack) {
      Json a;
      a["ack"] = action;
      a["time"] = std::to_string(now_ms);
      if (id) a["id"] = *id;
      out.push_back({session, dump(a)});
    }
  } catch (const Refusal& r) {
    refuse(r.text);
  }
  return out;
}

std::vector<WebSocketOutput> WebSocketApi::to_all(WebSocketTopic topic, const std::string& text) {
  std::vector<WebSocketOutput> out;
  const auto i = static_cast<size_t>(topic);
  for (const auto& [id, s] : sessions_)
    if (s->subscribed[i]) out.push_back({id, text});
  return out;
}

std::vector<WebSocketOutput> WebSocketApi::event(const NodeEvent& e, uint64_t now_ms) {
  const WebSocketTopic topic = websocket_topic_of(e);
  if (subscribers_[static_cast<size_t>(topic)] == 0) return {};
  if (auto* c = std::get_if<BlockConfirmedEvent>(&e)) return confirmation(*c, now_ms);
  if (auto* v = std::get_if<VoteSeenEvent>(&e)) return vote(*v, now_ms);
  Json j = envelope(topic, now_ms);
  if (auto* started = std::get_if<ElectionStartedEvent>(&e)) {
    j["message"] = Json{{"hash", to_hex_upper(started->hash)}};
  } else if (auto* stopped = std::get_if<ElectionStoppedEvent>(&e)) {
    j["message"] = Json{{"hash", to_hex_upper(stopped->hash)}};
  } else if (auto* accepted = std::get_if<BlockAcceptedEvent>(&e)) {
    Json block = block_to_json(accepted->block);
    if (accepted->block.type == BlockType::kState) {
      auto sb = hooks_.sideband_of ? hooks_.sideband_of(accepted->hash) : std::nullopt;
      if (sb) block["subtype"] = state_subtype(sb->details);
    } else {
      block["subtype"] = block_type_name(accepted->block.type);
    }
    j["hash"] = to_hex_upper(accepted->hash);
    j["message"] = std::move(block);
  }
  return to_all(topic, dump(j));
}

std::vector<WebSocketOutput> WebSocketApi::confirmation(const BlockConfirmedEvent& e,
                                                        uint64_t now_ms) {
  std::vector<WebSocketOutput> out;
  const auto topic = static_cast<size_t>(WebSocketTopic::kConfirmation);
  const std::optional<PublicKey> destination = destination_of(e.block);
  bool looked_up = false;
  std::optional<Sideband> sideband;
  // One text per combination of the options that shape it.
  std::map<int, std::string> texts;
  for (const auto& [id, s] : sessions_) {
    if (!s->subscribed[topic]) continue;
    const ConfirmationOptions& o = s->confirmation;
    if (!(o.types & type_bit(e.type))) continue;
    if (o.account_filter) {
      auto wanted = [&](const PublicKey& k) {
        return o.accounts.count(k) != 0 ||
               (o.all_local_accounts && hooks_.is_local_account && hooks_.is_local_account(k));
      };
      if (!wanted(e.account) && !(destination && wanted(*destination))) continue;
    }
    const int shape = (o.include_block ? 1 : 0) | (o.include_election_info ? 2 : 0) |
                      (o.include_votes ? 4 : 0) | (o.include_sideband_info ? 8 : 0);
    auto& text = texts[shape];
    if (text.empty()) {
      if (!looked_up && (o.include_block || o.include_sideband_info)) {
        looked_up = true;
        if (hooks_.sideband_of) sideband = hooks_.sideband_of(e.hash);
      }
      Json m;
      m["account"] = encode_account(e.account);
      m["amount"] = amount_to_string(e.amount);
      m["hash"] = to_hex_upper(e.hash);
      m["confirmation_type"] = confirmation_type_name(e.type);
      if (o.include_election_info || o.include_votes) {
        // nano-node writes zeros when the block had no election here.
        const ElectionInfo info = e.election.value_or(ElectionInfo{});
        Json ei;
        ei["duration"] = std::to_string(info.duration_ms);
        ei["time"] = std::to_string(info.time_ms);
        ei["tally"] = amount_to_string(info.tally);
        ei["final"] = amount_to_string(info.final_tally);
        ei["blocks"] = std::to_string(info.blocks);
        ei["voters"] = std::to_string(info.voters);
        ei["request_count"] = std::to_string(info.request_count);
        // The node's events do not carry an election's votes (yet).
        if (o.include_votes) ei["votes"] = Json::array();
        m["election_info"] = std::move(ei);
      }
      if (o.include_block) {
        Json block = block_to_json(e.block);
        // nano-node gives the subtype of state blocks only here.
        if (e.block.type == BlockType::kState && sideband)
          block["subtype"] = state_subtype(sideband->details);
        m["block"] = std::move(block);
      }
      if (o.include_sideband_info && sideband) {
        m["sideband"] = Json{{"height", std::to_string(sideband->height)},
                             {"local_timestamp", std::to_string(sideband->timestamp)}};
      }
      Json j = envelope(WebSocketTopic::kConfirmation, now_ms);
      j["message"] = std::move(m);
      text = dump(j);
    }
    out.push_back({id, text});
  }
  return out;
}

std::vector<WebSocketOutput> WebSocketApi::vote(const VoteSeenEvent& e, uint64_t now_ms) {
  std::vector<WebSocketOutput> out;
  // A vote whose signature did not verify says nothing about anyone.
  if (e.code == VoteCode::kInvalid) return out;
  const auto topic = static_cast<size_t>(WebSocketTopic::kVote);
  std::string text;
  for (const auto& [id, s] : sessions_) {
    if (!s->subscribed[topic]) continue;
    const VoteOptions& o = s->vote;
    if (o.has_options) {
      if (e.code == VoteCode::kReplay && !o.include_replays) continue;
      if (e.code == VoteCode::kIndeterminate && !o.include_indeterminate) continue;
      if (!o.representatives.empty() && !o.representatives.count(e.vote.account)) continue;
    }
    if (text.empty()) {
      const uint64_t ts = e.vote.timestamp;
      const bool final_vote = ts == ~uint64_t{0};
      const uint64_t timestamp = final_vote ? ts : ts & ~uint64_t{0xf};
      Json m;
      m["account"] = encode_account(e.vote.account);
      m["signature"] = signature_decimal(e.vote.signature);
      m["sequence"] = std::to_string(timestamp);
      m["timestamp"] = std::to_string(timestamp);
      m["duration"] = std::to_string(ts & 0xf);
      Json blocks = Json::array();
      for (const auto& h : e.vote.hashes) blocks.push_back(to_hex_upper(h));
      m["blocks"] = std::move(blocks);
      m["type"] = vote_code_name(e.code);
      Json j = envelope(WebSocketTopic::kVote, now_ms);
      j["message"] = std::move(m);
      text = dump(j);
    }
    out.push_back({id, text});
  }
  return out;
}

std::vector<WebSocketOutput> WebSocketApi::telemetry(const nlohmann::ordered_json& data,
                                                     uint64_t now_ms) {
  if (subscribers_[static_cast<size_t>(WebSocketTopic::kTelemetry)] == 0) return {};
  Json j = envelope(WebSocketTopic::kTelemetry, now_ms);
  j["message"] = data;
  return to_all(WebSocketTopic::kTelemetry, dump(j));
}

uint32_t WebSocketApi::wanted_topics() const {
  uint32_t mask = 0;
  for (size_t i = 0; i < kWebSocketTopics; ++i)
    if (subscribers_[i] != 0) mask |= uint32_t{1} << i;
  return mask;
}

size_t WebSocketApi::sessions() const {
  return sessions_.size();
}

}  // namespace chorus::nano
