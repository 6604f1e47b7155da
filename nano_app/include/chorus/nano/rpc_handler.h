// RpcHandler: nano-node's JSON RPC, as a core with no I/O. A request body
// goes in; the response text comes out through a callback (at once for
// reads, later for `process` and `work_generate`, which wait on the block
// processor and the work pool). The HTTP side is chorus::web::HttpServer;
// actions, fields and error strings are in spec/nano-rpc.md.
//
// Compatibility: the same action names, field names, encodings (amounts
// and counts as decimal strings, hashes upper-case hex, work lower-case
// hex) and error strings as nano-node, so that wallets and tools written
// for it work here. Booleans and numbers are accepted as JSON values or as
// strings, accounts with `nano_` or `xrb_`.
//
// Confirmation is the ledger's, as in nano-node: a block is confirmed once
// at or below its account's confirmation height (Ledger::confirmed), which
// the node's elections raise. A node that runs no elections confirms
// nothing past the genesis; the election actions (confirmation_*,
// representatives_online, block_confirm) then answer "Elections not
// running".
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chorus/nano/election_status.h"
#include "chorus/nano/ledger_store.h"
#include "chorus/nano/network.h"

namespace chorus::nano {

// What the handler asks of the node it serves. Every function may be left
// empty: the actions that need it then answer with an error.
struct RpcServices {
  // Hands a block to the node's block processor; `done` gets its status
  // once processed (on any thread), or nullopt when the node could not
  // process it (stopping, queue full).
  std::function<void(const Block& block, std::function<void(std::optional<BlockStatus>)> done)>
      process;
  // Finds work for `root` at `difficulty`; `done` gets nullopt when the
  // search was cancelled or hit its bound.
  std::function<void(const Hash32& root, uint64_t difficulty,
                     std::function<void(std::optional<uint64_t>)> done)>
      work_generate;
  // Stops the search for `root`, if one runs (work_cancel).
  std::function<void(const Hash32& root)> work_cancel;
  std::function<uint64_t()> unchecked_count;
  // The links, for `peers` and `telemetry`.
  struct Peer {
    std::string address;  // "HOST:PORT" it listens on
    std::string node_id;  // its overlay key, hex
    bool ready = false;   // published blocks travel to it (PeerInfo::content_shouts)
  };
  std::function<std::vector<Peer>()> peers;

  // Elections (spec/nano.md, "Votes and elections"); empty on a node that
  // runs none.
  std::function<ElectionsSnapshot()> elections;
  // The running election that holds a block (by its hash) or sits at a root.
  std::function<std::optional<ElectionView>(const BlockHash& hash_or_root)> election;
  // Starts an election for a block in the ledger that is not cemented;
  // false when there is none such.
  std::function<bool(const BlockHash& hash)> block_confirm;
  // Blocks cemented in the ledger (the genesis counts), kept as a counter
  // by the node. Empty: block_count and telemetry add up the confirmation
  // heights of every account (a walk over the ledger, fine for tools).
  std::function<uint64_t()> cemented_count;
};

struct RpcLimits {
  size_t max_body_bytes = 1 << 20;
  size_t max_accounts = 10000;  // in accounts_* requests
  size_t max_count = 100000;    // blocks in chain/successors, entries in receivable
  // The most work_generate may ask for, as a multiple of the highest
  // network threshold (nano-node: max_work_generate_multiplier).
  double max_work_multiplier = 64.0;
  // work_generate searches one client (RpcHandler::handle's `client`) may
  // have waiting or running at once; 0: no bound. The pool's own queue
  // bounds everyone together; this keeps one client from filling it.
  size_t max_work_per_client = 4;
};

class RpcHandler {
 public:
  RpcHandler(const NetworkParams& network, LedgerStore& store, RpcServices services,
             RpcLimits limits = {});

  using Reply = std::function<void(std::string response)>;

  // Answers one request. `reply` is called exactly once, with a JSON
  // object: the action's answer or {"error": "..."}. `client` names who
  // asks (the HTTP peer's address) for per-client bounds; empty: none.
  void handle(std::string_view body, Reply reply, std::string_view client = {}) const;

  // The same for a parsed request (the IPC and WebSocket paths, tests).
  void handle_json(const nlohmann::ordered_json& request, Reply reply,
                   std::string_view client = {}) const;

  const RpcLimits& limits() const { return limits_; }

  // Told of every request once its answer is ready, on the thread that
  // replies: the action ("" when the request named none) and how long the
  // answer took. For latency metrics; set it before the first request.
  using Observer = std::function<void(std::string_view action, std::chrono::nanoseconds took)>;
  void set_observer(Observer observer) { observer_ = std::move(observer); }

  // Every action name this handler answers (aliases included), sorted.
  static std::vector<std::string> action_names();

 private:
  struct Call;
  static const std::map<std::string, void (Call::*)()>& action_table();
  void answer(const nlohmann::ordered_json& request, Reply reply, std::string_view client,
              std::chrono::steady_clock::time_point started) const;
  // The actions that wait: `reply` runs on the thread their service's
  // `done` runs on.
  void process(const nlohmann::ordered_json& request, Reply reply) const;
  void work_generate(const nlohmann::ordered_json& request, Reply reply,
                     std::string_view client) const;
  uint64_t entry_threshold() const;
  const NetworkParams& network_;
  LedgerStore& store_;
  RpcServices services_;
  RpcLimits limits_;
  // Searches per client; shared with the searches' callbacks, which may
  // run after the handler is gone (the pool stops after the RPC).
  struct WorkClients;
  std::shared_ptr<WorkClients> work_clients_;
  Observer observer_;
};

// nano-node's error text for a block status ("Fork", "Gap previous block",
// ...); empty for kProgress.
std::string_view block_status_rpc_error(BlockStatus status);

}  // namespace chorus::nano
