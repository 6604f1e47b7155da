// RelayNode's state and the driver around RelayCore, shared by the files
// that implement it (all of it runs on the node's loop thread):
//   relay_node.cc            start, stop, the timer, announcements
//   inm_routing.cc           INMs in and out, network commands
//   channel_reservations.cc  channels in the DHT: lookup, hold, release
//   relay_front.cc           HTTP and the WebSocket endpoints, health
#pragma once

#include <uv.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/dht/dht.h"
#include "chorus/dht/reach.h"
#include "chorus/metrics/metrics_endpoint.h"
#include "chorus/overlay/node.h"
#include "chorus/relay/health.h"
#include "chorus/relay/host_stats.h"
#include "chorus/relay/relay_core.h"
#include "chorus/relay/relay_node.h"
#include "chorus/web/http_server.h"
#include "chorus/web/metrics.h"

namespace chorus::relay {

inline constexpr size_t kMaxPendingCommands = 4096;
inline constexpr size_t kMaxTokens = 256;
inline constexpr size_t kMaxNodes = 4096;
inline constexpr int64_t kTokenLifetimeMs = 60'000;
inline constexpr int64_t kTickMs = 100;
inline constexpr int64_t kLookupRetryMs = 100;
// After the first lookup, a rival's value has this long to appear (beyond
// the replicas' start-up grace) before the subscribe fails.
inline constexpr int64_t kSettleMs = 4'000;
inline constexpr uint32_t kChannelTtlS = 3600;
inline constexpr int64_t kRepublishMs = 60'000;
inline constexpr int64_t kOnboardMs = 30'000;

int64_t steady_ms();

// An INM or DHT value's text as the bytes the overlay and the DHT carry.
inline Bytes to_bytes(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

struct RelayNode::Impl {
  using json = nlohmann::json;

  RelayNodeOptions options;
  std::string name;
  std::unique_ptr<overlay::Node> node;
  std::unique_ptr<dht::Dht> dht;
  std::unique_ptr<dht::Reach> reach;  // WHISPERs to nodes that are not direct peers
  std::unique_ptr<web::HttpServer> server;
  std::unique_ptr<RelayCore> core;
  std::unique_ptr<metrics::MetricsEndpoint> metrics_endpoint;  // with options.metrics
  std::string metrics_bound;
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
  bool onboarded = false;
  int64_t last_release_check_ms = 0;

  // Clients on /connect, by core id and by WebSocket id.
  std::map<ClientId, web::WebSocket> clients;
  std::map<uint64_t, ClientId> client_ids;
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
  std::map<uint64_t, std::string> node_sockets;             // WebSocket id -> name, after handshake
  std::map<uint64_t, web::WebSocket> node_sockets_pending;  // upgraded, no handshake yet

  // One-time tokens for WS /node, by token.
  struct Token {
    std::string name;
    int64_t expires_ms;
  };
  std::map<std::string, Token> tokens;

  // Commands sent to other nodes, by nonce, waiting for their response.
  struct Pending {
    std::function<void(bool ok, json data)> done;
    int64_t deadline_ms;
  };
  std::map<std::string, Pending> pending;
  uint64_t next_nonce = 1;

  // Reservations this node holds.
  struct Owned {
    dht::HoldHandle hold = 0;
    uint64_t token = 0;
    PasswordHash hash{};
  };
  std::map<std::string, Owned> owned;
  uint64_t index_seq = 0;

  int64_t now() const { return steady_ms(); }

  // --- relay_node.cc: the core's actions, the timer -----------------------
  void run_actions();
  void on_tick();
  void announce();

  // --- inm_routing.cc -----------------------------------------------------
  // A new INM from this node: a command (fresh nonce) to `destination`.
  Inm command_inm(const std::string& destination, json data);
  void send_inm(const Inm& inm);
  // To every node joined here over /node, except `except`.
  void send_to_node_sockets(const std::string& text, const std::string& except);
  void fail_pending(const Inm& inm, const std::string& reason);
  // A command to another node; `done` runs once with its answer or a timeout.
  void ask(const std::string& to, json data, std::function<void(bool, json)> done);
  void expire_pending(int64_t now_ms);
  // From the overlay (`key` set) or from a node's WebSocket (`via_socket`).
  void inm_arrived(std::string_view text, const overlay::PublicKey* key,
                   const std::string& via_socket);
  bool learn_node(const std::string& who, const overlay::PublicKey* key, const std::string& socket);
  void handle_inm(const Inm& inm);
  // The network commands this node answers about itself.
  bool local_command(const std::string& command, const json& data, json& out, std::string& reason);
  void network_command(NetworkCommand& a);
  // Where nodes join this one (get-node-connection).
  std::string node_url() const;

  // --- channel_reservations.cc --------------------------------------------
  struct ChannelOpening {
    std::string channel;
    PasswordHash hash;
    uint64_t released_token = 0;  // values with this token or lower are not live
    int64_t deadline_ms = 0;      // then the subscribers waiting are refused
  };
  // Looks the channel up; reserves it when absent (attempt 0 and every
  // tenth); retries every kLookupRetryMs until the deadline.
  void open_channel(const ChannelOpening& op, int attempt);
  void retry_lookup(const ChannelOpening& op, int attempt);
  void reserve(const ChannelOpening& op, int attempt);
  void publish_channel(const std::string& channel, const Owned& o, bool released,
                       std::function<void()> then);
  void publish_index();
  void onboard();
  void maybe_release(const std::string& channel);
  std::vector<std::string> idle_owned_channels() const;
  std::set<std::string> release_checks;  // maybe_release in progress
  // Lets go of a reservation: the hold, a released value, unreserve-channel.
  void release(const std::string& channel, const Owned& o);
  void republish();
  void release_all();

  // --- relay_front.cc -----------------------------------------------------
  HealthInputs health_inputs() const;
  void on_http(const web::HttpRequest& r, web::Responder reply);
  int on_upgrade(const web::HttpRequest& r);
  void on_open(web::WebSocket ws);
  void on_message(web::WebSocket ws, std::string text);
  void node_handshake(web::WebSocket ws, const std::string& text);
  void on_close(web::WebSocket ws);
  json status_json() const;
  // The relay's families (and the overlay's and DHT's) for GET /metrics.
  void append_metrics(web::MetricsText& m) const;

 private:
  void handle(ToClient& a);
  void handle(CloseClient& a);
  void handle(SendInm& a) { send_inm(a.inm); }
  void handle(OpenChannel& a);
  void handle(ChannelEmpty& a) { maybe_release(a.channel); }
  void handle(NetworkCommand& a) { network_command(a); }
};

}  // namespace chorus::relay
