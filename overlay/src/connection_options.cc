// Connection options (SET_CONNECTION_OPT, spec/overlay.md and
// spec/compression.md): what each side offers after the handshake, what
// the other ACKs, and which codec frames are compressed with.
#include "node_core_internal.h"

namespace chorus::overlay {
using namespace detail;

bool NodeCore::offered(uint8_t setting) const {
  for (auto m : config_.compression)
    if (compression::setting_of(m) == setting) return true;
  return false;
}

size_t NodeCore::max_decompressed_bytes() const {
  return config_.max_decompressed_bytes ? config_.max_decompressed_bytes : config_.max_frame_bytes;
}

// Right after the handshake: what we offer the peer, each option in its
// own SET_CONNECTION_OPT (a peer that does not know one NACKs it alone).
void NodeCore::offer_options(Link& l, int64_t now_us) {
  for (auto m : config_.compression) {
    send(l,
         Message{l.take_id(), SetConnectionOptMsg{kOptionCompression, compression::setting_of(m)}},
         now_us);
  }
  if (config_.preferred_compression) {
    send(l,
         Message{l.take_id(),
                 SetConnectionOptMsg{kOptionPreferredCompression,
                                     compression::setting_of(*config_.preferred_compression)}},
         now_us);
  }
  if (!config_.tree_shout_apps.empty()) {
    send(l, Message{l.take_id(), SetConnectionOptMsg{kOptionBroadcastTree, kBroadcastTreeVersion}},
         now_us);
  }
  if (!config_.content_shout_apps.empty()) {
    l.content_offer_id = l.take_id();
    send(
        l,
        Message{l.content_offer_id, SetConnectionOptMsg{kOptionContentShout, kContentShoutVersion}},
        now_us);
  }
}

// The peer's answer to one of our offers.
void NodeCore::on_option_answer(Link& l, uint32_t id, const Result<Bytes>& result, int64_t now_us) {
  if (id != 0 && id == l.content_offer_id) {
    settle_content(l,
                   result && result->size() == 2 && (*result)[0] == kOptionContentShout &&
                       (*result)[1] == kContentShoutVersion,
                   now_us);
    return;
  }
  // Our broadcast-tree offer ACKed: the peer speaks the tree opcodes. A
  // NACK (an older node) leaves the link out of the tree: full SHOUTs.
  if (result && result->size() == 2 && (*result)[0] == kOptionBroadcastTree &&
      (*result)[1] == kBroadcastTreeVersion && routable(l)) {
    tree_.add_link(l.id, now_us);
    return;
  }
  // ACK echoes option and setting; a NACK leaves the option off.
  if (result && result->size() == 2 && (*result)[0] == kOptionCompression &&
      compression::method_from_setting((*result)[1]) && offered((*result)[1])) {
    l.compress_peer_acked |= static_cast<uint8_t>(1u << (*result)[1]);
    choose_codec(l);
  }
}

void NodeCore::on_connection_opt(Link& l, uint32_t id, const SetConnectionOptMsg& opt,
                                 int64_t now_us) {
  const Bytes echo{opt.option, opt.setting};
  const uint8_t acked = static_cast<uint8_t>(Opcode::kSetConnectionOpt);
  if (streams_option(l, l.id, l.peer, id, opt, now_us)) return;
  if (opt.option == kOptionBroadcastTree) {
    if (opt.setting != kBroadcastTreeVersion) {
      send_nack(l, id, acked, NackCode::kUnsupportedOption,
                "unknown broadcast tree version " + std::to_string(opt.setting), echo, now_us);
      return;
    }
    // The peer speaks the tree opcodes and so do we, whatever our own apps'
    // modes: the link joins the tree (eager until a duplicate prunes it).
    if (routable(l)) tree_.add_link(l.id, now_us);
    send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
    return;
  }
  if (opt.option == kOptionContentShout) {
    if (opt.setting != kContentShoutVersion) {
      send_nack(l, id, acked, NackCode::kUnsupportedOption,
                "unknown content-addressed SHOUT version " + std::to_string(opt.setting), echo,
                now_us);
      return;
    }
    // We speak it, whatever our own apps' modes: we relay such SHOUTs.
    send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
    settle_content(l, true, now_us);
    return;
  }
  if (opt.option != kOptionCompression && opt.option != kOptionPreferredCompression) {
    send_nack(l, id, acked, NackCode::kUnsupportedOption,
              "unknown option " + std::to_string(opt.option), echo, now_us);
    return;
  }
  auto method = compression::method_from_setting(opt.setting);
  if (!method) {
    send_nack(l, id, acked, NackCode::kUnsupportedOption,
              "unknown compression setting " + std::to_string(opt.setting), echo, now_us);
    return;
  }
  if (!offered(opt.setting)) {
    send_nack(l, id, acked, NackCode::kUnsupportedOption,
              std::string("compression ") + compression::method_name(*method) + " is disabled",
              echo, now_us);
    return;
  }
  if (opt.option == kOptionCompression) {
    l.compress_we_acked |= static_cast<uint8_t>(1u << opt.setting);
  } else {
    l.peer_preferred = opt.setting;
  }
  send_ack(l, id, Opcode::kSetConnectionOpt, echo, now_us);
  choose_codec(l);
}

// The receiver's preferred codec if both sides ACKed it, else the first in
// our own order that both ACKed, else none.
void NodeCore::choose_codec(Link& l) {
  auto usable = [&](uint8_t setting) {
    const uint8_t bit = static_cast<uint8_t>(1u << setting);
    return (l.compress_we_acked & bit) && (l.compress_peer_acked & bit);
  };
  l.tx_codec.reset();
  if (l.peer_preferred && usable(*l.peer_preferred)) {
    l.tx_codec = compression::method_from_setting(*l.peer_preferred);
    return;
  }
  for (auto m : config_.compression) {
    if (usable(compression::setting_of(m))) {
      l.tx_codec = m;
      return;
    }
  }
}

std::optional<compression::Method> NodeCore::link_codec(const PublicKey& peer) const {
  auto it = by_key_.find(peer);
  if (it == by_key_.end()) return std::nullopt;
  return links_.at(it->second)->tx_codec;
}

}  // namespace chorus::overlay
