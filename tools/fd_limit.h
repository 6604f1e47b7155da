// Open-file limits of commands that run many nodes in one process.
#pragma once

#include <cstddef>
#include <string>

#include "chorus/base/result.h"

namespace chorus::tools {

// What a command is about to run in this process.
struct NodeFdPlan {
  size_t nodes = 0;
  size_t listening = 0;       // of `nodes`, how many have a TCP listener
  size_t with_dht = 0;        // of `nodes`, how many have a DHT (one UDP socket)
  size_t links_per_node = 0;  // links each node opens (ℓ); both ends are in this process
};

// Descriptors `plan` needs at most, with room for the process itself.
size_t descriptors_needed(const NodeFdPlan& plan);

// Raises the soft RLIMIT_NOFILE to the hard limit (running out of
// descriptors is what limits how many nodes one process runs) and returns
// the soft limit then in force.
Result<size_t> raise_descriptor_limit();

// The error for a run that does not fit: how many descriptors `command`
// needs and what the limit is, instead of failing (or crashing) halfway.
Error too_few_descriptors(const std::string& command, size_t needed, size_t limit);

}  // namespace chorus::tools
