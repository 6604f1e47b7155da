// chorus::web::WebSocket — one server-side WebSocket connection of an
// HttpServer (http_server.h), and the handlers an app gives for them.
//
//   WebSocketHandlers ws;
//   ws.accept = [](const HttpRequest& r) { return r.path == "/connect" ? 0 : 404; };
//   ws.on_message = [](WebSocket c, std::string text) { (void)c.send("echo " + text); };
//   auto server = HttpServer::start(loop, options, http_handler, ws);
//
// A WebSocket is a handle: copies refer to the same connection, and a handle
// kept after the connection closed is harmless (send fails, open() is
// false). Every call is for the loop thread.
//
// Bounds. A message (all its fragments) above max_ws_message_bytes closes
// the connection with 1009; messages waiting to be written beyond
// max_ws_queued_bytes (a client that does not read) close it with 1008. An
// app that wants to answer bad input with an error first sends it, then
// calls close(): what was queued is written before the close frame.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "chorus/base/result.h"
#include "chorus/web/http_request.h"

namespace chorus::web {

// Close codes (RFC 6455, section 7.4.1) the server uses.
inline constexpr int kCloseNormal = 1000;
inline constexpr int kCloseGoingAway = 1001;
inline constexpr int kCloseProtocolError = 1002;
inline constexpr int kClosePolicy = 1008;
inline constexpr int kCloseTooBig = 1009;
inline constexpr int kCloseNoStatus = 1005;  // the peer closed without a code
inline constexpr int kCloseAbnormal = 1006;  // the connection dropped

class WebSocket {
 public:
  WebSocket() = default;

  // Unique within the server for its lifetime; 0 for an empty handle.
  uint64_t id() const;
  // True from on_open until the connection closes (or close() is called).
  bool open() const;
  // The upgrade request: path, peer and the headers the server keeps
  // (HttpServerOptions::keep_headers).
  const HttpRequest& request() const;
  std::optional<std::string> header(std::string_view name) const;

  // Queues one text message. kCancelled when the connection is closed or
  // closing; kLimit when the queue would pass max_ws_queued_bytes (then
  // the connection closes with 1008).
  Result<void> send(std::string text);
  // Writes what is queued, then a close frame with `code` and `reason`
  // (at most 123 bytes are kept), then drops the connection.
  void close(int code, std::string reason);
  size_t queued_bytes() const;

  struct Conn;  // the server's side (opaque)
  explicit WebSocket(std::shared_ptr<Conn> conn) : conn_(std::move(conn)) {}

 private:
  std::shared_ptr<Conn> conn_;
};

struct WebSocketHandlers {
  // At the upgrade request: 0 accepts it; an HTTP status (403, 404, ...)
  // refuses it with that status. Unset: every path is refused with 404.
  std::function<int(const HttpRequest& request)> accept;
  std::function<void(WebSocket ws)> on_open;
  // One whole text or binary message.
  std::function<void(WebSocket ws, std::string message)> on_message;
  // Once per opened connection, whoever closed it: the code the peer sent
  // (kCloseNoStatus when none), the code we sent, or kCloseAbnormal when
  // the connection dropped. Not called for connections closed by stop().
  std::function<void(WebSocket ws, int code, const std::string& reason)> on_close;
};

}  // namespace chorus::web
