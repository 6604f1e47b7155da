// Fair sending (spec/overlay.md, "Fair sending"): what goes into a link's
// frames now and what waits in its per-app SendQueue; and DIRECT, the
// unacknowledged app message that relies on it for backpressure.
#include <algorithm>

#include "chorus/overlay/wire.h"
#include "node_core_internal.h"

namespace chorus::overlay {
using namespace detail;
namespace {

// DIRECT: opcode u8 ‖ id u32 (0) ‖ app u16, then the payload.
constexpr size_t kDirectHeaderBytes = 7;

// The app an encoded message is sent for, which decides its queue (fair
// sending); nullopt for the overlay's control messages, which never wait
// behind apps. Every app message's body starts with its app u16.
std::optional<AppId> app_of_record(ByteView record) {
  constexpr size_t kAppAt = 5;  // opcode u8 ‖ id u32 ‖ app u16
  if (record.size() < kAppAt + 2) return std::nullopt;
  switch (static_cast<Opcode>(record[0])) {
    case Opcode::kShout:
    case Opcode::kSpeak:
    case Opcode::kWhisper:
    case Opcode::kContentShout:
    case Opcode::kDirect:
    case Opcode::kStream:
      return static_cast<AppId>(record[kAppAt] << 8 | record[kAppAt + 1]);
    default:
      return std::nullopt;
  }
}

}  // namespace

void NodeCore::set_app_priority(AppId app, AppPriority priority) {
  if (priority == AppPriority::kNormal) {
    priorities_.erase(app);
  } else {
    priorities_[app] = priority;
  }
}

AppPriority NodeCore::app_priority(AppId app) const {
  if (priorities_.empty()) return AppPriority::kNormal;
  auto it = priorities_.find(app);
  return it == priorities_.end() ? AppPriority::kNormal : it->second;
}

bool NodeCore::enqueue(Link& l, ByteView record, int64_t now_us) {
  if (l.closed || l.state != Link::State::kEstablished) return false;
  const size_t frame_payload_max = config_.max_frame_bytes - kFrameTagBytes;
  if (1 + kRecordLengthBytes + record.size() > frame_payload_max) return false;  // fits no frame
  // Straight into the frame while the window has room and nothing waits
  // (the common case, and the cheap one); otherwise into the app's queue.
  const std::optional<AppId> app =
      l.sendq.empty() && l.unwritten() < config_.link_write_window_bytes ? std::nullopt
                                                                         : app_of_record(record);
  if (!app) {
    append_record(l, record);
  } else {
    // A stream's DATA is bounded by its credit instead, and must not be
    // lost once the stream table counted it sent.
    const bool credited = static_cast<Opcode>(record[0]) == Opcode::kStream;
    if (!credited && !room_for(l, *app, record.size())) {
      ++stats_.app_queue_refused;
      return false;
    }
    l.sendq.push(app_priority(*app), *app, record);
    ++stats_.messages_queued;
  }
  ++stats_.messages_sent;
  mark_dirty(l);
  if (l.queued() > config_.max_send_queue_bytes) {
    close_link(l,
               "send queue above " + std::to_string(config_.max_send_queue_bytes) +
                   " bytes (peer not reading)",
               true, now_us);
    return false;
  }
  return true;
}

void NodeCore::append_record(Link& l, ByteView record) {
  const size_t frame_payload_max = config_.max_frame_bytes - kFrameTagBytes;
  const size_t need = kRecordLengthBytes + record.size();
  if (l.plain.size() + need > frame_payload_max) seal_pending(l);
  if (l.plain.empty()) l.plain.push_back(kCodecNone);
  const uint32_t len = static_cast<uint32_t>(record.size());
  const uint8_t prefix[kRecordLengthBytes] = {
      static_cast<uint8_t>(len >> 24), static_cast<uint8_t>(len >> 16),
      static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len)};
  l.plain.insert(l.plain.end(), prefix, prefix + kRecordLengthBytes);
  l.plain.insert(l.plain.end(), record.begin(), record.end());
  if (l.plain.size() >= kSealAtBytes) seal_pending(l);
}

void NodeCore::drain_send_queue(Link& l) {
  while (!l.sendq.empty() && l.unwritten() < config_.link_write_window_bytes) {
    const AppPriority priority = l.sendq.top_priority();
    append_record(l, l.sendq.front());
    l.sendq.pop();
    // A frame is read only once it has arrived whole: end it after urgent
    // records, or a vote would wait for the bulk data sealed behind it.
    if (!l.sendq.empty() && l.sendq.top_priority() > priority) seal_pending(l);
  }
}

bool NodeCore::room_for(const Link& l, AppId app, size_t bytes) const {
  if (l.sendq.empty() && l.unwritten() < config_.link_write_window_bytes) return true;
  return l.sendq.app_bytes(app) + bytes <= config_.max_app_queue_bytes;
}

Result<void> NodeCore::send_direct(AppId app, const PublicKey& to, ByteView payload,
                                   int64_t now_us) {
  if (shut_down_) return cancelled("node is shut down");
  if (payload.size() > max_payload_bytes()) return limit_exceeded("DIRECT payload too large");
  auto it = by_key_.find(to);
  if (it == by_key_.end()) return not_found("no direct link to " + address_to_text(to));
  Link& l = *links_[it->second];
  if (!room_for(l, app, kDirectHeaderBytes + payload.size())) {
    ++stats_.app_queue_refused;
    return limit_exceeded("app " + std::to_string(app) + " has max_app_queue_bytes queued to " +
                          address_to_text(to));
  }
  // Encoded here rather than through DirectMsg: one copy of the payload.
  scratch_.clear();
  ByteWriter w(scratch_);
  w.u8(static_cast<uint8_t>(Opcode::kDirect));
  w.u32(0);
  w.u16(app);
  w.bytes(payload);
  if (!enqueue(l, scratch_, now_us)) {
    return io_error("link to " + address_to_text(to) + " closed");
  }
  ++stats_.directs_sent;
  return {};
}

}  // namespace chorus::overlay
