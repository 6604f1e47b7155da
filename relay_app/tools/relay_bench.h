// `chorus-relay bench`: real relay nodes and real WebSocket clients on
// loopback, every message checked to reach every subscriber once and in
// order; one JSON object with the figures (docs/cli.md).
#pragma once

#include <CLI/CLI.hpp>

namespace chorus::relay {

class BenchCommand {
 public:
  explicit BenchCommand(CLI::App& app);
  bool chosen() const { return cmd_->parsed(); }
  int run();

 private:
  CLI::App* cmd_;
  int nodes_ = 3;
  int clients_ = 300;
  int channels_ = 30;
  double rate_ = 100;
  double seconds_ = 30;
  bool json_ = false;
};

}  // namespace chorus::relay
