// What the vote and election tests share: hashes, roots and
// representatives told apart by a number, and votes signed as a
// representative signs them.
#pragma once

#include <cstdint>
#include <vector>

#include "chorus/nano/keys.h"
#include "chorus/nano/message.h"
#include "chorus/nano/types.h"

namespace chorus::nano::vote_test {

inline BlockHash hash(int n) {
  BlockHash h{};
  h[30] = static_cast<uint8_t>(n >> 8);
  h[31] = static_cast<uint8_t>(n);
  return h;
}

inline QualifiedRoot root(int n) {
  QualifiedRoot q{};
  q[0] = static_cast<uint8_t>(n >> 8);
  q[1] = static_cast<uint8_t>(n);
  return q;
}

struct Rep {
  PrivateKey prv;
  PublicKey pub;
};
// Index 0 of the seed whose first byte is n.
inline Rep rep(uint8_t n) {
  Seed s{};
  s[0] = n;
  Rep r;
  r.prv = derive_private_key(s, 0);
  r.pub = public_key(r.prv);
  return r;
}

inline Vote signed_vote(const Rep& r, uint64_t timestamp, std::vector<BlockHash> hashes) {
  Vote v;
  v.account = r.pub;
  v.timestamp = timestamp;
  v.hashes = std::move(hashes);
  const BlockHash h = vote_hash(v);
  v.signature = sign(r.prv, ByteView(h.data(), h.size()));
  return v;
}

inline bool signature_ok(const Vote& v) {
  const BlockHash h = vote_hash(v);
  return verify(v.account, ByteView(h.data(), h.size()), v.signature);
}

}  // namespace chorus::nano::vote_test
