// RpcHandler::WorkClients: work_generate searches counted per client, so
// that one client cannot hold the whole work pool (RpcLimits).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "chorus/nano/rpc_handler.h"

namespace chorus::nano {

struct RpcHandler::WorkClients {
  explicit WorkClients(size_t max_per_client) : limit(max_per_client) {}

  const size_t limit;  // 0: no bound
  std::mutex mu;
  std::map<std::string, size_t, std::less<>> searching;

  // Searches of an unnamed client, or with no bound, are not counted.
  bool counted(std::string_view client) const { return !client.empty() && limit != 0; }
  // Counts a search for `client`; false when it has `limit` already.
  bool take(std::string_view client) {
    if (!counted(client)) return true;
    std::lock_guard lock(mu);
    auto it = searching.try_emplace(std::string(client), 0).first;
    if (it->second >= limit) return false;
    ++it->second;
    return true;
  }
  void give_back(const std::string& client) {
    if (!counted(client)) return;
    std::lock_guard lock(mu);
    auto it = searching.find(client);
    if (it != searching.end() && --it->second == 0) searching.erase(it);
  }
};

}  // namespace chorus::nano
