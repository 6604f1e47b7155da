// UncheckedBlocks: blocks that arrived before a block they depend on, kept
// until it arrives. Bounded: when full, the block that has waited longest
// goes (a dependency that never came is the likeliest to be garbage, and
// bootstrap fetches what was dropped again).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "chorus/nano/block.h"

namespace chorus::nano {

// Who brought a block: a peer's publish, bootstrap, or this node's own
// process RPC. Bad blocks cost a peer score only when a peer brought them.
enum class BlockSource : uint8_t { kLive, kBootstrap, kLocal };

struct UncheckedBlock {
  Block block;
  BlockSource source = BlockSource::kLive;
  uint64_t tag = 0;
};

class UncheckedBlocks {
 public:
  explicit UncheckedBlocks(size_t max_blocks) : max_(max_blocks) {}

  // Keeps `entry` until `dependency` (a block hash, or an account for an
  // epoch open) arrives. A block kept already is not kept twice.
  void put(const Hash32& dependency, UncheckedBlock entry);
  // Every block that waits for `dependency`, oldest first; they leave.
  std::vector<UncheckedBlock> take(const Hash32& dependency);

  size_t size() const { return by_age_.size(); }
  bool contains(const BlockHash& hash) const { return by_hash_.count(hash) != 0; }
  // Blocks dropped to stay within the bound, since construction.
  uint64_t evicted() const { return evicted_; }

 private:
  struct Entry {
    Hash32 dependency;
    BlockHash hash;
    UncheckedBlock item;
  };
  void erase(uint64_t seq);

  size_t max_;
  uint64_t next_seq_ = 0;
  uint64_t evicted_ = 0;
  std::map<uint64_t, Entry> by_age_;
  std::multimap<Hash32, uint64_t> by_dependency_;
  std::map<BlockHash, uint64_t> by_hash_;
};

}  // namespace chorus::nano
