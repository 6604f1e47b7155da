// libFuzzer: the RPC core on any request text, over a ledger holding the
// dev genesis and a block processor. Every request gets exactly one reply,
// and that reply is a JSON object (an answer or {"error": ...}); nothing a
// request says may break the ledger's invariants. The election services
// answer a fixed election.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "chorus/nano/block_processor.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/memory_store.h"
#include "chorus/nano/rpc_handler.h"
#include "fuzz_util.h"

using namespace chorus::nano;

namespace {

struct World {
  World() : ledger(dev_network()), store(make_memory_store()), processor(ledger, *store) {
    auto txn = store->begin_write();
    ledger.initialize(*txn, 1'700'000'000);
    FUZZ_CHECK(txn->commit().ok());
    RpcServices s;
    s.process = [this](const Block& b, std::function<void(std::optional<BlockStatus>)> done) {
      if (!processor.add(b, BlockSource::kLocal).ok()) return done(BlockStatus::kOld);
      auto r = processor.run_batch(1'700'000'000);
      FUZZ_CHECK(r.ok());
      done(r->back().status);
    };
    // No work search in a fuzzer: every request is "cancelled".
    s.work_generate = [](const Hash32&, uint64_t, std::function<void(std::optional<uint64_t>)> d) {
      d(std::nullopt);
    };
    // Elections that hold one running election, of the genesis (so that
    // confirmation_info and friends reach their answers, not only errors).
    const NetworkParams& net = dev_network();
    ElectionView view;
    std::copy(net.genesis_account.begin(), net.genesis_account.end(), view.root.begin());
    view.winner = net.genesis_hash;
    view.blocks = {{net.genesis_hash, 1, 1}};
    view.votes[net.genesis_account] = Election::LastVote{1, net.genesis_hash, 0};
    ElectionsSnapshot snapshot;
    snapshot.online_reps = {{net.genesis_account, 1}};
    snapshot.active = {view.root};
    snapshot.history = {{net.genesis_hash, ElectionInfo{}}};
    s.elections = [snapshot] { return snapshot; };
    s.election = [view, net_ = &net](const BlockHash& key) -> std::optional<ElectionView> {
      if (key == net_->genesis_hash || key == net_->genesis_account) return view;
      return std::nullopt;
    };
    s.block_confirm = [](const BlockHash&) { return false; };
    RpcLimits limits;
    limits.max_body_bytes = 64 << 10;
    rpc.emplace(dev_network(), *store, s, limits);
  }
  Ledger ledger;
  std::unique_ptr<LedgerStore> store;
  BlockProcessor processor;
  std::optional<RpcHandler> rpc;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool crypto_ok = init_crypto();
  FUZZ_CHECK(crypto_ok);
  static World world;
  const std::string body(reinterpret_cast<const char*>(data), size);
  int replies = 0;
  world.rpc->handle(body, [&](std::string reply) {
    ++replies;
    auto parsed = nlohmann::json::parse(reply, nullptr, false);
    FUZZ_CHECK(!parsed.is_discarded() && parsed.is_object());
  });
  FUZZ_CHECK(replies == 1);
  auto r = world.store->begin_read();
  FUZZ_CHECK(check_ledger(*r, dev_network()).ok());
  return 0;
}
