// The node's key pair, for drivers built in this tree that speak for a node
// under its key (the DHT's driver seals and signs its datagrams with it).
//
// Not installed and not part of the API: apps get only Node::key(). The
// header lives outside overlay/include so that `cmake --install` never ships
// it; in-tree targets that link chorus::overlay_node can include it.
#pragma once

#include "chorus/overlay/identity.h"
#include "chorus/overlay/node.h"

namespace chorus::overlay::detail {

struct NodeSecrets {
  // The identity `node` runs under: set at Node::create, constant after it,
  // so any thread may read it. Never log or persist it.
  static const Identity& identity(const Node& node);
};

}  // namespace chorus::overlay::detail
