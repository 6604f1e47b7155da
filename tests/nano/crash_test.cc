// Crash consistency: a real `chorus-nano node` on an LMDB directory is
// killed with SIGKILL while blocks stream into it (batches of up to 1,024
// blocks per write transaction), 20 times. After each kill the ledger must
// pass `chorus-nano ledger check` (balances, weights, receivable entries and
// heights add up) and still hold every block the node had acknowledged.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "block_maker.h"
#include "chorus/nano/account.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/lmdb_store.h"
#include "chorus/web/http_client.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers
using Json = nlohmann::ordered_json;

// A node process; killed (SIGKILL) when the object goes.
class NodeProcess {
 public:
  explicit NodeProcess(const std::string& data) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::close(out[0]);
      ::close(out[1]);
      std::freopen("/dev/null", "w", stderr);
      ::execl(CHORUS_NANO_BIN, CHORUS_NANO_BIN, "node", "--data", data.c_str(), "--rpc",
              "127.0.0.1:0", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    // The "rpc HOST:PORT" line, within 10 s.
    std::string text;
    pollfd p{out[0], POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (text.find('\n', text.find("rpc ")) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      if (::poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      const ssize_t n = ::read(out[0], buf, sizeof buf);
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    ::close(out[0]);
    const size_t at = text.find("rpc ");
    if (at != std::string::npos) rpc_ = text.substr(at + 4, text.find('\n', at) - at - 4);
  }
  ~NodeProcess() { kill(); }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  const std::string& rpc() const { return rpc_; }

 private:
  pid_t pid_ = -1;
  std::string rpc_;
};

// nullopt when the node did not answer (killed).
std::optional<Json> post(web::HttpClient& http, const std::string& rpc, const std::string& body) {
  auto answer = http.post("http://" + rpc + "/", body);
  if (!answer.ok()) return std::nullopt;
  Json j = Json::parse(answer->body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

int run_cli(const std::string& args) {
  const std::string cmd = std::string(CHORUS_NANO_BIN) + " " + args + " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

class CrashTest : public ::testing::Test, protected BlockMaker {
 protected:
  // Genesis sends 1 raw to one of `accounts` accounts, which receives it,
  // `rounds` times: sends, opens and receives, with receivable entries
  // open between a send and its receive.
  std::vector<Block> make_blocks(int rounds, int accounts) {
    std::vector<Block> out;
    std::vector<Key> keys;
    std::vector<BlockHash> heads(static_cast<size_t>(accounts));
    std::vector<Amount> balances(static_cast<size_t>(accounts), 0);
    for (int i = 0; i < accounts; ++i) keys.push_back(key_of(static_cast<uint8_t>(10 + i)));
    BlockHash g_head = net_.genesis_hash;
    Amount g_balance = net_.genesis_amount;
    for (int r = 0; r < rounds; ++r) {
      const size_t k = static_cast<size_t>(r % accounts);
      Block send = state(g_, g_head, g_.pub, --g_balance, keys[k].pub);
      g_head = block_hash(send);
      out.push_back(send);
      Block receive = state(keys[k], heads[k], keys[k].pub, ++balances[k], g_head);
      heads[k] = block_hash(receive);
      out.push_back(receive);
    }
    return out;
  }
};

TEST_F(CrashTest, TwentySigkillsDuringBatchesLeaveAWholeLedgerAndLoseNothingAcknowledged) {
  TempDir dir;
  const std::vector<Block> blocks = make_blocks(5000, 20);  // 10,000 blocks
  std::vector<std::string> bodies;
  for (const Block& b : blocks) {
    bodies.push_back(Json{
        {"action", "process"}, {"json_block", true}, {"async", true}, {"block", block_to_json(b)}}
                         .dump());
  }
  std::mt19937 rng(20261205);
  web::HttpClient http({5000});
  std::vector<BlockHash> acknowledged;
  size_t next = 0;  // the first block not yet acknowledged
  for (int kill = 0; kill < 20; ++kill) {
    NodeProcess node(dir.path());
    ASSERT_FALSE(node.rpc().empty()) << "node did not start (round " << kill << ")";
    // Stream blocks from `next`: async ones fill the batches, every 100th
    // waits for its answer, which comes only after its batch committed.
    const size_t kill_after = 150 + rng() % 700;  // blocks sent before the kill
    for (size_t sent = 0; next + sent < bodies.size() && sent < kill_after; ++sent) {
      const size_t i = next + sent;
      if (i % 100 == 99) {
        Json sync = Json::parse(bodies[i]);
        sync.erase("async");
        auto answer = post(http, node.rpc(), sync.dump());
        ASSERT_TRUE(answer.has_value());
        const std::string error = answer->value("error", "");
        ASSERT_TRUE(answer->contains("hash") || error == "Old block") << answer->dump();
        acknowledged.push_back(block_hash(blocks[i]));
      } else {
        post(http, node.rpc(), bodies[i]);
      }
    }
    node.kill();  // mid-stream: the intake holds blocks, a batch may be open
    ASSERT_EQ(run_cli("ledger check --data " + dir.path()), 0) << "after kill " << kill;
    LmdbOptions o;
    o.directory = dir.path();
    auto store = open_lmdb_store(o);
    ASSERT_TRUE(store.ok()) << store.error().message();
    auto txn = (*store)->begin_read();
    for (const BlockHash& h : acknowledged)
      ASSERT_TRUE(txn->block_exists(h)) << "an acknowledged block was lost at kill " << kill;
    // Go on from the first block the ledger does not have.
    while (next < blocks.size() && txn->block_exists(block_hash(blocks[next]))) ++next;
  }
  std::printf("20 kills: %zu of %zu blocks in the ledger, %zu acknowledged and kept\n", next,
              blocks.size(), acknowledged.size());
  EXPECT_GE(acknowledged.size(), 20u);
  EXPECT_GT(next, 5000u) << "the ledger kept growing across the kills";
}

}  // namespace
}  // namespace chorus::nano
