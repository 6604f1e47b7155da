#include "chorus/dht/node_record.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string_view>

#include "chorus/overlay/wire.h"

namespace chorus::dht {
namespace {

constexpr std::string_view kRecordContext = "chorus-node-record/v1";

}  // namespace

Key node_record_key(const PublicKey& node) {
  Bytes in(kRecordContext.begin(), kRecordContext.end());
  in.insert(in.end(), node.begin(), node.end());
  return overlay::blake2b_256(in);
}

Result<Bytes> encode_node_record(const NodeRecord& record) {
  const size_t n = record.entries.size();
  if (record.kind == NodeRecord::Kind::kListening ? n != 1 : (n == 0 || n > kMaxRecordRelays)) {
    return invalid_argument("a node record names one listen address or 1..8 relays");
  }
  Bytes out;
  overlay::ByteWriter w(out);
  w.u8(kNodeRecordVersion);
  w.u8(static_cast<uint8_t>(record.kind));
  w.u8(static_cast<uint8_t>(n));
  for (const Contact& c : record.entries) {
    uint8_t addr[16];
    w.array(c.key);
    if (inet_pton(AF_INET, c.address.host.c_str(), addr) == 1) {
      w.u8(4);
      w.bytes(ByteView(addr, 4));
    } else if (inet_pton(AF_INET6, c.address.host.c_str(), addr) == 1) {
      w.u8(6);
      w.bytes(ByteView(addr, 16));
    } else {
      return invalid_argument("not a numeric IP address: " + c.address.host);
    }
    if (c.address.port == 0) return invalid_argument("a node record address needs a port");
    w.u16(c.address.port);
  }
  return out;
}

Result<NodeRecord> decode_node_record(ByteView bytes) {
  overlay::ByteReader r(bytes);
  uint8_t version = 0, kind = 0, count = 0;
  if (!r.u8(version) || !r.u8(kind) || !r.u8(count)) return malformed("node record truncated");
  if (version != kNodeRecordVersion) {
    return malformed("node record version " + std::to_string(version) + ", we read 1");
  }
  NodeRecord rec;
  if (kind == static_cast<uint8_t>(NodeRecord::Kind::kListening)) {
    if (count != 1) return malformed("a listening node record names exactly one address");
  } else if (kind == static_cast<uint8_t>(NodeRecord::Kind::kRelayed)) {
    if (count == 0 || count > kMaxRecordRelays) return malformed("a node record names 1..8 relays");
  } else {
    return malformed("unknown node record kind " + std::to_string(kind));
  }
  rec.kind = static_cast<NodeRecord::Kind>(kind);
  for (uint8_t i = 0; i < count; ++i) {
    PublicKey key{};
    uint8_t family = 0;
    ByteView addr;
    uint16_t port = 0;
    if (!r.array(key) || !r.u8(family)) return malformed("node record truncated");
    if (family != 4 && family != 6) return malformed("node record address family must be 4 or 6");
    if (!r.bytes(family == 4 ? 4 : 16, addr) || !r.u16(port)) {
      return malformed("node record truncated");
    }
    if (port == 0) return malformed("node record address with port 0");
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(family == 4 ? AF_INET : AF_INET6, addr.data(), text, sizeof text);
    rec.entries.push_back(make_contact(key, Address{text, port}));
  }
  if (r.remaining() != 0) return malformed("node record has trailing bytes");
  return rec;
}

Result<NodeRecord> pick_node_record(const PublicKey& node,
                                    const std::vector<SignedValue>& signed_values, uint64_t* seq) {
  const Key key = node_record_key(node);
  std::optional<NodeRecord> best;
  uint64_t best_seq = 0;
  for (const SignedValue& v : signed_values) {
    if (v.owner != node || (best && v.seq <= best_seq)) continue;
    if (!overlay::verify_signature(node, signed_value_message(key, v.seq, v.ttl_s, v.data),
                                   v.signature)) {
      continue;
    }
    auto rec = decode_node_record(v.data);
    if (!rec) continue;
    if (rec->kind == NodeRecord::Kind::kListening && rec->entries[0].key != node) continue;
    best = std::move(*rec);
    best_seq = v.seq;
  }
  if (!best) return not_found("no node record signed by " + overlay::address_to_text(node));
  if (seq) *seq = best_seq;
  return std::move(*best);
}

std::vector<Route> routes_from(const NodeRecord& record, const PublicKey& target,
                               const PublicKey& self,
                               const std::function<bool(const PublicKey&)>& is_peer) {
  std::vector<Route> out;
  if (record.kind == NodeRecord::Kind::kListening) {
    out.push_back(Route{target, record.entries[0].address, std::nullopt});
    return out;
  }
  for (const Contact& c : record.entries) {
    if (c.key == self || c.key == target) continue;
    if (std::any_of(out.begin(), out.end(), [&](const Route& r) { return r.dial_key == c.key; })) {
      continue;
    }
    out.push_back(Route{c.key, c.address, c.key});
  }
  std::stable_partition(out.begin(), out.end(),
                        [&](const Route& r) { return is_peer && is_peer(r.dial_key); });
  return out;
}

}  // namespace chorus::dht
