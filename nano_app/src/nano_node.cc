#include "chorus/nano/nano_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "bootstrap.h"
#include "chorus/metrics/metrics_endpoint.h"
#include "chorus/metrics/node_metrics.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/lmdb_store.h"
#include "chorus/nano/memory_store.h"
#include "chorus/web/http_server.h"
#include "chorus/web/latency_histograms.h"
#include "chorus/web/loop_thread.h"
#include "clock.h"
#include "election_driver.h"
#include "ipc_server.h"
#include "rep_hints.h"
#include "websocket_server.h"

namespace chorus::nano {
namespace {

// The listeners of NodeEvents. Dispatch holds the lock, so that a listener
// removed is never called afterwards; listeners never call back into it.
class EventHub {
 public:
  uint64_t add(NodeEventListener l) {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_.emplace(next_, std::move(l));
    return next_++;
  }
  void remove(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    listeners_.erase(id);
  }
  void emit(const NodeEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, l] : listeners_) l(e);
  }

 private:
  std::mutex mu_;
  std::map<uint64_t, NodeEventListener> listeners_;
  uint64_t next_ = 1;
};

class StoreComponent final : public Component {
 public:
  explicit StoreComponent(const NanoNodeOptions& o) : o_(o) {}
  Result<void> start() override {
    if (o_.data_dir.empty()) {
      store_ = make_memory_store();
      return {};
    }
    LmdbOptions lo;
    lo.directory = o_.data_dir;
    lo.map_size_bytes = o_.map_size_bytes;
    lo.sync = o_.sync;
    auto s = open_lmdb_store(lo);
    if (!s.ok()) return s.error();
    store_ = std::move(*s);
    return {};
  }
  void stop() override { store_.reset(); }  // closes the environment
  LedgerStore& store() { return *store_; }

 private:
  const NanoNodeOptions& o_;
  std::unique_ptr<LedgerStore> store_;
};

class LedgerComponent final : public Component {
 public:
  LedgerComponent(const NanoNodeOptions& o, StoreComponent& store) : o_(o), store_(store) {}
  Result<void> start() override {
    service_ = std::make_unique<LedgerService>(*o_.network, store_.store(), o_.processor, o_.now_s);
    for (auto& s : subscribers_) service_->subscribe(s);
    auto r = service_->start();
    if (!r.ok()) service_.reset();
    return r;
  }
  void stop() override { service_.reset(); }
  // Before start.
  void subscribe(LedgerService::Subscriber s) { subscribers_.push_back(std::move(s)); }
  LedgerService& service() { return *service_; }

 private:
  const NanoNodeOptions& o_;
  StoreComponent& store_;
  std::vector<LedgerService::Subscriber> subscribers_;
  std::unique_ptr<LedgerService> service_;
};

class WorkComponent final : public Component {
 public:
  explicit WorkComponent(const NanoNodeOptions& o) : o_(o) {}
  Result<void> start() override {
    pool_ = std::make_unique<WorkPool>(o_.work);
    return {};
  }
  void stop() override { pool_.reset(); }
  WorkPool& pool() { return *pool_; }

 private:
  const NanoNodeOptions& o_;
  std::unique_ptr<WorkPool> pool_;
};

// The overlay binding: blocks in and out as content-addressed SHOUTs.
class ServerComponent final : public Component {
 public:
  ServerComponent(const NanoNodeOptions& o, LedgerComponent& ledger) : o_(o), ledger_(ledger) {
    // Accepted blocks nobody has passed on yet go out: this node's own, and
    // peers' blocks that had to wait for a dependency (their SHOUT was
    // dropped unforwarded while they waited).
    ledger_.subscribe([this](const ProcessedBlock& b) {
      bool send = b.source == BlockSource::kLocal;
      {
        std::lock_guard<std::mutex> lock(mu_);
        send = deferred_.erase(b.hash) != 0 || send;
      }
      if (send && node_) node_->shout(kNanoPublishApp, serialize_typed_block(b.block));
    });
  }

  Result<void> start() override {
    overlay::NodeOptions no = *o_.overlay;
    no.overlay.network_id = o_.network->overlay_network_id();
    no.overlay.content_shout_apps.push_back(kNanoPublishApp);
    no.overlay.content_shout_apps.push_back(kNanoVoteApp);
    auto node = overlay::Node::create(no);
    if (!node.ok()) return node.error();
    overlay::AppHandlers h;
    h.validate_shout = [this](const overlay::ShoutInfo& info, overlay::ShoutVerdict verdict) {
      return on_block(info, std::move(verdict));
    };
    h.on_direct = [this, n = node->get()](const overlay::DirectInfo& d) {
      on_hello(*n, d.from, d.payload);
    };
    auto reg = (*node)->register_app(kNanoPublishApp, std::move(h));
    if (!reg.ok()) return reg.error();
    overlay::AppHandlers votes;
    votes.validate_shout = [this](const overlay::ShoutInfo& info, overlay::ShoutVerdict verdict) {
      return on_vote(info, std::move(verdict));
    };
    votes.on_whisper = [this](const overlay::WhisperInfo& w, overlay::Responder r) {
      on_confirm_req(w, std::move(r));
    };
    reg = (*node)->register_app(kNanoVoteApp, std::move(votes));
    if (!reg.ok()) return reg.error();
    overlay::Node* n = node->get();
    (*node)->on_peer([this, n](const PublicKey& peer, bool up, const std::string&) {
      if (up) n->send(kNanoPublishApp, peer, hello());
      for (auto& l : peer_listeners_) l(peer, up);
    });
    if (o_.rep_hints.enabled) {
      RepHints::Context c;
      c.node = n;
      c.network = o_.network;
      c.store = &ledger_.service().store();
      c.representatives = o_.elections.representatives;
      c.options = o_.rep_hints;
      auto attached = RepHints::attach(std::move(c));
      if (!attached.ok()) return attached.error();
      hints_ = std::move(*attached);
    }
    auto started = (*node)->start();
    if (!started.ok()) {
      hints_.reset();
      return started.error();
    }
    node_ = std::move(*node);
    if (hints_) {
      if (auto r = hints_->start(); !r.ok()) {
        stop();
        return r.error();
      }
    }
    for (const auto& a : o_.bootstrap) node_->add_peer(a);
    return {};
  }
  void stop() override {
    if (hints_) hints_->stop();  // the DHT borrows the node: it stops first
    if (node_) node_->stop();
    hints_.reset();
    node_.reset();
  }
  // Representative -> hosting node, as the DHT told (any thread but the
  // loop's; empty without hints).
  std::vector<std::pair<PublicKey, PublicKey>> representative_hosts() {
    if (!node_ || !hints_) return {};
    auto p = std::make_shared<std::promise<std::vector<std::pair<PublicKey, PublicKey>>>>();
    auto f = p->get_future();
    node_->post([this, p] { p->set_value(hints_->known()); }, [p] { p->set_value({}); });
    if (f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return {};
    return f.get();
  }
  overlay::Node* node() { return node_.get(); }
  // The node's loop thread only: the representatives' DHT (null without).
  const dht::Dht* rep_dht() const { return hints_ ? hints_->dht() : nullptr; }
  // The elections, once they run (null before and after).
  void set_elections(std::shared_ptr<ElectionDriver> d) {
    std::lock_guard<std::mutex> lock(mu_);
    elections_ = std::move(d);
  }
  // Sends a vote of a hosted representative (any thread).
  void broadcast_vote(const Vote& v) {
    Message m;
    m.header = header(MessageType::kConfirmAck);
    m.payload = ConfirmAck{v, false};
    auto bytes = serialize_message(m);
    if (bytes.ok() && node_) node_->shout(kNanoVoteApp, *bytes);
  }
  // Publishes a block again (any thread): peers that hold it drop the copy.
  void republish(const Block& b) {
    if (node_) node_->shout(kNanoPublishApp, serialize_typed_block(b));
  }
  // Before start: told of every link up and down, on the loop thread.
  void add_peer_listener(std::function<void(const PublicKey&, bool)> l) {
    peer_listeners_.push_back(std::move(l));
  }

 private:
  overlay::ShoutDecision on_block(const overlay::ShoutInfo& info, overlay::ShoutVerdict verdict) {
    auto block = parse_typed_block(info.payload);
    if (!block.ok()) return overlay::ShoutDecision::kPenalize;
    auto held = std::make_shared<overlay::ShoutVerdict>(std::move(verdict));
    const BlockHash hash = block_hash(*block);
    auto submitted = ledger_.service().submit(
        *block, BlockSource::kLive, [this, held, hash, b = *block](auto status) {
          if (!status) return held->drop();
          switch (*status) {
            case BlockStatus::kProgress:
              return held->forward();
            case BlockStatus::kBadSignature:
            case BlockStatus::kInsufficientWork:
              return held->penalize();  // provably bad, whatever the ledger holds
            case BlockStatus::kFork:
              return fork(b, held);
            case BlockStatus::kGapPrevious:
            case BlockStatus::kGapSource:
            case BlockStatus::kGapEpochOpenPending:
              remember(hash);  // passed on once it is accepted
              return held->drop();
            default:
              return held->drop();  // old, or not valid on this ledger (yet)
          }
        });
    if (!submitted.ok()) return overlay::ShoutDecision::kDrop;
    return overlay::ShoutDecision::kLater;
  }

  // A fork travels on when it joined an election here: every node must
  // see every block competing for a root to count the votes for it.
  void fork(const Block& block, std::shared_ptr<overlay::ShoutVerdict> held) {
    auto d = elections();
    if (!d) return held->drop();
    d->fork_seen(block, [held](bool taken) { taken ? held->forward() : held->drop(); });
  }

  // A vote: checked and counted by the elections before it travels on. A
  // bad signature costs the sender; a replay, or a vote of a key with no
  // weight here, goes no further.
  overlay::ShoutDecision on_vote(const overlay::ShoutInfo& info, overlay::ShoutVerdict verdict) {
    auto msg = parse_message(info.payload);
    if (!msg.ok() || msg->header.network != network_id()) return overlay::ShoutDecision::kPenalize;
    auto* ack = std::get_if<ConfirmAck>(&msg->payload);
    if (!ack) return overlay::ShoutDecision::kPenalize;
    auto d = elections();
    if (!d) return overlay::ShoutDecision::kDrop;
    auto held = std::make_shared<overlay::ShoutVerdict>(std::move(verdict));
    d->vote_received(std::move(ack->vote), [held](VoteCode code, bool representative) {
      if (code == VoteCode::kInvalid) return held->penalize();
      if (representative && (code == VoteCode::kVote || code == VoteCode::kIndeterminate))
        return held->forward();
      held->drop();
    });
    return overlay::ShoutDecision::kLater;
  }
  std::shared_ptr<ElectionDriver> elections() {
    std::lock_guard<std::mutex> lock(mu_);
    return elections_;
  }

 public:
  // confirm_req (spec/nano.md, "Asking for votes"): a request to each of up
  // to kVotePeers linked peers; those hosting representatives answer with
  // their votes, which are counted here and not passed on.
  void request_votes(std::vector<ConfirmReq::Pair> pairs) {
    overlay::Node* node = node_.get();
    if (!node || pairs.empty()) return;
    Message m;
    m.header = header(MessageType::kConfirmReq);
    m.payload = ConfirmReq{std::move(pairs)};
    auto bytes = serialize_message(m);
    if (!bytes.ok()) return;
    node->post([this, node, payload = std::move(*bytes)] {
      // The nodes the DHT says host the heaviest representatives (reached
      // wherever they are), then linked peers at random (which answer when
      // they host one).
      const std::vector<PublicKey> hosts =
          hints_ ? hints_->hosts(kVoteHosts) : std::vector<PublicKey>{};
      std::vector<PublicKey> targets = hosts;
      auto peers = node->peers();
      std::shuffle(peers.begin(), peers.end(), rng_);
      size_t linked = 0;
      for (const auto& p : peers) {
        if (linked == kVotePeers) break;
        if (std::find(targets.begin(), targets.end(), p.key) != targets.end()) continue;
        targets.push_back(p.key);
        ++linked;
      }
      for (size_t i = 0; i < targets.size(); ++i) {
        auto on_reply = [this](Result<Bytes> reply) {
          if (!reply.ok()) return;
          auto d = elections();
          if (!d) return;
          VoteAnswer a = parse_answer(*reply);
          // A block we hold a fork of: the ledger says kFork and it joins
          // the election, where the votes that come with it count.
          for (const Block& b : a.blocks) {
            (void)ledger_.service().submit(b, BlockSource::kLive, [this, b](auto status) {
              if (status && *status == BlockStatus::kFork)
                if (auto e = elections()) e->fork_seen(b);
            });
          }
          for (Vote& v : a.votes) d->vote_received(std::move(v), nullptr);
        };
        if (i < hosts.size()) {
          hints_->request(kNanoVoteApp, targets[i], payload, 2000, std::move(on_reply));
        } else {
          overlay::RequestOptions ro;
          ro.timeout_ms = 2000;
          node->request(kNanoVoteApp, targets[i], payload, ro, std::move(on_reply));
        }
      }
    });
  }

 private:
  static constexpr size_t kVotePeers = 8;
  static constexpr size_t kVoteHosts = 8;
  static constexpr size_t kMaxVotesPerAnswer = 64;

  void on_confirm_req(const overlay::WhisperInfo& w, overlay::Responder r) {
    if (!w.is_request) return;
    auto msg = parse_message(w.payload);
    auto* req = msg.ok() ? std::get_if<ConfirmReq>(&msg->payload) : nullptr;
    auto d = elections();
    if (!req || msg->header.network != network_id() || !d) {
      (void)r.reply({});
      return;
    }
    auto held = std::make_shared<overlay::Responder>(std::move(r));
    d->answer_request(std::move(req->pairs),
                      [this, held](VoteAnswer answer) { (void)held->reply(answer_bytes(answer)); });
  }
  // An answer: publish messages (the blocks) then confirm_ack messages
  // (the votes), each after its u16 big-endian length.
  Bytes answer_bytes(const VoteAnswer& a) const {
    Bytes out;
    auto put = [&](Message m) {
      auto b = serialize_message(m);
      if (!b.ok()) return;
      out.push_back(static_cast<uint8_t>(b->size() >> 8));
      out.push_back(static_cast<uint8_t>(b->size()));
      out.insert(out.end(), b->begin(), b->end());
    };
    for (size_t i = 0; i < a.blocks.size() && i < ElectionDriver::kMaxAnswerBlocks; ++i)
      put(Message{header(MessageType::kPublish), Publish{a.blocks[i], false}});
    for (size_t i = 0; i < a.votes.size() && i < kMaxVotesPerAnswer; ++i)
      put(Message{header(MessageType::kConfirmAck), ConfirmAck{a.votes[i], false}});
    return out;
  }
  VoteAnswer parse_answer(ByteView in) const {
    VoteAnswer out;
    size_t at = 0;
    while (at + 2 <= in.size() && out.votes.size() < kMaxVotesPerAnswer &&
           out.blocks.size() <= ElectionDriver::kMaxAnswerBlocks) {
      const size_t n = size_t{in[at]} << 8 | in[at + 1];
      at += 2;
      if (n > in.size() - at) break;
      auto m = parse_message(in.subspan(at, n));
      at += n;
      if (!m.ok() || m->header.network != network_id()) break;
      if (auto* ack = std::get_if<ConfirmAck>(&m->payload))
        out.votes.push_back(std::move(ack->vote));
      if (auto* pub = std::get_if<Publish>(&m->payload)) out.blocks.push_back(pub->block);
    }
    return out;
  }
  uint16_t network_id() const {
    return static_cast<uint16_t>(o_.network->magic[0] << 8 | o_.network->magic[1]);
  }
  Header header(MessageType type) const {
    Header h;
    h.network = network_id();
    h.version_max = o_.network->protocol_version;
    h.version_using = o_.network->protocol_version;
    h.version_min = o_.network->protocol_version_min;
    h.type = type;
    return h;
  }

  // The NANO hello, sent as a DIRECT to each peer at link-up: 'H', the
  // network magic, the genesis hash, the newest and oldest protocol
  // versions spoken. A peer on another NANO network (same overlay network
  // id, other genesis, or versions that do not meet) is disconnected and
  // kept away for ten minutes.
  Bytes hello() const {
    Bytes b(37);
    b[0] = 'H';
    b[1] = o_.network->magic[0];
    b[2] = o_.network->magic[1];
    std::copy(o_.network->genesis_hash.begin(), o_.network->genesis_hash.end(), b.begin() + 3);
    b[35] = o_.network->protocol_version;
    b[36] = o_.network->protocol_version_min;
    return b;
  }
  void on_hello(overlay::Node& node, const PublicKey& from, ByteView p) {
    const NetworkParams& net = *o_.network;
    std::string refusal;
    if (p.size() != 37 || p[0] != 'H') {
      refusal = "malformed NANO hello";
    } else if (p[1] != net.magic[0] || p[2] != net.magic[1]) {
      refusal = "another NANO network (magic)";
    } else if (!std::equal(net.genesis_hash.begin(), net.genesis_hash.end(), p.begin() + 3)) {
      refusal = "another NANO network (genesis)";
    } else if (p[35] < net.protocol_version_min || p[36] > net.protocol_version) {
      refusal = "NANO protocol versions " + std::to_string(p[36]) + ".." + std::to_string(p[35]) +
                " do not meet ours";
    }
    if (refusal.empty()) return;
    spdlog::warn("nano: refusing a peer: {}", refusal);
    node.ban(from, 600'000);
    node.disconnect(from, refusal);
  }

  void remember(const BlockHash& hash) {
    std::lock_guard<std::mutex> lock(mu_);
    if (deferred_.size() >= o_.processor.max_unchecked) deferred_.clear();
    deferred_.insert(hash);
  }

  const NanoNodeOptions& o_;
  LedgerComponent& ledger_;
  std::mutex mu_;
  std::set<BlockHash> deferred_;                 // under mu_; bounded like unchecked
  std::shared_ptr<ElectionDriver> elections_;    // under mu_
  std::mt19937_64 rng_{std::random_device{}()};  // the loop thread's
  std::vector<std::function<void(const PublicKey&, bool)>> peer_listeners_;
  std::unique_ptr<RepHints> hints_;  // set before node_ starts, reset after it stops
  std::unique_ptr<overlay::Node> node_;
};

// Frontiers and chains over overlay streams, serving and catching up.
class BootstrapComponent final : public Component {
 public:
  BootstrapComponent(const NanoNodeOptions& o, StoreComponent& store, LedgerComponent& ledger,
                     ServerComponent& server)
      : o_(o), store_(store), ledger_(ledger), server_(server) {
    server_.add_peer_listener([this](const PublicKey& peer, bool up) {
      // The loop thread: bootstrap_ is set and reset there too.
      if (bootstrap_) bootstrap_->on_peer(peer, up);
    });
  }
  Result<void> start() override {
    overlay::Node* node = server_.node();
    auto b =
        std::make_shared<Bootstrap>(o_.bootstrap_config, store_.store(), ledger_.service(), *node);
    auto reg = node->register_app(kNanoBootstrapApp, b->handlers());
    if (!reg.ok()) return reg.error();
    std::promise<void> set;
    node->post(
        [&] {
          bootstrap_ = b;
          // Links that came up before this component started.
          for (const auto& p : node->peers()) bootstrap_->on_peer(p.key, true);
          set.set_value();
        },
        [&] { set.set_value(); });
    set.get_future().wait();
    stats_source_ = b;
    return {};
  }
  void stop() override {
    overlay::Node* node = server_.node();
    (void)node->unregister_app(kNanoBootstrapApp);
    std::promise<void> cleared;
    node->post(
        [&] {
          bootstrap_.reset();
          cleared.set_value();
        },
        [&] { cleared.set_value(); });
    cleared.get_future().wait();
  }
  BootstrapStats stats() const {
    auto b = stats_source_.lock();
    return b ? b->stats() : BootstrapStats{};
  }

 private:
  const NanoNodeOptions& o_;
  StoreComponent& store_;
  LedgerComponent& ledger_;
  ServerComponent& server_;
  std::shared_ptr<Bootstrap> bootstrap_;  // the loop thread's
  std::weak_ptr<Bootstrap> stats_source_;
};

// Open Representative Voting: the election driver, fed by the ledger and
// the overlay, voting for the representatives this node hosts.
class ElectionsComponent final : public Component {
 public:
  ElectionsComponent(const NanoNodeOptions& o, LedgerComponent& ledger, ServerComponent* server,
                     EventHub& events)
      : o_(o), ledger_(ledger), server_(server), events_(events) {
    ledger_.subscribe([this](const ProcessedBlock& b) {
      std::lock_guard<std::mutex> lock(mu_);
      if (driver_) driver_->block_accepted(b.hash);
    });
  }
  Result<void> start() override {
    ElectionDriverConfig c;
    c.active = o_.elections.active;
    c.generator = o_.elections.generator;
    c.tick_ms = o_.elections.tick_ms;
    c.revote_ms = o_.elections.revote_ms;
    c.max_history = o_.elections.max_history;
    ElectionDriver::Hooks h;
    if (server_) {
      h.broadcast = [s = server_](const Vote& v) { s->broadcast_vote(v); };
      h.request_votes = [s = server_](std::vector<ConfirmReq::Pair> p) {
        s->request_votes(std::move(p));
      };
      h.republish = [s = server_](const Block& b) { s->republish(b); };
    }
    h.emit = [hub = &events_](const NodeEvent& e) { hub->emit(e); };
    h.now_ms = steady_ms;
    h.wall_ms = wall_ms;
    auto d = ElectionDriver::start(ledger_.service(), o_.elections.representatives, c, h);
    if (!d.ok()) return d.error();
    std::shared_ptr<ElectionDriver> driver = std::move(*d);
    {
      std::lock_guard<std::mutex> lock(mu_);
      driver_ = driver;
    }
    if (server_) server_->set_elections(driver);
    return {};
  }
  void stop() override {
    if (server_) server_->set_elections(nullptr);
    std::shared_ptr<ElectionDriver> d;
    {
      std::lock_guard<std::mutex> lock(mu_);
      d.swap(driver_);
    }
    if (d) d->stop();
  }
  std::shared_ptr<ElectionDriver> driver() {
    std::lock_guard<std::mutex> lock(mu_);
    return driver_;
  }

 private:
  const NanoNodeOptions& o_;
  LedgerComponent& ledger_;
  ServerComponent* server_;
  EventHub& events_;
  std::mutex mu_;
  std::shared_ptr<ElectionDriver> driver_;  // under mu_
};

// The overlay's links as the RPC lists them: asked on the overlay's
// thread, waited for at most a second.
std::vector<RpcServices::Peer> rpc_peers(ServerComponent& server) {
  auto done = std::make_shared<std::promise<std::vector<overlay::PeerInfo>>>();
  auto f = done->get_future();
  overlay::Node* node = server.node();
  node->post([node, done] { done->set_value(node->peers()); }, [done] { done->set_value({}); });
  std::vector<RpcServices::Peer> out;
  if (f.wait_for(std::chrono::seconds(1)) != std::future_status::ready) return out;
  for (const auto& p : f.get()) {
    const uint16_t port = p.listen_port != 0 ? p.listen_port : p.remote.port;
    out.push_back(
        {p.remote.host + ":" + std::to_string(port), to_hex_upper(p.key), p.content_shouts});
  }
  return out;
}

// What the RPC's actions act on. The RPC and the IPC (a second encoding
// of the same actions) each hold a handler over them.
RpcServices rpc_services(LedgerComponent& ledger, WorkComponent& work, ServerComponent* server,
                         ElectionsComponent* elections) {
  RpcServices s;
  s.process = [&ledger](const Block& b, std::function<void(std::optional<BlockStatus>)> done) {
    auto r = ledger.service().submit(b, BlockSource::kLocal, done);
    if (!r.ok()) done(std::nullopt);
  };
  s.work_generate = [&work](const Hash32& root, uint64_t difficulty,
                            std::function<void(std::optional<uint64_t>)> done) {
    auto r = work.pool().generate(root, difficulty, done);
    if (!r.ok()) done(std::nullopt);
  };
  s.work_cancel = [&work](const Hash32& root) { work.pool().cancel(root); };
  s.unchecked_count = [&ledger] { return ledger.service().unchecked_count(); };
  if (server) s.peers = [server] { return rpc_peers(*server); };
  if (elections) {
    s.elections = [elections] {
      auto d = elections->driver();
      return d ? d->snapshot() : ElectionsSnapshot{};
    };
    s.election = [elections](const BlockHash& h) -> std::optional<ElectionView> {
      auto d = elections->driver();
      return d ? d->election(h) : std::nullopt;
    };
    s.block_confirm = [elections](const BlockHash& h) {
      auto d = elections->driver();
      return d && d->confirm_block(h);
    };
    s.cemented_count = [elections]() -> uint64_t {
      auto d = elections->driver();
      return d ? d->cemented_count() : 0;
    };
  }
  return s;
}

class RpcComponent final : public Component {
 public:
  RpcComponent(const NanoNodeOptions& o, StoreComponent& store, LedgerComponent& ledger,
               WorkComponent& work, ServerComponent* server, ElectionsComponent* elections)
      : o_(o),
        store_(store),
        ledger_(ledger),
        work_(work),
        server_(server),
        elections_(elections) {}

  Result<void> start() override {
    rpc_ = std::make_unique<RpcHandler>(*o_.network, store_.store(),
                                        rpc_services(ledger_, work_, server_, elections_),
                                        o_.rpc_limits);
    rpc_->set_observer([this](std::string_view action, std::chrono::nanoseconds took) {
      latency_.record(action, std::chrono::duration<double>(took).count());
    });

    auto loop = web::LoopThread::start("rpc");
    if (!loop.ok()) return loop.error();
    loop_ = std::move(*loop);
    std::promise<Result<uint16_t>> listening;
    auto port = listening.get_future();
    web::HttpServerOptions ho;
    ho.host = o_.rpc->host;
    ho.port = o_.rpc->port;
    ho.max_body_bytes = o_.rpc_limits.max_body_bytes;
    loop_->post([&](uv_loop_s* uv) {
      auto server =
          web::HttpServer::start(uv, ho, [this](const web::HttpRequest& req, web::Responder reply) {
            answer(req, std::move(reply));
          });
      if (!server.ok()) return listening.set_value(server.error());
      http_ = std::move(*server);
      listening.set_value(http_->port());
    });
    auto bound = port.get();
    if (!bound.ok()) {
      loop_->stop();
      loop_.reset();
      return bound.error();
    }
    address_ = overlay::SocketAddress{o_.rpc->host, *bound};
    return {};
  }

  void stop() override {
    if (loop_) loop_->stop([this] { http_->stop(); });
    loop_.reset();
    http_.reset();  // after its loop has finished
    rpc_.reset();
  }
  std::optional<overlay::SocketAddress> address() const { return address_; }
  // Any thread: how long the answers took, by action.
  const web::LatencyHistograms& latency() const { return latency_; }

 private:
  // Runs on the RPC loop; the answer may come from the ledger or a work
  // thread, and goes back to the loop to be sent.
  void answer(const web::HttpRequest& req, web::Responder reply) {
    web::LoopThread* loop = loop_.get();
    rpc_->handle(
        req.body,
        [loop, reply](std::string text) {
          web::HttpResponse r{200, "application/json", std::move(text)};
          if (loop->on_loop_thread()) return reply(std::move(r));
          loop->post([reply, r = std::move(r)](uv_loop_s*) mutable { reply(std::move(r)); });
        },
        req.peer);
  }

  const NanoNodeOptions& o_;
  StoreComponent& store_;
  LedgerComponent& ledger_;
  WorkComponent& work_;
  ServerComponent* server_;
  ElectionsComponent* elections_;
  std::unique_ptr<RpcHandler> rpc_;
  std::unique_ptr<web::LoopThread> loop_;
  std::unique_ptr<web::HttpServer> http_;  // the loop thread's
  std::optional<overlay::SocketAddress> address_;
  web::LatencyHistograms latency_{RpcHandler::action_names(), "unknown"};
};

// The WebSocket API (websocket_server.h): every NodeEvent goes to the
// server, which drops at once those of topics nobody subscribes to.
class WebSocketComponent final : public Component {
 public:
  WebSocketComponent(const NanoNodeOptions& o, StoreComponent& store, LedgerComponent& ledger,
                     ServerComponent* server, EventHub& events)
      : o_(o), store_(store), ledger_(ledger), server_(server), events_(events) {}
  Result<void> start() override {
    WebSocketServerContext c;
    c.listen = *o_.websocket;
    c.config = o_.websocket_config;
    for (const auto& k : o_.elections.representatives)
      c.config.local_accounts.push_back(public_key(k));
    c.network = o_.network;
    c.store = &store_.store();
    c.unchecked_count = [this] { return ledger_.service().unchecked_count(); };
    c.overlay = server_ ? server_->node() : nullptr;
    auto s = WebSocketServer::start(std::move(c));
    if (!s.ok()) return s.error();
    ws_ = std::move(*s);
    listener_ = events_.add([ws = ws_.get()](const NodeEvent& e) { ws->post(e); });
    return {};
  }
  void stop() override {
    events_.remove(listener_);  // not called again once this returns
    ws_.reset();
  }
  std::optional<overlay::SocketAddress> address() const {
    return ws_ ? std::optional(ws_->address()) : std::nullopt;
  }

 private:
  const NanoNodeOptions& o_;
  StoreComponent& store_;
  LedgerComponent& ledger_;
  ServerComponent* server_;
  EventHub& events_;
  std::unique_ptr<WebSocketServer> ws_;
  uint64_t listener_ = 0;
};

// The IPC (ipc_server.h): the RPC's actions through a handler of its own,
// and confirmations to the connections subscribed to them.
class IpcComponent final : public Component {
 public:
  IpcComponent(const NanoNodeOptions& o, StoreComponent& store, LedgerComponent& ledger,
               WorkComponent& work, ServerComponent* server, ElectionsComponent* elections,
               EventHub& events)
      : o_(o),
        store_(store),
        ledger_(ledger),
        work_(work),
        server_(server),
        elections_(elections),
        events_(events) {}
  Result<void> start() override {
    IpcServerContext c;
    c.socket_path = o_.ipc_socket;
    c.tcp = o_.ipc_tcp;
    c.rpc = std::make_unique<RpcHandler>(*o_.network, store_.store(),
                                         rpc_services(ledger_, work_, server_, elections_),
                                         o_.rpc_limits);
    c.subscribe = [this](NodeEventListener l) { return events_.add(std::move(l)); };
    c.unsubscribe = [this](uint64_t id) { events_.remove(id); };
    c.on_stop = o_.on_ipc_stop;
    auto s = IpcServer::start(std::move(c));
    if (!s.ok()) return s.error();
    ipc_ = std::move(*s);
    return {};
  }
  void stop() override { ipc_.reset(); }
  std::optional<overlay::SocketAddress> tcp_address() const {
    return ipc_ ? ipc_->tcp_address() : std::nullopt;
  }
  std::optional<std::string> socket_path() const {
    if (!ipc_ || ipc_->socket_path().empty()) return std::nullopt;
    return ipc_->socket_path();
  }

 private:
  const NanoNodeOptions& o_;
  StoreComponent& store_;
  LedgerComponent& ledger_;
  WorkComponent& work_;
  ServerComponent* server_;
  ElectionsComponent* elections_;
  EventHub& events_;
  std::unique_ptr<IpcServer> ipc_;
};

// GET /metrics (docs/metrics.md) on a thread of its own, as the overlay is
// optional: the node's figures read where any thread may read them, and the
// overlay's and the DHT's read on the overlay's loop for each scrape.
class MetricsComponent final : public Component {
 public:
  MetricsComponent(const NanoNodeOptions& o, StoreComponent& store, LedgerComponent& ledger,
                   ServerComponent* server, BootstrapComponent* bootstrap, RpcComponent* rpc)
      : o_(o), store_(store), ledger_(ledger), server_(server), bootstrap_(bootstrap), rpc_(rpc) {}

  Result<void> start() override {
    auto e =
        metrics::MetricsEndpoint::start(o_.metrics, [this](web::MetricsText& m) { collect(m); });
    if (!e.ok()) return e.error();
    endpoint_ = std::move(*e);
    auto bound = endpoint_->wait_listening();
    if (!bound.ok()) return bound.error();
    address_ = *bound;
    return {};
  }
  void stop() override { endpoint_.reset(); }
  const std::string& address() const { return address_; }

 private:
  void collect(web::MetricsText& m) {
    auto d = [](uint64_t v) { return static_cast<double>(v); };
    if (server_ && server_->node()) {
      ServerComponent* server = server_;
      auto part = metrics::collect_on_node_loop(*server->node(), [server](web::MetricsText& t) {
        metrics::append_overlay_metrics(t, *server->node());
        if (const dht::Dht* rep = server->rep_dht()) metrics::append_dht_metrics(t, *rep);
      });
      // A node too busy to answer in a second still gets the rest scraped.
      if (part.ok()) m.append(*part);
    }
    {
      auto txn = store_.store().begin_read();
      m.gauge("chorus_nano_blocks", "Blocks in the ledger.", d(txn->block_count()));
      m.gauge("chorus_nano_accounts", "Accounts in the ledger.", d(txn->account_count()));
    }
    m.gauge("chorus_nano_unchecked_blocks", "Blocks waiting for what they depend on.",
            d(ledger_.service().unchecked_count()));
    if (bootstrap_) {
      const BootstrapStats b = bootstrap_->stats();
      m.counter("chorus_nano_bootstrap_sessions_total", "Bootstrap sessions, by result.",
                d(b.sessions_completed), {{"result", "completed"}});
      m.counter("chorus_nano_bootstrap_sessions_total", "", d(b.sessions_failed),
                {{"result", "failed"}});
      m.counter("chorus_nano_bootstrap_sessions_total", "",
                d(b.sessions_started -
                  std::min(b.sessions_started, b.sessions_completed + b.sessions_failed)),
                {{"result", "running"}});
      m.counter("chorus_nano_bootstrap_blocks_total", "Blocks received by bootstrap.",
                d(b.blocks_received));
    }
    if (rpc_) {
      rpc_->latency().append(m, "chorus_nano_rpc_seconds",
                             "JSON RPC answers by action (unknown: no such action), in seconds.",
                             "action");
    }
  }

  const NanoNodeOptions& o_;
  StoreComponent& store_;
  LedgerComponent& ledger_;
  ServerComponent* server_;
  BootstrapComponent* bootstrap_;
  RpcComponent* rpc_;
  std::unique_ptr<metrics::MetricsEndpoint> endpoint_;
  std::string address_;
};

}  // namespace

struct NanoNode::Parts {
  NanoNodeOptions options;
  EventHub events;
  System system;
  StoreComponent* store = nullptr;
  LedgerComponent* ledger = nullptr;
  WorkComponent* work = nullptr;
  ServerComponent* server = nullptr;
  BootstrapComponent* bootstrap = nullptr;
  ElectionsComponent* elections = nullptr;
  RpcComponent* rpc = nullptr;
  WebSocketComponent* websocket = nullptr;
  IpcComponent* ipc = nullptr;
  MetricsComponent* metrics = nullptr;
};

Result<std::unique_ptr<NanoNode>> NanoNode::start(NanoNodeOptions options) {
  if (!options.network) return invalid_argument("nano node: no network");
  if (!options.now_s) options.now_s = wall_s;
  auto parts = std::make_unique<Parts>();
  parts->options = std::move(options);
  const NanoNodeOptions& o = parts->options;
  System& sys = parts->system;
  // Every add below names dependencies added before it, so none can fail.
  parts->store = *sys.add("store", std::make_unique<StoreComponent>(o));
  parts->ledger =
      *sys.add("ledger", std::make_unique<LedgerComponent>(o, *parts->store), {"store"});
  if (o.on_accepted) parts->ledger->subscribe(o.on_accepted);
  for (const auto& l : o.listeners) parts->events.add(l);
  parts->ledger->subscribe([hub = &parts->events](const ProcessedBlock& b) {
    hub->emit(BlockAcceptedEvent{b.block, b.hash});
  });
  parts->work = *sys.add("work", std::make_unique<WorkComponent>(o));
  if (o.overlay) {
    parts->server =
        *sys.add("server", std::make_unique<ServerComponent>(o, *parts->ledger), {"ledger"});
    if (o.bootstrap_config.enabled) {
      parts->bootstrap = *sys.add(
          "bootstrap",
          std::make_unique<BootstrapComponent>(o, *parts->store, *parts->ledger, *parts->server),
          {"store", "ledger", "server"});
    }
  }
  if (o.elections.enabled) {
    std::vector<std::string> deps{"ledger"};
    if (parts->server) deps.push_back("server");
    parts->elections = *sys.add(
        "elections",
        std::make_unique<ElectionsComponent>(o, *parts->ledger, parts->server, parts->events),
        deps);
  }
  if (o.rpc) {
    std::vector<std::string> deps{"store", "ledger", "work"};
    if (parts->server) deps.push_back("server");
    if (parts->elections) deps.push_back("elections");
    parts->rpc =
        *sys.add("rpc",
                 std::make_unique<RpcComponent>(o, *parts->store, *parts->ledger, *parts->work,
                                                parts->server, parts->elections),
                 deps);
  }
  if (o.websocket) {
    std::vector<std::string> deps{"store", "ledger"};
    if (parts->server) deps.push_back("server");
    parts->websocket = *sys.add("websocket",
                                std::make_unique<WebSocketComponent>(
                                    o, *parts->store, *parts->ledger, parts->server, parts->events),
                                deps);
  }
  if (!o.ipc_socket.empty() || o.ipc_tcp) {
    std::vector<std::string> deps{"store", "ledger", "work"};
    if (parts->server) deps.push_back("server");
    if (parts->elections) deps.push_back("elections");
    parts->ipc =
        *sys.add("ipc",
                 std::make_unique<IpcComponent>(o, *parts->store, *parts->ledger, *parts->work,
                                                parts->server, parts->elections, parts->events),
                 deps);
  }
  if (!o.metrics.empty()) {
    // Last: it reads every other component.
    std::vector<std::string> deps;
    for (const auto& [name, depends_on] : sys.graph()) deps.push_back(name);
    parts->metrics =
        *sys.add("metrics",
                 std::make_unique<MetricsComponent>(o, *parts->store, *parts->ledger, parts->server,
                                                    parts->bootstrap, parts->rpc),
                 deps);
  }
  auto started = sys.start();
  if (!started.ok()) return started.error();
  return std::unique_ptr<NanoNode>(new NanoNode(std::move(parts)));
}

NanoNode::NanoNode(std::unique_ptr<Parts> parts) : parts_(std::move(parts)) {}
NanoNode::~NanoNode() {
  stop();
}
void NanoNode::stop() {
  parts_->system.stop();
}
LedgerService& NanoNode::ledger() {
  return parts_->ledger->service();
}
LedgerStore& NanoNode::store() {
  return parts_->store->store();
}
WorkPool& NanoNode::work() {
  return parts_->work->pool();
}
overlay::Node* NanoNode::server() {
  return parts_->server ? parts_->server->node() : nullptr;
}
BootstrapStats NanoNode::bootstrap_stats() const {
  return parts_->bootstrap ? parts_->bootstrap->stats() : BootstrapStats{};
}
ElectionsSnapshot NanoNode::elections() {
  auto d = parts_->elections ? parts_->elections->driver() : nullptr;
  return d ? d->snapshot() : ElectionsSnapshot{};
}
std::vector<std::pair<PublicKey, PublicKey>> NanoNode::representative_hosts() {
  return parts_->server ? parts_->server->representative_hosts()
                        : std::vector<std::pair<PublicKey, PublicKey>>{};
}
std::optional<std::string> NanoNode::metrics_address() const {
  if (!parts_->metrics) return std::nullopt;
  return parts_->metrics->address();
}
std::optional<overlay::SocketAddress> NanoNode::rpc_address() const {
  return parts_->rpc ? parts_->rpc->address() : std::nullopt;
}
std::optional<overlay::SocketAddress> NanoNode::websocket_address() const {
  return parts_->websocket ? parts_->websocket->address() : std::nullopt;
}
std::optional<overlay::SocketAddress> NanoNode::ipc_tcp_address() const {
  return parts_->ipc ? parts_->ipc->tcp_address() : std::nullopt;
}
std::optional<std::string> NanoNode::ipc_socket_path() const {
  return parts_->ipc ? parts_->ipc->socket_path() : std::nullopt;
}
uint64_t NanoNode::subscribe(NodeEventListener listener) {
  return parts_->events.add(std::move(listener));
}
void NanoNode::unsubscribe(uint64_t id) {
  parts_->events.remove(id);
}
std::vector<std::pair<std::string, std::vector<std::string>>> NanoNode::components() const {
  return parts_->system.graph();
}

}  // namespace chorus::nano
