// libFuzzer: the bootstrap protocol's requests and frontier pages (the
// first byte picks which). What parses serializes back to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "chorus/nano/bootstrap_wire.h"
#include "fuzz_util.h"

using namespace chorus;
using namespace chorus::nano;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const ByteView rest(data + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto r = parse_bootstrap_request(rest);
    if (r.ok()) {
      const Bytes back = serialize_bootstrap_request(*r);
      FUZZ_CHECK(back.size() == rest.size() && std::equal(back.begin(), back.end(), rest.begin()));
    }
  } else {
    auto page = parse_frontiers(rest);
    if (page.ok()) {
      FUZZ_CHECK(!page->empty() && page->size() <= kFrontiersPerPage);
      const Bytes back = serialize_frontiers(*page);
      FUZZ_CHECK(back.size() == rest.size() && std::equal(back.begin(), back.end(), rest.begin()));
    }
  }
  return 0;
}
