// chorus-nano devnet: a NANO network of real node processes on loopback,
// with representatives voting, funded, loaded with random sends and
// receives and double spends through random nodes' RPC, one node killed
// and restarted, then joined by a late node that bootstraps; one JSON line
// of results (spec/nano.md §chorus-nano devnet).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

namespace chorus::nano {

class DevnetCommand {
 public:
  explicit DevnetCommand(CLI::App& app);
  bool parsed() const { return cmd_->parsed(); }
  // `self`: this executable (the nodes are `self node ...`). Exit code: 0
  // when every ledger is identical, holds every block and the late joiner
  // synced, every block is cemented everywhere and every fork resolved
  // alike; 3 when not (the JSON line says which); 1 on an error.
  int run(const std::string& self);

 private:
  CLI::App* cmd_;
  int nodes_ = 4;
  int reps_ = 1;
  int accounts_ = 10;
  int forks_ = 0;
  bool no_kill_ = false;
  bool keep_dir_ = false;
  std::string report_dir_;
  int blocks_ = 100;
  uint64_t seed_ = 1;
  bool json_ = false;
};

}  // namespace chorus::nano
