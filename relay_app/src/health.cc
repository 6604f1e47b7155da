#include "chorus/relay/health.h"

namespace chorus::relay {

Health evaluate_health(const HealthInputs& in) {
  if (in.owned_channels > 0 && in.clients == 0) return {"bad", "channels no clients"};
  if (in.peers_configured && in.peers == 0) return {"degraded", "no peers"};
  if (in.clients > 3 && in.local_channels == 0) return {"degraded", "clients no channels"};
  if (in.max_peer_rtt_us > kHighLatencyUs) return {"degraded", "high latency"};
  return {"good", "healthy"};
}

}  // namespace chorus::relay
