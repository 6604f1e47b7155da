// The libuv driver: sockets, timer and thread around a NodeCore. It only
// moves bytes and time in and actions out; protocol decisions live in the core.
#include "chorus/overlay/node.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <uv.h>

#include <atomic>
#include <future>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace chorus::overlay {
namespace {

constexpr size_t kReadBufferBytes = 256 * 1024;

int64_t now_us() {
  return static_cast<int64_t>(uv_hrtime() / 1000);
}

std::string uv_error(int code) {
  return std::string(uv_err_name(code)) + ": " + uv_strerror(code);
}

Result<SocketAddress> from_sockaddr(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    uv_ip4_name(a, host, sizeof host);
    return SocketAddress{host, ntohs(a->sin_port)};
  }
  if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    uv_ip6_name(a, host, sizeof host);
    return SocketAddress{host, ntohs(a->sin6_port)};
  }
  return invalid_argument("unknown address family");
}

int to_sockaddr(const SocketAddress& a, sockaddr_storage& ss) {
  if (a.host.find(':') != std::string::npos) {
    return uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&ss));
  }
  return uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&ss));
}

}  // namespace

namespace detail {
// The weak handle of Responders: it outlives the node only as long as some
// Responder holds it, and `node` turns null when the node is destroyed (a
// Responder holds `mu` while it uses the node, so the node waits for it).
struct NodeAnchor {
  std::mutex mu;
  Node* node = nullptr;
};
}  // namespace detail

struct Node::Impl {
  struct Conn {
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    Impl* impl = nullptr;
    LinkId link = 0;
    bool closing = false;
  };
  struct WriteReq {
    uv_write_t req;
    Impl* impl;
    LinkId link;
    Bytes data;
  };
  struct Callback {
    std::function<void(CompletionEvent&)> fn;
  };
  // A run_work() job: `work` on a pool thread, `done` back on the loop.
  struct WorkJob {
    uv_work_t req;
    Impl* impl = nullptr;
    std::function<void()> work;
    DoneCallback done;
    std::optional<std::string> failure;  // what() of an exception from `work`
  };

  std::shared_ptr<detail::NodeAnchor> anchor = std::make_shared<detail::NodeAnchor>();
  NodeOptions options;
  Identity identity;
  std::shared_ptr<spdlog::logger> log;

  uv_loop_t loop{};
  uv_tcp_t listener{};
  uv_timer_t timer{};
  uv_prepare_t prepare{};
  uv_async_t async{};
  std::thread thread;
  std::atomic<std::thread::id> loop_id{};
  std::optional<SocketAddress> bound;
  std::unique_ptr<NodeCore> core;
  std::unordered_map<LinkId, Conn*> conns;
  std::unordered_map<Token, std::function<void(CompletionEvent&)>> callbacks;
  std::unordered_map<AppId, AppHandlers> apps;
  PeerCallback peer_callback;
  std::vector<LoopHooks> hooks;                 // fixed once started
  std::vector<std::function<void()>> deferred;  // run on the next drain
  struct Waiter {
    PublicKey peer;
    size_t below;
    std::function<void()> fn;
  };
  std::vector<Waiter> waiters;  // when_writable
  std::unique_ptr<uint8_t[]> read_buffer{new uint8_t[kReadBufferBytes]};
  bool read_buffer_busy = false;
  std::unordered_set<WorkJob*> jobs;  // queued or running (loop thread)
  bool work_closed = false;           // shutdown began: no new jobs

  std::mutex mu;  // guards `posted`, `started`, `stopping`, `stopped`
  std::vector<std::function<void()>> posted;
  bool started = false;
  bool stopping = false;
  bool stopped = false;      // the loop thread has exited
  std::mutex after_stop_mu;  // serialises commands run after stop()

  explicit Impl(Identity id) : identity(std::move(id)) {}

  // ------------------------------------------------------------ loop side

  void drain() {
    int64_t now = now_us();
    for (int round = 0; round < 1000; ++round) {
      core->flush(now);
      bool any = false;
      Action a;
      while (core->poll_action(a)) {
        any = true;
        handle(a);
      }
      Event e;
      while (core->poll_event(e)) {
        any = true;
        dispatch(e);
      }
      if (!waiters.empty()) check_waiters();
      if (!deferred.empty()) {
        any = true;
        auto run = std::move(deferred);
        deferred.clear();
        for (auto& fn : run) fn();
      }
      if (!any) break;
      now = now_us();
    }
    if (auto t = core->next_timer_us()) {
      int64_t wait_us = std::max<int64_t>(0, *t - now_us());
      uv_timer_start(&timer, on_timer, static_cast<uint64_t>((wait_us + 999) / 1000), 0);
    } else {
      uv_timer_stop(&timer);
    }
  }

  void check_waiters() {
    for (size_t i = 0; i < waiters.size();) {
      if (core->queued_bytes(waiters[i].peer) <= waiters[i].below) {
        deferred.push_back(std::move(waiters[i].fn));
        waiters[i] = std::move(waiters.back());
        waiters.pop_back();
      } else {
        ++i;
      }
    }
  }

  void handle(Action& a) {
    if (auto* c = std::get_if<ConnectAction>(&a)) return do_connect(*c);
    if (auto* s = std::get_if<SendAction>(&a)) return do_send(*s);
    if (auto* x = std::get_if<CloseAction>(&a)) {
      auto it = conns.find(x->link);
      if (it == conns.end()) return;
      log->info("closing link {}: {}", x->link, x->reason);
      close_conn(it->second);
    }
  }

  void do_connect(const ConnectAction& c) {
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
      log->debug("connect to {} failed: {}", c.to.to_string(), uv_error(rc));
      core->on_connect_failed(c.link, uv_error(rc), now_us());
      close_conn(conn);
    }
  }

  void do_send(SendAction& s) {
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

  void close_conn(Conn* conn) {
    if (conn->closing) return;
    conn->closing = true;
    conns.erase(conn->link);
    uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp),
             [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
  }

  void dispatch(Event& e) {
    if (auto* s = std::get_if<ShoutEvent>(&e)) {
      auto it = apps.find(s->app);
      const ShoutInfo info{s->app,
                           s->origin,
                           s->shout_id,
                           s->from,
                           s->payload,
                           s->content_addressed,
                           s->content_addressed ? &s->content_id : nullptr};
      if (s->verdict != 0) {
        // Held for the app's verdict: now (the return value) or later.
        ShoutDecision d = ShoutDecision::kForward;
        if (it != apps.end() && it->second.validate_shout) {
          d = it->second.validate_shout(info, ShoutVerdict(anchor, s->verdict));
        }
        if (d != ShoutDecision::kLater) (void)core->shout_verdict(s->verdict, d, now_us());
      } else if (it != apps.end() && it->second.on_shout) {
        it->second.on_shout(info);
      }
    } else if (auto* sp = std::get_if<SpeakEvent>(&e)) {
      auto it = apps.find(sp->msg.app);
      if (it != apps.end() && it->second.on_speak) {
        SpeakDecision d = it->second.on_speak(
            SpeakInfo{sp->msg.app, sp->from, sp->msg.origin, sp->msg.hops_left, sp->msg.payload});
        if (d == SpeakDecision::kForward) core->forward_speak(*sp, now_us());
      }
    } else if (auto* w = std::get_if<WhisperEvent>(&e)) {
      auto it = apps.find(w->app);
      Responder r;
      if (w->is_request) r = Responder(anchor, w->app, w->from, w->request_id, w->link);
      if (it != apps.end() && it->second.on_whisper) {
        it->second.on_whisper(WhisperInfo{w->app, w->from, w->payload, w->encrypted, w->is_request,
                                          w->relay ? &*w->relay : nullptr},
                              std::move(r));
      }
      // Without a handler, `r` is dropped here: the requester gets its NACK.
    } else if (auto* c = std::get_if<CompletionEvent>(&e)) {
      auto it = callbacks.find(c->token);
      if (it == callbacks.end()) return;
      auto fn = std::move(it->second);
      callbacks.erase(it);
      if (fn) fn(*c);
    } else if (auto* p = std::get_if<PeerEvent>(&e)) {
      if (p->connected) {
        log->debug("peer up {}", address_to_text(p->peer).substr(0, 12));
      } else {
        log->info("peer down {}: {}", address_to_text(p->peer).substr(0, 12), p->reason);
      }
      if (peer_callback) peer_callback(p->peer, p->connected, p->reason);
      for (auto& h : hooks)
        if (h.peer) h.peer(p->peer, p->connected, p->reason);
    }
  }

  // Registers `fn` for `token`, or reports `r`'s error on the next drain.
  void track(Result<Token> r, std::function<void(CompletionEvent&)> fn) {
    if (!r) {
      Error err = r.error();
      deferred.push_back([fn = std::move(fn), err]() mutable {
        CompletionEvent ev{0, err, 0};
        if (fn) fn(ev);
      });
      return;
    }
    if (*r == 0) {  // no completion will come (SPEAK without ACK)
      deferred.push_back([fn = std::move(fn)]() mutable {
        CompletionEvent ev{0, Bytes{}, 0};
        if (fn) fn(ev);
      });
      return;
    }
    callbacks[*r] = std::move(fn);
  }

  // A Responder's answer. On the loop thread it is sent at once (the core's
  // errors come back); off it, it is queued unless the node is stopping.
  Result<void> respond(AppId app, const PublicKey& to, uint32_t id, LinkId link, Bytes payload,
                       bool encrypt) {
    if (std::this_thread::get_id() == loop_id) {
      return core->respond(app, to, id, payload, encrypt, now_us(), link);
    }
    {
      std::lock_guard<std::mutex> g(mu);
      if (stopping || !started) return cancelled("node stopped");
    }
    run_on_loop([this, app, to, id, link, p = std::move(payload), encrypt] {
      auto r = core->respond(app, to, id, p, encrypt, now_us(), link);
      if (!r) log->info("response not sent: {}", r.error().to_string());
    });
    return {};
  }

  // A Responder dropped unanswered: NACK code 9 to the requester.
  void refuse_request(AppId app, const PublicKey& to, uint32_t id, LinkId link) {
    auto fn = [this, app, to, id, link] {
      auto r = core->reject(to, id, link, NackCode::kNoResponse,
                            "request dropped unanswered by app " + std::to_string(app), now_us());
      if (!r) log->debug("unanswered request not refused: {}", r.error().to_string());
    };
    if (std::this_thread::get_id() == loop_id) return fn();
    run_on_loop(std::move(fn), /*droppable=*/true);
  }

  // Runs a peer-control call of the core on the loop; `done` gets its result.
  void control(std::function<Result<void>()> op, DoneCallback done) {
    run_on_loop([this, op = std::move(op), done = std::move(done)]() mutable {
      auto r = op();
      if (done) deferred.push_back([r, done = std::move(done)] { done(r); });
    });
  }

  // `droppable` (post): dropped once stop() began. Commands are not: after
  // the loop has exited they run on the caller's thread against the shut-down
  // core, which fails them, so their completions still fire (kCancelled).
  void run_on_loop(std::function<void()> fn, bool droppable = false) {
    if (std::this_thread::get_id() == loop_id) {
      fn();
      return;
    }
    {
      std::lock_guard<std::mutex> g(mu);
      if (!stopping) {
        posted.push_back(std::move(fn));  // before start: runs at start
        if (started) uv_async_send(&async);
        return;
      }
      if (droppable || !started) return;
      if (!stopped) {
        posted.push_back(std::move(fn));  // stop() runs it once the loop has exited
        return;
      }
    }
    std::lock_guard<std::mutex> g(after_stop_mu);
    fn();
    run_deferred();
  }

  void run_deferred() {
    for (int round = 0; round < 1000 && !deferred.empty(); ++round) {
      auto run = std::move(deferred);
      deferred.clear();
      for (auto& fn : run) fn();
    }
  }

  // Loop thread (or, after stop, the thread running the command).
  void start_work(std::function<void()> work, DoneCallback done) {
    auto finish_later = [this, &done](Result<void> r) {
      if (done) deferred.push_back([r = std::move(r), done = std::move(done)] { done(r); });
    };
    if (work_closed) return finish_later(cancelled("node stopped"));
    if (jobs.size() >= options.max_work_jobs) {
      return finish_later(limit_exceeded("run_work: " + std::to_string(options.max_work_jobs) +
                                         " jobs already queued or running"));
    }
    auto* job = new WorkJob;
    job->req.data = job;
    job->impl = this;
    job->work = std::move(work);
    job->done = std::move(done);
    if (int rc = uv_queue_work(&loop, &job->req, on_work, on_work_done); rc != 0) {
      done = std::move(job->done);
      delete job;
      return finish_later(io_error("run_work: " + uv_error(rc)));
    }
    jobs.insert(job);
  }

  // A pool thread.
  static void on_work(uv_work_t* req) {
    auto* job = static_cast<WorkJob*>(req->data);
    try {
      if (job->work) job->work();
    } catch (const std::exception& e) {
      job->failure = e.what();
    } catch (...) {
      job->failure = "unknown exception";
    }
  }

  // The loop thread, once per job: after it ran, or after uv_cancel. The
  // loop (and so stop()) does not end while a job is queued or running.
  static void on_work_done(uv_work_t* req, int status) {
    std::unique_ptr<WorkJob> job(static_cast<WorkJob*>(req->data));
    job->impl->jobs.erase(job.get());
    Result<void> r;
    if (status == UV_ECANCELED) {
      r = cancelled("node stopped before the work started");
    } else if (status != 0) {
      r = io_error("run_work: " + uv_error(status));
    } else if (job->failure) {
      r = io_error("run_work: the work threw: " + *job->failure);
    }
    job->work = nullptr;
    if (job->done) job->done(r);
  }

  void shutdown_on_loop() {
    // First, so a hook still sees a live node and its handles close in the
    // same drain as ours.
    for (auto& h : hooks)
      if (h.stopping) h.stopping();
    // Jobs not started yet end kCancelled; running ones keep the loop (and
    // so stop()) until they finish.
    work_closed = true;
    for (WorkJob* job : jobs) uv_cancel(reinterpret_cast<uv_req_t*>(&job->req));
    core->shutdown("node stopping");
    drain();
    for (auto& [token, fn] : callbacks) {
      CompletionEvent ev{token, cancelled("node stopped"), 0};
      if (fn) fn(ev);
    }
    callbacks.clear();
    run_deferred();  // completions of commands issued during the stop
    std::vector<Conn*> all;
    for (auto& [id, c] : conns) all.push_back(c);
    for (Conn* c : all) close_conn(c);
    if (bound) uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&prepare), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
  }

  // ------------------------------------------------------------ libuv callbacks

  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    self->core->on_timer(now_us());
  }

  static void on_prepare(uv_prepare_t* p) { static_cast<Impl*>(p->data)->drain(); }

  static void on_async(uv_async_t* a) {
    auto* self = static_cast<Impl*>(a->data);
    std::vector<std::function<void()>> run;
    bool stop_now = false;
    {
      std::lock_guard<std::mutex> g(self->mu);
      run.swap(self->posted);
      stop_now = self->stopping;
    }
    for (auto& fn : run) fn();
    if (stop_now) self->shutdown_on_loop();
  }

  static void on_connection(uv_stream_t* server, int status) {
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
      uv_close(reinterpret_cast<uv_handle_t*>(&conn->tcp),
               [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
      return;
    }
    set_nodelay(conn);
    sockaddr_storage ss{};
    int len = sizeof ss;
    uv_tcp_getpeername(&conn->tcp, reinterpret_cast<sockaddr*>(&ss), &len);
    auto remote = from_sockaddr(ss);
    SocketAddress addr = remote ? *remote : SocketAddress{"0.0.0.0", 0};
    conn->link = self->core->on_accepted(addr, now_us());
    self->conns[conn->link] = conn;
    self->start_reading(conn);
  }

  static void on_connect(uv_connect_t* req, int status) {
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

  // A link that cannot read is closed like one that failed to read.
  void start_reading(Conn* conn) {
    int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&conn->tcp), on_alloc, on_read);
    if (rc == 0 || conn->closing) return;
    core->on_closed(conn->link, "cannot read: " + uv_error(rc), now_us());
    close_conn(conn);
  }

  // Only latency is lost without it, so the link goes on.
  static void set_nodelay(Conn* conn) {
    if (int rc = uv_tcp_nodelay(&conn->tcp, 1); rc != 0)
      conn->impl->log->debug("link {}: TCP_NODELAY: {}", conn->link, uv_error(rc));
  }

  static void on_alloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
    Impl* self = static_cast<Conn*>(h->data)->impl;
    if (self->read_buffer_busy) {  // cannot happen on one thread; be safe anyway
      *buf = uv_buf_init(nullptr, 0);
      return;
    }
    self->read_buffer_busy = true;
    *buf = uv_buf_init(reinterpret_cast<char*>(self->read_buffer.get()), kReadBufferBytes);
  }

  static void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
    auto* conn = static_cast<Conn*>(s->data);
    Impl* self = conn->impl;
    if (buf->base == reinterpret_cast<char*>(self->read_buffer.get()))
      self->read_buffer_busy = false;
    if (conn->closing) return;
    if (n > 0) {
      self->core->on_bytes(
          conn->link,
          std::span<uint8_t>(reinterpret_cast<uint8_t*>(buf->base), static_cast<size_t>(n)),
          now_us());
    } else if (n < 0) {
      std::string reason =
          n == UV_EOF ? "peer closed the connection" : uv_error(static_cast<int>(n));
      self->log->debug("link {} closed: {}", conn->link, reason);
      self->core->on_closed(conn->link, reason, now_us());
      self->close_conn(conn);
    }
  }

  static void on_write(uv_write_t* req, int status) {
    auto* w = static_cast<WriteReq*>(req->data);
    Impl* self = w->impl;
    if (self->core) {
      self->core->on_sent(w->link, w->data.size(), now_us());
      if (status < 0 && status != UV_ECANCELED) {
        self->core->on_closed(w->link, "write failed: " + uv_error(status), now_us());
        auto it = self->conns.find(w->link);
        if (it != self->conns.end()) self->close_conn(it->second);
      }
    }
    delete w;
  }
};

// ------------------------------------------------------------------ Node

Node::Node(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->anchor->node = this;
}

Result<std::unique_ptr<Node>> Node::create(NodeOptions options) {
  if (auto v = options.overlay.validate(); !v) return v.error();
  std::optional<Identity> id;
  if (!options.key_file.empty()) {
    auto loaded = Identity::load_or_create(options.key_file);
    if (!loaded) return loaded.error();
    id = *loaded;
  } else if (options.identity) {
    id = *options.identity;
  } else {
    id = Identity::generate();
  }
  auto impl = std::make_unique<Impl>(*id);
  if (options.name.empty()) options.name = address_to_text(id->public_key()).substr(0, 10);
  impl->log = spdlog::get(options.name);
  if (!impl->log) {
    impl->log = spdlog::stderr_color_mt(options.name);
  }
  impl->options = std::move(options);
  return std::unique_ptr<Node>(new Node(std::move(impl)));
}

Node::~Node() {
  {
    // Responders kept by the app from now on answer kCancelled; one in
    // the middle of a call finishes it first.
    std::lock_guard<std::mutex> g(impl_->anchor->mu);
    impl_->anchor->node = nullptr;
  }
  stop();
}

Result<void> Node::start() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (m.started || m.stopping) return invalid_argument("node already started");
  }
  // The loop costs descriptors (epoll, eventfd, signal pipe): when the
  // open-files limit is reached, this is where a node fails first. libuv
  // has undone a failed init, so there is nothing to close.
  if (int rc = uv_loop_init(&m.loop); rc != 0) {
    return io_error("cannot create the node's event loop: " + uv_error(rc));
  }
  // Closes what was initialised (uv_walk sees only initialised handles, so a
  // handle whose init failed or never ran is not touched) and the loop.
  auto fail = [&m](Error e) -> Result<void> {
    uv_walk(
        &m.loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&m.loop, UV_RUN_DEFAULT);
    uv_loop_close(&m.loop);
    m.bound.reset();
    m.core.reset();
    return e;
  };
  OverlayConfig cfg = m.options.overlay;
  if (m.options.listen) {
    const std::string where = "cannot listen on " + m.options.listen->to_string() + ": ";
    sockaddr_storage ss{};
    if (int rc = to_sockaddr(*m.options.listen, ss); rc != 0) {
      return fail(io_error(where + uv_error(rc)));
    }
    if (int rc = uv_tcp_init(&m.loop, &m.listener); rc != 0) {
      return fail(io_error(where + uv_error(rc)));
    }
    m.listener.data = impl_.get();
    int rc = uv_tcp_bind(&m.listener, reinterpret_cast<sockaddr*>(&ss), 0);
    if (rc == 0)
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&m.listener), 128, Impl::on_connection);
    sockaddr_storage got{};
    int len = sizeof got;
    if (rc == 0) rc = uv_tcp_getsockname(&m.listener, reinterpret_cast<sockaddr*>(&got), &len);
    if (rc != 0) return fail(io_error(where + uv_error(rc)));
    auto a = from_sockaddr(got);
    if (a) m.bound = *a;
    cfg.listen_port = m.bound ? m.bound->port : 0;
  } else {
    cfg.listen_port = 0;
  }
  m.core = std::make_unique<NodeCore>(m.identity, cfg, now_us());
  for (auto& [app, h] : m.apps) m.core->register_app(app, h.validate_shout != nullptr);
  int rc = uv_timer_init(&m.loop, &m.timer);
  m.timer.data = impl_.get();
  if (rc == 0) rc = uv_prepare_init(&m.loop, &m.prepare);
  m.prepare.data = impl_.get();
  if (rc == 0) rc = uv_prepare_start(&m.prepare, Impl::on_prepare);
  if (rc == 0) rc = uv_async_init(&m.loop, &m.async, Impl::on_async);
  m.async.data = impl_.get();
  if (rc != 0) return fail(io_error("cannot set up the node's loop: " + uv_error(rc)));
  // Commands posted before start() run in the loop's first turn, before any
  // link can come up (an on_peer callback must not miss the first peer).
  {
    std::lock_guard<std::mutex> g(m.mu);
    m.started = true;
    if (!m.posted.empty()) uv_async_send(&m.async);
  }
  try {
    m.thread = std::thread([&m] {
      m.loop_id = std::this_thread::get_id();
      for (auto& h : m.hooks)
        if (h.started) h.started(&m.loop);
      m.core->on_timer(now_us());
      m.drain();
      uv_run(&m.loop, UV_RUN_DEFAULT);
    });
  } catch (const std::system_error& e) {  // out of threads, or of memory for a stack
    {
      std::lock_guard<std::mutex> g(m.mu);  // no uv_async_send once the handle closes
      m.started = false;
    }
    return fail(io_error(std::string("cannot start the node's loop thread: ") + e.what()));
  }
  m.log->info("node {} started{}", address_to_text(m.identity.public_key()),
              m.bound ? " on " + m.bound->to_string() : " (initiate-only)");
  return {};
}

void Node::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (!m.started || m.stopping) {
      m.stopping = true;
      return;
    }
    m.stopping = true;
    uv_async_send(&m.async);
  }
  if (m.thread.joinable()) m.thread.join();
  m.loop_id = std::thread::id{};
  uv_loop_close(&m.loop);
  // Commands that arrived after the loop's last look fail now (kCancelled).
  std::vector<std::function<void()>> left;
  {
    std::lock_guard<std::mutex> g(m.mu);
    left.swap(m.posted);
    m.stopped = true;
  }
  {
    std::lock_guard<std::mutex> g(m.after_stop_mu);
    for (auto& fn : left) fn();
    m.run_deferred();
  }
  m.log->info("node stopped");
}

const PublicKey& Node::key() const {
  return impl_->identity.public_key();
}
const Identity& Node::identity() const {
  return impl_->identity;
}

Result<void> Node::add_loop_hooks(LoopHooks hooks) {
  std::lock_guard<std::mutex> g(impl_->mu);
  if (impl_->started || impl_->stopping) return invalid_argument("add_loop_hooks after start()");
  impl_->hooks.push_back(std::move(hooks));
  return {};
}
std::optional<SocketAddress> Node::listen_address() const {
  return impl_->bound;
}

Result<void> Node::register_app(AppId app, AppHandlers handlers) {
  if (app == kOverlayApp) return invalid_argument("app id 0 is the overlay's own");
  if (handlers.on_shout && handlers.validate_shout) {
    return invalid_argument("give on_shout or validate_shout, not both");
  }
  Impl& m = *impl_;
  bool running;
  {
    std::lock_guard<std::mutex> g(m.mu);
    running = m.started;
    if (!running) {
      if (m.apps.count(app)) return Error(ErrorCode::kExists, "app id already registered");
      m.apps[app] = std::move(handlers);
      return {};
    }
  }
  auto done = std::make_shared<std::promise<bool>>();
  auto fut = done->get_future();
  auto h = std::make_shared<AppHandlers>(std::move(handlers));
  m.run_on_loop([&m, app, h, done] {
    if (m.apps.count(app)) {
      done->set_value(false);
      return;
    }
    const bool validate = h->validate_shout != nullptr;
    m.apps[app] = std::move(*h);
    m.core->register_app(app, validate);
    done->set_value(true);
  });
  if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return cancelled("node stopped before the app was registered");
  }
  if (!fut.get()) return Error(ErrorCode::kExists, "app id already registered");
  return {};
}

Result<void> Node::unregister_app(AppId app) {
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (!m.started) {
      if (m.apps.erase(app) == 0) return not_found("app id not registered");
      return {};
    }
  }
  auto done = std::make_shared<std::promise<Result<void>>>();
  auto fut = done->get_future();
  m.run_on_loop([&m, app, done] {
    auto it = m.apps.find(app);
    if (it == m.apps.end()) {
      done->set_value(not_found("app id not registered"));
      return;
    }
    // One of its handlers may be running (and calling this): keep the
    // handlers where they are until it has returned, then destroy them.
    auto handlers = std::make_shared<decltype(m.apps)::node_type>(m.apps.extract(it));
    m.deferred.push_back([handlers] {});
    m.core->unregister_app(app);
    done->set_value(Result<void>());
  });
  if (fut.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    return cancelled("node stopped before the app was unregistered");
  }
  return fut.get();
}

void Node::penalize(const PublicKey& peer, int score, std::string reason, DoneCallback done) {
  impl_->control(
      [m = impl_.get(), peer, score, reason = std::move(reason)] {
        return m->core->penalize(peer, score, reason, now_us());
      },
      std::move(done));
}

void Node::ban(const PublicKey& peer, int64_t duration_ms, DoneCallback done) {
  impl_->control(
      [m = impl_.get(), peer, duration_ms] {
        return m->core->ban(peer, duration_ms, "by the application", now_us());
      },
      std::move(done));
}

void Node::unban(const PublicKey& peer, DoneCallback done) {
  impl_->control([m = impl_.get(), peer] { return m->core->unban(peer, now_us()); },
                 std::move(done));
}

void Node::disconnect(const PublicKey& peer, std::string reason, DoneCallback done) {
  impl_->control(
      [m = impl_.get(), peer, reason = std::move(reason)] {
        return m->core->disconnect(peer, reason, now_us());
      },
      std::move(done));
}

void Node::on_peer(PeerCallback callback) {
  impl_->run_on_loop(
      [m = impl_.get(), cb = std::move(callback)]() mutable { m->peer_callback = std::move(cb); });
}

void Node::add_peer(const SocketAddress& address) {
  impl_->run_on_loop(
      [m = impl_.get(), address] { m->core->add_peer_address(address, std::nullopt); });
}

void Node::shout(AppId app, Bytes payload, DoneCallback done) {
  impl_->run_on_loop(
      [m = impl_.get(), app, p = std::move(payload), done = std::move(done)]() mutable {
        auto r = m->core->shout(app, p, now_us());
        if (done) m->deferred.push_back([r, done = std::move(done)] { done(r); });
      });
}

void Node::speak(AppId app, Bytes payload, SpeakOptions options, DoneCallback done) {
  impl_->run_on_loop(
      [m = impl_.get(), app, p = std::move(payload), options, done = std::move(done)]() mutable {
        auto r = m->core->speak(app, p, options.to, options.ack, now_us());
        m->track(std::move(r), [done = std::move(done)](CompletionEvent& ev) {
          if (!done) return;
          if (ev.result) {
            done(Result<void>());
          } else {
            done(ev.result.error());
          }
        });
      });
}

// A WHISPER's completion carries the ACK's hash; both whisper and whisper_via
// hand it to the caller as a Hash256.
static std::function<void(CompletionEvent&)> ack_hash_to(WhisperCallback done) {
  return [done = std::move(done)](CompletionEvent& ev) {
    if (!done) return;
    if (!ev.result) return done(ev.result.error());
    Hash256 h{};
    std::copy_n(ev.result->begin(), std::min(h.size(), ev.result->size()), h.begin());
    done(h);
  };
}

void Node::whisper(AppId app, const PublicKey& to, Bytes payload, bool encrypt,
                   WhisperCallback done) {
  impl_->run_on_loop([m = impl_.get(), app, to, p = std::move(payload), encrypt,
                      done = std::move(done)]() mutable {
    auto r = m->core->whisper(app, to, p, encrypt, now_us());
    m->track(std::move(r), ack_hash_to(std::move(done)));
  });
}

void Node::whisper_via(AppId app, const PublicKey& relay, const PublicKey& to, Bytes payload,
                       WhisperCallback done) {
  impl_->run_on_loop(
      [m = impl_.get(), app, relay, to, p = std::move(payload), done = std::move(done)]() mutable {
        auto r = m->core->whisper_via(app, relay, to, p, now_us());
        m->track(std::move(r), ack_hash_to(std::move(done)));
      });
}

void Node::request_via(AppId app, const PublicKey& relay, const PublicKey& to, Bytes payload,
                       int64_t timeout_ms, ReplyCallback done) {
  impl_->run_on_loop([m = impl_.get(), app, relay, to, p = std::move(payload), timeout_ms,
                      done = std::move(done)]() mutable {
    auto r = m->core->request_via(app, relay, to, p, timeout_ms, now_us());
    m->track(std::move(r), [done = std::move(done)](CompletionEvent& ev) {
      if (done) done(std::move(ev.result));
    });
  });
}

void Node::connect(const SocketAddress& address, const PublicKey& key, DoneCallback done) {
  impl_->run_on_loop([m = impl_.get(), address, key, done = std::move(done)]() mutable {
    auto r = m->core->connect(address, key, now_us());
    m->track(std::move(r), [done = std::move(done)](CompletionEvent& ev) {
      if (!done) return;
      if (!ev.result) return done(ev.result.error());
      done(Result<void>());
    });
  });
}

void Node::request(AppId app, const PublicKey& to, Bytes payload, RequestOptions options,
                   ReplyCallback done) {
  impl_->run_on_loop([m = impl_.get(), app, to, p = std::move(payload), options,
                      done = std::move(done)]() mutable {
    auto r = m->core->request(app, to, p, options.encrypt, options.timeout_ms, now_us());
    m->track(std::move(r), [done = std::move(done)](CompletionEvent& ev) {
      if (done) done(std::move(ev.result));
    });
  });
}

void Node::ping(const PublicKey& to, PingCallback done) {
  impl_->run_on_loop([m = impl_.get(), to, done = std::move(done)]() mutable {
    auto r = m->core->ping(to, now_us());
    m->track(std::move(r), [done = std::move(done)](CompletionEvent& ev) {
      if (!done) return;
      if (!ev.result) return done(ev.result.error());
      done(ev.rtt_us);
    });
  });
}

Responder::Responder(Responder&& other) noexcept
    : node_(std::move(other.node_)),
      app_(other.app_),
      to_(other.to_),
      id_(other.id_),
      link_(other.link_),
      armed_(std::exchange(other.armed_, false)),
      answered_(other.answered_) {}

Responder& Responder::operator=(Responder&& other) noexcept {
  if (this != &other) {
    drop();
    node_ = std::move(other.node_);
    app_ = other.app_;
    to_ = other.to_;
    id_ = other.id_;
    link_ = other.link_;
    armed_ = std::exchange(other.armed_, false);
    answered_ = other.answered_;
  }
  return *this;
}

Responder::~Responder() {
  drop();
}

Result<void> Responder::reply(Bytes payload, bool encrypt) {
  if (!armed_) return invalid_argument(answered_ ? "request already answered" : "not a request");
  armed_ = false;
  answered_ = true;
  auto anchor = node_.lock();
  if (!anchor) return cancelled("node destroyed");
  std::lock_guard<std::mutex> g(anchor->mu);
  if (!anchor->node) return cancelled("node destroyed");
  return anchor->node->impl_->respond(app_, to_, id_, link_, std::move(payload), encrypt);
}

void Responder::drop() noexcept {
  if (!armed_) return;
  armed_ = false;
  auto anchor = node_.lock();
  if (!anchor) return;
  std::lock_guard<std::mutex> g(anchor->mu);
  if (!anchor->node) return;
  try {
    anchor->node->impl_->refuse_request(app_, to_, id_, link_);
  } catch (...) {  // out of memory: the requester times out instead
  }
}

void ShoutVerdict::resolve(ShoutDecision decision) {
  if (!armed_ || decision == ShoutDecision::kLater) return;
  armed_ = false;
  auto anchor = node_.lock();
  if (!anchor) return;  // the node is gone: its held SHOUTs went with it
  std::lock_guard<std::mutex> g(anchor->mu);
  if (!anchor->node) return;
  Node::Impl* m = anchor->node->impl_.get();
  m->run_on_loop([m, id = id_, decision] {
    // kNotFound: timed out (counted as drop) or answered already.
    (void)m->core->shout_verdict(id, decision, now_us());
  });
}

void Node::when_writable(const PublicKey& peer, size_t below_bytes, std::function<void()> fn) {
  impl_->run_on_loop([m = impl_.get(), peer, below_bytes, fn = std::move(fn)]() mutable {
    m->waiters.push_back({peer, below_bytes, std::move(fn)});
  });
}

void Node::post(std::function<void()> fn) {
  if (on_loop_thread()) {
    impl_->deferred.push_back(std::move(fn));  // later, never inside the caller
    return;
  }
  impl_->run_on_loop(std::move(fn), /*droppable=*/true);
}
void Node::run_work(std::function<void()> work, DoneCallback done) {
  impl_->run_on_loop([m = impl_.get(), work = std::move(work), done = std::move(done)]() mutable {
    m->start_work(std::move(work), std::move(done));
  });
}

bool Node::on_loop_thread() const {
  return std::this_thread::get_id() == impl_->loop_id;
}

std::vector<PeerInfo> Node::peers() const {
  return impl_->core->peers();
}
NodeStats Node::stats() const {
  return impl_->core->stats();
}
size_t Node::queued_bytes(const PublicKey& peer) const {
  return impl_->core->queued_bytes(peer);
}
size_t Node::seen_cache_size() const {
  return impl_->core->seen_cache_size();
}

}  // namespace chorus::overlay
