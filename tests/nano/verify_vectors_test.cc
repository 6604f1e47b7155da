// spec/vectors/nano_verify.json: edge cases of nano-node's signature rules,
// computed by an independent integer model (tests/nano/gen_verify_vectors.py).
// The libsodium-composed verification must give the same answer on each.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "chorus/nano/keys.h"

namespace chorus::nano {
namespace {

nlohmann::json load_vectors() {
  std::ifstream in(std::string(CHORUS_SPEC_DIR) + "/vectors/nano_verify.json");
  std::stringstream ss;
  ss << in.rdbuf();
  return nlohmann::json::parse(ss.str());
}

TEST(VerifyVectors, ComposedVerifyMatchesTheDonnaRules) {
  ASSERT_TRUE(init_crypto());
  const auto vectors = load_vectors();
  ASSERT_GE(vectors.size(), 25u);
  int accepted = 0;
  for (const auto& v : vectors) {
    const auto pub = *parse_hex_fixed<32>(v["public"].get<std::string>(), "public");
    const auto sig = *parse_hex_fixed<64>(v["signature"].get<std::string>(), "signature");
    const Bytes msg = *from_hex(v["message"].get<std::string>());
    const bool want = v["valid"].get<bool>();
    EXPECT_EQ(verify_reference(pub, msg, sig), want) << v["name"] << ": " << v["note"];
    EXPECT_EQ(verify(pub, msg, sig), want) << v["name"];
    accepted += want;
  }
  EXPECT_GT(accepted, 10);
}

}  // namespace
}  // namespace chorus::nano
