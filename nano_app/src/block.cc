#include "chorus/nano/block.h"

#include <sodium.h>

#include <cstring>

namespace chorus::nano {
namespace {

void put(Bytes& out, const uint8_t* p, size_t n) {
  out.insert(out.end(), p, p + n);
}
void put(Bytes& out, const Hash32& h) {
  put(out, h.data(), h.size());
}

// The hashed fields, in order, without the state preamble.
Bytes hashables(const Block& b) {
  Bytes out;
  out.reserve(144);
  const auto balance = amount_to_bytes(b.balance);
  switch (b.type) {
    case BlockType::kSend:
      put(out, b.previous);
      put(out, b.link);
      put(out, balance.data(), balance.size());
      break;
    case BlockType::kReceive:
      put(out, b.previous);
      put(out, b.link);
      break;
    case BlockType::kOpen:
      put(out, b.link);
      put(out, b.representative);
      put(out, b.account);
      break;
    case BlockType::kChange:
      put(out, b.previous);
      put(out, b.representative);
      break;
    case BlockType::kState:
      put(out, b.account);
      put(out, b.previous);
      put(out, b.representative);
      put(out, balance.data(), balance.size());
      put(out, b.link);
      break;
  }
  return out;
}

bool is_zero(const Hash32& h) {
  for (uint8_t c : h)
    if (c != 0) return false;
  return true;
}

}  // namespace

const char* block_type_name(BlockType t) {
  switch (t) {
    case BlockType::kSend:
      return "send";
    case BlockType::kReceive:
      return "receive";
    case BlockType::kOpen:
      return "open";
    case BlockType::kChange:
      return "change";
    case BlockType::kState:
      return "state";
  }
  return "invalid";
}

std::optional<BlockType> block_type_from_name(std::string_view name) {
  for (auto t : {BlockType::kSend, BlockType::kReceive, BlockType::kOpen, BlockType::kChange,
                 BlockType::kState})
    if (name == block_type_name(t)) return t;
  return std::nullopt;
}

std::optional<BlockType> block_type_from_byte(uint8_t b) {
  if (b < 2 || b > 6) return std::nullopt;
  return static_cast<BlockType>(b);
}

BlockHash block_hash(const Block& b) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 32);
  if (b.type == BlockType::kState) {
    uint8_t preamble[32] = {};
    preamble[31] = static_cast<uint8_t>(BlockType::kState);
    crypto_generichash_update(&st, preamble, sizeof preamble);
  }
  const Bytes h = hashables(b);
  crypto_generichash_update(&st, h.data(), h.size());
  BlockHash out;
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Hash32 block_root(const Block& b) {
  if (b.type == BlockType::kOpen) return b.account;
  if (b.type == BlockType::kState && is_zero(b.previous)) return b.account;
  return b.previous;
}

size_t block_body_size(BlockType t) {
  switch (t) {
    case BlockType::kSend:
      return 32 + 32 + 16 + 64 + 8;
    case BlockType::kReceive:
    case BlockType::kChange:
      return 32 + 32 + 64 + 8;
    case BlockType::kOpen:
      return 32 * 3 + 64 + 8;
    case BlockType::kState:
      return 32 * 4 + 16 + 64 + 8;
  }
  return 0;
}

Bytes serialize_block(const Block& b) {
  Bytes out = hashables(b);
  put(out, b.signature.data(), b.signature.size());
  for (int i = 0; i < 8; ++i) {
    const int shift = b.type == BlockType::kState ? 8 * (7 - i) : 8 * i;
    out.push_back(static_cast<uint8_t>(b.work >> shift));
  }
  return out;
}

Result<Block> parse_block(BlockType type, ByteView body) {
  const size_t want = block_body_size(type);
  if (body.size() != want)
    return malformed(std::string(block_type_name(type)) + " block: want " + std::to_string(want) +
                     " bytes, got " + std::to_string(body.size()));
  Block b;
  b.type = type;
  size_t at = 0;
  auto take32 = [&](Hash32& h) {
    std::memcpy(h.data(), body.data() + at, 32);
    at += 32;
  };
  auto take_balance = [&] {
    b.balance = amount_from_bytes(body.data() + at);
    at += 16;
  };
  switch (type) {
    case BlockType::kSend:
      take32(b.previous);
      take32(b.link);
      take_balance();
      break;
    case BlockType::kReceive:
      take32(b.previous);
      take32(b.link);
      break;
    case BlockType::kOpen:
      take32(b.link);
      take32(b.representative);
      take32(b.account);
      break;
    case BlockType::kChange:
      take32(b.previous);
      take32(b.representative);
      break;
    case BlockType::kState:
      take32(b.account);
      take32(b.previous);
      take32(b.representative);
      take_balance();
      take32(b.link);
      break;
  }
  std::memcpy(b.signature.data(), body.data() + at, 64);
  at += 64;
  for (int i = 0; i < 8; ++i) {
    const int shift = type == BlockType::kState ? 8 * (7 - i) : 8 * i;
    b.work |= static_cast<uint64_t>(body[at + static_cast<size_t>(i)]) << shift;
  }
  return b;
}

Bytes serialize_typed_block(const Block& b) {
  Bytes body = serialize_block(b);
  Bytes out;
  out.reserve(body.size() + 1);
  out.push_back(static_cast<uint8_t>(b.type));
  out.insert(out.end(), body.begin(), body.end());
  return out;
}

Result<Block> parse_typed_block(ByteView bytes) {
  if (bytes.empty()) return malformed("block: empty");
  const auto type = block_type_from_byte(bytes[0]);
  if (!type) return malformed("block: unknown type " + std::to_string(bytes[0]));
  return parse_block(*type, bytes.subspan(1));
}

}  // namespace chorus::nano
