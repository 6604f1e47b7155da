#include "devnet_command.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "chorus/nano/account.h"
#include "chorus/nano/block.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/network.h"
#include "chorus/nano/work.h"
#include "chorus/swarm/report.h"
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
                            const std::vector<std::string>& bootstrap,
                            const std::vector<std::string>& extra = {}) {
  std::vector<std::string> args{self,          "node",  "--data",      data,       "--listen",
                                "127.0.0.1:0", "--rpc", "127.0.0.1:0", "--no-sync"};
  args.insert(args.end(), extra.begin(), extra.end());
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
    if (std::freopen((data + ".log").c_str(), "a", stderr) == nullptr) ::_exit(126);
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
  uint64_t block_count(const std::string& rpc) { return counts(rpc).first; }
  // (count, cemented)
  std::pair<uint64_t, uint64_t> counts(const std::string& rpc) {
    auto r = call(rpc, {{"action", "block_count"}});
    if (!r || !r->contains("count") || !r->contains("cemented")) return {0, 0};
    return {std::stoull((*r)["count"].get<std::string>()),
            std::stoull((*r)["cemented"].get<std::string>())};
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
    PublicKey rep{};  // the representative its blocks name
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
    b.representative = a.rep;
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
    b.representative = a.rep;
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

// report.json (the JSON line) and report.html: the figures, the latency
// CDF and the confirmations over time.
Result<void> write_report(const std::string& dir, const Json& out, std::vector<double> latency,
                          std::vector<double> confirmed_at_s) {
  namespace rp = swarm::report;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return io_error("cannot create " + dir + ": " + ec.message());
  std::ofstream(dir + "/report.json") << out.dump(2) << "\n";
  auto row = [&](const std::string& name, const char* key) {
    return rp::SummaryRow(name, out[key].dump());
  };
  auto check = [&](const std::string& name, bool pass) {
    return rp::SummaryRow(name, pass ? "yes" : "no",
                          pass ? rp::Verdict::kPass : rp::Verdict::kFail);
  };
  std::vector<rp::SummaryRow> summary{
      row("nodes", "nodes"),
      row("representatives", "reps"),
      row("blocks published", "blocks_published"),
      row("blocks confirmed on every node", "blocks_confirmed"),
      row("forks injected", "forks_injected"),
      row("forks resolved alike on every node", "forks_resolved"),
      row("confirmations per second", "cps"),
      rp::SummaryRow("confirmation latency p50 / p99 (ms)",
                     out["confirm_ms"]["p50"].dump() + " / " + out["confirm_ms"]["p99"].dump()),
      check("ledgers identical", out["ledgers_identical"].get<bool>()),
      check("confirmation heights equal", out["confirmation_heights_equal"].get<bool>()),
      check("every fork resolved alike",
            out["forks_resolved"].get<uint64_t>() == out["forks_injected"].get<uint64_t>()),
      check("late joiner synced", out["late_joiner_synced"].get<bool>()),
  };
  std::sort(confirmed_at_s.begin(), confirmed_at_s.end());
  rp::Series cumulative{"confirmed", {}};
  for (size_t i = 0; i < confirmed_at_s.size(); ++i)
    cumulative.points.emplace_back(confirmed_at_s[i], static_cast<double>(i + 1));
  std::vector<rp::Section> sections{
      {"Confirmation latency",
       "From a block's publication through a node's RPC to its confirmation, as the first "
       "node's confirmation_history records it.",
       rp::cdf_plot({"Confirmation latency (CDF)", "ms", "fraction of blocks"}, latency)},
      {"Confirmations over time", "Blocks confirmed by the first node since the first publication.",
       rp::line_plot({"Blocks confirmed", "s since the first publication", "blocks"},
                     {cumulative})},
  };
  std::ofstream html(dir + "/report.html");
  html << rp::html_page("chorus-nano devnet", summary, sections);
  if (!html) return io_error("cannot write " + dir + "/report.html");
  return {};
}

}  // namespace

DevnetCommand::DevnetCommand(CLI::App& app) {
  cmd_ = app.add_subcommand(
      "devnet",
      "N node processes on loopback, representatives voting, funded accounts, random sends and "
      "receives, double spends, a node killed and restarted, a late joiner");
  cmd_->add_option("--nodes", nodes_, "Node processes")
      ->check(CLI::Range(2, 64))
      ->capture_default_str();
  cmd_->add_option("--reps", reps_, "Representatives sharing the genesis weight (one per node)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd_->add_option("--accounts", accounts_, "Accounts funded from the dev genesis")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  cmd_->add_option("--blocks", blocks_, "Random sends and receives after the funding")
      ->check(CLI::Range(0, 1000000))
      ->capture_default_str();
  cmd_->add_option("--forks", forks_,
                   "Double spends, each published as two conflicting blocks through two nodes")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  cmd_->add_flag("--no-kill", no_kill_, "Do not SIGKILL and restart a node mid-run");
  cmd_->add_flag("--keep-dir", keep_dir_, "Keep the nodes' folders and logs (to read them)");
  cmd_->add_option("--report", report_dir_,
                   "Write report.json and report.html (figures and plots) into this folder");
  cmd_->add_option("--seed", seed_, "Random seed")->capture_default_str();
  cmd_->add_flag("--json", json_, "One JSON line only (no progress display)");
}

int DevnetCommand::run(const std::string& self) {
  const bool tty = !json_ && ::isatty(2);
  if (reps_ > nodes_) {
    std::cerr << "chorus-nano devnet: --reps " << reps_ << " is more than --nodes " << nodes_
              << "\n";
    return 2;
  }
  if (forks_ > accounts_) {
    std::cerr << "chorus-nano devnet: --forks must not exceed --accounts (one fork an account)\n";
    return 2;
  }
  std::string tmpl = (std::filesystem::temp_directory_path() / "chorus-devnet-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    std::cerr << "chorus-nano devnet: cannot make a temporary folder\n";
    return 1;
  }
  const std::string dir = tmpl;
  std::vector<NodeProc> procs;
  auto stop_all = [&] {
    for (auto& p : procs)
      if (p.pid > 0) ::kill(p.pid, SIGTERM);
    for (auto& p : procs)
      if (p.pid > 0) ::waitpid(p.pid, nullptr, 0);
    procs.clear();
    std::error_code ec;
    if (keep_dir_) {
      std::cerr << "chorus-nano devnet: node folders and logs kept in " << dir << "\n";
    } else {
      std::filesystem::remove_all(dir, ec);
    }
  };
  auto fail = [&](const std::string& m) {
    stop_all();
    if (tty) std::cerr << "\n";
    std::cerr << "chorus-nano devnet: " << m << "\n";
    return 1;
  };
  std::mt19937_64 rng(seed_);

  // Representatives: the genesis and reps-1 more keys, one per node, each
  // in a key file as key_create prints it.
  std::vector<PrivateKey> rep_keys{dev_genesis_private_key()};
  for (int i = 1; i < reps_; ++i) {
    Seed seed{};
    for (auto& b : seed) b = static_cast<uint8_t>(rng());
    rep_keys.push_back(derive_private_key(seed, 0));
  }
  auto node_args = [&](size_t i) {
    std::vector<std::string> a{"--confirmation-history", "1000000"};
    if (i < rep_keys.size()) {
      const std::string f = dir + "/rep" + std::to_string(i) + ".key";
      std::ofstream(f) << to_hex_upper(rep_keys[i]) << "\n";
      ::chmod(f.c_str(), 0600);
      a.push_back("--rep-key");
      a.push_back(f);
    }
    return a;
  };
  auto bootstrap_of = [&](size_t i) {
    std::vector<std::string> peers;
    if (i > 0) peers.push_back(procs[0].listen);
    if (i > 1) peers.push_back(procs[i - 1].listen);
    return peers;
  };

  // Nodes: each bootstraps from the first and from the one before it.
  for (int i = 0; i < nodes_; ++i) {
    progress(tty, "starting node " + std::to_string(i + 1) + "/" + std::to_string(nodes_));
    const size_t at = static_cast<size_t>(i);
    auto p = spawn_node(self, dir + "/node" + std::to_string(i), bootstrap_of(at), node_args(at));
    if (!p.ok()) return fail(p.error().message());
    procs.push_back(*p);
  }
  Rpc rpc;
  auto wait_linked = [&](size_t i, Clock::time_point deadline) {
    for (;;) {
      auto r = rpc.call(procs[i].rpc, {{"action", "peers"}, {"peer_details", true}});
      size_t ready = 0;
      if (r && (*r)["peers"].is_object()) {
        for (auto& [addr, d] : (*r)["peers"].items()) ready += d.value("ready", "") == "true";
      }
      if (ready >= std::min<size_t>(2, procs.size() - 1)) return true;
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  };
  // Every node linked and ready for published blocks (bounded).
  const auto link_deadline = Clock::now() + std::chrono::seconds(20);
  for (size_t i = 0; i < procs.size(); ++i)
    if (!wait_linked(i, link_deadline)) return fail("nodes did not link within 20 s");

  // The wallet: the genesis gives each other representative an equal share
  // of its weight, then funds every account, each naming a representative.
  Wallet w;
  const size_t first_account = rep_keys.size();
  {
    for (size_t r = 0; r < rep_keys.size(); ++r) {
      Wallet::Account a;
      a.priv = rep_keys[r];
      a.pub = public_key(a.priv);
      a.rep = a.pub;
      if (r == 0) {
        a.head = w.net.genesis_hash;
        a.balance = w.net.genesis_amount;
      }
      w.accounts.push_back(a);
    }
    for (int i = 0; i < accounts_; ++i) {
      Seed s{};
      for (auto& b : s) b = static_cast<uint8_t>(rng());
      Wallet::Account a;
      a.priv = derive_private_key(s, 0);
      a.pub = public_key(a.priv);
      a.rep = w.accounts[static_cast<size_t>(i) % rep_keys.size()].pub;
      w.accounts.push_back(a);
    }
  }
  const size_t n_accounts = static_cast<size_t>(accounts_);
  auto account_at = [&](size_t k) { return first_account + k; };
  std::vector<Block> plan;
  const Amount share = w.net.genesis_amount / static_cast<Amount>(rep_keys.size());
  for (size_t r = 1; r < rep_keys.size(); ++r) plan.push_back(w.send(0, r, share));
  while (!w.receivable.empty()) plan.push_back(w.receive(0));
  const Amount unit = Amount{1'000'000'000'000ULL} * 1'000'000'000'000ULL;
  for (size_t i = 0; i < n_accounts; ++i) plan.push_back(w.send(0, account_at(i), unit));
  while (!w.receivable.empty()) plan.push_back(w.receive(0));
  for (int i = 0; i < blocks_; ++i) {
    const bool receive = !w.receivable.empty() && (rng() % 2 == 0);
    if (receive) {
      plan.push_back(w.receive(rng() % w.receivable.size()));
      continue;
    }
    size_t from = account_at(rng() % n_accounts);
    if (w.accounts[from].balance < 2) {
      if (w.receivable.empty()) {
        from = 0;
      } else {
        plan.push_back(w.receive(rng() % w.receivable.size()));
        continue;
      }
    }
    const size_t to = account_at(rng() % n_accounts);
    const Amount amount = 1 + static_cast<Amount>(rng() % 1000);
    plan.push_back(w.send(from, to, std::min(amount, w.accounts[from].balance)));
  }

  // Publish through random nodes' RPC; halfway, one node that hosts no
  // representative (the last) is killed with SIGKILL, to come back later.
  std::map<BlockHash, uint64_t> published_at;  // wall ms
  auto wall_ms = [] {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  };
  const bool kill_one = !no_kill_ && nodes_ > reps_ && nodes_ >= 3;
  const size_t victim = procs.size() - 1;
  bool victim_down = false;
  const auto publish_start = Clock::now();
  const uint64_t publish_start_wall = wall_ms();
  uint64_t published = 0;
  // Four clients publish at once, as a busy network's wallets would; a
  // block may reach its node before the block it follows (a gap), which
  // the node keeps until that one arrives. Like a wallet, a client whose
  // block was a gap publishes it again until the node has it (for up to a
  // second): a gap held only by the node about to be killed would be lost
  // with it, and every later block of its account with it.
  std::mutex publish_mu;
  auto publish_range = [&](size_t begin, size_t end) -> std::string {
    std::atomic<size_t> next{begin};
    std::string error;  // under publish_mu
    auto client = [&](uint64_t seed) {
      Rpc own;
      std::mt19937_64 pick(seed);
      for (size_t i = next++; i < end; i = next++) {
        size_t via = pick() % procs.size();
        if (victim_down && via == victim) via = 0;
        {
          std::lock_guard<std::mutex> lock(publish_mu);
          if (!error.empty()) return;
          published_at[block_hash(plan[i])] = wall_ms();
        }
        const Json request = {
            {"action", "process"}, {"json_block", true}, {"block", block_to_json(plan[i])}};
        auto r = own.call(procs[via].rpc, request);
        bool retried = false;
        for (int tries = 0; r && r->value("error", "").rfind("Gap", 0) == 0 && tries < 200;
             ++tries) {
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
          r = own.call(procs[via].rpc, request);
          retried = true;
        }
        std::lock_guard<std::mutex> lock(publish_mu);
        if (!r) {
          error = "a node stopped answering its RPC";
          return;
        }
        const std::string e = r->value("error", "");
        const bool held = e.rfind("Gap", 0) == 0 || (retried && e == "Old block");
        if (!r->contains("hash") && !held) {
          error = "block " + std::to_string(i) + " refused: " + e;
          return;
        }
        ++published;
        if (tty && published % 50 == 0)
          progress(tty,
                   "published " + std::to_string(published) + "/" + std::to_string(plan.size()));
      }
    };
    std::vector<std::thread> clients;
    for (uint64_t t = 0; t < 4; ++t) clients.emplace_back(client, seed_ * 7919 + t);
    for (auto& c : clients) c.join();
    return error;
  };
  const size_t half = kill_one ? plan.size() / 2 : plan.size();
  if (auto e = publish_range(0, half); !e.empty()) return fail(e);
  if (kill_one) {
    ::kill(procs[victim].pid, SIGKILL);
    ::waitpid(procs[victim].pid, nullptr, 0);
    procs[victim].pid = -1;
    victim_down = true;
    if (auto e = publish_range(half, plan.size()); !e.empty()) return fail(e);
  }
  const double publish_ms = ms_since(publish_start);

  // Double spends: two sends from one head, published at once through two
  // different nodes. The account is not used again.
  struct Fork {
    BlockHash a{}, b{};
  };
  std::vector<Fork> forks;
  for (int f = 0; f < forks_; ++f) {
    const size_t from = account_at(static_cast<size_t>(f));
    if (w.accounts[from].balance < 3) continue;
    const Wallet::Account saved = w.accounts[from];
    const auto saved_receivable = w.receivable;
    const Block a = w.send(from, 0, 1);
    w.accounts[from] = saved;
    const Block b = w.send(from, 0, 2);
    w.accounts[from] = saved;
    w.receivable = saved_receivable;
    forks.push_back(Fork{block_hash(a), block_hash(b)});
    size_t p = rng() % procs.size(), q = rng() % procs.size();
    if (victim_down && p == victim) p = 0;
    while (q == p || (victim_down && q == victim)) q = (q + 1) % procs.size();
    auto publish = [](std::string addr, Block blk) {
      Rpc own;
      own.call(addr, {{"action", "process"}, {"json_block", true}, {"block", block_to_json(blk)}});
    };
    std::thread ta(publish, procs[p].rpc, a), tb(publish, procs[q].rpc, b);
    ta.join();
    tb.join();
    published_at[forks.back().a] = published_at[forks.back().b] = wall_ms();
    progress(tty, "forks injected " + std::to_string(forks.size()));
  }

  // The killed node comes back with its ledger and final votes, and
  // catches up (bootstrap, then confirm_req for what it missed).
  if (victim_down) {
    progress(tty, "restarting the killed node");
    auto p = spawn_node(self, dir + "/node" + std::to_string(victim), bootstrap_of(victim),
                        node_args(victim));
    if (!p.ok()) return fail("the killed node did not restart: " + p.error().message());
    procs[victim] = *p;
    victim_down = false;
  }

  // Settled: every node holds every block (one of each fork) and has
  // cemented them all.
  const uint64_t want = published + forks.size() + 1;  // and the genesis
  auto settled = [&] {
    for (auto& p : procs) {
      auto [count, cemented] = rpc.counts(p.rpc);
      if (count != want || cemented != want) return false;
    }
    return true;
  };
  const auto settle_deadline =
      Clock::now() + std::chrono::seconds(120 + static_cast<int64_t>(plan.size()) / 50);
  bool all_confirmed = settled();
  while (!all_confirmed && Clock::now() < settle_deadline) {
    uint64_t least = UINT64_MAX;
    for (auto& p : procs) least = std::min(least, rpc.counts(p.rpc).second);
    std::string each;
    for (auto& p : procs) {
      auto [count, cemented] = rpc.counts(p.rpc);
      each += " " + std::to_string(count) + "/" + std::to_string(cemented);
    }
    progress(tty, "confirming: " + std::to_string(least) + "/" + std::to_string(want) +
                      " cemented on every node;" + each);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    all_confirmed = settled();
  }
  const double settle_ms = ms_since(publish_start);

  // Latency: from publishing to confirmation, as a representative's node
  // recorded it (confirmation_history's time).
  std::vector<double> latency;
  std::vector<double> confirmed_at_s;  // since the first publication
  if (auto h = rpc.call(procs[0].rpc, {{"action", "confirmation_history"}});
      h && (*h)["confirmations"].is_array()) {
    for (auto& c : (*h)["confirmations"]) {
      auto hash = parse_hex_fixed<32>(c.value("hash", ""), "hash");
      if (!hash.ok()) continue;
      auto at = published_at.find(*hash);
      const uint64_t t = std::stoull(c.value("time", "0"));
      if (at == published_at.end() || t < at->second) continue;
      latency.push_back(static_cast<double>(t - at->second));
      confirmed_at_s.push_back(static_cast<double>(t - publish_start_wall) / 1000.0);
    }
  }

  // Forks: every node holds the same one of each pair, cemented.
  uint64_t forks_resolved = 0;
  for (const Fork& f : forks) {
    std::optional<BlockHash> winner;
    bool agreed = true;
    for (auto& p : procs) {
      std::optional<BlockHash> here;
      for (const BlockHash& h : {f.a, f.b}) {
        auto r = rpc.call(p.rpc, {{"action", "block_info"}, {"hash", to_hex_upper(h)}});
        if (r && r->contains("height") && r->value("confirmed", "") == "true") here = h;
      }
      if (!here || (winner && *winner != *here)) agreed = false;
      if (here) winner = here;
    }
    forks_resolved += agreed ? 1 : 0;
  }

  uint64_t in_all = UINT64_MAX, cemented_all = UINT64_MAX;
  std::optional<Json> first_frontiers;
  bool identical = true;
  for (auto& p : procs) {
    auto [count, cemented] = rpc.counts(p.rpc);
    in_all = std::min(in_all, count);
    cemented_all = std::min(cemented_all, cemented);
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
  // Confirmation heights: equal on every node for every account.
  bool heights_equal = true;
  for (const auto& a : w.accounts) {
    std::optional<std::string> first;
    for (auto& p : procs) {
      auto r = rpc.call(p.rpc, {{"action", "account_info"}, {"account", encode_account(a.pub)}});
      const std::string h = r ? r->value("confirmation_height", "") : "";
      if (!first) first = h;
      if (h != *first) heights_equal = false;
    }
  }

  // Propagation: single sends, one at a time, until every node has each.
  std::vector<double> prop;
  for (int i = 0; i < 20 && accounts_ > forks_; ++i) {
    const Block b = w.send(
        0,
        account_at(static_cast<size_t>(forks_) + rng() % static_cast<size_t>(accounts_ - forks_)),
        1);
    const auto t = Clock::now();
    auto r = rpc.call(procs[rng() % procs.size()].rpc,
                      {{"action", "process"}, {"json_block", true}, {"block", block_to_json(b)}});
    if (!r || !r->contains("hash")) return fail("a propagation probe was refused");
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

  // The late joiner: bootstraps from the first node.
  progress(tty, "a late joiner bootstraps");
  const auto join_start = Clock::now();
  auto late = spawn_node(self, dir + "/late", {procs[0].listen});
  if (!late.ok()) return fail(late.error().message());
  procs.push_back(*late);
  const uint64_t target = rpc.block_count(procs[0].rpc);
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
    auto f0 = rpc.call(
        procs[0].rpc,
        {{"action", "frontiers"}, {"account", encode_account(PublicKey{})}, {"count", "100000"}});
    synced = f && f0 && *f == *f0;
  }
  stop_all();
  if (tty) std::cerr << "\r\033[K";

  const uint64_t non_fork_blocks = published;
  // Confirmations per second: every block cemented on every node, over the
  // time from the first publication until then (an election confirming a
  // head cements the blocks below it too, so the history has fewer entries
  // than blocks).
  const double confirm_span_s = settle_ms / 1000.0;
  Json out{
      {"nodes", nodes_},
      {"reps", reps_},
      {"blocks_published", published},
      {"blocks_in_all_ledgers", in_all - 1},
      {"blocks_confirmed", cemented_all - 1},
      {"forks_injected", forks.size()},
      {"forks_resolved", forks_resolved},
      {"ledgers_identical", identical},
      {"confirmation_heights_equal", heights_equal},
      {"node_killed_and_restarted", kill_one},
      {"late_joiner_synced", synced},
      {"bps", publish_ms > 0 ? static_cast<double>(plan.size()) * 1000.0 / publish_ms : 0.0},
      {"cps", confirm_span_s > 0 && all_confirmed
                  ? static_cast<double>(cemented_all - 1) / confirm_span_s
                  : 0.0},
      {"confirm_ms", {{"p50", percentile(latency, 0.5)}, {"p99", percentile(latency, 0.99)}}},
      {"settle_ms", settle_ms},
      {"propagation_ms", {{"p50", percentile(prop, 0.5)}, {"p99", percentile(prop, 0.99)}}},
      {"bootstrap_bps", join_ms > 0 ? static_cast<double>(target - 1) * 1000.0 / join_ms : 0.0}};
  std::cout << out.dump() << std::endl;
  if (!report_dir_.empty()) {
    if (auto r = write_report(report_dir_, out, latency, confirmed_at_s); !r.ok()) {
      std::cerr << "chorus-nano devnet: --report: " << r.error().message() << "\n";
      return 1;
    }
  }
  const bool ok = identical && synced && all_confirmed && heights_equal &&
                  forks_resolved == forks.size() && cemented_all - 1 >= non_fork_blocks;
  return ok ? 0 : 3;
}

}  // namespace chorus::nano
