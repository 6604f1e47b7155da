#include "ipc_server.h"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <future>
#include <map>
#include <variant>

#include "chorus/web/loop_thread.h"

namespace chorus::nano {
namespace {

constexpr size_t kReadBufferBytes = 64 << 10;

bool is_loopback(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// A socket file left behind by a node that died is removed; one a node
// still answers on, or a file that is no socket, is not ours to take.
Result<void> clear_stale_socket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return {};  // nothing there
  if (!S_ISSOCK(st.st_mode)) return io_error("ipc: " + path + " exists and is not a socket");
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path) return invalid_argument("ipc: socket path too long");
  std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return io_error("ipc: socket(): " + std::string(std::strerror(errno)));
  const bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  if (live) return io_error("ipc: " + path + " is in use by a running process");
  if (::unlink(path.c_str()) != 0)
    return io_error("ipc: cannot remove the stale " + path + ": " + std::strerror(errno));
  return {};
}

}  // namespace

struct IpcServer::Impl : std::enable_shared_from_this<IpcServer::Impl> {
  // One client. Deleted by its handle's close callback.
  struct Conn {
    Impl* server = nullptr;
    uint64_t id = 0;
    std::variant<uv_pipe_t, uv_tcp_t> handle;
    IpcSession session;
    std::string client;  // for the RPC's per-client bounds
    bool reading = false;
    bool pumping = false;
    bool subscribed = false;
    bool closed = false;
    Conn(Impl* s, uint64_t i, const IpcLimits& limits, bool stop_enabled)
        : server(s), id(i), session(limits, stop_enabled), client("ipc:" + std::to_string(i)) {}
    uv_stream_t* stream() {
      return std::visit([](auto& h) { return reinterpret_cast<uv_stream_t*>(&h); }, handle);
    }
  };
  struct WriteReq {
    uv_write_t req{};
    std::string bytes;
    IpcSession::After after = IpcSession::After::kNothing;
    Impl* server = nullptr;
    uint64_t conn = 0;
  };

  IpcServerContext ctx;
  std::unique_ptr<web::LoopThread> loop;
  std::optional<overlay::SocketAddress> tcp_address;
  bool socket_bound = false;
  bool stopped = false;
  uint64_t listener = 0;
  std::atomic<size_t> subscribers{0};  // connections subscribed, for the event listener
  std::atomic<uint64_t> events_dropped{0};

  // The loop thread's.
  uv_pipe_t pipe{};
  uv_tcp_t tcp{};
  bool pipe_open = false, tcp_open = false;
  std::map<uint64_t, Conn*> conns;
  uint64_t next_conn = 1;
  bool stop_called = false;
  char read_buf[kReadBufferBytes];

  Result<void> listen(uv_loop_s* uv) {
    if (!ctx.socket_path.empty()) {
      uv_pipe_init(uv, &pipe, 0);
      pipe.data = this;
      pipe_open = true;
      int rc = uv_pipe_bind(&pipe, ctx.socket_path.c_str());
      if (rc == 0) {
        socket_bound = true;
        // Before listen: until then a connect is refused, so no client
        // ever reaches the socket with the umask's wider mode.
        if (::chmod(ctx.socket_path.c_str(), 0600) != 0)
          return io_error("ipc: cannot make " + ctx.socket_path +
                          " mode 0600: " + std::strerror(errno));
        rc = uv_listen(reinterpret_cast<uv_stream_t*>(&pipe), 64, on_connection);
      }
      if (rc != 0)
        return io_error("ipc: cannot listen on " + ctx.socket_path + ": " + uv_strerror(rc));
    }
    if (ctx.tcp) {
      sockaddr_storage sa{};
      int rc =
          uv_ip4_addr(ctx.tcp->host.c_str(), ctx.tcp->port, reinterpret_cast<sockaddr_in*>(&sa));
      if (rc != 0)
        rc =
            uv_ip6_addr(ctx.tcp->host.c_str(), ctx.tcp->port, reinterpret_cast<sockaddr_in6*>(&sa));
      if (rc != 0) return invalid_argument("ipc: bad TCP host " + ctx.tcp->host);
      uv_tcp_init(uv, &tcp);
      tcp.data = this;
      tcp_open = true;
      rc = uv_tcp_bind(&tcp, reinterpret_cast<sockaddr*>(&sa), 0);
      if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp), 64, on_connection);
      if (rc != 0)
        return io_error("ipc: cannot listen on " + ctx.tcp->to_string() + ": " + uv_strerror(rc));
      int len = sizeof sa;
      uv_tcp_getsockname(&tcp, reinterpret_cast<sockaddr*>(&sa), &len);
      const uint16_t port = sa.ss_family == AF_INET6
                                ? ntohs(reinterpret_cast<sockaddr_in6*>(&sa)->sin6_port)
                                : ntohs(reinterpret_cast<sockaddr_in*>(&sa)->sin_port);
      tcp_address = overlay::SocketAddress{ctx.tcp->host, port};
    }
    return {};
  }

  static void on_connection(uv_stream_t* listener, int status) {
    auto* self = static_cast<Impl*>(listener->data);
    if (status < 0) return;
    auto* c = new Conn(self, self->next_conn++, self->ctx.limits, bool(self->ctx.on_stop));
    if (listener->type == UV_NAMED_PIPE) {
      c->handle.emplace<uv_pipe_t>();
      uv_pipe_init(listener->loop, &std::get<uv_pipe_t>(c->handle), 0);
    } else {
      c->handle.emplace<uv_tcp_t>();
      uv_tcp_init(listener->loop, &std::get<uv_tcp_t>(c->handle));
    }
    c->stream()->data = c;
    if (uv_accept(listener, c->stream()) != 0 || self->stop_called) {
      uv_close(reinterpret_cast<uv_handle_t*>(c->stream()), on_closed);
      return;
    }
    if (self->conns.size() >= self->ctx.max_connections) {
      spdlog::warn("ipc: refusing a connection: {} open already", self->conns.size());
      uv_close(reinterpret_cast<uv_handle_t*>(c->stream()), on_closed);
      return;
    }
    self->conns.emplace(c->id, c);
    self->pump(*c);
  }

  static void on_closed(uv_handle_t* h) { delete static_cast<Conn*>(h->data); }

  void close(Conn& c) {
    if (c.closed) return;
    c.closed = true;
    conns.erase(c.id);
    if (c.subscribed) subscribers.fetch_sub(1);
    uv_close(reinterpret_cast<uv_handle_t*>(c.stream()), on_closed);
  }

  // Drains the session: calls to the RPC (whose answers may come at once),
  // writes; then reads while the session wants bytes.
  void pump(Conn& c) {
    if (c.pumping) return;  // the outer pump drains what this input made
    c.pumping = true;
    while (!c.closed) {
      auto calls = c.session.take_calls();
      for (auto& call : calls) dispatch(c, std::move(call));
      auto writes = c.session.take_writes();
      // Before the subscribe's answer can reach the client: an event
      // right after it must find the connection subscribed.
      sync_subscribed(c);
      for (auto& w : writes) write(c, std::move(w));
      if (c.session.abort()) {
        spdlog::warn("ipc: closing connection {}: {}", c.id, *c.session.abort());
        c.pumping = false;
        return close(c);
      }
      if (calls.empty() && writes.empty()) break;
    }
    c.pumping = false;
    if (c.closed) return;
    const bool want = c.session.wants_bytes();
    if (want && !c.reading) {
      uv_read_start(c.stream(), on_alloc, on_read);
    } else if (!want && c.reading) {
      uv_read_stop(c.stream());
    }
    c.reading = want;
  }

  void sync_subscribed(Conn& c) {
    if (c.closed || c.session.subscribed() == c.subscribed) return;
    c.subscribed = c.session.subscribed();
    c.subscribed ? subscribers.fetch_add(1) : subscribers.fetch_sub(1);
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(h->data);
    *buf = uv_buf_init(c->server->read_buf, sizeof c->server->read_buf);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* c = static_cast<Conn*>(s->data);
    if (n < 0) return c->server->close(*c);  // the client is gone
    if (n == 0) return;
    c->session.on_bytes(std::string_view(buf->base, static_cast<size_t>(n)));
    c->server->pump(*c);
  }

  void dispatch(Conn& c, IpcSession::Call call) {
    std::weak_ptr<Impl> weak = weak_from_this();
    const uint64_t conn = c.id;
    const uint64_t id = call.id;
    ctx.rpc->handle_json(
        call.request,
        [weak, conn, id](std::string answer) {
          auto self = weak.lock();
          if (!self) return;
          if (self->loop->on_loop_thread()) return self->deliver(conn, id, answer);
          Impl* s = self.get();
          if (!s->loop->post(
                  [s, conn, id, a = std::move(answer)](uv_loop_s*) { s->deliver(conn, id, a); }))
            spdlog::warn("ipc: an answer for connection {} was lost (the loop is stopping)", conn);
        },
        c.client);
  }

  void deliver(uint64_t conn, uint64_t id, const std::string& answer) {
    auto it = conns.find(conn);
    if (it == conns.end()) return;  // the client left meanwhile
    it->second->session.on_reply(id, answer);
    pump(*it->second);
  }

  void write(Conn& c, IpcSession::Write w) {
    auto* r = new WriteReq;
    r->bytes = std::move(w.bytes);
    r->after = w.after;
    r->server = this;
    r->conn = c.id;
    r->req.data = r;
    uv_buf_t buf = uv_buf_init(r->bytes.data(), static_cast<unsigned>(r->bytes.size()));
    const int rc = uv_write(&r->req, c.stream(), &buf, 1, on_written);
    if (rc != 0) {
      delete r;
      close(c);
    }
  }

  static void on_written(uv_write_t* req, int status) {
    std::unique_ptr<WriteReq> r(static_cast<WriteReq*>(req->data));
    Impl* self = r->server;
    auto it = self->conns.find(r->conn);
    if (it == self->conns.end()) return;  // closed: the write was cancelled
    Conn& c = *it->second;
    if (status < 0) return self->close(c);
    c.session.on_written(r->bytes.size());
    if (r->after == IpcSession::After::kClose) return self->close(c);
    if (r->after == IpcSession::After::kStopNode && !self->stop_called && self->ctx.on_stop) {
      self->stop_called = true;
      spdlog::info("ipc: stop asked by connection {}", c.id);
      self->ctx.on_stop();
    }
    self->pump(c);
  }

  void on_event(const BlockConfirmedEvent& e) {
    std::vector<uint64_t> ids;
    for (auto& [id, c] : conns)
      if (c->subscribed) ids.push_back(id);
    for (uint64_t id : ids) {
      auto it = conns.find(id);
      if (it == conns.end()) continue;
      it->second->session.on_event(e);
      pump(*it->second);
    }
  }

  void close_all() {
    std::vector<Conn*> all;
    for (auto& [id, c] : conns) all.push_back(c);
    for (Conn* c : all) close(*c);
    if (pipe_open) uv_close(reinterpret_cast<uv_handle_t*>(&pipe), nullptr);
    if (tcp_open) uv_close(reinterpret_cast<uv_handle_t*>(&tcp), nullptr);
    pipe_open = tcp_open = false;
  }
};

Result<std::unique_ptr<IpcServer>> IpcServer::start(IpcServerContext context) {
  if (!context.rpc) return invalid_argument("ipc: no RPC handler");
  if (context.socket_path.empty() && !context.tcp)
    return invalid_argument("ipc: neither a socket path nor a TCP address");
  if (context.tcp && !is_loopback(context.tcp->host))
    return invalid_argument("ipc: TCP only on a loopback address (127.0.0.1 or ::1), not " +
                            context.tcp->host + ": the IPC has no credentials");
  if (!context.socket_path.empty()) {
    if (context.socket_path.size() >= sizeof(sockaddr_un::sun_path))
      return invalid_argument("ipc: socket path over " +
                              std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
    if (auto r = clear_stale_socket(context.socket_path); !r.ok()) return r.error();
  }
  auto impl = std::make_shared<Impl>();
  impl->ctx = std::move(context);
  auto loop = web::LoopThread::start("ipc");
  if (!loop.ok()) return loop.error();
  impl->loop = std::move(*loop);
  Impl* self = impl.get();

  std::promise<Result<void>> listening;
  auto done = listening.get_future();
  self->loop->post([self, &listening](uv_loop_s* uv) { listening.set_value(self->listen(uv)); });
  auto r = done.get();
  if (!r.ok()) {
    self->loop->stop([self] { self->close_all(); });
    if (self->socket_bound) ::unlink(self->ctx.socket_path.c_str());
    return r.error();
  }
  if (self->ctx.subscribe) {
    self->listener = self->ctx.subscribe([self](const NodeEvent& e) {
      auto* c = std::get_if<BlockConfirmedEvent>(&e);
      if (!c || self->subscribers.load(std::memory_order_relaxed) == 0) return;
      if (!self->loop->post([self, ev = *c](uv_loop_s*) { self->on_event(ev); }))
        self->events_dropped.fetch_add(1, std::memory_order_relaxed);
    });
  }
  return std::unique_ptr<IpcServer>(new IpcServer(std::move(impl)));
}

IpcServer::IpcServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

IpcServer::~IpcServer() {
  stop();
}

void IpcServer::stop() {
  Impl* self = impl_.get();
  if (self->stopped) return;
  self->stopped = true;
  // Not called again once unsubscribe returns.
  if (self->ctx.subscribe && self->ctx.unsubscribe) self->ctx.unsubscribe(self->listener);
  self->loop->stop([self] { self->close_all(); });
  if (self->socket_bound) ::unlink(self->ctx.socket_path.c_str());
  if (self->events_dropped.load() != 0)
    spdlog::warn("ipc: {} events dropped (the loop was behind)", self->events_dropped.load());
}

std::optional<overlay::SocketAddress> IpcServer::tcp_address() const {
  return impl_->tcp_address;
}

const std::string& IpcServer::socket_path() const {
  return impl_->ctx.socket_path;
}

}  // namespace chorus::nano
