// chorus::relay::RelayCore — the WSRelay protocol of one node, with no I/O
// (spec/relay.md). It takes client frames, intra-node messages and the
// results of channel reservations, with the time, and puts out actions:
// frames for clients, closes, INMs for other nodes, reservations to make in
// the DHT. RelayNode (relay_node.h) is its driver; tests drive it directly.
//
// What it decides:
//   * the client protocol of WS /connect: subscribe, unsubscribe, list,
//     send; an error response for every bad request, a close when a client
//     goes on sending bad requests or floods past its rate;
//   * channels: a subscriber's password against the channel's hash; a
//     channel nobody here knows is looked up (and reserved when new) by the
//     driver, its subscribers waiting meanwhile;
//   * delivery: a client's message to every other local subscriber, and to
//     every other node as one INM; INMs from a node delivered in the order
//     it sent them (a sequence number per source), each once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "chorus/relay/channel_password.h"
#include "chorus/relay/inm.h"
#include "chorus/relay/traffic_stats.h"

namespace chorus::relay {

using ClientId = uint64_t;

struct RelayCoreConfig {
  std::string name;  // this node's name in INMs
  size_t max_topic_bytes = 128;
  size_t max_password_bytes = 256;
  size_t max_channels_per_client = 64;
  size_t max_channels = 10'000;          // known to this node
  size_t max_waiting_per_channel = 256;  // subscribes waiting for a lookup
  // Per client: requests per second and burst (a token bucket); beyond,
  // an error response; max_strikes bad or refused requests in a row close
  // the client (1008).
  double client_rate = 200;
  double client_burst = 400;
  // A subscribe checks a password (PBKDF2, about 10 ms of CPU): it costs
  // this many requests of the client's rate.
  double password_check_cost = 10;
  // PBKDF2 iterations: kPasswordIterations on a network; fewer only in
  // tests and fuzzing (channel_password.h).
  int password_iterations = kPasswordIterations;
  int max_strikes = 20;
  // Ordering of INMs from one source: out-of-order ones wait at most this
  // long (and this many) for the gap before it is skipped.
  int64_t reorder_wait_ms = 2000;
  size_t reorder_window = 4096;
  // This run of the node, in its message INMs: a node that restarts under
  // the same name numbers its messages from 1 again, and receivers start
  // its new sequence instead of taking them for old ones. Later runs have
  // larger sessions (the driver: start time in ms, shifted, and random low
  // bits), so a straggler of any earlier run is recognised as one.
  uint64_t session = 0;
};

// What the driver does for the core.
struct ToClient {
  ClientId client;
  std::string text;
};
struct CloseClient {
  ClientId client;
  int code;
  std::string reason;
};
struct SendInm {
  Inm inm;  // destination "*" (SHOUT) or a node name (WHISPER)
};
// Find the channel in the DHT; when absent, reserve it with `hash` (a hold
// and a signed value). The answer comes back as channel_known or
// channel_failed.
struct OpenChannel {
  std::string channel;
  PasswordHash hash;
  // A reservation with this token or lower was released: a value for it
  // still in the DHT is not live.
  uint64_t released_token = 0;
};
// The last local subscriber left a channel this node reserved: the driver
// asks the network and releases it when no node has subscribers left.
struct ChannelEmpty {
  std::string channel;
};
// A client asked for a network command (list-nodes, node-stats, ...): the
// driver answers it (or forwards it to the named node) with answer_client.
struct NetworkCommand {
  ClientId client;
  nlohmann::json nonce;
  std::string command;
  nlohmann::json data;
};
using RelayAction =
    std::variant<ToClient, CloseClient, SendInm, OpenChannel, ChannelEmpty, NetworkCommand>;

struct ChannelInfo {
  PasswordHash hash{};
  uint64_t token = 0;  // the reservation's fencing token (higher wins)
  std::string owner;   // the node that reserved it
  size_t local_subscribers = 0;
};

struct RelayCoreStats {
  uint64_t client_requests = 0;
  uint64_t client_errors = 0;    // error responses
  uint64_t clients_closed = 0;   // closed for strikes
  uint64_t delivered_local = 0;  // frames to clients
  uint64_t inm_messages_in = 0;
  uint64_t inm_duplicates = 0;
  uint64_t inm_reordered = 0;  // held for an earlier one, then delivered
  uint64_t inm_skipped = 0;    // sequence numbers given up on
};

class RelayCore {
 public:
  explicit RelayCore(RelayCoreConfig config);

  void client_opened(ClientId client, int64_t now_ms);
  void client_message(ClientId client, std::string_view text, int64_t now_ms);
  void client_closed(ClientId client, int64_t now_ms);
  // Answers a NetworkCommand.
  void answer_client(ClientId client, const nlohmann::json& nonce, bool ok,
                     nlohmann::json data = nlohmann::json::object(), std::string reason = {});

  // An INM for this node (or "*"); from_node is the overlay peer's name
  // when known. Commands the core does not handle come back as false.
  bool inm_received(const Inm& inm, int64_t now_ms);

  // The driver's answer to OpenChannel (or a reservation it learned about).
  void channel_known(const std::string& channel, const PasswordHash& hash, uint64_t token,
                     const std::string& owner, int64_t now_ms);
  void channel_failed(const std::string& channel, const std::string& reason);
  // A reservation released (unreserve-channel): forgotten unless local
  // subscribers remain, in which case OpenChannel reserves it again.
  void channel_released(const std::string& channel, uint64_t token);

  void tick(int64_t now_ms);
  std::vector<RelayAction> take_actions();

  const std::map<std::string, ChannelInfo>& channels() const { return channels_; }
  size_t client_count() const { return clients_.size(); }
  // Channels with a subscriber here.
  std::vector<std::string> local_channels() const;
  const RelayCoreStats& stats() const { return stats_; }
  const TrafficStats& traffic() const { return traffic_; }
  const std::string& name() const { return config_.name; }

 private:
  struct Client {
    std::set<std::string> channels;
    double tokens = 0;
    int64_t last_refill_ms = 0;
    int strikes = 0;
    bool closing = false;
  };
  struct Waiting {
    ClientId client;
    nlohmann::json nonce;
    std::string password;
  };
  struct SourceOrder {
    uint64_t session = 0;
    uint64_t next = 0;  // 0: nothing seen yet
    std::map<uint64_t, Inm> held;
    int64_t gap_since_ms = 0;
  };

  void respond(ClientId client, const nlohmann::json& nonce, bool ok, std::string reason = {},
               nlohmann::json extra = nlohmann::json::object());
  void refuse(ClientId client, const nlohmann::json& nonce, std::string reason);
  void subscribe(ClientId client, const nlohmann::json& nonce, const nlohmann::json& data);
  void unsubscribe(ClientId client, const nlohmann::json& nonce, const nlohmann::json& data);
  void send(ClientId client, const nlohmann::json& nonce, const nlohmann::json& data,
            int64_t now_ms);
  void join(ClientId client, const std::string& channel);
  void leave(ClientId client, const std::string& channel);
  void deliver_local(const std::string& channel, const nlohmann::json& message,
                     const nlohmann::json& nonce, ClientId except, int64_t now_ms);
  void deliver_inm(const Inm& inm, int64_t now_ms);
  void release_ordered(SourceOrder& order, int64_t now_ms);

  RelayCoreConfig config_;
  std::map<ClientId, Client> clients_;
  std::map<std::string, ChannelInfo> channels_;
  std::map<std::string, std::set<ClientId>> subscribers_;
  std::map<std::string, std::vector<Waiting>> waiting_;
  std::map<std::string, SourceOrder> order_;  // by source node
  uint64_t next_seq_ = 1;
  std::vector<RelayAction> actions_;
  RelayCoreStats stats_;
  TrafficStats traffic_;
};

}  // namespace chorus::relay
