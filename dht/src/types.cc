#include "chorus/dht/types.h"

#include "chorus/overlay/wire.h"

namespace chorus::dht {

Key key_for(std::string_view name) {
  return overlay::blake2b_256(as_bytes(name));
}

int common_prefix_bits(const NodeId& a, const NodeId& b) {
  for (size_t i = 0; i < a.size(); ++i) {
    uint8_t x = a[i] ^ b[i];
    if (x != 0) return static_cast<int>(i * 8) + __builtin_clz(x) - 24;
  }
  return 256;
}

bool closer(const Key& target, const NodeId& a, const NodeId& b) {
  for (size_t i = 0; i < target.size(); ++i) {
    uint8_t da = a[i] ^ target[i];
    uint8_t db = b[i] ^ target[i];
    if (da != db) return da < db;
  }
  return false;
}

Contact make_contact(const PublicKey& key, Address address) {
  return Contact{key, overlay::dht_id(key), std::move(address)};
}

Bytes signed_value_message(const Key& key, uint64_t seq, uint32_t ttl_s, ByteView data) {
  // A domain tag keeps these signatures from meaning anything elsewhere.
  Bytes out;
  overlay::ByteWriter w(out);
  w.bytes(as_bytes("chorus-dht-signed-v1"));
  w.array(key);
  w.u64(seq);
  w.u32(ttl_s);
  w.bytes(data);
  return out;
}

const char* refusal_name(Refusal r) {
  switch (r) {
    case Refusal::kNone:
      return "none";
    case Refusal::kMalformed:
      return "malformed";
    case Refusal::kTooLarge:
      return "too large";
    case Refusal::kFull:
      return "storage full";
    case Refusal::kBadSignature:
      return "bad signature";
    case Refusal::kStale:
      return "stale sequence";
    case Refusal::kConflict:
      return "version conflict";
    case Refusal::kMissingBase:
      return "missing base version";
    case Refusal::kBadHash:
      return "result hash mismatch";
    case Refusal::kLockHeld:
      return "lock held";
    case Refusal::kNotHolder:
      return "not the holder";
    case Refusal::kBadToken:
      return "bad write token";
    case Refusal::kNotResponsible:
      return "not among the closest";
    case Refusal::kStarting:
      return "starting";
    case Refusal::kUnknown:
      return "unknown";
  }
  return "unknown";
}

}  // namespace chorus::dht
