// The thread-safe command API: each command is posted, in order, to the loop
// thread (run at once when called on it), calls the core there, and its
// completion comes back through the core's events (track) or the next drain
// (deferred), never inside the call. After stop() a command runs on the
// caller's thread against the shut-down core, so its completion still fires.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "chorus/overlay/uv_helpers.h"
#include "node_impl.h"

namespace chorus::overlay {
namespace {

// How long register_app / unregister_app wait for the loop to answer; a
// loop that does not answer in this time is stopping (or wedged by an app).
constexpr auto kLoopAnswerWait = std::chrono::seconds(10);

// A WHISPER's completion carries the ACK's hash; both whisper and whisper_via
// hand it to the caller as a Hash256.
std::function<void(CompletionEvent&)> ack_hash_to(WhisperCallback done) {
  return [done = std::move(done)](CompletionEvent& ev) {
    if (!done) return;
    if (!ev.result) return done(ev.result.error());
    Hash256 h{};
    std::copy_n(ev.result->begin(), std::min(h.size(), ev.result->size()), h.begin());
    done(h);
  };
}

// A completion that carries nothing but success or the error.
std::function<void(CompletionEvent&)> done_to(DoneCallback done) {
  return [done = std::move(done)](CompletionEvent& ev) {
    if (!done) return;
    if (!ev.result) return done(ev.result.error());
    done(Result<void>());
  };
}

// A completion that carries a request's response.
std::function<void(CompletionEvent&)> reply_to(ReplyCallback done) {
  return [done = std::move(done)](CompletionEvent& ev) {
    if (done) done(std::move(ev.result));
  };
}

// What a command the app gave up on completes with.
constexpr const char* kCancelledByApp = "cancelled by the app";

}  // namespace

// ------------------------------------------------------------ plumbing

void Node::Impl::run_on_loop(std::function<void()> fn, bool droppable) {
  if (on_loop()) {
    fn();
    return;
  }
  {
    std::lock_guard<std::mutex> g(mu);
    if (!stopping) {
      posted.push_back({std::move(fn), {}});  // before start: runs at start
      if (started) uv_async_send(&async);
      return;
    }
    if (droppable || !started) return;
    if (!stopped) {
      posted.push_back({std::move(fn), {}});  // stop() runs it once the loop has exited
      return;
    }
  }
  std::lock_guard<std::mutex> g(after_stop_mu);
  fn();
  run_deferred();
}

void Node::Impl::track(Result<Token> r, std::function<void(CompletionEvent&)> fn) {
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

void Node::Impl::control(std::function<Result<void>()> op, DoneCallback done) {
  run_on_loop([this, op = std::move(op), done = std::move(done)]() mutable {
    auto r = op();
    if (done) deferred.push_back([r, done = std::move(done)] { done(r); });
  });
}

void Node::Impl::check_waiters() {
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

void Node::post(std::function<void()> fn, std::function<void()> if_dropped) {
  Impl& m = *impl_;
  if (m.on_loop() && !m.deferred_closed) {
    m.deferred.push_back(std::move(fn));  // later, never inside the caller
    return;
  }
  // Never empty: stop() tells a post from a command by it.
  std::function<void()> dropped = if_dropped ? std::move(if_dropped) : [] {};
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (!m.stopping) {
      m.posted.push_back({std::move(fn), std::move(dropped)});  // before start: runs at start
      if (m.started) uv_async_send(&m.async);
      return;
    }
    if (m.started && !m.stopped) {
      // The loop's last turn, or stop() once the loop has exited, drops it.
      m.posted.push_back({nullptr, std::move(dropped)});
      return;
    }
  }
  dropped();  // stopped already: here, before returning
}

// ------------------------------------------------------------ apps and peers

Result<void> Node::register_app(AppId app, AppHandlers handlers) {
  if (app == kOverlayApp) return invalid_argument("app id 0 is the overlay's own");
  if (handlers.on_shout && handlers.validate_shout) {
    return invalid_argument("give on_shout or validate_shout, not both");
  }
  Impl& m = *impl_;
  {
    std::lock_guard<std::mutex> g(m.mu);
    if (!m.started) {
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
    const AppPriority priority = h->priority;
    m.apps[app] = std::move(*h);
    m.core->register_app(app, validate);
    m.core->set_app_priority(app, priority);
    done->set_value(true);
  });
  if (fut.wait_for(kLoopAnswerWait) != std::future_status::ready) {
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
    m.core->set_app_priority(app, AppPriority::kNormal);
    done->set_value(Result<void>());
  });
  if (fut.wait_for(kLoopAnswerWait) != std::future_status::ready) {
    return cancelled("node stopped before the app was unregistered");
  }
  return fut.get();
}

void Node::on_peer(PeerCallback callback) {
  impl_->run_on_loop(
      [m = impl_.get(), cb = std::move(callback)]() mutable { m->peer_callback = std::move(cb); });
}

void Node::add_peer(const SocketAddress& address) {
  impl_->run_on_loop(
      [m = impl_.get(), address] { m->core->add_peer_address(address, std::nullopt); });
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

void Node::when_writable(const PublicKey& peer, size_t below_bytes, std::function<void()> fn) {
  impl_->run_on_loop([m = impl_.get(), peer, below_bytes, fn = std::move(fn)]() mutable {
    m->waiters.push_back({peer, below_bytes, std::move(fn)});
  });
}

// ------------------------------------------------------------ messages

void Node::shout(AppId app, Bytes payload, DoneCallback done) {
  impl_->run_on_loop(
      [m = impl_.get(), app, p = std::move(payload), done = std::move(done)]() mutable {
        auto r = m->core->shout(app, p, now_us());
        if (done) m->deferred.push_back([r, done = std::move(done)] { done(r); });
      });
}

PendingCommand Node::speak(AppId app, Bytes payload, SpeakOptions options, DoneCallback done) {
  return PendingCommand(impl_->command(
      [m = impl_.get(), app, p = std::move(payload), options] {
        return m->core->speak(app, p, options.to, options.ack, now_us());
      },
      done_to(std::move(done))));
}

PendingCommand Node::whisper(AppId app, const PublicKey& to, Bytes payload, bool encrypt,
                             WhisperCallback done) {
  return PendingCommand(
      impl_->command([m = impl_.get(), app, to, p = std::move(payload),
                      encrypt] { return m->core->whisper(app, to, p, encrypt, now_us()); },
                     ack_hash_to(std::move(done))));
}

PendingCommand Node::whisper_via(AppId app, const PublicKey& relay, const PublicKey& to,
                                 Bytes payload, WhisperCallback done) {
  return PendingCommand(impl_->command(
      [m = impl_.get(), app, relay, to, p = std::move(payload)] {
        return m->core->whisper_via(app, relay, to, p, now_us());
      },
      ack_hash_to(std::move(done))));
}

PendingCommand Node::request(AppId app, const PublicKey& to, Bytes payload, RequestOptions options,
                             ReplyCallback done) {
  return PendingCommand(impl_->command(
      [m = impl_.get(), app, to, p = std::move(payload), options] {
        return m->core->request(app, to, p, options.encrypt, options.timeout_ms, now_us());
      },
      reply_to(std::move(done))));
}

PendingCommand Node::request_via(AppId app, const PublicKey& relay, const PublicKey& to,
                                 Bytes payload, int64_t timeout_ms, ReplyCallback done) {
  return PendingCommand(impl_->command(
      [m = impl_.get(), app, relay, to, p = std::move(payload), timeout_ms] {
        return m->core->request_via(app, relay, to, p, timeout_ms, now_us());
      },
      reply_to(std::move(done))));
}

PendingCommand Node::connect(const SocketAddress& address, const PublicKey& key,
                             DoneCallback done) {
  return PendingCommand(impl_->command(
      [m = impl_.get(), address, key] { return m->core->connect(address, key, now_us()); },
      done_to(std::move(done))));
}

PendingCommand Node::ping(const PublicKey& to, PingCallback done) {
  return PendingCommand(
      impl_->command([m = impl_.get(), to] { return m->core->ping(to, now_us()); },
                     [done = std::move(done)](CompletionEvent& ev) {
                       if (!done) return;
                       if (!ev.result) return done(ev.result.error());
                       done(ev.rtt_us);
                     }));
}

// ------------------------------------------------------------ PendingCommand

std::shared_ptr<detail::CommandState> Node::Impl::command(
    std::function<Result<Token>()> op, std::function<void(CompletionEvent&)> fn) {
  auto s = std::make_shared<detail::CommandState>(anchor);
  run_on_loop([this, s, op = std::move(op), fn = std::move(fn)]() mutable {
    if (s->cancel_requested) return track(cancelled(kCancelledByApp), std::move(fn));
    auto r = op();
    if (r) s->token = *r;
    track(std::move(r), std::move(fn));
  });
  return s;
}

void PendingCommand::cancel() {
  if (!s_ || s_->cancel_requested.exchange(true)) return;
  auto a = s_->anchor.lock();
  if (!a) return;
  std::lock_guard<std::mutex> g(a->mu);
  if (!a->node) return;
  Node::Impl* m = a->node->impl_.get();
  // Not issued yet: the command sees the flag and completes kCancelled
  // itself. Completed already: the core says kNotFound, and nothing runs.
  // Dropped at stop: the stop cancels every command anyway.
  m->run_on_loop(
      [m, s = s_] {
        if (s->token != 0) (void)m->core->cancel(s->token, kCancelledByApp, now_us());
      },
      /*droppable=*/true);
}

}  // namespace chorus::overlay
