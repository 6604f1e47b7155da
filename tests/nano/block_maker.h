// Signed dev-network blocks with real work, for ledger and processor tests.
#pragma once

#include <gtest/gtest.h>

#include <optional>

#include "chorus/nano/block.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/network.h"
#include "chorus/nano/work.h"

namespace chorus::nano::test {

inline constexpr uint64_t kNow = 1'700'000'000;
inline constexpr Hash32 kZero{};

struct Key {
  PrivateKey priv;
  PublicKey pub;
};
inline Key key_of(uint8_t n) {
  Seed seed{};
  seed[0] = n;
  Key k;
  k.priv = derive_private_key(seed, 0);
  k.pub = public_key(k.priv);
  return k;
}
inline Key genesis_key() {
  Key k;
  k.priv = dev_genesis_private_key();
  k.pub = public_key(k.priv);
  return k;
}

// A nonce whose work value lies in [at_least, below): "just enough" and
// "just too little" work are both made this way.
inline uint64_t work_between(const Hash32& root, uint64_t at_least, uint64_t below = ~uint64_t{0}) {
  for (uint64_t nonce = 0; nonce < (1u << 24); ++nonce) {
    const uint64_t v = work_value(root, nonce);
    if (v >= at_least && (below == ~uint64_t{0} || v < below)) return nonce;
  }
  ADD_FAILURE() << "no work value in the range asked";
  return 0;
}

struct BlockMaker {
  BlockMaker() : net_(dev_network()), g_(genesis_key()) { EXPECT_TRUE(init_crypto()); }

  // Signs with `signer` and gives the block work for the highest threshold
  // of its epoch (epoch 2 send) unless `work` is given.
  Block finish(Block b, const PrivateKey& signer, std::optional<uint64_t> work = std::nullopt) {
    b.work = work ? *work : work_between(block_root(b), net_.work.epoch_2);
    const BlockHash h = block_hash(b);
    b.signature = sign(signer, ByteView(h.data(), h.size()));
    return b;
  }
  Block state(const Key& k, const BlockHash& previous, const PublicKey& rep, Amount balance,
              const Hash32& link) {
    Block b;
    b.type = BlockType::kState;
    b.account = k.pub;
    b.previous = previous;
    b.representative = rep;
    b.balance = balance;
    b.link = link;
    return finish(b, k.priv);
  }
  Block epoch_block(const PublicKey& account, const BlockHash& previous, const PublicKey& rep,
                    Amount balance, Epoch e) {
    Block b;
    b.type = BlockType::kState;
    b.account = account;
    b.previous = previous;
    b.representative = rep;
    b.balance = balance;
    b.link = net_.epoch_info(e).link;
    return finish(b, g_.priv);  // the dev network's epoch signer is its genesis key
  }
  Block legacy(BlockType t, const Key& k, const BlockHash& previous, const Hash32& link,
               Amount balance = 0, const PublicKey& rep = {}) {
    Block b;
    b.type = t;
    b.previous = previous;
    b.link = link;
    b.balance = balance;
    b.representative = rep;
    if (t == BlockType::kOpen) b.account = k.pub;
    return finish(b, k.priv);
  }

  const NetworkParams& net_;
  Key g_;
};

}  // namespace chorus::nano::test
