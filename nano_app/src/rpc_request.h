// Reading an RPC request the way nano-node reads it (its property tree takes
// every value as text): strings, numbers and booleans are accepted where
// nano-node accepts them, and each bad field fails with nano-node's text.
// Internal to the RPC: a Failure thrown here becomes {"error": text} in
// RpcHandler::handle_json and never leaves it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "chorus/nano/types.h"

namespace chorus::nano::rpc {

class Failure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Request {
 public:
  explicit Request(const nlohmann::ordered_json& j) : j_(j) {}

  bool has(const char* key) const { return j_.is_object() && j_.contains(key); }
  // A string, number or boolean as nano-node's text; missing or an object:
  // "Unable to parse JSON" (what nano-node says for a missing field).
  std::string string(const char* key) const;
  std::optional<std::string> string_optional(const char* key) const;
  // true/false, or "true"/"false"/"1"/"0".
  bool flag(const char* key, bool fallback) const;
  // An unsigned decimal, as a number or a string; `error` otherwise.
  uint64_t u64(const char* key, const char* error) const;

  PublicKey account(const char* key) const;  // "Bad account number"
  BlockHash hash(const char* key) const;     // "Invalid block hash"
  // A JSON array of accounts (or hashes), each with its text as given; more
  // than `max` is refused.
  std::vector<std::pair<std::string, PublicKey>> accounts(const char* key, size_t max) const;
  std::vector<std::pair<std::string, BlockHash>> hashes(const char* key, size_t max) const;

  uint64_t count_optional(uint64_t max) const;  // absent: max; "Invalid count"
  uint64_t count_required(uint64_t max) const;  // zero is invalid too
  uint64_t offset() const;                      // "Invalid offset"
  Amount threshold() const;                     // absent: 0; "Bad threshold number"
  uint64_t work() const;                        // "Bad work"
  // "difficulty" (16 hex) or "multiplier" (of `base`); nullopt when neither.
  std::optional<uint64_t> difficulty(uint64_t base) const;

 private:
  const nlohmann::ordered_json& j_;
};

// nano-node's text for a multiplier.
std::string multiplier_text(double multiplier);

// {"error": text}, as every failed action answers.
std::string error_json(std::string_view text);

// Runs `body`. A Failure it throws, or a type error of a value nothing
// expected (nlohmann's), is answered through `reply` as nano-node answers
// it; then false. True when `body` ran to its end.
template <typename Body>
bool answer_failures(const std::function<void(std::string)>& reply, Body&& body) {
  try {
    body();
    return true;
  } catch (const Failure& f) {
    reply(error_json(f.what()));
  } catch (const std::exception&) {
    reply(error_json("Unable to parse JSON"));
  }
  return false;
}

}  // namespace chorus::nano::rpc
