#include "chorus/dht/rpc.h"

#include <arpa/inet.h>

#include <cstring>
#include <string>

#include "chorus/overlay/wire.h"

namespace chorus::dht {
namespace {

using overlay::ByteReader;
using overlay::ByteWriter;

// ---- encoding

void put_bytes(ByteWriter& w, ByteView b) {
  w.u32(static_cast<uint32_t>(b.size()));
  w.bytes(b);
}

// Only numeric hosts can travel: a name would need resolving by whoever
// reads it, which would let one node make others resolve names for it.
bool address_bytes(const Address& a, uint8_t& family, std::array<uint8_t, 16>& ip) {
  if (inet_pton(AF_INET, a.host.c_str(), ip.data()) == 1) {
    family = 4;
    return true;
  }
  if (inet_pton(AF_INET6, a.host.c_str(), ip.data()) == 1) {
    family = 6;
    return true;
  }
  return false;
}

void put_contacts(ByteWriter& w, const std::vector<Contact>& contacts) {
  // A contact without a numeric address is useless to the reader and cannot
  // be encoded, so it is left out rather than failing the whole reply.
  struct Encoded {
    const Contact* c;
    uint8_t family;
    std::array<uint8_t, 16> ip;
  };
  std::vector<Encoded> ok;
  ok.reserve(contacts.size());
  for (const Contact& c : contacts) {
    Encoded e{&c, 0, {}};
    if (address_bytes(c.address, e.family, e.ip)) ok.push_back(e);
  }
  w.u16(static_cast<uint16_t>(ok.size()));
  for (const Encoded& e : ok) {
    w.array(e.c->key);
    w.u8(e.family);
    w.bytes(ByteView(e.ip.data(), e.family == 4 ? 4 : 16));
    w.u16(e.c->address.port);
  }
}

void put_value(ByteWriter& w, const Value& v) {
  w.u64(v.id);
  w.u32(v.ttl_s);
  put_bytes(w, v.data);
}

void put_signed(ByteWriter& w, const SignedValue& v) {
  w.array(v.owner);
  w.u64(v.seq);
  w.u32(v.ttl_s);
  put_bytes(w, v.data);
  w.array(v.signature);
}

void put_versioned(ByteWriter& w, const VersionedValue& v) {
  w.u64(v.version);
  w.u32(v.ttl_s);
  put_bytes(w, v.data);
}

void put_values(ByteWriter& w, const std::vector<Value>& values) {
  w.u16(static_cast<uint16_t>(values.size()));
  for (const Value& v : values) put_value(w, v);
}

void put_signed_values(ByteWriter& w, const std::vector<SignedValue>& values) {
  w.u16(static_cast<uint16_t>(values.size()));
  for (const SignedValue& v : values) put_signed(w, v);
}

void put_optional_versioned(ByteWriter& w, const std::optional<VersionedValue>& v) {
  w.u8(v ? 1 : 0);
  if (v) put_versioned(w, *v);
}

struct BodyWriter {
  ByteWriter& w;

  void operator()(const PingReq&) const {}
  void operator()(const FindNodeReq& r) const { w.array(r.target); }
  void operator()(const FindValueReq& r) const { w.array(r.key); }
  void operator()(const StoreReq& r) const {
    w.array(r.token);
    w.array(r.key);
    w.u8(static_cast<uint8_t>(r.body.index()));
    std::visit(*this, r.body);
  }
  void operator()(const NotifyReq& r) const {
    w.array(r.key);
    put_values(w, r.values);
    put_signed_values(w, r.signed_values);
    put_optional_versioned(w, r.versioned);
  }
  void operator()(const FoundReply& r) const {
    put_contacts(w, r.contacts);
    w.array(r.token);
    put_values(w, r.values);
    put_signed_values(w, r.signed_values);
    put_optional_versioned(w, r.versioned);
    w.u8(r.lock ? 1 : 0);
    if (r.lock) {
      w.array(r.lock->holder.key);
      w.u64(r.lock->holder.tag);
      w.u64(r.lock->token);
      w.u64(static_cast<uint64_t>(r.lock->remaining_ms));
    }
  }
  void operator()(const StoreReply& r) const {
    w.u64(r.number);
    w.u64(static_cast<uint64_t>(r.remaining_ms));
  }
  void operator()(const EmptyReply&) const {}
  void operator()(const Nack& r) const {
    w.u8(static_cast<uint8_t>(r.reason));
    w.u64(r.number);
    w.u64(static_cast<uint64_t>(r.remaining_ms));
  }

  // STORE kinds (the variant index is the kind byte).
  void operator()(const PutBody& b) const { put_value(w, b.value); }
  void operator()(const PutSignedBody& b) const { put_signed(w, b.value); }
  void operator()(const LockBody& b) const {
    w.u64(b.owner_tag);
    w.u64(b.lease_ms);
    w.u64(b.min_token);
  }
  void operator()(const UnlockBody& b) const {
    w.u64(b.owner_tag);
    w.u64(b.token);
  }
  void operator()(const CasBody& b) const {
    w.u64(b.owner_tag);
    w.u64(b.expected_version);
    w.u32(b.ttl_s);
    put_bytes(w, b.data);
  }
  void operator()(const DiffBody& b) const {
    w.u64(b.owner_tag);
    w.u64(b.base_version);
    w.u32(b.ttl_s);
    put_bytes(w, b.patch);
    w.array(b.result_hash);
  }
  void operator()(const RepairBody& b) const { put_versioned(w, b.value); }
  void operator()(const AbortBody& b) const {
    w.u64(b.owner_tag);
    w.u64(b.version);
  }
  void operator()(const ListenBody& b) const { w.u32(b.duration_s); }
};

// The variant order is the wire order of the kinds; keep them tied.
static_assert(std::variant_size_v<StoreBody::Variant> == 9);
static_assert(std::is_same_v<
              std::variant_alternative_t<static_cast<size_t>(StoreKind::kPut), StoreBody::Variant>,
              PutBody>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(StoreKind::kListen),
                                                        StoreBody::Variant>,
                             ListenBody>);

// ---- decoding
//
// Each reader returns an empty string on success and the reason otherwise,
// so a refusal names the field that was wrong without allocating on success.

class Decoder {
 public:
  explicit Decoder(ByteView in) : r_(in) {}

  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  size_t remaining() const { return r_.remaining(); }

  void fail(const char* why) {
    if (error_.empty()) error_ = why;
  }

  uint8_t u8(const char* what) {
    uint8_t v = 0;
    if (!failed() && !r_.u8(v)) fail(what);
    return v;
  }
  uint16_t u16(const char* what) {
    uint16_t v = 0;
    if (!failed() && !r_.u16(v)) fail(what);
    return v;
  }
  uint32_t u32(const char* what) {
    uint32_t v = 0;
    if (!failed() && !r_.u32(v)) fail(what);
    return v;
  }
  uint64_t u64(const char* what) {
    uint64_t v = 0;
    if (!failed() && !r_.u64(v)) fail(what);
    return v;
  }
  template <size_t N>
  void array(std::array<uint8_t, N>& a, const char* what) {
    if (!failed() && !r_.array(a)) fail(what);
  }
  Bytes bytes(const char* what) {
    uint32_t n = u32(what);
    if (failed()) return {};
    if (n > kMaxBytesField) {
      fail("byte field longer than kMaxBytesField");
      return {};
    }
    ByteView v;
    if (!r_.bytes(n, v)) {
      fail(what);
      return {};
    }
    return Bytes(v.begin(), v.end());
  }
  bool presence(const char* what) {
    uint8_t p = u8(what);
    if (p > 1) fail("optional presence byte is neither 0 nor 1");
    return p == 1;
  }
  // A count, checked against its limit; `min_item` bytes per item bounds
  // the reservation so a lying count cannot make us allocate.
  size_t count(size_t limit, size_t min_item, const char* what, const char* over) {
    uint16_t n = u16(what);
    if (failed()) return 0;
    if (n > limit) {
      fail(over);
      return 0;
    }
    if (static_cast<size_t>(n) * min_item > r_.remaining()) {
      fail(what);
      return 0;
    }
    return n;
  }

 private:
  ByteReader r_;
  std::string error_;
};

constexpr size_t kValueMin = 8 + 4 + 4;
constexpr size_t kSignedMin = 32 + 8 + 4 + 4 + 64;
constexpr size_t kContactMin = 32 + 1 + 4 + 2;

Value get_value(Decoder& d) {
  Value v;
  v.id = d.u64("value id truncated");
  v.ttl_s = d.u32("value ttl truncated");
  v.data = d.bytes("value data truncated");
  return v;
}

SignedValue get_signed(Decoder& d) {
  SignedValue v;
  d.array(v.owner, "signed value owner truncated");
  v.seq = d.u64("signed value seq truncated");
  v.ttl_s = d.u32("signed value ttl truncated");
  v.data = d.bytes("signed value data truncated");
  d.array(v.signature, "signed value signature truncated");
  return v;
}

VersionedValue get_versioned(Decoder& d) {
  VersionedValue v;
  v.version = d.u64("versioned value version truncated");
  v.ttl_s = d.u32("versioned value ttl truncated");
  v.data = d.bytes("versioned value data truncated");
  return v;
}

std::vector<Value> get_values(Decoder& d) {
  std::vector<Value> out;
  size_t n = d.count(kMaxValuesPerReply, kValueMin, "value list truncated",
                     "more values than kMaxValuesPerReply");
  out.reserve(n);
  for (size_t i = 0; i < n && !d.failed(); ++i) out.push_back(get_value(d));
  return out;
}

std::vector<SignedValue> get_signed_values(Decoder& d) {
  std::vector<SignedValue> out;
  size_t n = d.count(kMaxValuesPerReply, kSignedMin, "signed value list truncated",
                     "more signed values than kMaxValuesPerReply");
  out.reserve(n);
  for (size_t i = 0; i < n && !d.failed(); ++i) out.push_back(get_signed(d));
  return out;
}

std::optional<VersionedValue> get_optional_versioned(Decoder& d) {
  if (!d.presence("versioned value presence truncated")) return std::nullopt;
  return get_versioned(d);
}

Contact get_contact(Decoder& d) {
  PublicKey key{};
  d.array(key, "contact key truncated");
  uint8_t family = d.u8("contact address family truncated");
  Address address;
  std::array<uint8_t, 16> ip{};
  char text[INET6_ADDRSTRLEN] = {};
  if (!d.failed()) {
    if (family == 4 || family == 6) {
      size_t n = family == 4 ? 4 : 16;
      for (size_t i = 0; i < n; ++i) ip[i] = d.u8("contact address truncated");
      if (!d.failed()) {
        inet_ntop(family == 4 ? AF_INET : AF_INET6, ip.data(), text, sizeof text);
        address.host = text;
      }
    } else {
      d.fail("contact address family is neither 4 nor 6");
    }
  }
  address.port = d.u16("contact port truncated");
  if (d.failed()) return {};
  return make_contact(key, std::move(address));
}

std::vector<Contact> get_contacts(Decoder& d) {
  std::vector<Contact> out;
  size_t n = d.count(kMaxContactsPerReply, kContactMin, "contact list truncated",
                     "more contacts than kMaxContactsPerReply");
  out.reserve(n);
  for (size_t i = 0; i < n && !d.failed(); ++i) out.push_back(get_contact(d));
  return out;
}

StoreBody get_store_body(Decoder& d, uint8_t kind) {
  switch (static_cast<StoreKind>(kind)) {
    case StoreKind::kPut:
      return PutBody{get_value(d)};
    case StoreKind::kPutSigned:
      return PutSignedBody{get_signed(d)};
    case StoreKind::kLock: {
      LockBody b;
      b.owner_tag = d.u64("lock owner tag truncated");
      b.lease_ms = d.u64("lock lease truncated");
      b.min_token = d.u64("lock min token truncated");
      return b;
    }
    case StoreKind::kUnlock: {
      UnlockBody b;
      b.owner_tag = d.u64("unlock owner tag truncated");
      b.token = d.u64("unlock token truncated");
      return b;
    }
    case StoreKind::kCas: {
      CasBody b;
      b.owner_tag = d.u64("cas owner tag truncated");
      b.expected_version = d.u64("cas expected version truncated");
      b.ttl_s = d.u32("cas ttl truncated");
      b.data = d.bytes("cas data truncated");
      return b;
    }
    case StoreKind::kDiff: {
      DiffBody b;
      b.owner_tag = d.u64("diff owner tag truncated");
      b.base_version = d.u64("diff base version truncated");
      b.ttl_s = d.u32("diff ttl truncated");
      b.patch = d.bytes("diff patch truncated");
      d.array(b.result_hash, "diff result hash truncated");
      return b;
    }
    case StoreKind::kRepair:
      return RepairBody{get_versioned(d)};
    case StoreKind::kAbort: {
      AbortBody b;
      b.owner_tag = d.u64("abort owner tag truncated");
      b.version = d.u64("abort version truncated");
      return b;
    }
    case StoreKind::kListen: {
      ListenBody b;
      b.duration_s = d.u32("listen duration truncated");
      return b;
    }
  }
  d.fail("unknown STORE kind");
  return ListenBody{};
}

Body get_ack(Decoder& d, Op answering) {
  switch (answering) {
    case Op::kPing:
    case Op::kNotify:
      return EmptyReply{};
    case Op::kFindNode:
    case Op::kFindValue: {
      FoundReply r;
      r.contacts = get_contacts(d);
      d.array(r.token, "write token truncated");
      r.values = get_values(d);
      r.signed_values = get_signed_values(d);
      r.versioned = get_optional_versioned(d);
      if (d.presence("lock presence truncated")) {
        LockState l;
        d.array(l.holder.key, "lock holder truncated");
        l.holder.tag = d.u64("lock holder tag truncated");
        l.token = d.u64("lock token truncated");
        l.remaining_ms = static_cast<int64_t>(d.u64("lock remaining truncated"));
        r.lock = l;
      }
      return r;
    }
    case Op::kStore: {
      StoreReply r;
      r.number = d.u64("store reply number truncated");
      r.remaining_ms = static_cast<int64_t>(d.u64("store reply remaining truncated"));
      return r;
    }
    case Op::kAck:
    case Op::kNack:
      break;
  }
  d.fail("ACK answering an op that is not a request");
  return EmptyReply{};
}

bool known_op(uint8_t op) {
  switch (static_cast<Op>(op)) {
    case Op::kAck:
    case Op::kNack:
    case Op::kPing:
    case Op::kFindNode:
    case Op::kFindValue:
    case Op::kStore:
    case Op::kNotify:
      return true;
  }
  return false;
}

}  // namespace

Op op_of(const Body& body) {
  struct V {
    Op operator()(const PingReq&) const { return Op::kPing; }
    Op operator()(const FindNodeReq&) const { return Op::kFindNode; }
    Op operator()(const FindValueReq&) const { return Op::kFindValue; }
    Op operator()(const StoreReq&) const { return Op::kStore; }
    Op operator()(const NotifyReq&) const { return Op::kNotify; }
    Op operator()(const FoundReply&) const { return Op::kAck; }
    Op operator()(const StoreReply&) const { return Op::kAck; }
    Op operator()(const EmptyReply&) const { return Op::kAck; }
    Op operator()(const Nack&) const { return Op::kNack; }
  };
  return std::visit(V{}, body);
}

bool is_request(const Body& body) {
  Op op = op_of(body);
  return op != Op::kAck && op != Op::kNack;
}

Bytes encode_message(const Message& m) {
  Bytes out;
  out.reserve(64);
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(op_of(m.body)));
  w.u64(m.txid);
  w.u8(m.flags);
  std::visit(BodyWriter{w}, m.body);
  return out;
}

// GCC 12 reports moving a Message out of this function as "may be used
// uninitialized" inside std::variant's storage (a known false positive of
// its -Wmaybe-uninitialized with variants); every path sets the body.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
Result<Message> decode_message(ByteView bytes, std::optional<Op> answering) {
  Decoder d(bytes);
  uint8_t op = d.u8("empty message");
  Message m;
  m.txid = d.u64("message head truncated");
  m.flags = d.u8("message head truncated");
  if (d.failed()) return malformed("dht message: " + d.error());
  if (!known_op(op)) return malformed("dht message: unknown op " + std::to_string(op));
  if ((m.flags & ~kFlagReadOnly) != 0) return malformed("dht message: unknown flag bits set");

  switch (static_cast<Op>(op)) {
    case Op::kPing:
      m.body = PingReq{};
      break;
    case Op::kFindNode: {
      FindNodeReq r;
      d.array(r.target, "FIND_NODE target truncated");
      m.body = r;
      break;
    }
    case Op::kFindValue: {
      FindValueReq r;
      d.array(r.key, "FIND_VALUE key truncated");
      m.body = r;
      break;
    }
    case Op::kStore: {
      StoreReq r;
      d.array(r.token, "STORE token truncated");
      d.array(r.key, "STORE key truncated");
      uint8_t kind = d.u8("STORE kind truncated");
      if (!d.failed()) r.body = get_store_body(d, kind);
      m.body = std::move(r);
      break;
    }
    case Op::kNotify: {
      NotifyReq r;
      d.array(r.key, "NOTIFY key truncated");
      r.values = get_values(d);
      r.signed_values = get_signed_values(d);
      r.versioned = get_optional_versioned(d);
      m.body = std::move(r);
      break;
    }
    case Op::kAck:
      if (!answering) return malformed("dht message: ACK without the op it answers");
      m.body = get_ack(d, *answering);
      break;
    case Op::kNack: {
      Nack n;
      uint8_t reason = d.u8("NACK reason truncated");
      if (!d.failed() && reason > static_cast<uint8_t>(Refusal::kUnknown)) {
        d.fail("NACK with an unknown refusal");
      }
      n.reason = static_cast<Refusal>(reason);
      n.number = d.u64("NACK number truncated");
      n.remaining_ms = static_cast<int64_t>(d.u64("NACK remaining truncated"));
      m.body = n;
      break;
    }
  }
  if (d.failed()) return malformed("dht message: " + d.error());
  if (d.remaining() != 0) return malformed("dht message: trailing bytes");
  return Result<Message>(std::move(m));
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

Result<MessageHead> peek_head(ByteView bytes) {
  ByteReader r(bytes);
  uint8_t op = 0;
  uint64_t txid = 0;
  if (!r.u8(op) || !r.u64(txid)) return malformed("dht message: head truncated");
  if (!known_op(op)) return malformed("dht message: unknown op " + std::to_string(op));
  return MessageHead{static_cast<Op>(op), txid};
}

}  // namespace chorus::dht
