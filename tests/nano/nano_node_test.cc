// NanoNode as components: subsets that run, a store swapped for another,
// the RPC over real HTTP (libcurl), and blocks published through one
// node's RPC reaching another node's ledger over the overlay.
#include "chorus/nano/nano_node.h"
#include "chorus/web/http_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "block_maker.h"
#include "chorus/nano/account.h"
#include "chorus/nano/bootstrap_wire.h"
#include "chorus/nano/ledger_check.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers
using namespace std::chrono_literals;
using Json = nlohmann::ordered_json;

// POSTs `request` to the node's RPC and parses the answer.
Json post(const overlay::SocketAddress& rpc, const Json& request) {
  web::HttpClient http;
  auto answer = http.post("http://" + rpc.to_string() + "/", request.dump());
  EXPECT_TRUE(answer.ok()) << answer.error().message();
  if (!answer.ok()) return Json();
  EXPECT_EQ(answer->status, 200);
  return Json::parse(answer->body, nullptr, false);
}

// Counts accepted blocks; waits for a number of them with a bound.
class Accepted {
 public:
  std::function<void(const ProcessedBlock&)> hook() {
    return [this](const ProcessedBlock& b) {
      std::lock_guard<std::mutex> lock(mu_);
      hashes_.push_back(b.hash);
      cv_.notify_all();
    };
  }
  bool wait_for(size_t n, std::chrono::milliseconds bound) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return hashes_.size() >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<BlockHash> hashes_;
};

// True once `node` has a link that carries content-addressed SHOUTs;
// asked on the node's loop, bounded by `bound`.
bool link_ready(overlay::Node& node, std::chrono::milliseconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    std::promise<bool> ready;
    auto f = ready.get_future();
    node.post([&] {
      bool any = false;
      for (const auto& p : node.peers()) any = any || p.content_shouts;
      ready.set_value(any);
    });
    if (f.get()) return true;
    std::this_thread::sleep_for(5ms);  // between two asks, within the bound
  }
  return false;
}

// Collects a node's NodeEvents; waits for one that matches, with a bound.
class Events {
 public:
  NodeEventListener listener() {
    return [this](const NodeEvent& e) {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(e);
      cv_.notify_all();
    };
  }
  template <typename T>
  std::optional<T> wait(std::function<bool(const T&)> match, std::chrono::milliseconds bound) {
    std::unique_lock<std::mutex> lock(mu_);
    std::optional<T> found;
    cv_.wait_for(lock, bound, [&] {
      for (const auto& e : events_)
        if (auto* t = std::get_if<T>(&e); t && match(*t)) found = *t;
      return found.has_value();
    });
    return found;
  }
  std::optional<BlockConfirmedEvent> confirmed(const BlockHash& h, std::chrono::milliseconds b) {
    return wait<BlockConfirmedEvent>([&](const BlockConfirmedEvent& e) { return e.hash == h; }, b);
  }
  template <typename T>
  std::vector<T> all() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<T> out;
    for (const auto& e : events_)
      if (auto* t = std::get_if<T>(&e)) out.push_back(*t);
    return out;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<NodeEvent> events_;
};

class NanoNodeTest : public ::testing::Test, protected BlockMaker {
 protected:
  NanoNodeOptions base() {
    NanoNodeOptions o;
    o.now_s = [] { return kNow; };
    return o;
  }
  Block genesis_send(const PublicKey& to, Amount amount, const BlockHash& previous,
                     Amount balance_before) {
    return state(g_, previous, g_.pub, balance_before - amount, to);
  }
};

TEST_F(NanoNodeTest, ALedgerWithAMemoryStoreAndNothingElseIsANode) {
  Accepted accepted;
  NanoNodeOptions o = base();
  o.on_accepted = accepted.hook();
  auto node = NanoNode::start(o);
  ASSERT_TRUE(node.ok()) << node.error().message();
  std::vector<std::string> names;
  for (auto& [name, deps] : (*node)->components()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"store", "ledger", "work", "elections"}));
  EXPECT_EQ((*node)->server(), nullptr);
  EXPECT_FALSE((*node)->rpc_address().has_value());

  std::promise<std::optional<BlockStatus>> status;
  const Block send = genesis_send(key_of(1).pub, 10, net_.genesis_hash, net_.genesis_amount);
  ASSERT_TRUE((*node)
                  ->ledger()
                  .submit(send, BlockSource::kLocal,
                          [&](std::optional<BlockStatus> s) { status.set_value(s); })
                  .ok());
  auto f = status.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), BlockStatus::kProgress);
  EXPECT_TRUE(accepted.wait_for(1, 10s));
  EXPECT_EQ((*node)->store().begin_read()->block_count(), 2u);
}

TEST_F(NanoNodeTest, TheLmdbStoreSwapsInAndKeepsTheLedgerAcrossRestarts) {
  TempDir dir;
  const Block send = genesis_send(key_of(2).pub, 10, net_.genesis_hash, net_.genesis_amount);
  {
    NanoNodeOptions o = base();
    o.data_dir = dir.path();
    o.map_size_bytes = 64 << 20;
    auto node = NanoNode::start(o);
    ASSERT_TRUE(node.ok()) << node.error().message();
    std::promise<std::optional<BlockStatus>> status;
    ASSERT_TRUE((*node)
                    ->ledger()
                    .submit(send, BlockSource::kLocal,
                            [&](std::optional<BlockStatus> s) { status.set_value(s); })
                    .ok());
    EXPECT_EQ(status.get_future().get(), BlockStatus::kProgress);
  }
  NanoNodeOptions o = base();
  o.data_dir = dir.path();
  o.map_size_bytes = 64 << 20;
  auto node = NanoNode::start(o);
  ASSERT_TRUE(node.ok());
  auto r = (*node)->store().begin_read();
  EXPECT_TRUE(r->block_exists(block_hash(send)));
  EXPECT_TRUE(check_ledger(*r, net_).ok());

  NanoNodeOptions missing = base();
  missing.data_dir = dir.path() + "/nope";
  auto refused = NanoNode::start(missing);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message().rfind("store: ", 0), 0u) << refused.error().message();
}

TEST_F(NanoNodeTest, TheRpcAnswersOverHttpAndProcessesBlocks) {
  NanoNodeOptions o = base();
  o.rpc = overlay::SocketAddress{"127.0.0.1", 0};
  auto node = NanoNode::start(o);
  ASSERT_TRUE(node.ok()) << node.error().message();
  auto rpc = (*node)->rpc_address();
  ASSERT_TRUE(rpc.has_value());
  EXPECT_EQ(post(*rpc, {{"action", "block_count"}})["count"], "1");
  const Key a = key_of(3);
  const Block send = genesis_send(a.pub, 1000, net_.genesis_hash, net_.genesis_amount);
  Json r =
      post(*rpc, {{"action", "process"}, {"json_block", true}, {"block", block_to_json(send)}});
  EXPECT_EQ(r["hash"], to_hex_upper(block_hash(send))) << r.dump();
  // No representative here confirms the send: as in nano-node, only the
  // unconfirmed view counts it.
  Json bal = post(*rpc, {{"action", "account_balance"}, {"account", encode_account(a.pub)}});
  EXPECT_EQ(bal["receivable"], "0");
  bal = post(*rpc, {{"action", "account_balance"},
                    {"account", encode_account(a.pub)},
                    {"include_only_confirmed", "false"}});
  EXPECT_EQ(bal["receivable"], "1000");
  EXPECT_EQ(
      post(*rpc,
           {{"action", "process"}, {"json_block", true}, {"block", block_to_json(send)}})["error"],
      "Old block");
  Json w = post(*rpc, {{"action", "work_generate"}, {"hash", std::string(64, '1')}});
  EXPECT_TRUE(w.contains("work")) << w.dump();
}

TEST_F(NanoNodeTest, ABlockProcessedThroughOneNodeReachesAnotherOverTheOverlay) {
  Accepted at_b;
  NanoNodeOptions oa = base();
  oa.overlay = overlay::NodeOptions{};
  oa.rpc = overlay::SocketAddress{"127.0.0.1", 0};
  auto a = NanoNode::start(oa);
  ASSERT_TRUE(a.ok()) << a.error().message();
  NanoNodeOptions ob = base();
  ob.overlay = overlay::NodeOptions{};
  ob.bootstrap.push_back(*(*a)->server()->listen_address());
  ob.on_accepted = at_b.hook();
  auto b = NanoNode::start(ob);
  ASSERT_TRUE(b.ok()) << b.error().message();
  // Wait until a's link to b carries content-addressed SHOUTs (a SHOUT made
  // before that would not go to b), then publish.
  ASSERT_TRUE(link_ready(*(*a)->server(), 10s));
  EXPECT_FALSE(post(*(*a)->rpc_address(), {{"action", "peers"}})["peers"].empty());
  const Key k = key_of(4);
  Block send = genesis_send(k.pub, 5, net_.genesis_hash, net_.genesis_amount);
  Block send2 = genesis_send(k.pub, 5, block_hash(send), net_.genesis_amount - 5);
  // The second first: a waits for the first, then both go out.
  for (const Block& blk : {send2, send}) {
    post(*(*a)->rpc_address(),
         {{"action", "process"}, {"json_block", true}, {"block", block_to_json(blk)}});
  }
  ASSERT_TRUE(at_b.wait_for(2, 10s)) << "both blocks reach the second node";
  auto r = (*b)->store().begin_read();
  EXPECT_TRUE(r->block_exists(block_hash(send2)));
  EXPECT_TRUE(check_ledger(*r, net_).ok());
}

Result<void> submit_and_wait(NanoNode& node, const Block& b) {
  std::promise<std::optional<BlockStatus>> status;
  auto queued = node.ledger().submit(b, BlockSource::kLocal,
                                     [&](std::optional<BlockStatus> s) { status.set_value(s); });
  if (!queued.ok()) return queued.error();
  auto f = status.get_future();
  if (f.wait_for(10s) != std::future_status::ready) return io_error("not processed in 10 s");
  auto s = f.get();
  if (s != BlockStatus::kProgress)
    return invalid_argument(s ? std::string(block_status_name(*s)) : "dropped");
  return {};
}

// nano-node's confirmation_height tests: one representative with all the
// weight confirms its own blocks, cements dependencies first, and keeps
// the final vote it gave across a restart.
TEST_F(NanoNodeTest, ARepresentativeConfirmsItsBlocksAndKeepsItsFinalVotesAcrossRestarts) {
  TempDir dir;
  const Key k = key_of(3);
  const Block send = genesis_send(k.pub, 10, net_.genesis_hash, net_.genesis_amount);
  const Block open = state(k, kZero, k.pub, 10, block_hash(send));
  Events events;
  {
    NanoNodeOptions o = base();
    o.data_dir = dir.path();
    o.map_size_bytes = 64 << 20;
    o.elections.representatives = {g_.priv};
    o.listeners = {events.listener()};
    auto node = NanoNode::start(o);
    ASSERT_TRUE(node.ok()) << node.error().message();
    // The open first: it waits for the send, and its election for the
    // send's cementing.
    std::promise<void> open_done;
    ASSERT_TRUE((*node)
                    ->ledger()
                    .submit(open, BlockSource::kLocal, [&](auto) { open_done.set_value(); })
                    .ok());
    ASSERT_TRUE(submit_and_wait(**node, send).ok());
    open_done.get_future().wait();
    auto c_send = events.confirmed(block_hash(send), 10s);
    auto c_open = events.confirmed(block_hash(open), 10s);
    ASSERT_TRUE(c_send && c_open) << "both blocks confirmed";
    EXPECT_EQ(c_send->type, ConfirmationType::kActiveQuorum);
    ASSERT_TRUE(c_send->election.has_value());
    EXPECT_EQ(c_send->election->final_tally, net_.genesis_amount - 10)
        << "the genesis' final vote, with its weight after the send";
    EXPECT_EQ(c_send->amount, 10);
    EXPECT_EQ(c_send->account, g_.pub);
    auto order = events.all<BlockConfirmedEvent>();
    ASSERT_GE(order.size(), 2u);
    EXPECT_EQ(order[0].hash, block_hash(send)) << "a send is cemented before its receive";
    auto r = (*node)->store().begin_read();
    EXPECT_EQ(r->confirmation_height(g_.pub), (ConfirmationHeight{2, block_hash(send)}));
    EXPECT_EQ(r->confirmation_height(k.pub), (ConfirmationHeight{1, block_hash(open)}));
    EXPECT_EQ(r->final_vote(qualified_root(send)), block_hash(send));
    r.reset();
    EXPECT_EQ((*node)->elections().confirmed_blocks, 2u);
  }
  NanoNodeOptions o = base();
  o.data_dir = dir.path();
  o.map_size_bytes = 64 << 20;
  auto node = NanoNode::start(o);
  ASSERT_TRUE(node.ok());
  auto r = (*node)->store().begin_read();
  EXPECT_EQ(r->final_vote(qualified_root(send)), block_hash(send)) << "a promise kept";
  EXPECT_TRUE(Ledger::confirmed(*r, block_hash(open)));
}

// nano-node's fork tests (node.fork_flip, node.fork_multi_flip): two nodes,
// each holding another block of one fork, end with the heavier side's
// block on both, cemented; the lighter node rolls its block back. The two
// learn each other's block by asking (confirm_req) as nano-node does.
TEST_F(NanoNodeTest, AForkFlipsToTheHeavierBlockOnTwoNodes) {
  const Key y = key_of(20);
  const Amount share = net_.genesis_amount / 10 * 4;  // 40 % to y's representative
  const Block to_y = genesis_send(y.pub, share, net_.genesis_hash, net_.genesis_amount);
  const Block open_y = state(y, kZero, y.pub, share, block_hash(to_y));
  const Amount after = net_.genesis_amount - share;
  const Block f1 = genesis_send(key_of(21).pub, 1, block_hash(to_y), after);
  const Block f2 = genesis_send(key_of(22).pub, 2, block_hash(to_y), after);

  Events at_a, at_b;
  NanoNodeOptions oa = base();
  oa.overlay = overlay::NodeOptions{};
  oa.bootstrap_config.enabled = false;  // the votes and confirm_req decide here
  oa.elections.representatives = {g_.priv};
  oa.listeners = {at_a.listener()};
  auto a = NanoNode::start(oa);
  ASSERT_TRUE(a.ok()) << a.error().message();
  NanoNodeOptions ob = oa;
  ob.elections.representatives = {y.priv};
  ob.listeners = {at_b.listener()};
  auto b = NanoNode::start(ob);
  ASSERT_TRUE(b.ok()) << b.error().message();
  // Apart, each takes the same start and another side of the fork.
  for (auto* n : {&**a, &**b})
    for (const Block& blk : {to_y, open_y}) ASSERT_TRUE(submit_and_wait(*n, blk).ok());
  ASSERT_TRUE(submit_and_wait(**a, f1).ok());
  ASSERT_TRUE(submit_and_wait(**b, f2).ok());

  (*b)->server()->add_peer(*(*a)->server()->listen_address());
  // 60 % against 40 %: f1 is the heavier, and b switches to it.
  ASSERT_TRUE(at_a.confirmed(block_hash(f1), 20s)) << "f1 confirmed where it was";
  ASSERT_TRUE(at_b.confirmed(block_hash(f1), 20s)) << "and where f2 was";
  for (auto* n : {&**a, &**b}) {
    auto r = n->store().begin_read();
    EXPECT_TRUE(r->block_exists(block_hash(f1)));
    EXPECT_FALSE(r->block_exists(block_hash(f2)));
    EXPECT_EQ(r->confirmation_height(g_.pub).frontier, block_hash(f1));
    EXPECT_TRUE(check_ledger(*r, net_).ok());
  }
  EXPECT_TRUE(at_b.wait<ElectionStoppedEvent>(
      [&](const ElectionStoppedEvent& e) { return e.hash == block_hash(f2) && !e.expired; }, 1s))
      << "b was told its block lost";
  EXPECT_FALSE(at_a.confirmed(block_hash(f2), 0ms));
  EXPECT_EQ((*b)->elections().forks_resolved, 1u);
}

// Representatives through the DHT: a node that joins after a block was
// confirmed, linked to one peer that hosts no representative, finds the
// node hosting the genesis representative through the DHT's signed record
// and asks it (dht::Reach dials it by key), so it confirms the block it
// caught up on. Without the record it would only ask its linked peer,
// which has no votes to give.
TEST_F(NanoNodeTest, ANewNodeFindsTheRepresentativesHostThroughTheDht) {
  auto hints = [] {
    RepHintsOptions h;
    h.enabled = true;
    h.tick_ms = 50;
    h.retry_publish_ms = 100;
    h.directory.retry_ms = 100;
    return h;
  };
  const Block send = genesis_send(key_of(30).pub, 10, net_.genesis_hash, net_.genesis_amount);
  Events at_b, at_c;
  NanoNodeOptions oa = base();
  oa.overlay = overlay::NodeOptions{};
  oa.elections.representatives = {g_.priv};
  oa.rep_hints = hints();
  auto a = NanoNode::start(oa);
  ASSERT_TRUE(a.ok()) << a.error().message();
  NanoNodeOptions ob = base();
  ob.overlay = overlay::NodeOptions{};
  ob.bootstrap.push_back(*(*a)->server()->listen_address());
  ob.rep_hints = hints();
  ob.listeners = {at_b.listener()};
  auto b = NanoNode::start(ob);
  ASSERT_TRUE(b.ok()) << b.error().message();
  ASSERT_TRUE(link_ready(*(*b)->server(), 10s));
  ASSERT_TRUE(submit_and_wait(**a, send).ok());
  ASSERT_TRUE(at_b.confirmed(block_hash(send), 20s)) << "b confirms by the votes it is sent";

  // c: one outbound link, to b; nobody may link to it.
  NanoNodeOptions oc = base();
  oc.overlay = overlay::NodeOptions{};
  oc.overlay->overlay.max_outbound_links = 1;
  oc.overlay->overlay.max_inbound_links = 0;
  oc.bootstrap.push_back(*(*b)->server()->listen_address());
  oc.rep_hints = hints();
  oc.listeners = {at_c.listener()};
  auto c = NanoNode::start(oc);
  ASSERT_TRUE(c.ok()) << c.error().message();
  ASSERT_TRUE(at_c.confirmed(block_hash(send), 30s))
      << "c confirms the block it bootstrapped, with the votes of a's representative";
  const auto hosts = (*c)->representative_hosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].first, g_.pub);
  EXPECT_EQ(hosts[0].second, (*a)->server()->key());
}

// Genesis sends to `n` accounts which each open, submitted to `node`'s
// ledger directly; waits until all are in.
std::vector<Block> fill(NanoNode& node, BlockMaker& m, int n) {
  std::vector<Block> blocks;
  BlockHash head = m.net_.genesis_hash;
  Amount balance = m.net_.genesis_amount;
  for (int i = 0; i < n; ++i) {
    const Key k = key_of(static_cast<uint8_t>(100 + i));
    Block send = m.state(m.g_, head, m.g_.pub, --balance, k.pub);
    head = block_hash(send);
    blocks.push_back(send);
    blocks.push_back(m.state(k, kZero, k.pub, 1, head));
  }
  std::promise<void> all;
  auto left = std::make_shared<std::atomic<int>>(static_cast<int>(blocks.size()));
  for (const Block& b : blocks) {
    EXPECT_TRUE(node.ledger()
                    .submit(b, BlockSource::kLocal,
                            [&all, left](std::optional<BlockStatus> s) {
                              EXPECT_EQ(s, BlockStatus::kProgress);
                              if (--*left == 0) all.set_value();
                            })
                    .ok());
  }
  EXPECT_EQ(all.get_future().wait_for(30s), std::future_status::ready);
  return blocks;
}

TEST_F(NanoNodeTest, ALateJoinerCatchesUpByBootstrap) {
  NanoNodeOptions oa = base();
  oa.overlay = overlay::NodeOptions{};
  auto a = NanoNode::start(oa);
  ASSERT_TRUE(a.ok()) << a.error().message();
  const std::vector<Block> blocks = fill(**a, *this, 150);  // 300 blocks, 151 accounts
  Accepted at_b;
  NanoNodeOptions ob = base();
  ob.overlay = overlay::NodeOptions{};
  ob.bootstrap.push_back(*(*a)->server()->listen_address());
  ob.bootstrap_config.max_chain_blocks = 1;  // several chain requests per account
  ob.on_accepted = at_b.hook();
  auto b = NanoNode::start(ob);
  ASSERT_TRUE(b.ok()) << b.error().message();
  ASSERT_TRUE(at_b.wait_for(blocks.size(), 30s)) << "every block reaches the late joiner";
  auto r = (*b)->store().begin_read();
  EXPECT_EQ(r->block_count(), blocks.size() + 1);
  EXPECT_TRUE(check_ledger(*r, net_).ok());
  EXPECT_GE((*b)->bootstrap_stats().blocks_received, blocks.size());
}

// A peer that answers bootstrap requests with lies: frontiers whose heads
// do not exist, and chains of forged or garbled blocks, or that stalls.
enum class Lie { kForge, kGarble, kStall };

class Liar {
 public:
  explicit Liar(BlockMaker& m, Lie lie) {
    overlay::NodeOptions o;
    o.overlay.network_id = m.net_.overlay_network_id();
    o.overlay.content_shout_apps.push_back(kNanoPublishApp);
    auto created = overlay::Node::create(o);
    EXPECT_TRUE(created.ok());
    node_ = std::move(created.value());
    forged_ = m.state(m.g_, m.net_.genesis_hash, m.g_.pub, 5, key_of(200).pub);
    forged_.signature[3] ^= 1;
    overlay::AppHandlers h;
    h.on_stream = [this, lie](const overlay::StreamRequest& r, overlay::StreamWriter w) {
      auto req = parse_bootstrap_request(r.payload);
      if (!req.ok()) return (void)w.fail("?");
      if (lie == Lie::kStall) {
        stalled_.push_back(w);  // open, silent, never finished
        return;
      }
      if (std::holds_alternative<FrontiersRequest>(*req)) {
        std::vector<Frontier> page;
        for (uint8_t i = 1; i <= 10; ++i) page.emplace_back(PublicKey{i}, BlockHash{i, 7});
        (void)w.write(serialize_frontiers(page));
        (void)w.finish();
        return;
      }
      if (lie == Lie::kGarble) {
        (void)w.write(Bytes{6, 1, 2, 3});
      } else {
        (void)w.write(serialize_typed_block(forged_));
      }
      (void)w.finish();
    };
    EXPECT_TRUE(node_->register_app(kNanoBootstrapApp, std::move(h)).ok());
    EXPECT_TRUE(node_->start().ok());
  }
  ~Liar() { node_->stop(); }
  overlay::SocketAddress address() { return *node_->listen_address(); }

 private:
  std::unique_ptr<overlay::Node> node_;
  Block forged_;
  std::vector<overlay::StreamWriter> stalled_;  // the loop thread's
};

TEST_F(NanoNodeTest, LyingPeersArePenalizedAndTheNodeCompletesFromAnHonestOne) {
  NanoNodeOptions oa = base();
  oa.overlay = overlay::NodeOptions{};
  auto honest = NanoNode::start(oa);
  ASSERT_TRUE(honest.ok());
  const std::vector<Block> blocks = fill(**honest, *this, 40);
  Liar forger(*this, Lie::kForge);
  Liar garbler(*this, Lie::kGarble);
  Liar staller(*this, Lie::kStall);
  Accepted at_b;
  NanoNodeOptions ob = base();
  ob.overlay = overlay::NodeOptions{};
  ob.overlay->overlay.stream_idle_timeout_ms = 300;  // a stalled stream ends soon
  ob.bootstrap = {forger.address(), garbler.address(), staller.address(),
                  *(*honest)->server()->listen_address()};
  ob.on_accepted = at_b.hook();
  auto b = NanoNode::start(ob);
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(at_b.wait_for(blocks.size(), 30s)) << "completes from the honest peer";
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while ((*b)->bootstrap_stats().sessions_failed < 3 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);  // the liars' sessions end on their own; bounded
  EXPECT_GE((*b)->bootstrap_stats().sessions_failed, 3u) << "forger, garbler and staller";
  auto r = (*b)->store().begin_read();
  EXPECT_EQ(r->block_count(), blocks.size() + 1);
  EXPECT_TRUE(check_ledger(*r, net_).ok());
  EXPECT_FALSE(r->block_exists(BlockHash{1, 7}));
}

TEST_F(NanoNodeTest, APeerOfAnotherNanoNetworkIsRefusedAtItsHello) {
  // Same overlay network id ("nano/dev"), another genesis: only the NANO
  // hello can tell them apart.
  NetworkParams other = net_;
  other.genesis_hash[0] ^= 1;
  NanoNodeOptions oa = base();
  oa.overlay = overlay::NodeOptions{};
  auto a = NanoNode::start(oa);
  ASSERT_TRUE(a.ok());
  NanoNodeOptions ob = base();
  ob.network = &other;
  ob.overlay = overlay::NodeOptions{};
  ob.bootstrap_config.enabled = false;
  ob.bootstrap.push_back(*(*a)->server()->listen_address());
  auto b = NanoNode::start(ob);
  ASSERT_TRUE(b.ok());
  // The link comes up, the hellos cross, and it goes down; b stays away.
  // Whichever side reads the other's hello first refuses (the other may see
  // only the close), so a ban on either side counts.
  auto on_loop = [](NanoNode& n, auto fn) {
    std::promise<decltype(fn())> p;
    auto f = p.get_future();
    n.server()->post([&] { p.set_value(fn()); });
    return f.get();
  };
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    const size_t linked = on_loop(**a, [&] { return (*a)->server()->peers().size(); });
    const uint64_t bans = on_loop(**a, [&] { return (*a)->server()->stats().bans; }) +
                          on_loop(**b, [&] { return (*b)->server()->stats().bans; });
    refused = linked == 0 && bans >= 1;
    if (!refused) std::this_thread::sleep_for(10ms);  // bounded by the deadline
  }
  EXPECT_TRUE(refused) << "the link went down and one side banned the other network's peer";
  // And a peer of the same network is not refused.
  NanoNodeOptions oc = base();
  oc.overlay = overlay::NodeOptions{};
  oc.bootstrap.push_back(*(*a)->server()->listen_address());
  auto c = NanoNode::start(oc);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(link_ready(*(*c)->server(), 10s));
}

}  // namespace
}  // namespace chorus::nano
