#include "rpc_request.h"

#include <charconv>
#include <cstdio>

#include "chorus/nano/account.h"
#include "chorus/nano/work.h"

namespace chorus::nano::rpc {

namespace {
const char* const kUnparsable = "Unable to parse JSON";

std::optional<uint64_t> parse_u64(const std::string& s) {
  uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}
}  // namespace

std::optional<std::string> Request::string_optional(const char* key) const {
  if (!has(key)) return std::nullopt;
  const auto& v = j_.at(key);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return v.dump();
  throw Failure(kUnparsable);
}

std::string Request::string(const char* key) const {
  auto s = string_optional(key);
  if (!s) throw Failure(kUnparsable);
  return *s;
}

bool Request::flag(const char* key, bool fallback) const {
  auto s = string_optional(key);
  if (!s) return fallback;
  if (*s == "true" || *s == "1") return true;
  if (*s == "false" || *s == "0") return false;
  throw Failure(kUnparsable);
}

uint64_t Request::u64(const char* key, const char* error) const {
  auto v = parse_u64(string(key));
  if (!v) throw Failure(error);
  return *v;
}

PublicKey Request::account(const char* key) const {
  auto a = decode_account(string(key));
  if (!a) throw Failure("Bad account number");
  return *a;
}

BlockHash Request::hash(const char* key) const {
  auto h = parse_hex_fixed<32>(string(key), key);
  if (!h) throw Failure("Invalid block hash");
  return *h;
}

namespace {
template <typename Parse>
auto list_of(const nlohmann::ordered_json& j, const char* key, size_t max, Parse parse)
    -> std::vector<std::pair<std::string, decltype(parse(std::string()))>> {
  if (!j.contains(key) || !j.at(key).is_array()) throw Failure(kUnparsable);
  const auto& arr = j.at(key);
  if (arr.size() > max) throw Failure("Too many entries (at most " + std::to_string(max) + ")");
  std::vector<std::pair<std::string, decltype(parse(std::string()))>> out;
  out.reserve(arr.size());
  for (const auto& v : arr) {
    if (!v.is_string()) throw Failure(kUnparsable);
    std::string text = v.get<std::string>();
    auto value = parse(text);
    out.emplace_back(std::move(text), value);
  }
  return out;
}
}  // namespace

std::vector<std::pair<std::string, PublicKey>> Request::accounts(const char* key,
                                                                 size_t max) const {
  return list_of(j_, key, max, [](const std::string& s) {
    auto a = decode_account(s);
    if (!a) throw Failure("Bad account number");
    return *a;
  });
}

std::vector<std::pair<std::string, BlockHash>> Request::hashes(const char* key, size_t max) const {
  return list_of(j_, key, max, [](const std::string& s) {
    auto h = parse_hex_fixed<32>(s, "hash");
    if (!h) throw Failure("Invalid block hash");
    return *h;
  });
}

uint64_t Request::count_optional(uint64_t max) const {
  if (!has("count")) return max;
  auto v = parse_u64(string("count"));
  if (!v) throw Failure("Invalid count");
  return std::min(*v, max);
}

uint64_t Request::count_required(uint64_t max) const {
  auto v = parse_u64(string("count"));
  if (!v || *v == 0) throw Failure("Invalid count");
  return std::min(*v, max);
}

uint64_t Request::offset() const {
  if (!has("offset")) return 0;
  auto v = parse_u64(string("offset"));
  if (!v) throw Failure("Invalid offset");
  return *v;
}

Amount Request::threshold() const {
  auto s = string_optional("threshold");
  if (!s) return 0;
  auto a = parse_amount(*s);
  if (!a) throw Failure("Bad threshold number");
  return *a;
}

uint64_t Request::work() const {
  auto w = parse_hex_u64(string("work"), "work");
  if (!w) throw Failure("Bad work");
  return *w;
}

std::optional<uint64_t> Request::difficulty(uint64_t base) const {
  if (auto d = string_optional("difficulty")) {
    auto v = parse_hex_u64(*d, "difficulty");
    if (!v) throw Failure("Bad difficulty");
    return *v;
  }
  if (auto m = string_optional("multiplier")) {
    double x = 0;
    auto [p, ec] = std::from_chars(m->data(), m->data() + m->size(), x);
    if (ec != std::errc() || p != m->data() + m->size() || !(x > 0))
      throw Failure("Bad multiplier");
    auto v = difficulty_from_multiplier(x, base);
    if (!v) throw Failure("Bad multiplier");
    return *v;
  }
  return std::nullopt;
}

std::string error_json(std::string_view text) {
  return nlohmann::ordered_json{{"error", std::string(text)}}.dump();
}

std::string multiplier_text(double multiplier) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.16g", multiplier);
  return buf;
}

}  // namespace chorus::nano::rpc
