// PeerTokens: a write token is reused only while fresh, a refused one is
// forgotten, and no more than the bound are kept.
#include "chorus/dht/peer_tokens.h"

#include <gtest/gtest.h>

namespace chorus::dht {
namespace {

NodeId id_of(uint8_t n) {
  NodeId id{};
  id[0] = n;
  return id;
}

WriteToken token_of(uint8_t n) {
  WriteToken t{};
  t.fill(n);
  return t;
}

TEST(PeerTokens, ATokenIsUsedOnlyWhileFreshAndTheNewestWins) {
  PeerTokens tokens(8, 1000);
  tokens.put(id_of(1), token_of(1), 0);
  EXPECT_EQ(tokens.fresh(id_of(1), 999), token_of(1));
  EXPECT_FALSE(tokens.fresh(id_of(1), 1000));
  EXPECT_FALSE(tokens.fresh(id_of(2), 0));
  tokens.put(id_of(1), token_of(9), 1500);
  EXPECT_EQ(tokens.fresh(id_of(1), 2000), token_of(9));
  tokens.drop(id_of(1));
  EXPECT_FALSE(tokens.fresh(id_of(1), 2000));
}

TEST(PeerTokens, WhenFullTheOldestMakesRoomAndZeroKeepsNone) {
  PeerTokens tokens(3, 1'000'000);
  for (uint8_t i = 1; i <= 3; ++i) tokens.put(id_of(i), token_of(i), 100 - i);  // 3 is oldest
  tokens.put(id_of(4), token_of(4), 200);
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_FALSE(tokens.fresh(id_of(3), 200));
  for (uint8_t i : {1, 2, 4}) EXPECT_EQ(tokens.fresh(id_of(i), 200), token_of(i));
  // A known peer's new token replaces its old one without evicting anyone.
  tokens.put(id_of(1), token_of(7), 300);
  EXPECT_EQ(tokens.size(), 3u);
  EXPECT_EQ(tokens.fresh(id_of(2), 300), token_of(2));

  PeerTokens none(0, 1'000'000);
  none.put(id_of(1), token_of(1), 0);
  EXPECT_EQ(none.size(), 0u);
  EXPECT_FALSE(none.fresh(id_of(1), 0));
}

}  // namespace
}  // namespace chorus::dht
