#include "chorus/web/http_server.h"

#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <vector>

#include "ws_close.h"

namespace chorus::web {

// One request's answer, shared by its Responder copies and its session.
struct Responder::Slot {
  lws* wsi = nullptr;
  bool open = true;       // the connection is still there
  bool answered = false;  // a response was given (and is being sent)
  bool close_after = false;
  HttpResponse response;
};

void Responder::operator()(HttpResponse response) const {
  if (!slot_ || !slot_->open || slot_->answered) return;
  slot_->answered = true;
  slot_->response = std::move(response);
  lws_callback_on_writable(slot_->wsi);
}

bool Responder::pending() const {
  return slot_ && slot_->open && !slot_->answered;
}

// One WebSocket connection, shared by its handles and the server.
struct WebSocket::Conn {
  lws* wsi = nullptr;  // null once closed
  HttpServer::Impl* server = nullptr;
  uint64_t id = 0;
  HttpRequest request;
  std::deque<std::string> out;  // messages waiting to be written
  size_t queued = 0;            // their bytes
  std::string rx;               // a message being received, by fragments
  bool rx_too_big = false;
  bool closing = false;  // close() called: no more sends
  bool close_sent = false;
  int close_code = kCloseNormal;
  std::string close_reason;
  int peer_code = kCloseAbnormal;  // what the peer's close frame said
  std::string peer_reason;
};

uint64_t WebSocket::id() const {
  return conn_ ? conn_->id : 0;
}

bool WebSocket::open() const {
  return conn_ && conn_->wsi && !conn_->closing;
}

const HttpRequest& WebSocket::request() const {
  static const HttpRequest kNone;
  return conn_ ? conn_->request : kNone;
}

std::optional<std::string> WebSocket::header(std::string_view name) const {
  return conn_ ? conn_->request.header(name) : std::nullopt;
}

size_t WebSocket::queued_bytes() const {
  return conn_ ? conn_->queued : 0;
}

namespace {

// What libwebsockets keeps per connection (its per-session data): pointers
// to ours, so C++ objects get constructed and destroyed properly.
struct Session {
  std::shared_ptr<Responder::Slot> slot;
  HttpRequest request;
  bool headers_sent = false;
  bool too_large = false;
};
struct PerSession {
  Session* http;
  WebSocket::Conn* ws;
};

// Servers alive now: libwebsockets calls the protocol for connections it
// finishes closing on the loop after the server that owned them is gone
// (a foreign loop closes handles late), and those calls must not touch it.
std::mutex g_live_mu;
std::set<const void*> g_live;
bool is_live(const void* server) {
  std::lock_guard<std::mutex> lock(g_live_mu);
  return g_live.count(server) > 0;
}

void route_lws_log(int level, const char* line) {
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (level & LLL_ERR) {
    spdlog::error("http: {}", text);
  } else {
    spdlog::debug("http: {}", text);
  }
}

// Binds and closes a socket on host:port first: libwebsockets 4.1 leaves a
// context it cannot free (on a foreign loop) when its listener fails to
// bind, so a busy port is found out before the context exists.
Result<void> probe_bind(const std::string& host, uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  if (inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1)
    return invalid_argument("http server: host must be a numeric IPv4 address, got '" + host + "'");
  if (port == 0) return {};
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error(std::string("http server: socket: ") + std::strerror(errno));
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  const int err = errno;
  ::close(fd);
  if (rc != 0)
    return io_error("http server: cannot listen on " + host + ":" + std::to_string(port) + ": " +
                    std::strerror(err));
  return {};
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  WebSocketHandlers ws;
  std::map<uint64_t, std::shared_ptr<WebSocket::Conn>> conns;
  uint64_t next_ws_id = 1;
  lws_context* context = nullptr;
  bool stopped = false;  // the first lws_context_destroy was called
  std::set<Session*> sessions;
  HttpServerStats stats;
  uint16_t port = 0;

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  int on_http(lws* wsi, Session*& s, const char* path);
  HttpRequest read_request(lws* wsi, const char* path) const;
  // A WebSocket upgrade's request (a GET), at the filter and at the open.
  HttpRequest read_upgrade_request(lws* wsi) const;
  int on_upgrade(lws* wsi);
  void on_ws_open(lws* wsi, PerSession& ps);
  int on_ws_receive(lws* wsi, WebSocket::Conn& c, const void* in, size_t len);
  int on_ws_writable(lws* wsi, WebSocket::Conn& c);
  void on_ws_closed(PerSession& ps);
  int on_writable(lws* wsi, Session*& s);
  void end_session(Session*& s);
  static void answer(Session& s, int status, std::string body, bool close_after) {
    s.slot->close_after = close_after;
    Responder(s.slot)({status, "application/json", std::move(body)});
  }
};

int HttpServer::Impl::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                               size_t len) {
  auto* ps = static_cast<PerSession*>(user);
  auto* self = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
  // A server already gone (or stopping) only lets libwebsockets finish.
  if (!self || !is_live(self) || self->stopped)
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      if (!ps) return -1;
      return self->on_http(wsi, ps->http, static_cast<const char*>(in));
    case LWS_CALLBACK_HTTP_BODY: {
      if (!ps || !ps->http) return -1;
      Session& s = *ps->http;
      if (s.too_large || s.slot->answered) return 0;
      if (s.request.body.size() + len > self->options.max_body_bytes) {
        s.too_large = true;
        ++self->stats.refused_too_large;
        answer(s, 413,
               R"({"error":"Request body larger than )" +
                   std::to_string(self->options.max_body_bytes) + R"( bytes"})",
               true);
        return 0;
      }
      s.request.body.append(static_cast<const char*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_HTTP_BODY_COMPLETION: {
      if (!ps || !ps->http) return -1;
      Session& s = *ps->http;
      if (s.too_large || s.slot->answered) return 0;
      ++self->stats.requests;
      self->handler(s.request, Responder(s.slot));
      return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (!ps || !ps->http) return 0;
      return self->on_writable(wsi, ps->http);
    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
      ++self->stats.connections;
      break;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      if (self->stats.connections > 0) --self->stats.connections;
      if (ps) self->end_session(ps->http);
      break;
    case LWS_CALLBACK_CLOSED_HTTP:
      if (ps) self->end_session(ps->http);
      break;
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
      return self->on_upgrade(wsi);
    case LWS_CALLBACK_ESTABLISHED:
      if (!ps) return -1;
      self->on_ws_open(wsi, *ps);
      return 0;
    case LWS_CALLBACK_RECEIVE:
      if (!ps || !ps->ws) return -1;
      return self->on_ws_receive(wsi, *ps->ws, in, len);
    case LWS_CALLBACK_SERVER_WRITEABLE:
      if (!ps || !ps->ws) return 0;
      return self->on_ws_writable(wsi, *ps->ws);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      if (ps && ps->ws) {
        const auto* b = static_cast<const unsigned char*>(in);
        ps->ws->peer_code = len >= 2 ? (b[0] << 8 | b[1]) : kCloseNoStatus;
        if (len > 2) ps->ws->peer_reason.assign(reinterpret_cast<const char*>(b) + 2, len - 2);
      }
      return 0;
    case LWS_CALLBACK_CLOSED:
      if (ps) self->on_ws_closed(*ps);
      return 0;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

HttpRequest HttpServer::Impl::read_request(lws* wsi, const char* path) const {
  HttpRequest r;
  r.path = path ? path : "/";
  char peer[64] = {0};
  if (lws_get_peer_simple(wsi, peer, sizeof peer)) r.peer = peer;
  for (const std::string& name : options.keep_headers) {
    const std::string key = name + ":";
    const int n = lws_hdr_custom_length(wsi, key.c_str(), static_cast<int>(key.size()));
    if (n < 0) continue;
    std::string value(static_cast<size_t>(n) + 1, '\0');
    if (lws_hdr_custom_copy(wsi, value.data(), static_cast<int>(value.size()), key.c_str(),
                            static_cast<int>(key.size())) < 0)
      continue;
    value.resize(static_cast<size_t>(n));
    r.headers.emplace_back(name, std::move(value));
  }
  return r;
}

HttpRequest HttpServer::Impl::read_upgrade_request(lws* wsi) const {
  std::string path(static_cast<size_t>(lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI)), '\0');
  if (!path.empty() &&
      lws_hdr_copy(wsi, path.data(), static_cast<int>(path.size()) + 1, WSI_TOKEN_GET_URI) < 0)
    path.clear();
  HttpRequest r = read_request(wsi, path.c_str());
  r.method = "GET";
  return r;
}

int HttpServer::Impl::on_upgrade(lws* wsi) {
  const HttpRequest request = read_upgrade_request(wsi);
  const int status = ws.accept ? ws.accept(request) : 404;
  if (status == 0) return 0;
  ++stats.ws_refused;
  // The status line goes out now; non-zero then drops the connection.
  lws_return_http_status(wsi, static_cast<unsigned>(status), nullptr);
  return -1;
}

void HttpServer::Impl::on_ws_open(lws* wsi, PerSession& ps) {
  auto conn = std::make_shared<WebSocket::Conn>();
  conn->wsi = wsi;
  conn->server = this;
  conn->id = next_ws_id++;
  conn->request = read_upgrade_request(wsi);
  ps.ws = conn.get();
  conns[conn->id] = conn;
  ++stats.ws_opened;
  stats.ws_open = conns.size();
  if (ws.on_open) ws.on_open(WebSocket(conn));
}

int HttpServer::Impl::on_ws_receive(lws* wsi, WebSocket::Conn& c, const void* in, size_t len) {
  if (c.closing) return 0;  // input after close() is dropped
  if (lws_is_first_fragment(wsi)) {
    c.rx.clear();
    c.rx_too_big = false;
  }
  if (!c.rx_too_big && c.rx.size() + len > options.max_ws_message_bytes) {
    c.rx_too_big = true;
    c.rx.clear();
    c.rx.shrink_to_fit();
    ++stats.ws_closed_too_big;
    WebSocket(conns[c.id])
        .close(kCloseTooBig,
               "message larger than " + std::to_string(options.max_ws_message_bytes) + " bytes");
    return 0;
  }
  if (c.rx_too_big) return 0;
  c.rx.append(static_cast<const char*>(in), len);
  if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0) return 0;
  ++stats.ws_messages_in;
  std::string message;
  message.swap(c.rx);
  auto conn = conns[c.id];  // kept alive across the handler
  if (ws.on_message) ws.on_message(WebSocket(conn), std::move(message));
  return 0;
}

int HttpServer::Impl::on_ws_writable(lws* wsi, WebSocket::Conn& c) {
  if (c.close_sent) return 0;
  if (!c.out.empty()) {
    // One write per writable callback, as libwebsockets asks; it keeps
    // what the socket does not take and finishes it first.
    std::string& text = c.out.front();
    std::vector<unsigned char> buf(LWS_PRE + text.size());
    std::memcpy(buf.data() + LWS_PRE, text.data(), text.size());
    const int wrote = lws_write(wsi, buf.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT);
    if (wrote < static_cast<int>(text.size())) return -1;
    c.queued -= text.size();
    c.out.pop_front();
    ++stats.ws_messages_out;
    if (!c.out.empty() || c.closing) lws_callback_on_writable(wsi);
    return 0;
  }
  if (!c.closing) return 0;
  c.close_sent = true;
  return write_close_frame(wsi, c.close_code, c.close_reason, 3) ? 0 : -1;
}

void HttpServer::Impl::on_ws_closed(PerSession& ps) {
  WebSocket::Conn* c = ps.ws;
  ps.ws = nullptr;
  if (!c) return;
  auto it = conns.find(c->id);
  if (it == conns.end()) return;
  std::shared_ptr<WebSocket::Conn> conn = it->second;
  conns.erase(it);
  stats.ws_open = conns.size();
  conn->wsi = nullptr;
  conn->out.clear();
  conn->queued = 0;
  const bool we_closed = conn->close_sent;
  conn->closing = true;
  if (ws.on_close)
    ws.on_close(WebSocket(conn), we_closed ? conn->close_code : conn->peer_code,
                we_closed ? conn->close_reason : conn->peer_reason);
}

int HttpServer::Impl::on_http(lws* wsi, Session*& s, const char* path) {
  end_session(s);  // a kept-alive connection's previous request
  s = new Session();
  sessions.insert(s);
  s->slot = std::make_shared<Responder::Slot>();
  s->slot->wsi = wsi;
  s->request = read_request(wsi, path);
  if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0) {
    s->request.method = "POST";
    return 0;  // the body follows: BODY, then BODY_COMPLETION
  }
  if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0) {
    s->request.method = "GET";
    ++stats.requests;
    handler(s->request, Responder(s->slot));
    return 0;
  }
  answer(*s, 405, R"({"error":"Method not allowed"})", true);
  return 0;
}

int HttpServer::Impl::on_writable(lws* wsi, Session*& s) {
  if (!s->slot->answered) return 0;
  const HttpResponse& r = s->slot->response;
  if (!s->headers_sent) {
    std::vector<unsigned char> buf(LWS_PRE + 512);
    unsigned char* start = buf.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf.data() + buf.size();
    if (lws_add_http_common_headers(wsi, static_cast<unsigned>(r.status), r.content_type.c_str(),
                                    r.body.size(), &p, end) != 0)
      return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end) != 0) return -1;
    s->headers_sent = true;
    lws_callback_on_writable(wsi);
    return 0;
  }
  // One write of the whole body: libwebsockets keeps what the socket does
  // not take at once and finishes it before the next writable callback.
  std::vector<unsigned char> buf(LWS_PRE + r.body.size());
  std::memcpy(buf.data() + LWS_PRE, r.body.data(), r.body.size());
  const int wrote = lws_write(wsi, buf.data() + LWS_PRE, r.body.size(), LWS_WRITE_HTTP_FINAL);
  if (wrote < 0 || static_cast<size_t>(wrote) != r.body.size()) return -1;
  const bool close = s->slot->close_after;
  end_session(s);
  if (close) return -1;
  return lws_http_transaction_completed(wsi) != 0 ? -1 : 0;
}

void HttpServer::Impl::end_session(Session*& s) {
  if (!s) return;
  s->slot->open = false;
  sessions.erase(s);
  delete s;
  s = nullptr;
}

Result<void> WebSocket::send(std::string text) {
  if (!open()) return cancelled("websocket: closed");
  HttpServer::Impl& server = *conn_->server;
  if (conn_->queued + text.size() > server.options.max_ws_queued_bytes) {
    ++server.stats.ws_closed_slow;
    close(kClosePolicy, "client does not read: send queue over " +
                            std::to_string(server.options.max_ws_queued_bytes) + " bytes");
    return limit_exceeded("websocket: send queue full");
  }
  conn_->queued += text.size();
  conn_->out.push_back(std::move(text));
  lws_callback_on_writable(conn_->wsi);
  return {};
}

void WebSocket::close(int code, std::string reason) {
  if (!open()) return;
  conn_->closing = true;
  conn_->close_code = code;
  if (reason.size() > 123) reason.resize(123);
  conn_->close_reason = std::move(reason);
  lws_callback_on_writable(conn_->wsi);
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(uv_loop_s* loop, HttpServerOptions options,
                                                      HttpHandler handler) {
  return start(loop, std::move(options), std::move(handler), WebSocketHandlers{});
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(uv_loop_s* loop, HttpServerOptions options,
                                                      HttpHandler handler, WebSocketHandlers ws) {
  if (!loop) return invalid_argument("http server: no loop");
  if (!handler) return invalid_argument("http server: no handler");
  if (options.host.empty()) return invalid_argument("http server: empty host");
  if (auto probe = probe_bind(options.host, options.port); !probe.ok()) return probe.error();
  static std::once_flag log_once;
  std::call_once(log_once, [] { lws_set_log_level(LLL_ERR | LLL_WARN, route_lws_log); });

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  impl->ws = std::move(ws);
  // Static: with a foreign loop, libwebsockets finishes closing its handles
  // (and calls the protocol for LWS_CALLBACK_WSI_DESTROY) after
  // lws_context_destroy returns, when this server may be gone. Those late
  // calls reach only the default branch, which does not touch the Impl.
  static const lws_protocols kProtocols[] = {
      {"http", &Impl::callback, sizeof(PerSession), 0, 0, nullptr, 0},
      {nullptr, nullptr, 0, 0, 0, nullptr, 0}};

  void* loops[1] = {loop};
  lws_context_creation_info info;
  std::memset(&info, 0, sizeof info);
  // The vhost (the listener) is made separately: when its port cannot be
  // bound, the context is still whole and closes cleanly on the loop.
  info.options =
      LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DISABLE_IPV6 | LWS_SERVER_OPTION_EXPLICIT_VHOSTS;
  info.foreign_loops = loops;
  info.port = impl->options.port;
  info.iface = impl->options.host.c_str();
  info.protocols = kProtocols;
  info.user = impl.get();
  info.timeout_secs = impl->options.idle_timeout_s;
  info.keepalive_timeout = static_cast<int>(impl->options.idle_timeout_s);
  // The listener, plus libwebsockets' own descriptors, plus the bound.
  info.fd_limit_per_thread = static_cast<unsigned>(impl->options.max_connections + 4);
  info.server_string = "chorus";
  const bool tls = !impl->options.tls_cert_file.empty() || !impl->options.tls_key_file.empty();
  if (tls) {
    for (const std::string* f : {&impl->options.tls_cert_file, &impl->options.tls_key_file})
      if (f->empty() || ::access(f->c_str(), R_OK) != 0)
        return invalid_argument("http server: TLS wants a readable certificate and key, not '" +
                                *f + "'");
    info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.ssl_cert_filepath = impl->options.tls_cert_file.c_str();
    info.ssl_private_key_filepath = impl->options.tls_key_file.c_str();
  }
  impl->context = lws_create_context(&info);
  if (!impl->context) return io_error("http server: cannot start libwebsockets");
  lws_vhost* vhost = lws_create_vhost(impl->context, &info);
  const int port = vhost ? lws_get_vhost_listen_port(vhost) : -1;
  if (port <= 0) {
    lws_context_destroy(impl->context);
    return io_error("http server: cannot listen on " + impl->options.host + ":" +
                    std::to_string(impl->options.port));
  }
  impl->port = static_cast<uint16_t>(port);
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    g_live.insert(impl.get());
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
  {
    std::lock_guard<std::mutex> lock(g_live_mu);
    g_live.erase(impl_.get());
  }
  // With a foreign loop, libwebsockets frees its context only when destroy
  // is called again after the loop has closed its handles, which is why a
  // server is destroyed after its loop has finished.
  if (impl_->context) lws_context_destroy(impl_->context);
  impl_->context = nullptr;
}

uint16_t HttpServer::port() const {
  return impl_->port;
}

HttpServerStats HttpServer::stats() const {
  return impl_->stats;
}

void HttpServer::stop() {
  if (!impl_->context || impl_->stopped) return;
  impl_->stopped = true;
  for (Session* s : impl_->sessions) s->slot->open = false;
  for (auto& [id, conn] : impl_->conns) {
    conn->wsi = nullptr;
    conn->closing = true;
  }
  impl_->conns.clear();
  impl_->stats.ws_open = 0;
  lws_context_destroy(impl_->context);
  // Sessions closed during destroy were deleted by their callbacks; any
  // left (never closed by the library) go now.
  for (Session* s : impl_->sessions) delete s;
  impl_->sessions.clear();
}

}  // namespace chorus::web
