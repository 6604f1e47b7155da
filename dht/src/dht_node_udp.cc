// The driver's socket: binding the UDP socket and timer on the node's loop,
// sending (try_send first, a bounded queue behind it), receiving, and
// closing both when the DHT or its node stops.
#include "chorus/overlay/node_secrets.h"
#include "chorus/overlay/uv_helpers.h"
#include "dht_node_impl.h"

namespace chorus::dht {

using overlay::from_sockaddr;
using overlay::to_sockaddr;
using overlay::uv_error;

bool is_loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

Result<Address> Dht::Impl::start_on_loop() {
  {
    std::lock_guard<std::mutex> g(mu);
    if (state != State::kStarting) return cancelled("start abandoned");
  }
  if (!loop) return invalid_argument("the node's loop is not running");
  // Where to bind: the node's own listen address by default, so overlay
  // peers' listen addresses double as DHT addresses.
  DhtConfig config = options.config;
  Address want;
  if (options.listen) {
    want = *options.listen;
  } else if (auto a = node.listen_address()) {
    want = *a;
  } else {
    bool remote = false;
    for (const auto& b : options.bootstrap) remote |= !is_loopback(b.host);
    want = Address{remote ? "0.0.0.0" : "127.0.0.1", 0};
    config.read_only = true;
  }
  const std::string where = "cannot bind UDP " + want.to_string() + ": ";
  sockaddr_storage ss{};
  int rc = to_sockaddr(want, ss);
  if (rc != 0) return io_error(where + uv_error(rc));
  // Only an initialised handle is closed (and counted in open_handles).
  if (rc = uv_udp_init(loop, &udp); rc != 0) return io_error(where + uv_error(rc));
  udp.data = this;
  add_handle();
  bool timer_ready = false;
  auto fail = [&](const std::string& what, int code) -> Result<Address> {
    uv_close(reinterpret_cast<uv_handle_t*>(&udp), on_closed);
    if (timer_ready) uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
    return io_error(what + uv_error(code));
  };
  // The socket is made here: with the open-files limit reached, EMFILE.
  rc = uv_udp_bind(&udp, reinterpret_cast<const sockaddr*>(&ss), 0);
  if (rc != 0) return fail(where, rc);
  sockaddr_storage got{};
  int len = sizeof got;
  rc = uv_udp_getsockname(&udp, reinterpret_cast<sockaddr*>(&got), &len);
  if (rc != 0) return fail(where, rc);
  auto actual = from_sockaddr(reinterpret_cast<const sockaddr*>(&got));
  Address addr = actual ? *actual : want;
  // Best effort: the kernel may refuse or cap these; smaller buffers only
  // drop more datagrams in bursts, and the lookups retry.
  int size = kSocketBufferBytes;
  if (rc = uv_recv_buffer_size(reinterpret_cast<uv_handle_t*>(&udp), &size); rc != 0)
    log->debug("dht: receive buffer size: {}", uv_error(rc));
  size = kSocketBufferBytes;
  if (rc = uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&udp), &size); rc != 0)
    log->debug("dht: send buffer size: {}", uv_error(rc));
  if (rc = uv_timer_init(loop, &timer); rc != 0) return fail("cannot start the DHT timer: ", rc);
  timer.data = this;
  add_handle();
  timer_ready = true;
  rc = uv_udp_recv_start(&udp, on_alloc, on_recv);
  if (rc != 0) return fail("cannot receive on UDP " + addr.to_string() + ": ", rc);

  core = std::make_unique<DhtCore>(overlay::detail::NodeSecrets::identity(node),
                                   config.read_only ? Address{} : addr, config, now_us());
  core->set_wall_clock(wall_ms(), now_us());
  running = true;

  int64_t now = now_us();
  for (const Address& b : options.bootstrap) {
    Token t = core->bootstrap(b, now);
    pending[t] = [log = log, b](DoneEvent& ev) {
      if (!ev.result)
        log->info("dht: bootstrap failed peer={} reason={}", b.to_string(),
                  ev.result.error().to_string());
    };
  }
  if (options.learn_from_overlay) {
    size_t learned = 0;
    for (const auto& p : node.peers()) learned += learn(p);
    if (learned > 0 && options.bootstrap.empty()) {
      Token t = core->join(now);
      pending[t] = [](DoneEvent&) {};
    }
  }
  log->debug("dht: {} on {}{}", overlay::address_to_text(node.key()).substr(0, 10),
             addr.to_string(), config.read_only ? " (read-only)" : "");
  drain();
  return addr;
}

void Dht::Impl::send(SendDatagram& s) {
  sockaddr_storage ss{};
  if (int rc = to_sockaddr(s.to, ss); rc != 0) {
    ++driver.send_errors;
    log->debug("dht: bad address peer={} reason={}", s.to.to_string(), uv_error(rc));
    return;
  }
  auto* sa = reinterpret_cast<const sockaddr*>(&ss);
  uv_buf_t buf =
      uv_buf_init(reinterpret_cast<char*>(s.bytes.data()), static_cast<unsigned>(s.bytes.size()));
  // The common case costs no allocation; libuv answers EAGAIN by itself
  // while earlier datagrams still wait, which keeps them in order.
  int rc = uv_udp_try_send(&udp, &buf, 1, sa);
  if (rc >= 0) return;
  if (rc != UV_EAGAIN && rc != UV_ENOSYS) {
    ++driver.send_errors;
    log->debug("dht: send failed peer={} reason={}", s.to.to_string(), uv_error(rc));
    return;
  }
  if (driver.queued_send_bytes + s.bytes.size() > kMaxQueuedSendBytes) {
    ++driver.send_dropped;
    return;
  }
  auto* req = new SendReq{{}, this, std::move(s.bytes)};
  req->req.data = req;
  buf = uv_buf_init(reinterpret_cast<char*>(req->data.data()),
                    static_cast<unsigned>(req->data.size()));
  rc = uv_udp_send(&req->req, &udp, &buf, 1, sa, on_send);
  if (rc != 0) {
    ++driver.send_errors;
    delete req;
    return;
  }
  ++driver.send_queued;
  driver.queued_send_bytes += req->data.size();
}

void Dht::Impl::add_handle() {
  std::lock_guard<std::mutex> g(mu);
  ++open_handles;
}

void Dht::Impl::shutdown_on_loop() {
  if (running) {
    running = false;
    // Listens first, so the replicas hear we are gone (one best-effort
    // datagram each) before the socket closes.
    int64_t now = now_us();
    for (auto& [h, l] : listens) core->cancel_listen(l.token, now);
    // Holds simply end: a release needs a lookup and a round trip that a
    // closing socket cannot wait for, so their leases run out at the
    // replicas (release_hold first to free them at once).
    SendDatagram s;
    while (core->poll_action(s)) send(s);
    auto done = std::move(pending);
    pending.clear();
    auto ls = std::move(listens);
    listens.clear();
    listen_by_token.clear();
    for (auto& [t, fn] : done) {
      DoneEvent ev{t, cancelled("the DHT stopped"), 0};
      if (fn) fn(ev);
    }
    for (auto& [h, l] : ls)
      if (l.ended) l.ended(cancelled("the DHT stopped"));
    auto hs = std::move(holds);
    holds.clear();
    hold_by_token.clear();
    for (auto& [h, held] : hs) {
      if (held.acquired) {
        held.acquired(cancelled("the DHT stopped"));
      } else if (held.lost) {
        held.lost(cancelled("the DHT stopped"));
      }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&udp), on_closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), on_closed);
  }
  std::lock_guard<std::mutex> g(mu);
  if (state != State::kStarting) state = State::kStopped;
  cv.notify_all();
}

void Dht::Impl::on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* self = static_cast<Impl*>(h->data);
  *buf = uv_buf_init(reinterpret_cast<char*>(self->recv_buffer.get()), kRecvBufferBytes);
}

void Dht::Impl::on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
                        unsigned flags) {
  auto* self = static_cast<Impl*>(h->data);
  if (n < 0) {
    ++self->driver.recv_errors;
    return;
  }
  if (n == 0 || addr == nullptr || !self->running) return;
  if (flags & UV_UDP_PARTIAL) {  // cut to the buffer: cannot authenticate anyway
    ++self->driver.recv_truncated;
    return;
  }
  auto from = from_sockaddr(addr);
  if (!from) return;
  self->core->on_datagram(
      *from, ByteView(reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n)),
      now_us());
  self->drain();
}

void Dht::Impl::on_send(uv_udp_send_t* req, int status) {
  auto* r = static_cast<SendReq*>(req->data);
  Impl* self = r->impl;
  self->driver.queued_send_bytes -= r->data.size();
  if (status < 0 && status != UV_ECANCELED) ++self->driver.send_errors;
  delete r;
}

void Dht::Impl::on_closed(uv_handle_t* h) {
  auto* self = static_cast<Impl*>(h->data);
  std::lock_guard<std::mutex> g(self->mu);
  --self->open_handles;
  self->cv.notify_all();
}

}  // namespace chorus::dht
