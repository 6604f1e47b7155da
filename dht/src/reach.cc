// The libuv driver of Reach: it runs a ReachCore (reach_core.h, where every
// decision is made) on the node's loop thread, turning its actions into Dht
// and Node commands and their results back into core inputs. What a record
// says is node_record.cc's; relaying itself is the overlay core's.
#include "chorus/dht/reach.h"

#include <uv.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <map>

#include "chorus/dht/reach_core.h"

namespace chorus::dht {
namespace {

constexpr auto kLoopWait = std::chrono::seconds(10);

// The core's clock: wall-clock microseconds, so that the record sequence it
// derives from it rises across restarts with the same key file.
int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool unspecified(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::";
}

// Runs `fn` once, unless nobody ever runs it (Node::post drops work once the
// node is stopping): then `dropped` runs instead, when the last copy of the
// posted function is destroyed. Either way exactly one of them runs.
class Once {
 public:
  explicit Once(std::function<void()> dropped) : dropped_(std::move(dropped)) {}
  ~Once() {
    if (!ran_ && dropped_) dropped_();
  }
  Once(const Once&) = delete;
  Once& operator=(const Once&) = delete;
  void ran() { ran_ = true; }

 private:
  std::function<void()> dropped_;
  bool ran_ = false;
};

}  // namespace

struct Reach::Impl : std::enable_shared_from_this<Impl> {
  struct Callbacks {
    overlay::WhisperCallback on_ack;
    overlay::ReplyCallback on_reply;
    std::function<void(Result<void>)> on_published;
  };

  overlay::Node& node;
  Dht& dht;
  ReachOptions options;
  std::atomic<bool> started{false};  // start() succeeded; any thread

  // ---- loop thread only
  ReachCore core;
  std::map<ReachOp, Callbacks> callbacks;  // one per op in the core
  uv_loop_t* loop = nullptr;
  uv_timer_t* timer = nullptr;  // freed by its close callback

  Impl(overlay::Node& n, Dht& d, ReachOptions o)
      : node(n), dht(d), options(std::move(o)), core(n.key(), core_options(options)) {}

  static ReachCoreOptions core_options(const ReachOptions& o) {
    ReachCoreOptions c;
    c.publish = o.publish;
    c.record_ttl_s = o.record_ttl_s;
    c.republish_interval_ms = o.republish_interval_ms;
    c.max_operations = o.max_operations;
    c.operation_deadline_ms = o.operation_deadline_ms;
    c.route_cache = o.route_cache;
    return c;
  }

  // Posts `fn` to the loop; if the node drops it, `dropped` runs instead.
  void post_or(std::function<void()> fn, std::function<void()> dropped) {
    auto once = std::make_shared<Once>(std::move(dropped));
    node.post([once, fn = std::move(fn)] {
      once->ran();
      fn();
    });
  }

  // ------------------------------------------------------------ our record

  bool listening() const {
    auto a = node.listen_address();
    return a && !unspecified(a->host);
  }

  Result<NodeRecord> current_record(std::vector<PublicKey>& keys) const {
    NodeRecord rec;
    if (listening()) {
      rec.kind = NodeRecord::Kind::kListening;
      rec.entries.push_back(make_contact(node.key(), *node.listen_address()));
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

  void on_peer(const PublicKey& key, bool up) {
    core.on_peer(key, up, now_us());
    if (!listening()) {
      std::vector<PublicKey> keys;
      (void)current_record(keys);
      core.set_relays(std::move(keys), now_us());
    }
    pump();
  }

  // ------------------------------------------------------------ actions

  // Does what the core asks until it asks nothing more. Results that come
  // at once (never from Node or Dht, which complete later) are fed back in
  // the same loop.
  void pump() {
    ReachAction a;
    while (core.poll_action(a)) std::visit([this](auto& act) { run(act); }, a);
  }

  auto back(ReachOp op, void (ReachCore::*input)(ReachOp, Result<OpResult>, int64_t)) {
    return [self = shared_from_this(), op, input](Result<OpResult> r) {
      (self->core.*input)(op, std::move(r), now_us());
      self->pump();
    };
  }

  void run(GetRecord& a) { dht.get(node_record_key(a.target), back(a.op, &ReachCore::on_record)); }
  void run(FindNode& a) {
    dht.find_node(make_contact(a.target, {}).id, back(a.op, &ReachCore::on_contacts));
  }
  void run(Dial& a) {
    node.connect(a.address, a.key, [self = shared_from_this(), op = a.op](Result<void> r) {
      self->core.on_dialled(op, std::move(r), now_us());
      self->pump();
    });
  }
  void run(Send& a) {
    auto self = shared_from_this();
    if (a.request) {
      overlay::ReplyCallback done = [self, op = a.op](Result<Bytes> r) {
        self->core.on_request_done(op, std::move(r), now_us());
        self->pump();
      };
      if (a.relay) {
        node.request_via(a.app, *a.relay, a.to, std::move(a.payload), a.timeout_ms,
                         std::move(done));
      } else {
        node.request(a.app, a.to, std::move(a.payload), {a.timeout_ms, true}, std::move(done));
      }
      return;
    }
    overlay::WhisperCallback done = [self, op = a.op](Result<Hash256> r) {
      self->core.on_whisper_done(op, std::move(r), now_us());
      self->pump();
    };
    if (a.relay) {
      node.whisper_via(a.app, *a.relay, a.to, std::move(a.payload), std::move(done));
    } else {
      node.whisper(a.app, a.to, std::move(a.payload), true, std::move(done));
    }
  }
  void run(PublishRecord& a) {
    std::vector<PublicKey> keys;
    auto rec = current_record(keys);
    Result<Bytes> bytes = rec ? encode_node_record(*rec) : Result<Bytes>(rec.error());
    if (!bytes) {
      core.on_published(a.op, bytes.error(), now_us());
      return;
    }
    dht.put_signed(node_record_key(node.key()), std::move(*bytes), a.seq, a.ttl_s,
                   [self = shared_from_this(), op = a.op](Result<OpResult> r) {
                     self->core.on_published(op, r ? Result<void>() : Result<void>(r.error()),
                                             now_us());
                     self->pump();
                   });
  }
  void run(SetTimer& a) {
    if (!timer) return;
    if (a.at_us < 0) {
      uv_timer_stop(timer);
      return;
    }
    const int64_t ms = std::max<int64_t>(0, (a.at_us - now_us() + 999) / 1000);
    uv_timer_start(timer, on_timer, static_cast<uint64_t>(ms), 0);
  }
  void run(Completed& a) {
    auto it = callbacks.find(a.op);
    if (it == callbacks.end()) return;  // our own republish
    Callbacks cb = std::move(it->second);
    callbacks.erase(it);
    if (auto* r = std::get_if<Result<Hash256>>(&a.result)) {
      if (cb.on_ack) cb.on_ack(std::move(*r));
    } else if (auto* q = std::get_if<Result<Bytes>>(&a.result)) {
      if (cb.on_reply) cb.on_reply(std::move(*q));
    } else if (cb.on_published) {
      cb.on_published(std::get<Result<void>>(std::move(a.result)));
    }
  }

  static void on_timer(uv_timer_t* t) {
    auto* self = static_cast<Impl*>(t->data);
    self->core.on_timer(now_us());
    self->pump();
  }

  // ------------------------------------------------------------ lifecycle

  Result<void> start_on_loop() {
    if (!loop) return invalid_argument("the node's loop is not running");
    const int64_t now = now_us();
    auto r = core.start(now);
    if (!r) return r;
    timer = new uv_timer_t;
    uv_timer_init(loop, timer);
    timer->data = this;
    if (!listening()) {
      std::vector<PublicKey> keys;
      (void)current_record(keys);
      core.set_relays(std::move(keys), now);
    }
    pump();
    return r;
  }

  void shutdown_on_loop() {
    core.stop(now_us());  // every op in progress: kCancelled
    pump();
    if (timer) {
      uv_close(reinterpret_cast<uv_handle_t*>(timer),
               [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
      timer = nullptr;
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
  if (options.max_relays == 0 || options.max_operations == 0 ||
      options.operation_deadline_ms <= 0 || options.route_cache.ttl_ms < 0) {
    return invalid_argument(
        "max_relays, max_operations and operation_deadline_ms must be positive");
  }
  auto impl = std::make_shared<Impl>(node, dht, std::move(options));
  overlay::LoopHooks hooks;
  // The hooks own the Impl too: the node may run them after Reach is gone.
  hooks.started = [impl](uv_loop_s* loop) { impl->loop = loop; };
  hooks.stopping = [impl] { impl->shutdown_on_loop(); };
  hooks.peer = [impl](const PublicKey& key, bool up, const std::string&) {
    impl->on_peer(key, up);
  };
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
  // The task holds the only reference to the promise: if the node drops it
  // (it is stopping), the promise breaks and the wait ends at once.
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
  // Dropped when the node is stopping (its stopping hook does the same
  // work): the task holds the only reference to the promise, so the wait
  // then ends at once instead of after kLoopWait.
  impl_->node.post([self = impl_, p = std::move(p)] {
    self->shutdown_on_loop();
    p->set_value();
  });
  // Before a successful start() no handle of ours is on the loop, which may
  // never run (the node did not start): nothing to wait for.
  if (impl_->started) (void)f.wait_for(kLoopWait);
}

void Reach::publish(std::function<void(Result<void>)> done) {
  auto shared = std::make_shared<std::function<void(Result<void>)>>(std::move(done));
  impl_->post_or(
      [self = impl_, shared] {
        const ReachOp op = self->core.publish(now_us());
        self->callbacks[op].on_published = std::move(*shared);
        self->pump();
      },
      [shared] {
        if (*shared) (*shared)(cancelled("the node is stopped"));
      });
}

void Reach::whisper(overlay::AppId app, const PublicKey& to, Bytes payload,
                    overlay::WhisperCallback done) {
  auto shared = std::make_shared<overlay::WhisperCallback>(std::move(done));
  impl_->post_or(
      [self = impl_, app, to, payload = std::move(payload), shared]() mutable {
        const ReachOp op = self->core.whisper(app, to, std::move(payload), now_us());
        self->callbacks[op].on_ack = std::move(*shared);
        self->pump();
      },
      [shared] {
        if (*shared) (*shared)(cancelled("the node is stopped"));
      });
}

void Reach::request(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t timeout_ms,
                    overlay::ReplyCallback done) {
  auto shared = std::make_shared<overlay::ReplyCallback>(std::move(done));
  impl_->post_or(
      [self = impl_, app, to, payload = std::move(payload), timeout_ms, shared]() mutable {
        const ReachOp op = self->core.request(app, to, std::move(payload), timeout_ms, now_us());
        self->callbacks[op].on_reply = std::move(*shared);
        self->pump();
      },
      [shared] {
        if (*shared) (*shared)(cancelled("the node is stopped"));
      });
}

}  // namespace chorus::dht
