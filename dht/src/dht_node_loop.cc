// The driver's loop side: after every input the core's output is drained
// (datagrams to the socket, events to the callbacks) and its timer re-armed.
#include <spdlog/sinks/stdout_color_sinks.h>

#include "dht_node_impl.h"

namespace chorus::dht {

// Unix time in ms: what datagram nonces carry (DhtCore::set_wall_clock).
int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::shared_ptr<spdlog::logger> dht_logger() {
  static std::mutex mu;
  std::lock_guard<std::mutex> g(mu);
  auto log = spdlog::get("dht");
  if (!log) log = spdlog::stderr_color_mt("dht");
  return log;
}

void Dht::Impl::drain() {
  for (int round = 0; round < kMaxDrainRounds && running; ++round) {
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
    uv_timer_start(&timer, on_timer, static_cast<uint64_t>((wait_us + kUsPerMs - 1) / kUsPerMs), 0);
  } else {
    uv_timer_stop(&timer);
  }
}

void Dht::Impl::dispatch(DhtEvent& e) {
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

void Dht::Impl::dispatch_hold(HoldEvent& ev) {
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

void Dht::Impl::submit(std::function<Token(DhtCore&, int64_t)> begin, DoneFn done) {
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

Error Dht::Impl::not_running() {
  std::lock_guard<std::mutex> g(mu);
  if (state == State::kCreated || state == State::kStarting)
    return invalid_argument("the DHT is not started");
  return cancelled("the DHT is stopped");
}

size_t Dht::Impl::learn(const overlay::PeerInfo& p) {
  if (p.listen_port == 0) return 0;  // initiate-only: nothing to reach
  core->add_contact(make_contact(p.key, Address{p.remote.host, p.listen_port}), now_us());
  return 1;
}

void Dht::Impl::on_peer(const overlay::PublicKey& key, bool up) {
  if (!up || !running || !options.learn_from_overlay) return;
  for (const auto& p : node.peers()) {
    if (p.key != key) continue;
    learn(p);
    drain();
    return;
  }
}

void Dht::Impl::on_timer(uv_timer_t* t) {
  auto* self = static_cast<Impl*>(t->data);
  if (!self->running) return;
  const int64_t now = now_us();
  self->core->set_wall_clock(wall_ms(), now);
  self->core->on_timer(now);
  self->drain();
}

}  // namespace chorus::dht
