// RepDirectory: which overlay node hosts which representative, as the
// DHT's records say (rep_record.h), and whom to look up next. No I/O: the
// node's driver calls due() on a timer, runs a DHT get for each account it
// returns, hands the valid records to found(), and asks hosts() where to
// send confirm_req.
//
// Only the heaviest representatives (by the local ledger, which the caller
// passes in) are followed, so the directory is bounded whatever the DHT
// holds; a record is a hint of where to ask, never a reason to believe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "chorus/nano/rep_record.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

struct RepDirectoryConfig {
  size_t max_reps = 64;         // the heaviest representatives followed
  int64_t refresh_ms = 60'000;  // a found representative is looked up again this often
  int64_t retry_ms = 5'000;     // one not found (yet) this often
  size_t max_lookups = 4;       // accounts one due() returns
};

class RepDirectory {
 public:
  explicit RepDirectory(RepDirectoryConfig config = {});

  // Of `by_weight` (heaviest first; only the first max_reps count), those
  // whose lookup is due at `now_ms`, at most max_lookups. Each returned
  // account is not due again before retry_ms. Representatives that fell
  // out of the first max_reps are forgotten.
  std::vector<PublicKey> due(const std::vector<PublicKey>& by_weight, int64_t now_ms);

  // A lookup of `account` ended with these valid records (any order; none
  // when the DHT had nothing). The highest sequence wins over what is
  // known; a lower one never replaces a higher one.
  void found(const PublicKey& account, const std::vector<RepRecord>& records, int64_t now_ms);

  std::optional<PublicKey> host_of(const PublicKey& account) const;
  // The distinct hosts of the first representatives of `by_weight` that
  // have one, at most `n`.
  std::vector<PublicKey> hosts(const std::vector<PublicKey>& by_weight, size_t n) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::optional<RepRecord> record;
    int64_t next_lookup_ms = 0;
  };
  RepDirectoryConfig config_;
  std::map<PublicKey, Entry> entries_;
};

}  // namespace chorus::nano
