// check_ledger: verifies what must hold in every committed state of a
// ledger, whatever happened before (a crash, a rollback, a bootstrap from
// liars): every account chain is whole and its sideband agrees with it,
// every raw of the genesis amount is in exactly one balance or receivable
// entry, and each representative's weight is the sum of the balances that
// name it (spec/nano.md §Ledger invariants). Used by `chorus-nano ledger
// check` and by the tests.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chorus/nano/ledger_store.h"
#include "chorus/nano/network.h"

namespace chorus::nano {

struct LedgerCheckReport {
  uint64_t accounts = 0;
  uint64_t blocks = 0;
  uint64_t pending = 0;
  uint64_t representatives = 0;
  // What is wrong, one sentence each, at most max_problems of them.
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};

// Reads every account, block, receivable entry and weight once through
// `txn` (a snapshot, so a node may go on writing meanwhile).
LedgerCheckReport check_ledger(ReadTxn& txn, const NetworkParams& network,
                               size_t max_problems = 100);

}  // namespace chorus::nano
