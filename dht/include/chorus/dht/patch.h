// Patches for apply_diff: a documented structured format (spec/dht.md §6).
//
//   u8 format = 1 | u32 result_length | u16 op count | ops
//   op COPY   = u8 0 | u32 offset | u32 length      (bytes from the base)
//   op INSERT = u8 1 | u32 length | bytes           (new bytes)
//
// The result is the ops' output concatenated; it must be exactly
// result_length bytes. apply_patch checks every range against the base and
// the limit before copying, so a hostile patch costs at most max_result
// bytes of memory.
#pragma once

#include <cstddef>

#include "chorus/base/bytes.h"
#include "chorus/base/result.h"

namespace chorus::dht {

// A small patch from `base` to `result`: the common prefix and suffix are
// copied, the middle inserted. Good for edits, appends and truncations.
Bytes make_patch(ByteView base, ByteView result);

// kMalformed for a patch that does not parse, reads outside the base, or
// does not add up to its result_length; kLimit when result_length is above
// max_result.
Result<Bytes> apply_patch(ByteView base, ByteView patch, size_t max_result);

}  // namespace chorus::dht
