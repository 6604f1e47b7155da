// chorus-nano ipc: one request to a node's IPC (spec/ipc.md), or a
// subscription whose events it prints as they come.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

namespace chorus::nano {

class IpcCommand {
 public:
  explicit IpcCommand(CLI::App& app);
  bool parsed() const { return cmd_->parsed(); }
  // The process exit code: 0 on an answer, 1 on an error (the node's or
  // the connection's), 2 on a request the command cannot make.
  int run();

 private:
  CLI::App* cmd_;
  std::string request_;
  std::string args_ = "{}";
  std::string socket_;
  std::string tcp_;
  std::string correlation_id_;
  uint64_t count_ = 0;
  double timeout_s_ = 0;
};

}  // namespace chorus::nano
