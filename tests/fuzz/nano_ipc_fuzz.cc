// libFuzzer: the IPC (spec/ipc.md) on any bytes a client may send. The
// first byte picks how the stream arrives and is answered:
//   bits 0-5  the size of each piece fed (1..64), so every split is tried
//   bit 6     a confirmation event after every piece (after a subscribe)
//   bit 7     the RPC's answers held back and given in reverse order
// the rest is the stream, fed to an IpcSession over a real RpcHandler (dev
// genesis ledger, memory store) and, alone, to a FrameReader.
//
// Properties: each write is one well-formed frame of our version with a
// readable ResponseHeader; a write that closes is the last; every frame
// the reader takes re-encodes to the very bytes it came from; nothing a
// client sends breaks the ledger's invariants.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "chorus/nano/block_processor.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/memory_store.h"
#include "chorus/nano/rpc_handler.h"
#include "fuzz_util.h"
#include "ipc_codec.h"
#include "ipc_session.h"

using namespace chorus::nano;

namespace {

constexpr uint64_t kNow = 1'700'000'000;

struct World {
  World() : ledger(dev_network()), store(make_memory_store()), processor(ledger, *store) {
    auto txn = store->begin_write();
    ledger.initialize(*txn, kNow);
    FUZZ_CHECK(txn->commit().ok());
    RpcServices s;
    s.process = [this](const Block& b, std::function<void(std::optional<BlockStatus>)> done) {
      if (!processor.add(b, BlockSource::kLocal).ok()) return done(BlockStatus::kOld);
      auto r = processor.run_batch(kNow);
      FUZZ_CHECK(r.ok());
      done(r->back().status);
    };
    // No work search in a fuzzer: every request is "cancelled".
    s.work_generate = [](const Hash32&, uint64_t, std::function<void(std::optional<uint64_t>)> d) {
      d(std::nullopt);
    };
    s.peers = [] {
      return std::vector<RpcServices::Peer>{{"127.0.0.1:7075", std::string(64, 'A'), true}};
    };
    ElectionsSnapshot snapshot;
    snapshot.online_reps = {{dev_network().genesis_account, 1}};
    s.elections = [snapshot] { return snapshot; };
    s.election = [](const BlockHash&) -> std::optional<ElectionView> { return std::nullopt; };
    RpcLimits limits;
    limits.max_body_bytes = 64 << 10;
    rpc.emplace(dev_network(), *store, s, limits);
  }
  Ledger ledger;
  std::unique_ptr<LedgerStore> store;
  BlockProcessor processor;
  std::optional<RpcHandler> rpc;
};

// Checks one write of the session and returns whether it closes.
bool check_write(const IpcSession::Write& w) {
  ipc::FrameReader r({1 << 16, size_t{64} << 20});
  r.feed(w.bytes);
  auto f = r.next();
  FUZZ_CHECK(f.ok() && f->has_value());
  FUZZ_CHECK(r.buffered() == 0);
  FUZZ_CHECK((*f)->major == ipc::kMajor && (*f)->minor == ipc::kMinor);
  ipc::ResponseHeader h;
  FUZZ_CHECK(h.ParseFromString((*f)->header));
  FUZZ_CHECK(!h.has_error() || (*f)->body.empty());
  return w.after == IpcSession::After::kClose;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool crypto_ok = init_crypto();
  FUZZ_CHECK(crypto_ok);
  static World world;
  chorus::fuzz::Input in(data, size);
  const uint8_t mode = in.u8();
  const size_t piece = 1 + (mode & 0x3f);
  const bool events = mode & 0x40;
  const bool deferred = mode & 0x80;
  const chorus::ByteView stream = in.rest();
  const std::string_view all(reinterpret_cast<const char*>(stream.data()), stream.size());

  // The reader alone: a frame is exactly the bytes it was read from.
  ipc::FrameReader reader;
  size_t at = 0;
  reader.feed(all);
  for (;;) {
    auto f = reader.next();
    if (!f.ok() || !*f) break;
    const std::string again = ipc::encode_frame((*f)->header, (*f)->body, (*f)->major, (*f)->minor);
    FUZZ_CHECK(all.substr(at, again.size()) == again);
    at += again.size();
  }

  IpcLimits limits;
  limits.max_request_bytes = 64 << 10;
  limits.max_queued_bytes = 1 << 20;
  IpcSession s(limits, true);
  BlockConfirmedEvent event;
  event.hash = dev_network().genesis_hash;
  event.account = dev_network().genesis_account;
  event.height = 1;
  std::map<uint64_t, std::string> held;
  bool closed = false;
  auto drain = [&] {
    for (int rounds = 0; rounds < 1000; ++rounds) {
      auto calls = s.take_calls();
      for (auto& c : calls) {
        world.rpc->handle_json(c.request, [&, id = c.id](std::string a) {
          if (deferred) {
            held[id] = std::move(a);
          } else {
            s.on_reply(id, a);
          }
        });
      }
      auto writes = s.take_writes();
      for (auto& w : writes) {
        FUZZ_CHECK(!closed);  // nothing after a closing write
        closed = check_write(w);
        s.on_written(w.bytes.size());
      }
      if (calls.empty() && writes.empty()) return;
    }
    FUZZ_CHECK(false);  // the session must settle
  };
  for (size_t i = 0; i < all.size() && !s.abort(); i += piece) {
    s.on_bytes(all.substr(i, piece));
    drain();
    if (events) {
      s.on_event(event);
      drain();
    }
    if (deferred) {
      for (auto it = held.rbegin(); it != held.rend(); ++it) s.on_reply(it->first, it->second);
      held.clear();
      drain();
    }
  }
  auto r = world.store->begin_read();
  FUZZ_CHECK(check_ledger(*r, dev_network()).ok());
  return 0;
}
