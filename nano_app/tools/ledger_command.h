// chorus-nano ledger account|block|frontiers|check: a node's LMDB ledger
// read offline (the node may run meanwhile: readers take a snapshot).
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "chorus/base/result.h"

namespace chorus::nano {

class LedgerCommand {
 public:
  explicit LedgerCommand(CLI::App& app);
  bool parsed() const { return cmd_->parsed(); }
  // The JSON to print, or what to say on stderr. A check that finds
  // problems is an error (kMalformed) whose message lists them.
  Result<nlohmann::ordered_json> run() const;

 private:
  CLI::App* cmd_;
  CLI::App* account_;
  CLI::App* block_;
  CLI::App* frontiers_;
  CLI::App* check_;
  std::string data_;
  std::string network_ = "dev";
  std::string account_text_;
  std::string hash_text_;
  std::string start_text_;
  uint64_t count_ = 1000;
};

}  // namespace chorus::nano
