// WebSocketApi: nano-node's WebSocket API (spec/nano-websocket.md) as a
// core with no I/O. Clients subscribe to topics; the node's events
// (node_events.h) go out to the sessions whose subscriptions want them.
//
//   WebSocketApi api(limits, hooks);
//   api.open(7);                                           // a client connected
//   for (auto& out : api.message(7, R"({"action":"subscribe","topic":"confirmation","ack":true})",
//                                now_ms))
//     send(out.session, out.text);                         // {"ack":"subscribe","time":"…"}
//   for (auto& out : api.event(BlockConfirmedEvent{…}, now_ms)) send(out.session, out.text);
//   api.close(7);
//
// Inputs are open(), close(), message() (a client's text), event() (a node
// event) and telemetry() (the node's telemetry, when the driver's timer
// says); each returns what to send, in order, as (session, text) pairs.
// Time comes in as milliseconds since the Unix epoch and is only printed.
//
// Compatibility: nano-node's actions (subscribe, unsubscribe, update, ping),
// `ack` and `id`, topics, options and message shapes, with every value a
// JSON string as nano-node writes them. Where nano-node silently ignores a
// request it cannot carry out, this core answers {"error": "…"} (with the
// request's `id`) and changes nothing; spec/nano-websocket.md lists these
// and the other differences.
//
// Threads: none of its own; one thread at a time (the driver's loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chorus/base/result.h"
#include "chorus/nano/ledger_types.h"
#include "chorus/nano/node_events.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

enum class WebSocketTopic : uint8_t {
  kConfirmation,
  kVote,
  kStartedElection,
  kStoppedElection,
  kNewUnconfirmedBlock,
  kTelemetry,
};
inline constexpr size_t kWebSocketTopics = 6;
const char* websocket_topic_name(WebSocketTopic t);  // "confirmation", ...
std::optional<WebSocketTopic> websocket_topic_from_name(std::string_view name);
// The topic a node event is published under.
WebSocketTopic websocket_topic_of(const NodeEvent& e);

struct WebSocketLimits {
  size_t max_sessions = 1024;
  size_t max_message_bytes = 1 << 20;  // one request (10,000 accounts fit)
  // Accounts in one session's confirmation filter, and representatives in
  // its vote filter: a request or an update past it is refused whole.
  size_t max_accounts = 10'000;
  size_t max_id_bytes = 256;  // a request's `id`, echoed in its answer
};

// What the core asks of the node. Both may be left empty.
struct WebSocketHooks {
  // True when `account` is local: the accounts `all_local_accounts`
  // subscribes to (nano-node: its wallets' accounts; here the node's own
  // representatives and the accounts its embedder names).
  std::function<bool(const PublicKey& account)> is_local_account;
  // What the ledger learned about a block: the subtype of state blocks
  // (send, receive, change, epoch) and include_sideband_info. nullopt when
  // the block is not (or no longer) in the ledger: the subtype and the
  // sideband are then left out of the message.
  std::function<std::optional<Sideband>(const BlockHash& hash)> sideband_of;
};

// NanoNodeOptions::websocket_config: the core's bounds and the node's
// settings around it.
struct WebSocketConfig {
  WebSocketLimits limits;
  // How often telemetry subscribers get the node's telemetry; 0: never.
  uint64_t telemetry_interval_ms = 60'000;
  // What may wait to be written to one client; past it the client is too
  // slow and its connection is closed (1008).
  size_t max_queued_bytes = 4 << 20;
  // Local accounts (all_local_accounts) beside the node's representatives.
  std::vector<PublicKey> local_accounts;
};

struct WebSocketOutput {
  uint64_t session = 0;
  std::string text;  // one JSON object
};

class WebSocketApi {
 public:
  explicit WebSocketApi(WebSocketLimits limits = {}, WebSocketHooks hooks = {});
  ~WebSocketApi();
  WebSocketApi(const WebSocketApi&) = delete;
  WebSocketApi& operator=(const WebSocketApi&) = delete;

  // A client connected. kLimit past max_sessions (the driver closes the
  // connection), kInvalidArgument when `session` is already open.
  Result<void> open(uint64_t session);
  // The client went away; its subscriptions end. Unknown ids are ignored.
  void close(uint64_t session);

  // One request of the session's client: acks (when asked for), pongs and
  // errors, all for `session`. Text from a session never opened gets
  // nothing.
  std::vector<WebSocketOutput> message(uint64_t session, std::string_view text, uint64_t now_ms);

  // A node event, to every session subscribed to its topic whose options
  // let it through. Empty when nobody wants it (hooks are not called).
  std::vector<WebSocketOutput> event(const NodeEvent& e, uint64_t now_ms);

  // The node's telemetry (a JSON object: what the RPC's `telemetry`
  // answers, plus address and port), to the telemetry subscribers.
  std::vector<WebSocketOutput> telemetry(const nlohmann::ordered_json& data, uint64_t now_ms);

  // The topics some session subscribes to, bit (1 << topic): a driver
  // skips the events nobody wants before they reach its loop.
  uint32_t wanted_topics() const;
  size_t sessions() const;

  struct Session;

 private:
  std::vector<WebSocketOutput> confirmation(const BlockConfirmedEvent& e, uint64_t now_ms);
  std::vector<WebSocketOutput> vote(const VoteSeenEvent& e, uint64_t now_ms);
  std::vector<WebSocketOutput> to_all(WebSocketTopic topic, const std::string& text);

  WebSocketLimits limits_;
  WebSocketHooks hooks_;
  std::map<uint64_t, std::unique_ptr<Session>> sessions_;
  size_t subscribers_[kWebSocketTopics] = {};
};

}  // namespace chorus::nano
