// A relay node's health (GET /health; spec/relay.md, "Health"): what a load
// balancer or an operator checks before sending clients to a node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace chorus::relay {

struct HealthInputs {
  bool peers_configured = false;  // the node was given peers to join
  size_t peers = 0;               // overlay peers now
  int64_t max_peer_rtt_us = 0;    // the slowest peer's last round trip
  size_t clients = 0;             // WebSocket clients on /connect
  size_t local_channels = 0;      // channels with a subscriber here
  size_t owned_channels = 0;      // reservations this node holds
};

struct Health {
  std::string state;   // "good", "degraded" or "bad"
  std::string reason;  // "healthy", "no peers", "clients no channels", ...
};

// The first rule that applies, in this order:
//   bad       "channels no clients"   it holds reservations and has no clients
//   degraded  "no peers"              peers were configured and none is up
//   degraded  "clients no channels"   more than 3 clients, no channel among them
//   degraded  "high latency"          a peer's round trip above 10 ms
//   good      "healthy"
Health evaluate_health(const HealthInputs& in);

inline constexpr int64_t kHighLatencyUs = 10'000;

}  // namespace chorus::relay
