// The libuv-side glue of Reach: it sequences Dht and Node commands (record
// lookup, dial, send) and keeps our own record published. What a record
// says and which route it offers are decided by the pure functions of
// node_record.cc; relaying itself is the overlay core's (node_core.cc).
#include "chorus/dht/reach.h"

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>

namespace chorus::dht {
namespace {

constexpr auto kLoopWait = std::chrono::seconds(10);

uint64_t wall_clock_us() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

bool unspecified(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

// A send that failed this way through one relay may succeed through another:
// it was refused (NACK) or never left, so it cannot have been delivered.
bool try_another_relay(const Error& e) {
  return e.code() == ErrorCode::kRefused || e.code() == ErrorCode::kNotFound ||
         e.code() == ErrorCode::kIo;
}

}  // namespace

struct Reach::Impl : std::enable_shared_from_this<Impl> {
  struct Op {
    overlay::AppId app = 0;
    PublicKey to{};
    Bytes payload;
    bool request = false;
    int64_t timeout_ms = 0;
    overlay::WhisperCallback on_ack;
    overlay::ReplyCallback on_reply;
    std::vector<Route> routes;
    size_t next = 0;
    std::optional<Error> last;  // why the previous route failed
  };

  overlay::Node& node;
  Dht& dht;
  ReachOptions options;
  std::atomic<bool> started{false};  // start() succeeded; any thread

  // ---- loop thread only
  uv_loop_t* loop = nullptr;
  uv_timer_t* timer = nullptr;  // freed by its close callback
  bool running = false;
  bool stopped = false;
  bool publishing = false;
  bool dirty = false;             // the relay set changed while a put was in flight
  std::vector<PublicKey> relays;  // of the record last put (or being put)
  uint64_t last_seq = 0;
  size_t ops = 0;

  Impl(overlay::Node& n, Dht& d, ReachOptions o) : node(n), dht(d), options(std::move(o)) {}

  // ------------------------------------------------------------ publishing

  Result<NodeRecord> current_record(std::vector<PublicKey>& keys) const {
    NodeRecord rec;
    if (auto a = node.listen_address(); a && !unspecified(a->host)) {
      rec.kind = NodeRecord::Kind::kListening;
      rec.entries.push_back(make_contact(node.key(), *a));
      return rec;
    }
    rec.kind = NodeRecord::Kind::kRelayed;
    for (const auto& p : node.peers()) {
      if (p.listen_port == 0 || unspecified(p.remote.host)) continue;
      rec.entries.push_back(make_contact(p.key, Address{p.remote.host, p.listen_port}));
    }
    std::sort(rec.entries.begin(), rec.entries.end(),
              [](const Contact& a, const Contact& b) { return a.key < b.key; });
    const size_t max = std::min(options.max_relays, kMaxRecordRelays);
    if (rec.entries.size() > max) rec.entries.resize(max);
    if (rec.entries.empty()) return not_found("initiate-only and no relay linked yet");
    for (const Contact& c : rec.entries) keys.push_back(c.key);
    return rec;
  }

  void publish_now(std::function<void(Result<void>)> done) {
    if (!running) {
      if (done) done(cancelled("Reach is stopped"));
      return;
    }
    std::vector<PublicKey> keys;
    auto rec = current_record(keys);
    Result<Bytes> bytes = rec ? encode_node_record(*rec) : Result<Bytes>(rec.error());
    if (!bytes) {
      if (done) done(bytes.error());
      return;
    }
    publishing = true;
    relays = keys;
    // Replicas keep the highest sequence: the wall clock keeps it rising
    // across restarts with the same key file.
    last_seq = std::max(last_seq + 1, wall_clock_us());
    dht.put_signed(node_record_key(node.key()), std::move(*bytes), last_seq, options.record_ttl_s,
                   [self = shared_from_this(), done = std::move(done)](Result<OpResult> r) {
                     self->publishing = false;
                     if (done) done(r ? Result<void>() : Result<void>(r.error()));
                     if (self->dirty && self->running) {
                       self->dirty = false;
                       self->publish_now({});
                     }
                   });
  }

  // Publishes unless a put is already in flight (then once it is done).
  void republish() {
    if (!running || !options.publish) return;
    if (publishing) {
      dirty = true;
      return;
    }
    publish_now({});
  }

  void on_peer() {
    if (!running || !options.publish) return;
    if (auto a = node.listen_address(); a && !unspecified(a->host)) return;
    std::vector<PublicKey> keys;
    (void)current_record(keys);
    if (keys != relays) republish();
  }

  static void on_timer(uv_timer_t* t) { static_cast<Impl*>(t->data)->republish(); }

  Result<void> start_on_loop() {
    if (stopped) return cancelled("Reach is stopped");
    if (running) return invalid_argument("Reach already started");
    if (!loop) return invalid_argument("the node's loop is not running");
    running = true;
    timer = new uv_timer_t;
    uv_timer_init(loop, timer);
    timer->data = this;
    const auto every = static_cast<uint64_t>(options.republish_interval_ms);
    uv_timer_start(timer, on_timer, every, every);
    republish();
    return {};
  }

  void shutdown_on_loop() {
    running = false;
    stopped = true;
    if (timer) {
      uv_close(reinterpret_cast<uv_handle_t*>(timer),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer = nullptr;
    }
  }

  // ------------------------------------------------------------ sending

  bool is_peer(const PublicKey& key) const {
    for (const auto& p : node.peers())
      if (p.key == key) return true;
    return false;
  }

  void fail(const std::shared_ptr<Op>& op, Error e) {
    --ops;
    if (op->request) {
      if (op->on_reply) op->on_reply(std::move(e));
    } else if (op->on_ack) {
      op->on_ack(std::move(e));
    }
  }

  void begin(std::shared_ptr<Op> op) {
    if (!running) return fail(op, cancelled("Reach is not running"));
    if (ops >= options.max_operations) {
      ++ops;
      return fail(op, limit_exceeded("too many sends in progress (max_operations)"));
    }
    ++ops;
    if (op->to == node.key()) return fail(op, invalid_argument("cannot reach ourselves"));
    if (is_peer(op->to)) return send(op, Route{op->to, {}, std::nullopt});
    dht.get(node_record_key(op->to), [self = shared_from_this(), op](Result<OpResult> r) {
      self->on_record(op, std::move(r));
    });
  }

  void on_record(const std::shared_ptr<Op>& op, Result<OpResult> r) {
    if (!running) return fail(op, cancelled("Reach stopped"));
    if (!r && r.error().code() == ErrorCode::kCancelled) return fail(op, r.error());
    if (r) {
      if (auto rec = pick_node_record(op->to, r->signed_values)) {
        op->routes = routes_from(*rec, op->to, node.key(),
                                 [this](const PublicKey& k) { return is_peer(k); });
        if (!op->routes.empty()) return try_next(op);
      }
    }
    // No (usable) record: a listening node may still be in the DHT itself.
    dht.find_node(make_contact(op->to, {}).id,
                  [self = shared_from_this(), op](Result<OpResult> found) {
                    self->on_contacts(op, std::move(found));
                  });
  }

  void on_contacts(const std::shared_ptr<Op>& op, Result<OpResult> r) {
    if (!running) return fail(op, cancelled("Reach stopped"));
    if (r) {
      for (const Contact& c : r->closest) {
        if (c.key != op->to) continue;
        op->routes = {Route{op->to, c.address, std::nullopt}};
        return try_next(op);
      }
    } else if (r.error().code() == ErrorCode::kCancelled) {
      return fail(op, r.error());
    }
    fail(op,
         not_found("no node record and no DHT contact for " + overlay::address_to_text(op->to)));
  }

  void try_next(const std::shared_ptr<Op>& op) {
    if (!running) return fail(op, cancelled("Reach stopped"));
    if (op->next >= op->routes.size()) {
      return fail(op,
                  op->last.value_or(not_found("no route to " + overlay::address_to_text(op->to))));
    }
    Route route = op->routes[op->next++];
    node.connect(route.address, route.dial_key,
                 [self = shared_from_this(), op, route](Result<void> r) {
                   if (!r) {
                     if (r.error().code() == ErrorCode::kCancelled)
                       return self->fail(op, r.error());
                     op->last = r.error();
                     return self->try_next(op);
                   }
                   self->send(op, route);
                 });
  }

  void send(const std::shared_ptr<Op>& op, const Route& route) {
    if (!running) return fail(op, cancelled("Reach stopped"));
    auto self = shared_from_this();
    const bool relayed = route.relay.has_value();
    if (op->request) {
      overlay::ReplyCallback done = [self, op, relayed](Result<Bytes> r) {
        if (!r && relayed && self->running && try_another_relay(r.error())) {
          op->last = r.error();
          return self->try_next(op);
        }
        --self->ops;
        if (op->on_reply) op->on_reply(std::move(r));
      };
      if (relayed) {
        node.request_via(op->app, *route.relay, op->to, op->payload, op->timeout_ms,
                         std::move(done));
      } else {
        node.request(op->app, op->to, op->payload, {op->timeout_ms, true}, std::move(done));
      }
      return;
    }
    overlay::WhisperCallback done = [self, op, relayed](Result<Hash256> r) {
      if (!r && relayed && self->running && try_another_relay(r.error())) {
        op->last = r.error();
        return self->try_next(op);
      }
      --self->ops;
      if (op->on_ack) op->on_ack(std::move(r));
    };
    if (relayed) {
      node.whisper_via(op->app, *route.relay, op->to, op->payload, std::move(done));
    } else {
      node.whisper(op->app, op->to, op->payload, true, std::move(done));
    }
  }
};

// ------------------------------------------------------------------ Reach

Reach::Reach(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Result<std::unique_ptr<Reach>> Reach::create(overlay::Node& node, Dht& dht, ReachOptions options) {
  if (options.republish_interval_ms <= 0 || options.record_ttl_s == 0 ||
      options.republish_interval_ms >= int64_t{options.record_ttl_s} * 1000) {
    return invalid_argument("republish_interval_ms must be positive and below record_ttl_s");
  }
  if (options.max_relays == 0 || options.max_operations == 0) {
    return invalid_argument("max_relays and max_operations must be positive");
  }
  auto impl = std::make_shared<Impl>(node, dht, std::move(options));
  overlay::LoopHooks hooks;
  // The hooks own the Impl too: the node may run them after Reach is gone.
  hooks.started = [impl](uv_loop_s* loop) { impl->loop = loop; };
  hooks.stopping = [impl] { impl->shutdown_on_loop(); };
  hooks.peer = [impl](const PublicKey&, bool, const std::string&) { impl->on_peer(); };
  if (auto r = node.add_loop_hooks(std::move(hooks)); !r) {
    return invalid_argument("Reach::create must come before the node starts");
  }
  return std::unique_ptr<Reach>(new Reach(std::move(impl)));
}

Reach::~Reach() {
  stop();
}

Result<void> Reach::start() {
  if (impl_->node.on_loop_thread()) return invalid_argument("Reach::start on the loop thread");
  auto p = std::make_shared<std::promise<Result<void>>>();
  auto f = p->get_future();
  // The task holds the only reference: if the node drops it (it is
  // stopping), the promise breaks and the wait ends at once.
  impl_->node.post([self = impl_, p = std::move(p)] { p->set_value(self->start_on_loop()); });
  if (f.wait_for(kLoopWait) != std::future_status::ready) {
    return timed_out("the node's loop did not run Reach::start (is the node started?)");
  }
  try {
    Result<void> r = f.get();
    if (r) impl_->started = true;
    return r;
  } catch (const std::future_error&) {
    return cancelled("the node stopped before Reach started");
  }
}

void Reach::stop() {
  if (impl_->node.on_loop_thread()) {
    impl_->shutdown_on_loop();
    return;
  }
  auto p = std::make_shared<std::promise<void>>();
  auto f = p->get_future();
  // Dropped when the node has stopped: its stopping hook did the same work,
  // and the promise, held only by the task, breaks so the wait ends at once.
  impl_->node.post([self = impl_, p = std::move(p)] {
    self->shutdown_on_loop();
    p->set_value();
  });
  // Before a successful start() no handle of ours is on the loop, which may
  // never run (the node did not start): nothing to wait for.
  if (impl_->started) (void)f.wait_for(kLoopWait);
}

void Reach::publish(std::function<void(Result<void>)> done) {
  impl_->node.post([self = impl_, done = std::move(done)]() mutable {
    if (self->publishing) self->dirty = false;  // this put carries the newest state
    self->publish_now(std::move(done));
  });
}

void Reach::whisper(overlay::AppId app, const PublicKey& to, Bytes payload,
                    overlay::WhisperCallback done) {
  auto op = std::make_shared<Impl::Op>();
  op->app = app;
  op->to = to;
  op->payload = std::move(payload);
  op->on_ack = std::move(done);
  impl_->node.post([self = impl_, op] { self->begin(op); });
}

void Reach::request(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t timeout_ms,
                    overlay::ReplyCallback done) {
  auto op = std::make_shared<Impl::Op>();
  op->app = app;
  op->to = to;
  op->payload = std::move(payload);
  op->request = true;
  op->timeout_ms = timeout_ms;
  op->on_reply = std::move(done);
  impl_->node.post([self = impl_, op] { self->begin(op); });
}

}  // namespace chorus::dht
