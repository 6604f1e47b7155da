#include "chorus/dht/patch.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <limits>
#include <string>

#include "chorus/overlay/wire.h"

namespace chorus::dht {
namespace {

constexpr uint8_t kFormat = 1;
constexpr uint8_t kOpCopy = 0;
constexpr uint8_t kOpInsert = 1;

Error bad_patch(const std::string& why) {
  return malformed("dht patch: " + why);
}

}  // namespace

Bytes make_patch(ByteView base, ByteView result) {
  // The format counts in u32; values are bounded far below that, so a larger
  // input is a caller bug, not something a peer can send us.
  assert(base.size() <= std::numeric_limits<uint32_t>::max());
  assert(result.size() <= std::numeric_limits<uint32_t>::max());

  const size_t common = std::min(base.size(), result.size());
  size_t prefix = 0;
  while (prefix < common && base[prefix] == result[prefix]) ++prefix;
  // The suffix must not overlap the prefix in either buffer, or an append of
  // repeated bytes would be counted twice.
  size_t suffix = 0;
  while (suffix < common - prefix &&
         base[base.size() - 1 - suffix] == result[result.size() - 1 - suffix])
    ++suffix;
  const ByteView middle = result.subspan(prefix, result.size() - prefix - suffix);

  uint16_t ops = 0;
  if (prefix > 0) ++ops;
  if (!middle.empty()) ++ops;
  if (suffix > 0) ++ops;

  Bytes out;
  out.reserve(7 + 9 * 2 + 5 + middle.size());
  overlay::ByteWriter w(out);
  w.u8(kFormat);
  w.u32(static_cast<uint32_t>(result.size()));
  w.u16(ops);
  if (prefix > 0) {
    w.u8(kOpCopy);
    w.u32(0);
    w.u32(static_cast<uint32_t>(prefix));
  }
  if (!middle.empty()) {
    w.u8(kOpInsert);
    w.u32(static_cast<uint32_t>(middle.size()));
    w.bytes(middle);
  }
  if (suffix > 0) {
    w.u8(kOpCopy);
    w.u32(static_cast<uint32_t>(base.size() - suffix));
    w.u32(static_cast<uint32_t>(suffix));
  }
  return out;
}

Result<Bytes> apply_patch(ByteView base, ByteView patch, size_t max_result) {
  overlay::ByteReader r(patch);
  uint8_t format = 0;
  uint32_t result_length = 0;
  uint16_t op_count = 0;
  if (!r.u8(format)) return bad_patch("empty");
  if (format != kFormat) return bad_patch("unknown format " + std::to_string(format));
  if (!r.u32(result_length) || !r.u16(op_count)) return bad_patch("truncated header");
  // Checked before reserving: result_length is the peer's claim, and this is
  // what keeps a hostile patch from costing more than max_result bytes.
  if (result_length > max_result)
    return limit_exceeded("dht patch: result of " + std::to_string(result_length) +
                          " bytes is above the limit of " + std::to_string(max_result));
  if (op_count == 0 && result_length != 0)
    return bad_patch("no ops for a result of " + std::to_string(result_length) + " bytes");

  Bytes out;
  out.reserve(result_length);
  for (uint32_t i = 0; i < op_count; ++i) {
    uint8_t op = 0;
    if (!r.u8(op)) return bad_patch("truncated at op " + std::to_string(i));
    if (op == kOpCopy) {
      uint32_t offset = 0, length = 0;
      if (!r.u32(offset) || !r.u32(length))
        return bad_patch("truncated COPY at op " + std::to_string(i));
      // In 64 bits: offset + length may wrap a u32.
      if (uint64_t{offset} + length > base.size())
        return bad_patch("COPY " + std::to_string(offset) + "+" + std::to_string(length) +
                         " outside a base of " + std::to_string(base.size()) + " bytes");
      if (length > result_length - out.size())
        return bad_patch("op " + std::to_string(i) + " writes past result_length " +
                         std::to_string(result_length));
      out.insert(out.end(), base.begin() + offset, base.begin() + offset + length);
    } else if (op == kOpInsert) {
      uint32_t length = 0;
      ByteView bytes;
      if (!r.u32(length)) return bad_patch("truncated INSERT at op " + std::to_string(i));
      if (length > result_length - out.size())
        return bad_patch("op " + std::to_string(i) + " writes past result_length " +
                         std::to_string(result_length));
      if (!r.bytes(length, bytes))
        return bad_patch("INSERT of " + std::to_string(length) + " bytes runs past the patch");
      out.insert(out.end(), bytes.begin(), bytes.end());
    } else {
      return bad_patch("unknown op " + std::to_string(op) + " at op " + std::to_string(i));
    }
  }
  if (r.remaining() != 0)
    return bad_patch(std::to_string(r.remaining()) + " trailing bytes after the ops");
  if (out.size() != result_length)
    return bad_patch("ops produce " + std::to_string(out.size()) + " bytes, result_length is " +
                     std::to_string(result_length));
  return out;
}

}  // namespace chorus::dht
