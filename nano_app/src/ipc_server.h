// The node's IPC endpoint (spec/ipc.md): IpcSession cores behind a Unix
// domain socket and/or a loopback TCP port, on a loop thread of its own so
// that a slow client never delays the ledger or the overlay. The NanoNode
// component "ipc" owns one.
//
// Requests are answered by the RpcHandler handed in (the JSON RPC's
// actions, encoded as protobuf); confirmations reach subscribed
// connections through the node's events.
//
// Access: the IPC has no credentials, so it listens where only the node's
// own host can reach it: the socket file is made mode 0600 (its owner
// only), and TCP only on a loopback address (127.0.0.0/8, ::1). A socket
// file left by a node that died is replaced; one a live node answers on
// is an error.
//
// Threads. start() and stop() from the owner's thread; everything else on
// the loop thread. The RPC's answers may come from any thread and are
// posted to the loop. `on_stop` runs on the loop thread once the `stop`
// response is written: it must not stop the node itself (that would join
// this very thread); it tells the node's owner.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "chorus/base/result.h"
#include "chorus/nano/node_events.h"
#include "chorus/nano/rpc_handler.h"
#include "chorus/overlay/config.h"
#include "ipc_session.h"

namespace chorus::nano {

struct IpcServerContext {
  std::string socket_path;                    // empty: no Unix socket
  std::optional<overlay::SocketAddress> tcp;  // loopback only; port 0: any
  std::unique_ptr<RpcHandler> rpc;            // answers the RPC's request types
  IpcLimits limits;
  size_t max_connections = 64;  // more are accepted and closed at once
  // The node's events (NanoNode::subscribe/unsubscribe).
  std::function<uint64_t(NodeEventListener)> subscribe;
  std::function<void(uint64_t)> unsubscribe;
  std::function<void()> on_stop;  // empty: `stop` is refused (UNSUPPORTED)
};

class IpcServer {
 public:
  // kInvalidArgument for a TCP address off loopback or no listener at
  // all; kIo when an address cannot be bound or the loop cannot start.
  static Result<std::unique_ptr<IpcServer>> start(IpcServerContext context);
  ~IpcServer();  // stop()
  IpcServer(const IpcServer&) = delete;
  IpcServer& operator=(const IpcServer&) = delete;

  // Closes every connection and the listeners, removes the socket file
  // and joins the loop thread. Idempotent.
  void stop();

  std::optional<overlay::SocketAddress> tcp_address() const;  // the bound port
  const std::string& socket_path() const;

  struct Impl;

 private:
  explicit IpcServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::nano
