// MemoryStore: a LedgerStore in memory, for tests and tools that need a
// ledger without files. Transactions behave as the interface says (an
// uncommitted write transaction is undone); nothing survives the process.
// Readers and the writer exclude each other, so a thread must not open a
// read transaction while it holds the write transaction.
#pragma once

#include <memory>

#include "chorus/nano/ledger_store.h"

namespace chorus::nano {

std::unique_ptr<LedgerStore> make_memory_store();

}  // namespace chorus::nano
