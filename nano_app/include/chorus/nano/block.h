// NANO blocks: the state block (type 6) and the legacy send, receive, open
// and change blocks; their hash, root, binary form (as on the wire) and JSON
// form (as the node RPC prints it). Byte layouts are in spec/nano.md §Blocks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"
#include "chorus/nano/types.h"

namespace chorus::nano {

enum class BlockType : uint8_t {
  kSend = 2,
  kReceive = 3,
  kOpen = 4,
  kChange = 5,
  kState = 6,
};

const char* block_type_name(BlockType t);  // "send", …, "state"
std::optional<BlockType> block_type_from_name(std::string_view name);
std::optional<BlockType> block_type_from_byte(uint8_t b);

// One struct for every type; fields a type does not have stay zero and are
// neither hashed nor serialized.
struct Block {
  BlockType type = BlockType::kState;
  PublicKey account{};         // open, state
  BlockHash previous{};        // send, receive, change, state
  PublicKey representative{};  // open, change, state
  Amount balance = 0;          // send, state
  // state: link; send: destination account; receive and open: source block hash.
  Hash32 link{};
  Signature signature{};
  uint64_t work = 0;

  bool operator==(const Block&) const = default;
};

// BLAKE2b-256 of the hashed fields; the state block's are preceded by a
// 32-byte preamble holding the value 6.
BlockHash block_hash(const Block& b);

// What the work is computed on: `previous`, or the account for the first
// block of an account (open, and state with previous = 0).
Hash32 block_root(const Block& b);

// Size of the binary body (without the type byte): send 152, receive 136,
// open 168, change 136, state 216.
size_t block_body_size(BlockType t);

// Fields in hash order, then signature (64), then work: 8 bytes little-endian
// for legacy blocks, big-endian for state blocks (as nano-node writes them).
Bytes serialize_block(const Block& b);
// Exactly block_body_size(type) bytes; kMalformed otherwise.
Result<Block> parse_block(BlockType type, ByteView body);

// One type byte then the body (how bulk_pull and friends carry blocks).
Bytes serialize_typed_block(const Block& b);
Result<Block> parse_typed_block(ByteView bytes);

// RPC JSON: "type", the type's fields (accounts as nano_…, hashes as 64 upper
// hex, state balance as decimal raw, send balance as 32 upper hex, state
// "link" plus "link_as_account"), "work" (16 lower hex), "signature" (128
// upper hex).
nlohmann::ordered_json block_to_json(const Block& b);

struct ParsedBlock {
  Block block;
  bool has_signature = false;
  bool has_work = false;
};
// Every hashed field of the type is required and checked (lengths, hex,
// account checksums, balance range); "signature" and "work" are optional and
// reported. State "link" is 64 hex or an account. kInvalidArgument on error.
Result<ParsedBlock> block_from_json(const nlohmann::ordered_json& j);

// Parses JSON text from outside: at most `max_bytes` and nesting depth 16,
// refused before parsing otherwise. kInvalidArgument / kLimit on error.
Result<nlohmann::ordered_json> parse_json_text(std::string_view text, size_t max_bytes = 1 << 20);

}  // namespace chorus::nano
