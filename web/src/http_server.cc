#include "chorus/web/http_server.h"

#include <libwebsockets.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>
#include <vector>

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

namespace {

// What libwebsockets keeps per connection (its per-session data): a pointer
// to ours, so C++ objects get constructed and destroyed properly.
struct Session {
  std::shared_ptr<Responder::Slot> slot;
  HttpRequest request;
  bool headers_sent = false;
  bool too_large = false;
};

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
  lws_context* context = nullptr;
  bool stopped = false;  // the first lws_context_destroy was called
  std::set<Session*> sessions;
  HttpServerStats stats;
  uint16_t port = 0;

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  int on_http(lws* wsi, Session*& s, const char* path);
  int on_writable(lws* wsi, Session*& s);
  void end_session(Session*& s);
  static void answer(Session& s, int status, std::string body, bool close_after) {
    s.slot->close_after = close_after;
    Responder(s.slot)({status, "application/json", std::move(body)});
  }
};

int HttpServer::Impl::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                               size_t len) {
  auto** pss = static_cast<Session**>(user);
  // Only the reasons below, which come while the server exists, use it.
  auto* self = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
  switch (reason) {
    case LWS_CALLBACK_HTTP:
      if (!self || !pss) return -1;
      return self->on_http(wsi, *pss, static_cast<const char*>(in));
    case LWS_CALLBACK_HTTP_BODY: {
      if (!pss || !*pss) return -1;
      Session& s = **pss;
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
      if (!pss || !*pss) return -1;
      Session& s = **pss;
      if (s.too_large || s.slot->answered) return 0;
      ++self->stats.requests;
      self->handler(s.request, Responder(s.slot));
      return 0;
    }
    case LWS_CALLBACK_HTTP_WRITEABLE:
      if (!self || !pss || !*pss) return 0;
      return self->on_writable(wsi, *pss);
    case LWS_CALLBACK_HTTP_BIND_PROTOCOL:
      if (self) ++self->stats.connections;
      break;
    case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
      if (self && self->stats.connections > 0) --self->stats.connections;
      if (self && pss) self->end_session(*pss);
      break;
    case LWS_CALLBACK_CLOSED_HTTP:
      if (self && pss) self->end_session(*pss);
      break;
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

int HttpServer::Impl::on_http(lws* wsi, Session*& s, const char* path) {
  end_session(s);  // a kept-alive connection's previous request
  s = new Session();
  sessions.insert(s);
  s->slot = std::make_shared<Responder::Slot>();
  s->slot->wsi = wsi;
  s->request.path = path ? path : "/";
  char peer[64] = {0};
  if (lws_get_peer_simple(wsi, peer, sizeof peer)) s->request.peer = peer;
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

Result<std::unique_ptr<HttpServer>> HttpServer::start(uv_loop_s* loop, HttpServerOptions options,
                                                      HttpHandler handler) {
  if (!loop) return invalid_argument("http server: no loop");
  if (!handler) return invalid_argument("http server: no handler");
  if (options.host.empty()) return invalid_argument("http server: empty host");
  if (auto probe = probe_bind(options.host, options.port); !probe.ok()) return probe.error();
  static std::once_flag log_once;
  std::call_once(log_once, [] { lws_set_log_level(LLL_ERR | LLL_WARN, route_lws_log); });

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->handler = std::move(handler);
  // Static: with a foreign loop, libwebsockets finishes closing its handles
  // (and calls the protocol for LWS_CALLBACK_WSI_DESTROY) after
  // lws_context_destroy returns, when this server may be gone. Those late
  // calls reach only the default branch, which does not touch the Impl.
  static const lws_protocols kProtocols[] = {
      {"http", &Impl::callback, sizeof(Session*), 0, 0, nullptr, 0},
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
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  stop();
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
  lws_context_destroy(impl_->context);
  // Sessions closed during destroy were deleted by their callbacks; any
  // left (never closed by the library) go now.
  for (Session* s : impl_->sessions) delete s;
  impl_->sessions.clear();
}

}  // namespace chorus::web
