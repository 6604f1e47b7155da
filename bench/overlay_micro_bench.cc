// Per-operation costs on the hot paths: sealing and opening frames, encoding
// and decoding messages, and checking a SHOUT signature (paid once per
// broadcast per node). The AEAD figures bound the transport's throughput.
#include <benchmark/benchmark.h>

#include "chorus/overlay/frame_codec.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/message.h"

namespace chorus::overlay {
namespace {

void SealFrame(benchmark::State& state) {
  std::array<uint8_t, 32> key{};
  FrameSealer sealer(key);
  Bytes plain(static_cast<size_t>(state.range(0)), 0xab), out;
  for (auto _ : state) {
    out.clear();
    sealer.seal(plain, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(SealFrame)->Arg(100)->Arg(4096)->Arg(65536);

void SealThenOpenFrame(benchmark::State& state) {
  std::array<uint8_t, 32> key{};
  FrameSealer sealer(key);
  FrameOpener opener(key, 1 << 20);
  Bytes plain(static_cast<size_t>(state.range(0)), 0xab), out;
  for (auto _ : state) {
    out.clear();
    sealer.seal(plain, out);
    auto r = opener.open(out);
    benchmark::DoNotOptimize(r.ok());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(SealThenOpenFrame)->Arg(100)->Arg(65536);

void EncodeDecodeSpeak(benchmark::State& state) {
  SpeakMsg s;
  s.app = 7;
  s.payload.assign(static_cast<size_t>(state.range(0)), 1);
  Message m{1, s};
  Bytes out;
  for (auto _ : state) {
    out.clear();
    encode_message(m, out);
    auto d = decode_message(out);
    benchmark::DoNotOptimize(d.ok());
  }
}
BENCHMARK(EncodeDecodeSpeak)->Arg(100)->Arg(65536);

void VerifyShoutSignature(benchmark::State& state) {
  Identity id = Identity::generate();
  Bytes payload(200, 3);
  Bytes signing = shout_signing_bytes(1, id.public_key(), 42, payload);
  Signature sig = id.sign(signing);
  for (auto _ : state) {
    benchmark::DoNotOptimize(verify_signature(id.public_key(), signing, sig));
  }
}
BENCHMARK(VerifyShoutSignature);

}  // namespace
}  // namespace chorus::overlay

BENCHMARK_MAIN();
