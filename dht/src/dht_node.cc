// chorus::dht::Dht, the public side of the libuv driver: every command is
// posted to the node's loop and runs there against the DhtCore
// (dht_node_loop.cc); start and stop wait for the loop (dht_node_udp.cc).
#include <future>

#include "chorus/overlay/random.h"
#include "dht_node_impl.h"

namespace chorus::dht {

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
