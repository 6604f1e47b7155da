// Bootstrap over overlay streams (spec/nano.md §Bootstrap), both ends:
// serving frontiers and chains from the local ledger, and catching up from
// a peer when its link comes up. Everything here runs on the overlay node's
// loop thread, except the ledger's answers, which are posted back to it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>

#include "chorus/nano/bootstrap_wire.h"
#include "chorus/nano/ledger_service.h"
#include "chorus/nano/nano_node.h"
#include "chorus/overlay/node.h"

namespace chorus::nano {

class Bootstrap : public std::enable_shared_from_this<Bootstrap> {
 public:
  Bootstrap(const BootstrapConfig& config, LedgerStore& store, LedgerService& ledger,
            overlay::Node& node);

  // The server side, to register under kNanoBootstrapApp.
  overlay::AppHandlers handlers();
  // Loop thread: a link came up (starts a session with that peer) or went.
  void on_peer(const PublicKey& peer, bool up);
  BootstrapStats stats() const;

 private:
  struct Session {
    PublicKey peer{};
    std::deque<std::pair<PublicKey, BlockHash>> wanted;  // account, local head
    uint64_t frontiers = 0;
    bool frontiers_done = false;
    int chains_open = 0;
    bool failed = false;
    bool done = false;  // completed and counted; kept until its link goes
    std::chrono::steady_clock::time_point started;
    uint64_t blocks = 0;
  };

  void serve(const overlay::StreamRequest& request, overlay::StreamWriter writer);
  void serve_frontiers(overlay::StreamWriter w, PublicKey next, uint32_t left);
  void serve_chain(overlay::StreamWriter w, BlockHash next, uint32_t left);

  void start_session(const PublicKey& peer);
  bool on_frontiers(const std::shared_ptr<Session>& s, ByteView data);
  void pump(const std::shared_ptr<Session>& s);
  // One chain request's progress: what the next block must follow.
  struct Chain {
    PublicKey account{};
    BlockHash last{};  // `after`, then each block received
    uint32_t left = 0;
  };
  bool on_chain_block(const std::shared_ptr<Session>& s, ByteView data, Chain& chain);
  void fail(const std::shared_ptr<Session>& s, const std::string& why);
  void maybe_done(const std::shared_ptr<Session>& s);

  BootstrapConfig config_;
  LedgerStore& store_;
  LedgerService& ledger_;
  overlay::Node& node_;
  std::map<PublicKey, std::shared_ptr<Session>> sessions_;  // loop thread
  mutable std::mutex stats_mu_;
  BootstrapStats stats_;
};

}  // namespace chorus::nano
