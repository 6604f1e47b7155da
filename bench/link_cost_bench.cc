// CPU cost of moving messages over one link, both ends in this process: two
// NodeCores joined in memory (no sockets, no kernel), so the figure is the
// overlay's own work per message — sealing, opening, framing and, when
// negotiated, compression. Compression off vs each codec on incompressible
// (random) and compressible payloads; the ratio of these figures is what
// compression costs a link that cannot shrink its traffic.
#include <benchmark/benchmark.h>

#include <deque>

#include "chorus/overlay/node_core.h"

namespace chorus::overlay {
namespace {

constexpr AppId kApp = 9;

// Two cores, 0 dialling 1, every action delivered at once, in order.
class Pair {
 public:
  explicit Pair(std::vector<compression::Method> codecs) {
    for (int i = 0; i < 2; ++i) {
      OverlayConfig c;
      c.seed = 10 + static_cast<uint64_t>(i);
      c.rotate_interval_ms = 0;
      c.compression = codecs;
      c.listen_port = static_cast<uint16_t>(7000 + i);
      std::array<uint8_t, 32> seed{};
      seed.fill(static_cast<uint8_t>(i + 1));
      cores_[i] = std::make_unique<NodeCore>(Identity::from_seed(seed), c, now_);
      cores_[i]->register_app(kApp);
    }
    cores_[0]->add_peer_address({"127.0.0.1", 7001}, std::nullopt);
    cores_[0]->on_timer(now_);
    settle();
  }

  bool linked() const { return cores_[0]->is_connected(cores_[1]->identity().public_key()); }
  NodeCore& core(int i) { return *cores_[i]; }

  // Moves everything until both cores are quiet; returns deliveries at core 1.
  size_t settle() {
    size_t delivered = 0;
    for (int round = 0; round < 10000; ++round) {
      bool any = false;
      for (int i = 0; i < 2; ++i) {
        NodeCore& c = *cores_[i];
        c.flush(now_);
        Action a;
        while (c.poll_action(a)) {
          any = true;
          if (auto* conn = std::get_if<ConnectAction>(&a)) {
            link_[0] = conn->link;
            link_[1] = cores_[1]->on_accepted({"127.0.0.1", 50000}, now_);
            c.on_connected(conn->link, now_);
          } else if (auto* s = std::get_if<SendAction>(&a)) {
            c.on_sent(s->link, s->bytes.size(), now_);
            cores_[1 - i]->on_bytes(link_[1 - i], std::span<uint8_t>(s->bytes), now_);
          }
        }
        Event e;
        while (c.poll_event(e)) {
          any = true;
          if (i == 1 && std::holds_alternative<WhisperEvent>(e)) ++delivered;
        }
      }
      if (!any) break;
    }
    return delivered;
  }

 private:
  int64_t now_ = 1'000'000;
  std::unique_ptr<NodeCore> cores_[2];
  LinkId link_[2] = {0, 0};
};

Bytes payload(bool random, size_t size, uint64_t salt) {
  Bytes b(size);
  Random rnd(salt);
  if (random) {
    rnd.fill(b.data(), b.size());
  } else {
    for (size_t i = 0; i < size; ++i)
      b[i] = static_cast<uint8_t>("{\"type\":\"state\",\"balance\":\"1000\"}\n"[i % 35]);
    for (size_t i = 0; i < size; i += 97) b[i] = static_cast<uint8_t>('0' + rnd.below(10));
  }
  return b;
}

// state.range(0): codec (-1 = off, else the setting); range(1): 1 = random payload;
// range(2): message size. Each iteration sends a batch of whispers filling
// about 1 MiB and delivers them.
void LinkCost(benchmark::State& state) {
  std::vector<compression::Method> codecs;
  if (state.range(0) >= 0) codecs.push_back(static_cast<compression::Method>(state.range(0)));
  Pair pair(codecs);
  if (!pair.linked()) {
    state.SkipWithError("not linked");
    return;
  }
  const size_t size = static_cast<size_t>(state.range(2));
  const size_t batch = std::max<size_t>(1, (1u << 20) / size);
  std::vector<Bytes> payloads;
  for (uint64_t i = 0; i < 64; ++i) payloads.push_back(payload(state.range(1) == 1, size, i));
  const PublicKey to = pair.core(1).identity().public_key();
  size_t k = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < batch; ++i) {
      (void)pair.core(0).whisper(kApp, to, payloads[k++ % payloads.size()], false, 1'000'000);
    }
    benchmark::DoNotOptimize(pair.settle());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * batch * size));
  state.counters["compressed_frames"] = static_cast<double>(pair.core(0).stats().frames_compressed);
}

void Args(benchmark::internal::Benchmark* b) {
  for (int codec : {-1, 4, 3, 2}) {
    b->Args({codec, 1, 65536});
    b->Args({codec, 1, 100});
    b->Args({codec, 0, 65536});
  }
  b->ArgNames({"codec", "random", "size"});
}
BENCHMARK(LinkCost)->Apply(Args)->MinTime(0.5)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace chorus::overlay

BENCHMARK_MAIN();
