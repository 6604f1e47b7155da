// LmdbStore: the LedgerStore a node runs on, in an LMDB environment (one
// directory holding data.mdb and lock.mdb). Table layouts are in
// spec/nano.md §Ledger store.
//
// Every commit is one LMDB write transaction, so a process killed at any
// moment leaves the store as of its last commit: nothing half-written is
// ever read back. With `sync` (the default) a commit also survives a power
// loss; without it, only a process crash.
//
// The store records its format version. Opening a store written by a newer
// version is refused (kRefused) rather than guessed at.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "chorus/base/result.h"
#include "chorus/nano/ledger_store.h"

namespace chorus::nano {

struct LmdbOptions {
  std::string directory;  // must exist
  // The most the file may grow to. LMDB reserves address space, not disk;
  // a write that would pass it fails its commit with kLimit.
  uint64_t map_size_bytes = uint64_t{64} << 30;
  unsigned max_readers = 126;  // concurrent read transactions
  bool sync = true;            // fsync on every commit
};

// The format this build writes.
inline constexpr uint32_t kLmdbStoreVersion = 1;

// kIo when the directory is missing or LMDB cannot open it (with LMDB's
// reason), kRefused for a newer format.
Result<std::unique_ptr<LedgerStore>> open_lmdb_store(const LmdbOptions& options);

}  // namespace chorus::nano
