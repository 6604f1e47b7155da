// The transport throughput runs behind `chorus bench transport` and the
// end-to-end part of `chorus bench compression`: two endpoints on loopback,
// one way, with flow control, timed from the first send to the last receipt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "chorus/base/bytes.h"
#include "chorus/compression/method.h"

namespace chorus::tools {

struct RunResult {
  double seconds = 0;
  bool ok = false;
  uint64_t frames_compressed = 0;  // overlay runs only
  uint64_t bytes_sent = 0;         // overlay runs only
};

enum class PayloadKind { kRandom, kText };

// 4 MiB of deterministic message content: random bytes, or JSON-like text.
Bytes payload_pool(PayloadKind kind, uint64_t seed);

// Plain libuv TCP: length-prefixed messages, one uv_write each.
RunResult run_raw(size_t msg_size, uint64_t count);

// Two overlay nodes offering `codecs`; SPEAKs of `msg_size` bytes from one to
// the other, each a different slice of payload_pool(kind).
// `aead_library`: Config::frame_aead_library of both nodes ("" measured).
RunResult run_overlay(size_t msg_size, uint64_t count,
                      const std::vector<compression::Method>& codecs, PayloadKind kind,
                      const std::string& aead_library = "");

}  // namespace chorus::tools
