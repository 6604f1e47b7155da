#include "chorus/dht/datagram.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

namespace chorus::dht {
namespace {

using overlay::Identity;

constexpr int64_t kNow = 1'000'000;

std::array<uint8_t, 32> seed(uint8_t b) {
  std::array<uint8_t, 32> s{};
  s.fill(b);
  return s;
}

Bytes pattern(size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(i * 31 + 7);
  return b;
}

class DatagramTest : public ::testing::Test {
 protected:
  Identity a_ = Identity::from_seed(seed(1));
  Identity b_ = Identity::from_seed(seed(2));
  Identity c_ = Identity::from_seed(seed(3));
  overlay::Random random_{42};
  DatagramCodec alice_{a_, DatagramLimits{}, random_};
  DatagramCodec bob_{b_, DatagramLimits{}, random_};
  DatagramCodec carol_{c_, DatagramLimits{}, random_};

  std::vector<Bytes> seal(DatagramCodec& from, const Identity& to, const Bytes& m,
                          int64_t now = kNow) {
    auto r = from.seal(to.public_key(), m, now);
    EXPECT_TRUE(r.ok()) << r.error().to_string();
    return r.ok() ? *r : std::vector<Bytes>{};
  }

  // Opens every datagram in order; returns the message of the last one.
  std::optional<Opened> open_all(DatagramCodec& at, const std::vector<Bytes>& dgs,
                                 int64_t now = kNow) {
    std::optional<Opened> last;
    for (size_t i = 0; i < dgs.size(); ++i) {
      auto r = at.open(dgs[i], now);
      EXPECT_TRUE(r.ok()) << r.error().to_string();
      if (!r.ok()) return std::nullopt;
      if (i + 1 < dgs.size()) {
        EXPECT_FALSE(r->has_value()) << "fragment " << i;
      }
      last = *r;
    }
    return last;
  }
};

// Re-encrypts a sealed datagram from a_ to b_ under a fresh nonce tail: the
// same fragment arriving twice as two distinct datagrams.
Bytes reseal(const Bytes& dg, const Identity& from, const Identity& to, uint8_t tail) {
  std::array<uint8_t, 32> from_x{}, to_secret = to.x25519_secret();
  EXPECT_EQ(crypto_sign_ed25519_pk_to_curve25519(from_x.data(), from.public_key().data()), 0);
  Bytes plain(dg.size() - 60 - crypto_box_MACBYTES);
  EXPECT_EQ(crypto_box_open_easy(plain.data(), dg.data() + 60, dg.size() - 60, dg.data() + 36,
                                 from_x.data(), to_secret.data()),
            0);
  Bytes out(dg.begin(), dg.begin() + 60);
  std::fill(out.begin() + 44, out.begin() + 60, tail);
  out.resize(dg.size());
  std::array<uint8_t, 32> to_x{}, from_secret = from.x25519_secret();
  EXPECT_EQ(crypto_sign_ed25519_pk_to_curve25519(to_x.data(), to.public_key().data()), 0);
  EXPECT_EQ(crypto_box_easy(out.data() + 60, plain.data(), plain.size(), out.data() + 36,
                            to_x.data(), from_secret.data()),
            0);
  return out;
}

TEST_F(DatagramTest, SealOpenSmall) {
  Bytes m = pattern(100);
  auto dgs = seal(alice_, b_, m);
  ASSERT_EQ(dgs.size(), 1u);
  EXPECT_EQ(dgs[0].size(), 60 + 16 + 8 + m.size());
  auto got = open_all(bob_, dgs);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->sender, a_.public_key());
  EXPECT_FALSE(got->was_signed);
  EXPECT_EQ(got->message, m);
  EXPECT_EQ(bob_.stats().opened, 1u);
  EXPECT_EQ(alice_.stats().sealed, 1u);
}

TEST_F(DatagramTest, EmptyMessageRoundTrips) {
  auto got = open_all(bob_, seal(alice_, b_, Bytes{}));
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->message.empty());
}

TEST_F(DatagramTest, FragmentedSeventyKilobytes) {
  Bytes m = pattern(70 * 1024);
  auto dgs = seal(alice_, b_, m);
  ASSERT_GT(dgs.size(), 50u);
  for (const Bytes& d : dgs) EXPECT_LE(d.size(), DatagramLimits{}.max_datagram_bytes);
  auto got = open_all(bob_, dgs);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, m);
  EXPECT_EQ(bob_.stats().reassembly_bytes, 0u);
  EXPECT_EQ(bob_.stats().partial_messages, 0u);
}

TEST_F(DatagramTest, FragmentsOutOfOrderReassemble) {
  Bytes m = pattern(10'000);
  auto dgs = seal(alice_, b_, m);
  ASSERT_GT(dgs.size(), 3u);
  std::reverse(dgs.begin(), dgs.end());
  std::swap(dgs[1], dgs[2]);
  auto got = open_all(bob_, dgs);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, m);
}

TEST_F(DatagramTest, DuplicateFragmentIsIgnored) {
  Bytes m = pattern(5000);
  auto dgs = seal(alice_, b_, m);
  ASSERT_GE(dgs.size(), 2u);
  Bytes again = reseal(dgs[0], a_, b_, 0x5a);
  ASSERT_NE(again, dgs[0]);
  auto r = bob_.open(dgs[0], kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  r = bob_.open(again, kNow);
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(bob_.stats().replayed, 0u);  // a new nonce: only the fragment repeats
  std::vector<Bytes> rest(dgs.begin() + 1, dgs.end());
  auto got = open_all(bob_, rest);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, m);
}

TEST_F(DatagramTest, WrongRecipientFailsAuth) {
  auto dgs = seal(alice_, b_, pattern(50));
  auto r = carol_.open(dgs[0], kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
  EXPECT_EQ(carol_.stats().bad_auth, 1u);
}

TEST_F(DatagramTest, FlippedByteFailsAuth) {
  auto dgs = seal(alice_, b_, pattern(50));
  for (size_t at : {size_t{4}, size_t{50}, size_t{60}, size_t{80}, dgs[0].size() - 1}) {
    Bytes d = dgs[0];
    d[at] ^= 0x01;
    auto r = bob_.open(d, kNow);
    ASSERT_FALSE(r.ok()) << at;
    EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed) << at;
  }
  Bytes d = dgs[0];
  d[0] = 'X';
  auto r = bob_.open(d, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  d = dgs[0];
  d[2] = 2;  // version
  EXPECT_FALSE(bob_.open(d, kNow).ok());
  d = dgs[0];
  d[3] = 7;  // mode
  EXPECT_FALSE(bob_.open(d, kNow).ok());
  // The untouched datagram still opens: failures left no state behind.
  auto ok = bob_.open(dgs[0], kNow);
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->has_value());
}

TEST_F(DatagramTest, ReplayIsDropped) {
  auto dgs = seal(alice_, b_, pattern(50));
  auto first = bob_.open(dgs[0], kNow);
  ASSERT_TRUE(first.ok() && first->has_value());
  auto second = bob_.open(dgs[0], kNow + 10);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->has_value());
  EXPECT_EQ(bob_.stats().replayed, 1u);
  EXPECT_EQ(bob_.stats().opened, 1u);
}

TEST_F(DatagramTest, StaleTimestampIsDropped) {
  const int64_t w = DatagramLimits{}.replay_window_ms;
  auto old_dg = seal(alice_, b_, pattern(50), kNow - w - 1);
  auto future = seal(alice_, b_, pattern(50), kNow + w + 1);
  auto edge = seal(alice_, b_, pattern(50), kNow - w);
  for (const auto& d : {old_dg[0], future[0]}) {
    auto r = bob_.open(d, kNow);
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value());
  }
  EXPECT_EQ(bob_.stats().stale, 2u);
  auto r = bob_.open(edge[0], kNow);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->has_value());
}

TEST_F(DatagramTest, SeenNoncesExpireWithTheWindow) {
  auto dgs = seal(alice_, b_, pattern(50));
  ASSERT_TRUE(bob_.open(dgs[0], kNow).ok());
  const int64_t w = DatagramLimits{}.replay_window_ms;
  bob_.expire(kNow + w + 1);
  // Forgotten, but now too old to be accepted anyway.
  auto r = bob_.open(dgs[0], kNow + w + 1);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_EQ(bob_.stats().stale, 1u);
}

TEST_F(DatagramTest, SeenSetIsBoundedAndEvictsOldest) {
  DatagramLimits lim;
  lim.max_seen_nonces = 4;
  DatagramCodec small(b_, lim, random_);
  std::vector<Bytes> dgs;
  for (int i = 0; i < 6; ++i) dgs.push_back(seal(alice_, b_, pattern(10))[0]);
  for (const auto& d : dgs) ASSERT_TRUE(small.open(d, kNow).ok());
  // The newest is still remembered; the oldest was evicted to make room.
  auto newest = small.open(dgs.back(), kNow);
  ASSERT_TRUE(newest.ok());
  EXPECT_FALSE(newest->has_value());
  auto oldest = small.open(dgs.front(), kNow);
  ASSERT_TRUE(oldest.ok());
  EXPECT_TRUE(oldest->has_value());
}

TEST_F(DatagramTest, SignedModeWorksForAnUnknownPeer) {
  Bytes m = pattern(200);
  auto dgs = alice_.sign(m, kNow);
  ASSERT_TRUE(dgs.ok());
  ASSERT_EQ(dgs->size(), 1u);
  EXPECT_EQ((*dgs)[0][3], 1);
  auto got = open_all(carol_, *dgs);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->was_signed);
  EXPECT_EQ(got->sender, a_.public_key());
  EXPECT_EQ(got->message, m);
}

TEST_F(DatagramTest, SignedModeFragments) {
  Bytes m = pattern(4000);
  auto dgs = alice_.sign(m, kNow);
  ASSERT_TRUE(dgs.ok());
  ASSERT_GT(dgs->size(), 1u);
  auto got = open_all(carol_, *dgs);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, m);
}

TEST_F(DatagramTest, TamperedSignatureFails) {
  auto dgs = alice_.sign(pattern(200), kNow);
  ASSERT_TRUE(dgs.ok());
  for (size_t at : {size_t{10}, size_t{70}, (*dgs)[0].size() - 1}) {
    Bytes d = (*dgs)[0];
    d[at] ^= 0x80;
    auto r = carol_.open(d, kNow);
    ASSERT_FALSE(r.ok()) << at;
    EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed) << at;
  }
}

TEST_F(DatagramTest, MissingFragmentExpiresAndFreesItsBytes) {
  auto dgs = seal(alice_, b_, pattern(8000));
  ASSERT_GT(dgs.size(), 2u);
  dgs.pop_back();
  for (const auto& d : dgs) ASSERT_TRUE(bob_.open(d, kNow).ok());
  EXPECT_GT(bob_.stats().reassembly_bytes, 8000u - 1400u);
  EXPECT_EQ(bob_.stats().partial_messages, 1u);
  bob_.expire(kNow + DatagramLimits{}.reassembly_timeout_ms - 1);
  EXPECT_EQ(bob_.stats().partial_messages, 1u);
  bob_.expire(kNow + DatagramLimits{}.reassembly_timeout_ms);
  EXPECT_EQ(bob_.stats().reassembly_bytes, 0u);
  EXPECT_EQ(bob_.stats().partial_messages, 0u);
  EXPECT_EQ(bob_.stats().fragments_dropped, dgs.size());
}

TEST_F(DatagramTest, OversizedMessageIsRefused) {
  Bytes big(DatagramLimits{}.max_message_bytes + 1);
  auto r = alice_.seal(b_.public_key(), big, kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kLimit);
  EXPECT_FALSE(alice_.sign(big, kNow).ok());

  // A sender with a larger limit: the receiver refuses the fragment count.
  DatagramLimits lax;
  lax.max_message_bytes = 1 << 20;
  DatagramCodec loud(a_, lax, random_);
  auto dgs = loud.seal(b_.public_key(), Bytes(200 * 1024), kNow);
  ASSERT_TRUE(dgs.ok());
  auto o = bob_.open((*dgs)[0], kNow);
  ASSERT_FALSE(o.ok());
  EXPECT_EQ(o.error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(bob_.stats().reassembly_bytes, 0u);
}

TEST_F(DatagramTest, InvalidRecipientKeyIsRefused) {
  auto r = alice_.seal(PublicKey{}, pattern(10), kNow);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(DatagramTest, SharedKeyCacheEvictsButKeepsWorking) {
  DatagramLimits lim;
  lim.shared_key_cache = 2;
  DatagramCodec a(a_, lim, random_);
  for (int round = 0; round < 2; ++round) {
    for (const Identity* to : {&b_, &c_, &b_, &c_}) {
      DatagramCodec& at = to == &b_ ? bob_ : carol_;
      auto got = open_all(at, seal(a, *to, pattern(30)));
      ASSERT_TRUE(got.has_value());
    }
    auto got = open_all(bob_, seal(a, b_, pattern(30)));
    ASSERT_TRUE(got.has_value());
  }
}

// Local nodes sharing pair keys: the second end of a pair takes the key the
// first computed, messages open both ways as without sharing, and a third
// identity gets nothing from the pairs of others.
TEST_F(DatagramTest, PairKeysComputedAtOneEndServeTheOther) {
  auto cache = std::make_shared<PairKeyCache>(2);
  DatagramCodec a(a_, DatagramLimits{}, random_), b(b_, DatagramLimits{}, random_),
      c(c_, DatagramLimits{}, random_);
  for (DatagramCodec* codec : {&a, &b, &c}) codec->share_pair_keys(cache);

  auto to_b = seal(a, b_, pattern(40));
  EXPECT_EQ(cache->size(), 1u);
  EXPECT_EQ(cache->hits(), 0u);
  auto got = open_all(b, to_b);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, pattern(40));
  EXPECT_EQ(cache->hits(), 1u) << "bob took alice's key instead of computing it";
  // A codec that does not share opens the same datagrams, and reads what a
  // sharing one sends: the shared key is the one each end would compute.
  ASSERT_TRUE(open_all(bob_, seal(a, b_, pattern(41))).has_value());
  got = open_all(a, seal(bob_, a_, pattern(42)));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, pattern(42));

  // Carol's pairs with alice and bob are not theirs with each other.
  auto stolen = c.open(to_b[0], kNow);
  ASSERT_FALSE(stolen.ok());
  EXPECT_EQ(stolen.error().code(), ErrorCode::kAuthFailed);
  EXPECT_LE(cache->size(), 2u);
  ASSERT_TRUE(open_all(a, seal(c, a_, pattern(43))).has_value());
  ASSERT_TRUE(open_all(b, seal(c, b_, pattern(44))).has_value());
  EXPECT_EQ(cache->size(), 2u) << "the bound holds";
  // Evicted pairs are computed again.
  got = open_all(b, seal(a, b_, pattern(45)));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, pattern(45));
}

TEST_F(DatagramTest, ReassemblyBoundHoldsUnderAFloodOfFirstFragments) {
  DatagramLimits lim;
  lim.max_reassembly_bytes = 64 * 1024;
  DatagramCodec victim(b_, lim, random_);
  uint64_t peak = 0;
  for (int i = 0; i < 300; ++i) {
    DatagramCodec& sender = i % 2 ? alice_ : carol_;
    auto dgs = seal(sender, b_, pattern(20'000));
    ASSERT_TRUE(victim.open(dgs[0], kNow).ok());
    peak = std::max(peak, victim.stats().reassembly_bytes);
    ASSERT_LE(victim.stats().reassembly_bytes, lim.max_reassembly_bytes);
  }
  EXPECT_GT(peak, lim.max_reassembly_bytes / 2);
  EXPECT_GT(victim.stats().fragments_dropped, 0u);
  // A whole message still gets through after the flood.
  Bytes m = pattern(30'000);
  auto got = open_all(victim, seal(alice_, b_, m));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->message, m);
  victim.expire(kNow + lim.reassembly_timeout_ms);
  EXPECT_EQ(victim.stats().reassembly_bytes, 0u);
}

TEST_F(DatagramTest, GarbageNeverCrashes) {
  overlay::Random r(7);
  for (int i = 0; i < 2000; ++i) {
    Bytes d(r.below(200));
    r.fill(d.data(), d.size());
    if (d.size() > 4 && i % 2) {
      d[0] = 'C';
      d[1] = 'D';
      d[2] = 1;
      d[3] = static_cast<uint8_t>(i % 4);
    }
    auto o = bob_.open(d, kNow);
    if (o.ok()) {
      EXPECT_FALSE(o->has_value());
    }
  }
}

TEST(DatagramVectors, OpenAndRebuildMatch) {
  std::ifstream in(std::string(CHORUS_SPEC_DIR) + "/vectors/dht.json");
  ASSERT_TRUE(in.good()) << "spec/vectors/dht.json missing";
  auto doc = nlohmann::json::parse(in);
  ASSERT_EQ(doc["datagrams"].size(), 2u);
  for (const auto& v : doc["datagrams"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto hex = [&](const char* k) { return *from_hex(v[k].get<std::string>()); };
    auto seed_of = [&](const char* k) {
      std::array<uint8_t, 32> s{};
      Bytes b = hex(k);
      std::copy(b.begin(), b.end(), s.begin());
      return s;
    };
    Identity sender = Identity::from_seed(seed_of("sender_seed"));
    Identity recipient = Identity::from_seed(seed_of("recipient_seed"));
    EXPECT_EQ(to_hex(sender.public_key()), v["sender_public_key"].get<std::string>());
    overlay::Random random(1);
    DatagramCodec out(sender, DatagramLimits{}, random);
    DatagramCodec in_codec(recipient, DatagramLimits{}, random);
    std::array<uint8_t, 24> nonce{};
    Bytes n = hex("nonce");
    std::copy(n.begin(), n.end(), nonce.begin());
    const Bytes message = hex("message");
    const uint32_t id = v["message_id"];
    auto built = v["mode"] == 0 ? out.seal_with_nonce(recipient.public_key(), message, nonce, id)
                                : out.sign_with_nonce(message, nonce, id);
    ASSERT_TRUE(built.ok());
    EXPECT_EQ(to_hex(*built), v["datagram"].get<std::string>());
    auto opened = in_codec.open(hex("datagram"), v["clock_ms"].get<int64_t>());
    ASSERT_TRUE(opened.ok()) << opened.error().to_string();
    ASSERT_TRUE(opened->has_value());
    EXPECT_EQ((*opened)->message, message);
    EXPECT_EQ((*opened)->sender, sender.public_key());
    EXPECT_EQ((*opened)->was_signed, v["mode"] == 1);
  }
}

}  // namespace
}  // namespace chorus::dht
