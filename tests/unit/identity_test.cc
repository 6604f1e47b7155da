#include "chorus/overlay/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include <atomic>
#include <cctype>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "vectors.h"

namespace chorus::overlay {
namespace {

using testing::hex;
using testing::hex_array;
using testing::vectors;

// A fresh path in the test temp dir; removed before and after use.
class KeyFile {
 public:
  explicit KeyFile(const std::string& name)
      : path_(::testing::TempDir() + "chorus_" + name + "_" + std::to_string(::getpid()) + ".key") {
    ::unlink(path_.c_str());
  }
  ~KeyFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  void write(const std::string& text, mode_t mode) const {
    {
      std::ofstream out(path_, std::ios::trunc);
      out << text;
    }
    ::chmod(path_.c_str(), mode);
  }

 private:
  std::string path_;
};

TEST(Identity, AddressRoundTrips) {
  auto id = Identity::generate();
  auto text = address_to_text(id.public_key());
  EXPECT_EQ(text.size(), 60u);
  auto back = parse_address(text);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, id.public_key());
}

TEST(Identity, SeedsReproduceVectorKeysAddressesAndDhtIds) {
  ASSERT_FALSE(vectors()["identity"].empty());
  for (const auto& v : vectors()["identity"]) {
    auto id = Identity::from_seed(hex_array<32>(v["seed"]));
    EXPECT_EQ(hex(id.public_key()), v["public_key"]);
    EXPECT_EQ(address_to_text(id.public_key()), v["address"]);
    EXPECT_EQ(hex(dht_id(id.public_key())), v["dht_id"]);
    auto x = Identity::x25519_public(id.public_key());
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(hex(*x), v["x25519_public"]);
    auto parsed = parse_address(v["address"].get<std::string>());
    ASSERT_TRUE(parsed.ok()) << parsed.error().to_string();
    EXPECT_EQ(*parsed, id.public_key());
  }
}

// The conversion is remembered process-wide; whatever the cache holds or
// evicts, every key converts to what libsodium says, and a bad point stays
// an error.
TEST(Identity, X25519ConversionsAreRightThroughTheCacheAndItsEvictions) {
  std::vector<Identity> ids;
  for (uint8_t i = 0; i < 40; ++i) {
    std::array<uint8_t, 32> seed{};
    seed[0] = i;
    seed[1] = 0x5a;
    ids.push_back(Identity::from_seed(seed));
  }
  auto direct = [](const PublicKey& k) {
    std::array<uint8_t, 32> x{};
    EXPECT_EQ(crypto_sign_ed25519_pk_to_curve25519(x.data(), k.data()), 0);
    return x;
  };
  PublicKey bad{};
  bad[0] = 2;  // not a point on the curve
  ASSERT_NE(crypto_sign_ed25519_pk_to_curve25519(std::array<uint8_t, 32>{}.data(), bad.data()), 0);
  for (size_t capacity : {size_t{0}, size_t{1}, size_t{7}, size_t{4096}}) {
    Identity::set_x25519_cache_capacity(capacity);
    for (int round = 0; round < 3; ++round) {
      for (const Identity& id : ids) {
        auto x = Identity::x25519_public(id.public_key());
        ASSERT_TRUE(x.ok());
        EXPECT_EQ(*x, direct(id.public_key())) << "capacity " << capacity;
      }
      EXPECT_EQ(Identity::x25519_public(bad).error().code(), ErrorCode::kInvalidArgument);
    }
  }
  // From many threads at once (TSan-free by design: one mutex).
  Identity::set_x25519_cache_capacity(16);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const Identity& id =
            ids[(static_cast<size_t>(i) * 7 + static_cast<size_t>(t)) % ids.size()];
        auto x = Identity::x25519_public(id.public_key());
        if (!x.ok() || *x != direct(id.public_key())) ++wrong;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  Identity::set_x25519_cache_capacity(4096);
}

TEST(Identity, ChecksumCatchesEveryChangedCharacter) {
  const std::string good = vectors()["identity"][0]["address"];
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  for (size_t i = 2; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = alphabet[(alphabet.find(good[i]) + 1) % alphabet.size()];
    auto r = parse_address(bad);
    ASSERT_FALSE(r.ok()) << "change at " << i << " not caught: " << bad;
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  }
}

TEST(Identity, HexAddressAcceptedInEitherCase) {
  const auto& v = vectors()["identity"][1];
  std::string lower = v["public_key"];
  std::string upper = lower;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto a = parse_address(lower);
  auto b = parse_address(upper);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(hex(*a), lower);
  EXPECT_EQ(*a, *b);
}

TEST(Identity, BadAddressesAreMalformed) {
  const std::string good = vectors()["identity"][0]["address"];
  const std::string hex_key = vectors()["identity"][0]["public_key"];
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string cases[] = {
      "",
      "ch",
      good.substr(0, good.size() - 1),             // too short
      good + "a",                                  // too long
      "xx" + good.substr(2),                       // wrong prefix
      upper,                                       // base32 is lower case only
      good.substr(0, 10) + "1" + good.substr(11),  // '1' is not in the alphabet
      hex_key.substr(0, 63),
      hex_key + "0",
      "g" + hex_key.substr(1),  // 64 characters, not hex
  };
  for (const auto& text : cases) {
    auto r = parse_address(text);
    ASSERT_FALSE(r.ok()) << "accepted '" << text << "'";
    EXPECT_EQ(r.error().code(), ErrorCode::kMalformed) << text;
  }
}

TEST(Identity, SignaturesVerifyAndAFlippedByteFails) {
  auto id = Identity::from_seed(hex_array<32>(vectors()["identity"][0]["seed"]));
  Bytes msg = {1, 2, 3};
  Signature sig = id.sign(msg);
  EXPECT_TRUE(verify_signature(id.public_key(), msg, sig));
  sig[10] ^= 1;
  EXPECT_FALSE(verify_signature(id.public_key(), msg, sig));
}

TEST(Identity, KeyFileIsCreatedWithMode0600AndReloadsTheSameKey) {
  KeyFile f("create");
  auto first = Identity::load_or_create(f.path());
  ASSERT_TRUE(first.ok()) << first.error().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(f.path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::ifstream in(f.path());
  std::string tag, seed_hex;
  in >> tag >> seed_hex;
  EXPECT_EQ(tag, "chorus-ed25519-seed");
  EXPECT_EQ(seed_hex, hex(first->seed()));
  auto second = Identity::load_or_create(f.path());
  ASSERT_TRUE(second.ok()) << second.error().to_string();
  EXPECT_EQ(second->public_key(), first->public_key());
}

TEST(Identity, KeyFileWithAKnownSeedGivesThatKey) {
  KeyFile f("known");
  const auto& v = vectors()["identity"][2];
  f.write("chorus-ed25519-seed " + v["seed"].get<std::string>() + "\n", 0600);
  auto id = Identity::load_or_create(f.path());
  ASSERT_TRUE(id.ok()) << id.error().to_string();
  EXPECT_EQ(hex(id->public_key()), v["public_key"]);
}

TEST(Identity, GroupReadableKeyFileIsRefused) {
  KeyFile f("group");
  f.write("chorus-ed25519-seed " + vectors()["identity"][0]["seed"].get<std::string>() + "\n",
          0640);
  auto id = Identity::load_or_create(f.path());
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(id.error().message().find("chmod 600"), std::string::npos) << id.error().message();
}

TEST(Identity, GarbageKeyFileIsMalformed) {
  const std::string cases[] = {
      "not a key file\n",
      "chorus-ed25519-seed 0011\n",                          // short seed
      "chorus-ed25519-seed " + std::string(64, 'z') + "\n",  // not hex
      "",                                                    // empty
      // A good key line, then garbage past the first 256 bytes: the file
      // is not a key file (overlay_text_fuzz found it accepted).
      "chorus-ed25519-seed " + std::string(64, 'a') + std::string(200, '\r') + "\n" +
          std::string(40, '\xcd') + "\n",
  };
  for (const auto& text : cases) {
    KeyFile f("garbage");
    f.write(text, 0600);
    auto id = Identity::load_or_create(f.path());
    ASSERT_FALSE(id.ok()) << "accepted '" << text << "'";
    EXPECT_EQ(id.error().code(), ErrorCode::kMalformed) << text;
  }
}

TEST(Identity, UnwritableKeyFileDirectoryIsAnIoError) {
  auto id = Identity::load_or_create("/nonexistent-dir-for-chorus-tests/node.key");
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace chorus::overlay
