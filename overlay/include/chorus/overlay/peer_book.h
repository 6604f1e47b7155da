// PeerBook: the addresses a node knows and may dial, with reconnect backoff.
//
// Bounded (`max_entries`); bootstrap entries are never evicted. Backoff after
// the n-th failure is min(max, base·2^(n-1)) scaled by a random factor in
// [0.5, 1.5) so that a swarm restarted at once does not redial in lockstep.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <vector>

#include "chorus/overlay/config.h"
#include "chorus/overlay/identity.h"
#include "chorus/overlay/random.h"

namespace chorus::overlay {

class PeerBook {
 public:
  struct Entry {
    SocketAddress address;
    std::optional<PublicKey> key;  // once learned from exchange or a handshake
    int failures = 0;
    int64_t next_try_us = 0;
    bool bootstrap = false;
    bool forbidden = false;  // our own address: never dial
  };

  PeerBook(size_t max_entries, int64_t backoff_base_us, int64_t backoff_max_us);

  // Adds or refreshes an entry. A known key is kept unless `key` is given.
  void add(const SocketAddress& address, std::optional<PublicKey> key, bool bootstrap,
           Random& random);
  void forbid(const SocketAddress& address);
  void on_failure(const SocketAddress& address, int64_t now_us, Random& random);
  void on_success(const SocketAddress& address, const PublicKey& key);
  // Postpones the next dial without counting a failure (link rotation).
  void defer(const SocketAddress& address, int64_t until_us);

  // A random entry that is due and that `skip` does not reject.
  std::optional<Entry> pick(int64_t now_us, Random& random,
                            const std::function<bool(const Entry&)>& skip) const;
  // Earliest time any entry becomes due (for the timer), if any.
  std::optional<int64_t> next_due_us() const;
  // Earliest time after `now_us` that an entry becomes due, if any.
  std::optional<int64_t> next_due_after_us(int64_t now_us) const;
  // Up to `n` random entries whose key is known, for peer exchange.
  std::vector<Entry> sample(size_t n, Random& random) const;

  const Entry* find(const SocketAddress& address) const;
  size_t size() const { return entries_.size(); }

 private:
  size_t max_entries_;
  int64_t base_us_;
  int64_t max_us_;
  std::map<SocketAddress, Entry> entries_;
};

}  // namespace chorus::overlay
