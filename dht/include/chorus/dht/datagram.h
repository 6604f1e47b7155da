// Datagram envelope: authentication, replay protection and fragments for
// DHT messages over UDP (spec/dht.md §2).
//
//   "CD" | u8 version=1 | u8 mode | sender public key (32) | nonce (24) | rest
//
//   mode 0 (sealed): rest = crypto_box_easy_afternm(fragment) under the
//          X25519 forms of the sender's and recipient's Ed25519 keys.
//   mode 1 (signed): rest = fragment ‖ Ed25519 signature over every byte
//          before it. Used only for a first request to an address whose key
//          we do not know yet (bootstrap); the reply is sealed.
//
//   fragment = u32 message id | u16 index | u16 count | bytes of the message
//
// nonce = u64 sender clock in ms ‖ 16 random bytes. A datagram whose clock
// is further than `replay_window_ms` from ours (stats.stale), or whose
// (sender, nonce) was seen inside the window (stats.replayed), is dropped:
// open() returns nullopt for both, not an Error. Replies are also matched
// against the txid of a request we sent, so a replayed reply finds nothing
// to answer.
//
// A DatagramCodec belongs to one node. It caches the shared key per peer
// (bounded LRU), so sealing costs one X25519 per new peer and then only
// XSalsa20-Poly1305. Not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/dht/config.h"
#include "chorus/dht/events.h"
#include "chorus/dht/pair_key_cache.h"
#include "chorus/dht/types.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/keyed_hash.h"
#include "chorus/overlay/random.h"

namespace chorus::dht {

// A complete message that arrived: who sent it (authenticated) and its bytes.
struct Opened {
  PublicKey sender{};
  bool was_signed = false;  // mode 1: the sender did not know our key yet
  Bytes message;
};

class DatagramCodec {
 public:
  DatagramCodec(const overlay::Identity& identity, DatagramLimits limits, overlay::Random& random);
  DatagramCodec(DatagramCodec&&) noexcept;
  ~DatagramCodec();

  // Splits `message` into sealed datagrams for `to`. kLimit above
  // max_message_bytes; kInvalidArgument if `to` is not a valid key.
  Result<std::vector<Bytes>> seal(const PublicKey& to, ByteView message, int64_t now_ms);
  // The same for a peer whose key is unknown (mode 1, signed).
  Result<std::vector<Bytes>> sign(ByteView message, int64_t now_ms);

  // One datagram in. nullopt while a fragmented message is incomplete or the
  // datagram was dropped quietly (replay); an Error for anything that does
  // not authenticate or parse (the caller counts it, never answers it).
  Result<std::optional<Opened>> open(ByteView datagram, int64_t now_ms);

  // Drops reassembly state older than the timeout and seen nonces outside
  // the window. Call now and then (the core does it on its timer).
  void expire(int64_t now_ms);

  // For test vectors: one unfragmented datagram with the nonce and message
  // id given instead of drawn (kLimit if the message needs fragments).
  Result<Bytes> seal_with_nonce(const PublicKey& to, ByteView message,
                                const std::array<uint8_t, 24>& nonce, uint32_t message_id);
  Result<Bytes> sign_with_nonce(ByteView message, const std::array<uint8_t, 24>& nonce,
                                uint32_t message_id);

  // Takes and leaves pair keys in `cache`, shared with the codecs of other
  // local identities (pair_key_cache.h); null stops sharing.
  void share_pair_keys(std::shared_ptr<PairKeyCache> cache) { pair_keys_ = std::move(cache); }

  using Stats = DatagramStats;  // events.h
  const Stats& stats() const { return stats_; }

 private:
  struct Seen;
  struct Partials;
  using Nonce = std::array<uint8_t, 24>;

  const std::array<uint8_t, 32>* shared_key(const PublicKey& peer);
  Result<std::vector<Bytes>> build(const PublicKey* to, ByteView message, int64_t now_ms);
  Result<Bytes> build_one(const PublicKey* to, const std::array<uint8_t, 32>* key, ByteView payload,
                          const Nonce& nonce, uint32_t message_id, uint16_t index, uint16_t count);
  size_t fragment_payload(bool is_signed) const;
  Result<std::optional<Opened>> reassemble(const PublicKey& sender, bool is_signed, Bytes fragment,
                                           int64_t now_ms);

  const overlay::Identity& identity_;
  std::array<uint8_t, 32> x25519_secret_{};
  DatagramLimits limits_;
  overlay::Random& random_;
  uint32_t next_message_id_ = 1;
  // LRU of shared keys, most recent first.
  std::list<std::pair<PublicKey, std::array<uint8_t, 32>>> keys_lru_;
  std::unordered_map<PublicKey, decltype(keys_lru_)::iterator, overlay::KeyedHash> keys_;
  std::shared_ptr<PairKeyCache> pair_keys_;
  // Created on first use: most codecs in a large simulation never see a
  // fragment, and the seen set is only as big as the traffic.
  std::unique_ptr<Seen> seen_;
  std::unique_ptr<Partials> partials_;
  Stats stats_;
};

}  // namespace chorus::dht
