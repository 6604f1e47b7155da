// RepRecord: a representative's word, published in the DHT, that an
// overlay node hosts it (spec/nano.md, "Representatives through the DHT").
// A new node reads these to know whom to send confirm_req to without
// crawling the network first.
//
// The record is a hint and nothing more. It says where to ask, never what
// to believe: a representative's weight always comes from the local
// ledger, and a vote counts only once its own signature verifies. The DHT
// value carrying it is signed by the hosting node's overlay key (the DHT
// checks that); the representative's NANO key signs the binding of its
// account to that overlay key and a sequence number, so nobody can claim a
// representative that did not sign for them, and a newer record (higher
// sequence) replaces an older one.
//
//   RepRecord r = make_rep_record(rep_key, network, node.key(), now_ms);
//   dht.put_signed(dht::key_for(rep_record_name(network, r.account)),
//                  encode_rep_record(r), r.seq, ttl_s, done);
//   ...
//   auto got = parse_rep_record(value.data, network, account, value.owner,
//                               value.seq);   // kAuthFailed, kMalformed
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/nano/network.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

inline constexpr uint8_t kRepRecordVersion = 1;
// version (1) | account (32) | signature (64)
inline constexpr size_t kRepRecordBytes = 1 + 32 + 64;

struct RepRecord {
  PublicKey account{};  // the representative
  PublicKey node{};     // the overlay key of the node hosting it
  uint64_t seq = 0;     // newer records have higher ones
  Signature signature{};
  bool operator==(const RepRecord&) const = default;
};

// The DHT key's name for `account` on `network` (hash it with
// dht::key_for): one key per representative and network.
std::string rep_record_name(const NetworkParams& network, const PublicKey& account);

// What the representative signs: a domain string, the network's magic, the
// account, the node's key and the sequence (big-endian).
Bytes rep_record_message(const NetworkParams& network, const PublicKey& account,
                         const PublicKey& node, uint64_t seq);

RepRecord make_rep_record(const PrivateKey& rep, const NetworkParams& network,
                          const PublicKey& node, uint64_t seq);

// The DHT value's data.
Bytes encode_rep_record(const RepRecord& record);

// The record in a DHT signed value found under `account`'s key, whose
// owner (the node that signed the DHT value) and sequence the DHT gives.
// kMalformed for the wrong size or version, kAuthFailed when the
// representative's signature does not cover this account, owner and
// sequence on this network.
Result<RepRecord> parse_rep_record(ByteView data, const NetworkParams& network,
                                   const PublicKey& account, const PublicKey& owner, uint64_t seq);

}  // namespace chorus::nano
