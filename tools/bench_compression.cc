// `chorus bench compression`: per codec, compress and decompress speed and
// ratio on three deterministic corpora, each payload compressed on its own
// as the overlay will do per frame:
//   small    1,000 NANO-like messages of 200-500 B (state blocks and votes
//            behind an 8-byte message header: 32-byte keys and hashes from
//            small pools, 16-byte balances, 64-byte signatures, 8-byte work);
//   text     one 64 KiB JSON-like document (the same blocks as JSON text);
//   random   16 payloads of 64 KiB random bytes.
// MB/s counts uncompressed bytes, on one core. Then, end to end, the overlay
// transport (bench transport's overlay run) with each codec alone against
// compression off, on random and on text payloads: what a codec costs on
// traffic it cannot shrink, and what it buys on traffic it can.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "chorus/compression/codec.h"
#include "commands.h"
#include "link_cost.h"
#include "transport_bench.h"

namespace chorus::tools {
namespace {

using Clock = std::chrono::steady_clock;
using compression::Method;

struct Corpus {
  std::string name;
  std::string description;
  std::vector<Bytes> items;
  size_t total_bytes() const {
    size_t n = 0;
    for (const auto& b : items) n += b.size();
    return n;
  }
};

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}
  uint64_t next() { return rng_(); }
  Bytes bytes(size_t n) {
    Bytes b(n);
    for (auto& c : b) c = static_cast<uint8_t>(rng_());
    return b;
  }
  void append(Bytes& out, size_t n) {
    Bytes b = bytes(n);
    out.insert(out.end(), b.begin(), b.end());
  }

 private:
  std::mt19937_64 rng_;
};

// Pools the messages draw keys from, so that some bytes repeat across a
// corpus as they do on a real network (within one small message they rarely do).
struct Pools {
  std::vector<Bytes> accounts, representatives;
  explicit Pools(Gen& g) {
    for (int i = 0; i < 64; ++i) accounts.push_back(g.bytes(32));
    for (int i = 0; i < 8; ++i) representatives.push_back(g.bytes(32));
  }
};

void append(Bytes& out, const Bytes& b) {
  out.insert(out.end(), b.begin(), b.end());
}

Bytes nano_header(uint8_t type) {
  return {'R', 'C', 19, 19, 18, type, 0x00, 0x06};
}

// publish(state block): header, account, previous, representative,
// balance (u128 BE, top bytes zero), link, signature, work = 225 B.
Bytes state_block(Gen& g, const Pools& p) {
  Bytes m = nano_header(3);
  append(m, p.accounts[g.next() % p.accounts.size()]);
  g.append(m, 32);
  append(m, p.representatives[g.next() % p.representatives.size()]);
  m.insert(m.end(), 6, 0);
  g.append(m, 10);
  g.append(m, 32);
  g.append(m, 64);
  g.append(m, 8);
  return m;
}

// confirm_ack(vote): header, representative, signature, timestamp, 4..12
// block hashes = 240..496 B.
Bytes vote(Gen& g, const Pools& p) {
  Bytes m = nano_header(5);
  append(m, p.representatives[g.next() % p.representatives.size()]);
  g.append(m, 64);
  uint64_t ts = 1700000000000 + g.next() % 1000000;
  for (int i = 7; i >= 0; --i) m.push_back(static_cast<uint8_t>(ts >> (8 * i)));
  const size_t hashes = 4 + g.next() % 9;
  g.append(m, 32 * hashes);
  return m;
}

std::string hex(const Bytes& b) {
  return to_hex(b);
}

std::string address(const Bytes& key) {
  static const char* kAlphabet = "13456789abcdefghijkmnopqrstuwxyz";
  std::string s = "nano_";
  for (size_t i = 0; i < 60; ++i) s += kAlphabet[key[i % 32] >> (i % 3) & 31];
  return s;
}

Bytes json_text(Gen& g, const Pools& p, size_t size) {
  std::string s = "[\n";
  while (s.size() < size) {
    s += "  {\"type\": \"state\", \"account\": \"" +
         address(p.accounts[g.next() % p.accounts.size()]) + "\", \"previous\": \"" +
         hex(g.bytes(32)) + "\", \"representative\": \"" +
         address(p.representatives[g.next() % p.representatives.size()]) + "\", \"balance\": \"" +
         std::to_string(g.next() % 1000000000000) + "000000000000000000" + "\", \"link\": \"" +
         hex(g.bytes(32)) + "\", \"signature\": \"" + hex(g.bytes(64)) + "\", \"work\": \"" +
         hex(g.bytes(8)) + "\", \"height\": " + std::to_string(g.next() % 100000) +
         ", \"confirmed\": " + (g.next() % 2 ? "true" : "false") + "},\n";
  }
  s.resize(size);
  return Bytes(s.begin(), s.end());
}

std::vector<Corpus> corpora(uint64_t seed) {
  Gen g(seed);
  Pools pools(g);
  std::vector<Corpus> out;
  Corpus small{"small", "1000 NANO-like messages, 200-500 B", {}};
  for (int i = 0; i < 1000; ++i) {
    small.items.push_back(i % 2 ? vote(g, pools) : state_block(g, pools));
  }
  out.push_back(std::move(small));
  out.push_back({"text", "64 KiB JSON-like text", {json_text(g, pools, 64 << 10)}});
  Corpus random{"random", "16 x 64 KiB random bytes", {}};
  for (int i = 0; i < 16; ++i) random.items.push_back(g.bytes(64 << 10));
  out.push_back(std::move(random));
  return out;
}

struct Measure {
  double ratio = 0;
  double compress_mb_per_s = 0;
  double decompress_mb_per_s = 0;
  bool ok = true;
};

Measure measure(const compression::Codec& codec, const Corpus& c, double min_seconds) {
  Measure m;
  const size_t total = c.total_bytes();
  std::vector<Bytes> packed;
  size_t packed_bytes = 0;
  for (const auto& item : c.items) {
    auto r = codec.compress(item);
    if (!r.ok()) return {0, 0, 0, false};
    packed_bytes += r->size();
    packed.push_back(std::move(r).value());
  }
  m.ratio = static_cast<double>(packed_bytes) / static_cast<double>(total);
  auto timed = [&](auto&& pass) {
    uint64_t passes = 0;
    auto start = Clock::now();
    double elapsed = 0;
    do {
      pass();
      ++passes;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_seconds);
    return static_cast<double>(total) * static_cast<double>(passes) / elapsed / 1e6;
  };
  size_t sink = 0;
  m.compress_mb_per_s = timed([&] {
    for (const auto& item : c.items) sink += codec.compress(item)->size();
  });
  m.decompress_mb_per_s = timed([&] {
    for (size_t i = 0; i < packed.size(); ++i) {
      auto r = codec.decompress(packed[i], c.items[i].size());
      if (!r.ok()) m.ok = false;
      sink += r.ok() ? r->size() : 0;
    }
  });
  if (sink == 0 && total > 0) m.ok = false;
  return m;
}

}  // namespace

Runner add_bench_compression_command(CLI::App& cmd) {
  struct Args {
    bool json = false;
    uint64_t seed = 1;
    int min_time_ms = 250;
    bool no_transport = false;
    int repeats = 3;
  };
  auto args = std::make_shared<Args>();
  cmd.add_flag("--json", args->json, "print one JSON line");
  cmd.add_flag("--no-transport", args->no_transport, "skip the end-to-end transport runs");
  cmd.add_option("--repeats", args->repeats, "transport runs per case (the best counts)")
      ->capture_default_str()
      ->check(CLI::Range(1, 20));
  cmd.add_option("--seed", args->seed, "seed of the generated corpora")->capture_default_str();
  cmd.add_option("--min-time-ms", args->min_time_ms, "minimum time per measurement")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  return [args]() -> int {
    const auto cs = corpora(args->seed);
    nlohmann::json results = nlohmann::json::array();
    if (!args->json) {
      std::printf(
          "compression, one payload per call, one core (MB/s of uncompressed data; "
          "ratio = compressed / original)\n");
      for (const auto& c : cs) std::printf("  %-7s %s\n", c.name.c_str(), c.description.c_str());
      std::printf("\n%-7s %-7s %7s %12s %12s\n", "codec", "corpus", "ratio", "compress",
                  "decompress");
    }
    bool ok = true;
    for (Method method : compression::kAllMethods) {
      const auto& codec = compression::codec_for(method);
      for (const auto& c : cs) {
        Measure m = measure(codec, c, args->min_time_ms / 1000.0);
        ok = ok && m.ok;
        results.push_back({{"method", method_name(method)},
                           {"level", codec.level()},
                           {"corpus", c.name},
                           {"bytes", c.total_bytes()},
                           {"payloads", c.items.size()},
                           {"ratio", m.ratio},
                           {"compress_mb_per_s", m.compress_mb_per_s},
                           {"decompress_mb_per_s", m.decompress_mb_per_s}});
        if (!args->json) {
          std::printf("%-7s %-7s %7.3f %12.1f %12.1f\n", method_name(method), c.name.c_str(),
                      m.ratio, m.compress_mb_per_s, m.decompress_mb_per_s);
          std::fflush(stdout);
        }
      }
    }
    // End to end: two overlay nodes on loopback, compression negotiated as
    // in production, each codec alone against compression off.
    nlohmann::json transport = nlohmann::json::array();
    if (!args->no_transport) {
      if (!args->json) {
        std::printf(
            "\nend to end: overlay transport, one way on loopback, best of %d runs\n"
            "%-7s %-7s %8s %12s %10s %12s\n",
            args->repeats, "codec", "payload", "msg", "MB/s", "vs off", "wire/payload");
      }
      struct Case {
        PayloadKind kind;
        size_t msg;
      };
      const Case cases[] = {{PayloadKind::kRandom, 64 * 1024},
                            {PayloadKind::kRandom, 100},
                            {PayloadKind::kText, 64 * 1024}};
      for (const Case& c : cases) {
        double off_mb_s = 0;
        std::vector<std::optional<Method>> settings = {std::nullopt};
        for (Method m : compression::kAllMethods) settings.push_back(m);
        // Runs go round-robin over the settings, repeat after repeat, so
        // that drifting load on the machine hits every setting alike; each
        // keeps its best run. One discarded run first warms the allocator
        // and page cache.
        auto count_for = [&](std::optional<Method> setting) {
          const bool slow = setting && (*setting == Method::kLzma || *setting == Method::kBz2);
          // Enough data for a stable figure, little enough that lzma and bz2
          // on text finish in about a second.
          uint64_t bytes = c.kind == PayloadKind::kRandom           ? (192u << 20)
                           : slow                                   ? (6u << 20)
                           : setting && *setting != Method::kSnappy ? (24u << 20)
                                                                    : (192u << 20);
          if (c.msg < 1024) bytes = 24u << 20;
          return std::max<uint64_t>(1, bytes / c.msg);
        };
        auto codecs_for = [](std::optional<Method> setting) {
          std::vector<Method> codecs;
          if (setting) codecs.push_back(*setting);
          return codecs;
        };
        (void)run_overlay(c.msg, count_for(std::nullopt) / 4 + 1, {}, c.kind);
        std::vector<RunResult> best(settings.size());
        for (int r = 0; r < args->repeats; ++r) {
          for (size_t k = 0; k < settings.size(); ++k) {
            RunResult run =
                run_overlay(c.msg, count_for(settings[k]), codecs_for(settings[k]), c.kind);
            if (run.ok && (!best[k].ok || run.seconds < best[k].seconds)) best[k] = run;
          }
        }
        for (size_t k = 0; k < settings.size(); ++k) {
          const auto setting = settings[k];
          if (!best[k].ok) {
            ok = false;
            continue;
          }
          const uint64_t count = count_for(setting);
          const double payload_bytes = static_cast<double>(count) * static_cast<double>(c.msg);
          const double mb_s = payload_bytes / best[k].seconds / 1e6;
          if (!setting) off_mb_s = mb_s;
          const double vs_off = off_mb_s > 0 ? mb_s / off_mb_s : 0;
          const double wire = static_cast<double>(best[k].bytes_sent) / payload_bytes;
          const char* name = setting ? method_name(*setting) : "off";
          const char* payload = c.kind == PayloadKind::kRandom ? "random" : "text";
          transport.push_back({{"method", name},
                               {"payload", payload},
                               {"message_bytes", c.msg},
                               {"mb_per_s", mb_s},
                               {"vs_off", vs_off},
                               {"wire_per_payload", wire},
                               {"frames_compressed", best[k].frames_compressed}});
          if (!args->json) {
            std::printf("%-7s %-7s %8zu %12.1f %10.3f %12.3f\n", name, payload, c.msg, mb_s, vs_off,
                        wire);
            std::fflush(stdout);
          }
        }
      }
    }
    // The same link without sockets (tools/link_cost.h): CPU per MiB, median
    // of several runs. Free of kernel and scheduler noise, this is where a
    // cost of a few percent shows.
    nlohmann::json link_cpu = nlohmann::json::array();
    if (!args->no_transport) {
      if (!args->json) {
        std::printf(
            "\nlink CPU, two nodes in one process (no sockets), median of runs; "
            "speed = off / cost\n%-7s %-7s %8s %12s %10s\n",
            "codec", "payload", "msg", "us per MiB", "speed");
      }
      struct Case {
        bool random;
        size_t msg;
      };
      for (const Case& c : {Case{true, 65536}, Case{true, 100}, Case{false, 65536}}) {
        // lzma and bz2 on compressible data take ~100x longer per MiB: 1 MiB runs there.
        const int mib = c.random && c.msg > 1000 ? 4 : 1;
        std::vector<std::vector<Method>> settings = {{}};
        for (Method m : compression::kAllMethods) settings.push_back({m});
        auto cost = link_cost_us_per_mib(settings, c.random, c.msg, 9, mib);
        for (size_t k = 0; k < settings.size(); ++k) {
          if (cost[k] <= 0 || cost[0] <= 0) {
            ok = false;
            continue;
          }
          const char* name = settings[k].empty() ? "off" : method_name(settings[k][0]);
          const char* payload = c.random ? "random" : "text";
          link_cpu.push_back({{"method", name},
                              {"payload", payload},
                              {"message_bytes", c.msg},
                              {"us_per_mib", cost[k]},
                              {"speed_vs_off", cost[0] / cost[k]}});
          if (!args->json) {
            std::printf("%-7s %-7s %8zu %12.0f %10.3f\n", name, payload, c.msg, cost[k],
                        cost[0] / cost[k]);
            std::fflush(stdout);
          }
        }
      }
    }
    if (args->json) {
      nlohmann::json j;
      j["link_cpu"] = link_cpu;
      j["seed"] = args->seed;
      j["results"] = results;
      j["transport"] = transport;
      std::cout << j.dump() << std::endl;
    }
    if (!ok) {
      std::cerr << "chorus bench compression: a codec failed to round-trip its corpus\n";
      return 1;
    }
    return 0;
  };
}

}  // namespace chorus::tools
