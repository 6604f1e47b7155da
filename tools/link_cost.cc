#include "link_cost.h"

#include <algorithm>
#include <chrono>

namespace chorus::tools {
namespace {

constexpr overlay::AppId kApp = 9;

Bytes payload(bool random, size_t size, uint64_t salt) {
  Bytes b(size);
  overlay::Random rnd(salt);
  if (random) {
    rnd.fill(b.data(), b.size());
    return b;
  }
  static const char kLine[] = "{\"type\":\"state\",\"balance\":\"1000\"}\n";
  for (size_t i = 0; i < size; ++i) b[i] = static_cast<uint8_t>(kLine[i % (sizeof kLine - 1)]);
  for (size_t i = 0; i < size; i += 97) b[i] = static_cast<uint8_t>('0' + rnd.below(10));
  return b;
}

}  // namespace

CorePair::CorePair(std::vector<compression::Method> codecs) {
  for (int i = 0; i < 2; ++i) {
    overlay::OverlayConfig c;
    c.seed = 10 + static_cast<uint64_t>(i);
    c.rotate_interval_ms = 0;
    c.compression = codecs;
    c.listen_port = static_cast<uint16_t>(7000 + i);
    std::array<uint8_t, 32> seed{};
    seed.fill(static_cast<uint8_t>(i + 1));
    cores_[i] = std::make_unique<overlay::NodeCore>(overlay::Identity::from_seed(seed), c, now_us_);
    cores_[i]->register_app(kApp);
  }
  cores_[0]->add_peer_address({"127.0.0.1", 7001}, std::nullopt);
  cores_[0]->on_timer(now_us_);
  settle();
}

bool CorePair::linked() const {
  return cores_[0]->is_connected(cores_[1]->identity().public_key());
}

size_t CorePair::settle() {
  size_t delivered = 0;
  for (int round = 0; round < 100000; ++round) {
    bool any = false;
    for (int i = 0; i < 2; ++i) {
      overlay::NodeCore& c = *cores_[i];
      c.flush(now_us_);
      overlay::Action a;
      while (c.poll_action(a)) {
        any = true;
        if (auto* conn = std::get_if<overlay::ConnectAction>(&a)) {
          link_[0] = conn->link;
          link_[1] = cores_[1]->on_accepted({"127.0.0.1", 50000}, now_us_);
          c.on_connected(conn->link, now_us_);
        } else if (auto* s = std::get_if<overlay::SendAction>(&a)) {
          c.on_sent(s->link, s->bytes.size(), now_us_);
          cores_[1 - i]->on_bytes(link_[1 - i], std::span<uint8_t>(s->bytes), now_us_);
        }
      }
      overlay::Event e;
      while (c.poll_event(e)) {
        any = true;
        if (i == 1 && std::holds_alternative<overlay::WhisperEvent>(e)) ++delivered;
      }
    }
    if (!any) break;
  }
  return delivered;
}

std::vector<double> link_cost_us_per_mib(
    const std::vector<std::vector<compression::Method>>& settings, bool random,
    size_t message_bytes, int runs, int mib) {
  std::vector<std::unique_ptr<CorePair>> pairs;
  for (const auto& codecs : settings) {
    pairs.push_back(std::make_unique<CorePair>(codecs));
    if (!pairs.back()->linked()) return std::vector<double>(settings.size(), -1);
  }
  std::vector<Bytes> payloads;
  for (uint64_t i = 0; i < 64; ++i) payloads.push_back(payload(random, message_bytes, i));
  const size_t per_mib = std::max<size_t>(1, (size_t{1} << 20) / message_bytes);
  std::vector<std::vector<double>> samples(settings.size());
  std::vector<bool> lost(settings.size(), false);
  // Round-robin: run r of every setting before run r + 1 of any, so drift
  // in the machine's speed falls on all alike. Run 0 warms up, uncounted.
  for (int r = 0; r <= runs; ++r) {
    for (size_t k = 0; k < pairs.size(); ++k) {
      CorePair& pair = *pairs[k];
      const overlay::PublicKey to = pair.core(1).identity().public_key();
      const auto start = std::chrono::steady_clock::now();
      size_t delivered = 0, next = 0;
      for (int m = 0; m < mib; ++m) {
        // In batches well under max_pending_requests (each WHISPER awaits its ACK).
        for (size_t sent = 0; sent < per_mib;) {
          const size_t batch = std::min<size_t>(per_mib - sent, 1024);
          for (size_t i = 0; i < batch; ++i) {
            (void)pair.core(0).whisper(kApp, to, payloads[next++ % payloads.size()], false,
                                       1'000'000);
          }
          sent += batch;
          delivered += pair.settle();
        }
      }
      const double us =
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
              .count();
      if (delivered != per_mib * static_cast<size_t>(mib)) lost[k] = true;
      if (r > 0) samples[k].push_back(us / mib);
    }
  }
  std::vector<double> out;
  for (size_t k = 0; k < samples.size(); ++k) {
    auto& v = samples[k];
    std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
    out.push_back(lost[k] || v.empty() ? -1 : v[v.size() / 2]);
  }
  return out;
}

}  // namespace chorus::tools
