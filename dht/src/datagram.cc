#include "chorus/dht/datagram.h"

#include <sodium.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <unordered_set>

namespace chorus::dht {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint8_t kModeSealed = 0;
constexpr uint8_t kModeSigned = 1;
constexpr size_t kHeaderBytes = 2 + 1 + 1 + 32 + 24;
constexpr size_t kSenderAt = 4;
constexpr size_t kNonceAt = 36;
constexpr size_t kFragmentHeaderBytes = 4 + 2 + 2;
constexpr size_t kSealOverhead = crypto_box_MACBYTES;
constexpr size_t kSignOverhead = crypto_sign_BYTES;
static_assert(crypto_box_NONCEBYTES == 24);
static_assert(crypto_box_BEFORENMBYTES == 32);

void put_be(uint8_t* p, uint64_t v, int n) {
  for (int i = n - 1; i >= 0; --i) {
    *p++ = static_cast<uint8_t>(v >> (8 * i));
  }
}

uint64_t get_be(const uint8_t* p, int n) {
  uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

// Signed distance from our clock to the sender's, when it fits the window.
// Both clocks travel as u64, so the difference is taken modulo 2^64 and a
// negative clock still compares correctly.
std::optional<int64_t> clock_offset(uint64_t theirs, int64_t now_ms, int64_t window) {
  uint64_t d = theirs - static_cast<uint64_t>(now_ms);
  uint64_t w = static_cast<uint64_t>(window < 0 ? 0 : window);
  if (d <= w) return static_cast<int64_t>(d);
  if (-d <= w) return -static_cast<int64_t>(-d);
  return std::nullopt;
}

void init_sodium() {
  // sodium_init picks the fast implementations and seeds randombytes.
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
}

}  // namespace

// Seen (sender, nonce) pairs, stored as a keyed 64-bit SipHash: 16 bytes per
// entry instead of 56, and the random key keeps anyone from aiming a
// collision at a nonce someone else will use.
struct DatagramCodec::Seen {
  std::array<uint8_t, crypto_shorthash_KEYBYTES> hash_key{};
  struct Entry {
    uint64_t hash;
    int64_t expires_ms;
  };
  std::deque<Entry> order;  // arrival order
  std::unordered_set<uint64_t> set;

  uint64_t hash(const uint8_t* sender_and_nonce) const {
    uint64_t h = 0;
    crypto_shorthash(reinterpret_cast<unsigned char*>(&h), sender_and_nonce, 32 + 24,
                     hash_key.data());
    return h;
  }
};

struct DatagramCodec::Partials {
  struct Key {
    PublicKey sender{};
    uint32_t id = 0;
    bool is_signed = false;
    bool operator==(const Key&) const = default;
  };
  struct Hash {
    overlay::KeyedHash sender_hash;
    size_t operator()(const Key& k) const {
      return sender_hash(k.sender) ^ static_cast<size_t>(uint64_t{k.id} * 0x9e3779b97f4a7c15ULL) ^
             k.is_signed;
    }
  };
  struct Partial {
    uint16_t count = 0;
    uint16_t received = 0;
    int64_t created_ms = 0;
    uint64_t generation = 0;
    size_t held = 0;     // what this message adds to stats.reassembly_bytes
    size_t payload = 0;  // message bytes received so far
    std::vector<Bytes> parts;
    std::vector<bool> have;
  };
  explicit Partials(const overlay::KeyedHash& hash) : map(0, Hash{hash}) {}
  std::unordered_map<Key, Partial, Hash> map;
  // Creation order, for timeouts and for evicting the oldest when full.
  // Entries of messages already gone are skipped when they reach the front.
  std::deque<std::pair<Key, uint64_t>> order;
  uint64_t next_generation = 1;

  // Completed messages leave their entry behind in `order`; rebuild it
  // before those outnumber the live ones.
  void compact() {
    if (order.size() <= 2 * map.size() + 64) return;
    std::deque<std::pair<Key, uint64_t>> live;
    for (const auto& e : order) {
      auto it = map.find(e.first);
      if (it != map.end() && it->second.generation == e.second) live.push_back(e);
    }
    order.swap(live);
  }

  static size_t overhead(uint16_t count) {
    return sizeof(Key) + sizeof(Partial) + 64 + count * (sizeof(Bytes) + 1);
  }
};

DatagramCodec::DatagramCodec(const overlay::Identity& identity, DatagramLimits limits,
                             overlay::Random& random)
    : identity_(identity), limits_(limits), random_(random) {
  init_sodium();
  x25519_secret_ = identity_.x25519_secret();
  keys_ = decltype(keys_)(0, overlay::KeyedHash::from(random_));
  // A restarted node must not reuse the message ids of its previous run:
  // a peer may still hold fragments under them.
  next_message_id_ = static_cast<uint32_t>(random_.next_u64());
}

DatagramCodec::DatagramCodec(DatagramCodec&&) noexcept = default;

DatagramCodec::~DatagramCodec() {
  sodium_memzero(x25519_secret_.data(), x25519_secret_.size());
  for (auto& [peer, key] : keys_lru_) sodium_memzero(key.data(), key.size());
}

const std::array<uint8_t, 32>* DatagramCodec::shared_key(const PublicKey& peer) {
  auto it = keys_.find(peer);
  if (it != keys_.end()) {
    keys_lru_.splice(keys_lru_.begin(), keys_lru_, it->second);
    return &it->second->second;
  }
  std::array<uint8_t, 32> key{};
  if (auto shared = pair_keys_ ? pair_keys_->find(identity_.public_key(), peer) : std::nullopt) {
    key = *shared;
    sodium_memzero(shared->data(), shared->size());
  } else {
    auto x_public = overlay::Identity::x25519_public(peer);
    if (!x_public.ok()) return nullptr;
    if (crypto_box_beforenm(key.data(), x_public.value().data(), x25519_secret_.data()) != 0) {
      return nullptr;
    }
    if (pair_keys_) pair_keys_->insert(identity_.public_key(), peer, key);
  }
  size_t cap = limits_.shared_key_cache == 0 ? 1 : limits_.shared_key_cache;
  while (keys_lru_.size() >= cap) {
    sodium_memzero(keys_lru_.back().second.data(), 32);
    keys_.erase(keys_lru_.back().first);
    keys_lru_.pop_back();
  }
  keys_lru_.emplace_front(peer, key);
  sodium_memzero(key.data(), key.size());
  keys_.emplace(peer, keys_lru_.begin());
  return &keys_lru_.front().second;
}

size_t DatagramCodec::fragment_payload(bool is_signed) const {
  size_t fixed = kHeaderBytes + kFragmentHeaderBytes + (is_signed ? kSignOverhead : kSealOverhead);
  return limits_.max_datagram_bytes > fixed ? limits_.max_datagram_bytes - fixed : 0;
}

Result<Bytes> DatagramCodec::build_one(const PublicKey* to, const std::array<uint8_t, 32>* key,
                                       ByteView payload, const Nonce& nonce, uint32_t message_id,
                                       uint16_t index, uint16_t count) {
  const size_t plain = kFragmentHeaderBytes + payload.size();
  Bytes out(kHeaderBytes + plain + (to ? kSealOverhead : kSignOverhead));
  uint8_t* p = out.data();
  p[0] = 'C';
  p[1] = 'D';
  p[2] = kVersion;
  p[3] = to ? kModeSealed : kModeSigned;
  std::memcpy(p + kSenderAt, identity_.public_key().data(), 32);
  std::memcpy(p + kNonceAt, nonce.data(), nonce.size());
  // Sealed: the plaintext goes where the ciphertext body will be and is
  // encrypted in place (libsodium allows the overlap), so no scratch buffer.
  uint8_t* frag = p + kHeaderBytes + (to ? kSealOverhead : 0);
  put_be(frag, message_id, 4);
  put_be(frag + 4, index, 2);
  put_be(frag + 6, count, 2);
  if (!payload.empty()) std::memcpy(frag + kFragmentHeaderBytes, payload.data(), payload.size());
  if (to) {
    if (crypto_box_easy_afternm(p + kHeaderBytes, frag, plain, nonce.data(), key->data()) != 0) {
      return invalid_argument("dht datagram: sealing failed");
    }
  } else {
    const size_t signed_len = kHeaderBytes + plain;
    overlay::Signature sig = identity_.sign(ByteView(p, signed_len));
    std::memcpy(p + signed_len, sig.data(), sig.size());
  }
  ++stats_.sealed;
  return out;
}

Result<std::vector<Bytes>> DatagramCodec::build(const PublicKey* to, ByteView message,
                                                int64_t now_ms) {
  if (message.size() > limits_.max_message_bytes) {
    return limit_exceeded("dht datagram: message of " + std::to_string(message.size()) +
                          " bytes is above max_message_bytes");
  }
  const std::array<uint8_t, 32>* key = nullptr;
  if (to) {
    key = shared_key(*to);
    if (!key) return invalid_argument("dht datagram: recipient is not a valid Ed25519 key");
  }
  const size_t per = fragment_payload(to == nullptr);
  if (per == 0) return invalid_argument("dht datagram: max_datagram_bytes leaves no room");
  const size_t count = message.empty() ? 1 : (message.size() + per - 1) / per;
  if (count > 0xFFFF) return limit_exceeded("dht datagram: too many fragments");
  const uint32_t id = next_message_id_++;
  std::vector<Bytes> out;
  out.reserve(count);
  Nonce nonce{};
  put_be(nonce.data(), static_cast<uint64_t>(now_ms), 8);
  for (size_t i = 0; i < count; ++i) {
    // Every datagram gets its own nonce: the shared key is the same for all.
    random_.fill(nonce.data() + 8, 16);
    size_t at = i * per;
    size_t len = std::min(per, message.size() - at);
    auto d = build_one(to, key, message.subspan(at, len), nonce, id, static_cast<uint16_t>(i),
                       static_cast<uint16_t>(count));
    if (!d.ok()) return d.error();
    out.push_back(std::move(d).value());
  }
  return out;
}

Result<std::vector<Bytes>> DatagramCodec::seal(const PublicKey& to, ByteView message,
                                               int64_t now_ms) {
  return build(&to, message, now_ms);
}

Result<std::vector<Bytes>> DatagramCodec::sign(ByteView message, int64_t now_ms) {
  return build(nullptr, message, now_ms);
}

Result<Bytes> DatagramCodec::seal_with_nonce(const PublicKey& to, ByteView message,
                                             const Nonce& nonce, uint32_t message_id) {
  if (message.size() > fragment_payload(false)) {
    return limit_exceeded("dht datagram: message needs fragments");
  }
  const auto* key = shared_key(to);
  if (!key) return invalid_argument("dht datagram: recipient is not a valid Ed25519 key");
  return build_one(&to, key, message, nonce, message_id, 0, 1);
}

Result<Bytes> DatagramCodec::sign_with_nonce(ByteView message, const Nonce& nonce,
                                             uint32_t message_id) {
  if (message.size() > fragment_payload(true)) {
    return limit_exceeded("dht datagram: message needs fragments");
  }
  return build_one(nullptr, nullptr, message, nonce, message_id, 0, 1);
}

Result<std::optional<Opened>> DatagramCodec::open(ByteView datagram, int64_t now_ms) {
  const uint8_t* p = datagram.data();
  const size_t n = datagram.size();
  if (n < kHeaderBytes + kFragmentHeaderBytes || p[0] != 'C' || p[1] != 'D') {
    ++stats_.malformed;
    return malformed("dht datagram: not a Chorus DHT datagram");
  }
  if (p[2] != kVersion) {
    ++stats_.malformed;
    return malformed("dht datagram: unknown version " + std::to_string(p[2]));
  }
  const uint8_t mode = p[3];
  if (mode != kModeSealed && mode != kModeSigned) {
    ++stats_.malformed;
    return malformed("dht datagram: unknown mode " + std::to_string(mode));
  }
  const bool is_signed = mode == kModeSigned;
  const size_t overhead = is_signed ? kSignOverhead : kSealOverhead;
  if (n < kHeaderBytes + overhead + kFragmentHeaderBytes) {
    ++stats_.malformed;
    return malformed("dht datagram: too short");
  }
  PublicKey sender{};
  std::memcpy(sender.data(), p + kSenderAt, 32);
  const uint8_t* nonce = p + kNonceAt;

  // Cheap refusals before any public-key work.
  auto offset = clock_offset(get_be(nonce, 8), now_ms, limits_.replay_window_ms);
  if (!offset) {
    ++stats_.stale;
    return std::optional<Opened>{};
  }
  const uint64_t seen_hash = seen_ ? seen_->hash(p + kSenderAt) : 0;
  if (seen_ && seen_->set.count(seen_hash) != 0) {
    ++stats_.replayed;
    return std::optional<Opened>{};
  }

  Bytes fragment;
  if (is_signed) {
    overlay::Signature sig{};
    std::memcpy(sig.data(), p + n - kSignOverhead, sig.size());
    if (!overlay::verify_signature(sender, ByteView(p, n - kSignOverhead), sig)) {
      ++stats_.bad_auth;
      return auth_failed("dht datagram: bad signature");
    }
    fragment.assign(p + kHeaderBytes, p + n - kSignOverhead);
  } else {
    const auto* key = shared_key(sender);
    if (!key) {
      ++stats_.bad_auth;
      return auth_failed("dht datagram: sender is not a valid Ed25519 key");
    }
    fragment.resize(n - kHeaderBytes - kSealOverhead);
    if (crypto_box_open_easy_afternm(fragment.data(), p + kHeaderBytes, n - kHeaderBytes, nonce,
                                     key->data()) != 0) {
      ++stats_.bad_auth;
      return auth_failed("dht datagram: does not open (not for us, or altered)");
    }
  }

  // Only authenticated nonces are remembered, so forgeries cannot fill the set.
  if (!seen_) {
    seen_ = std::make_unique<Seen>();
    random_.fill(seen_->hash_key.data(), seen_->hash_key.size());
  }
  const uint64_t h = seen_hash != 0 ? seen_hash : seen_->hash(p + kSenderAt);
  const size_t cap = limits_.max_seen_nonces == 0 ? 1 : limits_.max_seen_nonces;
  while (seen_->set.size() >= cap && !seen_->order.empty()) {
    seen_->set.erase(seen_->order.front().hash);
    seen_->order.pop_front();
  }
  if (seen_->set.insert(h).second) {
    // Once our clock passes theirs by the window the datagram is stale anyway.
    seen_->order.push_back({h, now_ms + *offset + limits_.replay_window_ms});
  }

  return reassemble(sender, is_signed, std::move(fragment), now_ms);
}

Result<std::optional<Opened>> DatagramCodec::reassemble(const PublicKey& sender, bool is_signed,
                                                        Bytes fragment, int64_t now_ms) {
  const uint8_t* f = fragment.data();
  const uint32_t id = static_cast<uint32_t>(get_be(f, 4));
  const uint16_t index = static_cast<uint16_t>(get_be(f + 4, 2));
  const uint16_t count = static_cast<uint16_t>(get_be(f + 6, 2));
  const size_t payload = fragment.size() - kFragmentHeaderBytes;
  const size_t per = fragment_payload(is_signed);
  const size_t max_count =
      per == 0 ? 1 : std::max<size_t>(1, (limits_.max_message_bytes + per - 1) / per);
  if (count == 0 || index >= count || count > max_count) {
    ++stats_.malformed;
    return malformed("dht datagram: bad fragment index or count");
  }
  if (count == 1) {
    if (payload > limits_.max_message_bytes) {
      ++stats_.malformed;
      return malformed("dht datagram: message above max_message_bytes");
    }
    fragment.erase(fragment.begin(), fragment.begin() + kFragmentHeaderBytes);
    ++stats_.opened;
    return std::optional<Opened>(Opened{sender, is_signed, std::move(fragment)});
  }

  if (!partials_) partials_ = std::make_unique<Partials>(keys_.hash_function());
  Partials& ps = *partials_;
  const Partials::Key key{sender, id, is_signed};
  auto it = ps.map.find(key);
  const size_t cost = fragment.capacity() + (it == ps.map.end() ? Partials::overhead(count) : 0);

  auto drop = [&](decltype(it) victim) {
    stats_.reassembly_bytes -= victim->second.held;
    stats_.fragments_dropped += victim->second.received;
    --stats_.partial_messages;
    ps.map.erase(victim);
  };

  if (it != ps.map.end()) {
    Partials::Partial& part = it->second;
    if (part.count != count) {
      drop(it);
      ++stats_.fragments_dropped;
      ++stats_.malformed;
      return malformed("dht datagram: fragment count changed within a message");
    }
    if (part.have[index]) return std::optional<Opened>{};  // duplicate
  }
  if (cost > limits_.max_reassembly_bytes) {
    ++stats_.fragments_dropped;
    return limit_exceeded("dht datagram: fragment above max_reassembly_bytes");
  }
  // Make room by giving up the oldest partial messages: a flood of first
  // fragments then churns through the buffer instead of freezing it.
  while (stats_.reassembly_bytes + cost > limits_.max_reassembly_bytes && !ps.order.empty()) {
    auto [old_key, generation] = ps.order.front();
    ps.order.pop_front();
    auto victim = ps.map.find(old_key);
    if (victim == ps.map.end() || victim->second.generation != generation) continue;
    if (victim == it) {
      // Our own message is the oldest; keep it and push it to the back.
      ps.order.emplace_back(old_key, generation);
      if (ps.map.size() == 1) break;
      continue;
    }
    drop(victim);
  }
  if (stats_.reassembly_bytes + cost > limits_.max_reassembly_bytes) {
    if (it != ps.map.end()) drop(it);
    ++stats_.fragments_dropped;
    return limit_exceeded("dht datagram: reassembly buffer full");
  }

  if (it == ps.map.end()) {
    Partials::Partial part;
    part.count = count;
    part.created_ms = now_ms;
    part.generation = ps.next_generation++;
    part.parts.resize(count);
    part.have.assign(count, false);
    it = ps.map.emplace(key, std::move(part)).first;
    ps.order.emplace_back(key, it->second.generation);
    ++stats_.partial_messages;
  }
  Partials::Partial& part = it->second;
  if (part.payload + payload > limits_.max_message_bytes) {
    drop(it);
    ++stats_.fragments_dropped;
    ++stats_.malformed;
    return malformed("dht datagram: fragments add up to more than max_message_bytes");
  }
  part.held += cost;
  stats_.reassembly_bytes += cost;
  part.payload += payload;
  part.have[index] = true;
  part.parts[index] = std::move(fragment);
  if (++part.received < part.count) return std::optional<Opened>{};

  Bytes message;
  message.reserve(part.payload);
  for (const Bytes& b : part.parts) {
    message.insert(message.end(), b.begin() + kFragmentHeaderBytes, b.end());
  }
  stats_.reassembly_bytes -= part.held;
  --stats_.partial_messages;
  ps.map.erase(it);
  ps.compact();
  ++stats_.opened;
  return std::optional<Opened>(Opened{sender, is_signed, std::move(message)});
}

void DatagramCodec::expire(int64_t now_ms) {
  if (partials_) {
    Partials& ps = *partials_;
    while (!ps.order.empty()) {
      auto [key, generation] = ps.order.front();
      auto it = ps.map.find(key);
      if (it != ps.map.end() && it->second.generation == generation) {
        if (now_ms - it->second.created_ms < limits_.reassembly_timeout_ms) break;
        stats_.reassembly_bytes -= it->second.held;
        stats_.fragments_dropped += it->second.received;
        --stats_.partial_messages;
        ps.map.erase(it);
      }
      ps.order.pop_front();
    }
    if (ps.map.empty()) partials_.reset();
  }
  if (seen_) {
    while (!seen_->order.empty() && seen_->order.front().expires_ms < now_ms) {
      seen_->set.erase(seen_->order.front().hash);
      seen_->order.pop_front();
    }
    if (seen_->set.empty()) seen_.reset();
  }
}

}  // namespace chorus::dht
