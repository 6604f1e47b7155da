// RepHints: representatives through the DHT (spec/nano.md, "Representatives
// through the DHT"), driven on the overlay node's loop. It puts a DHT on
// the node, publishes a RepRecord for each representative the node hosts
// (and again before the value's time to live runs out), and looks up the
// records of the heaviest representatives of the local ledger into a
// RepDirectory, so that confirm_req can go straight to the nodes that host
// them instead of only to the linked peers.
//
// The nodes are asked through dht::Reach (by key, dialled when not linked,
// through a relay when they only initiate), which also publishes this
// node's own record so that others can reach it.
//
// Hints only: a record says where to ask; what is asked for (votes) is
// checked and weighed as any other. Consensus never reads the DHT.
//
// Lifetime: attach() before the node starts, start() after it, stop()
// before the node stops (then destroy it before the node).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/dht.h"
#include "chorus/dht/reach.h"
#include "chorus/nano/ledger_store.h"
#include "chorus/nano/nano_node.h"
#include "chorus/nano/rep_directory.h"
#include "chorus/overlay/node.h"

struct uv_timer_s;

namespace chorus::nano {

class RepHints {
 public:
  struct Context {
    overlay::Node* node = nullptr;
    const NetworkParams* network = nullptr;
    LedgerStore* store = nullptr;
    std::vector<PrivateKey> representatives;  // hosted here; may be empty
    RepHintsOptions options;
  };
  static Result<std::unique_ptr<RepHints>> attach(Context context);
  ~RepHints();  // stop()
  RepHints(const RepHints&) = delete;
  RepHints& operator=(const RepHints&) = delete;

  Result<void> start();  // after the node started
  void stop();           // idempotent; before the node stops

  // Loop thread: the nodes hosting the heaviest representatives, at most n.
  std::vector<PublicKey> hosts(size_t n) const;
  // A request to `to` wherever it is (any thread); `done` on the loop.
  void request(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t timeout_ms,
               overlay::ReplyCallback done);
  // Loop thread: what the directory holds, representative -> node.
  std::vector<std::pair<PublicKey, PublicKey>> known() const;
  uint64_t records_published() const { return published_; }
  // Loop thread: the DHT the records live in (for its metrics).
  const dht::Dht* dht() const { return dht_.get(); }

 private:
  explicit RepHints(Context context);
  void tick();
  void publish(int64_t now_ms);
  void refresh_weights(int64_t now_ms);

  Context c_;
  std::unique_ptr<dht::Dht> dht_;
  std::unique_ptr<dht::Reach> reach_;  // borrows dht_: made after it, destroyed before
  uv_timer_s* timer_ = nullptr;        // the loop's; closed by the node's stopping hook
  RepDirectory directory_;
  std::vector<PublicKey> by_weight_;  // the loop thread's
  int64_t next_publish_ms_ = 0;
  int64_t next_weights_ms_ = 0;
  std::atomic<uint64_t> published_{0};
  std::atomic<bool> running_{false};
};

}  // namespace chorus::nano
