// Intra-node messages (spec/relay.md, "Intra-node messages"): what relay
// nodes say to each other, over the overlay (SHOUT for "*", WHISPER for a
// named node) or over a node's WebSocket (/node).
//
//   {"source":"relay-a","destination":"*","type":"message","nonce":"a:17",
//    "data":{"channel":"lobby","message":"hi","seq":17}}
//
// A command's data holds "command" and its arguments; a response echoes the
// command's nonce and carries "ok" (and "reason" when false) in its data.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "chorus/base/result.h"

namespace chorus::relay {

inline constexpr std::string_view kEveryNode = "*";
// Bigger INMs are refused on receipt (a relayed client message is at most
// the client frame bound, 1 MiB by default, plus the envelope).
inline constexpr size_t kMaxInmBytes = (1u << 20) + 4096;

struct Inm {
  std::string source;
  std::string destination;  // a node name or "*"
  std::string type;         // "message", "command" or "response"
  std::string nonce;
  nlohmann::json data = nlohmann::json::object();

  std::string to_json() const;
  // kMalformed for anything that is not such an object (a missing or
  // mistyped field, an unknown type, over kMaxInmBytes).
  static Result<Inm> parse(std::string_view text);
  // The response to this command: source and destination swapped, the
  // nonce echoed, "ok" set in `data`.
  Inm response(const std::string& from, bool ok, nlohmann::json data = {}) const;
};

// Fields of JSON that came from another node or a client, read without
// throwing: a missing field, a field of another type, or a `j` that is not
// an object all read as `fallback`.
std::string string_field(const nlohmann::json& j, const char* key, std::string fallback = {});
uint64_t uint_field(const nlohmann::json& j, const char* key, uint64_t fallback = 0);
bool bool_field(const nlohmann::json& j, const char* key, bool fallback = false);
// At most `max` bytes of `s`, never ending inside a UTF-8 sequence (a cut
// one would not serialize as JSON): for echoing what a peer sent.
std::string utf8_prefix(const std::string& s, size_t max);

}  // namespace chorus::relay
