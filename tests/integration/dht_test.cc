// dht::Dht on real loopback UDP: several nodes, each a DHT on its overlay
// node's loop, driven through the public API only.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "chorus/dht/dht.h"
#include "chorus/dht/patch.h"
#include "harness.h"

namespace chorus::itest {
namespace {

using dht::Dht;
using dht::DhtOptions;
using dht::OpResult;

DhtOptions test_options() {
  DhtOptions o;
  // Fresh nodes must grant locks at once; production waits a minute.
  o.config.lock_grace_after_start_ms = 0;
  return o;
}

struct DhtNode {
  std::shared_ptr<PeerWatch> watch = std::make_shared<PeerWatch>();
  std::unique_ptr<Node> node;
  std::unique_ptr<Dht> dht;  // declared after `node`: destroyed first

  Dht* operator->() const { return dht.get(); }
  dht::Address addr() const { return *dht->address(); }
  size_t table_size() const {
    return on_loop(*node, [d = dht.get()] { return d->table_size(); });
  }
  dht::DhtStats stats() const {
    return on_loop(*node, [d = dht.get()] { return d->stats(); });
  }
};

NodeOptions node_options() {
  NodeOptions no;
  no.overlay = fast_config();
  return no;
}

DhtNode start_dht_node(DhtOptions options = test_options(), NodeOptions no = node_options()) {
  DhtNode n;
  auto created = Node::create(std::move(no));
  if (!created) throw std::runtime_error("Node::create: " + created.error().to_string());
  n.node = std::move(*created);
  auto d = Dht::create(*n.node, std::move(options));
  if (!d) throw std::runtime_error("Dht::create: " + d.error().to_string());
  n.dht = std::move(*d);
  n.watch->attach(*n.node);
  if (auto r = n.node->start(); !r) throw std::runtime_error("start: " + r.error().to_string());
  if (auto r = n.dht->start(); !r) throw std::runtime_error("Dht::start: " + r.error().to_string());
  return n;
}

// Issues one operation through `issue(callback)` and waits for its result.
template <typename Issue>
Result<OpResult> call(Issue issue) {
  auto p = std::make_shared<std::promise<Result<OpResult>>>();
  auto f = p->get_future();
  issue([p](Result<OpResult> r) { p->set_value(std::move(r)); });
  return await(f, kWait, "a DHT operation");
}

struct CasOutcome {
  Result<OpResult> result;
  uint64_t current_version;
};

const dht::Value* find_value(const OpResult& r, const Bytes& data) {
  for (const auto& v : r.values)
    if (v.data == data) return &v;
  return nullptr;
}

class DhtTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }

  // `count` nodes; every one after the first bootstraps from node 0.
  void start_swarm(size_t count) {
    nodes_.push_back(start_dht_node());
    for (size_t i = 1; i < count; ++i) {
      nodes_.push_back(start_dht_node());
      auto r = call([&](auto cb) { nodes_[i]->bootstrap(nodes_[0].addr(), cb); });
      ASSERT_TRUE(r.ok()) << r.error().to_string();
    }
    // Each later node's self-lookup reaches every earlier one, so tables are
    // complete once the last bootstrap is done.
    for (size_t i = 0; i < count; ++i) {
      EXPECT_EQ(nodes_[i].table_size(), count - 1) << "node " << i;
    }
  }

  std::vector<DhtNode> nodes_;
};

TEST_F(DhtTest, PutOnOneNodeGetOnAnother) {
  start_swarm(5);
  dht::Key key = dht::key_for("itest/put-get");
  Bytes data = text("hello dht");
  auto put = call([&](auto cb) { nodes_[1]->put(key, dht::Value{7, data, 600}, cb); });
  ASSERT_TRUE(put.ok()) << put.error().to_string();
  EXPECT_GE(put->acks, 3u);

  auto got = call([&](auto cb) { nodes_[3]->get(key, cb); });
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  const dht::Value* v = find_value(*got, data);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->id, 7u);

  auto missing = call([&](auto cb) { nodes_[2]->get(dht::key_for("itest/nothing"), cb); });
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kNotFound);
}

TEST_F(DhtTest, SignedValueKeepsHighestSequenceOfItsOwner) {
  start_swarm(5);
  dht::Key key = dht::key_for("itest/signed");
  auto first = call([&](auto cb) { nodes_[1]->put_signed(key, text("v5"), 5, 600, cb); });
  ASSERT_TRUE(first.ok()) << first.error().to_string();

  // An older sequence from the owner is refused everywhere.
  auto older = call([&](auto cb) { nodes_[1]->put_signed(key, text("v3"), 3, 600, cb); });
  ASSERT_FALSE(older.ok());
  EXPECT_EQ(older.error().code(), ErrorCode::kRefused) << older.error().to_string();

  // Someone else's signed value under the key has its own slot: it cannot
  // pass for the owner's (their signature is over their own key).
  auto other = call([&](auto cb) { nodes_[2]->put_signed(key, text("forged"), 99, 600, cb); });
  ASSERT_TRUE(other.ok()) << other.error().to_string();

  auto got = call([&](auto cb) { nodes_[4]->get(key, cb); });
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_EQ(got->signed_values.size(), 2u);
  for (const auto& sv : got->signed_values) {
    if (sv.owner == nodes_[1].node->key()) {
      EXPECT_EQ(sv.seq, 5u);
      EXPECT_EQ(sv.data, text("v5"));
    } else {
      EXPECT_EQ(sv.owner, nodes_[2].node->key());
      EXPECT_EQ(sv.data, text("forged"));
    }
  }
}

TEST_F(DhtTest, LockIsExclusiveAndTokensGrow) {
  start_swarm(5);
  dht::Key key = dht::key_for("itest/lock");
  auto a = call([&](auto cb) { nodes_[1]->lock(key, 30'000, cb); });
  ASSERT_TRUE(a.ok()) << a.error().to_string();
  EXPECT_GT(a->number, 0u);

  auto b = call([&](auto cb) { nodes_[2]->lock(key, 30'000, cb); });
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code(), ErrorCode::kRefused) << b.error().to_string();

  auto released = call([&](auto cb) { nodes_[1]->release(key, a->number, cb); });
  ASSERT_TRUE(released.ok()) << released.error().to_string();

  auto b2 = call([&](auto cb) { nodes_[2]->lock(key, 30'000, cb); });
  ASSERT_TRUE(b2.ok()) << b2.error().to_string();
  EXPECT_GT(b2->number, a->number);
}

// Dht::hold over real sockets: a one-second lease is renewed in the
// background for several seconds, so another node is refused all along;
// release_hold frees it at once; stopping the Dht ends a hold with kCancelled.
TEST_F(DhtTest, HoldRenewsUntilReleasedAndStopEndsIt) {
  start_swarm(5);
  dht::Key key = dht::key_for("itest/hold");
  auto acquired = std::make_shared<std::promise<Result<dht::HoldGrant>>>();
  auto lost = std::make_shared<std::promise<Error>>();
  auto got = acquired->get_future();
  dht::HoldHandle h = nodes_[1]->hold(
      key, 1000, [acquired](Result<dht::HoldGrant> r) { acquired->set_value(std::move(r)); },
      [lost](Error e) { lost->set_value(std::move(e)); });
  auto grant = await(got, kWait, "the hold's lock");
  ASSERT_TRUE(grant.ok()) << grant.error().to_string();
  EXPECT_GT(grant->fencing_token, 0u);
  EXPECT_GT(grant->remaining_ms, 0);
  EXPECT_LE(grant->remaining_ms, 1000);

  // Three lease lengths: without renewals the lease would have run out.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(3000);
  int refused = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto other = call([&](auto cb) { nodes_[2]->lock(key, 1000, cb); });
    ASSERT_FALSE(other.ok()) << "another node got a held lock after " << refused << " refusals";
    EXPECT_EQ(other.error().code(), ErrorCode::kRefused) << other.error().to_string();
    ++refused;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // pacing, not waiting
  }
  EXPECT_GE(refused, 3);

  auto released = call([&](auto cb) { nodes_[1]->release_hold(h, cb); });
  ASSERT_TRUE(released.ok()) << released.error().to_string();
  auto again = call([&](auto cb) { nodes_[1]->release_hold(h, cb); });
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code(), ErrorCode::kNotFound);
  auto next = call([&](auto cb) { nodes_[2]->lock(key, 30'000, cb); });
  ASSERT_TRUE(next.ok()) << next.error().to_string();
  EXPECT_GT(next->number, grant->fencing_token);

  // A second hold ends with kCancelled when its Dht stops.
  auto acquired2 = std::make_shared<std::promise<Result<dht::HoldGrant>>>();
  auto lost2 = std::make_shared<std::promise<Error>>();
  auto got2 = acquired2->get_future();
  auto lost2_f = lost2->get_future();
  nodes_[3]->hold(
      dht::key_for("itest/hold2"), 30'000,
      [acquired2](Result<dht::HoldGrant> r) { acquired2->set_value(std::move(r)); },
      [lost2](Error e) { lost2->set_value(std::move(e)); });
  ASSERT_TRUE(await(got2, kWait, "the second hold").ok());
  nodes_[3]->stop();
  Error e = await(lost2_f, kWait, "the second hold's end");
  EXPECT_EQ(e.code(), ErrorCode::kCancelled) << e.to_string();
  // The first hold was released, not lost: its `lost` never ran.
  EXPECT_EQ(lost->get_future().wait_for(std::chrono::seconds(0)), std::future_status::timeout);
}

TEST_F(DhtTest, CasRaceHasOneWinnerAndDiffBuildsOnIt) {
  start_swarm(5);
  dht::Key key = dht::key_for("itest/cas");
  Bytes data_a(300, 'a'), data_b(300, 'b');
  // Both issued before either can finish: a real race at the replicas.
  std::vector<std::promise<CasOutcome>> ps(2);
  auto fa = ps[0].get_future(), fb = ps[1].get_future();
  nodes_[1]->compare_and_set(key, 0, data_a, 600, [&ps](Result<OpResult> r, uint64_t v) {
    ps[0].set_value(CasOutcome{std::move(r), v});
  });
  nodes_[2]->compare_and_set(key, 0, data_b, 600, [&ps](Result<OpResult> r, uint64_t v) {
    ps[1].set_value(CasOutcome{std::move(r), v});
  });
  CasOutcome ra = await(fa, kWait, "CAS a"), rb = await(fb, kWait, "CAS b");
  ASSERT_EQ(ra.result.ok() + rb.result.ok(), 1)
      << (ra.result ? std::string("a ok") : ra.result.error().to_string()) << " / "
      << (rb.result ? std::string("b ok") : rb.result.error().to_string());
  const CasOutcome& lost = ra.result.ok() ? rb : ra;
  EXPECT_EQ(lost.result.error().code(), ErrorCode::kRefused);
  const Bytes& winner = ra.result.ok() ? data_a : data_b;
  EXPECT_EQ((ra.result.ok() ? ra : rb).result->number, 1u);

  // A small edit on top of the winner, sent as a patch.
  Bytes next = winner;
  next[150] = 'X';  // prefix and suffix are copied, one byte inserted
  Bytes patch = dht::make_patch(winner, next);
  ASSERT_LT(patch.size(), next.size());
  auto p = std::make_shared<std::promise<CasOutcome>>();
  auto fd = p->get_future();
  nodes_[3]->apply_diff(key, 1, patch, overlay::blake2b_256(next), 600,
                        [p](Result<OpResult> r, uint64_t v) {
                          p->set_value(CasOutcome{std::move(r), v});
                        });
  CasOutcome diff = await(fd, kWait, "apply_diff");
  ASSERT_TRUE(diff.result.ok()) << diff.result.error().to_string();
  EXPECT_EQ(diff.result->number, 2u);

  auto got = call([&](auto cb) { nodes_[4]->get(key, cb); });
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  ASSERT_TRUE(got->versioned.has_value());
  EXPECT_EQ(got->versioned->version, 2u);
  EXPECT_EQ(got->versioned->data, next);

  // A CAS against the old version is refused and says what is current.
  auto q = std::make_shared<std::promise<CasOutcome>>();
  auto fq = q->get_future();
  nodes_[0]->compare_and_set(key, 1, text("late"), 600, [q](Result<OpResult> r, uint64_t v) {
    q->set_value(CasOutcome{std::move(r), v});
  });
  CasOutcome late = await(fq, kWait, "stale CAS");
  ASSERT_FALSE(late.result.ok());
  EXPECT_EQ(late.current_version, 2u);
}

TEST_F(DhtTest, ListenSeesALaterPut) {
  start_swarm(5);
  dht::Key key = dht::key_for("itest/listen");
  ASSERT_TRUE(call([&](auto cb) {
                nodes_[3]->put(key, dht::Value{1, text("first"), 600}, cb);
              }).ok());

  std::mutex mu;
  std::condition_variable cv;
  std::vector<Bytes> seen;
  auto handle = nodes_[2]->listen(key, [&](const dht::ListenEvent& ev) {
    std::lock_guard<std::mutex> g(mu);
    for (const auto& v : ev.values) seen.push_back(v.data);
    cv.notify_all();
  });
  auto wait_for = [&](const Bytes& want) {
    std::unique_lock<std::mutex> g(mu);
    return cv.wait_for(g, kWait,
                       [&] { return std::find(seen.begin(), seen.end(), want) != seen.end(); });
  };
  ASSERT_TRUE(wait_for(text("first")));  // what was there when the listen began
  // The listen's registrations left before this get's requests, on the same
  // socket to the same replicas: once it completes, they are registered.
  ASSERT_TRUE(call([&](auto cb) { nodes_[2]->get(key, cb); }).ok());

  ASSERT_TRUE(call([&](auto cb) {
                nodes_[3]->put(key, dht::Value{2, text("later"), 600}, cb);
              }).ok());
  EXPECT_TRUE(wait_for(text("later")));

  auto ended = std::make_shared<std::promise<Error>>();
  auto fe = ended->get_future();
  auto h2 = nodes_[4]->listen(
      key, [](const dht::ListenEvent&) {}, [ended](Error e) { ended->set_value(e); });
  nodes_[4]->cancel(h2);
  EXPECT_EQ(await(fe, kWait, "listen end").code(), ErrorCode::kCancelled);
  nodes_[2]->cancel(handle);
}

TEST_F(DhtTest, GarbageDatagramsAreIgnored) {
  start_swarm(3);
  dht::Address target = nodes_[1].addr();
  auto before = nodes_[1].stats();

  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ASSERT_GE(fd, 0);
  int sndbuf = 1 << 20;
  ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(target.port);
  ASSERT_EQ(::inet_pton(AF_INET, target.host.c_str(), &sa.sin_addr), 1);
  Bytes junk = random_bytes(1000);
  Bytes huge = random_bytes(65000);  // near the IPv4 UDP maximum
  Bytes looks_right = random_bytes(200);
  looks_right[0] = 'C';  // the envelope's magic, then garbage
  looks_right[1] = 'D';
  looks_right[2] = 1;
  for (const Bytes* b : {&junk, &huge, &looks_right}) {
    ASSERT_EQ(::sendto(fd, b->data(), b->size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa),
              static_cast<ssize_t>(b->size()))
        << std::strerror(errno);
  }
  ::close(fd);

  // Loopback delivers at sendto(), so the garbage is queued before any
  // answer this put needs: once it completes, node 1 has read all three.
  dht::Key key = dht::key_for("itest/after-garbage");
  auto put = call([&](auto cb) {
    nodes_[1]->put(key, dht::Value{1, text("still here"), 600}, cb);
  });
  ASSERT_TRUE(put.ok()) << put.error().to_string();
  auto after = nodes_[1].stats();
  EXPECT_GE(after.dropped_bad - before.dropped_bad, 3u);
  auto got = call([&](auto cb) { nodes_[2]->get(key, cb); });
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_NE(find_value(*got, text("still here")), nullptr);
}

TEST_F(DhtTest, StopCancelsOperationsInFlight) {
  DhtNode n = start_dht_node();
  // Nobody answers on port 9 (discard): the bootstrap waits for its timeout.
  auto pending = std::make_shared<std::promise<Result<OpResult>>>();
  auto fp = pending->get_future();
  n->bootstrap(dht::Address{"127.0.0.1", 9},
               [pending](Result<OpResult> r) { pending->set_value(std::move(r)); });
  auto ended = std::make_shared<std::promise<Error>>();
  auto fe = ended->get_future();
  n->listen(
      dht::key_for("x"), [](const dht::ListenEvent&) {}, [ended](Error e) { ended->set_value(e); });
  // The commands are queued on the loop before stop's own task.
  n->stop();
  auto r = await(fp, kWait, "cancelled bootstrap");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(await(fe, kWait, "listen end").code(), ErrorCode::kCancelled);

  // After stop: still exactly one callback, kCancelled.
  auto late = call([&](auto cb) { n->get(dht::key_for("x"), cb); });
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), ErrorCode::kCancelled);
  n->stop();  // idempotent
}

TEST_F(DhtTest, NodeStopAlsoStopsTheDht) {
  DhtNode n = start_dht_node();
  auto pending = std::make_shared<std::promise<Result<OpResult>>>();
  auto fp = pending->get_future();
  n->bootstrap(dht::Address{"127.0.0.1", 9},
               [pending](Result<OpResult> r) { pending->set_value(std::move(r)); });
  n.node->stop();
  auto r = await(fp, kWait, "cancelled bootstrap");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
  // The loop is gone: the callback runs on this thread, once, cancelled.
  auto late = call([&](auto cb) { n->get(dht::key_for("x"), cb); });
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code(), ErrorCode::kCancelled);
}

TEST_F(DhtTest, LearnsContactsFromOverlayPeers) {
  // No DHT bootstrap at all: the overlay links are the only introduction.
  DhtNode first = start_dht_node();
  std::vector<DhtNode> more;
  for (int i = 0; i < 2; ++i) {
    NodeOptions no;
    no.overlay = fast_config();
    no.overlay.bootstrap.push_back(*first.node->listen_address());
    more.push_back(start_dht_node(test_options(), std::move(no)));
  }
  // The DHT's peer hook runs in the same dispatch as on_peer, before any
  // command posted after it.
  for (auto& n : more) ASSERT_TRUE(n.watch->wait_up(first.node->key()));
  ASSERT_TRUE(first.watch->wait_count(2));

  dht::Key key = dht::key_for("itest/learned");
  auto put = call([&](auto cb) { more[0]->put(key, dht::Value{1, text("via overlay"), 600}, cb); });
  ASSERT_TRUE(put.ok()) << put.error().to_string();
  EXPECT_EQ(put->acks, 3u);  // first, more[1] (learned through first) and itself
  auto got = call([&](auto cb) { more[1]->get(key, cb); });
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_NE(find_value(*got, text("via overlay")), nullptr);
}

TEST_F(DhtTest, InitiateOnlyNodeIsReadOnlyClient) {
  start_swarm(3);
  NodeOptions no;
  no.overlay = fast_config();
  no.listen.reset();
  DhtNode client = start_dht_node(test_options(), std::move(no));
  EXPECT_EQ(client.addr().host, "127.0.0.1");
  auto boot = call([&](auto cb) { client->bootstrap(nodes_[0].addr(), cb); });
  ASSERT_TRUE(boot.ok()) << boot.error().to_string();

  dht::Key key = dht::key_for("itest/client");
  auto put = call([&](auto cb) { client->put(key, dht::Value{1, text("from client"), 600}, cb); });
  ASSERT_TRUE(put.ok()) << put.error().to_string();
  EXPECT_EQ(put->acks, 3u);
  auto got = call([&](auto cb) { nodes_[2]->get(key, cb); });
  ASSERT_TRUE(got.ok()) << got.error().to_string();
  EXPECT_NE(find_value(*got, text("from client")), nullptr);
  // Read-only: nobody put it into their routing table.
  for (auto& n : nodes_) EXPECT_EQ(n.table_size(), 2u);
}

}  // namespace
}  // namespace chorus::itest
