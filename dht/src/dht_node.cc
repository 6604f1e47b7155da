// The libuv driver of DhtCore: a UDP socket and a timer on an overlay node's
// loop. It only moves datagrams and time in and completions out; every
// protocol decision lives in the core.
#include "chorus/dht/dht.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <unordered_map>

#include "chorus/overlay/random.h"

namespace chorus::dht {
namespace {

constexpr size_t kRecvBufferBytes = 64 * 1024;
// Asked of the kernel; it caps these at net.core.{r,w}mem_max. Bursts of a
// few hundred operations' RPCs must not overflow the default ~200 KiB.
constexpr int kSocketBufferBytes = 4 << 20;
constexpr auto kLoopWait = std::chrono::seconds(10);

int64_t now_us() {
  return static_cast<int64_t>(uv_hrtime() / 1000);
}

// Unix time in ms: what datagram nonces carry (DhtCore::set_wall_clock).
int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string uv_error(int code) {
  return std::string(uv_err_name(code)) + ": " + uv_strerror(code);
}

int to_sockaddr(const Address& a, sockaddr_storage& ss) {
  if (a.host.find(':') != std::string::npos) {
    return uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&ss));
  }
  return uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&ss));
}

std::optional<Address> from_sockaddr(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    uv_ip4_name(a, host, sizeof host);
    return Address{host, ntohs(a->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    uv_ip6_name(a, host, sizeof host);
    return Address{host, ntohs(a->sin6_port)};
  }
  return std::nullopt;
}

bool is_loopback(const std::string& host) {
  return host.rfind("127.", 0) == 0 || host == "::1" || host == "localhost";
}

std::shared_ptr<spdlog::logger> dht_logger() {
  static std::mutex mu;
  std::lock_guard<std::mutex> g(mu);
  auto log = spdlog::get("dht");
  if (!log) log = spdlog::stderr_color_mt("dht");
  return log;
}

using DoneFn = std::function<void(DoneEvent&)>;

// A completion travelling to the loop inside a posted task. If the node
// drops the task (it is stopping), the last copy's destructor still
// completes it, so every callback fires exactly once.
struct PendingDone {
  DoneFn fn;
  explicit PendingDone(DoneFn f) : fn(std::move(f)) {}
  PendingDone(const PendingDone&) = delete;
  PendingDone& operator=(const PendingDone&) = delete;
  ~PendingDone() {
    if (!fn) return;
    DoneEvent ev{0, cancelled("the node stopped before the DHT ran the command"), 0};
    fn(ev);
  }
  DoneFn take() { return std::exchange(fn, nullptr); }
};

}  // namespace

struct Dht::Impl : std::enable_shared_from_this<Impl> {
  struct SendReq {
    uv_udp_send_t req;
    Impl* impl;
    Bytes data;
  };
  struct Listening {
    Token token = 0;
    ListenCallback on_change;
    std::function<void(Error)> ended;
  };
  struct Holding {
    Token token = 0;
    std::function<void(Result<HoldGrant>)> acquired;  // emptied once run
    std::function<void(Error)> lost;
  };
  // Where the Dht is in its life; guarded by `mu`.
  enum class State { kCreated, kStarting, kRunning, kStopped };

  overlay::Node& node;
  DhtOptions options;
  uint64_t tag = 0;
  std::shared_ptr<spdlog::logger> log = dht_logger();

  // ---- loop thread only
  uv_loop_t* loop = nullptr;
  uv_udp_t udp{};
  uv_timer_t timer{};
  bool running = false;  // bound and serving; false again once shut down
  std::unique_ptr<DhtCore> core;
  std::unordered_map<Token, DoneFn> pending;
  std::unordered_map<ListenHandle, Listening> listens;
  std::unordered_map<Token, ListenHandle> listen_by_token;
  std::unordered_map<HoldHandle, Holding> holds;
  std::unordered_map<Token, HoldHandle> hold_by_token;
  std::unique_ptr<uint8_t[]> recv_buffer{new uint8_t[kRecvBufferBytes]};
  DhtDriverStats driver;

  // ---- any thread
  std::mutex mu;
  std::condition_variable cv;
  State state = State::kCreated;
  int open_handles = 0;
  std::optional<Address> bound;
  std::atomic<ListenHandle> next_listen{1};
  std::atomic<HoldHandle> next_hold{1};

  Impl(overlay::Node& n, DhtOptions o) : node(n), options(std::move(o)) {}

  // ------------------------------------------------------------ loop side

  void drain() {
    for (int round = 0; round < 1000 && running; ++round) {
      bool any = false;
      SendDatagram s;
      while (core->poll_action(s)) {
        any = true;
        send(s);
      }
      DhtEvent e;
      while (running && core->poll_event(e)) {
        any = true;
        dispatch(e);
      }
      if (!any) break;
    }
    if (!running) return;
    if (auto at = core->next_timer_us()) {
      int64_t wait_us = std::max<int64_t>(0, *at - now_us());
      uv_timer_start(&timer, on_timer, static_cast<uint64_t>((wait_us + 999) / 1000), 0);
    } else {
      uv_timer_stop(&timer);
    }
  }

  void dispatch(DhtEvent& e) {
    if (auto* d = std::get_if<DoneEvent>(&e)) {
      if (auto it = pending.find(d->token); it != pending.end()) {
        DoneFn fn = std::move(it->second);
        pending.erase(it);
        if (fn) fn(*d);
        return;
      }
      // A listen that failed: the core ends it with a DoneEvent.
      if (auto it = listen_by_token.find(d->token); it != listen_by_token.end()) {
        auto l = listens.find(it->second);
        listen_by_token.erase(it);
        if (l == listens.end()) return;
        auto ended = std::move(l->second.ended);
        listens.erase(l);
        if (ended) ended(d->result ? cancelled("listen ended") : d->result.error());
      }
      return;
    }
    if (auto* h = std::get_if<HoldEvent>(&e)) return dispatch_hold(*h);
    auto& ev = std::get<ListenEvent>(e);
    auto it = listen_by_token.find(ev.listen);
    if (it == listen_by_token.end()) return;
    auto l = listens.find(it->second);
    if (l != listens.end() && l->second.on_change) l->second.on_change(ev);
  }

  void dispatch_hold(HoldEvent& ev) {
    auto by_token = hold_by_token.find(ev.hold);
    if (by_token == hold_by_token.end()) return;
    auto it = holds.find(by_token->second);
    if (it == holds.end()) return;
    Holding& h = it->second;
    if (ev.kind == HoldEvent::Kind::kAcquired) {
      if (auto fn = std::exchange(h.acquired, nullptr))
        fn(HoldGrant{ev.fencing_token, ev.remaining_ms});
      return;
    }
    Holding ended = std::move(h);
    holds.erase(it);
    hold_by_token.erase(by_token);
    Error reason = ev.reason ? *ev.reason : cancelled("hold ended");
    if (ended.acquired) {
      ended.acquired(std::move(reason));
    } else if (ended.lost) {
      ended.lost(std::move(reason));
    }
  }

  void send(SendDatagram& s) {
    sockaddr_storage ss{};
    if (int rc = to_sockaddr(s.to, ss); rc != 0) {
      ++driver.send_errors;
      log->debug("dht: bad address {}: {}", s.to.to_string(), uv_error(rc));
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
      log->debug("dht: send to {} failed: {}", s.to.to_string(), uv_error(rc));
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

  // Runs `begin` against the core on the loop and routes its DoneEvent to
  // `done`. Always through post, so `done` never runs inside the caller.
  void submit(std::function<Token(DhtCore&, int64_t)> begin, DoneFn done) {
    auto guard = std::make_shared<PendingDone>(std::move(done));
    node.post([self = shared_from_this(), begin = std::move(begin), guard]() mutable {
      DoneFn fn = guard->take();
      if (!self->running) {
        DoneEvent ev{0, self->not_running(), 0};
        if (fn) fn(ev);
        return;
      }
      Token t = begin(*self->core, now_us());
      self->pending[t] = std::move(fn);
      self->drain();
    });
  }

  Error not_running() {
    std::lock_guard<std::mutex> g(mu);
    if (state == State::kCreated || state == State::kStarting)
      return invalid_argument("the DHT is not started");
    return cancelled("the DHT is stopped");
  }

  Result<Address> start_on_loop() {
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

    core = std::make_unique<DhtCore>(node.identity(), config.read_only ? Address{} : addr, config,
                                     now_us());
    core->set_wall_clock(wall_ms(), now_us());
    running = true;

    int64_t now = now_us();
    for (const Address& b : options.bootstrap) {
      Token t = core->bootstrap(b, now);
      pending[t] = [log = log, b](DoneEvent& ev) {
        if (!ev.result)
          log->info("dht: bootstrap from {}: {}", b.to_string(), ev.result.error().to_string());
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

  size_t learn(const overlay::PeerInfo& p) {
    if (p.listen_port == 0) return 0;  // initiate-only: nothing to reach
    core->add_contact(make_contact(p.key, Address{p.remote.host, p.listen_port}), now_us());
    return 1;
  }

  void on_peer(const overlay::PublicKey& key, bool up) {
    if (!up || !running || !options.learn_from_overlay) return;
    for (const auto& p : node.peers()) {
      if (p.key != key) continue;
      learn(p);
      drain();
      return;
    }
  }

  void add_handle() {
    std::lock_guard<std::mutex> g(mu);
    ++open_handles;
  }

  // Ends everything: from stop() through post, or from the node's stopping
  // hook. Idempotent.
  void shutdown_on_loop() {
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

  // ------------------------------------------------------------ libuv callbacks

  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    if (!self->running) return;
    const int64_t now = now_us();
    self->core->set_wall_clock(wall_ms(), now);
    self->core->on_timer(now);
    self->drain();
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    auto* self = static_cast<Impl*>(h->data);
    *buf = uv_buf_init(reinterpret_cast<char*>(self->recv_buffer.get()), kRecvBufferBytes);
  }

  static void on_recv(uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* addr,
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

  static void on_send(uv_udp_send_t* req, int status) {
    auto* r = static_cast<SendReq*>(req->data);
    Impl* self = r->impl;
    self->driver.queued_send_bytes -= r->data.size();
    if (status < 0 && status != UV_ECANCELED) ++self->driver.send_errors;
    delete r;
  }

  static void on_closed(uv_handle_t* h) {
    auto* self = static_cast<Impl*>(h->data);
    std::lock_guard<std::mutex> g(self->mu);
    --self->open_handles;
    self->cv.notify_all();
  }
};

// ------------------------------------------------------------------ Dht

Dht::Dht(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Dht>> Dht::create(overlay::Node& node, DhtOptions options) {
  auto impl = std::make_shared<Impl>(node, std::move(options));
  if (impl->options.owner_tag) {
    impl->tag = *impl->options.owner_tag;
  } else {
    overlay::Random random;
    impl->tag = random.next_u64();
  }
  overlay::LoopHooks hooks;
  // The hooks own the Impl too: the node may run them after the Dht is gone.
  hooks.started = [impl](uv_loop_s* loop) { impl->loop = loop; };
  hooks.stopping = [impl] { impl->shutdown_on_loop(); };
  hooks.peer = [impl](const overlay::PublicKey& key, bool up, const std::string&) {
    impl->on_peer(key, up);
  };
  if (auto r = node.add_loop_hooks(std::move(hooks)); !r) {
    return invalid_argument("Dht::create must come before the node starts");
  }
  return std::unique_ptr<Dht>(new Dht(std::move(impl)));
}

Dht::~Dht() {
  stop();
}

Result<void> Dht::start() {
  Impl& m = *impl_;
  if (m.node.on_loop_thread()) return invalid_argument("Dht::start on the loop thread");
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (m.state != Impl::State::kCreated) return invalid_argument("the DHT was already started");
    m.state = Impl::State::kStarting;
  }
  auto p = std::make_shared<std::promise<Result<Address>>>();
  auto f = p->get_future();
  // If the node drops the task (it is stopping), the promise, which only the
  // task holds, breaks and the wait ends at once.
  m.node.post([self = impl_, p = std::move(p)] { p->set_value(self->start_on_loop()); });
  std::optional<Result<Address>> r;
  if (f.wait_for(kLoopWait) == std::future_status::ready) {
    try {
      r = f.get();
    } catch (const std::future_error&) {
      r = Result<Address>(cancelled("the node stopped before the DHT started"));
    }
  }
  std::lock_guard<std::mutex> g(m.mu);
  if (!r) {
    m.state = Impl::State::kStopped;  // start_on_loop, if it ever runs, does nothing
    return timed_out("the node's loop did not run Dht::start (is the node started?)");
  }
  if (!*r) {
    m.state = Impl::State::kCreated;
    return r->error();
  }
  if (m.state == Impl::State::kStarting) m.state = Impl::State::kRunning;
  m.bound = r->value();
  return {};
}

void Dht::stop() {
  Impl& m = *impl_;
  if (m.node.on_loop_thread()) {  // cannot wait for the loop on the loop: close and go
    m.shutdown_on_loop();
    return;
  }
  {
    std::unique_lock<std::mutex> g(m.mu);
    if (m.state == Impl::State::kCreated || m.state == Impl::State::kStarting) {
      m.state = Impl::State::kStopped;
    }
    if (m.state == Impl::State::kStopped && m.open_handles == 0) return;
  }
  // Dropped if the node is stopping: its stopping hook does the same work.
  m.node.post([self = impl_] { self->shutdown_on_loop(); });
  std::unique_lock<std::mutex> g(m.mu);
  if (!m.cv.wait_for(g, kLoopWait,
                     [&] { return m.state == Impl::State::kStopped && m.open_handles == 0; })) {
    m.log->error("dht: the node's loop did not close the DHT's handles");
  }
}

std::optional<Address> Dht::address() const {
  std::lock_guard<std::mutex> g(impl_->mu);
  return impl_->bound;
}

uint64_t Dht::owner_tag() const {
  return impl_->tag;
}

namespace {
DoneFn plain(Callback done) {
  return [done = std::move(done)](DoneEvent& ev) {
    if (done) done(std::move(ev.result));
  };
}
DoneFn with_version(CasCallback done) {
  return [done = std::move(done)](DoneEvent& ev) {
    if (done) done(std::move(ev.result), ev.current_version);
  };
}
}  // namespace

void Dht::bootstrap(const Address& address, Callback done) {
  impl_->submit([address](DhtCore& c, int64_t now) { return c.bootstrap(address, now); },
                plain(std::move(done)));
}

void Dht::find_node(const NodeId& target, Callback done) {
  impl_->submit([target](DhtCore& c, int64_t now) { return c.find_node(target, now); },
                plain(std::move(done)));
}

void Dht::put(const Key& key, Value value, Callback done) {
  impl_->submit([key, value = std::move(value)](
                    DhtCore& c, int64_t now) mutable { return c.put(key, std::move(value), now); },
                plain(std::move(done)));
}

void Dht::put_signed(const Key& key, Bytes data, uint64_t seq, uint32_t ttl_s, Callback done) {
  impl_->submit(
      [key, data = std::move(data), seq, ttl_s](DhtCore& c, int64_t now) mutable {
        return c.put_signed(key, std::move(data), seq, ttl_s, now);
      },
      plain(std::move(done)));
}

void Dht::get(const Key& key, Callback done) {
  impl_->submit([key](DhtCore& c, int64_t now) { return c.get(key, now); }, plain(std::move(done)));
}

void Dht::lock(const Key& key, int64_t lease_ms, Callback done) {
  impl_->submit([key, lease_ms, tag = impl_->tag](
                    DhtCore& c, int64_t now) { return c.lock(key, lease_ms, tag, now); },
                plain(std::move(done)));
}

void Dht::renew(const Key& key, int64_t lease_ms, uint64_t token, Callback done) {
  impl_->submit([key, lease_ms, token, tag = impl_->tag](
                    DhtCore& c, int64_t now) { return c.renew(key, lease_ms, tag, token, now); },
                plain(std::move(done)));
}

void Dht::release(const Key& key, uint64_t token, Callback done) {
  impl_->submit([key, token, tag = impl_->tag](
                    DhtCore& c, int64_t now) { return c.release(key, tag, token, now); },
                plain(std::move(done)));
}

void Dht::compare_and_set(const Key& key, uint64_t expected_version, Bytes data, uint32_t ttl_s,
                          CasCallback done) {
  impl_->submit(
      [key, expected_version, data = std::move(data), ttl_s, tag = impl_->tag](
          DhtCore& c, int64_t now) mutable {
        return c.compare_and_set(key, expected_version, std::move(data), ttl_s, tag, now);
      },
      with_version(std::move(done)));
}

void Dht::apply_diff(const Key& key, uint64_t base_version, Bytes patch, const Hash256& result_hash,
                     uint32_t ttl_s, CasCallback done) {
  impl_->submit(
      [key, base_version, patch = std::move(patch), result_hash, ttl_s, tag = impl_->tag](
          DhtCore& c, int64_t now) mutable {
        return c.apply_diff(key, base_version, std::move(patch), result_hash, ttl_s, tag, now);
      },
      with_version(std::move(done)));
}

ListenHandle Dht::listen(const Key& key, ListenCallback on_change,
                         std::function<void(Error)> ended) {
  ListenHandle h = impl_->next_listen.fetch_add(1);
  // `ended` rides in a PendingDone so a dropped task still reports the end.
  auto guard = std::make_shared<PendingDone>([ended](DoneEvent& ev) {
    if (ended) ended(ev.result ? cancelled("listen ended") : ev.result.error());
  });
  impl_->node.post(
      [self = impl_, h, key, on_change = std::move(on_change), ended, guard]() mutable {
        DoneFn fail = guard->take();
        if (!self->running) {
          DoneEvent ev{0, self->not_running(), 0};
          fail(ev);
          return;
        }
        Token t = self->core->listen(key, now_us());
        self->listens[h] = Impl::Listening{t, std::move(on_change), std::move(ended)};
        self->listen_by_token[t] = h;
        self->drain();
      });
  return h;
}

HoldHandle Dht::hold(const Key& key, int64_t lease_ms,
                     std::function<void(Result<HoldGrant>)> acquired,
                     std::function<void(Error)> lost) {
  HoldHandle h = impl_->next_hold.fetch_add(1);
  // `acquired` rides in a PendingDone so a dropped task still reports.
  auto guard = std::make_shared<PendingDone>([acquired](DoneEvent& ev) {
    if (acquired) acquired(ev.result ? cancelled("hold ended") : ev.result.error());
  });
  impl_->node.post([self = impl_, h, key, lease_ms, acquired = std::move(acquired),
                    lost = std::move(lost), guard]() mutable {
    DoneFn fail = guard->take();
    if (!self->running) {
      DoneEvent ev{0, self->not_running(), 0};
      fail(ev);
      return;
    }
    Token t = self->core->hold(key, lease_ms, self->tag, now_us());
    self->holds[h] = Impl::Holding{t, std::move(acquired), std::move(lost)};
    self->hold_by_token[t] = h;
    self->drain();
  });
  return h;
}

void Dht::release_hold(HoldHandle handle, Callback done) {
  auto guard = std::make_shared<PendingDone>([done](DoneEvent& ev) {
    if (done) done(std::move(ev.result));
  });
  auto release = [self = impl_, handle, guard] {
    DoneFn fn = guard->take();
    // Never inside the call: a completion known at once goes through post
    // (and, dropped by a stopping node, still fires, as kCancelled).
    auto later = [self](DoneFn f, DoneEvent ev) {
      auto g = std::make_shared<PendingDone>(std::move(f));
      self->node.post([g, ev]() mutable {
        if (DoneFn f2 = g->take()) f2(ev);
      });
    };
    auto it = self->holds.find(handle);
    if (!self->running || it == self->holds.end()) {
      later(std::move(fn),
            DoneEvent{0, self->running ? not_found("no such hold") : self->not_running(), 0});
      return;
    }
    Token t = it->second.token;
    self->holds.erase(it);
    self->hold_by_token.erase(t);
    if (Token op = self->core->release_hold(t, now_us()); op != 0) {
      self->pending[op] = std::move(fn);
    } else {
      later(std::move(fn), DoneEvent{0, OpResult{}, 0});
    }
    self->drain();
  };
  // On the loop thread at once, so no callback of the hold runs after this.
  if (impl_->node.on_loop_thread()) return release();
  impl_->node.post(std::move(release));
}

void Dht::cancel(ListenHandle handle) {
  impl_->node.post([self = impl_, handle] {
    auto it = self->listens.find(handle);
    if (it == self->listens.end() || !self->running) return;
    Impl::Listening l = std::move(it->second);
    self->listens.erase(it);
    self->listen_by_token.erase(l.token);
    self->core->cancel_listen(l.token, now_us());
    self->drain();
    if (l.ended) l.ended(cancelled("listen cancelled"));
  });
}

DhtStats Dht::stats() const {
  return impl_->core ? impl_->core->stats() : DhtStats{};
}

DhtDriverStats Dht::driver_stats() const {
  return impl_->driver;
}

size_t Dht::table_size() const {
  return impl_->core ? impl_->core->table().size() : 0;
}

}  // namespace chorus::dht
