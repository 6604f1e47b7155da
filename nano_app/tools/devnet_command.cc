#include "devnet_command.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <thread>

#include "chorus/nano/account.h"
#include "chorus/nano/block.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/network.h"
#include "chorus/nano/work.h"
#include "chorus/web/http_client.h"

namespace chorus::nano {
namespace {

using Json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// One `chorus-nano node` process of the devnet.
struct NodeProc {
  pid_t pid = -1;
  std::string listen;
  std::string rpc;
};

// Starts `self node ...`; fills listen and rpc from its first lines (10 s).
Result<NodeProc> spawn_node(const std::string& self, const std::string& data,
                            const std::vector<std::string>& bootstrap) {
  std::vector<std::string> args{self,          "node",  "--data",      data,       "--listen",
                                "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--no-sync"};
  for (const auto& b : bootstrap) {
    args.push_back("--bootstrap");
    args.push_back(b);
  }
  int out[2];
  if (::pipe(out) != 0) return io_error("devnet: pipe");
  NodeProc p;
  p.pid = ::fork();
  if (p.pid < 0) return io_error("devnet: fork");
  if (p.pid == 0) {
    ::dup2(out[1], 1);
    ::close(out[0]);
    ::close(out[1]);
    if (std::freopen((data + ".log").c_str(), "w", stderr) == nullptr) ::_exit(126);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(self.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(out[1]);
  std::string text;
  pollfd pfd{out[0], POLLIN, 0};
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while ((text.find("rpc ") == std::string::npos ||
          text.find('\n', text.find("rpc ")) == std::string::npos) &&
         Clock::now() < deadline) {
    if (::poll(&pfd, 1, 100) <= 0) continue;
    char buf[512];
    const ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  auto line = [&](const std::string& key) -> std::string {
    const size_t at = text.find(key + " ");
    if (at == std::string::npos) return "";
    const size_t end = text.find('\n', at);
    return text.substr(at + key.size() + 1, end - at - key.size() - 1);
  };
  p.listen = line("listen");
  p.rpc = line("rpc");
  if (p.rpc.empty() || p.listen.empty()) {
    ::kill(p.pid, SIGKILL);
    ::waitpid(p.pid, nullptr, 0);
    return io_error("devnet: a node did not start (see " + data + ".log)");
  }
  return p;
}

class Rpc {
 public:
  std::optional<Json> call(const std::string& rpc, const Json& request) {
    auto answer = http_.post("http://" + rpc + "/", request.dump());
    if (!answer.ok()) return std::nullopt;
    Json j = Json::parse(answer->body, nullptr, false);
    if (j.is_discarded()) return std::nullopt;
    return j;
  }
  uint64_t block_count(const std::string& rpc) {
    auto r = call(rpc, {{"action", "block_count"}});
    if (!r || !r->contains("count")) return 0;
    return std::stoull((*r)["count"].get<std::string>());
  }

 private:
  web::HttpClient http_;
};

// The devnet's wallet: accounts, what they hold, what waits to be received.
struct Wallet {
  struct Account {
    PrivateKey priv;
    PublicKey pub;
    BlockHash head{};
    Amount balance = 0;
  };
  const NetworkParams& net = dev_network();
  std::vector<Account> accounts;                                            // [0] is the genesis
  std::vector<std::pair<size_t, std::pair<BlockHash, Amount>>> receivable;  // to, (send, amount)

  Block finish(Block b, const PrivateKey& key) {
    WorkOptions o;
    o.threads = 1;
    auto work = generate_work(block_root(b), net.work.epoch_1, o);
    b.work = work.ok() ? *work : 0;
    const BlockHash h = block_hash(b);
    b.signature = sign(key, ByteView(h.data(), h.size()));
    return b;
  }
  Block send(size_t from, size_t to, Amount amount) {
    Account& a = accounts[from];
    Block b;
    b.account = a.pub;
    b.previous = a.head;
    b.representative = accounts[0].pub;
    b.balance = a.balance - amount;
    b.link = accounts[to].pub;
    b = finish(b, a.priv);
    a.head = block_hash(b);
    a.balance -= amount;
    receivable.push_back({to, {a.head, amount}});
    return b;
  }
  Block receive(size_t k) {  // the receivable entry k
    auto [to, entry] = receivable[k];
    receivable.erase(receivable.begin() + static_cast<std::ptrdiff_t>(k));
    Account& a = accounts[to];
    Block b;
    b.account = a.pub;
    b.previous = a.head;
    b.representative = accounts[0].pub;
    b.balance = a.balance + entry.second;
    b.link = entry.first;
    b = finish(b, a.priv);
    a.head = block_hash(b);
    a.balance += entry.second;
    return b;
  }
};

void progress(bool tty, const std::string& what) {
  if (tty) std::cerr << "\r\033[K" << what << std::flush;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

}  // namespace

DevnetCommand::DevnetCommand(CLI::App& app) {
  cmd_ = app.add_subcommand(
      "devnet",
      "N node processes on loopback, funded accounts, random sends and receives, a late joiner");
  cmd_->add_option("--nodes", nodes_, "Node processes")
      ->check(CLI::Range(2, 64))
      ->capture_default_str();
  cmd_->add_option("--accounts", accounts_, "Accounts funded from the dev genesis")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd_->add_option("--blocks", blocks_, "Random sends and receives after the funding")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd_->add_option("--seed", seed_, "Random seed")->capture_default_str();
  cmd_->add_flag("--json", json_, "One JSON line only (no progress display)");
}

int DevnetCommand::run(const std::string& self) {
  const bool tty = !json_ && ::isatty(2);
  std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-devnet-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "chorus-nano devnet: cannot make a temporary folder\n";
    return 1;
  }
  const std::string dir = tmpl;
  std::vector<NodeProc> procs;
  auto stop_all = [&] {
    for (auto& p : procs) ::kill(p.pid, SIGTERM);
    for (auto& p : procs) ::waitpid(p.pid, nullptr, 0);
    procs.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  auto fail = [&](const std::string& m) {
    stop_all();
    if (tty) std::cerr << "\n";
    std::cerr << "chorus-nano devnet: " << m << "\n";
    return 1;
  };

  // Nodes: each bootstraps from the first and from the one before it.
  for (int i = 0; i < nodes_; ++i) {
    progress(tty, "starting node " + std::to_string(i + 1) + "/" + std::to_string(nodes_));
    std::vector<std::string> peers;
    if (i > 0) peers.push_back(procs[0].listen);
    if (i > 1) peers.push_back(procs[static_cast<size_t>(i) - 1].listen);
    auto p = spawn_node(self, dir + "/node" + std::to_string(i), peers);
    if (!p.ok()) return fail(p.error().message());
    procs.push_back(*p);
  }
  Rpc rpc;
  // Every node linked and ready for published blocks (bounded).
  const auto link_deadline = Clock::now() + std::chrono::seconds(20);
  for (size_t i = 0; i < procs.size(); ++i) {
    for (;;) {
      auto r = rpc.call(procs[i].rpc, {{"action", "peers"}, {"peer_details", true}});
      size_t ready = 0;
      if (r && (*r)["peers"].is_object()) {
        for (auto& [addr, d] : (*r)["peers"].items()) ready += d.value("ready", "") == "true";
      }
      if (ready >= std::min<size_t>(2, procs.size() - 1)) break;
      if (Clock::now() > link_deadline) return fail("nodes did not link within 20 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // The wallet: genesis funds every account, each opens.
  Wallet w;
  std::mt19937_64 rng(seed_);
  {
    Wallet::Account g;
    g.priv = dev_genesis_private_key();
    g.pub = public_key(g.priv);
    g.head = w.net.genesis_hash;
    g.balance = w.net.genesis_amount;
    w.accounts.push_back(g);
    for (int i = 0; i < accounts_; ++i) {
      Seed s{};
      for (auto& b : s) b = static_cast<uint8_t>(rng());
      Wallet::Account a;
      a.priv = derive_private_key(s, 0);
      a.pub = public_key(a.priv);
      w.accounts.push_back(a);
    }
  }
  std::vector<Block> plan;
  const Amount unit = Amount{1'000'000'000'000ULL} * 1'000'000'000'000ULL;
  for (int i = 1; i <= accounts_; ++i) plan.push_back(w.send(0, static_cast<size_t>(i), unit));
  while (!w.receivable.empty()) plan.push_back(w.receive(0));
  for (int i = 0; i < blocks_; ++i) {
    const bool receive = !w.receivable.empty() && (rng() % 2 == 0);
    if (receive) {
      plan.push_back(w.receive(rng() % w.receivable.size()));
      continue;
    }
    size_t from = 1 + rng() % static_cast<size_t>(accounts_);
    if (w.accounts[from].balance < 2) {
      if (w.receivable.empty()) {
        from = 0;
      } else {
        plan.push_back(w.receive(rng() % w.receivable.size()));
        continue;
      }
    }
    size_t to = 1 + rng() % static_cast<size_t>(accounts_);
    const Amount amount = 1 + static_cast<Amount>(rng() % 1000);
    plan.push_back(w.send(from, to, std::min(amount, w.accounts[from].balance)));
  }

  // Publish through random nodes' RPC.
  const auto publish_start = Clock::now();
  uint64_t published = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& node = procs[rng() % procs.size()];
    auto r = rpc.call(
        node.rpc, {{"action", "process"}, {"json_block", true}, {"block", block_to_json(plan[i])}});
    if (!r) return fail("a node stopped answering its RPC");
    const std::string error = r->value("error", "");
    // A gap only means this node has not seen the block it follows yet:
    // it keeps the block and publishes it once the dependency arrives.
    if (!r->contains("hash") && error.rfind("Gap", 0) != 0)
      return fail("block " + std::to_string(i) + " refused: " + error);
    ++published;
    if (tty && i % 50 == 0)
      progress(tty, "published " + std::to_string(i + 1) + "/" + std::to_string(plan.size()));
  }
  const uint64_t want = published + 1;  // and the genesis
  auto all_have = [&](uint64_t n) {
    for (auto& p : procs) {
      if (rpc.block_count(p.rpc) < n) return false;
    }
    return true;
  };
  const auto settle_deadline = Clock::now() + std::chrono::seconds(120);
  while (!all_have(want)) {
    if (Clock::now() > settle_deadline) break;
    progress(tty, "waiting for every ledger to hold " + std::to_string(want) + " blocks");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const double spread_ms = ms_since(publish_start);

  // Propagation: single sends, one at a time, until every node has each.
  std::vector<double> prop;
  for (int i = 0; i < 20 && accounts_ > 0; ++i) {
    const Block b = w.send(0, 1 + rng() % static_cast<size_t>(accounts_), 1);
    const auto t = Clock::now();
    auto r = rpc.call(procs[rng() % procs.size()].rpc,
                      {{"action", "process"}, {"json_block", true}, {"block", block_to_json(b)}});
    if (!r || !r->contains("hash")) return fail("a propagation probe was refused");
    ++published;
    const std::string hash = (*r)["hash"];
    const auto deadline = t + std::chrono::seconds(10);
    for (auto& p : procs) {
      for (;;) {
        auto info = rpc.call(p.rpc, {{"action", "block_info"}, {"hash", hash}});
        if (info && info->contains("height")) break;
        if (Clock::now() > deadline) break;
        std::this_thread::sleep_for(std::chrono::microseconds(500));
      }
    }
    prop.push_back(ms_since(t));
  }

  uint64_t in_all = UINT64_MAX;
  std::optional<Json> first_frontiers;
  bool identical = true;
  for (auto& p : procs) {
    in_all = std::min(in_all, rpc.block_count(p.rpc));
    auto f = rpc.call(
        p.rpc,
        {{"action", "frontiers"}, {"account", encode_account(PublicKey{})}, {"count", "100000"}});
    if (!f) return fail("frontiers");
    if (!first_frontiers) {
      first_frontiers = f;
    } else if (*f != *first_frontiers) {
      identical = false;
    }
  }

  // The late joiner: bootstraps from the first node.
  progress(tty, "a late joiner bootstraps");
  const auto join_start = Clock::now();
  auto late = spawn_node(self, dir + "/late", {procs[0].listen});
  if (!late.ok()) return fail(late.error().message());
  procs.push_back(*late);
  const uint64_t target = in_all;
  const auto join_deadline = Clock::now() + std::chrono::seconds(120);
  bool synced = false;
  while (Clock::now() < join_deadline) {
    if (rpc.block_count(late->rpc) >= target) {
      synced = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const double join_ms = ms_since(join_start);
  if (synced) {
    auto f = rpc.call(
        late->rpc,
        {{"action", "frontiers"}, {"account", encode_account(PublicKey{})}, {"count", "100000"}});
    synced = f && *f == *first_frontiers;
  }
  stop_all();
  if (tty) std::cerr << "\r\033[K";

  Json out{
      {"nodes", nodes_},
      {"blocks_published", published},
      {"blocks_in_all_ledgers", in_all - 1},
      {"ledgers_identical", identical},
      {"late_joiner_synced", synced},
      {"bps", spread_ms > 0 ? static_cast<double>(plan.size()) * 1000.0 / spread_ms : 0.0},
      {"propagation_ms", {{"p50", percentile(prop, 0.5)}, {"p99", percentile(prop, 0.99)}}},
      {"bootstrap_bps", join_ms > 0 ? static_cast<double>(target - 1) * 1000.0 / join_ms : 0.0}};
  std::cout << out.dump() << std::endl;
  return identical && synced && in_all - 1 == published ? 0 : 3;
}

}  // namespace chorus::nano
