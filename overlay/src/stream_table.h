// StreamTable: the state of every stream of one node, with no I/O (private
// to the overlay; NodeCore owns one and drives it, spec/overlay.md,
// "Streams").
//
// Inputs are the STREAM messages of each link, the app's stream commands,
// link support and closure, and the time. Outputs queue up for poll(): a
// STREAM message to send on a link, an event for the apps, or a penalty for
// a link whose peer broke the rules. The table never calls out, so its
// owner may feed it again while it acts on an output (a penalty that closes
// the link ends that link's streams).
//
// Streams are named on the wire by (link, the opener's stream id); the
// direction is implied by the kind (OPEN/CREDIT/CANCEL come from the opener,
// DATA/END from the responder), so each side numbers its own streams.
//
// Not thread-safe; one thread owns a core.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <variant>

#include "chorus/overlay/config.h"
#include "chorus/overlay/message.h"
#include "chorus/overlay/stream.h"

namespace chorus::overlay {

using LinkId = uint64_t;

struct StreamLimits {
  size_t max_inbound_per_link = 16;  // streams a peer may have open to us on one link
  size_t max_outbound = 256;         // streams we may have open, all links together
  uint32_t max_window = 256;         // credit a stream may hold, either side
  int64_t idle_timeout_us = 30'000'000;
  size_t max_payload_bytes = 1 << 20;  // request and DATA payloads
};

// The limits of `config`; payloads up to `max_payload_bytes` (one message's).
StreamLimits stream_limits(const OverlayConfig& config, size_t max_payload_bytes);

class StreamTable {
 public:
  struct Send {
    LinkId link;
    StreamMsg msg;
  };
  struct Penalty {
    LinkId link;
    std::string why;
  };
  using Output = std::variant<Send, Penalty, StreamOpenEvent, StreamCreditEvent, StreamClosedEvent,
                              StreamDataEvent, StreamEndEvent>;

  explicit StreamTable(StreamLimits limits) : limits_(limits) {}

  // ---- links
  // The peer on `link` offered streams (SET_CONNECTION_OPT option 4): OPENs
  // held for it go out now.
  void enable_link(LinkId link, const PublicKey& peer);
  // The peer refused option 4 (an older node): streams held for it end kRefused.
  void disable_link(LinkId link);
  // Every stream on `link` ends (kCancelled with `reason`); nothing is sent.
  void link_closed(LinkId link, const std::string& reason);

  // ---- opener commands
  // Opens a stream on `link` to `peer`. Until the peer's option-4 offer
  // arrives on the link the OPEN is held (sent once it does; ended kRefused
  // when the peer refuses the option, or at the idle timeout).
  // kRefused: the peer does not speak streams; kLimit: max_outbound streams
  // open, or the request is too large; kInvalidArgument: window 0 or above
  // max_window.
  Result<StreamId> open(LinkId link, const PublicKey& peer, AppId app, ByteView request,
                        uint32_t window, bool manual_credit, int64_t now_us);
  // Manual credit only (kInvalidArgument otherwise): adds `credit`; kLimit
  // when the credit not yet used would exceed the stream's window.
  Result<void> grant(StreamId id, uint32_t credit, int64_t now_us);
  // Sends CANCEL; the stream ends (StreamEndEvent, kCancelled).
  Result<void> cancel(StreamId id, NackCode code, const std::string& reason, int64_t now_us);

  // ---- responder commands
  // One DATA; kLimit when no credit is left (or the payload is too large).
  Result<void> write(StreamHandle h, ByteView payload, int64_t now_us);
  // Sends END; the stream ends (StreamClosedEvent: ok for kStreamFinished).
  Result<void> end(StreamHandle h, NackCode code, const std::string& reason, int64_t now_us);
  // DATA the responder may send now; 0 for an unknown handle.
  uint32_t credit(StreamHandle h) const;

  // ---- inputs
  // A STREAM message from the peer `peer` on `link`; `app_known`: an app of
  // that id is registered here (OPEN for another is answered END kUnknownApp).
  void on_message(LinkId link, const PublicKey& peer, bool app_known, StreamMsg&& m,
                  int64_t now_us);
  // Ends streams idle for idle_timeout_us (END or CANCEL kIdleTimeout).
  void on_timer(int64_t now_us);
  // No stream can time out before this (a lower bound; nullopt: no streams).
  std::optional<int64_t> next_deadline_us() const;

  bool poll(Output& out);

  size_t outbound_count() const { return out_.size(); }
  size_t inbound_count() const { return in_.size(); }

 private:
  enum class Support : uint8_t { kUnknown, kYes, kNo };
  struct LinkState {
    PublicKey peer{};
    Support support = Support::kUnknown;
    uint32_t next_stream = 1;
    size_t inbound = 0;
  };
  struct Outbound {  // a stream we opened
    LinkId link = 0;
    uint32_t wire = 0;  // its stream id on the link
    AppId app = 0;
    uint32_t window = 0;
    uint32_t outstanding = 0;  // credit granted, not yet used by DATA
    uint32_t consumed = 0;     // DATA taken in since the last re-grant (automatic credit)
    bool manual = false;
    bool held = false;  // OPEN not yet sent: the link's support is unknown
    Bytes request;      // while held
    int64_t last_us = 0;
  };
  struct Inbound {  // a stream the peer opened
    LinkId link = 0;
    uint32_t wire = 0;
    AppId app = 0;
    uint32_t credit = 0;  // DATA we may still send
    int64_t last_us = 0;
  };

  static uint64_t wire_key(LinkId link, uint32_t stream) { return link << 32 | stream; }
  void send(LinkId link, AppId app, StreamKind kind, uint32_t stream, uint32_t credit = 0,
            NackCode code = kStreamFinished, std::string reason = {}, Bytes payload = {});
  void on_open(LinkId link, const PublicKey& peer, bool app_known, StreamMsg&& m, int64_t now_us);
  void on_data(LinkId link, StreamMsg&& m, int64_t now_us);
  void on_end(LinkId link, StreamMsg&& m);
  void on_credit(LinkId link, const StreamMsg& m, int64_t now_us);
  void on_cancel(LinkId link, const StreamMsg& m);
  // Forgets a stream and reports its end once.
  void finish_out(StreamId id, Result<void> result);
  void finish_in(StreamHandle h, Result<void> result);
  void watch(int64_t deadline_us) { next_check_us_ = std::min(next_check_us_, deadline_us); }

  StreamLimits limits_;
  std::map<LinkId, LinkState> links_;
  std::map<StreamId, Outbound> out_;
  std::map<StreamHandle, Inbound> in_;
  std::map<uint64_t, StreamId> out_by_wire_;     // wire_key(link, stream) → ours
  std::map<uint64_t, StreamHandle> in_by_wire_;  // wire_key(link, stream) → theirs
  uint64_t last_name_ = 0;                       // StreamIds and handles share it
  int64_t next_check_us_ = INT64_MAX;            // the earliest idle deadline, or earlier
  std::deque<Output> outputs_;
};

// The error a stream END or CANCEL code stands for ("by" names who ended it).
Error stream_error(uint8_t code, const std::string& reason, const char* by);

}  // namespace chorus::overlay
