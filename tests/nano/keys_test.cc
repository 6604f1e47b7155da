// Keys, signing and the reference verification. The edge vectors follow the
// rules of nano-node's ed25519-donna `ed25519_sign_open` (spec/nano.md).
#include "chorus/nano/keys.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <random>

#include "chorus/nano/account.h"
#include "chorus/nano/network.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

template <size_t N>
std::array<uint8_t, N> hx(const char* s) {
  auto r = parse_hex_fixed<N>(s, "vector");
  EXPECT_TRUE(r.ok()) << s;
  return *r;
}

constexpr char kGenesisPublic[] =
    "E89208DD038FBB269987689621D52292AE9C35941A7484756ECCED92A65093BA";
constexpr char kGenesisHash[] = "991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948";
constexpr char kGenesisSignature[] =
    "9F0C933C8ADE004D808EA1985FA746A7E95BA2A38F867640F53EC8F180BDFE9E"
    "2C1268DEAD7C2664F356E37ABA362BC58E46DBA03E523A7B5A19E4B6EB12BB02";

class Keys : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(init_crypto()); }
};

TEST_F(Keys, ZeroSeedIndexZeroGivesThePublishedKeyAndAccount) {
  const Seed seed{};
  const PrivateKey prv = derive_private_key(seed, 0);
  EXPECT_EQ(to_hex_upper(prv), "9F0E444C69F77A49BD0BE89DB92C38FE713E0963165CCA12FAF5712D7657120F");
  const PublicKey pub = public_key(prv);
  EXPECT_EQ(to_hex_upper(pub), "C008B814A7D269A1FA3C6528B19201A24D797912DB9996FF02A1FF356E45552B");
  EXPECT_EQ(encode_account(pub),
            "nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7");
}

TEST_F(Keys, IndexIsBigEndian) {
  const Seed seed{};
  uint8_t in[36] = {};
  in[35] = 1;  // index 1, big-endian
  PrivateKey want;
  crypto_generichash(want.data(), 32, in, sizeof in, nullptr, 0);
  EXPECT_EQ(derive_private_key(seed, 1), want);
  EXPECT_NE(derive_private_key(seed, 1), derive_private_key(seed, 0x01000000));
}

TEST_F(Keys, DevGenesisKeyPair) {
  const auto prv = hx<32>("34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4");
  EXPECT_EQ(to_hex_upper(public_key(prv)),
            "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0");
}

TEST_F(Keys, LiveGenesisSignatureVerifies) {
  const auto pub = hx<32>(kGenesisPublic);
  const auto hash = hx<32>(kGenesisHash);
  const auto sig = hx<64>(kGenesisSignature);
  EXPECT_TRUE(verify_reference(pub, hash, sig));
  auto bad = sig;
  bad[10] ^= 1;
  EXPECT_FALSE(verify_reference(pub, hash, bad));
  auto other = hash;
  other[0] ^= 1;
  EXPECT_FALSE(verify_reference(pub, other, sig));
}

TEST_F(Keys, SignsThePublishedVector) {
  // The genesis hash signed with the zero seed's index-0 key (a published
  // example; Ed25519 signatures are deterministic).
  const auto prv = hx<32>("9F0E444C69F77A49BD0BE89DB92C38FE713E0963165CCA12FAF5712D7657120F");
  const Signature sig = sign(prv, hx<32>(kGenesisHash));
  EXPECT_EQ(to_hex_upper(sig),
            "715DEDC047B30C016EA3B42CAB81E4F3D97996332154C53A33A2CB6E8AE19B69"
            "2B7F348C47868EBDEF2565BFE783B593C2FA07EEE1022E966CDFDD587C059507");
}

TEST_F(Keys, RandomSignVerifyRoundTrips) {
  std::mt19937_64 rng(25519);
  for (int i = 0; i < 100; ++i) {
    PrivateKey prv;
    for (auto& c : prv) c = static_cast<uint8_t>(rng());
    Bytes msg(static_cast<size_t>(rng() % 100));
    for (auto& c : msg) c = static_cast<uint8_t>(rng());
    const PublicKey pub = public_key(prv);
    const Signature sig = sign(prv, msg);
    ASSERT_TRUE(verify_reference(pub, msg, sig));
    auto flipped = sig;
    flipped[rng() % 64] ^= static_cast<uint8_t>(1u << (rng() % 8));
    EXPECT_FALSE(verify_reference(pub, msg, flipped));
  }
}

// --rep-key files: nano-node's key_create output, owner-only.
TEST(KeyFile, ReadsAKeyCreateStyleFileAndRefusesEverythingElse) {
  test::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const PrivateKey genesis = dev_genesis_private_key();
  const std::string hex = to_hex_upper(genesis);
  auto write = [&](const std::string& name, const std::string& text, mode_t mode) {
    const std::string path = dir.path() + "/" + name;
    std::ofstream(path) << text;
    ::chmod(path.c_str(), mode);
    return path;
  };
  auto good = read_private_key_file(write("good", hex + "\n", 0600));
  ASSERT_TRUE(good.ok()) << good.error().message();
  EXPECT_EQ(*good, genesis);
  EXPECT_TRUE(read_private_key_file(write("lower", "  " + to_hex(genesis) + "\r\n", 0400)).ok());

  auto open_to_others = read_private_key_file(write("shared", hex, 0644));
  ASSERT_FALSE(open_to_others.ok());
  EXPECT_EQ(open_to_others.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(open_to_others.error().message().find("mode 0600"), std::string::npos);
  EXPECT_EQ(open_to_others.error().message().find(hex), std::string::npos) << "no key in errors";

  auto short_key = read_private_key_file(write("short", hex.substr(2), 0600));
  ASSERT_FALSE(short_key.ok());
  EXPECT_NE(short_key.error().message().find("want 64 hex digits"), std::string::npos);
  auto not_hex = read_private_key_file(write("nothex", std::string(64, 'g'), 0600));
  ASSERT_FALSE(not_hex.ok());
  EXPECT_NE(not_hex.error().message().find("not hex"), std::string::npos);
  EXPECT_FALSE(read_private_key_file(write("empty", "", 0600)).ok());
  EXPECT_FALSE(read_private_key_file(write("big", std::string(5000, '0'), 0600)).ok());
  EXPECT_EQ(read_private_key_file(dir.path() + "/missing").error().code(), ErrorCode::kIo);
  EXPECT_EQ(read_private_key_file(dir.path()).error().code(), ErrorCode::kInvalidArgument)
      << "a directory";
}

}  // namespace
}  // namespace chorus::nano
