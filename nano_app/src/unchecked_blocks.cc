#include "chorus/nano/unchecked_blocks.h"

namespace chorus::nano {

void UncheckedBlocks::put(const Hash32& dependency, UncheckedBlock entry) {
  if (max_ == 0) {
    ++evicted_;
    return;
  }
  const BlockHash hash = block_hash(entry.block);
  if (by_hash_.count(hash) != 0) return;
  while (by_age_.size() >= max_) {
    erase(by_age_.begin()->first);
    ++evicted_;
  }
  const uint64_t seq = next_seq_++;
  by_age_.emplace(seq, Entry{dependency, hash, std::move(entry)});
  by_dependency_.emplace(dependency, seq);
  by_hash_.emplace(hash, seq);
}

std::vector<UncheckedBlock> UncheckedBlocks::take(const Hash32& dependency) {
  std::vector<uint64_t> seqs;
  auto [lo, hi] = by_dependency_.equal_range(dependency);
  for (auto it = lo; it != hi; ++it) seqs.push_back(it->second);
  std::vector<UncheckedBlock> out;
  out.reserve(seqs.size());
  // Sequence numbers grow with age, and a multimap keeps equal keys in
  // insertion order, so `seqs` is already oldest first.
  for (uint64_t seq : seqs) {
    out.push_back(by_age_.at(seq).item);
    erase(seq);
  }
  return out;
}

void UncheckedBlocks::erase(uint64_t seq) {
  auto it = by_age_.find(seq);
  if (it == by_age_.end()) return;
  auto [lo, hi] = by_dependency_.equal_range(it->second.dependency);
  for (auto d = lo; d != hi; ++d) {
    if (d->second == seq) {
      by_dependency_.erase(d);
      break;
    }
  }
  by_hash_.erase(it->second.hash);
  by_age_.erase(it);
}

}  // namespace chorus::nano
