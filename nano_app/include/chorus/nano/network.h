// The constants that make a NANO network: who holds the genesis, how much
// work a block needs, who may sign epoch blocks, and what a peer says to
// prove it is on the same network (spec/nano.md §Networks).
//
// dev_network() is nano-node's own dev network, constant for constant, so
// blocks that other NANO tools make with the dev genesis key are valid here.
// live_network() holds the live network's constants as data; it cannot be
// reached from this machine.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chorus/nano/block.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

enum class Epoch : uint8_t { k0 = 0, k1 = 1, k2 = 2 };

// Proof-of-work thresholds by epoch and block kind (spec/nano.md §Work).
struct WorkThresholds {
  uint64_t epoch_1 = 0;          // every block of epoch 0 and 1
  uint64_t epoch_2 = 0;          // epoch 2 sends and changes
  uint64_t epoch_2_receive = 0;  // epoch 2 receives, opens and epoch blocks
  // What a block with these properties needs.
  uint64_t threshold(Epoch epoch, bool is_receive, bool is_epoch) const {
    if (epoch == Epoch::k2) return is_receive || is_epoch ? epoch_2_receive : epoch_2;
    return epoch_1;
  }
};

struct EpochInfo {
  Epoch epoch;
  Hash32 link;       // the state block link that marks an epoch block
  PublicKey signer;  // the only key whose signature such a block may carry
};

struct NetworkParams {
  std::string name;                // "dev", "live"
  std::array<uint8_t, 2> magic{};  // message header: 'R' then the network letter
  Block genesis;                   // the genesis open block, signed, with work
  BlockHash genesis_hash{};
  PublicKey genesis_account{};
  Amount genesis_amount = 0;
  WorkThresholds work;
  std::array<EpochInfo, 2> epochs{};  // epoch 1, epoch 2
  uint8_t protocol_version = 0;       // what this node speaks
  uint8_t protocol_version_min = 0;   // the oldest peer it accepts
  // The overlay network id that keeps NANO networks from linking.
  std::string overlay_network_id() const { return "nano/" + name; }

  // The epoch a link marks, if it is an epoch link.
  std::optional<Epoch> epoch_of_link(const Hash32& link) const;
  const EpochInfo& epoch_info(Epoch e) const { return epochs[static_cast<size_t>(e) - 1]; }
};

const NetworkParams& dev_network();
const NetworkParams& live_network();
// "dev" or "live"; nullptr for anything else.
const NetworkParams* network_by_name(std::string_view name);

// nano-node's dev genesis private key (public knowledge: it is how tests and
// tools make dev blocks).
PrivateKey dev_genesis_private_key();

}  // namespace chorus::nano
