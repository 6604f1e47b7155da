// The driver's TCP links: what the core's actions ask for (connect, send,
// close) and what the sockets report back to it (accepted, connected, bytes,
// sent, closed). Every libuv handle here is freed by its close callback.
#include <spdlog/spdlog.h>

#include "chorus/overlay/uv_helpers.h"
#include "node_impl.h"

namespace chorus::overlay {

void Node::Impl::free_conn(uv_handle_t* h) {
  delete static_cast<Conn*>(h->data);
}

void Node::Impl::handle(Action& a) {
  if (auto* c = std::get_if<ConnectAction>(&a)) return do_connect(*c);
  if (auto* s = std::get_if<SendAction>(&a)) return do_send(*s);
  if (auto* x = std::get_if<CloseAction>(&a)) {
    auto it = conns.find(x->link);
    if (it == conns.end()) return;
    log->info("closing link {} reason={}", x->link, x->reason);
    close_conn(it->second);
  }
}

void Node::Impl::do_connect(const ConnectAction& c) {
  sockaddr_storage ss{};
  auto* conn = new Conn;
  conn->impl = this;
  conn->link = c.link;
  if (int rc = uv_tcp_init(&loop, &conn->tcp); rc != 0) {  // never initialised: no uv_close
    delete conn;
    core->on_connect_failed(c.link, uv_error(rc), now_us());
    return;
  }
  conn->tcp.data = conn;
  conns[c.link] = conn;
  int rc = to_sockaddr(c.to, ss);
  if (rc == 0) {
    set_nodelay(conn);
    conn->connect_req.data = conn;
    rc = uv_tcp_connect(&conn->connect_req, &conn->tcp, reinterpret_cast<sockaddr*>(&ss),
                        on_connect);
  }
  if (rc != 0) {
    log->debug("connect failed peer={} reason={}", c.to.to_string(), uv_error(rc));
    core->on_connect_failed(c.link, uv_error(rc), now_us());
    close_conn(conn);
  }
}

void Node::Impl::do_send(SendAction& s) {
  auto it = conns.find(s.link);
  if (it == conns.end() || it->second->closing) {
    core->on_sent(s.link, s.bytes.size(), now_us());
    return;
  }
  auto* w = new WriteReq{{}, this, s.link, std::move(s.bytes)};
  w->req.data = w;
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(w->data.data()), static_cast<unsigned>(w->data.size()));
  int rc = uv_write(&w->req, reinterpret_cast<uv_stream_t*>(&it->second->tcp), &buf, 1, on_write);
  if (rc != 0) {
    core->on_sent(s.link, w->data.size(), now_us());
    core->on_closed(s.link, "write failed: " + uv_error(rc), now_us());
    close_conn(it->second);
    delete w;
  }
}

void Node::Impl::close_conn(Conn* conn) {
  if (conn->closing) return;
  conn->closing = true;
  conns.erase(conn->link);
  uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), free_conn);
}

// A link that cannot read is closed like one that failed to read.
void Node::Impl::start_reading(Conn* conn) {
  int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), on_alloc, on_read);
  if (rc == 0 || conn->closing) return;
  core->on_closed(conn->link, "cannot read: " + uv_error(rc), now_us());
  close_conn(conn);
}

// Only latency is lost without it, so the link goes on.
void Node::Impl::set_nodelay(Conn* conn) {
  if (int rc = uv_tcp_nodelay(&conn->tcp, 1); rc != 0)
    conn->impl->log->debug("link {}: TCP_NODELAY: {}", conn->link, uv_error(rc));
}

void Node::Impl::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<Impl*>(server->data);
  if (status < 0) {
    self->log->warn("accept failed: {}", uv_error(status));
    return;
  }
  auto* conn = new Conn;
  conn->impl = self;
  if (int rc = uv_tcp_init(&self->loop, &conn->tcp); rc != 0) {  // never initialised
    self->log->warn("accept failed: {}", uv_error(rc));
    delete conn;
    return;
  }
  conn->tcp.data = conn;
  if (int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)); rc != 0) {
    self->log->warn("accept failed: {}", uv_error(rc));
    conn->closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp), free_conn);
    return;
  }
  set_nodelay(conn);
  sockaddr_storage ss{};
  int len = sizeof ss;
  uv_tcp_getpeername(&conn->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
  auto remote = from_sockaddr(reinterpret_cast<const sockaddr*>(&ss));
  // getpeername failed (the peer may be gone already): a zero address.
  SocketAddress addr = remote ? *remote : SocketAddress{"0.0.0.0", 0};
  conn->link = self->core->on_accepted(addr, now_us());
  self->conns[conn->link] = conn;
  self->start_reading(conn);
}

void Node::Impl::on_connect(uv_connect_t* req, int status) {
  auto* conn = static_cast<Conn*>(req->data);
  Impl* self = conn->impl;
  if (conn->closing) return;  // closed while connecting; its close callback frees it
  if (status < 0) {
    self->core->on_connect_failed(conn->link, uv_error(status), now_us());
    self->close_conn(conn);
    return;
  }
  self->core->on_connected(conn->link, now_us());
  self->start_reading(conn);
}

void Node::Impl::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Impl* self = static_cast<Conn*>(h->data)->impl;
  if (self->read_buffer_busy) {  // cannot happen on one thread; be safe anyway
    *buf = uv_buf_init(nullptr, 0);
    return;
  }
  self->read_buffer_busy = true;
  *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer.get()), kReadBufferBytes);
}

void Node::Impl::on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* conn = static_cast<Conn*>(s->data);
  Impl* self = conn->impl;
  if (buf->base == reinterpret_cast<char*>(self->read_buffer.get())) self->read_buffer_busy = false;
  if (conn->closing) return;
  if (n > 0) {
    self->core->on_bytes(
        conn->link,
        std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf->base), static_cast<size_t>(n)),
        now_us());
  } else if (n < 0) {
    std::string reason = n == UV_EOF ? "peer closed the connection" : uv_error(static_cast<int>(n));
    self->log->debug("link {} closed reason={}", conn->link, reason);
    self->core->on_closed(conn->link, reason, now_us());
    self->close_conn(conn);
  }
}

void Node::Impl::on_write(uv_write_t* req, int status) {
  auto* w = static_cast<WriteReq*>(req->data);
  Impl* self = w->impl;
  if (self->core) {
    self->core->on_sent(w->link, w->data.size(), now_us());
    self->core->recycle_buffer(std::move(w->data));
    if (status < 0 && status != UV_ECANCELED) {
      self->core->on_closed(w->link, "write failed: " + uv_error(status), now_us());
      auto it = self->conns.find(w->link);
      if (it != self->conns.end()) self->close_conn(it->second);
    }
  }
  delete w;
}

}  // namespace chorus::overlay
