// libFuzzer: the link handshake (overlay/src/handshake.cc). The first byte
// picks the target (mod 3):
//   0 → decode_hello on the rest; what decodes re-encodes to the input.
//   1 → a responder Handshake fed the rest as a stranger's bytes, in chunks
//       whose sizes come from the input (u8 size, then that many bytes). It
//       must fail or wait, never finish: no input can sign the transcript
//       of a responder whose ephemeral key it has not seen.
//   2 → two real Handshakes (initiator = fuzzer, responder = under test)
//       with flags, ports and version from the input; the initiator's bytes
//       reach the responder in fuzz-sized chunks, with at most one byte
//       XORed. The responder finishes iff nothing was changed, and then both
//       sides agree on session keys, cipher and each other's HELLO.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "chorus/overlay/handshake.h"
#include "fuzz_util.h"

namespace {

using namespace chorus;
using namespace chorus::overlay;
using chorus::fuzz::Input;

const Identity& alice() {
  static const Identity id = Identity::from_seed(fuzz::filled(1));
  return id;
}
const Identity& bob() {
  static const Identity id = Identity::from_seed(fuzz::filled(2));
  return id;
}

void fuzz_decode(ByteView in) {
  auto h = decode_hello(in);
  if (!h.ok()) return;
  FUZZ_CHECK(encode_hello(*h) == Bytes(in.begin(), in.end()));
}

// Feeds `bytes` to `hs` in chunks sized by `sizes`; false once it errs.
bool feed(Handshake& hs, ByteView bytes, Input& sizes) {
  size_t at = 0;
  while (at < bytes.size()) {
    size_t n = std::min<size_t>(1 + sizes.u8() % 80, bytes.size() - at);
    auto used = hs.on_bytes(bytes.subspan(at, n));
    if (!used.ok()) return false;
    FUZZ_CHECK(*used <= n);
    if (hs.done()) return true;
    FUZZ_CHECK(*used == n);  // before done, every byte is handshake
    at += n;
  }
  return true;
}

void fuzz_stranger(Input in) {
  Random random(7);
  Handshake hs(bob(), Role::kResponder, 7001, random);
  FUZZ_CHECK(hs.take_output().size() == kHelloBytes);
  while (!in.empty()) {
    const size_t n = 1 + in.u8() % 96;
    auto used = hs.on_bytes(in.take(n));
    if (!used.ok()) return;
    FUZZ_CHECK(!hs.done());
  }
}

void fuzz_pair(Input in) {
  const uint8_t flags_i = in.u8(), flags_r = in.u8();
  const uint16_t port_i = in.u16();
  const uint64_t seed = in.u8();
  const bool corrupt = in.u8() & 1;
  const size_t corrupt_at = in.u16();
  const uint8_t corrupt_xor = in.u8();

  Random ri(seed), rr(seed + 1000);
  Handshake init(alice(), Role::kInitiator, port_i, ri, flags_i);
  Handshake resp(bob(), Role::kResponder, 7001, rr, flags_r);
  Bytes to_resp = init.take_output();
  Bytes to_init = resp.take_output();
  auto used = init.on_bytes(to_init);
  FUZZ_CHECK(used.ok() && *used == to_init.size() && !init.done());
  Bytes auth = init.take_output();
  FUZZ_CHECK(auth.size() == kAuthBytes);
  to_resp.insert(to_resp.end(), auth.begin(), auth.end());

  const bool changed = corrupt && corrupt_xor != 0;
  if (changed) to_resp[corrupt_at % to_resp.size()] ^= corrupt_xor;
  const bool fed = feed(resp, to_resp, in);
  FUZZ_CHECK(resp.done() == !changed);
  if (!resp.done()) {
    FUZZ_CHECK(!fed);  // the whole handshake arrived: a change is an error, not a wait
    return;
  }
  Bytes resp_auth = resp.take_output();
  FUZZ_CHECK(resp_auth.size() == kAuthBytes);
  used = init.on_bytes(resp_auth);
  FUZZ_CHECK(used.ok() && init.done());
  FUZZ_CHECK(init.keys().tx == resp.keys().rx && init.keys().rx == resp.keys().tx);
  FUZZ_CHECK(init.cipher() == resp.cipher());
  FUZZ_CHECK(resp.peer_hello().static_key == alice().public_key());
  FUZZ_CHECK(resp.peer_hello().listen_port == port_i && resp.peer_hello().flags == flags_i);
  FUZZ_CHECK(init.peer_hello().static_key == bob().public_key());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ok = sodium_init() >= 0;
  FUZZ_CHECK(ok);
  if (size == 0) return 0;
  Input in(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      fuzz_decode(in.rest());
      break;
    case 1:
      fuzz_stranger(in);
      break;
    default:
      fuzz_pair(in);
      break;
  }
  return 0;
}
