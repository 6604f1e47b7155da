// chorus::web::WebSocketClient — WebSocket client connections, for tools,
// benchmarks and tests that talk to a server the way a browser would.
// libwebsockets does the protocol, on a loop thread the client owns.
//
//   auto client = WebSocketClient::start().value();
//   auto ws = client->connect("127.0.0.1", 8080, "/connect").value();
//   (void)ws->send(R"({"command":"list","nonce":"1"})");
//   std::optional<std::string> reply = ws->receive(std::chrono::seconds(5));
//   ws->close();
//
// Threads. Every method may be called from any thread except the client's
// own loop thread (connect and the waits block); on_message handlers run
// on that loop thread and must not block. A connection handle may outlive
// its client: it is then closed.
//
// Bounds. A message from the server above max_message_bytes closes the
// connection (1009). Without an on_message handler, at most
// max_queued_messages wait for receive(); beyond that the connection closes
// (1008): a test that stops reading finds out instead of growing.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chorus/base/result.h"

namespace chorus::web {

struct WebSocketClientOptions {
  size_t max_message_bytes = 1 << 20;
  size_t max_queued_messages = 65536;
  size_t max_connections = 4096;
};

struct WebSocketConnectOptions {
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Authentication", token}
  std::chrono::milliseconds timeout{5000};
  // Called on the client's loop thread for each message; unset: messages
  // wait for receive().
  std::function<void(std::string message)> on_message;
  // wss: TLS to the server. `tls_insecure` also accepts a self-signed or
  // otherwise unverifiable certificate (tests, and servers known by
  // address only); otherwise the system's CAs verify it.
  bool tls = false;
  bool tls_insecure = false;
};

class WebSocketConnection {
 public:
  ~WebSocketConnection();  // close()
  WebSocketConnection(const WebSocketConnection&) = delete;
  WebSocketConnection& operator=(const WebSocketConnection&) = delete;

  // Queues one text message. kCancelled once the connection is closed.
  Result<void> send(std::string text);
  // The next message, waiting at most `timeout`; nullopt on timeout or
  // once the connection is closed and nothing is left.
  std::optional<std::string> receive(std::chrono::milliseconds timeout);
  // Sends a close frame (what is queued goes first) and waits at most
  // `timeout` for the connection to end.
  void close(int code = 1000, std::string reason = {},
             std::chrono::milliseconds timeout = std::chrono::milliseconds(2000));
  // Waits at most `timeout` for the server to close; the code it sent
  // (1005 when none, 1006 when the connection dropped), or nullopt when
  // still open.
  std::optional<int> wait_closed(std::chrono::milliseconds timeout);
  bool is_open() const;
  std::string close_reason() const;

  struct State;  // shared with the loop (opaque)
  explicit WebSocketConnection(std::shared_ptr<State> state);

 private:
  std::shared_ptr<State> state_;
};

class WebSocketClient {
 public:
  // kIo when the loop thread or libwebsockets cannot be started.
  static Result<std::unique_ptr<WebSocketClient>> start(WebSocketClientOptions options = {});
  // Closes every connection (dropping them) and stops the loop thread.
  ~WebSocketClient();
  WebSocketClient(const WebSocketClient&) = delete;
  WebSocketClient& operator=(const WebSocketClient&) = delete;

  // Opens ws://host:port/path and waits until the server accepts it.
  // kRefused with the HTTP status when the server refuses the upgrade
  // ("HTTP 403"), kIo when nothing answers, kTimeout, kLimit beyond
  // max_connections.
  Result<std::unique_ptr<WebSocketConnection>> connect(const std::string& host, uint16_t port,
                                                       const std::string& path,
                                                       WebSocketConnectOptions options = {});

  struct Impl;

 private:
  explicit WebSocketClient(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace chorus::web
