// libFuzzer: sealed frames (overlay/src/frame_codec.cc). The first byte
// picks the target (mod 2) and the second the cipher (bit 0: AES-256-GCM
// when this CPU has it):
//   0 → FrameOpener on the rest as a received stream, fed in fuzz-sized
//       pieces the way NodeCore buffers them (length prefix first, then the
//       rest); every open must stay inside its buffer and within the limit.
//   1 → round trip: the rest split into plaintexts (u16 length + bytes),
//       sealed in order, the stream optionally changed in one byte, opened
//       again. Unchanged: every plaintext comes back, in order. Changed: the
//       opener must stop (error or waiting) before the frame that was hit
//       opens, and never return a plaintext that was not sealed.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "chorus/overlay/frame_codec.h"
#include "fuzz_util.h"

namespace {

using namespace chorus;
using namespace chorus::overlay;
using chorus::fuzz::Input;

constexpr size_t kMaxFrameBytes = 4096;

// The key of spec/vectors/overlay.json "frames", so the vector streams in
// the seed corpus open.
std::array<uint8_t, 32> vector_key() {
  std::array<uint8_t, 32> k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0x80 + i);
  return k;
}

Cipher cipher_for(uint8_t b) {
  return (b & 1) && aes_gcm_available() ? Cipher::kAes256Gcm : Cipher::kChaCha20Poly1305;
}

void fuzz_stream(Input in, Cipher cipher) {
  FrameOpener opener(vector_key(), kMaxFrameBytes, cipher);
  Bytes rx;
  while (!in.empty()) {
    const size_t n = 1 + in.u8();
    ByteView data = in.take(n);
    while (!data.empty()) {
      size_t want = kFrameLengthBytes;
      if (auto total = FrameOpener::peek_length(rx)) want = *total;
      if (want > rx.size()) {
        const size_t take = std::min(want - rx.size(), data.size());
        rx.insert(rx.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
        data = data.subspan(take);
      }
      auto r = opener.open(std::span<uint8_t>(rx));
      if (!r.ok()) return;  // the link would close
      if (!*r) continue;
      FUZZ_CHECK((*r)->consumed == rx.size());
      FUZZ_CHECK((*r)->plaintext.size() + kFrameTagBytes + kFrameLengthBytes == rx.size());
      FUZZ_CHECK((*r)->plaintext.data() == rx.data() + kFrameLengthBytes);
      rx.clear();
    }
  }
}

void fuzz_round_trip(Input in, Cipher cipher) {
  const bool corrupt = in.u8() & 1;
  const size_t corrupt_at = in.u16();
  const uint8_t corrupt_xor = in.u8();
  std::vector<Bytes> plaintexts;
  FrameSealer sealer(fuzz::filled(0x81), cipher);
  Bytes stream;
  std::vector<size_t> ends;  // where each frame ends in `stream`
  while (!in.empty() && plaintexts.size() < 64) {
    ByteView p = in.take(in.u16() % (kMaxFrameBytes - kFrameTagBytes + 1));
    plaintexts.emplace_back(p.begin(), p.end());
    sealer.seal(p, stream);
    ends.push_back(stream.size());
  }
  FUZZ_CHECK(sealer.frames_sealed() == plaintexts.size());
  if (stream.empty()) return;
  size_t hit = stream.size();
  if (corrupt && corrupt_xor != 0) {
    hit = corrupt_at % stream.size();
    stream[hit] ^= corrupt_xor;
  }

  FrameOpener opener(fuzz::filled(0x81), kMaxFrameBytes, cipher);
  size_t at = 0, frame = 0;
  for (;;) {
    auto r = opener.open(std::span<uint8_t>(stream).subspan(at));
    if (!r.ok() || !*r) break;
    FUZZ_CHECK(frame < plaintexts.size());
    FUZZ_CHECK(hit >= ends[frame]);  // the frame that was hit never opens
    FUZZ_CHECK(Bytes((*r)->plaintext.begin(), (*r)->plaintext.end()) == plaintexts[frame]);
    at += (*r)->consumed;
    FUZZ_CHECK(at == ends[frame]);
    ++frame;
  }
  if (hit == stream.size()) FUZZ_CHECK(frame == plaintexts.size() && at == stream.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ok = sodium_init() >= 0;
  FUZZ_CHECK(ok);
  if (size < 2) return 0;
  Input in(data + 2, size - 2);
  if (data[0] % 2 == 0) {
    fuzz_stream(in, cipher_for(data[1]));
  } else {
    fuzz_round_trip(in, cipher_for(data[1]));
  }
  return 0;
}
