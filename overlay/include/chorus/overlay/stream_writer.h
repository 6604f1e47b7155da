// Streams from an app's side of chorus::overlay::Node (the wire and the
// core: stream.h and spec/overlay.md, "Streams").
//
// Opener: Node::open_stream sends a request with a window of credit and
// hands each DATA to StreamCallbacks::on_data, in order, then calls on_end
// exactly once. Credit goes back to the responder as on_data returns, so a
// slow on_data slows the responder down instead of filling memory.
//
// Responder: AppHandlers::on_stream gets the request and a StreamWriter.
// The writer writes while it has credit, waits for more with when_credit,
// and ends the stream with finish() or fail().
//
//   void serve(StreamWriter w, Source& src) {      // on the loop thread
//     while (w.credit() > 0 && src.more()) (void)w.write(src.next());
//     if (!src.more()) return (void)w.finish();
//     w.when_credit([w, &src] { serve(w, src); });
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/message.h"

namespace chorus::overlay {

class Node;
namespace detail {
struct StreamWriterState;  // shared by the copies of one StreamWriter
}

// A stream a peer opened to one of our apps (AppHandlers::on_stream).
struct StreamRequest {
  AppId app;
  const PublicKey& from;
  ByteView payload;  // the request; valid during the callback
};

// The responder's end of one stream. Copyable: copies share the stream, so
// one can be captured in its own when_credit callback. Every call is for
// the node's loop thread only (kInvalidArgument elsewhere: use Node::post).
// When the last copy is destroyed before finish() or fail(), the stream
// ends with "stream dropped unfinished by app N" (NACK code 9), so the
// opener fails at once instead of waiting out its idle timeout. Like a
// Responder it holds only a weak handle of its node; one kept past the
// node's destruction answers kCancelled.
class StreamWriter {
 public:
  StreamWriter() = default;  // writes nothing: every call is kInvalidArgument

  // One DATA message. kLimit: no credit now (when_credit says when there is
  // again); kNotFound: the stream ended (the opener cancelled, the link
  // closed, the idle timeout); kCancelled: the node stopped; kLimit also
  // for a payload larger than a frame holds.
  Result<void> write(ByteView payload);
  // Ends the stream normally: the opener's on_end gets ok.
  Result<void> finish();
  // Ends the stream with an error: the opener's on_end gets kRefused with
  // `reason`.
  Result<void> fail(const std::string& reason);
  // DATA the opener allows now; 0 once the stream ended.
  uint32_t credit() const;
  // Runs `fn` once on the loop thread (never inside this call) when credit
  // comes back, or when the stream ends (then write() says kNotFound). One
  // callback per stream: a second replaces the first.
  void when_credit(std::function<void()> fn);
  // Neither finished nor failed through this writer (the stream may still
  // have ended from the other side).
  bool open() const;

 private:
  friend class Node;
  explicit StreamWriter(std::shared_ptr<detail::StreamWriterState> s) : s_(std::move(s)) {}
  // Runs `fn` with the writer's node, on its loop thread; the errors above
  // when there is no stream, no node, or the wrong thread.
  Result<void> with_node(const std::function<Result<void>(Node&)>& fn) const;
  std::shared_ptr<detail::StreamWriterState> s_;
};

// The opener's callbacks, run on the loop thread.
struct StreamCallbacks {
  // Each DATA, in the order written. Return false to cancel the stream
  // (on_end then gets kCancelled). Empty: DATA is dropped.
  std::function<bool(ByteView payload)> on_data;
  // Exactly once, after the last on_data: ok when the responder finished;
  // kRefused (it failed the stream, or has no stream handler for the app),
  // kLimit (too many streams, window too large), kTimeout (no progress in
  // stream_idle_timeout_ms), kCancelled (we cancelled, the link closed, the
  // node stopped), kNotFound (no link to the peer), kProtocol.
  std::function<void(Result<void>)> on_end;
};

struct StreamOptions {
  // DATA in flight or queued at most (1..OverlayConfig::max_stream_window).
  uint32_t window = 64;
};

}  // namespace chorus::overlay
