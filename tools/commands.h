// Subcommands of the `chorus` CLI. Each registers its options on `app` and
// returns the function that runs it (exit code).
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>

namespace chorus::tools {

using Runner = std::function<int()>;

// The app `chorus node --dht` answers and `chorus dht send` speaks: a request
// carries text; the node prints it and replies "echo: " + text.
inline constexpr uint16_t kTextApp = 0x7478;  // "tx"

Runner add_node_command(CLI::App& app);
Runner add_swarm_command(CLI::App& app);
Runner add_bench_transport_command(CLI::App& bench);
Runner add_compress_command(CLI::App& cmd);
Runner add_decompress_command(CLI::App& cmd);
Runner add_bench_compression_command(CLI::App& bench);
Runner add_sim_broadcast_command(CLI::App& cmd);
Runner add_sim_dht_command(CLI::App& cmd);
Runner add_sim_locks_command(CLI::App& cmd);
Runner add_dht_command(CLI::App& cmd);
Runner add_top_command(CLI::App& cmd);

}  // namespace chorus::tools
