#include "rpc_table.h"

namespace chorus::dht {

uint64_t RpcTable::new_txid(overlay::Random& random) const {
  uint64_t txid = 0;
  do {
    txid = random.next_u64();
  } while (txid == 0 || rpcs_.count(txid));
  return txid;
}

void RpcTable::add(uint64_t txid, Rpc rpc) {
  deadlines_.emplace(rpc.deadline_ms, txid);
  if (rpc.stall_ms != 0 && rpc.stall_ms < rpc.deadline_ms) stalls_.emplace(rpc.stall_ms, txid);
  rpcs_.emplace(txid, std::move(rpc));
}

Rpc* RpcTable::find(uint64_t txid) {
  auto it = rpcs_.find(txid);
  return it == rpcs_.end() ? nullptr : &it->second;
}

Rpc RpcTable::take(uint64_t txid) {
  auto it = rpcs_.find(txid);
  Rpc rpc = std::move(it->second);
  rpcs_.erase(it);
  return rpc;
}

std::optional<uint64_t> RpcTable::pop_expired(int64_t now_ms) {
  while (!deadlines_.empty() && deadlines_.top().first <= now_ms) {
    uint64_t txid = deadlines_.top().second;
    deadlines_.pop();
    auto it = rpcs_.find(txid);
    if (it != rpcs_.end() && it->second.deadline_ms <= now_ms) return txid;
  }
  return std::nullopt;
}

std::optional<uint64_t> RpcTable::pop_stalled(int64_t now_ms) {
  while (!stalls_.empty() && stalls_.top().first <= now_ms) {
    uint64_t txid = stalls_.top().second;
    stalls_.pop();
    if (rpcs_.count(txid)) return txid;
  }
  return std::nullopt;
}

std::optional<int64_t> RpcTable::next_deadline_ms() const {
  std::optional<int64_t> at;
  if (!deadlines_.empty()) at = deadlines_.top().first;
  if (!stalls_.empty() && (!at || stalls_.top().first < *at)) at = stalls_.top().first;
  return at;
}

bool RpcTable::pinging(const NodeId& id) const {
  for (const auto& [txid, rpc] : rpcs_)
    if (rpc.purpose == Purpose::kEvict && rpc.to.id == id) return true;
  return false;
}

}  // namespace chorus::dht
