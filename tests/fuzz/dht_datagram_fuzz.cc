// libFuzzer: the DHT datagram envelope as a round trip (dht/src/datagram.cc;
// dht_rpc_fuzz covers open() on hostile bytes). From the input: a datagram
// size, sealed or signed, a message, the order in which its datagrams are
// delivered (with duplicates and drops) and at most one changed byte.
// Checked: sealing refuses only what the limits say; the receiver opens the
// message at most once, from the right sender and mode, with exactly the
// bytes that were sent, and opens it whenever every datagram arrived intact;
// a changed datagram never opens; reassembly state stays bounded and is
// gone after expiry.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "chorus/dht/datagram.h"
#include "fuzz_util.h"

namespace {

using namespace chorus;
using namespace chorus::dht;
using chorus::fuzz::Input;

constexpr int64_t kNowMs = 1'700'000'000'000;

const overlay::Identity& sender() {
  static const overlay::Identity id = overlay::Identity::from_seed(fuzz::filled(3));
  return id;
}
const overlay::Identity& receiver() {
  static const overlay::Identity id = overlay::Identity::from_seed(fuzz::filled(4));
  return id;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool ok = sodium_init() >= 0;
  FUZZ_CHECK(ok);
  Input in(data, size);
  DatagramLimits lim;
  // At least 180 bytes a datagram keeps a signed message under ~90
  // fragments (each one a signature), so runs stay fast.
  lim.max_datagram_bytes = 180 + in.u16() % 1300;
  lim.max_message_bytes = 4 * 1024;
  const bool sign = in.u8() & 1;
  const bool corrupt = in.u8() & 1;
  const size_t corrupt_which = in.u8(), corrupt_at = in.u16();
  const uint8_t corrupt_xor = in.u8();
  const ByteView message = in.chunk();

  overlay::Random rs(1), rr(2);
  DatagramCodec tx(sender(), lim, rs);
  DatagramCodec rx(receiver(), lim, rr);
  auto sealed = sign ? tx.sign(message, kNowMs) : tx.seal(receiver().public_key(), message, kNowMs);
  if (!sealed.ok()) {
    FUZZ_CHECK(message.size() > lim.max_message_bytes);
    return 0;
  }
  std::vector<Bytes> datagrams = std::move(*sealed);
  FUZZ_CHECK(!datagrams.empty());
  for (const Bytes& d : datagrams) FUZZ_CHECK(d.size() <= lim.max_datagram_bytes);
  size_t changed = datagrams.size();
  if (corrupt && corrupt_xor != 0) {
    changed = corrupt_which % datagrams.size();
    datagrams[changed][corrupt_at % datagrams[changed].size()] ^= corrupt_xor;
  }

  // Deliver in the order the input names (index mod count), then the rest.
  std::vector<bool> delivered(datagrams.size(), false);
  std::vector<size_t> order;
  while (!in.empty() && order.size() < 4 * datagrams.size() + 8) {
    order.push_back(in.u16() % datagrams.size());
  }
  for (size_t i = 0; i < datagrams.size(); ++i) order.push_back(i);
  int opened = 0;
  size_t fresh_intact = 0;
  for (size_t i : order) {
    auto r = rx.open(datagrams[i], kNowMs);
    FUZZ_CHECK(rx.stats().reassembly_bytes <= lim.max_reassembly_bytes);
    if (i == changed) {
      // A changed datagram fails to authenticate, or its changed clock
      // makes it stale; it never opens.
      FUZZ_CHECK(!r.ok() || !r->has_value());
      if (!r.ok()) continue;
    }
    if (!delivered[i] && i != changed) ++fresh_intact;
    delivered[i] = true;
    if (!r.ok()) {
      FUZZ_CHECK(i == changed);
      continue;
    }
    if (!r->has_value()) continue;
    ++opened;
    FUZZ_CHECK(opened == 1);
    FUZZ_CHECK((*r)->sender == sender().public_key() && (*r)->was_signed == sign);
    FUZZ_CHECK((*r)->message == Bytes(message.begin(), message.end()));
    FUZZ_CHECK(fresh_intact == datagrams.size());
  }
  FUZZ_CHECK((opened == 1) == (changed == datagrams.size()));
  rx.expire(kNowMs + lim.reassembly_timeout_ms + lim.replay_window_ms + 1);
  FUZZ_CHECK(rx.stats().reassembly_bytes == 0 && rx.stats().partial_messages == 0);
  return 0;
}
