// WriteTokens: the tokens a node hands out in FIND_NODE / FIND_VALUE replies
// and checks on STORE (spec/dht.md §5.3; BEP 5's idea). A token is a keyed hash
// of who asked and from which address, so only someone who can receive at
// that address can write with it: a spoofed source cannot make this node
// store on its behalf. The key rotates every token_rotate_ms and the one
// before stays valid, so a token lives one to two periods.
#pragma once

#include <array>
#include <cstdint>

#include "chorus/dht/types.h"
#include "chorus/overlay/random.h"

namespace chorus::dht {

class WriteTokens {
 public:
  // Draws both secrets from `random` (which must outlive this).
  WriteTokens(overlay::Random& random, int64_t now_ms);

  // The token to give `sender` asking from `from`.
  WriteToken issue(const PublicKey& sender, const Address& from) const;
  // True when `token` was issued to (sender, from) this period or the last.
  bool valid(const PublicKey& sender, const Address& from, const WriteToken& token) const;
  // Starts a new period once rotate_ms has passed since the last.
  void rotate_if_due(int64_t now_ms, int64_t rotate_ms);

 private:
  static constexpr int kGenerations = 2;  // this period's secret and the last one's
  WriteToken make(const PublicKey& sender, const Address& from, int generation) const;

  overlay::Random& random_;
  std::array<std::array<uint8_t, 32>, kGenerations> secret_{};
  int64_t rotated_ms_ = 0;
};

}  // namespace chorus::dht
