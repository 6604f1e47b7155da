// chorus-nano: the NANO primitives and a node's ledger from the command line
// (spec/nano.md).
//
// Every command prints one JSON object on stdout and exits 0. On bad input
// it prints a message on stderr, nothing on stdout, and exits 1 (2 for a
// command line CLI11 cannot parse).
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <sodium.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>

#include <unistd.h>

#include "chorus/nano/account.h"
#include "chorus/nano/block.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/work.h"
#include "devnet_command.h"
#include "ipc_command.h"
#include "ledger_command.h"
#include "nano_bench.h"
#include "node_command.h"

namespace {

using namespace chorus;
using namespace chorus::nano;
using Json = nlohmann::ordered_json;

constexpr size_t kMaxStdinBytes = 1 << 20;  // a block is under 1 KiB of JSON

// A failure to report on stderr; nothing has been written to stdout.
struct Failure {
  std::string message;
};

template <typename T>
T get(Result<T> r) {
  if (!r.ok()) throw Failure{r.error().message()};
  return std::move(*r);
}

Result<uint32_t> parse_u32(const std::string& s, const char* what) {
  if (s.empty() || s.size() > 10)
    return invalid_argument(std::string(what) + ": want 0..4294967295");
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return invalid_argument(std::string(what) + ": not a decimal integer");
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v > 0xffffffffULL) return invalid_argument(std::string(what) + ": above 4294967295");
  return static_cast<uint32_t>(v);
}

Result<std::string> read_stdin() {
  std::string data;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxStdinBytes)
      return limit_exceeded("input: more than " + std::to_string(kMaxStdinBytes) + " bytes");
  }
  if (std::ferror(stdin)) return io_error("input: cannot read stdin");
  if (data.empty()) return invalid_argument("input: empty; want a block as JSON on stdin");
  return data;
}

ParsedBlock read_block() {
  const std::string text = get(read_stdin());
  return get(block_from_json(get(parse_json_text(text, kMaxStdinBytes))));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "chorus-nano: NANO keys, accounts, blocks, signatures and work; a node and its ledger"};
  app.require_subcommand(1);

  std::string seed_hex, index_str;
  auto* key = app.add_subcommand("key", "Derive a key pair and account from a wallet seed");
  key->add_option("--seed", seed_hex, "64 hex digits")->required();
  key->add_option("--index", index_str, "u32 index")->required();

  std::string public_hex, account_str;
  auto* account = app.add_subcommand("account", "Public key <-> account string");
  auto* opt_pub = account->add_option("--public", public_hex, "64 hex digits");
  auto* opt_acc = account->add_option("--account", account_str, "nano_… or xrb_…");
  opt_pub->excludes(opt_acc);
  account->require_option(1);

  auto* block = app.add_subcommand("block", "Block JSON on stdin");
  block->require_subcommand(1);
  auto* block_hash_cmd = block->add_subcommand("hash", "Print the block hash");
  std::string private_hex;
  auto* block_sign = block->add_subcommand("sign", "Add hash and signature");
  block_sign->add_option("--private", private_hex, "64 hex digits")->required();
  std::string signer_str;
  auto* block_verify = block->add_subcommand("verify", "Check the block's signature");
  block_verify->add_option(
      "--account", signer_str,
      "signer (required for send/receive/change; default: the block's account)");

  auto* work = app.add_subcommand("work", "Proof of work");
  work->require_subcommand(1);
  std::string root_hex, work_hex, difficulty_hex, threads_str;
  auto* work_validate = work->add_subcommand("validate", "Check a nonce against a difficulty");
  work_validate->add_option("--root", root_hex, "64 hex digits")->required();
  work_validate->add_option("--work", work_hex, "16 hex digits")->required();
  work_validate->add_option("--difficulty", difficulty_hex, "16 hex digits")->required();
  auto* work_generate = work->add_subcommand("generate", "Find a nonce");
  work_generate->add_option("--root", root_hex, "64 hex digits")->required();
  work_generate->add_option("--difficulty", difficulty_hex, "16 hex digits")->required();
  work_generate->add_option("--threads", threads_str, "worker threads (default: every core)");
  double generate_timeout_s = 600;
  work_generate
      ->add_option(
          "--timeout", generate_timeout_s,
          "give up after this many seconds (exit 1); an unreachable difficulty never hangs")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 86400.0));

  bool bench_json = false;
  unsigned bench_min_time_ms = 500;
  auto* bench = app.add_subcommand("bench", "Rates of hashing, signing, verifying and work");
  bench->add_flag("--json", bench_json, "print JSON");
  bench->add_option("--min-time-ms", bench_min_time_ms, "time per measurement")
      ->check(CLI::Range(1u, 60000u));

  LedgerCommand ledger(app);
  NodeCommand node(app);
  DevnetCommand devnet(app);
  IpcCommand ipc(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (devnet.parsed()) {
    if (!init_crypto()) {
      std::cerr << "chorus-nano: libsodium failed to start\n";
      return 1;
    }
    char self[4096];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
      std::cerr << "chorus-nano devnet: cannot find its own executable\n";
      return 1;
    }
    self[n] = '\0';
    return devnet.run(self);
  }
  if (ipc.parsed()) return ipc.run();
  if (node.parsed()) {
    if (!init_crypto()) {
      std::cerr << "chorus-nano: libsodium failed to start\n";
      return 1;
    }
    return node.run();
  }
  try {
    if (!init_crypto()) throw Failure{"libsodium failed to start"};
    Json out;
    if (key->parsed()) {
      const Seed seed = get(parse_hex_fixed<32>(seed_hex, "--seed"));
      const uint32_t index = get(parse_u32(index_str, "--index"));
      const PrivateKey prv = derive_private_key(seed, index);
      const PublicKey pub = public_key(prv);
      out["private"] = to_hex_upper(prv);
      out["public"] = to_hex_upper(pub);
      out["account"] = encode_account(pub);
    } else if (account->parsed()) {
      if (opt_pub->count() > 0) {
        out["account"] = encode_account(get(parse_hex_fixed<32>(public_hex, "--public")));
      } else {
        out["public"] = to_hex_upper(get(decode_account(account_str)));
      }
    } else if (block_hash_cmd->parsed()) {
      out["hash"] = to_hex_upper(block_hash(read_block().block));
    } else if (block_sign->parsed()) {
      const PrivateKey prv = get(parse_hex_fixed<32>(private_hex, "--private"));
      Block b = read_block().block;
      const BlockHash h = block_hash(b);
      b.signature = sign(prv, h);
      out = block_to_json(b);
      out["hash"] = to_hex_upper(h);
    } else if (block_verify->parsed()) {
      const ParsedBlock p = read_block();
      if (!p.has_signature) throw Failure{"block: missing \"signature\""};
      const Block& b = p.block;
      PublicKey signer = b.account;
      if (!signer_str.empty()) {
        signer = get(decode_account(signer_str));
      } else if (b.type != BlockType::kOpen && b.type != BlockType::kState) {
        throw Failure{std::string("block: a ") + block_type_name(b.type) +
                      " block does not name its account; pass --account"};
      }
      out["valid"] = verify(signer, block_hash(b), b.signature);
    } else if (work_validate->parsed()) {
      const Hash32 root = get(parse_hex_fixed<32>(root_hex, "--root"));
      const uint64_t nonce = get(parse_hex_u64(work_hex, "--work"));
      const uint64_t difficulty = get(parse_hex_u64(difficulty_hex, "--difficulty"));
      const uint64_t value = work_value(root, nonce);
      out["valid"] = value >= difficulty;
      out["difficulty"] = u64_to_hex(value);
    } else if (work_generate->parsed()) {
      const Hash32 root = get(parse_hex_fixed<32>(root_hex, "--root"));
      const uint64_t difficulty = get(parse_hex_u64(difficulty_hex, "--difficulty"));
      WorkOptions o;
      if (!threads_str.empty()) {
        o.threads = get(parse_u32(threads_str, "--threads"));
        if (o.threads < 1 || o.threads > 1024) throw Failure{"--threads: want 1..1024"};
      }
      uint8_t seed[8];
      randombytes_buf(seed, sizeof seed);
      for (uint8_t c : seed) o.seed = o.seed << 8 | c;
      // A watchdog cancels the search at the deadline.
      std::atomic<bool> cancel{false};
      std::mutex mu;
      std::condition_variable cv;
      bool finished = false;
      o.cancel = &cancel;
      std::thread watchdog([&] {
        std::unique_lock<std::mutex> lock(mu);
        if (!cv.wait_for(lock, std::chrono::duration<double>(generate_timeout_s),
                         [&] { return finished; })) {
          cancel = true;
        }
      });
      auto found = generate_work(root, difficulty, o);
      {
        std::lock_guard<std::mutex> lock(mu);
        finished = true;
      }
      cv.notify_one();
      watchdog.join();
      if (!found && found.error().code() == ErrorCode::kCancelled) {
        throw Failure{"no work found within " + std::to_string(generate_timeout_s) + " s"};
      }
      out["work"] = u64_to_hex(get(std::move(found)));
    } else if (ledger.parsed()) {
      out = get(ledger.run());
    } else if (bench->parsed()) {
      BenchOptions bo;
      bo.min_time_ms = bench_min_time_ms;
      out = run_bench(bo);
      if (!bench_json) {
        for (const auto& [k, v] : out.items()) std::cout << k << ": " << v.dump() << "\n";
        return 0;
      }
    }
    std::cout << out.dump() << "\n";
    return 0;
  } catch (const Failure& f) {
    std::cerr << "chorus-nano: " << f.message << "\n";
    return 1;
  }
}
