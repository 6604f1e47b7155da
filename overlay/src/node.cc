// The libuv driver around a NodeCore: its lifecycle (create, start, stop),
// the loop thread, and each loop turn. It only moves bytes and time in and
// actions out; protocol decisions live in the core. The other parts of the
// driver: node_impl.h.
#include "chorus/overlay/node.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <system_error>

#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/node_secrets.h"
#include "chorus/overlay/uv_helpers.h"
#include "node_impl.h"

namespace chorus::overlay {
namespace {
// Pending connections the kernel keeps for the listener (listen(2) backlog).
constexpr int kListenBacklog = 128;
// Characters of a node's text address that name it in log lines.
constexpr size_t kLogNameChars = 10;
constexpr int64_t kMicrosPerMilli = 1000;
}  // namespace

// ------------------------------------------------------------ the loop turn

void Node::Impl::drain() {
  int64_t now = now_us();
  for (int round = 0; round < kMaxDrainRounds; ++round) {
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
    const int64_t wait_us = std::max<int64_t>(0, *t - now_us());
    // Rounded up: a timer that fires before the deadline only costs a turn.
    const auto wait_ms = static_cast<uint64_t>((wait_us + kMicrosPerMilli - 1) / kMicrosPerMilli);
    uv_timer_start(&timer, on_timer, wait_ms, 0);
  } else {
    uv_timer_stop(&timer);
  }
}

void Node::Impl::run_deferred() {
  for (int round = 0; round < kMaxDrainRounds && !deferred.empty(); ++round) {
    auto run = std::move(deferred);
    deferred.clear();
    for (auto& fn : run) fn();
  }
}

void Node::Impl::shutdown_on_loop() {
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
  end_streams();
  run_deferred();  // completions of commands issued during the stop
  // From here a post() on the loop thread (a close callback's) would never
  // be drained: it goes to stop() instead, which drops it.
  deferred_closed = true;
  std::vector<Conn*> all;
  for (auto& [id, c] : conns) all.push_back(c);
  for (Conn* c : all) close_conn(c);
  if (bound) uv_close(reinterpret_cast<uv_handle_t*>(&listener), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&async), nullptr);
}

void Node::Impl::on_timer(uv_timer_t* t) {
  static_cast<Impl*>(t->data)->core->on_timer(now_us());
}

// Every loop turn, before libuv waits: whatever the turn's callbacks fed
// the core goes out now.
void Node::Impl::on_prepare(uv_prepare_t* p) {
  static_cast<Impl*>(p->data)->drain();
}

// What other threads posted (and stop()'s request) reaches the loop here.
void Node::Impl::on_async(uv_async_t* a) {
  auto* self = static_cast<Impl*>(a->data);
  std::vector<Posted> run;
  bool stop_now = false;
  {
    std::lock_guard<std::mutex> g(self->mu);
    run.swap(self->posted);
    stop_now = self->stopping;
  }
  for (auto& p : run) {
    if (p.run) {
      p.run();
    } else if (p.drop) {
      p.drop();  // a post() made once stop() had begun
    }
  }
  run.clear();
  if (stop_now) self->shutdown_on_loop();
}

// ------------------------------------------------------------ lifecycle

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
  if (options.name.empty())
    options.name = address_to_text(id->public_key()).substr(0, kLogNameChars);
  impl->log = spdlog::get(options.name);
  if (!impl->log) impl->log = spdlog::stderr_color_mt(options.name);
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
  // Which library seals frames is measured once a process (~2 ms a cipher):
  // here, on the caller's thread, rather than on the loop when the first
  // link comes up and every frame waits for it.
  if (cfg.frame_aead_library.empty()) {
    fastest_aead_library(Cipher::kChaCha20Poly1305);
    if (cfg.allow_aes_gcm && aes_gcm_available()) fastest_aead_library(Cipher::kAes256Gcm);
  }
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
    if (rc == 0) {
      rc = uv_listen(reinterpret_cast<uv_stream_t*>(&m.listener), kListenBacklog,
                     Impl::on_connection);
    }
    sockaddr_storage got{};
    int len = sizeof got;
    if (rc == 0) rc = uv_tcp_getsockname(&m.listener, reinterpret_cast<sockaddr*>(&got), &len);
    if (rc != 0) return fail(io_error(where + uv_error(rc)));
    auto a = from_sockaddr(reinterpret_cast<const sockaddr*>(&got));
    if (a) m.bound = *a;
    cfg.listen_port = m.bound ? m.bound->port : 0;
  } else {
    cfg.listen_port = 0;
  }
  m.core = std::make_unique<NodeCore>(m.identity, cfg, now_us());
  for (auto& [app, h] : m.apps) {
    m.core->register_app(app, h.validate_shout != nullptr);
    m.core->set_app_priority(app, h.priority);
  }
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
  std::vector<Impl::Posted> left;
  bool was_started = false;
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (m.stopping) return;
    m.stopping = true;
    was_started = m.started;
    if (was_started) {
      uv_async_send(&m.async);
    } else {
      left.swap(m.posted);
    }
  }
  if (was_started) {
    if (m.thread.joinable()) m.thread.join();
    m.loop_id = std::thread::id{};
    uv_loop_close(&m.loop);
    // Commands that arrived after the loop's last look fail now (kCancelled).
    std::lock_guard<std::mutex> g(m.mu);
    left.swap(m.posted);
    m.stopped = true;
  }
  // Never started, commands queued for the first turn are dropped unrun.
  if (was_started) {
    std::lock_guard<std::mutex> g(m.after_stop_mu);
    for (auto& p : left)
      if (!p.drop) p.run();
    m.run_deferred();
  }
  // post()s end with their if_dropped, outside the lock: it may call the
  // node (which then runs the command on this thread).
  for (auto& p : left)
    if (p.drop) p.drop();
  if (was_started) m.log->info("node stopped");
}

// ------------------------------------------------------------ accessors

const PublicKey& Node::key() const {
  return impl_->identity.public_key();
}

std::optional<SocketAddress> Node::listen_address() const {
  return impl_->bound;
}

Result<void> Node::add_loop_hooks(LoopHooks hooks) {
  std::lock_guard<std::mutex> g(impl_->mu);
  if (impl_->started || impl_->stopping) return invalid_argument("add_loop_hooks after start()");
  impl_->hooks.push_back(std::move(hooks));
  return {};
}

bool Node::on_loop_thread() const {
  return impl_->on_loop();
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

const Identity& detail::NodeSecrets::identity(const Node& node) {
  return node.impl_->identity;
}

}  // namespace chorus::overlay
