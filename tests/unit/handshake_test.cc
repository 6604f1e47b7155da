#include "chorus/overlay/handshake.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "vectors.h"

namespace chorus::overlay {
namespace {

using testing::hex;
using testing::hex_array;
using testing::hex_bytes;
using testing::vectors;

const nlohmann::json& hs() {
  return vectors()["handshake"];
}

Identity initiator_identity() {
  return Identity::from_seed(hex_array<32>(hs()["initiator_seed"]));
}
Identity responder_identity() {
  return Identity::from_seed(hex_array<32>(hs()["responder_seed"]));
}

// The bytes of each part, one after another.
Bytes concat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts)
    for (uint8_t c : p) out.push_back(c);
  return out;
}

// Feeds all of `bytes` to `h`, which must take every byte.
void feed(Handshake& h, ByteView bytes) {
  auto used = h.on_bytes(bytes);
  ASSERT_TRUE(used.ok()) << used.error().to_string();
  EXPECT_EQ(*used, bytes.size());
}

// Runs both sides to completion, passing each output to the other.
void run(Handshake& a, Handshake& b) {
  for (int round = 0; round < 4 && !(a.done() && b.done()); ++round) {
    Bytes to_b = a.take_output(), to_a = b.take_output();
    if (!to_b.empty()) feed(b, to_b);
    if (!to_a.empty()) feed(a, to_a);
  }
}

// The result of feeding `bytes` to a fresh responder.
Result<size_t> responder_reaction(ByteView bytes) {
  static const Identity self = responder_identity();
  Random rnd(7);
  Handshake h(self, Role::kResponder, 0, rnd);
  return h.on_bytes(bytes);
}

Hello vector_hello_of_initiator() {
  auto h = decode_hello(hex_bytes(hs()["initiator_hello"]));
  EXPECT_TRUE(h.ok());
  return h.ok() ? *h : Hello{};
}

TEST(Handshake, HelloVectorEncodesAndDecodes) {
  const auto& v = vectors()["hello"];
  Hello h;
  h.version = v["version"];
  h.flags = v["flags"];
  h.static_key = hex_array<32>(v["static_key"]);
  h.ephemeral_key = hex_array<32>(v["ephemeral_key"]);
  h.listen_port = v["listen_port"];
  h.network = network_tag(v["network_id"].get<std::string>());
  EXPECT_EQ(hex(h.network), v["network"]);
  Bytes enc = encode_hello(h);
  EXPECT_EQ(enc.size(), kHelloBytes);
  EXPECT_EQ(hex(enc), v["encoding"]);
  auto back = decode_hello(enc);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->static_key, h.static_key);
  EXPECT_EQ(back->ephemeral_key, h.ephemeral_key);
  EXPECT_EQ(back->listen_port, h.listen_port);
  EXPECT_EQ(back->network, h.network);
}

TEST(Handshake, DecodeHelloRefusesWrongSizeAndMagic) {
  Bytes enc = hex_bytes(vectors()["hello"]["encoding"]);
  EXPECT_EQ(decode_hello(ByteView(enc.data(), kHelloBytes - 1)).error().code(),
            ErrorCode::kMalformed);
  enc.push_back(0);
  EXPECT_EQ(decode_hello(enc).error().code(), ErrorCode::kMalformed);
  enc.pop_back();
  enc[3] = 'X';
  EXPECT_EQ(decode_hello(enc).error().code(), ErrorCode::kMalformed);
}

// Runs the handshake vector named `name` and checks every byte and key.
void check_transcript_vector(const nlohmann::json& v) {
  Identity ii = Identity::from_seed(hex_array<32>(v["initiator_seed"]));
  Identity ri = Identity::from_seed(hex_array<32>(v["responder_seed"]));
  Random irnd(v["initiator_random_seed"].get<uint64_t>());
  Random rrnd(v["responder_random_seed"].get<uint64_t>());
  Handshake a(ii, Role::kInitiator, v["initiator_listen_port"], irnd, v["initiator_flags"]);
  Handshake b(ri, Role::kResponder, v["responder_listen_port"], rrnd, v["responder_flags"]);

  Bytes hello_i = a.take_output(), hello_r = b.take_output();
  EXPECT_EQ(hex(hello_i), v["initiator_hello"]);
  EXPECT_EQ(hex(hello_r), v["responder_hello"]);

  feed(a, hello_r);
  feed(b, hello_i);
  Bytes auth_i = a.take_output(), auth_r = b.take_output();
  EXPECT_EQ(hex(auth_i), v["initiator_auth"]);
  EXPECT_EQ(hex(auth_r), v["responder_auth"]);
  EXPECT_FALSE(a.done());
  EXPECT_FALSE(b.done());

  feed(a, auth_r);
  feed(b, auth_i);
  ASSERT_TRUE(a.done());
  ASSERT_TRUE(b.done());
  EXPECT_TRUE(a.take_output().empty());
  EXPECT_EQ(hex(a.keys().rx), v["initiator_rx"]);
  EXPECT_EQ(hex(a.keys().tx), v["initiator_tx"]);
  EXPECT_EQ(hex(b.keys().rx), v["responder_rx"]);
  EXPECT_EQ(hex(b.keys().tx), v["responder_tx"]);
  EXPECT_EQ(a.keys().tx, b.keys().rx);
  EXPECT_EQ(a.keys().rx, b.keys().tx);
  EXPECT_EQ(a.peer_hello().static_key, ri.public_key());
  EXPECT_EQ(b.peer_hello().listen_port, v["initiator_listen_port"]);
  EXPECT_EQ(a.peer_hello().listen_port, v["responder_listen_port"]);
  const Cipher expect = v["cipher"] == "aes256gcm" ? Cipher::kAes256Gcm : Cipher::kChaCha20Poly1305;
  EXPECT_EQ(a.cipher(), expect);
  EXPECT_EQ(b.cipher(), expect);
}

TEST(Handshake, FixedSeedsReproduceTheVectorTranscript) {
  check_transcript_vector(hs());
}

TEST(Handshake, FixedSeedsReproduceTheAesVectorTranscript) {
  check_transcript_vector(vectors()["handshake_aes"]);
}

TEST(Handshake, AesGcmIsUsedOnlyWhenBothSidesOfferIt) {
  for (auto [fi, fr] : {std::pair{0, 0}, std::pair{1, 0}, std::pair{0, 1}, std::pair{1, 1}}) {
    Identity x = initiator_identity(), y = responder_identity();
    Random rx(1), ry(2);
    Handshake a(x, Role::kInitiator, 0, rx, static_cast<uint8_t>(fi));
    Handshake b(y, Role::kResponder, 0, ry, static_cast<uint8_t>(fr));
    run(a, b);
    ASSERT_TRUE(a.done() && b.done());
    const Cipher expect = fi && fr ? Cipher::kAes256Gcm : Cipher::kChaCha20Poly1305;
    EXPECT_EQ(a.cipher(), expect) << fi << fr;
    EXPECT_EQ(b.cipher(), expect) << fi << fr;
  }
}

TEST(Handshake, TamperedHelloFlagsFailTheSignature) {
  // A man in the middle who strips the AES offer changes the transcript.
  Identity x = initiator_identity(), y = responder_identity();
  Random rx(1), ry(2);
  Handshake a(x, Role::kInitiator, 0, rx, kHelloAesGcm);
  Handshake b(y, Role::kResponder, 0, ry, kHelloAesGcm);
  Bytes hello_a = a.take_output();
  hello_a[5] = 0;  // flags byte
  feed(b, hello_a);
  Bytes from_b = b.take_output();
  auto r = a.on_bytes(from_b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
}

TEST(Handshake, VectorTranscriptAndAuthMessagesFollowTheSpec) {
  // Recomputed here from the spec's definitions, independent of Handshake.
  Bytes t = concat({as_bytes("chorus/handshake/v1"), hex_bytes(hs()["initiator_hello"]),
                    hex_bytes(hs()["responder_hello"])});
  Hash256 transcript = blake2b_256(t);
  EXPECT_EQ(hex(transcript), hs()["transcript_hash"]);
  for (auto [role, key, msg, sig, seed] :
       {std::tuple{'I', "initiator", "initiator_auth_message", "initiator_auth", "initiator_seed"},
        std::tuple{'R', "responder", "responder_auth_message", "responder_auth",
                   "responder_seed"}}) {
    SCOPED_TRACE(key);
    const uint8_t role_byte = static_cast<uint8_t>(role);
    Bytes m = concat({as_bytes("chorus/handshake/auth/v1"), Bytes{role_byte}, transcript});
    EXPECT_EQ(hex(m), hs()[msg]);
    auto id = Identity::from_seed(hex_array<32>(hs()[seed]));
    EXPECT_TRUE(verify_signature(id.public_key(), m, hex_array<64>(hs()[sig])));
  }
  // The ephemeral keys are crypto_kx keys from the vector's seeds.
  for (auto side : {"initiator", "responder"}) {
    auto seed = hex_array<32>(hs()[std::string(side) + "_ephemeral_seed"]);
    std::array<uint8_t, 32> pk{}, sk{};
    ASSERT_EQ(crypto_kx_seed_keypair(pk.data(), sk.data(), seed.data()), 0);
    EXPECT_EQ(hex(pk), hs()[std::string(side) + "_ephemeral_public"]);
  }
  EXPECT_EQ(hex(vector_hello_of_initiator().ephemeral_key), hs()["initiator_ephemeral_public"]);
}

TEST(Handshake, RandomKeysGiveMatchingSessionKeysOnBothSides) {
  Identity x = Identity::generate(), y = Identity::generate();
  Random rx, ry;
  Handshake a(x, Role::kInitiator, 0, rx);
  Handshake b(y, Role::kResponder, 9000, ry);
  run(a, b);
  ASSERT_TRUE(a.done());
  ASSERT_TRUE(b.done());
  EXPECT_EQ(a.keys().tx, b.keys().rx);
  EXPECT_EQ(a.keys().rx, b.keys().tx);
  EXPECT_NE(a.keys().tx, a.keys().rx);
}

TEST(Handshake, ByteAtATimeFeedingCompletes) {
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(hs()["initiator_random_seed"].get<uint64_t>());
  Random rrnd(hs()["responder_random_seed"].get<uint64_t>());
  Handshake a(ii, Role::kInitiator, 0, irnd);
  Handshake b(ri, Role::kResponder, 7001, rrnd);
  for (int round = 0; round < 4 && !(a.done() && b.done()); ++round) {
    Bytes to_b = a.take_output(), to_a = b.take_output();
    for (uint8_t c : to_b) feed(b, ByteView(&c, 1));
    for (uint8_t c : to_a) feed(a, ByteView(&c, 1));
  }
  ASSERT_TRUE(a.done());
  ASSERT_TRUE(b.done());
  EXPECT_EQ(hex(a.keys().tx), hs()["initiator_tx"]);
  EXPECT_EQ(a.keys().tx, b.keys().rx);
}

TEST(Handshake, BytesAfterTheAuthAreLeftForTheFrameLayer) {
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(1), rrnd(2);
  Handshake a(ii, Role::kInitiator, 0, irnd);
  Handshake b(ri, Role::kResponder, 0, rrnd);
  feed(b, a.take_output());
  Bytes from_b = b.take_output();  // HELLO ‖ AUTH
  ASSERT_EQ(from_b.size(), kHelloBytes + kAuthBytes);
  from_b.insert(from_b.end(), {1, 2, 3});
  auto used = a.on_bytes(from_b);
  ASSERT_TRUE(used.ok()) << used.error().to_string();
  EXPECT_EQ(*used, kHelloBytes + kAuthBytes);
  EXPECT_TRUE(a.done());
}

TEST(Handshake, BadMagicIsRefusedAtTheFirstWrongByte) {
  Bytes junk = {'G', 'E', 'T', ' '};
  auto r = responder_reaction(ByteView(junk.data(), 1));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  Bytes hello = hex_bytes(hs()["initiator_hello"]);
  hello[2] = 'X';
  r = responder_reaction(hello);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kMalformed);
  EXPECT_NE(r.error().message().find("magic"), std::string::npos);
}

TEST(Handshake, WrongVersionIsRefused) {
  Hello h = vector_hello_of_initiator();
  h.version = kProtocolVersion + 1;
  auto r = responder_reaction(encode_hello(h));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
  EXPECT_NE(r.error().message().find("version"), std::string::npos);
}

TEST(Handshake, VersionOneHelloIsRefusedAtItsVersionByte) {
  // A version 1 peer sends 72 bytes and waits: the version byte alone must
  // refuse it, not a wait for the 104 bytes of a version 2 HELLO.
  Bytes v1 = hex_bytes(hs()["initiator_hello"]);
  v1[4] = 1;
  auto r = responder_reaction(ByteView(v1.data(), 5));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
  EXPECT_EQ(r.error().message(), "wrong version: peer speaks 1, we speak 2");
}

TEST(Handshake, NetworkIdMismatchIsRefusedOnBothSides) {
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(1), rrnd(2);
  Handshake a(ii, Role::kInitiator, 0, irnd, 0, network_tag("nano/test"));
  Handshake b(ri, Role::kResponder, 0, rrnd, 0, network_tag("nano/live"));
  Bytes hello_a = a.take_output(), hello_b = b.take_output();
  auto rb = b.on_bytes(hello_a);
  auto ra = a.on_bytes(hello_b);
  for (const auto* r : {&ra, &rb}) {
    ASSERT_FALSE(r->ok());
    EXPECT_EQ(r->error().code(), ErrorCode::kProtocol);
    EXPECT_EQ(r->error().message(), "network id mismatch");
  }
  EXPECT_EQ(a.refusal(), Refusal::kNetworkMismatch);
  EXPECT_EQ(b.refusal(), Refusal::kNetworkMismatch);
  // Neither signed anything for the other network.
  EXPECT_TRUE(a.take_output().empty());
  EXPECT_TRUE(b.take_output().empty());
}

TEST(Handshake, SameNonDefaultNetworkCompletes) {
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(1), rrnd(2);
  Handshake a(ii, Role::kInitiator, 0, irnd, 0, network_tag("nano/dev"));
  Handshake b(ri, Role::kResponder, 0, rrnd, 0, network_tag("nano/dev"));
  run(a, b);
  EXPECT_TRUE(a.done());
  EXPECT_TRUE(b.done());
  EXPECT_NE(network_tag("nano/dev"), network_tag(""));
}

TEST(Handshake, TamperedNetworkTagFailsTheSignature) {
  // An on-path attacker rewriting both tags to make two networks link is
  // caught: the tags are in the transcript both sides sign.
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(1), rrnd(2);
  Handshake a(ii, Role::kInitiator, 0, irnd, 0, network_tag("x"));
  Handshake b(ri, Role::kResponder, 0, rrnd, 0, network_tag("y"));
  Bytes hello_a = a.take_output();
  Hash256 y = network_tag("y");
  std::copy(y.begin(), y.end(), hello_a.begin() + (kHelloBytes - y.size()));
  feed(b, hello_a);
  Bytes from_b = b.take_output();
  Hash256 x = network_tag("x");
  std::copy(x.begin(), x.end(), from_b.begin() + (kHelloBytes - x.size()));
  auto r = a.on_bytes(from_b);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
}

TEST(Handshake, PeerCheckRefusesBeforeTheResponderSignsAnything) {
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(1), rrnd(2);
  PublicKey seen{};
  Handshake a(ii, Role::kInitiator, 0, irnd);
  Handshake b(ri, Role::kResponder, 0, rrnd, 0, network_tag({}), [&](const PublicKey& k) {
    seen = k;
    return Result<void>(refused("peer is banned"));
  });
  Bytes hello_b = b.take_output();
  ASSERT_EQ(hello_b.size(), kHelloBytes);
  feed(a, hello_b);  // the initiator answers with its AUTH at once
  Bytes from_a = a.take_output();
  ASSERT_EQ(from_a.size(), kHelloBytes + kAuthBytes);
  auto r = b.on_bytes(from_a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kRefused);
  EXPECT_EQ(b.refusal(), Refusal::kPeerCheck);
  EXPECT_EQ(seen, ii.public_key());
  EXPECT_EQ(b.peer_hello().static_key, ii.public_key());
  EXPECT_TRUE(b.take_output().empty()) << "no AUTH for a refused peer";
  EXPECT_FALSE(b.done());
}

TEST(Handshake, ConnectionToSelfIsRefused) {
  Identity self = responder_identity();
  Random r1(1), r2(2);
  Handshake a(self, Role::kInitiator, 0, r1);
  Handshake b(self, Role::kResponder, 0, r2);
  auto r = b.on_bytes(a.take_output());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
  EXPECT_EQ(r.error().message(), "connection to self");
  EXPECT_EQ(b.refusal(), Refusal::kSelf);
}

TEST(Handshake, WeakEphemeralKeyIsRefused) {
  Hello h = vector_hello_of_initiator();
  h.ephemeral_key.fill(0);
  auto r = responder_reaction(encode_hello(h));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kProtocol);
}

TEST(Handshake, FlippedAuthByteIsRefused) {
  for (size_t i : {size_t{0}, size_t{31}, size_t{63}}) {
    Identity ii = initiator_identity(), ri = responder_identity();
    Random irnd(1), rrnd(2);
    Handshake a(ii, Role::kInitiator, 0, irnd);
    Handshake b(ri, Role::kResponder, 0, rrnd);
    feed(b, a.take_output());
    Bytes from_b = b.take_output();
    from_b[kHelloBytes + i] ^= 0x01;
    auto r = a.on_bytes(from_b);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
    EXPECT_FALSE(a.done());
  }
}

TEST(Handshake, AuthFromTheWrongRoleIsRefused) {
  // An initiator's AUTH replayed back at it (role 'I' instead of 'R') fails.
  Identity ii = initiator_identity(), ri = responder_identity();
  Random irnd(1), rrnd(2);
  Handshake a(ii, Role::kInitiator, 0, irnd);
  Handshake b(ri, Role::kResponder, 0, rrnd);
  Bytes hello_a = a.take_output();
  feed(b, hello_a);
  Bytes from_b = b.take_output();
  feed(a, ByteView(from_b.data(), kHelloBytes));
  Bytes auth_a = a.take_output();
  auto r = a.on_bytes(auth_a);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kAuthFailed);
}

}  // namespace
}  // namespace chorus::overlay
