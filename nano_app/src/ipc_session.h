// IpcSession: one IPC connection (spec/ipc.md) as a core with no I/O.
//
//   IpcSession s(limits, /*stop_enabled=*/true);
//   s.on_bytes(read);                          // what the client sent
//   for (auto& c : s.take_calls())             // requests for the JSON RPC
//     rpc.handle_json(c.request, [&](std::string a) { s.on_reply(c.id, a); });
//   for (auto& w : s.take_writes()) write(w);  // frames, in order; then
//   s.on_written(n);                           //   as the socket takes them
//   if (s.abort()) close_now();
//
// Inputs: on_bytes (the client's bytes, in any pieces), on_reply (the RPC's
// answer to a call), on_written (bytes the socket took), on_event (a block
// confirmed). After each, drain: take_calls() first (an answer may come at
// once, as more input), then take_writes(), then look at abort() and
// wants_bytes(). A Write's `after` says what to do once its bytes are
// written: close the connection (a fatal error was answered) or stop the
// node (a `stop` was answered).
//
// Order: responses go out in the order of their requests, however the RPC
// answers them; up to max_in_flight requests are answered at once. Events
// go out as they come, after the subscribe's response.
//
// Bounds: a request's header (1 KiB) and body (max_request_bytes; past
// either, FRAME_TOO_LARGE and close); requests in flight; an answer's size
// (RESPONSE_TOO_LARGE); bytes written but not yet taken by the client:
// past max_queued_bytes no request is read, and an event that would pass
// it aborts the connection (a slow reader). wants_bytes() is false while
// any of those holds the connection back, so the driver stops reading and
// what the session buffers stays below one request and one read.
//
// Threads: none; one thread at a time (the driver's loop).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chorus/nano/node_events.h"
#include "ipc_actions.h"
#include "ipc_codec.h"

namespace chorus::nano {

struct IpcLimits {
  size_t max_request_bytes = size_t{1} << 20;    // a request's body
  size_t max_response_bytes = size_t{16} << 20;  // an answer's body
  size_t max_in_flight = 4;                      // requests of one connection answered at once
  size_t max_queued_bytes = size_t{16} << 20;    // written to one client, not yet taken
  size_t max_subscribed_accounts = 10000;        // in subscribe_confirmations
};

class IpcSession {
 public:
  enum class After { kNothing, kClose, kStopNode };
  struct Write {
    std::string bytes;
    After after = After::kNothing;
  };
  // A request for the JSON RPC; answer with on_reply(id, ...).
  struct Call {
    uint64_t id = 0;
    nlohmann::ordered_json request;
  };

  // `stop_enabled`: whether `stop` is honoured (else UNSUPPORTED).
  IpcSession(IpcLimits limits, bool stop_enabled);

  void on_bytes(std::string_view bytes);
  // The RPC's answer text to call `id`; an id not waiting is ignored.
  void on_reply(uint64_t id, std::string_view answer);
  void on_written(size_t bytes);
  void on_event(const BlockConfirmedEvent& event);

  std::vector<Call> take_calls();
  std::vector<Write> take_writes();
  // Once set, the connection closes at once, unwritten bytes and all.
  const std::optional<std::string>& abort() const { return abort_; }
  bool wants_bytes() const;
  bool subscribed() const { return subscription_.has_value(); }
  size_t queued_bytes() const { return queued_; }

 private:
  struct Subscription {
    std::string correlation_id;
    ipc::ConfirmationTypeFilter filter = ipc::CONFIRMATION_TYPE_FILTER_ALL;
    std::set<PublicKey> accounts;  // empty: all
    bool include_block = true;
    bool include_election_info = true;
  };
  enum class Release { kNothing, kSubscribe, kUnsubscribe, kStop, kClose };
  // A request being answered, in arrival order.
  struct Slot {
    uint64_t id = 0;
    ipc::RequestType type = ipc::REQUEST_TYPE_UNSPECIFIED;
    std::string correlation_id;
    std::optional<std::string> frame;  // the response, once known
    Release release = Release::kNothing;
    std::optional<Subscription> subscription;  // with kSubscribe
  };

  void read_frames();
  void on_frame(ipc::Frame frame);
  void fail_stream(const chorus::Error& e);
  void answer(Slot& slot, std::string_view body);
  void refuse(Slot& slot, ipc::ErrorCode code, std::string_view message);
  void release_answered();
  void write(std::string bytes, After after);
  bool wanted(const BlockConfirmedEvent& e) const;

  IpcLimits limits_;
  bool stop_enabled_;
  ipc::FrameReader reader_;
  std::deque<Slot> slots_;
  uint64_t next_id_ = 1;
  std::vector<Call> calls_;
  std::vector<Write> writes_;
  size_t queued_ = 0;     // handed to the driver, not yet written
  bool closing_ = false;  // no request is read any more
  std::optional<std::string> abort_;
  std::optional<Subscription> subscription_;
};

}  // namespace chorus::nano
