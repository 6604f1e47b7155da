// chorus::web::HttpServer — an HTTP/1.1 server on a libuv loop the caller
// already runs (a Node's: see LoopHooks), for JSON RPC, health checks and,
// WebSocket endpoints (websocket.h). libwebsockets does the protocol; this class
// gives it the shape the rest of Chorus uses: Result errors, explicit
// lifetimes, bounds on everything a client controls.
//
//   HttpServerOptions o;  o.host = "127.0.0.1";  o.port = 7076;
//   auto server = HttpServer::start(loop, o, [](const HttpRequest& r, Responder reply) {
//     reply({200, "application/json", R"({"ok":true})"});
//   });
//   ...
//   (*server)->stop();   // on the loop thread; handles close as the loop runs on
//   ...                   // the loop finishes (Node::stop, LoopThread::stop)
//   server.reset();       // then the server is destroyed
//
// Threads. start(), stop() and every handler call happen on the loop's
// thread. A Responder may be called later (after work on another thread,
// posted back), but on the loop thread, and at most once; calling it after
// the client went away does nothing.
//
// Bounds. A body above max_body_bytes gets 413 and the connection closes;
// connections beyond max_connections get 503 and close; a client that sends
// nothing for idle_timeout_s is dropped (libwebsockets' own timeouts).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/web/http_request.h"
#include "chorus/web/websocket.h"

struct uv_loop_s;

namespace chorus::web {

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers one request. Copyable (handlers may hand it on); only the first
// call of any copy sends.
class Responder {
 public:
  Responder() = default;
  void operator()(HttpResponse response) const;
  // False once the request is answered or its connection closed.
  bool pending() const;

  struct Slot;  // the server's side of the request (opaque)
  explicit Responder(std::shared_ptr<Slot> slot) : slot_(std::move(slot)) {}

 private:
  std::shared_ptr<Slot> slot_;
};

using HttpHandler = std::function<void(const HttpRequest& request, Responder reply)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 0;  // 0: the kernel picks; port() tells
  size_t max_body_bytes = 1 << 20;
  size_t max_connections = 256;
  unsigned idle_timeout_s = 30;
  // Request headers handed to handlers (HttpRequest::headers), lower case.
  // Only these are read: a header a client may make large costs nothing
  // unless asked for.
  std::vector<std::string> keep_headers = {"authentication", "origin"};
  // WebSocket bounds (websocket.h): one message, and what waits to be
  // written to one client.
  size_t max_ws_message_bytes = 1 << 20;
  size_t max_ws_queued_bytes = 4 << 20;
  // TLS (https and wss) when both are set: PEM files, read at start.
  // libwebsockets does the TLS, with OpenSSL.
  std::string tls_cert_file;
  std::string tls_key_file;
};

struct HttpServerStats {
  uint64_t requests = 0;
  uint64_t refused_too_large = 0;
  uint64_t refused_busy = 0;
  size_t connections = 0;
  uint64_t ws_opened = 0;
  uint64_t ws_refused = 0;  // upgrades the accept handler refused
  uint64_t ws_messages_in = 0;
  uint64_t ws_messages_out = 0;
  uint64_t ws_closed_too_big = 0;  // a message over max_ws_message_bytes
  uint64_t ws_closed_slow = 0;     // the send queue over max_ws_queued_bytes
  size_t ws_open = 0;
};

class HttpServer {
 public:
  // kInvalidArgument for a host that is not a numeric IPv4 address; kIo
  // when the address cannot be bound.
  static Result<std::unique_ptr<HttpServer>> start(uv_loop_s* loop, HttpServerOptions options,
                                                   HttpHandler handler);
  // The same, also accepting WebSocket upgrades (GET with Upgrade:
  // websocket) as `ws` says.
  static Result<std::unique_ptr<HttpServer>> start(uv_loop_s* loop, HttpServerOptions options,
                                                   HttpHandler handler, WebSocketHandlers ws);
  // After stop() and after the loop has finished running: libwebsockets
  // frees what it holds on the loop only then. (Destroying a server whose
  // loop still runs is a use of freed memory waiting to happen.)
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;
  HttpServerStats stats() const;

  // On the loop thread: closes the listener and every connection; requests
  // not yet answered are dropped, WebSockets closed without on_close. The loop must go on running
  // for the handles to close.
  void stop();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::web
