// libFuzzer: block processing from bytes. The input is a run of typed
// blocks (a type byte, then that type's body, as bulk_pull carries them);
// each that parses goes through the block processor into a ledger holding
// the dev genesis, in one batch. Whatever the blocks are, the ledger's
// invariants hold afterwards and the unchecked set stays within its bound.
#include <cstddef>
#include <cstdint>

#include "chorus/nano/block_processor.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/memory_store.h"
#include "fuzz_util.h"

using namespace chorus::nano;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool crypto_ok = init_crypto();
  FUZZ_CHECK(crypto_ok);
  Ledger ledger(dev_network());
  auto store = make_memory_store();
  {
    auto txn = store->begin_write();
    ledger.initialize(*txn, 1'700'000'000);
    FUZZ_CHECK(txn->commit().ok());
  }
  BlockProcessorConfig config;
  config.max_unchecked = 8;
  BlockProcessor processor(ledger, *store, config);
  size_t at = 0;
  for (int n = 0; n < 16 && at < size; ++n) {
    auto type = block_type_from_byte(data[at]);
    if (!type) break;
    const size_t len = 1 + block_body_size(*type);
    if (size - at < len) break;
    auto block = parse_typed_block(chorus::ByteView(data + at, len));
    at += len;
    if (!block.ok()) continue;
    FUZZ_CHECK(processor.add(*block, BlockSource::kLive, static_cast<uint64_t>(n)).ok());
  }
  auto results = processor.run_batch(1'700'000'000);
  FUZZ_CHECK(results.ok());
  FUZZ_CHECK(processor.unchecked().size() <= 8);
  auto r = store->begin_read();
  const LedgerCheckReport report = check_ledger(*r, dev_network());
  FUZZ_CHECK(report.ok());
  return 0;
}
