#include "stream_table.h"

#include <algorithm>

namespace chorus::overlay {

StreamLimits stream_limits(const OverlayConfig& config, size_t max_payload_bytes) {
  StreamLimits l;
  l.max_inbound_per_link = config.max_inbound_streams_per_peer;
  l.max_outbound = config.max_outbound_streams;
  l.max_window = config.max_stream_window;
  l.idle_timeout_us = config.stream_idle_timeout_ms * 1000;
  l.max_payload_bytes = max_payload_bytes;
  return l;
}

Error stream_error(uint8_t code, const std::string& reason, const char* by) {
  std::string what = std::string("stream ended by ") + by + " (code " + std::to_string(code) +
                     (reason.empty() ? ")" : "): " + reason);
  switch (static_cast<NackCode>(code)) {
    case NackCode::kLimit:
      return limit_exceeded(what);
    case NackCode::kIdleTimeout:
      return timed_out(what);
    default:
      return refused(what);
  }
}

void StreamTable::send(LinkId link, AppId app, StreamKind kind, uint32_t stream, uint32_t credit,
                       NackCode code, std::string reason, Bytes payload) {
  StreamMsg m;
  m.app = app;
  m.kind = kind;
  m.stream = stream;
  m.credit = credit;
  m.code = static_cast<uint8_t>(code);
  m.reason = std::move(reason);
  m.payload = std::move(payload);
  outputs_.push_back(Send{link, std::move(m)});
}

bool StreamTable::poll(Output& out) {
  if (outputs_.empty()) return false;
  out = std::move(outputs_.front());
  outputs_.pop_front();
  return true;
}

// ---------------------------------------------------------------- links

void StreamTable::enable_link(LinkId link, const PublicKey& peer) {
  LinkState& ls = links_[link];
  ls.peer = peer;
  ls.support = Support::kYes;
  auto it = out_by_wire_.lower_bound(wire_key(link, 0));
  for (; it != out_by_wire_.end() && (it->first >> 32) == link; ++it) {
    Outbound& o = out_[it->second];
    if (!o.held) continue;
    o.held = false;
    send(link, o.app, StreamKind::kOpen, o.wire, o.outstanding, kStreamFinished, {},
         std::move(o.request));
    o.request = Bytes();
  }
}

void StreamTable::disable_link(LinkId link) {
  links_[link].support = Support::kNo;
  std::vector<StreamId> held;
  auto it = out_by_wire_.lower_bound(wire_key(link, 0));
  for (; it != out_by_wire_.end() && (it->first >> 32) == link; ++it)
    if (out_[it->second].held) held.push_back(it->second);
  for (StreamId id : held)
    finish_out(id, refused("the peer does not speak streams (refused option 4)"));
}

void StreamTable::link_closed(LinkId link, const std::string& reason) {
  auto lit = links_.find(link);
  if (lit == links_.end()) return;
  links_.erase(lit);
  std::vector<StreamId> outs;
  for (auto it = out_by_wire_.lower_bound(wire_key(link, 0));
       it != out_by_wire_.end() && (it->first >> 32) == link; ++it)
    outs.push_back(it->second);
  std::vector<StreamHandle> ins;
  for (auto it = in_by_wire_.lower_bound(wire_key(link, 0));
       it != in_by_wire_.end() && (it->first >> 32) == link; ++it)
    ins.push_back(it->second);
  for (StreamId id : outs) finish_out(id, cancelled("link closed: " + reason));
  for (StreamHandle h : ins) finish_in(h, cancelled("link closed: " + reason));
}

// ---------------------------------------------------------------- opener

Result<StreamId> StreamTable::open(LinkId link, const PublicKey& peer, AppId app, ByteView request,
                                   uint32_t window, bool manual_credit, int64_t now_us) {
  if (window == 0 || window > limits_.max_window) {
    return invalid_argument("stream window must be 1.." + std::to_string(limits_.max_window));
  }
  if (request.size() > limits_.max_payload_bytes) return limit_exceeded("stream request too large");
  if (out_.size() >= limits_.max_outbound) {
    return limit_exceeded("too many open streams (max_outbound_streams)");
  }
  LinkState& ls = links_[link];
  ls.peer = peer;
  if (ls.support == Support::kNo) {
    return refused("the peer does not speak streams (refused option 4)");
  }
  // The next id not in use on this link (at most max_outbound are).
  uint32_t wire = ls.next_stream;
  while (wire == 0 || out_by_wire_.count(wire_key(link, wire))) ++wire;
  ls.next_stream = wire + 1;
  const StreamId id = ++last_name_;
  Outbound& o = out_[id];
  o.link = link;
  o.wire = wire;
  o.app = app;
  o.window = window;
  o.outstanding = window;
  o.manual = manual_credit;
  o.last_us = now_us;
  out_by_wire_[wire_key(link, wire)] = id;
  watch(now_us + limits_.idle_timeout_us);
  if (ls.support == Support::kYes) {
    send(link, app, StreamKind::kOpen, wire, window, kStreamFinished, {},
         Bytes(request.begin(), request.end()));
  } else {
    o.held = true;
    o.request.assign(request.begin(), request.end());
  }
  return id;
}

Result<void> StreamTable::grant(StreamId id, uint32_t credit, int64_t now_us) {
  auto it = out_.find(id);
  if (it == out_.end()) return not_found("no such stream");
  Outbound& o = it->second;
  if (!o.manual) return invalid_argument("the stream renews its credit itself (automatic credit)");
  if (credit == 0) return {};
  if (uint64_t{o.outstanding} + credit > o.window) {
    return limit_exceeded("credit above the stream's window of " + std::to_string(o.window));
  }
  o.outstanding += credit;
  o.last_us = now_us;
  if (!o.held) send(o.link, o.app, StreamKind::kCredit, o.wire, credit);
  return {};
}

Result<void> StreamTable::cancel(StreamId id, NackCode code, const std::string& reason,
                                 int64_t /*now_us*/) {
  auto it = out_.find(id);
  if (it == out_.end()) return not_found("no such stream");
  const Outbound& o = it->second;
  if (!o.held) send(o.link, o.app, StreamKind::kCancel, o.wire, 0, code, reason);
  finish_out(id, cancelled("stream cancelled: " + reason));
  return {};
}

// ---------------------------------------------------------------- responder

Result<void> StreamTable::write(StreamHandle h, ByteView payload, int64_t now_us) {
  auto it = in_.find(h);
  if (it == in_.end()) return not_found("no such stream (ended)");
  Inbound& s = it->second;
  if (payload.size() > limits_.max_payload_bytes) return limit_exceeded("stream DATA too large");
  if (s.credit == 0) return limit_exceeded("no stream credit: wait for StreamCreditEvent");
  --s.credit;
  s.last_us = now_us;
  send(s.link, s.app, StreamKind::kData, s.wire, 0, kStreamFinished, {},
       Bytes(payload.begin(), payload.end()));
  return {};
}

Result<void> StreamTable::end(StreamHandle h, NackCode code, const std::string& reason,
                              int64_t /*now_us*/) {
  auto it = in_.find(h);
  if (it == in_.end()) return not_found("no such stream (ended)");
  send(it->second.link, it->second.app, StreamKind::kEnd, it->second.wire, 0, code, reason);
  finish_in(h, code == kStreamFinished
                   ? Result<void>()
                   : Result<void>(stream_error(static_cast<uint8_t>(code), reason, "us")));
  return {};
}

uint32_t StreamTable::credit(StreamHandle h) const {
  auto it = in_.find(h);
  return it == in_.end() ? 0 : it->second.credit;
}

// ---------------------------------------------------------------- inputs

void StreamTable::on_message(LinkId link, const PublicKey& peer, bool app_known, StreamMsg&& m,
                             int64_t now_us) {
  switch (m.kind) {
    case StreamKind::kOpen:
      on_open(link, peer, app_known, std::move(m), now_us);
      break;
    case StreamKind::kCredit:
      on_credit(link, m, now_us);
      break;
    case StreamKind::kCancel:
      on_cancel(link, m);
      break;
    case StreamKind::kData:
      on_data(link, std::move(m), now_us);
      break;
    case StreamKind::kEnd:
      on_end(link, std::move(m));
      break;
  }
}

void StreamTable::on_open(LinkId link, const PublicKey& peer, bool app_known, StreamMsg&& m,
                          int64_t now_us) {
  if (in_by_wire_.count(wire_key(link, m.stream))) {
    outputs_.push_back(Penalty{link, "STREAM OPEN for a stream id already open"});
    return;
  }
  LinkState& ls = links_[link];
  ls.peer = peer;
  auto refuse = [&](NackCode code, std::string why) {
    send(link, m.app, StreamKind::kEnd, m.stream, 0, code, std::move(why));
  };
  if (!app_known) return refuse(NackCode::kUnknownApp, "no such app");
  if (ls.inbound >= limits_.max_inbound_per_link) {
    return refuse(NackCode::kLimit, "too many streams open (max_inbound_streams_per_peer)");
  }
  if (m.credit > limits_.max_window) {
    return refuse(NackCode::kLimit,
                  "window above max_stream_window " + std::to_string(limits_.max_window));
  }
  const StreamHandle h = ++last_name_;
  Inbound& s = in_[h];
  s.link = link;
  s.wire = m.stream;
  s.app = m.app;
  s.credit = m.credit;
  s.last_us = now_us;
  in_by_wire_[wire_key(link, m.stream)] = h;
  ++ls.inbound;
  watch(now_us + limits_.idle_timeout_us);
  outputs_.push_back(StreamOpenEvent{m.app, peer, h, std::move(m.payload), m.credit});
}

void StreamTable::on_credit(LinkId link, const StreamMsg& m, int64_t now_us) {
  auto w = in_by_wire_.find(wire_key(link, m.stream));
  if (w == in_by_wire_.end()) return;  // ended here already (END and CREDIT crossed)
  const StreamHandle h = w->second;
  Inbound& s = in_[h];
  if (uint64_t{s.credit} + m.credit > limits_.max_window) {
    // An honest opener never holds out more than its window, which its OPEN
    // showed to be within ours.
    // END first: the penalty may close the link.
    send(link, s.app, StreamKind::kEnd, s.wire, 0, NackCode::kLimit, "credit above window");
    finish_in(h, protocol_error("the opener granted credit above max_stream_window"));
    outputs_.push_back(Penalty{link, "STREAM CREDIT above max_stream_window"});
    return;
  }
  const bool was_empty = s.credit == 0;
  s.credit += m.credit;
  s.last_us = now_us;
  if (was_empty && s.credit > 0) outputs_.push_back(StreamCreditEvent{h, s.credit});
}

void StreamTable::on_cancel(LinkId link, const StreamMsg& m) {
  auto w = in_by_wire_.find(wire_key(link, m.stream));
  if (w == in_by_wire_.end()) return;  // ended here already
  Error e = stream_error(m.code, m.reason, "the opener");
  // The opener's idle timeout is ours too; any other CANCEL is a cancel.
  finish_in(w->second,
            m.code == static_cast<uint8_t>(NackCode::kIdleTimeout) ? e : cancelled(e.message()));
}

void StreamTable::on_data(LinkId link, StreamMsg&& m, int64_t now_us) {
  auto w = out_by_wire_.find(wire_key(link, m.stream));
  if (w == out_by_wire_.end()) return;  // cancelled here already: late DATA
  const StreamId id = w->second;
  Outbound& o = out_[id];
  if (o.held || o.outstanding == 0) {
    // CANCEL first: the penalty may close the link.
    send(link, o.app, StreamKind::kCancel, o.wire, 0, NackCode::kLimit, "DATA beyond credit");
    finish_out(id, protocol_error("the responder sent DATA beyond our credit"));
    outputs_.push_back(Penalty{link, "STREAM DATA beyond the credit granted"});
    return;
  }
  --o.outstanding;
  o.last_us = now_us;
  outputs_.push_back(StreamDataEvent{id, std::move(m.payload)});
  if (o.manual) return;
  // Automatic credit: give back what was taken in, in batches of half the
  // window, so the responder never waits a whole round trip with none.
  if (++o.consumed >= std::max<uint32_t>(1, o.window / 2)) {
    send(link, o.app, StreamKind::kCredit, o.wire, o.consumed);
    o.outstanding += o.consumed;
    o.consumed = 0;
  }
}

void StreamTable::on_end(LinkId link, StreamMsg&& m) {
  auto w = out_by_wire_.find(wire_key(link, m.stream));
  if (w == out_by_wire_.end()) return;  // cancelled here already
  finish_out(w->second, m.code == static_cast<uint8_t>(kStreamFinished)
                            ? Result<void>()
                            : Result<void>(stream_error(m.code, m.reason, "the responder")));
}

void StreamTable::on_timer(int64_t now_us) {
  if (now_us < next_check_us_) return;
  next_check_us_ = INT64_MAX;
  const std::string why = "no progress within " + std::to_string(limits_.idle_timeout_us / 1000) +
                          " ms (stream_idle_timeout_ms)";
  std::vector<StreamId> outs;
  for (auto& [id, o] : out_) {
    if (o.last_us + limits_.idle_timeout_us <= now_us) {
      outs.push_back(id);
    } else {
      watch(o.last_us + limits_.idle_timeout_us);
    }
  }
  std::vector<StreamHandle> ins;
  for (auto& [h, s] : in_) {
    if (s.last_us + limits_.idle_timeout_us <= now_us) {
      ins.push_back(h);
    } else {
      watch(s.last_us + limits_.idle_timeout_us);
    }
  }
  for (StreamId id : outs) {
    const Outbound& o = out_[id];
    if (!o.held) send(o.link, o.app, StreamKind::kCancel, o.wire, 0, NackCode::kIdleTimeout, why);
    finish_out(id, timed_out("stream idle: " + why));
  }
  for (StreamHandle h : ins) {
    const Inbound& s = in_[h];
    send(s.link, s.app, StreamKind::kEnd, s.wire, 0, NackCode::kIdleTimeout, why);
    finish_in(h, timed_out("stream idle: " + why));
  }
}

std::optional<int64_t> StreamTable::next_deadline_us() const {
  if (out_.empty() && in_.empty()) return std::nullopt;
  return next_check_us_;
}

void StreamTable::finish_out(StreamId id, Result<void> result) {
  auto it = out_.find(id);
  if (it == out_.end()) return;
  out_by_wire_.erase(wire_key(it->second.link, it->second.wire));
  out_.erase(it);
  outputs_.push_back(StreamEndEvent{id, std::move(result)});
}

void StreamTable::finish_in(StreamHandle h, Result<void> result) {
  auto it = in_.find(h);
  if (it == in_.end()) return;
  in_by_wire_.erase(wire_key(it->second.link, it->second.wire));
  auto ls = links_.find(it->second.link);
  if (ls != links_.end() && ls->second.inbound > 0) --ls->second.inbound;
  in_.erase(it);
  outputs_.push_back(StreamClosedEvent{h, std::move(result)});
}

}  // namespace chorus::overlay
