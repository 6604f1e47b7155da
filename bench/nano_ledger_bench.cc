// How many blocks one node validates and writes per second: signature,
// work, ledger rules and LMDB, through the block processor in batches of
// 1,024 blocks per write transaction. The baseline, in the same run, is the
// signature check alone on the same blocks: the ledger cannot beat it, and
// the ratio says how much the rest costs.
//   build/bin/nano_ledger_bench [blocks] [--sync]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "chorus/nano/block_processor.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/lmdb_store.h"
#include "chorus/nano/work.h"

using namespace chorus;
using namespace chorus::nano;
using Clock = std::chrono::steady_clock;

namespace {

Block finish(Block b, const PrivateKey& key, uint64_t threshold) {
  WorkOptions o;
  o.threads = 1;
  auto w = generate_work(block_root(b), threshold, o);
  b.work = w.ok() ? *w : 0;
  const BlockHash h = block_hash(b);
  b.signature = sign(key, ByteView(h.data(), h.size()));
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t pairs = argc > 1 ? std::strtoul(argv[1], nullptr, 10) / 2 : 10000;
  const bool sync = argc > 2 && std::strcmp(argv[2], "--sync") == 0;
  if (!init_crypto()) return 1;
  const NetworkParams& net = dev_network();
  // Genesis sends to 100 accounts in turn; each receives: half sends, half
  // receives and opens, with receivable entries coming and going.
  std::vector<Block> blocks;
  std::vector<PrivateKey> privs;
  std::vector<PublicKey> pubs;
  std::vector<BlockHash> heads(100);
  std::vector<Amount> balances(100, 0);
  for (int i = 0; i < 100; ++i) {
    Seed s{};
    s[0] = static_cast<uint8_t>(i + 1);
    privs.push_back(derive_private_key(s, 0));
    pubs.push_back(public_key(privs.back()));
  }
  const PrivateKey gk = dev_genesis_private_key();
  BlockHash head = net.genesis_hash;
  Amount balance = net.genesis_amount;
  for (size_t i = 0; i < pairs; ++i) {
    const size_t k = i % 100;
    Block send{BlockType::kState,
               net.genesis_account,
               head,
               net.genesis_account,
               --balance,
               pubs[k],
               {},
               0};
    send = finish(send, gk, net.work.epoch_1);
    head = block_hash(send);
    blocks.push_back(send);
    Block recv{BlockType::kState, pubs[k], heads[k], pubs[k], ++balances[k], head, {}, 0};
    recv = finish(recv, privs[k], net.work.epoch_1);
    heads[k] = block_hash(recv);
    blocks.push_back(recv);
  }

  // Baseline: the signature checks alone.
  auto t0 = Clock::now();
  size_t valid = 0;
  for (const Block& b : blocks) {
    const BlockHash h = block_hash(b);
    const PublicKey& signer = b.account;
    valid += verify(signer, ByteView(h.data(), h.size()), b.signature) ? 1 : 0;
  }
  const double verify_s = std::chrono::duration<double>(Clock::now() - t0).count();

  std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return 1;
  LmdbOptions o;
  o.directory = tmpl;
  o.map_size_bytes = uint64_t{8} << 30;
  o.sync = sync;
  auto store = open_lmdb_store(o);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.error().message().c_str());
    return 1;
  }
  Ledger ledger(net);
  {
    auto txn = (*store)->begin_write();
    ledger.initialize(*txn, 1);
    if (!txn->commit().ok()) return 1;
  }
  BlockProcessorConfig c;
  c.max_queue = blocks.size();
  BlockProcessor p(ledger, **store, c);
  for (const Block& b : blocks) (void)p.add(b, BlockSource::kLive);
  t0 = Clock::now();
  size_t progress = 0;
  while (p.queued() != 0) {
    auto r = p.run_batch(1);
    if (!r.ok()) return 1;
    for (const auto& x : *r) progress += x.status == BlockStatus::kProgress;
  }
  const double ledger_s = std::chrono::duration<double>(Clock::now() - t0).count();
  auto txn = (*store)->begin_read();
  const bool ok = check_ledger(*txn, net).ok();
  txn.reset();
  store->reset();
  std::filesystem::remove_all(tmpl);
  std::printf(
      "{\"blocks\":%zu,\"accepted\":%zu,\"ledger_ok\":%s,\"sync\":%s,"
      "\"verify_only_blocks_per_s\":%.0f,\"ledger_blocks_per_s\":%.0f,\"ratio\":%.3f}\n",
      blocks.size(), progress, ok ? "true" : "false", sync ? "true" : "false",
      static_cast<double>(valid) / verify_s, static_cast<double>(blocks.size()) / ledger_s,
      verify_s / ledger_s);
  return ok && progress == blocks.size() ? 0 : 1;
}
