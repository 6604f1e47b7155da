// Streams: a request answered by a long series of messages (a ledger
// bootstrap: thousands of blocks), under credit-based flow control.
//
// The opener (NodeCore::open_stream) sends one request and a window of
// credit; the responder's app (StreamOpenEvent) writes DATA messages, one
// credit each, and ends the stream. The opener gives credit back as its app
// takes DATA in, so no more than `window` DATA messages are ever in flight
// or queued for one stream, however slow the opener is. Either side may stop
// early: the opener cancels, the responder ends with an error code. Wire
// layout and rules: spec/overlay.md, "Streams".
//
// These are the event types NodeCore::poll_event returns for streams.
// Every stream ends exactly once on each side: the opener gets exactly one
// StreamEndEvent per StreamId open_stream returned, the responder exactly
// one StreamClosedEvent per StreamOpenEvent; after it, the id or handle is
// dead (calls on it return kNotFound).
#pragma once

#include <cstdint>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/message.h"

namespace chorus::overlay {

// A stream this node opened (the opener's name for it). Never 0, never reused.
using StreamId = uint64_t;
// A stream a peer opened to us (the responder's name for it). Never 0, never
// reused; distinct from every StreamId of the same core.
using StreamHandle = uint64_t;

// ---- responder side
// A peer opened a stream to a registered app. Write DATA with stream_write
// while stream_credit(handle) > 0; end with stream_end.
struct StreamOpenEvent {
  AppId app;
  PublicKey from;
  StreamHandle handle;
  Bytes payload;    // the request
  uint32_t credit;  // DATA the opener allows now
};
// Credit arrived for a stream that had none left: writing may go on.
struct StreamCreditEvent {
  StreamHandle handle;
  uint32_t credit;  // stream_credit(handle) now
};
// The stream is over on our side: ok when our app ended it with
// kStreamFinished; kCancelled when the opener cancelled it (the message
// carries its code and reason) or the link closed; kTimeout after
// stream_idle_timeout_ms without progress; kProtocol when the opener broke
// the rules (credit above its window); else the error our app ended it with.
struct StreamClosedEvent {
  StreamHandle handle;
  Result<void> result;
};

// ---- opener side
// One DATA message, in the order the responder wrote them.
struct StreamDataEvent {
  StreamId id;
  Bytes payload;
};
// The stream is over: ok when the responder finished it normally; else
// kRefused (the responder ended it with an error code, e.g. unknown app or
// its own reason), kLimit (the responder refused: too many streams from us,
// window above its max_stream_window), kTimeout (no progress within
// stream_idle_timeout_ms, ours or theirs), kCancelled (we cancelled it, or
// the link closed), kProtocol (the responder sent DATA beyond our credit).
struct StreamEndEvent {
  StreamId id;
  Result<void> result;
};

}  // namespace chorus::overlay
