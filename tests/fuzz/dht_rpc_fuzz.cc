// libFuzzer: the DHT message decoder and the datagram envelope on arbitrary
// bytes. The first byte picks the target (mod 3):
//   0 → decode_message under every `answering`; what decodes must re-encode
//       to exactly the input (the encoding is canonical) and decode again.
//   1 → DatagramCodec::open on the rest as one datagram.
//   2 → the rest as fragments (u16 length + fragment bytes each), wrapped in
//       valid signed or sealed datagrams from a fixed peer, so reassembly is
//       reached; its byte bound must hold after every datagram.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "chorus/dht/datagram.h"
#include "chorus/dht/rpc.h"

namespace {

using namespace chorus;
using namespace chorus::dht;

constexpr int64_t kNow = 1'000'000;

std::array<uint8_t, 32> seed(uint8_t b) {
  std::array<uint8_t, 32> s{};
  s.fill(b);
  return s;
}

const overlay::Identity& peer() {
  static const overlay::Identity id = overlay::Identity::from_seed(seed(1));
  return id;
}
const overlay::Identity& self() {
  static const overlay::Identity id = overlay::Identity::from_seed(seed(2));
  return id;
}
const std::array<uint8_t, 32>& shared() {
  static const std::array<uint8_t, 32> key = [] {
    std::array<uint8_t, 32> x_self{}, k{};
    if (crypto_sign_ed25519_pk_to_curve25519(x_self.data(), self().public_key().data()) != 0) {
      std::abort();
    }
    auto secret = peer().x25519_secret();
    if (crypto_box_beforenm(k.data(), x_self.data(), secret.data()) != 0) std::abort();
    return k;
  }();
  return key;
}

void fuzz_decode(ByteView in) {
  const std::optional<Op> answers[] = {std::nullopt,  Op::kAck,       Op::kNack,  Op::kPing,
                                       Op::kFindNode, Op::kFindValue, Op::kStore, Op::kNotify};
  for (auto answering : answers) {
    auto m = decode_message(in, answering);
    if (!m.ok()) continue;
    Bytes again = encode_message(*m);
    if (again != Bytes(in.begin(), in.end())) std::abort();
    auto m2 = decode_message(again, answering);
    if (!m2.ok() || encode_message(*m2) != again) std::abort();
    auto head = peek_head(in);
    if (!head.ok() || head->txid != m->txid || head->op != op_of(m->body)) std::abort();
  }
}

DatagramLimits small_limits() {
  DatagramLimits lim;
  lim.max_datagram_bytes = 300;
  lim.max_message_bytes = 8 * 1024;
  lim.max_reassembly_bytes = 16 * 1024;
  lim.max_seen_nonces = 64;
  return lim;
}

void fuzz_open(ByteView in) {
  overlay::Random random(1);
  DatagramCodec codec(self(), small_limits(), random);
  auto r = codec.open(in, kNow);
  if (r.ok() && r->has_value() && (*r)->message.size() > small_limits().max_message_bytes) {
    std::abort();
  }
}

void fuzz_fragments(ByteView in) {
  overlay::Random random(1);
  const DatagramLimits lim = small_limits();
  DatagramCodec codec(self(), lim, random);
  uint64_t counter = 0;
  int64_t now = kNow;
  size_t at = 0;
  while (at + 2 <= in.size()) {
    const uint16_t word = static_cast<uint16_t>(in[at] << 8 | in[at + 1]);
    at += 2;
    const bool sealed = word & 0x8000;
    const size_t len = std::min<size_t>(word & 0x7fff, in.size() - at);
    ByteView fragment = in.subspan(at, len);
    at += len;

    Bytes d(60);
    d[0] = 'C';
    d[1] = 'D';
    d[2] = 1;
    d[3] = sealed ? 0 : 1;
    std::memcpy(d.data() + 4, peer().public_key().data(), 32);
    for (int i = 0; i < 8; ++i)
      d[36 + i] = static_cast<uint8_t>(static_cast<uint64_t>(now) >> (56 - 8 * i));
    ++counter;
    std::memcpy(d.data() + 44, &counter, sizeof counter);
    if (sealed) {
      d.resize(60 + crypto_box_MACBYTES + fragment.size());
      crypto_box_easy_afternm(d.data() + 60, fragment.data(), fragment.size(), d.data() + 36,
                              shared().data());
    } else {
      d.insert(d.end(), fragment.begin(), fragment.end());
      auto sig = peer().sign(d);
      d.insert(d.end(), sig.begin(), sig.end());
    }
    auto r = codec.open(d, now);
    if (r.ok() && r->has_value() && (*r)->message.size() > lim.max_message_bytes) std::abort();
    if (codec.stats().reassembly_bytes > lim.max_reassembly_bytes) std::abort();
    if (counter % 7 == 0) {
      now += 1000;
      codec.expire(now);
    }
  }
  codec.expire(now + lim.reassembly_timeout_ms + lim.replay_window_ms + 1);
  if (codec.stats().reassembly_bytes != 0 || codec.stats().partial_messages != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();
  if (size == 0) return 0;
  const ByteView rest(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_decode(rest);
      break;
    case 1:
      fuzz_open(rest);
      break;
    default:
      fuzz_fragments(rest);
      break;
  }
  return 0;
}
