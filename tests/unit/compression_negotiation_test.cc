// Per-connection compression negotiated with SET_CONNECTION_OPT
// (spec/compression.md): which codec each direction uses for peers with
// different sets, and what happens to peers that refuse or lie.
#include <gtest/gtest.h>

#include "chorus/compression/codec.h"
#include "core_net.h"

namespace chorus::overlay {
namespace {

using compression::Method;

constexpr std::initializer_list<Method> kAll = {Method::kBz2, Method::kGzip, Method::kLzma,
                                                Method::kZlib, Method::kSnappy};

OverlayConfig with_codecs(std::vector<Method> methods, std::optional<Method> preferred = {}) {
  OverlayConfig c = test_config(0);
  c.compression = std::move(methods);
  c.preferred_compression = preferred;
  return c;
}

// 8 KiB of text-like bytes: compresses well with every codec.
Bytes compressible() {
  Bytes b;
  while (b.size() < 8192) {
    std::string line =
        "{\"account\":\"nano_3t6k35gi95xu6tergt6p69ck76ogmitsa8mnijtpxm9fkcm736xtoncuohr3\"}\n";
    b.insert(b.end(), line.begin(), line.end());
  }
  return b;
}

// Links two nodes with the given configs and whispers a compressible
// payload each way; returns the net for inspection.
void link_and_talk(Net& net, OverlayConfig a, OverlayConfig b) {
  net.add(a);
  net.add(b);
  net.core(0).register_app(kApp);
  net.core(1).register_app(kApp);
  net.dial(0, 1);
  net.run(100 * kMs);
  ASSERT_TRUE(net.linked(0, 1));
  const Bytes payload = compressible();
  ASSERT_TRUE(net.core(0).whisper(kApp, net.key(1), payload, false, net.now_us).ok());
  ASSERT_TRUE(net.core(1).whisper(kApp, net.key(0), payload, false, net.now_us).ok());
  net.run(100 * kMs);
  for (size_t i = 0; i < 2; ++i) {
    auto got = events_of<WhisperEvent>(net.events(i));
    ASSERT_EQ(got.size(), 1u) << "node " << i;
    EXPECT_EQ(got[0].payload, payload) << "node " << i;
  }
}

TEST(CompressionNegotiation, BothOfferingAllUseTheSendersFirstChoice) {
  Net net;
  link_and_talk(net, with_codecs({Method::kZlib, Method::kSnappy}),
                with_codecs({Method::kSnappy, Method::kZlib}));
  EXPECT_EQ(net.core(0).link_codec(net.key(1)), Method::kZlib);
  EXPECT_EQ(net.core(1).link_codec(net.key(0)), Method::kSnappy);
  EXPECT_GT(net.core(0).stats().frames_compressed, 0u);
  EXPECT_GT(net.core(1).stats().frames_compressed, 0u);
  EXPECT_LT(net.core(0).stats().bytes_after_compression,
            net.core(0).stats().bytes_before_compression / 4);
}

TEST(CompressionNegotiation, EveryCodecCarriesTrafficBothWays) {
  for (Method m : kAll) {
    Net net;
    link_and_talk(net, with_codecs({m}), with_codecs(kAll));
    EXPECT_EQ(net.core(0).link_codec(net.key(1)), m) << compression::method_name(m);
    EXPECT_EQ(net.core(1).link_codec(net.key(0)), m) << compression::method_name(m);
    EXPECT_GT(net.core(1).stats().frames_compressed, 0u) << compression::method_name(m);
  }
}

TEST(CompressionNegotiation, OnlyZlibOnOneSideMeansZlibBothWays) {
  Net net;
  link_and_talk(net, with_codecs(kAll), with_codecs({Method::kZlib}));
  EXPECT_EQ(net.core(0).link_codec(net.key(1)), Method::kZlib);
  EXPECT_EQ(net.core(1).link_codec(net.key(0)), Method::kZlib);
}

TEST(CompressionNegotiation, NoneOnOneSideMeansPlainFramesBothWays) {
  Net net;
  link_and_talk(net, with_codecs(kAll), with_codecs({}));
  EXPECT_EQ(net.core(0).link_codec(net.key(1)), std::nullopt);
  EXPECT_EQ(net.core(1).link_codec(net.key(0)), std::nullopt);
  EXPECT_EQ(net.core(0).stats().frames_compressed, 0u);
  EXPECT_EQ(net.core(1).stats().frames_compressed, 0u);
}

TEST(CompressionNegotiation, ReceiversPreferenceWinsWhenBothAckedIt) {
  Net net;
  // Node 1 wants to receive lzma; node 0 lists it last but offers it.
  link_and_talk(net, with_codecs({Method::kSnappy, Method::kLzma}),
                with_codecs({Method::kSnappy, Method::kLzma}, Method::kLzma));
  EXPECT_EQ(net.core(0).link_codec(net.key(1)), Method::kLzma);
  EXPECT_EQ(net.core(1).link_codec(net.key(0)), Method::kSnappy);  // 0 has no preference
}

TEST(CompressionNegotiation, PreferenceTheSenderDoesNotOfferIsIgnored) {
  Net net;
  link_and_talk(net, with_codecs({Method::kZlib}),
                with_codecs({Method::kZlib, Method::kBz2}, Method::kBz2));
  EXPECT_EQ(net.core(0).link_codec(net.key(1)), Method::kZlib);
}

TEST(CompressionNegotiation, SmallFramesGoUncompressed) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  ASSERT_EQ(net.core(0).link_codec(net.key(1)), Method::kSnappy);  // the default
  const uint64_t before = net.core(0).stats().frames_compressed;
  ASSERT_TRUE(net.core(0).whisper(kApp, net.key(1), Bytes(100, 'a'), false, net.now_us).ok());
  net.run(10 * kMs);
  EXPECT_EQ(events_of<WhisperEvent>(net.events(1)).size(), 1u);
  EXPECT_EQ(net.core(0).stats().frames_compressed, before);
}

TEST(CompressionNegotiation, IncompressibleFramesGoUncompressedAndBackOff) {
  Net net;
  link_pair(net);
  net.core(1).register_app(kApp);
  Random rnd(3);
  for (int i = 0; i < 50; ++i) {
    Bytes noise(4096);
    rnd.fill(noise.data(), noise.size());
    ASSERT_TRUE(net.core(0).whisper(kApp, net.key(1), noise, false, net.now_us).ok());
    net.run(1 * kMs);
  }
  EXPECT_EQ(events_of<WhisperEvent>(net.events(1)).size(), 50u);
  EXPECT_EQ(net.core(0).stats().frames_compressed, 0u);
  // Compressible traffic later is compressed again once the back-off ends.
  for (int i = 0; i < 80; ++i) {
    ASSERT_TRUE(net.core(0).whisper(kApp, net.key(1), compressible(), false, net.now_us).ok());
    net.run(1 * kMs);
  }
  EXPECT_GT(net.core(0).stats().frames_compressed, 0u);
}

// ---------------------------------------------------------------------------
// Peers that refuse or lie, driven by hand.

TEST(CompressionNegotiation, PeerThatNacksEverythingGetsPlainFrames) {
  NodeCore core(identity_of(1), with_codecs(kAll), 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  auto offers = raw.received_of<SetConnectionOptMsg>();
  std::erase_if(offers, [](const auto& o) { return o.second.option > 1; });  // streams (option 4)
  ASSERT_EQ(offers.size(), kAll.size());  // one offer per enabled codec
  for (const auto& [id, o] : offers) {
    raw.send(Message{id, NackMsg{static_cast<uint8_t>(Opcode::kSetConnectionOpt),
                                 NackCode::kUnsupportedOption, "no", Bytes{o.option, o.setting}}});
  }
  EXPECT_EQ(core.link_codec(raw.key()), std::nullopt);
  // RawPeer asserts that every frame it gets is marked uncompressed.
  ASSERT_TRUE(core.whisper(kApp, raw.key(), compressible(), false, 1'000'000).ok());
  raw.send(Message{1, PingMsg{}});
  EXPECT_FALSE(raw.received_of<WhisperMsg>().empty());
  EXPECT_TRUE(core.is_connected(raw.key()));
}

// Frame plaintext marked with `setting` and holding `records` compressed by it.
Bytes compressed_frame(Method m, const Bytes& records) {
  auto packed = compression::codec_for(m).compress(records);
  EXPECT_TRUE(packed.ok());
  Bytes plain{static_cast<uint8_t>(1 + compression::setting_of(m))};
  plain.insert(plain.end(), packed->begin(), packed->end());
  return plain;
}

Bytes record_of(const Message& m) {
  Bytes rec = encode_message(m);
  const uint32_t n = static_cast<uint32_t>(rec.size());
  Bytes out{static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
            static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
  out.insert(out.end(), rec.begin(), rec.end());
  return out;
}

TEST(CompressionNegotiation, FrameWithACodecThePeerNeverOfferedClosesTheLink) {
  NodeCore core(identity_of(1), with_codecs(kAll), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  raw.send_plaintext(compressed_frame(Method::kZlib, record_of(Message{1, PingMsg{}})));
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_NE(raw.closed_reason()->find("not negotiated"), std::string::npos) << *raw.closed_reason();
  EXPECT_FALSE(core.is_connected(raw.key()));
}

TEST(CompressionNegotiation, FrameWithAnotherCodecThanTheOneOfferedClosesTheLink) {
  NodeCore core(identity_of(1), with_codecs(kAll), 1'000'000);
  core.register_app(kApp);
  RawPeer raw(core, identity_of(2));
  raw.send(Message{40, SetConnectionOptMsg{0, compression::setting_of(Method::kZlib)}});
  auto acks = raw.received_of<AckMsg>();
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_EQ(acks[0].second.data, (Bytes{0, compression::setting_of(Method::kZlib)}));
  // zlib was agreed: a zlib frame is read...
  WhisperMsg w{kApp, 0, 0, compressible()};
  raw.send_plaintext(compressed_frame(Method::kZlib, record_of(Message{41, w})));
  EXPECT_FALSE(raw.closed_reason().has_value());
  EXPECT_EQ(events_of<WhisperEvent>(raw.events()).size(), 1u);
  // ...but it never offered snappy: a snappy frame is a lie.
  raw.send_plaintext(compressed_frame(Method::kSnappy, record_of(Message{42, w})));
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_NE(raw.closed_reason()->find("not negotiated"), std::string::npos);
}

TEST(CompressionNegotiation, DecompressionBombClosesTheLinkWithinTheLimit) {
  OverlayConfig c = with_codecs(kAll);
  c.max_decompressed_bytes = 256 << 10;
  NodeCore core(identity_of(1), c, 1'000'000);
  RawPeer raw(core, identity_of(2));
  raw.send(Message{40, SetConnectionOptMsg{0, compression::setting_of(Method::kGzip)}});
  // 16 MiB of zeros in one frame: valid records would be far over the limit.
  raw.send_plaintext(compressed_frame(Method::kGzip, Bytes(16 << 20, 0)));
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_NE(raw.closed_reason()->find("did not decompress"), std::string::npos)
      << *raw.closed_reason();
}

TEST(CompressionNegotiation, CorruptCompressedFrameClosesTheLink) {
  NodeCore core(identity_of(1), with_codecs(kAll), 1'000'000);
  RawPeer raw(core, identity_of(2));
  raw.send(Message{40, SetConnectionOptMsg{0, compression::setting_of(Method::kZlib)}});
  Bytes frame = compressed_frame(Method::kZlib, record_of(Message{1, PingMsg{}}));
  ASSERT_GT(frame.size(), 3u);
  frame.erase(frame.end() - 3, frame.end());  // truncated stream (resize trips GCC 12's
                                              // stringop-overflow under ASan)
  raw.send_plaintext(frame);
  ASSERT_TRUE(raw.closed_reason().has_value());
  EXPECT_NE(raw.closed_reason()->find("did not decompress"), std::string::npos);
}

// ---------------------------------------------------------------------------
// spec/vectors/compression.json

TEST(CompressionNegotiation, OffersAndAnswersMatchTheVectors) {
  const auto& v = testing::compression_vectors();
  OverlayConfig c = with_codecs({Method::kSnappy, Method::kZlib}, Method::kZlib);
  NodeCore core(identity_of(1), c, 1'000'000);
  RawPeer raw(core, identity_of(2));
  auto offers = raw.received_of<SetConnectionOptMsg>();
  std::erase_if(offers, [](const auto& o) { return o.second.option > 1; });  // streams (option 4)
  ASSERT_EQ(offers.size(), 3u);  // snappy, zlib, then the preference
  EXPECT_EQ(hex(encode_message(Message{offers[0].first, offers[0].second})),
            v["offer_snappy"]["message"].get<std::string>());
  EXPECT_EQ(hex(encode_message(Message{offers[2].first, offers[2].second})),
            v["prefer_zlib"]["message"].get<std::string>());
  // The vector offer is ACKed with the vector answer; lzma is NACKed as disabled.
  raw.send_record(hex_bytes(v["offer_snappy"]["message"]));
  raw.send(Message{2, SetConnectionOptMsg{0, compression::setting_of(Method::kLzma)}});
  std::vector<std::string> answers;
  for (const auto& m : raw.received())
    if (m.id <= 2 &&
        (std::holds_alternative<AckMsg>(m.body) || std::holds_alternative<NackMsg>(m.body)))
      answers.push_back(hex(encode_message(m)));
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(answers[0], v["ack_offer"]["message"].get<std::string>());
  EXPECT_EQ(answers[1], v["nack_disabled"]["message"].get<std::string>());
}

TEST(CompressionNegotiation, ZlibFrameFromAnotherImplementationIsRead) {
  const auto& v = testing::compression_vectors()["zlib_frame"];
  NodeCore core(identity_of(1), with_codecs({Method::kZlib}), 1'000'000);
  core.register_app(v["whisper_app"].get<AppId>());
  RawPeer raw(core, identity_of(2));
  raw.send(Message{40, SetConnectionOptMsg{0, compression::setting_of(Method::kZlib)}});
  raw.send_plaintext(hex_bytes(v["plaintext"]));
  ASSERT_FALSE(raw.closed_reason().has_value()) << *raw.closed_reason();
  auto got = events_of<WhisperEvent>(raw.events());
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, hex_bytes(v["whisper_payload"]));
  EXPECT_EQ(got[0].request_id, v["whisper_id"].get<uint32_t>());
  // And our own zlib codec reads the same body back to the vector records.
  Bytes plain = hex_bytes(v["plaintext"]);
  auto records =
      compression::codec_for(Method::kZlib).decompress(ByteView(plain).subspan(1), 1 << 20);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ(*records, hex_bytes(v["records"]));
}

TEST(CompressionNegotiation, ConfigRefusesAPreferenceThatIsNotEnabled) {
  OverlayConfig c = with_codecs({Method::kZlib}, Method::kSnappy);
  EXPECT_FALSE(c.validate().ok());
  c = with_codecs({Method::kZlib, Method::kZlib});
  EXPECT_FALSE(c.validate().ok());
}

}  // namespace
}  // namespace chorus::overlay
