// What the relay core's tests share: a RelayCore on a clock the test moves
// (Relay), the frames and actions it put out, and INMs as other nodes send
// them.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "chorus/relay/channel_password.h"
#include "chorus/relay/inm.h"
#include "chorus/relay/relay_core.h"

namespace chorus::relay::testing {

using nlohmann::json;

// A rate that never limits, unless a test says otherwise.
inline RelayCoreConfig test_config() {
  RelayCoreConfig c;
  c.name = "a";
  c.client_rate = 1e6;
  c.client_burst = 1e6;
  return c;
}

template <typename T>
std::vector<T> only(const std::vector<RelayAction>& actions) {
  std::vector<T> out;
  for (const auto& a : actions)
    if (const T* t = std::get_if<T>(&a)) out.push_back(*t);
  return out;
}

// The frames to one client, parsed.
inline std::vector<json> frames_to(const std::vector<RelayAction>& actions, ClientId client) {
  std::vector<json> out;
  for (const ToClient& t : only<ToClient>(actions))
    if (t.client == client) out.push_back(json::parse(t.text));
  return out;
}

inline std::vector<json> of_type(const std::vector<json>& frames, const std::string& type) {
  std::vector<json> out;
  for (const json& f : frames)
    if (f.value("type", "") == type) out.push_back(f);
  return out;
}

// The one response to `client` among `actions` (null when there is not
// exactly one).
inline json response_to(const std::vector<RelayAction>& actions, ClientId client) {
  auto r = of_type(frames_to(actions, client), "response");
  EXPECT_EQ(r.size(), 1u) << "responses to client " << client;
  return r.size() == 1 ? r[0] : json(nullptr);
}

inline bool ok(const json& response) {
  return response.is_object() && response["data"].value("ok", false);
}
inline std::string reason(const json& response) {
  return response.is_object() ? response["data"].value("reason", "") : "";
}

// The message frames to `client`: their "message" values, in order.
inline std::vector<json> messages_to(const std::vector<RelayAction>& actions, ClientId client) {
  std::vector<json> out;
  for (const json& f : of_type(frames_to(actions, client), "message"))
    out.push_back(f["data"]["message"]);
  return out;
}

inline Inm message_inm(const std::string& source, uint64_t seq, const std::string& channel,
                       json message) {
  Inm m;
  m.source = source;
  m.destination = std::string(kEveryNode);
  m.type = "message";
  m.nonce = source + ":" + std::to_string(seq);
  m.data = {{"channel", channel}, {"message", std::move(message)}, {"seq", seq}};
  return m;
}

inline Inm command_inm(const std::string& source, json data) {
  Inm m;
  m.source = source;
  m.destination = std::string(kEveryNode);
  m.type = "command";
  m.nonce = source + "#1";
  m.data = std::move(data);
  return m;
}

// A RelayCore on a clock the test moves.
struct Relay {
  explicit Relay(RelayCoreConfig c = test_config()) : core(std::move(c)) {}

  void open(ClientId c) { core.client_opened(c, now); }
  std::vector<RelayAction> raw(ClientId c, std::string_view text) {
    core.client_message(c, text, now);
    return core.take_actions();
  }
  std::vector<RelayAction> request(ClientId c, const std::string& command,
                                   json data = json::object(), json nonce = 1) {
    json j = {{"command", command}, {"data", std::move(data)}, {"nonce", std::move(nonce)}};
    return raw(c, j.dump());
  }
  std::vector<RelayAction> subscribe(ClientId c, const std::string& topic,
                                     const std::string& password = {}) {
    json data = {{"topic", topic}};
    if (!password.empty()) data["password"] = password;
    return request(c, "subscribe", std::move(data), "sub-" + std::to_string(c));
  }
  std::vector<RelayAction> send(ClientId c, const std::string& channel, json message) {
    return request(c, "send", {{"channel", channel}, {"message", std::move(message)}},
                   "send-" + std::to_string(c));
  }
  // The driver's answer to OpenChannel: the channel is reserved by `owner`.
  std::vector<RelayAction> known(const std::string& channel, const std::string& password = {},
                                 uint64_t token = 1, const std::string& owner = "b") {
    core.channel_known(channel, hash_password(channel, password), token, owner, now);
    return core.take_actions();
  }
  std::vector<RelayAction> inm(const Inm& m) {
    EXPECT_TRUE(core.inm_received(m, now));
    return core.take_actions();
  }
  std::vector<RelayAction> tick(int64_t advance_ms) {
    now += advance_ms;
    core.tick(now);
    return core.take_actions();
  }

  RelayCore core;
  int64_t now = 1'000'000;
};

// A relay that knows "lobby", with clients 1..n open and subscribed to it.
inline Relay listening(ClientId n, RelayCoreConfig c = test_config()) {
  Relay r(std::move(c));
  r.known("lobby");
  for (ClientId i = 1; i <= n; ++i) {
    r.open(i);
    r.subscribe(i, "lobby");
  }
  return r;
}

inline Relay one_listener(RelayCoreConfig c = test_config()) {
  return listening(1, std::move(c));
}

inline std::vector<json> feed(Relay& r, const std::string& source, std::vector<uint64_t> seqs) {
  std::vector<json> out;
  for (uint64_t s : seqs)
    for (json& m : messages_to(r.inm(message_inm(source, s, "lobby", s)), 1))
      out.push_back(std::move(m));
  return out;
}

}  // namespace chorus::relay::testing
