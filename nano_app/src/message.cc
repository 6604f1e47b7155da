#include "chorus/nano/message.h"

#include <sodium.h>

#include <cstring>

namespace chorus::nano {
namespace {

constexpr uint16_t kBlockTypeMask = 0x0f00;
constexpr uint16_t kConfirmV2Flag = 0x0001;
constexpr uint16_t kNotABlock = 1;
constexpr uint16_t kTelemetrySizeMask = 0x03ff;
constexpr size_t kVoteFixedSize = 32 + 64 + 8;

class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  void bytes(uint8_t* out, size_t n) {
    std::memcpy(out, b_.data() + at_, n);
    at_ += n;
  }
  template <size_t N>
  void arr(std::array<uint8_t, N>& a) {
    bytes(a.data(), N);
  }
  uint8_t u8() { return b_[at_++]; }
  uint64_t le(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i)
      v |= static_cast<uint64_t>(b_[at_ + static_cast<size_t>(i)]) << (8 * i);
    at_ += static_cast<size_t>(n);
    return v;
  }
  uint64_t be(int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = v << 8 | b_[at_++];
    return v;
  }
  size_t left() const { return b_.size() - at_; }
  ByteView rest() const { return b_.subspan(at_); }

 private:
  ByteView b_;
  size_t at_ = 0;
};

class Writer {
 public:
  template <size_t N>
  void arr(const std::array<uint8_t, N>& a) {
    out.insert(out.end(), a.begin(), a.end());
  }
  void u8(uint8_t v) { out.push_back(v); }
  void le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void be(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  Bytes out;
};

bool known_type(uint8_t t) {
  return (t >= 0x02 && t <= 0x08) || (t >= 0x0a && t <= 0x0d);
}

// confirm_req / confirm_ack: v1 keeps the count in bits 12-15, v2 (bit 0)
// splits 8 bits over 12-15 (high) and 4-7 (low).
size_t confirm_count(uint16_t ext) {
  if (ext & kConfirmV2Flag) return static_cast<size_t>((ext >> 12 & 0xf) << 4 | (ext >> 4 & 0xf));
  return ext >> 12 & 0xf;
}

uint16_t confirm_extensions(size_t count) {
  uint16_t ext = kNotABlock << 8;
  if (count >= 16) {
    ext |= kConfirmV2Flag;
    ext = static_cast<uint16_t>(ext | (count >> 4 & 0xf) << 12 | (count & 0xf) << 4);
  } else {
    ext = static_cast<uint16_t>(ext | count << 12);
  }
  return ext;
}

Result<void> check_hash_count(size_t n, const char* what) {
  if (n == 0 || n > 255)
    return invalid_argument(std::string(what) + ": want 1..255 entries, have " + std::to_string(n));
  return {};
}

bool is_zero(const Hash32& h) {
  for (uint8_t c : h)
    if (c != 0) return false;
  return true;
}

void write_telemetry(Writer& w, const TelemetryData& d) {
  w.arr(d.signature);
  w.arr(d.node_id);
  w.be(d.block_count, 8);
  w.be(d.cemented_count, 8);
  w.be(d.unchecked_count, 8);
  w.be(d.account_count, 8);
  w.be(d.bandwidth_cap, 8);
  w.be(d.peer_count, 4);
  w.u8(d.protocol_version);
  w.be(d.uptime, 8);
  w.arr(d.genesis_block);
  w.u8(d.major_version);
  w.u8(d.minor_version);
  w.u8(d.patch_version);
  w.u8(d.pre_release_version);
  w.u8(d.maker);
  w.be(d.timestamp_ms, 8);
  w.be(d.active_difficulty, 8);
  w.u8(d.database_backend);
  w.u8(d.database_version_major);
  w.u8(d.database_version_minor);
  w.u8(d.database_version_patch);
  w.out.insert(w.out.end(), d.unknown.begin(), d.unknown.end());
}

TelemetryData read_telemetry(Reader& r) {
  TelemetryData d;
  r.arr(d.signature);
  r.arr(d.node_id);
  d.block_count = r.be(8);
  d.cemented_count = r.be(8);
  d.unchecked_count = r.be(8);
  d.account_count = r.be(8);
  d.bandwidth_cap = r.be(8);
  d.peer_count = static_cast<uint32_t>(r.be(4));
  d.protocol_version = r.u8();
  d.uptime = r.be(8);
  r.arr(d.genesis_block);
  d.major_version = r.u8();
  d.minor_version = r.u8();
  d.patch_version = r.u8();
  d.pre_release_version = r.u8();
  d.maker = r.u8();
  d.timestamp_ms = r.be(8);
  d.active_difficulty = r.be(8);
  d.database_backend = r.u8();
  d.database_version_major = r.u8();
  d.database_version_minor = r.u8();
  d.database_version_patch = r.u8();
  const ByteView rest = r.rest();
  d.unknown.assign(rest.begin(), rest.end());
  return d;
}

}  // namespace

BlockHash vote_hash(const Vote& v) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>("vote "), 5);
  for (const auto& h : v.hashes) crypto_generichash_update(&st, h.data(), h.size());
  uint8_t ts[8];
  for (int i = 0; i < 8; ++i) ts[i] = static_cast<uint8_t>(v.timestamp >> (8 * i));
  crypto_generichash_update(&st, ts, sizeof ts);
  BlockHash out;
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Result<Header> parse_header(ByteView b) {
  if (b.size() < kHeaderSize) return malformed("message: header shorter than 8 bytes");
  if (b[0] != 'R') return malformed("message: magic is not 'R'");
  Header h;
  h.network = static_cast<uint16_t>(b[0] << 8 | b[1]);
  h.version_max = b[2];
  h.version_using = b[3];
  h.version_min = b[4];
  if (!known_type(b[5]))
    return malformed("message: unknown or unsupported type " + std::to_string(b[5]));
  h.type = static_cast<MessageType>(b[5]);
  h.extensions = static_cast<uint16_t>(b[6] | b[7] << 8);  // little-endian
  return h;
}

Result<size_t> message_payload_size(const Header& h) {
  const uint16_t ext = h.extensions;
  switch (h.type) {
    case MessageType::kKeepalive:
      return size_t{8 * (16 + 2)};
    case MessageType::kPublish: {
      const auto t = block_type_from_byte(static_cast<uint8_t>((ext & kBlockTypeMask) >> 8));
      if (!t) return malformed("publish: invalid block type in the header");
      return block_body_size(*t);
    }
    case MessageType::kConfirmReq: {
      const size_t n = confirm_count(ext);
      if (n == 0) return malformed("confirm_req: count is zero");
      return n * 64;
    }
    case MessageType::kConfirmAck: {
      const size_t n = confirm_count(ext);
      if (n == 0) return malformed("confirm_ack: count is zero");
      return kVoteFixedSize + n * 32;
    }
    case MessageType::kBulkPull:
      return size_t{64} + ((ext & 1) ? 8 : 0);
    case MessageType::kBulkPush:
    case MessageType::kTelemetryReq:
      return size_t{0};
    case MessageType::kFrontierReq:
      return size_t{32 + 4 + 4};
    case MessageType::kBulkPullAccount:
      return size_t{32 + 16 + 1};
    case MessageType::kNodeIdHandshake: {
      size_t n = 0;
      if (ext & 1) n += 32;
      if (ext & 2) n += (ext & 4) ? 160 : 96;
      if (n == 0) return malformed("node_id_handshake: neither query nor response");
      return n;
    }
    case MessageType::kTelemetryAck: {
      const size_t n = ext & kTelemetrySizeMask;
      if (n != 0 && n < kTelemetrySize) return malformed("telemetry_ack: size below 206");
      return n;
    }
  }
  return malformed("message: unknown type");
}

Result<Message> parse_message(ByteView bytes) {
  auto h = parse_header(bytes);
  if (!h.ok()) return h.error();
  auto size = message_payload_size(*h);
  if (!size.ok()) return size.error();
  if (bytes.size() != kHeaderSize + *size)
    return malformed("message: want " + std::to_string(kHeaderSize + *size) + " bytes, got " +
                     std::to_string(bytes.size()));
  const uint16_t ext = h->extensions;
  Reader r(bytes.subspan(kHeaderSize));
  Message m{*h, Keepalive{}};
  switch (h->type) {
    case MessageType::kKeepalive: {
      Keepalive k;
      for (auto& p : k.peers) {
        r.arr(p.address);
        p.port = static_cast<uint16_t>(r.le(2));
      }
      m.payload = k;
      break;
    }
    case MessageType::kPublish: {
      const auto t = *block_type_from_byte(static_cast<uint8_t>((ext & kBlockTypeMask) >> 8));
      auto b = parse_block(t, r.rest());
      if (!b.ok()) return b.error();
      m.payload = Publish{*b, (ext & 4) != 0};
      break;
    }
    case MessageType::kConfirmReq: {
      ConfirmReq c;
      c.pairs.resize(confirm_count(ext));
      for (auto& p : c.pairs) {
        r.arr(p.hash);
        r.arr(p.root);
        if (is_zero(p.hash) && is_zero(p.root)) return malformed("confirm_req: an all-zero pair");
      }
      m.payload = c;
      break;
    }
    case MessageType::kConfirmAck: {
      ConfirmAck a;
      r.arr(a.vote.account);
      r.arr(a.vote.signature);
      a.vote.timestamp = r.le(8);
      a.vote.hashes.resize(confirm_count(ext));
      for (auto& hh : a.vote.hashes) r.arr(hh);
      a.rebroadcasted = (ext & 4) != 0;
      m.payload = a;
      break;
    }
    case MessageType::kBulkPull: {
      BulkPull p;
      r.arr(p.start);
      r.arr(p.end);
      p.ascending = (ext & 2) != 0;
      if (ext & 1) {
        if (r.u8() != 0)
          return malformed("bulk_pull: extended parameters start with a non-zero byte");
        p.count = static_cast<uint32_t>(r.le(4));
        if (r.le(3) != 0) return malformed("bulk_pull: non-zero reserved bytes");
        if (p.count == 0) return malformed("bulk_pull: count flag with a count of zero");
      }
      m.payload = p;
      break;
    }
    case MessageType::kBulkPush:
      m.payload = BulkPush{};
      break;
    case MessageType::kTelemetryReq:
      m.payload = TelemetryReq{};
      break;
    case MessageType::kFrontierReq: {
      FrontierReq f;
      r.arr(f.start);
      f.age = static_cast<uint32_t>(r.le(4));
      f.count = static_cast<uint32_t>(r.le(4));
      f.only_confirmed = (ext & 2) != 0;
      m.payload = f;
      break;
    }
    case MessageType::kBulkPullAccount: {
      BulkPullAccount a;
      r.arr(a.account);
      uint8_t amount[16];
      r.bytes(amount, 16);
      a.minimum_amount = amount_from_bytes(amount);
      a.flags = r.u8();
      if (a.flags > 2) return malformed("bulk_pull_account: unknown flags");
      m.payload = a;
      break;
    }
    case MessageType::kNodeIdHandshake: {
      NodeIdHandshake n;
      n.advertise_v2 = (ext & 4) != 0;
      if (ext & 1) {
        Hash32 cookie;
        r.arr(cookie);
        n.query_cookie = cookie;
      }
      if (ext & 2) {
        NodeIdHandshake::Response resp;
        r.arr(resp.node_id);
        if (ext & 4) {
          NodeIdHandshake::Response::V2 v2;
          r.arr(v2.salt);
          r.arr(v2.genesis);
          resp.v2 = v2;
        }
        r.arr(resp.signature);
        n.response = resp;
      }
      m.payload = n;
      break;
    }
    case MessageType::kTelemetryAck: {
      TelemetryAck t;
      if (r.left() > 0) t.data = read_telemetry(r);
      m.payload = t;
      break;
    }
  }
  return m;
}

Result<Bytes> serialize_message(const Message& m) {
  Writer w;
  uint16_t ext = 0;
  MessageType type = MessageType::kKeepalive;
  Writer body;
  if (auto* k = std::get_if<Keepalive>(&m.payload)) {
    type = MessageType::kKeepalive;
    for (const auto& p : k->peers) {
      body.arr(p.address);
      body.le(p.port, 2);
    }
  } else if (auto* p = std::get_if<Publish>(&m.payload)) {
    type = MessageType::kPublish;
    ext =
        static_cast<uint16_t>(static_cast<uint16_t>(p->block.type) << 8 | (p->originator ? 4 : 0));
    body.out = serialize_block(p->block);
  } else if (auto* c = std::get_if<ConfirmReq>(&m.payload)) {
    type = MessageType::kConfirmReq;
    if (auto ok = check_hash_count(c->pairs.size(), "confirm_req"); !ok.ok()) return ok.error();
    ext = confirm_extensions(c->pairs.size());
    for (const auto& pr : c->pairs) {
      body.arr(pr.hash);
      body.arr(pr.root);
    }
  } else if (auto* a = std::get_if<ConfirmAck>(&m.payload)) {
    type = MessageType::kConfirmAck;
    if (auto ok = check_hash_count(a->vote.hashes.size(), "confirm_ack"); !ok.ok())
      return ok.error();
    ext = static_cast<uint16_t>(confirm_extensions(a->vote.hashes.size()) |
                                (a->rebroadcasted ? 4 : 0));
    body.arr(a->vote.account);
    body.arr(a->vote.signature);
    body.le(a->vote.timestamp, 8);
    for (const auto& hh : a->vote.hashes) body.arr(hh);
  } else if (auto* bp = std::get_if<BulkPull>(&m.payload)) {
    type = MessageType::kBulkPull;
    ext = static_cast<uint16_t>((bp->count != 0 ? 1 : 0) | (bp->ascending ? 2 : 0));
    body.arr(bp->start);
    body.arr(bp->end);
    if (bp->count != 0) {
      body.u8(0);
      body.le(bp->count, 4);
      body.le(0, 3);
    }
  } else if (std::get_if<BulkPush>(&m.payload)) {
    type = MessageType::kBulkPush;
  } else if (auto* f = std::get_if<FrontierReq>(&m.payload)) {
    type = MessageType::kFrontierReq;
    ext = f->only_confirmed ? 2 : 0;
    body.arr(f->start);
    body.le(f->age, 4);
    body.le(f->count, 4);
  } else if (auto* n = std::get_if<NodeIdHandshake>(&m.payload)) {
    type = MessageType::kNodeIdHandshake;
    if (!n->query_cookie && !n->response)
      return invalid_argument("node_id_handshake: neither query nor response");
    const bool v2 = n->response ? n->response->v2.has_value() : n->advertise_v2;
    ext = static_cast<uint16_t>((n->query_cookie ? 1 : 0) | (n->response ? 2 : 0) | (v2 ? 4 : 0));
    if (n->query_cookie) body.arr(*n->query_cookie);
    if (n->response) {
      body.arr(n->response->node_id);
      if (n->response->v2) {
        body.arr(n->response->v2->salt);
        body.arr(n->response->v2->genesis);
      }
      body.arr(n->response->signature);
    }
  } else if (auto* ba = std::get_if<BulkPullAccount>(&m.payload)) {
    type = MessageType::kBulkPullAccount;
    if (ba->flags > 2) return invalid_argument("bulk_pull_account: unknown flags");
    body.arr(ba->account);
    body.arr(amount_to_bytes(ba->minimum_amount));
    body.u8(ba->flags);
  } else if (std::get_if<TelemetryReq>(&m.payload)) {
    type = MessageType::kTelemetryReq;
  } else if (auto* t = std::get_if<TelemetryAck>(&m.payload)) {
    type = MessageType::kTelemetryAck;
    if (t->data) {
      write_telemetry(body, *t->data);
      if (body.out.size() > kTelemetrySizeMask)
        return invalid_argument("telemetry_ack: payload above 1023 bytes");
      ext = static_cast<uint16_t>(body.out.size());
    }
  }
  const Header& h = m.header;
  w.be(h.network, 2);
  w.u8(h.version_max);
  w.u8(h.version_using);
  w.u8(h.version_min);
  w.u8(static_cast<uint8_t>(type));
  w.le(ext, 2);
  w.out.insert(w.out.end(), body.out.begin(), body.out.end());
  return w.out;
}

}  // namespace chorus::nano
