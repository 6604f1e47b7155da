// The node's WebSocket endpoint (spec/nano-websocket.md): the WebSocketApi
// core behind a web::HttpServer, on a loop thread of its own so that a slow
// client never delays the ledger or the overlay. The NanoNode component
// "websocket" owns one and hands it every NodeEvent.
//
// Threads. post() from any thread (the node's event threads); everything
// else of the core happens on the loop thread. Events whose topic nobody
// subscribes to are dropped before they reach the loop; events that find
// the loop's queue full are dropped and counted.
//
// Bounds: the core's (WebSocketLimits), one message
// (max_message_bytes: 1009 past it), what waits to be written to one
// client (max_queued_bytes: 1008 past it, the slow reader is closed), the
// loop's queue of events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "chorus/base/result.h"
#include "chorus/nano/ledger_store.h"
#include "chorus/nano/network.h"
#include "chorus/nano/node_events.h"
#include "chorus/nano/websocket_api.h"
#include "chorus/overlay/config.h"

namespace chorus::overlay {
class Node;
}

namespace chorus::nano {

struct WebSocketServerContext {
  overlay::SocketAddress listen;  // port 0: any (address() tells)
  WebSocketConfig config;
  const NetworkParams* network = nullptr;
  LedgerStore* store = nullptr;  // sidebands (subtypes) and telemetry
  std::function<uint64_t()> unchecked_count;
  overlay::Node* overlay = nullptr;  // peers and address in telemetry; may be null
  // Milliseconds since the Unix epoch (the messages' "time").
  std::function<uint64_t()> now_ms;
};

class WebSocketServer {
 public:
  // kIo when the address cannot be bound or the loop cannot start.
  static Result<std::unique_ptr<WebSocketServer>> start(WebSocketServerContext context);
  ~WebSocketServer();  // stop()
  WebSocketServer(const WebSocketServer&) = delete;
  WebSocketServer& operator=(const WebSocketServer&) = delete;

  // Any thread: the event goes to the subscribed clients (on the loop).
  void post(const NodeEvent& event);
  // Closes every connection and joins the loop thread. Idempotent.
  void stop();

  overlay::SocketAddress address() const;
  uint64_t events_dropped() const;  // the loop's queue was full

  struct Impl;

 private:
  explicit WebSocketServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::nano
