// Streams and DIRECT on the libuv driver: Node::open_stream and Node::send,
// the core's stream and DIRECT events handed to the apps, and StreamWriter,
// which comes back to the loop through the node's anchor like a Responder.
#include <spdlog/spdlog.h>

#include "chorus/overlay/uv_helpers.h"
#include "node_impl.h"

namespace chorus::overlay {

// ------------------------------------------------------------ commands

void Node::send(AppId app, const PublicKey& to, Bytes payload, DoneCallback done) {
  impl_->control([m = impl_.get(), app, to,
                  p = std::move(payload)] { return m->core->send_direct(app, to, p, now_us()); },
                 std::move(done));
}

void Node::open_stream(AppId app, const PublicKey& to, Bytes request, StreamCallbacks callbacks,
                       StreamOptions options) {
  impl_->run_on_loop([m = impl_.get(), app, to, req = std::move(request), cb = std::move(callbacks),
                      options]() mutable {
    auto id = m->core->open_stream(app, to, req, options.window, now_us());
    if (!id) {
      m->deferred.push_back([end = std::move(cb.on_end), err = id.error()] {
        if (end) end(err);
      });
      return;
    }
    m->opened[*id] = std::move(cb);
  });
}

// ------------------------------------------------------------ events

bool Node::Impl::dispatch_stream(Event& e) {
  if (auto* open = std::get_if<StreamOpenEvent>(&e)) {
    auto it = apps.find(open->app);
    if (it == apps.end() || !it->second.on_stream) {
      (void)core->stream_end(open->handle, NackCode::kUnknownApp,
                             "app " + std::to_string(open->app) + " serves no streams", now_us());
      return true;
    }
    served.insert(open->handle);
    StreamWriter w(std::make_shared<detail::StreamWriterState>(anchor, open->handle, open->app));
    it->second.on_stream(StreamRequest{open->app, open->from, open->payload}, std::move(w));
  } else if (auto* credit = std::get_if<StreamCreditEvent>(&e)) {
    auto it = credit_waiters.find(credit->handle);
    if (it == credit_waiters.end()) return true;
    auto fn = std::move(it->second);
    credit_waiters.erase(it);
    if (fn) fn();
  } else if (auto* closed = std::get_if<StreamClosedEvent>(&e)) {
    served.erase(closed->handle);
    if (!closed->result) log->debug("stream closed: {}", closed->result.error().to_string());
    auto it = credit_waiters.find(closed->handle);
    if (it == credit_waiters.end()) return true;
    auto fn = std::move(it->second);
    credit_waiters.erase(it);
    if (fn) fn();  // its write() now says kNotFound
  } else if (auto* data = std::get_if<StreamDataEvent>(&e)) {
    auto it = opened.find(data->id);
    if (it == opened.end() || !it->second.on_data) return true;
    if (!it->second.on_data(data->payload)) {
      (void)core->stream_cancel(data->id, kStreamFinished, "the app has enough", now_us());
    }
  } else if (auto* end = std::get_if<StreamEndEvent>(&e)) {
    auto it = opened.find(end->id);
    if (it == opened.end()) return true;
    auto on_end = std::move(it->second.on_end);
    opened.erase(it);
    if (on_end) on_end(std::move(end->result));
  } else if (auto* direct = std::get_if<DirectEvent>(&e)) {
    auto it = apps.find(direct->app);
    if (it != apps.end() && it->second.on_direct) {
      it->second.on_direct(DirectInfo{direct->app, direct->from, direct->payload});
    }
  } else {
    return false;
  }
  return true;
}

void Node::Impl::end_streams() {
  auto still_open = std::move(opened);
  opened.clear();
  for (auto& [id, cb] : still_open) {
    if (cb.on_end) cb.on_end(cancelled("node stopped"));
  }
  served.clear();
  auto waiting = std::move(credit_waiters);
  credit_waiters.clear();
  for (auto& [handle, fn] : waiting) {
    if (fn) fn();  // its write() now says kCancelled
  }
}

// ------------------------------------------------------------ StreamWriter

detail::StreamWriterState::~StreamWriterState() {
  if (ended) return;
  auto a = anchor.lock();
  if (!a) return;
  std::lock_guard<std::mutex> g(a->mu);
  if (!a->node) return;
  Node::Impl* m = a->node->impl_.get();
  try {
    m->run_on_loop(
        [m, h = handle, app = app] {
          // kNotFound: the stream had ended from the other side already.
          (void)m->core->stream_end(h, NackCode::kNoResponse,
                                    "stream dropped unfinished by app " + std::to_string(app),
                                    now_us());
        },
        /*droppable=*/true);
  } catch (...) {  // out of memory: the opener times out instead
  }
}

Result<void> StreamWriter::with_node(const std::function<Result<void>(Node&)>& fn) const {
  if (!s_) return invalid_argument("not a stream");
  auto a = s_->anchor.lock();
  if (!a) return cancelled("node destroyed");
  std::lock_guard<std::mutex> g(a->mu);
  if (!a->node) return cancelled("node destroyed");
  if (!a->node->impl_->on_loop()) {
    return invalid_argument("StreamWriter used off its node's loop thread");
  }
  return fn(*a->node);
}

Result<void> StreamWriter::write(ByteView payload) {
  return with_node([&](Node& n) {
    if (s_->ended) return Result<void>(not_found("stream already ended by this app"));
    return n.impl_->core->stream_write(s_->handle, payload, now_us());
  });
}

Result<void> StreamWriter::finish() {
  return with_node([&](Node& n) {
    if (std::exchange(s_->ended, true)) return Result<void>(not_found("stream already ended"));
    return n.impl_->core->stream_end(s_->handle, kStreamFinished, "", now_us());
  });
}

Result<void> StreamWriter::fail(const std::string& reason) {
  return with_node([&](Node& n) {
    if (std::exchange(s_->ended, true)) return Result<void>(not_found("stream already ended"));
    return n.impl_->core->stream_end(s_->handle, NackCode::kAppError, reason, now_us());
  });
}

uint32_t StreamWriter::credit() const {
  uint32_t credit = 0;
  (void)with_node([&](Node& n) {
    if (!s_->ended) credit = n.impl_->core->stream_credit(s_->handle);
    return Result<void>();
  });
  return credit;
}

void StreamWriter::when_credit(std::function<void()> fn) {
  std::function<void()> replaced;  // destroyed after the anchor is released
  auto r = with_node([&](Node& n) {
    Node::Impl& m = *n.impl_;
    const bool live = m.served.count(s_->handle) != 0;
    if (!live || m.core->stream_credit(s_->handle) > 0) {
      m.deferred.push_back(std::move(fn));  // now, but never inside this call
    } else {
      replaced = std::exchange(m.credit_waiters[s_->handle], std::move(fn));
    }
    return Result<void>();
  });
  if (!r) spdlog::debug("when_credit ignored: {}", r.error().to_string());
}

bool StreamWriter::open() const {
  return s_ && !s_->ended;
}

}  // namespace chorus::overlay
