// libFuzzer: NANO parsers on arbitrary bytes. The first byte picks the
// parser (mod 4): 0 → binary block (type byte + body), 1 → RPC JSON block
// text, 2 → a whole protocol message, 3 → a representative's DHT record
// (account 32 | owner 32 | seq 8 big-endian | data). Parsing must return a
// value or an error, never crash; what parses must survive a round trip
// unchanged.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "chorus/nano/block.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/message.h"
#include "chorus/nano/network.h"
#include "chorus/nano/rep_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace chorus::nano;
  static const bool crypto_ok = init_crypto();
  if (!crypto_ok) std::abort();
  if (size == 0) return 0;
  const chorus::ByteView rest(data + 1, size - 1);
  if (data[0] % 4 == 3) {
    if (rest.size() < 72) return 0;
    PublicKey account{}, owner{};
    std::copy_n(rest.begin(), 32, account.begin());
    std::copy_n(rest.begin() + 32, 32, owner.begin());
    uint64_t seq = 0;
    for (size_t i = 64; i < 72; ++i) seq = seq << 8 | rest[i];
    const chorus::ByteView record = rest.subspan(72);
    auto r = parse_rep_record(record, dev_network(), account, owner, seq);
    if (!r.ok()) return 0;
    if (r->account != account || r->node != owner || r->seq != seq) std::abort();
    if (encode_rep_record(*r) != chorus::Bytes(record.begin(), record.end())) std::abort();
    return 0;
  }
  if (data[0] % 4 == 2) {
    auto m = parse_message(rest);
    if (!m.ok()) return 0;
    auto bytes = serialize_message(*m);
    if (!bytes.ok()) std::abort();
    auto again = parse_message(*bytes);
    if (!again.ok() || !(again->payload == m->payload)) std::abort();
    return 0;
  }
  if (data[0] % 4 == 0) {
    auto b = parse_typed_block(rest);
    if (!b.ok()) return 0;
    if (serialize_typed_block(*b) != chorus::Bytes(rest.begin(), rest.end())) std::abort();
    auto j = block_from_json(block_to_json(*b));
    if (!j.ok() || !(j->block == *b)) std::abort();
    (void)block_hash(*b);
    return 0;
  }
  const std::string_view text(reinterpret_cast<const char*>(rest.data()), rest.size());
  auto j = parse_json_text(text);
  if (!j.ok()) return 0;
  auto b = block_from_json(*j);
  if (!b.ok()) return 0;
  auto again = block_from_json(block_to_json(b->block));
  if (!again.ok() || !(again->block == b->block)) std::abort();
  auto bin = parse_typed_block(serialize_typed_block(b->block));
  if (!bin.ok() || !(*bin == b->block)) std::abort();
  if (b->has_signature) (void)verify(b->block.account, block_hash(b->block), b->block.signature);
  return 0;
}
