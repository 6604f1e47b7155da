// The bootstrap protocol's bytes (spec/nano.md §Bootstrap): what a node
// asks a peer for over an overlay stream, and the DATA it gets back.
//
//   frontiers request  'F' | start account (32) | count (u32 BE)
//     DATA: 1..64 pairs of account (32) | head (32), accounts ascending
//   chain request      'C' | account (32) | after (32) | count (u32 BE)
//     DATA: one typed block (type byte, body), the account's blocks in
//     ascending height after `after` (from its open block when zero)
#pragma once

#include <cstdint>
#include <utility>
#include <variant>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

inline constexpr size_t kFrontiersPerPage = 64;

struct FrontiersRequest {
  PublicKey start{};
  uint32_t count = 0;
};
struct ChainRequest {
  PublicKey account{};
  BlockHash after{};
  uint32_t count = 0;
};
using BootstrapRequest = std::variant<FrontiersRequest, ChainRequest>;

Bytes serialize_bootstrap_request(const BootstrapRequest& r);
// kMalformed for anything but exactly one of the two forms.
Result<BootstrapRequest> parse_bootstrap_request(ByteView bytes);

using Frontier = std::pair<PublicKey, BlockHash>;
Bytes serialize_frontiers(const std::vector<Frontier>& page);
// kMalformed unless 1..64 whole pairs with strictly ascending accounts.
Result<std::vector<Frontier>> parse_frontiers(ByteView bytes);

}  // namespace chorus::nano
