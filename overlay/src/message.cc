#include "chorus/overlay/message.h"

#include <sodium.h>

#include <algorithm>

#include "chorus/overlay/wire.h"

namespace chorus::overlay {
namespace {

constexpr std::string_view kShoutContext = "chorus/shout/v1";
constexpr size_t kMaxKeysPerMessage = 255;

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

Bytes to_bytes(ByteView v) {
  return Bytes(v.begin(), v.end());
}

// count u8 ‖ count × key[40]; a longer list is cut at 255.
void write_keys(ByteWriter& w, const std::vector<ShoutKey>& keys) {
  const size_t n = std::min<size_t>(keys.size(), kMaxKeysPerMessage);
  w.u8(static_cast<uint8_t>(n));
  for (size_t i = 0; i < n; ++i) w.array(keys[i]);
}

// The whole rest of the body must be exactly that list.
bool read_keys(ByteReader& r, std::vector<ShoutKey>& keys) {
  uint8_t n = 0;
  if (!r.u8(n) || r.remaining() != size_t{n} * sizeof(ShoutKey)) return false;
  keys.resize(n);
  for (auto& k : keys)
    if (!r.array(k)) return false;
  return true;
}

void write_reason(ByteWriter& w, uint8_t code, const std::string& reason) {
  const size_t len = std::min<size_t>(reason.size(), 255);
  w.u8(code);
  w.u8(static_cast<uint8_t>(len));
  w.bytes(as_bytes(std::string_view(reason).substr(0, len)));
}

// app u16 ‖ kind u8 ‖ stream u32 ‖ what the kind carries (message.h).
void write_stream(ByteWriter& w, const StreamMsg& s) {
  w.u16(s.app);
  w.u8(static_cast<uint8_t>(s.kind));
  w.u32(s.stream);
  switch (s.kind) {
    case StreamKind::kOpen:
      w.u32(s.credit);
      w.bytes(s.payload);
      break;
    case StreamKind::kCredit:
      w.u32(s.credit);
      break;
    case StreamKind::kCancel:
    case StreamKind::kEnd:
      write_reason(w, s.code, s.reason);
      break;
    case StreamKind::kData:
      w.bytes(s.payload);
      break;
  }
}

Result<StreamMsg> read_stream(ByteReader& r) {
  StreamMsg s;
  uint8_t kind = 0;
  if (!r.u16(s.app) || !r.u8(kind) || !r.u32(s.stream))
    return malformed("STREAM message truncated");
  if (kind > static_cast<uint8_t>(StreamKind::kEnd)) {
    return malformed("STREAM kind " + std::to_string(kind) + " unknown");
  }
  s.kind = static_cast<StreamKind>(kind);
  switch (s.kind) {
    case StreamKind::kOpen:
      if (!r.u32(s.credit)) return malformed("STREAM OPEN truncated");
      s.payload = to_bytes(r.rest());
      break;
    case StreamKind::kCredit:
      if (!r.u32(s.credit) || r.remaining() != 0)
        return malformed("STREAM CREDIT is not credit u32");
      break;
    case StreamKind::kCancel:
    case StreamKind::kEnd: {
      uint8_t len = 0;
      ByteView reason;
      if (!r.u8(s.code) || !r.u8(len) || !r.bytes(len, reason) || r.remaining() != 0) {
        return malformed("STREAM CANCEL/END is not code u8 ‖ reason_len u8 ‖ reason");
      }
      s.reason.assign(reason.begin(), reason.end());
      break;
    }
    case StreamKind::kData:
      s.payload = to_bytes(r.rest());
      break;
  }
  return s;
}

}  // namespace

const char* opcode_name(uint8_t opcode) {
  switch (opcode) {
    case 0:
      return "ACK";
    case 1:
      return "NACK";
    case 2:
      return "PING";
    case 3:
      return "SET_CONNECTION_OPT";
    case 4:
      return "SHOUT";
    case 5:
      return "SPEAK";
    case 6:
      return "WHISPER";
    case 7:
      return "FIND_NODE";
    case 8:
      return "FIND_VALUE";
    case 9:
      return "STORE";
    case 10:
      return "IHAVE";
    case 11:
      return "GRAFT";
    case 12:
      return "PRUNE";
    case 13:
      return "CONTENT_SHOUT";
    case 14:
      return "STREAM";
    case 15:
      return "DIRECT";
    default:
      return "UNKNOWN";
  }
}

uint8_t opcode_of(const Message& m) {
  return std::visit(Overloaded{
                        [](const AckMsg&) -> uint8_t { return 0; },
                        [](const NackMsg&) -> uint8_t { return 1; },
                        [](const PingMsg&) -> uint8_t { return 2; },
                        [](const SetConnectionOptMsg&) -> uint8_t { return 3; },
                        [](const ShoutMsg&) -> uint8_t { return 4; },
                        [](const SpeakMsg&) -> uint8_t { return 5; },
                        [](const WhisperMsg&) -> uint8_t { return 6; },
                        [](const IhaveMsg&) -> uint8_t { return 10; },
                        [](const GraftMsg&) -> uint8_t { return 11; },
                        [](const PruneMsg&) -> uint8_t { return 12; },
                        [](const ContentShoutMsg&) -> uint8_t { return 13; },
                        [](const StreamMsg&) -> uint8_t { return 14; },
                        [](const DirectMsg&) -> uint8_t { return 15; },
                        [](const UnknownMsg& u) -> uint8_t { return u.opcode; },
                    },
                    m.body);
}

void encode_message(const Message& m, Bytes& out) {
  ByteWriter w(out);
  w.u8(opcode_of(m));
  w.u32(m.id);
  std::visit(Overloaded{
                 [&](const AckMsg& a) {
                   w.u8(a.acked);
                   w.bytes(a.data);
                 },
                 [&](const NackMsg& n) {
                   w.u8(n.acked);
                   w.u8(static_cast<uint8_t>(n.code));
                   size_t len = std::min<size_t>(n.reason.size(), 255);
                   w.u8(static_cast<uint8_t>(len));
                   w.bytes(as_bytes(std::string_view(n.reason).substr(0, len)));
                   w.bytes(n.data);
                 },
                 [&](const PingMsg&) {},
                 [&](const SetConnectionOptMsg& s) {
                   w.u8(s.option);
                   w.u8(s.setting);
                 },
                 [&](const ShoutMsg& s) {
                   w.u16(s.app);
                   w.u8(s.hops_left);
                   w.array(s.origin);
                   w.u64(s.shout_id);
                   w.array(s.signature);
                   w.bytes(s.payload);
                 },
                 [&](const SpeakMsg& s) {
                   w.u16(s.app);
                   w.u8(s.flags);
                   w.u8(s.hops_left);
                   w.array(s.origin);
                   w.u64(s.speak_id);
                   w.bytes(s.payload);
                 },
                 [&](const WhisperMsg& s) {
                   w.u16(s.app);
                   w.u8(s.flags);
                   w.u32(s.reply_to);
                   w.bytes(s.payload);
                 },
                 [&](const IhaveMsg& i) { write_keys(w, i.ids); },
                 [&](const GraftMsg& g) { write_keys(w, g.ids); },
                 [&](const PruneMsg&) {},
                 [&](const ContentShoutMsg& s) {
                   w.u16(s.app);
                   w.u8(s.hops_left);
                   w.bytes(s.payload);
                 },
                 [&](const StreamMsg& s) { write_stream(w, s); },
                 [&](const DirectMsg& d) {
                   w.u16(d.app);
                   w.bytes(d.payload);
                 },
                 [&](const UnknownMsg&) {},
             },
             m.body);
}

Bytes encode_message(const Message& m) {
  Bytes out;
  encode_message(m, out);
  return out;
}

Result<Message> decode_message(ByteView in) {
  ByteReader r(in);
  uint8_t op = 0;
  Message m;
  if (!r.u8(op) || !r.u32(m.id)) return malformed("message shorter than its 5-byte header");
  auto truncated = [&]() { return malformed(std::string(opcode_name(op)) + " message truncated"); };
  switch (op) {
    case 0: {
      AckMsg a;
      if (!r.u8(a.acked)) return truncated();
      a.data = to_bytes(r.rest());
      m.body = std::move(a);
      break;
    }
    case 1: {
      NackMsg n;
      uint8_t code = 0, len = 0;
      ByteView reason;
      if (!r.u8(n.acked) || !r.u8(code) || !r.u8(len) || !r.bytes(len, reason)) return truncated();
      n.code = static_cast<NackCode>(code);
      n.reason.assign(reason.begin(), reason.end());
      n.data = to_bytes(r.rest());
      m.body = std::move(n);
      break;
    }
    case 2:
      if (r.remaining() != 0) return malformed("PING carries no body");
      m.body = PingMsg{};
      break;
    case 3: {
      SetConnectionOptMsg s;
      if (!r.u8(s.option) || !r.u8(s.setting)) return truncated();
      if (r.remaining() != 0) return malformed("SET_CONNECTION_OPT has trailing bytes");
      m.body = s;
      break;
    }
    case 4: {
      ShoutMsg s;
      if (!r.u16(s.app) || !r.u8(s.hops_left) || !r.array(s.origin) || !r.u64(s.shout_id) ||
          !r.array(s.signature))
        return truncated();
      s.payload = to_bytes(r.rest());
      m.body = std::move(s);
      break;
    }
    case 5: {
      SpeakMsg s;
      if (!r.u16(s.app) || !r.u8(s.flags) || !r.u8(s.hops_left) || !r.array(s.origin) ||
          !r.u64(s.speak_id))
        return truncated();
      s.payload = to_bytes(r.rest());
      m.body = std::move(s);
      break;
    }
    case 6: {
      WhisperMsg s;
      if (!r.u16(s.app) || !r.u8(s.flags) || !r.u32(s.reply_to)) return truncated();
      s.payload = to_bytes(r.rest());
      m.body = std::move(s);
      break;
    }
    case 10: {
      IhaveMsg i;
      if (!read_keys(r, i.ids)) return malformed("IHAVE is not count u8 ‖ count × 40-byte ids");
      m.body = std::move(i);
      break;
    }
    case 11: {
      GraftMsg g;
      if (!read_keys(r, g.ids)) return malformed("GRAFT is not count u8 ‖ count × 40-byte ids");
      m.body = std::move(g);
      break;
    }
    case 12:
      if (r.remaining() != 0) return malformed("PRUNE carries no body");
      m.body = PruneMsg{};
      break;
    case 13: {
      ContentShoutMsg s;
      if (!r.u16(s.app) || !r.u8(s.hops_left)) return truncated();
      s.payload = to_bytes(r.rest());
      m.body = std::move(s);
      break;
    }
    case 14: {
      auto s = read_stream(r);
      if (!s) return s.error();
      m.body = std::move(*s);
      break;
    }
    case 15: {
      DirectMsg d;
      if (!r.u16(d.app)) return truncated();
      d.payload = to_bytes(r.rest());
      m.body = std::move(d);
      break;
    }
    default:
      m.body = UnknownMsg{op};
      break;
  }
  return m;
}

Bytes shout_signing_bytes(AppId app, const PublicKey& origin, uint64_t shout_id, ByteView payload) {
  Bytes out;
  out.reserve(kShoutContext.size() + 2 + 32 + 8 + payload.size());
  ByteWriter w(out);
  w.bytes(as_bytes(kShoutContext));
  w.u16(app);
  w.array(origin);
  w.u64(shout_id);
  w.bytes(payload);
  return out;
}

std::array<uint8_t, 32> content_id_of(ByteView payload) {
  std::array<uint8_t, 32> id{};
  crypto_generichash(id.data(), id.size(), payload.data(), payload.size(), nullptr, 0);
  return id;
}

ShoutKey content_shout_key(AppId app, const std::array<uint8_t, 32>& content_id) {
  ShoutKey k;
  std::copy(content_id.begin(), content_id.end(), k.begin());
  k[32] = static_cast<uint8_t>(app >> 8);
  k[33] = static_cast<uint8_t>(app);
  std::fill(k.begin() + 34, k.end(), uint8_t{0xff});
  return k;
}

}  // namespace chorus::overlay
