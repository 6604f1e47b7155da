// libFuzzer: WSRelay's INM parser and protocol core (relay_app/) on any
// bytes.
//   1. The whole input to Inm::parse; what parses survives to_json and
//      parse again unchanged, and so does its response().
//   2. The input as frames split on 0xff (never a byte of JSON text), each
//      an operation on one RelayCore by its first byte:
//        'c' d text       client d's frame, as is
//        's' d ch pw      client d subscribes to channel ch (password or none)
//        'w' d ch text    client d sends text to channel ch
//        'u' d ch         client d unsubscribes
//        'i' text         an INM as text: Inm::parse, then inm_received
//        'm' src ch seq   a message INM from node src with sequence seq
//        'r' src ch tok pw  a reserve-channel INM; 'R' unreserve-channel
//        'k' tok          the driver answers the oldest OpenChannel (known);
//                         'K' with another password's hash; 'f' failed
//        'a' ok           the driver answers the oldest NetworkCommand
//        'x' d            client d closes (and a new client d opens)
//        't' digits       that many ms pass, then tick
//      anything else is client 0's frame. Four clients, four channels.
// Checked after every operation: the core never crashes or throws; its
// actions are bounded; every frame to a client is a well-formed response
// (a reason exactly when not ok) or message for an open client; closes are 1008, once; every SHOUT
// is a "message" INM from this node that round-trips, in sequence; OpenChannel names a valid topic;
// channels stay within max_channels and every local channel is known; a second tick at the same
// time does nothing. Channel passwords hash with a fast stand-in for PBKDF2 (see below).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chorus/relay/channel_password.h"
#include "chorus/relay/inm.h"
#include "chorus/relay/relay_core.h"
#include "fuzz_util.h"

namespace {

using namespace chorus;
using namespace chorus::relay;
using nlohmann::json;

constexpr size_t kClients = 4;
constexpr size_t kMaxFrames = 256;
const char* const kChannels[] = {"lobby", "club", "news", "caf\xc3\xa9"};
const char* const kSources[] = {"b", "c", "a"};  // "a" is the core itself

RelayCoreConfig fuzz_config() {
  RelayCoreConfig c;
  c.name = "a";
  c.max_topic_bytes = 32;
  c.max_password_bytes = 16;
  c.max_channels_per_client = 3;
  c.max_channels = 6;
  c.max_waiting_per_channel = 3;
  c.client_rate = 50;
  c.client_burst = 20;
  // One PBKDF2 round: 32768 cost ~20 ms an input, nearly all in OpenSSL;
  // relay_core_tests checks the real count against Python's hashlib.
  c.password_iterations = 1;
  c.max_strikes = 5;
  c.reorder_wait_ms = 2000;
  c.reorder_window = 8;
  return c;
}

void check_inm_round_trip(const Inm& m) {
  auto back = Inm::parse(m.to_json());
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(back->source == m.source && back->destination == m.destination);
  FUZZ_CHECK(back->type == m.type && back->nonce == m.nonce && back->data == m.data);
}

bool valid_topic(const std::string& t, size_t max) {
  if (t.empty() || t.size() > max) return false;
  for (char ch : t) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

class Harness {
 public:
  Harness() : config_(fuzz_config()), core_(config_) {
    for (ClientId c = 0; c < kClients; ++c) open(c);
  }

  void run(std::string_view op) {
    const char kind = op.empty() ? 'c' : op[0];
    std::string_view rest = op.empty() ? op : op.substr(1);
    auto byte = [&](size_t i) -> uint8_t {
      return i < rest.size() ? static_cast<uint8_t>(rest[i]) : 0;
    };
    auto tail = [&](size_t i) { return i < rest.size() ? rest.substr(i) : std::string_view(); };
    const ClientId client = byte(0) % kClients;
    const std::string channel = kChannels[byte(1) % 4];
    size_t bound = kClients + 4;
    switch (kind) {
      case 'c':
        core_.client_message(id(client), tail(1), now_);
        break;
      case 's': {
        json data = {{"topic", channel}};
        if (byte(2) % 3 == 1) data["password"] = "pw";
        if (byte(2) % 3 == 2) data["password"] = text(tail(3));
        request(client, "subscribe", data);
        break;
      }
      case 'w':
        request(client, "send", {{"channel", channel}, {"message", text(tail(2))}});
        break;
      case 'u':
        request(client, "unsubscribe", {{"topic", channel}});
        break;
      case 'i': {
        auto inm = Inm::parse(rest);
        if (!inm.ok()) return;
        check_inm_round_trip(*inm);
        if (inm->type == "message") sources_.insert(inm->source);
        bound = inm_bound();
        inm_received(*inm);
        break;
      }
      case 'm': {
        Inm m;
        m.source = kSources[byte(0) % 3];
        m.destination = std::string(kEveryNode);
        m.type = "message";
        m.nonce = m.source + ":" + std::to_string(byte(2));
        m.data = {{"channel", channel}, {"message", text(tail(3))}, {"seq", uint64_t{byte(2)}}};
        sources_.insert(m.source);
        bound = inm_bound();
        inm_received(m);
        break;
      }
      case 'r':
      case 'R': {
        Inm m;
        m.source = kSources[byte(0) % 3];
        m.destination = std::string(kEveryNode);
        m.type = "command";
        m.nonce = m.source + "#1";
        m.data = {{"command", kind == 'r' ? "reserve-channel" : "unreserve-channel"},
                  {"channel", channel},
                  {"token", uint64_t{byte(2)}}};
        if (kind == 'r')
          m.data["hash"] = hash_to_hex(hash_password(channel, byte(3) % 2 ? "pw" : "", 1));
        bound = inm_bound();
        inm_received(m);
        break;
      }
      case 'k':
      case 'K':
      case 'f': {
        if (opens_.empty()) return;
        const OpenChannel open = opens_.front();
        opens_.pop_front();
        bound = 2 * config_.max_waiting_per_channel + 1;
        if (kind == 'f') {
          core_.channel_failed(open.channel, std::string(tail(0)));
        } else {
          PasswordHash hash = open.hash;
          if (kind == 'K') hash[0] ^= 1;  // another password's
          core_.channel_known(open.channel, hash, byte(0), byte(0) % 2 ? "a" : "b", now_);
        }
        break;
      }
      case 'a': {
        if (commands_.empty()) return;
        const NetworkCommand cmd = commands_.front();
        commands_.pop_front();
        // The driver's reason may be any bytes: the core must still send JSON.
        const bool ok = byte(0) % 2 == 1;
        core_.answer_client(cmd.client, cmd.nonce, ok, {{"echo", text(tail(1))}},
                            ok ? "" : std::string(tail(1)));
        break;
      }
      case 'x':
        core_.client_closed(id(client), now_);
        open_.erase(id(client));
        ++generation_[client];
        open(client);
        bound = config_.max_channels_per_client;
        break;
      case 't': {
        int64_t ms = 0;
        for (char d : rest.substr(0, std::min<size_t>(rest.size(), 7)))
          if (d >= '0' && d <= '9') ms = ms * 10 + (d - '0');
        now_ += ms;
        bound = tick_bound();
        core_.tick(now_);
        check(core_.take_actions(), bound);
        core_.tick(now_);
        FUZZ_CHECK(core_.take_actions().empty());
        return;
      }
      default:
        core_.client_message(id(0), op, now_);
        break;
    }
    check(core_.take_actions(), bound);
  }

  // At the end: each wait gives up at least one gap per source, so after
  // reorder_window + 1 of them nothing is held and a tick does nothing.
  void finish() {
    const size_t bound = tick_bound();
    for (size_t i = 0; i <= config_.reorder_window; ++i) {
      now_ += config_.reorder_wait_ms;
      core_.tick(now_);
      check(core_.take_actions(), bound);
    }
    core_.tick(now_ + config_.reorder_wait_ms);
    FUZZ_CHECK(core_.take_actions().empty());
    json stats = core_.traffic().to_json(now_);
    FUZZ_CHECK(stats.is_object());
  }

 private:
  // A client id per slot and generation, so a closed client's id is never
  // reused and a frame to it is caught.
  ClientId id(ClientId slot) const {
    auto it = generation_.find(slot);
    return slot + kClients * (it == generation_.end() ? 0 : it->second);
  }
  void open(ClientId slot) {
    core_.client_opened(id(slot), now_);
    open_.insert(id(slot));
  }
  static json text(std::string_view s) {
    // A client's message is JSON, so valid UTF-8; keep the input's bytes
    // when they are, else their hex.
    json j = std::string(s);
    try {
      (void)j.dump();
      return j;
    } catch (const json::exception&) {
      return to_hex(as_bytes(s));
    }
  }
  void request(ClientId slot, const char* command, const json& data) {
    const json j = {{"command", command}, {"data", data}, {"nonce", ++nonce_}};
    core_.client_message(id(slot), j.dump(), now_);
  }
  void inm_received(const Inm& m) {
    const bool handled = core_.inm_received(m, now_);
    if (m.type == "message") FUZZ_CHECK(handled);
    if (m.type == "response") FUZZ_CHECK(!handled);
  }
  size_t inm_bound() const {
    return std::max((config_.reorder_window + 1) * kClients, 2 * config_.max_waiting_per_channel) +
           1;
  }
  size_t tick_bound() const { return (config_.reorder_window + 1) * kClients * sources_.size(); }

  void check(const std::vector<RelayAction>& actions, size_t bound) {
    FUZZ_CHECK(actions.size() <= bound);
    for (const RelayAction& a : actions) {
      if (const auto* t = std::get_if<ToClient>(&a)) {
        FUZZ_CHECK(open_.count(t->client));
        const json f = json::parse(t->text, nullptr, false);
        FUZZ_CHECK(f.is_object() && f.contains("nonce"));
        FUZZ_CHECK(f.contains("data") && f["data"].is_object());
        const json& d = f["data"];
        const std::string type = f.value("type", "");
        if (type == "response") {
          FUZZ_CHECK(d.contains("ok") && d["ok"].is_boolean());
          if (d["ok"].get<bool>())
            FUZZ_CHECK(!d.contains("reason"));
          else
            FUZZ_CHECK(d.contains("reason") && d["reason"].is_string());
        } else {
          FUZZ_CHECK(type == "message");
          FUZZ_CHECK(d.contains("channel") && d["channel"].is_string() && d.contains("message"));
          FUZZ_CHECK(core_.channels().count(d["channel"].get<std::string>()));
        }
      } else if (const auto* c = std::get_if<CloseClient>(&a)) {
        FUZZ_CHECK(c->code == 1008);
        FUZZ_CHECK(open_.count(c->client) && !closing_.count(c->client));
        closing_.insert(c->client);
      } else if (const auto* s = std::get_if<SendInm>(&a)) {
        const Inm& m = s->inm;
        FUZZ_CHECK(m.source == "a" && m.destination == kEveryNode && m.type == "message");
        FUZZ_CHECK(m.data.contains("seq") && m.data["seq"].is_number_unsigned());
        const uint64_t seq = m.data["seq"].get<uint64_t>();
        FUZZ_CHECK(seq == last_seq_ + 1);
        last_seq_ = seq;
        check_inm_round_trip(m);
      } else if (const auto* o = std::get_if<OpenChannel>(&a)) {
        FUZZ_CHECK(valid_topic(o->channel, config_.max_topic_bytes));
        opens_.push_back(*o);
      } else if (const auto* e = std::get_if<ChannelEmpty>(&a)) {
        auto it = core_.channels().find(e->channel);
        FUZZ_CHECK(it != core_.channels().end() && it->second.owner == config_.name);
        FUZZ_CHECK(it->second.local_subscribers == 0);
      } else if (const auto* n = std::get_if<NetworkCommand>(&a)) {
        FUZZ_CHECK(open_.count(n->client) && n->data.is_object());
        commands_.push_back(*n);
      }
    }
    FUZZ_CHECK(core_.channels().size() <= config_.max_channels);
    for (const std::string& ch : core_.local_channels()) {
      auto it = core_.channels().find(ch);
      FUZZ_CHECK(it != core_.channels().end() && it->second.local_subscribers > 0);
    }
    FUZZ_CHECK(core_.client_count() == kClients);
  }

  RelayCoreConfig config_;
  RelayCore core_;
  int64_t now_ = 0;  // the first minute of the clock too
  uint64_t nonce_ = 0;
  uint64_t last_seq_ = 0;
  std::map<ClientId, uint64_t> generation_;
  std::set<ClientId> open_, closing_;
  std::set<std::string> sources_;
  std::deque<OpenChannel> opens_;
  std::deque<NetworkCommand> commands_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. The input as one INM.
  if (auto inm = Inm::parse(input); inm.ok()) {
    check_inm_round_trip(*inm);
    Inm r = inm->response("a", size % 2 == 0, inm->data);
    FUZZ_CHECK(r.source == "a" && r.destination == inm->source && r.nonce == inm->nonce);
    FUZZ_CHECK(r.type == "response" && r.data.value("ok", !(size % 2 == 0)) == (size % 2 == 0));
    check_inm_round_trip(r);
  }

  // 2. The input as operations on a core.
  Harness h;
  size_t frames = 0;
  size_t at = 0;
  while (at <= input.size() && frames++ < kMaxFrames) {
    size_t end = input.find('\xff', at);
    if (end == std::string_view::npos) end = input.size();
    h.run(input.substr(at, end - at));
    at = end + 1;
  }
  h.finish();
  return 0;
}
