// NanoNode: a NANO node assembled from components (chorus::System), each
// started after what it depends on and stopped before it:
//
//   store    LMDB in `data_dir` (memory when empty)
//   ledger   LedgerService over the store: the one writer
//   work     WorkPool for work_generate
//   server   the overlay Node (only with `overlay`): publishes accepted
//            local blocks as content-addressed SHOUTs and checks every
//            block a peer SHOUTs before it is passed on
//   bootstrap  frontiers and chains over overlay streams, both ways (with
//            `overlay`, unless bootstrap_config.enabled is false)
//   rpc      nano-node's JSON RPC over HTTP (only with `rpc`), on a loop
//            thread of its own, so a slow request never delays the overlay
//   websocket  nano-node's WebSocket API (only with `websocket`,
//            spec/nano-websocket.md): NodeEvents to subscribed clients, on a
//            loop thread of its own
//   metrics  Prometheus text on GET /metrics (only with `metrics`), on a
//            thread of its own; started last, as it reads the others
//   ipc      the RPC's actions and a stream of confirmations as protobuf
//            over a Unix socket and/or loopback TCP (only with `ipc_socket`
//            or `ipc_tcp`, spec/ipc.md), on a loop thread of its own
//
// Any subset that keeps the dependencies makes a node: a ledger with a
// memory store and nothing else, an RPC over a ledger with no network.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/base/system.h"
#include "chorus/dht/dht.h"
#include "chorus/nano/active_elections.h"
#include "chorus/nano/election_status.h"
#include "chorus/nano/ledger_service.h"
#include "chorus/nano/network.h"
#include "chorus/nano/node_events.h"
#include "chorus/nano/rep_directory.h"
#include "chorus/nano/rpc_handler.h"
#include "chorus/nano/vote_generator.h"
#include "chorus/nano/websocket_api.h"
#include "chorus/nano/work_pool.h"
#include "chorus/overlay/node.h"

namespace chorus::nano {

// The overlay app that carries published blocks (content-addressed SHOUT).
inline constexpr overlay::AppId kNanoPublishApp = 0x4E50;  // "NP"
// The overlay app of bootstrap streams (bootstrap_wire.h).
inline constexpr overlay::AppId kNanoBootstrapApp = 0x4E42;  // "NB"
// The overlay app that carries votes: a confirm_ack message as nano-node
// writes it, as a content-addressed SHOUT.
inline constexpr overlay::AppId kNanoVoteApp = 0x4E56;  // "NV"

// Representatives through the DHT (spec/nano.md): a DHT on the overlay
// node's port; a signed record of each hosted representative published
// there, the heaviest representatives' records looked up, and confirm_req
// sent to the nodes hosting them as well as to linked peers. Hints only:
// weight comes from the ledger, votes are checked as any other.
struct RepHintsOptions {
  bool enabled = false;
  dht::DhtOptions dht;  // default: the overlay's listen port, over UDP
  RepDirectoryConfig directory;
  uint32_t ttl_s = 600;
  int64_t republish_ms = 300'000;    // well inside ttl_s
  int64_t retry_publish_ms = 2'000;  // after a put that reached nobody
  int64_t weights_ms = 10'000;       // the ledger's heaviest representatives re-read
  int64_t tick_ms = 500;
};

// Open Representative Voting (spec/nano.md, "Votes and elections").
struct ElectionsOptions {
  bool enabled = true;
  // The representatives this node votes for (their private keys).
  std::vector<PrivateKey> representatives;
  ActiveElectionsConfig active;
  VoteGeneratorConfig generator;
  int64_t tick_ms = 10;
  int64_t revote_ms = 1000;
  size_t max_history = 2048;  // confirmed elections kept (confirmation_history)
};

// Catching up from peers (spec/nano.md §Bootstrap): when a link comes up,
// the node asks that peer for its frontiers, then for the chains it lacks.
struct BootstrapConfig {
  bool enabled = true;
  uint32_t max_frontiers = 1'000'000;  // accounts asked of one peer
  uint32_t max_chain_blocks = 4096;    // blocks per chain request
  int parallel_chains = 4;             // chain streams open at once per peer
  size_t max_wanted = 100'000;         // accounts waiting for their chain
};

struct BootstrapStats {
  uint64_t sessions_started = 0;
  uint64_t sessions_completed = 0;
  uint64_t sessions_failed = 0;  // the peer lied or broke off
  uint64_t blocks_received = 0;
  double last_session_blocks_per_s = 0;
};

struct NanoNodeOptions {
  const NetworkParams* network = &dev_network();
  std::string data_dir;  // empty: memory store
  uint64_t map_size_bytes = uint64_t{64} << 30;
  bool sync = true;
  BlockProcessorConfig processor;
  WorkPoolConfig work;
  // The overlay; nullopt: no network. Its network_id is set from `network`.
  std::optional<overlay::NodeOptions> overlay;
  std::vector<overlay::SocketAddress> bootstrap;  // peers to dial
  BootstrapConfig bootstrap_config;               // catching up (needs `overlay`)
  ElectionsOptions elections;
  RepHintsOptions rep_hints;  // needs `overlay`
  // Where the RPC listens; nullopt: no RPC.
  std::optional<overlay::SocketAddress> rpc;
  RpcLimits rpc_limits;
  // Where the WebSocket API listens; nullopt: none. Its local accounts
  // (all_local_accounts) are the representatives' and websocket_config's.
  std::optional<overlay::SocketAddress> websocket;
  WebSocketConfig websocket_config;
  // The IPC (spec/ipc.md): a Unix socket file (made mode 0600) and/or a
  // loopback TCP address (port 0: any); neither: no IPC.
  std::string ipc_socket;
  std::optional<overlay::SocketAddress> ipc_tcp;
  // Prometheus metrics (GET /metrics, docs/metrics.md) on this HOST:PORT,
  // on a thread of their own: RPC latency by action, the ledger, bootstrap,
  // and the overlay's and DHT's counters; empty: none.
  std::string metrics;
  // Called on the IPC's thread once a client's `stop` is answered. It must
  // not stop the node itself (stop() joins that very thread): it tells the
  // node's owner. Empty: `stop` is refused, as the node cannot end itself.
  std::function<void()> on_ipc_stop;
  // Called on the ledger thread for every block accepted (keep it short).
  std::function<void(const ProcessedBlock&)> on_accepted;
  // Seconds since the Unix epoch; tests hand in a fixed clock.
  std::function<uint64_t()> now_s;
  // Told every NodeEvent from the start (node_events.h); subscribe() adds
  // listeners later.
  std::vector<NodeEventListener> listeners;
};

class NanoNode {
 public:
  // Builds the components the options ask for and starts them in order; on
  // an error nothing is left running and the error names the component.
  static Result<std::unique_ptr<NanoNode>> start(NanoNodeOptions options);
  ~NanoNode();  // stop()
  NanoNode(const NanoNode&) = delete;
  NanoNode& operator=(const NanoNode&) = delete;

  // Stops the components in reverse order; the store is closed last.
  void stop();

  LedgerService& ledger();
  LedgerStore& store();
  WorkPool& work();
  overlay::Node* server();  // null without a network
  BootstrapStats bootstrap_stats() const;
  std::optional<overlay::SocketAddress> rpc_address() const;        // once listening
  std::optional<overlay::SocketAddress> websocket_address() const;  // once listening
  std::optional<overlay::SocketAddress> ipc_tcp_address() const;    // once listening
  std::optional<std::string> ipc_socket_path() const;               // once listening
  std::optional<std::string> metrics_address() const;               // "HOST:PORT", once listening
  // The elections as they stand (empty when disabled).
  ElectionsSnapshot elections();
  // Representative -> the overlay node hosting it, as the DHT's records
  // told this node (empty without rep_hints).
  std::vector<std::pair<PublicKey, PublicKey>> representative_hosts();
  // Adds a listener of NodeEvents (node_events.h) until unsubscribe(id).
  // Any thread; after unsubscribe returns the listener is not called again.
  uint64_t subscribe(NodeEventListener listener);
  void unsubscribe(uint64_t id);
  // The components in start order, with what each depends on.
  std::vector<std::pair<std::string, std::vector<std::string>>> components() const;

  struct Parts;

 private:
  explicit NanoNode(std::unique_ptr<Parts> parts);
  std::unique_ptr<Parts> parts_;
};

}  // namespace chorus::nano
