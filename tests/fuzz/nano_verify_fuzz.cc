// libFuzzer: differential check of the NANO signature verification. The
// input is public key (32) ‖ signature (64) ‖ message; the fast variable-time
// verify() must answer exactly as verify_reference() (composed from
// libsodium). The first byte of the signature's S half is often forced
// below 2^253 so the interesting path is reached.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "chorus/nano/keys.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::nano;
  static const bool crypto_ok = init_crypto();
  if (!crypto_ok) std::abort();
  if (size < 96) return 0;
  PublicKey pk;
  Signature sig;
  std::memcpy(pk.data(), data, 32);
  std::memcpy(sig.data(), data + 32, 64);
  if (sig[0] & 1) sig[63] &= 0x1f;
  const chorus::ByteView msg(data + 96, size - 96);
  if (verify(pk, msg, sig) != verify_reference(pk, msg, sig)) std::abort();
  return 0;
}
