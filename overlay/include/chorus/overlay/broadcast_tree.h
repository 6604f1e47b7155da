// BroadcastTree: the epidemic-broadcast-tree state of one node (Plumtree,
// Leitão, Pereira and Rodrigues, SRDS 2007), with no I/O.
//
// SHOUTs of tree-mode apps travel in full ("eager push") only on the links
// marked eager; every other tree link gets an announcement of the SHOUT's
// id (IHAVE). A node that hears of an id through an announcement but has
// not received the SHOUT after graft_timeout_us asks an announcer for it
// (GRAFT), which also makes that link eager again; a SHOUT arriving twice
// makes the link it came on lazy on both ends (PRUNE). All links start
// eager, so the first broadcasts flood and prune themselves down to a
// spanning tree; lost links (churn) are repaired by the lazy announcements.
//
// The class only keeps state and says what to send. NodeCore decides which
// SHOUTs are tree-mode, verifies their signatures, keeps the seen cache and
// does the sending. Its calls:
//   add_link / remove_link     a link that speaks the tree opcodes came / went;
//   on_message                 a new, verified SHOUT (stored for GRAFTs);
//   announce                   queue its id for a lazy link;
//   on_duplicate               a SHOUT seen before came again on a link;
//   on_ihave / on_graft / on_prune   the three control messages;
//   on_timer(now)              missing-id timers, store expiry;
// and after each, drains poll() (what to send) until it returns false.
// flush_announcements() turns the queued ids into IHAVE outputs; NodeCore
// calls it once per flush, so one IHAVE carries what one input produced.
//
// Bounds: missing ids (max_missing), announcers remembered per missing id
// (max_announcers), queued announcements per link (max_queued_announcements,
// beyond that ids are dropped and counted), ids per IHAVE (ihave_batch),
// stored SHOUTs (entries, bytes, age), IHAVE ids accepted per link (token
// bucket), GRAFT answers per link (token bucket, and each stored SHOUT is
// sent on a link at most once). A forged IHAVE costs us one small GRAFT per
// announcer at most; a forged GRAFT gets only SHOUTs we hold, once each.
//
// Not thread-safe; owned by one NodeCore.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <unordered_map>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/overlay/message.h"
#include "chorus/overlay/token_bucket.h"

namespace chorus::overlay {

struct BroadcastTreeConfig {
  // An announced id not received this long after its first IHAVE: GRAFT the
  // first announcer. Longer than a link's usual latency spread, or the tree
  // grafts where a late eager copy was on its way.
  int64_t graft_timeout_us = 400'000;
  // No SHOUT this long after a GRAFT: GRAFT the next announcer.
  int64_t graft_retry_us = 200'000;
  // The eager copy came this much later than the first announcement of the
  // same id: make the announcer's link eager and the eager one lazy, so the
  // tree follows faster paths. 0 = never.
  int64_t swap_after_us = 0;
  size_t max_missing = 4096;
  size_t max_announcers = 4;
  size_t ihave_batch = 64;  // at most 255 (one IHAVE)
  size_t max_queued_announcements = 1024;
  size_t store_entries = 4096;
  size_t store_bytes = 16u << 20;
  int64_t store_age_us = 60'000'000;
  double ihave_rate_per_s = 5000;  // ids per link, token bucket
  double ihave_burst = 20000;
  double graft_rate_per_s = 200;  // SHOUTs sent per link in answer to GRAFTs
  double graft_burst = 400;
};

struct BroadcastTreeStats {
  uint64_t prunes = 0;                 // links made lazy by a duplicate
  uint64_t grafts = 0;                 // GRAFTs sent for missing ids
  uint64_t swaps = 0;                  // lazy links promoted for being faster
  uint64_t grafts_answered = 0;        // SHOUTs sent in answer to a GRAFT
  uint64_t grafts_refused = 0;         // ids not held, already sent, or over the rate
  uint64_t ihave_ignored = 0;          // ids over the rate or with the missing table full
  uint64_t announcements_dropped = 0;  // a link's announcement queue was full
  uint64_t missing_given_up = 0;       // no announcer left to GRAFT
};

class BroadcastTree {
 public:
  using LinkId = uint64_t;

  // What to send. kMessage: `record` is an encoded SHOUT to send as it is.
  struct Output {
    enum class Kind { kIhave, kGraft, kPrune, kMessage };
    Kind kind = Kind::kIhave;
    LinkId link = 0;
    std::vector<ShoutKey> ids;  // kIhave, kGraft
    std::shared_ptr<const Bytes> record;
  };

  explicit BroadcastTree(BroadcastTreeConfig config);

  // ---- links
  // The peer on `link` speaks IHAVE/GRAFT/PRUNE. It starts eager.
  void add_link(LinkId link, int64_t now_us);
  // The link closed: forget it, its queue, and it as an announcer.
  void remove_link(LinkId link);
  bool has_link(LinkId link) const { return links_.count(link) != 0; }
  // Push SHOUTs to this link in full? (Links not in the tree: always.)
  bool eager(LinkId link) const;
  size_t link_count() const { return links_.size(); }

  // ---- inputs
  // A new, verified SHOUT `id` from `from` (0: we are its origin). `record`
  // is the SHOUT as this node passes it on (hop count already lowered), kept
  // to answer GRAFTs; null when the hop limit stops it here.
  void on_message(const ShoutKey& id, LinkId from, std::shared_ptr<const Bytes> record,
                  int64_t now_us);
  // Queue `id` for the lazy `link` (sent by flush_announcements).
  void announce(LinkId link, const ShoutKey& id);
  // A SHOUT we had already came again on `link`: it becomes lazy, PRUNE.
  void on_duplicate(LinkId link);
  // `have(id)`: this node already holds (or sent) the SHOUT.
  template <class Have>
  void on_ihave(LinkId link, std::span<const ShoutKey> ids, Have&& have, int64_t now_us) {
    const size_t allowed = admit_ihave(link, ids.size(), now_us);
    stats_.ihave_ignored += ids.size() - allowed;
    for (size_t i = 0; i < allowed; ++i)
      if (!have(ids[i])) missing(link, ids[i], now_us);
  }
  void on_graft(LinkId link, std::span<const ShoutKey> ids, int64_t now_us);
  void on_prune(LinkId link);
  void on_timer(int64_t now_us);

  // ---- outputs
  void flush_announcements();
  bool poll(Output& out);
  std::optional<int64_t> next_timer_us() const;

  // ---- introspection
  size_t missing_count() const { return missing_.size(); }
  size_t stored_count() const { return store_.size(); }
  size_t stored_bytes() const { return store_bytes_; }
  bool holds(const ShoutKey& id) const { return store_.count(id) != 0; }
  const BroadcastTreeStats& stats() const { return stats_; }

 private:
  struct KeyHash {
    size_t operator()(const ShoutKey& k) const;
  };
  struct Link {
    bool eager = true;
    std::vector<ShoutKey> queued;  // announcements not yet in an IHAVE
    TokenBucket ihave_tokens;      // IHAVE ids accepted from this link
    TokenBucket graft_tokens;      // GRAFTed ids answered on this link
  };
  struct Missing {
    int64_t first_us = 0;            // first announcement
    int64_t deadline_us = 0;         // next GRAFT
    std::vector<LinkId> announcers;  // oldest first, at most max_announcers
    size_t next = 0;                 // announcers before this were grafted already
  };
  struct Stored {
    std::shared_ptr<const Bytes> record;
    int64_t stored_us = 0;
    std::vector<LinkId> grafted_to;  // links it was sent on in answer to a GRAFT
  };

  // How many of `ids` IHAVE ids the link may send now (0 for a link not
  // in the tree).
  size_t admit_ihave(LinkId link, size_t ids, int64_t now_us);
  void missing(LinkId link, const ShoutKey& id, int64_t now_us);
  void forget_missing(const ShoutKey& id);
  void make_eager(LinkId link, bool send_graft);
  void store(const ShoutKey& id, std::shared_ptr<const Bytes> record, int64_t now_us);
  void expire(int64_t now_us);

  BroadcastTreeConfig config_;
  std::unordered_map<LinkId, Link> links_;
  std::vector<LinkId> queued_links_;  // links with announcements queued
  std::unordered_map<ShoutKey, Missing, KeyHash> missing_;
  std::set<std::pair<int64_t, ShoutKey>> timers_;  // (deadline, id) of missing_
  std::unordered_map<ShoutKey, Stored, KeyHash> store_;
  std::deque<ShoutKey> store_order_;  // oldest first
  size_t store_bytes_ = 0;
  std::deque<Output> out_;
  BroadcastTreeStats stats_;
};

}  // namespace chorus::overlay
