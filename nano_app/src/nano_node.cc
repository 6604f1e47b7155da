#include "chorus/nano/nano_node.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <mutex>
#include <set>

#include "bootstrap.h"
#include "chorus/nano/lmdb_store.h"
#include "chorus/nano/memory_store.h"
#include "chorus/web/http_server.h"
#include "chorus/web/loop_thread.h"

namespace chorus::nano {
namespace {

uint64_t wall_clock_s() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

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
    overlay::Node* n = node->get();
    (*node)->on_peer([this, n](const PublicKey& peer, bool up, const std::string&) {
      if (up) n->send(kNanoPublishApp, peer, hello());
      for (auto& l : peer_listeners_) l(peer, up);
    });
    auto started = (*node)->start();
    if (!started.ok()) return started.error();
    node_ = std::move(*node);
    for (const auto& a : o_.bootstrap) node_->add_peer(a);
    return {};
  }
  void stop() override {
    if (node_) node_->stop();
    node_.reset();
  }
  overlay::Node* node() { return node_.get(); }
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
    auto submitted =
        ledger_.service().submit(*block, BlockSource::kLive, [this, held, hash](auto status) {
          if (!status) return held->drop();
          switch (*status) {
            case BlockStatus::kProgress:
              return held->forward();
            case BlockStatus::kBadSignature:
            case BlockStatus::kInsufficientWork:
              return held->penalize();  // provably bad, whatever the ledger holds
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
  std::set<BlockHash> deferred_;  // under mu_; bounded like unchecked
  std::vector<std::function<void(const PublicKey&, bool)>> peer_listeners_;
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

class RpcComponent final : public Component {
 public:
  RpcComponent(const NanoNodeOptions& o, StoreComponent& store, LedgerComponent& ledger,
               WorkComponent& work, ServerComponent* server)
      : o_(o), store_(store), ledger_(ledger), work_(work), server_(server) {}

  Result<void> start() override {
    RpcServices s;
    s.process = [this](const Block& b, std::function<void(std::optional<BlockStatus>)> done) {
      auto r = ledger_.service().submit(b, BlockSource::kLocal, done);
      if (!r.ok()) done(std::nullopt);
    };
    s.work_generate = [this](const Hash32& root, uint64_t difficulty,
                             std::function<void(std::optional<uint64_t>)> done) {
      auto r = work_.pool().generate(root, difficulty, done);
      if (!r.ok()) done(std::nullopt);
    };
    s.work_cancel = [this](const Hash32& root) { work_.pool().cancel(root); };
    s.unchecked_count = [this] { return ledger_.service().unchecked_count(); };
    if (server_) s.peers = [this] { return peers(); };
    rpc_ = std::make_unique<RpcHandler>(*o_.network, store_.store(), std::move(s), o_.rpc_limits);

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

  std::vector<RpcServices::Peer> peers() {
    auto done = std::make_shared<std::promise<std::vector<overlay::PeerInfo>>>();
    auto f = done->get_future();
    overlay::Node* node = server_->node();
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

  const NanoNodeOptions& o_;
  StoreComponent& store_;
  LedgerComponent& ledger_;
  WorkComponent& work_;
  ServerComponent* server_;
  std::unique_ptr<RpcHandler> rpc_;
  std::unique_ptr<web::LoopThread> loop_;
  std::unique_ptr<web::HttpServer> http_;  // the loop thread's
  std::optional<overlay::SocketAddress> address_;
};

}  // namespace

struct NanoNode::Parts {
  NanoNodeOptions options;
  System system;
  StoreComponent* store = nullptr;
  LedgerComponent* ledger = nullptr;
  WorkComponent* work = nullptr;
  ServerComponent* server = nullptr;
  BootstrapComponent* bootstrap = nullptr;
  RpcComponent* rpc = nullptr;
};

Result<std::unique_ptr<NanoNode>> NanoNode::start(NanoNodeOptions options) {
  if (!options.network) return invalid_argument("nano node: no network");
  if (!options.now_s) options.now_s = wall_clock_s;
  auto parts = std::make_unique<Parts>();
  parts->options = std::move(options);
  const NanoNodeOptions& o = parts->options;
  System& sys = parts->system;
  // Every add below names dependencies added before it, so none can fail.
  parts->store = *sys.add("store", std::make_unique<StoreComponent>(o));
  parts->ledger =
      *sys.add("ledger", std::make_unique<LedgerComponent>(o, *parts->store), {"store"});
  if (o.on_accepted) parts->ledger->subscribe(o.on_accepted);
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
  if (o.rpc) {
    std::vector<std::string> deps{"store", "ledger", "work"};
    if (parts->server) deps.push_back("server");
    parts->rpc = *sys.add("rpc",
                          std::make_unique<RpcComponent>(o, *parts->store, *parts->ledger,
                                                         *parts->work, parts->server),
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
std::optional<overlay::SocketAddress> NanoNode::rpc_address() const {
  return parts_->rpc ? parts_->rpc->address() : std::nullopt;
}
std::vector<std::pair<std::string, std::vector<std::string>>> NanoNode::components() const {
  return parts_->system.graph();
}

}  // namespace chorus::nano
