// chorus::relay::RelayNode — one WSRelay node: an overlay Node and its DHT,
// an HttpServer with the WebSocket endpoints, and the RelayCore, all on the
// node's one loop thread (spec/relay.md).
//
//   RelayNodeOptions o;
//   o.listen = {"127.0.0.1", 7500};         // overlay and DHT (TCP and UDP)
//   o.ws = {"127.0.0.1", 8500};             // GET /, GET /health, WS /connect, WS /node
//   o.bootstrap = {{"127.0.0.1", 7501}};
//   auto node = RelayNode::start(o);         // ready: /health answers
//   ...
//   (*node)->stop();
//
// What the driver does around the core: it carries INMs ("*" as SHOUT, a
// named node as an encrypted WHISPER, nodes joined over WS /node by their
// socket), turns OpenChannel into a DHT lookup and, for a new channel, a
// hold plus a signed value, releases a reservation when no node has
// subscribers left, answers the network commands and serves the pages.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/overlay/config.h"
#include "chorus/relay/relay_core.h"

namespace chorus::relay {

// The overlay app that carries INMs.
inline constexpr uint16_t kRelayApp = 0x5752;  // "WR"

struct RelayNodeOptions {
  // Empty: "relay-" and the first 8 hex digits of the node's key.
  std::string name;
  overlay::SocketAddress listen{"127.0.0.1", 0};
  overlay::SocketAddress ws{"127.0.0.1", 0};
  std::vector<overlay::SocketAddress> bootstrap;
  std::string key_file;  // empty: a key for this run only
  // TLS on the ws address (https, wss) when both are set: PEM files.
  std::string tls_cert_file;
  std::string tls_key_file;
  RelayCoreConfig core;  // core.name is set from `name`
  size_t max_clients = 4096;
  size_t max_frame_bytes = 1 << 20;   // one client frame
  size_t max_queued_bytes = 8 << 20;  // waiting to be written to one client
  // Serve get-connection-token (nodes joining over WS /node) to clients.
  bool open_join = true;
  // A reservation's DHT lease, renewed while held; also the start-up grace
  // of this node's DHT replicas, during which no channel can be reserved.
  int64_t reservation_lease_ms = 10'000;
  int64_t command_timeout_ms = 3'000;    // a network command's answer
  int64_t announce_interval_ms = 5'000;  // "hello" to every node
  // Prometheus metrics (GET /metrics) on this HOST:PORT, served on the
  // node's loop (docs/metrics.md); empty: none.
  std::string metrics;
};

class RelayNode {
 public:
  // kIo when an address cannot be bound; kInvalidArgument for bad options.
  static Result<std::unique_ptr<RelayNode>> start(RelayNodeOptions options);
  ~RelayNode();  // stop()
  RelayNode(const RelayNode&) = delete;
  RelayNode& operator=(const RelayNode&) = delete;

  // Idempotent; not from the loop thread. Releases held reservations
  // first, so another node can take them at once.
  void stop();

  const std::string& name() const;
  overlay::SocketAddress listen_address() const;
  overlay::SocketAddress ws_address() const;
  // The bound metrics address "HOST:PORT"; empty without options.metrics.
  const std::string& metrics_address() const;
  // A snapshot for tools and tests: health, clients, channels, core and
  // server counters. Not from the loop thread.
  nlohmann::json status() const;

  struct Impl;

 private:
  explicit RelayNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::relay
