// chorus-nano node: runs a NANO node (spec/nano.md §chorus-nano node).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace chorus::nano {

class NodeCommand {
 public:
  explicit NodeCommand(CLI::App& app);
  bool parsed() const { return cmd_->parsed(); }
  // Runs until SIGINT, SIGTERM or an IPC `stop`; the process exit code.
  int run();

 private:
  CLI::App* cmd_;
  std::string config_;
  std::string network_;
  std::string data_;
  std::string listen_;
  std::vector<std::string> bootstrap_;
  std::string rpc_;
  std::string websocket_;
  std::string ipc_socket_;
  std::string ipc_tcp_;
  std::string metrics_;
  std::string log_format_ = "text";
  bool no_sync_ = false;
  bool no_rep_dht_ = false;
  std::vector<std::string> rep_keys_;
  size_t history_ = 2048;
};

}  // namespace chorus::nano
