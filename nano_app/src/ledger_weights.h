// Moving representative weight inside a write transaction; shared by the
// ledger's processing and its rollback, which must stay exact inverses.
#pragma once

#include "chorus/nano/ledger_store.h"

namespace chorus::nano {

inline void add_weight(WriteTxn& txn, const PublicKey& rep, Amount amount) {
  if (amount != 0) txn.put_weight(rep, txn.weight(rep) + amount);
}

inline void sub_weight(WriteTxn& txn, const PublicKey& rep, Amount amount) {
  if (amount == 0) return;
  const Amount w = txn.weight(rep);
  txn.put_weight(rep, w >= amount ? w - amount : 0);  // never below zero, even in a broken store
}

}  // namespace chorus::nano
