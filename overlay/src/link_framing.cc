// Link framing: messages become length-prefixed records, records become
// sealed (and maybe compressed) frames, frames go to the driver in flush();
// and back: received bytes are opened into frames, records, messages.
#include <algorithm>

#include "node_core_internal.h"

namespace chorus::overlay {
using namespace detail;

void NodeCore::mark_dirty(Link& l) {
  if (!l.dirty) {
    l.dirty = true;
    dirty_.push_back(l.id);
  }
}

void NodeCore::process_frames(Link& l, std::span<uint8_t> data, int64_t now_us) {
  // Frames are opened in place. Only a frame split across reads is copied
  // (into l.rx, bounded by max_frame_bytes); whole frames are opened straight
  // from the driver's buffer.
  auto open_one = [&](std::span<uint8_t> buf) -> std::optional<size_t> {
    auto r = l.opener->open(buf);
    if (!r) {
      misbehaved(l, config_.misbehaviour_limit, r.error().message(), now_us);
      return std::nullopt;
    }
    if (!*r) return size_t{0};
    ++stats_.frames_received;
    if (!handle_plaintext(l, (*r)->plaintext, now_us)) return std::nullopt;
    return (*r)->consumed;
  };
  while (!data.empty() && !l.closed) {
    if (!l.rx.empty()) {
      // Complete the frame that began in an earlier read.
      // First the length prefix alone, so that open() checks it against the
      // maximum before any body is buffered for it; then the rest.
      size_t want = kFrameLengthBytes;
      if (auto total = FrameOpener::peek_length(l.rx)) want = *total;
      size_t take = std::min(want - l.rx.size(), data.size());
      l.rx.insert(l.rx.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
      data = data.subspan(take);
      auto used = open_one(std::span<uint8_t>(l.rx));
      if (!used) return;
      if (*used > 0) l.rx.clear();
      continue;
    }
    auto used = open_one(data);
    if (!used) return;
    if (*used == 0) {
      l.rx.assign(data.begin(), data.end());
      return;
    }
    data = data.subspan(*used);
  }
}

bool NodeCore::handle_plaintext(Link& l, std::span<uint8_t> plain, int64_t now_us) {
  if (plain.empty()) {
    misbehaved(l, config_.misbehaviour_limit, "empty frame", now_us);
    return false;
  }
  // The first byte marks the codec (spec/compression.md): 0 = none, else
  // 1 + the setting of a method we ACKed when the peer offered it.
  const uint8_t mark = plain[0];
  Bytes inflated;
  if (mark != kCodecNone) {
    const uint8_t setting = static_cast<uint8_t>(mark - 1);
    auto method = compression::method_from_setting(setting);
    if (!method || !(l.compress_we_acked & (1u << setting))) {
      misbehaved(l, config_.misbehaviour_limit,
                 "frame marked with codec " + std::to_string(mark) + " that was not negotiated",
                 now_us);
      return false;
    }
    auto out =
        compression::codec_for(*method).decompress(plain.subspan(1), max_decompressed_bytes());
    if (!out) {
      misbehaved(l, config_.misbehaviour_limit,
                 "frame did not decompress: " + out.error().message(), now_us);
      return false;
    }
    inflated = std::move(*out);
    plain = std::span<uint8_t>(inflated);
  } else {
    plain = plain.subspan(1);
  }
  size_t off = 0;
  while (off < plain.size()) {
    if (plain.size() - off < kRecordLengthBytes) {
      misbehaved(l, config_.misbehaviour_limit, "truncated record length", now_us);
      return false;
    }
    size_t len = size_t{plain[off]} << 24 | size_t{plain[off + 1]} << 16 |
                 size_t{plain[off + 2]} << 8 | size_t{plain[off + 3]};
    off += kRecordLengthBytes;
    if (len > plain.size() - off) {
      misbehaved(l, config_.misbehaviour_limit, "record longer than its frame", now_us);
      return false;
    }
    auto m = decode_message(plain.subspan(off, len));
    off += len;
    if (!m) {
      misbehaved(l, config_.misbehaviour_limit, "malformed message: " + m.error().message(),
                 now_us);
      return false;
    }
    ++stats_.messages_received;
    handle_message(l, std::move(*m), now_us);
    if (l.closed) return false;
  }
  return true;
}

bool NodeCore::send(Link& l, const Message& m, int64_t now_us) {
  scratch_.clear();
  encode_message(m, scratch_);
  const bool queued = enqueue(l, scratch_, now_us);
  if (queued) {
    switch (static_cast<Opcode>(opcode_of(m))) {
      case Opcode::kIhave:
        ++stats_.ihaves_sent;
        stats_.ihave_bytes_sent += scratch_.size();
        break;
      case Opcode::kGraft:
        ++stats_.grafts_sent;
        stats_.graft_bytes_sent += scratch_.size();
        break;
      case Opcode::kPrune:
        ++stats_.prunes_sent;
        stats_.prune_bytes_sent += scratch_.size();
        break;
      default:
        break;
    }
  }
  return queued;
}

void NodeCore::send_ack(Link& l, uint32_t id, Opcode acked, Bytes data, int64_t now_us) {
  send(l, Message{id, AckMsg{static_cast<uint8_t>(acked), std::move(data)}}, now_us);
}

void NodeCore::send_nack(Link& l, uint32_t id, uint8_t acked, NackCode code, std::string reason,
                         Bytes data, int64_t now_us) {
  send(l, Message{id, NackMsg{acked, code, std::move(reason), std::move(data)}}, now_us);
}

void NodeCore::seal_pending(Link& l) {
  if (l.plain.size() <= 1) return;
  ++stats_.frames_sent;
  // Sealed bytes go into memory a written frame left (recycle_buffer); only
  // between here and flush() does a link hold it.
  if (l.out.capacity() == 0 && !spare_buffers_.empty()) {
    l.out = std::move(spare_buffers_.back());
    spare_buffers_.pop_back();
  }
  if (l.tx_codec && l.plain.size() - 1 >= config_.compression_threshold_bytes) {
    if (l.skip_compression > 0) {
      --l.skip_compression;
    } else {
      const ByteView records = ByteView(l.plain).subspan(1);
      // Snappy gives up on incompressible data at memory speed; the other
      // codecs cost 50-500x more. Let it judge first: if it cannot save an
      // eighth, the slow codec is not tried on this frame.
      bool worth_it = true;
      if (*l.tx_codec != compression::Method::kSnappy) {
        auto probe = compression::codec_for(compression::Method::kSnappy).compress(records);
        worth_it =
            probe && probe->size() <= records.size() - records.size() / kWorthCompressingDivisor;
      }
      Result<Bytes> packed = worth_it ? compression::codec_for(*l.tx_codec).compress(records)
                                      : Result<Bytes>(limit_exceeded("incompressible"));
      if (packed && packed->size() < records.size()) {
        l.incompressible_streak = 0;
        stats_.bytes_before_compression += records.size();
        stats_.bytes_after_compression += packed->size();
        ++stats_.frames_compressed;
        packed->insert(packed->begin(),
                       static_cast<uint8_t>(1 + compression::setting_of(*l.tx_codec)));
        l.sealer->seal(*packed, l.out);
        l.plain.clear();
        return;
      }
      // It did not shrink: skip the next 1, 3, 7 .. 63 frames before trying
      // again, so incompressible traffic costs a compression attempt only
      // now and then instead of on every frame.
      l.incompressible_streak = std::min(l.incompressible_streak + 1, kMaxIncompressibleStreak);
      l.skip_compression = (1 << l.incompressible_streak) - 1;
    }
  }
  l.sealer->seal(l.plain, l.out);
  l.plain.clear();
}

void NodeCore::flush(int64_t now_us) {
  // What this input announced goes out as one IHAVE per lazy link.
  tree_.flush_announcements();
  drain_tree(now_us);
  std::vector<LinkId> dirty;
  dirty.swap(dirty_);
  for (LinkId id : dirty) {
    auto it = links_.find(id);
    if (it == links_.end()) continue;
    Link& l = *it->second;
    l.dirty = false;
    if (l.closed) continue;
    if (l.state == Link::State::kEstablished) {
      drain_send_queue(l);
      seal_pending(l);
    }
    if (l.out.empty()) continue;
    l.in_flight += l.out.size();
    stats_.bytes_sent += l.out.size();
    actions_.push_back(SendAction{l.id, std::move(l.out)});
    l.out = Bytes();
    if (l.in_flight > config_.max_send_queue_bytes) {
      close_link(l,
                 "send queue above " + std::to_string(config_.max_send_queue_bytes) +
                     " bytes (peer not reading)",
                 true, now_us);
    }
  }
  // Closed links leave once nothing can point at them any more. Only a close
  // makes this sweep necessary, so it does not cost every flush a scan.
  if (!swept_closed_) return;
  swept_closed_ = false;
  for (auto it = links_.begin(); it != links_.end();) {
    if (it->second->closed && !it->second->dirty) {
      it = links_.erase(it);
    } else {
      if (it->second->closed) swept_closed_ = true;  // still referenced: next time
      ++it;
    }
  }
}

}  // namespace chorus::overlay
