// Link management between real nodes: no link to self, one link per pair,
// reconnecting after a restart, keys kept in a key file, clean stops.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "harness.h"
#include "inbox.h"

namespace chorus::itest {
namespace {

namespace fs = std::filesystem;
constexpr AppId kApp = 7;

class LinksTest : public ::testing::Test {
 protected:
  void SetUp() override { quiet_logs(); }
};

// A port nobody listens on right now (bound once, then released).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    throw std::runtime_error("bind");
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  ::close(fd);
  return ntohs(sa.sin_port);
}

// Waits (bounded) for a condition evaluated on the node's loop thread. Used
// only where the node emits no event for what the test waits on.
bool eventually(Node& node, const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::mutex mu;
  std::condition_variable cv;
  while (Clock::now() < deadline) {
    if (on_loop(node, pred)) return true;
    std::unique_lock<std::mutex> g(mu);
    cv.wait_for(g, 20ms);  // next look after a maintenance tick or two
  }
  return false;
}

TEST_F(LinksTest, ConnectionToSelfIsRefused) {
  NodeOptions o;
  uint16_t port = free_port();
  o.listen = SocketAddress{"127.0.0.1", port};
  o.overlay = fast_config();
  o.overlay.bootstrap = {SocketAddress{"127.0.0.1", port}};
  TestNode a = start_node(o);
  ASSERT_EQ(a.addr().port, port);

  // Both ends of the looped link see their own key and refuse it.
  ASSERT_TRUE(eventually(
      *a, [&] { return a->stats().links_refused >= 2; }, kWait));
  EXPECT_TRUE(on_loop(*a, [&] { return a->peers().empty(); }));

  // The node is up and reachable, and does not dial itself again.
  TestNode b = start_node(fast_config(), false);
  b->add_peer(a.addr());
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  ASSERT_TRUE(ping(*b, a.key()));
  ASSERT_TRUE(ping(*a, b.key()));
  auto st = on_loop(*a, [&] { return a->stats(); });
  EXPECT_EQ(st.links_refused, 2u);
  auto peers = b.peer_keys();
  EXPECT_EQ(peers, std::vector<PublicKey>{a.key()});
  EXPECT_EQ(a.peer_keys(), std::vector<PublicKey>{b.key()});
}

TEST_F(LinksTest, TwoNodesDiallingEachOtherKeepOneLink) {
  uint16_t pa = free_port(), pb = free_port();
  ASSERT_NE(pa, pb);
  NodeOptions oa, ob;
  oa.listen = SocketAddress{"127.0.0.1", pa};
  ob.listen = SocketAddress{"127.0.0.1", pb};
  oa.overlay = fast_config();
  ob.overlay = fast_config();
  oa.overlay.bootstrap = {*ob.listen};
  ob.overlay.bootstrap = {*oa.listen};
  TestNode a = start_node(oa);
  TestNode b = start_node(ob);
  ASSERT_TRUE(a.watch->wait_up(b.key()));
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  // Several maintenance rounds pass while the pings go both ways.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(ping(*a, b.key()));
    ASSERT_TRUE(ping(*b, a.key()));
  }
  ASSERT_TRUE(eventually(
      *a, [&] { return a->stats().frames_received > 10; }, kWait));

  auto pa_info = on_loop(*a, [&] { return a->peers(); });
  auto pb_info = on_loop(*b, [&] { return b->peers(); });
  ASSERT_EQ(pa_info.size(), 1u);
  ASSERT_EQ(pb_info.size(), 1u);
  // Both kept the same TCP connection: opened by one of them, accepted by the other.
  EXPECT_NE(pa_info[0].outbound, pb_info[0].outbound);
  if (pa_info[0].outbound) {
    EXPECT_EQ(pa_info[0].remote.port, pb);
  } else {
    EXPECT_EQ(pb_info[0].remote.port, pa);
  }
  // And it is a working link.
  EXPECT_TRUE(a.watch->wait_up(b.key()));
  EXPECT_TRUE(b.watch->wait_up(a.key()));
  EXPECT_TRUE(ping(*a, b.key()));
}

TEST_F(LinksTest, InboundCapRefusesExtraLinksUntilThereIsRoom) {
  OverlayConfig ca = fast_config();
  ca.max_inbound_links = 1;
  TestNode a = start_node(ca);
  OverlayConfig cb = fast_config();
  cb.bootstrap = {a.addr()};
  auto b = std::make_unique<TestNode>(start_node(cb, false));
  ASSERT_TRUE(a.watch->wait_up(b->key()));
  PublicKey b_key = b->key();

  TestNode c = start_node(cb, false);
  ASSERT_TRUE(eventually(
      *a, [&] { return a->stats().links_refused >= 1; }, kWait));
  EXPECT_EQ(a.peer_keys(), std::vector<PublicKey>{b_key});

  b.reset();  // room again: C's next attempt gets in
  ASSERT_TRUE(a.watch->wait_down(b_key));
  ASSERT_TRUE(c.watch->wait_up(a.key()));
  EXPECT_TRUE(ping(*c, a.key()));
}

TEST_F(LinksTest, RotationReplacesLinksAndKeepsNodesConnected) {
  OverlayConfig c = fast_config();
  c.max_outbound_links = 1;
  c.rotate_interval_ms = 150;
  c.peer_exchange_interval_ms = 100;
  std::vector<TestNode> n;
  n.push_back(start_node(c));
  c.bootstrap = {n[0].addr()};
  for (int i = 0; i < 4; ++i) n.push_back(start_node(c));
  // Each node ends up replacing its one outbound link at least once.
  for (size_t i = 1; i < n.size(); ++i) {
    ASSERT_TRUE(n[i].watch->wait_down(n[0].key())) << "node " << i << " never rotated";
  }
  // And, rotating all the while, every node still has a peer it can ping.
  for (size_t i = 0; i < n.size(); ++i) {
    ASSERT_TRUE(n[i].watch->wait_count(1)) << "node " << i;
  }
  // A link may rotate away under a PING (kCancelled); a few tries suffice.
  for (size_t i = 0; i < n.size(); ++i) {
    bool answered = false;
    for (int attempt = 0; attempt < 50 && !answered; ++attempt) {
      auto keys = n[i].peer_keys();
      if (keys.empty()) {
        n[i].watch->wait_count(1);
        continue;
      }
      answered = ping(*n[i], keys.front()).ok();
    }
    EXPECT_TRUE(answered) << "node " << i;
  }
}

TEST_F(LinksTest, NodeReconnectsToARestartedBootstrapPeer) {
  NodeOptions oa;
  oa.overlay = fast_config();
  oa.identity = Identity::generate();
  auto node_a = std::make_unique<TestNode>(start_node(oa));
  SocketAddress where = node_a->addr();
  PublicKey a_key = node_a->key();
  OverlayConfig cb = fast_config();
  cb.bootstrap = {where};
  TestNode b = start_node(cb, false);
  ASSERT_TRUE(b.watch->wait_up(a_key));

  node_a.reset();  // stops A: B sees the link go down
  ASSERT_TRUE(b.watch->wait_down(a_key));

  oa.listen = where;
  TestNode a2 = start_node(oa);
  ASSERT_EQ(a2.key(), a_key);
  ASSERT_TRUE(b.watch->wait_up(a_key)) << "B did not redial its bootstrap peer";
  EXPECT_TRUE(ping(*b, a_key));
}

TEST_F(LinksTest, StopCancelsPendingCompletions) {
  AppHandlers silent;
  auto kept = std::make_shared<std::vector<Responder>>();  // never answered, never dropped
  silent.on_whisper = [kept](const WhisperInfo&, Responder r) { kept->push_back(std::move(r)); };
  TestNode a = start_node(fast_config(), true, {{kApp, silent}});
  OverlayConfig cb = fast_config();
  cb.bootstrap = {a.addr()};
  TestNode b = start_node(cb, false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));

  auto p = std::make_shared<std::promise<Result<Bytes>>>();
  auto calls = std::make_shared<std::atomic<int>>(0);
  auto f = p->get_future();
  RequestOptions o;
  o.timeout_ms = 60000;
  // The completion issues another command while the node stops; that one
  // completes too, before stop() returns.
  auto nested = std::make_shared<std::promise<Result<int64_t>>>();
  auto nested_f = nested->get_future();
  Node* bn = b.node.get();
  PublicKey a_key = a.key();
  b->request(kApp, a.key(), text("never answered"), o, [=](Result<Bytes> r) {
    if (calls->fetch_add(1) == 0) p->set_value(std::move(r));
    bn->ping(a_key, [nested](Result<int64_t> x) { nested->set_value(std::move(x)); });
  });
  ASSERT_TRUE(ping(*b, a.key()));  // the request is out
  b->stop();
  ASSERT_EQ(f.wait_for(0s), std::future_status::ready) << "stop() returned before completing";
  auto r = f.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled);
  EXPECT_EQ(calls->load(), 1);
  ASSERT_EQ(nested_f.wait_for(0s), std::future_status::ready);
  auto n = nested_f.get();
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().code(), ErrorCode::kCancelled);
  // A notices B left.
  EXPECT_TRUE(a.watch->wait_down(b.key()));
}

TEST_F(LinksTest, CommandsAfterStopCompleteWithCancelled) {
  TestNode a = start_node(fast_config());
  OverlayConfig cb = fast_config();
  cb.bootstrap = {a.addr()};
  TestNode b = start_node(cb, false);
  ASSERT_TRUE(b.watch->wait_up(a.key()));
  b->stop();

  // Whoever waits on a completion must not wait forever.
  auto p = ping(*b, a.key());
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), ErrorCode::kCancelled) << p.error().to_string();
  auto w = whisper(*b, kApp, a.key(), text("x"));
  ASSERT_FALSE(w);
  EXPECT_EQ(w.error().code(), ErrorCode::kCancelled) << w.error().to_string();
  auto r = request(*b, kApp, a.key(), text("x"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), ErrorCode::kCancelled) << r.error().to_string();
  SpeakOptions ack;
  ack.ack = true;
  auto s = speak(*b, kApp, text("x"), ack);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code(), ErrorCode::kCancelled) << s.error().to_string();
  auto done = std::make_shared<std::promise<Result<void>>>();
  auto f = done->get_future();
  b->shout(kApp, text("x"), [done](Result<void> x) { done->set_value(x); });
  auto sh = await(f, 2s, "the SHOUT completion after stop");
  ASSERT_FALSE(sh);
  EXPECT_EQ(sh.error().code(), ErrorCode::kCancelled);
}

TEST_F(LinksTest, KeyFileIsPrivateAndKeepsTheKeyAcrossRestarts) {
  std::string tmpl = (fs::temp_directory_path() / "chorus-it-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  fs::path dir = tmpl;
  fs::path key_file = dir / "node.key";

  NodeOptions o;
  o.overlay = fast_config();
  o.key_file = key_file.string();
  PublicKey first{};
  {
    TestNode a = start_node(o);
    first = a.key();
    struct stat st {};
    ASSERT_EQ(::stat(key_file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
  }
  {
    TestNode again = start_node(o);
    EXPECT_EQ(again.key(), first);
    // And it is usable: a peer links to it under that key.
    OverlayConfig cb = fast_config();
    cb.bootstrap = {again.addr()};
    TestNode b = start_node(cb, false);
    EXPECT_TRUE(b.watch->wait_up(first));
  }
  // A key file others may read is refused.
  fs::permissions(key_file, fs::perms::group_read | fs::perms::others_read, fs::perm_options::add);
  auto refused = Node::create(o);
  EXPECT_FALSE(refused);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace chorus::itest
