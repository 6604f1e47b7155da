// NodeCore's streams (spec/overlay.md, "Streams"): the app commands and the
// hooks node_core.cc calls, all delegating to the StreamTable. Here only
// the plumbing lives: which link a peer is on, sending what the table
// queued, penalties, and handing its events to poll_event.
#include <type_traits>

#include "chorus/overlay/node_core.h"
#include "stream_table.h"

namespace chorus::overlay {
namespace {

// SET_CONNECTION_OPT option 4: "I speak STREAM", setting = its version.
constexpr uint8_t kOptionStreams = 4;
constexpr uint8_t kStreamsVersion = 1;
// A peer that broke the stream rules (DATA beyond credit, credit above the
// window, an OPEN for an id in use): 5 of them and it is banned.
constexpr int kScoreStreamViolation = 20;

}  // namespace

// ---------------------------------------------------------------- hooks

void NodeCore::offer_streams(Link& l, uint32_t id, int64_t now_us) {
  send(l, Message{id, SetConnectionOptMsg{kOptionStreams, kStreamsVersion}}, now_us);
}

bool NodeCore::streams_option(Link& l, LinkId link, const PublicKey& peer, uint32_t id,
                              const SetConnectionOptMsg& opt, int64_t now_us) {
  if (opt.option != kOptionStreams) return false;
  const Bytes echo{opt.option, opt.setting};
  if (opt.setting != kStreamsVersion) {
    send_nack(l, id, static_cast<uint8_t>(Opcode::kSetConnectionOpt), NackCode::kUnsupportedOption,
              "unknown streams version " + std::to_string(opt.setting), echo, now_us);
    return true;
  }
  // Both sides offer; the peer's offer is what lets us send it STREAM.
  streams_->enable_link(link, peer);
  send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
  pump_streams(now_us);  // OPENs that waited for it
  return true;
}

void NodeCore::streams_nacked(LinkId link, const NackMsg& nack, int64_t now_us) {
  if (nack.acked != static_cast<uint8_t>(Opcode::kSetConnectionOpt) || nack.data.size() != 2 ||
      nack.data[0] != kOptionStreams) {
    return;
  }
  streams_->disable_link(link);  // an older peer: OPENs waiting for it fail
  pump_streams(now_us);
}

void NodeCore::on_stream(LinkId link, const PublicKey& peer, StreamMsg&& m, int64_t now_us) {
  const bool app_known = apps_.count(m.app) != 0;
  streams_->on_message(link, peer, app_known, std::move(m), now_us);
  pump_streams(now_us);
}

void NodeCore::end_streams_of(LinkId link, const std::string& reason, int64_t now_us) {
  streams_->link_closed(link, reason);
  pump_streams(now_us);
}

void NodeCore::stream_timer(int64_t now_us) {
  streams_->on_timer(now_us);
  pump_streams(now_us);
}

std::optional<int64_t> NodeCore::stream_deadline_us() const {
  return streams_->next_deadline_us();
}

// Runs again from inside itself when a penalty closes a link (the close
// ends that link's streams); each output is taken off the queue before it
// is acted on, so none is lost or done twice.
void NodeCore::pump_streams(int64_t now_us) {
  StreamTable::Output out;
  while (streams_->poll(out)) {
    std::visit(
        [&](auto& o) {
          using T = std::decay_t<decltype(o)>;
          if constexpr (std::is_same_v<T, StreamTable::Send>) {
            // A closed or unestablished link takes nothing (enqueue refuses it).
            if (Link* l = find(o.link)) send(*l, Message{0, std::move(o.msg)}, now_us);
          } else if constexpr (std::is_same_v<T, StreamTable::Penalty>) {
            if (Link* l = find(o.link)) misbehaved(*l, kScoreStreamViolation, o.why, now_us);
          } else {
            events_.push_back(std::move(o));
          }
        },
        out);
  }
}

// ---------------------------------------------------------------- commands

Result<StreamId> NodeCore::open_stream(AppId app, const PublicKey& to, ByteView request,
                                       uint32_t window, int64_t now_us, bool manual_credit) {
  if (shut_down_) return cancelled("node is shut down");
  auto it = by_key_.find(to);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(to));
  auto id = streams_->open(it->second, to, app, request, window, manual_credit, now_us);
  pump_streams(now_us);
  return id;
}

Result<void> NodeCore::stream_grant(StreamId id, uint32_t credit, int64_t now_us) {
  auto r = streams_->grant(id, credit, now_us);
  pump_streams(now_us);
  return r;
}

Result<void> NodeCore::stream_cancel(StreamId id, NackCode code, const std::string& reason,
                                     int64_t now_us) {
  auto r = streams_->cancel(id, code, reason, now_us);
  pump_streams(now_us);
  return r;
}

Result<void> NodeCore::stream_write(StreamHandle handle, ByteView payload, int64_t now_us) {
  auto r = streams_->write(handle, payload, now_us);
  pump_streams(now_us);
  return r;
}

Result<void> NodeCore::stream_end(StreamHandle handle, NackCode code, const std::string& reason,
                                  int64_t now_us) {
  auto r = streams_->end(handle, code, reason, now_us);
  pump_streams(now_us);
  return r;
}

uint32_t NodeCore::stream_credit(StreamHandle handle) const {
  return streams_->credit(handle);
}

size_t NodeCore::stream_count() const {
  return streams_->outbound_count() + streams_->inbound_count();
}

}  // namespace chorus::overlay
