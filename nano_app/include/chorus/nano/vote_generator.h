// chorus::nano::VoteGenerator — the votes of the representatives this node
// hosts (spec/nano.md, "Local voting"). No I/O: the caller asks for votes
// as elections need them and takes signed votes out when they are due.
//
//   VoteGenerator gen({rep_private_key}, config);
//   gen.add(root, hash, /*final=*/false, now_ms);   // normal vote
//   if (claim_final_vote(txn, root, hash) && txn.commit().ok())
//     gen.add(root, hash, /*final=*/true, now_ms);  // final: claimed first
//   for (Vote& v : gen.take_due(now_ms, wall_ms)) ...  // send, and count locally
//
// Requests are batched: a batch is due when it holds max_hashes (255, what
// one vote carries) or delay_ms (100 ms) after its first request. Each
// representative signs one vote per batch. Normal votes carry the wall
// clock in milliseconds with duration bits 9; final votes are all ones.
// Spacing: a root that got a vote for one block gets none for another
// within spacing_ms (1 s on dev, 15 s on live), so a representative does
// not flap between forks; a request for the same block just refreshes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "chorus/nano/message.h"
#include "chorus/nano/types.h"
#include "chorus/nano/vote_rules.h"

namespace chorus::nano {

struct VoteGeneratorConfig {
  int64_t delay_ms = 100;
  size_t max_hashes = 255;
  int64_t spacing_ms = 1000;
  size_t max_queued = 4096;  // requests waiting; beyond, refused
};

class VoteGenerator {
 public:
  VoteGenerator(std::vector<PrivateKey> representatives, VoteGeneratorConfig config = {});

  // False when spacing refuses it or the queue is full. A final vote must
  // have been claimed (claim_final_vote, committed) before.
  bool add(const QualifiedRoot& root, const BlockHash& hash, bool final, int64_t now_ms);
  // The signed votes due now, one per representative per batch.
  std::vector<Vote> take_due(int64_t now_ms, uint64_t wall_ms);
  // Votes signed at once, one per representative, for an answer to a
  // confirm_req (no batching, no spacing). A final vote must have been
  // claimed, as for add().
  std::vector<Vote> sign_now(const std::vector<BlockHash>& hashes, bool final, uint64_t wall_ms);
  const std::vector<PublicKey>& representatives() const { return public_keys_; }
  size_t queued() const { return normal_.hashes.size() + final_.hashes.size(); }

 private:
  struct Batch {
    std::vector<BlockHash> hashes;
    int64_t first_ms = 0;
  };
  struct Spaced {
    BlockHash hash{};
    int64_t last_ms = 0;
  };
  void sign_batch(Batch& b, uint64_t timestamp, std::vector<Vote>& out);
  void forget_old_spacing(int64_t now_ms);

  std::vector<PrivateKey> keys_;
  std::vector<PublicKey> public_keys_;
  VoteGeneratorConfig config_;
  Batch normal_, final_;
  std::map<QualifiedRoot, Spaced> spacing_;
};

}  // namespace chorus::nano
