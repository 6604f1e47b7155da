// libFuzzer: the overlay message decoder (overlay/src/message.cc) on
// arbitrary bytes. Decoding is total; every known opcode's encoding is
// canonical, so what decodes must re-encode to exactly the input. An unknown
// opcode keeps only its header, and that must decode to the same again.
#include <cstddef>
#include <cstdint>

#include "chorus/overlay/message.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus;
  using namespace chorus::overlay;
  const ByteView in(data, size);
  auto m = decode_message(in);
  if (!m.ok()) {
    FUZZ_CHECK(m.error().code() == ErrorCode::kMalformed);
    return 0;
  }
  const Bytes again = encode_message(*m);
  FUZZ_CHECK(opcode_of(*m) == data[0]);
  if (std::holds_alternative<UnknownMsg>(m->body)) {
    FUZZ_CHECK(data[0] > static_cast<uint8_t>(Opcode::kWhisper));
    FUZZ_CHECK(again.size() == 5 && std::equal(again.begin(), again.end(), in.begin()));
  } else {
    FUZZ_CHECK(again == Bytes(in.begin(), in.end()));
  }
  auto m2 = decode_message(again);
  FUZZ_CHECK(m2.ok() && m2->id == m->id && encode_message(*m2) == again);
  return 0;
}
