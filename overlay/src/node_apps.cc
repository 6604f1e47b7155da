// Deliveries from the core to the apps on the loop thread: SHOUTs (with the
// validate-before-forward verdict), SPEAKs, WHISPERs and requests with their
// Responder, completions of commands, and peers up and down. Responder and
// ShoutVerdict come back here from any thread through the node's anchor.
#include <spdlog/spdlog.h>

#include "chorus/overlay/uv_helpers.h"
#include "node_impl.h"

namespace chorus::overlay {
namespace {
// Characters of a peer's text address that name it in log lines.
constexpr size_t kLogPeerChars = 12;
}  // namespace

void Node::Impl::dispatch(Event& e) {
  if (dispatch_stream(e)) return;
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
    const std::string name = address_to_text(p->peer).substr(0, kLogPeerChars);
    if (p->connected) {
      log->debug("peer up peer={}", name);
    } else {
      log->info("peer down peer={} reason={}", name, p->reason);
    }
    if (peer_callback) peer_callback(p->peer, p->connected, p->reason);
    for (auto& h : hooks)
      if (h.peer) h.peer(p->peer, p->connected, p->reason);
  }
}

Result<void> Node::Impl::respond(AppId app, const PublicKey& to, uint32_t id, LinkId link,
                                 Bytes payload, bool encrypt) {
  if (on_loop()) return core->respond(app, to, id, payload, encrypt, now_us(), link);
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

void Node::Impl::refuse_request(AppId app, const PublicKey& to, uint32_t id, LinkId link) {
  auto fn = [this, app, to, id, link] {
    auto r = core->reject(to, id, link, NackCode::kNoResponse,
                          "request dropped unanswered by app " + std::to_string(app), now_us());
    if (!r) log->debug("unanswered request not refused: {}", r.error().to_string());
  };
  if (on_loop()) return fn();
  run_on_loop(std::move(fn), /*droppable=*/true);
}

// ------------------------------------------------------------ Responder

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

// ------------------------------------------------------------ ShoutVerdict

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

}  // namespace chorus::overlay
