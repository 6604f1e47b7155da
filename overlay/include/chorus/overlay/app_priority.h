// AppPriority: how an app's traffic shares a link with other apps' traffic.
#pragma once

#include <cstdint>

namespace chorus::overlay {

// Each link hands its socket only a window of bytes at a time
// (OverlayConfig::link_write_window_bytes); what does not fit waits in
// per-app queues. The next message to go is taken from the highest priority
// that has one queued, and apps of the same priority take turns by bytes,
// so a bulk transfer neither delays a vote (kHigh) nor starves another bulk
// app. The overlay's own control messages (ACK, NACK, PING, options, tree
// control) never wait behind app data.
enum class AppPriority : uint8_t {
  kHigh = 0,    // small and urgent: votes, confirmations, interactive traffic
  kNormal = 1,  // the default for every app
  kBulk = 2,    // large transfers that can wait: bootstrap, sync, backfill
};

inline constexpr int kAppPriorityCount = 3;

}  // namespace chorus::overlay
