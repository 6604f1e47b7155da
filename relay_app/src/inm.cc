#include "chorus/relay/inm.h"

namespace chorus::relay {

std::string Inm::to_json() const {
  nlohmann::json j = {{"source", source},
                      {"destination", destination},
                      {"type", type},
                      {"nonce", nonce},
                      {"data", data}};
  // Invalid UTF-8 (never from a parse, but a bug should not end the loop
  // thread) becomes U+FFFD.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Result<Inm> Inm::parse(std::string_view text) {
  if (text.size() > kMaxInmBytes)
    return malformed("inm: " + std::to_string(text.size()) + " bytes, over the bound");
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return malformed("inm: not a JSON object");
  Inm m;
  for (auto [field, out] : {std::pair<const char*, std::string*>{"source", &m.source},
                            {"destination", &m.destination},
                            {"type", &m.type},
                            {"nonce", &m.nonce}}) {
    auto it = j.find(field);
    if (it == j.end() || !it->is_string())
      return malformed(std::string("inm: missing or non-string \"") + field + "\"");
    *out = it->get<std::string>();
  }
  if (m.type != "message" && m.type != "command" && m.type != "response")
    return malformed("inm: unknown type \"" + m.type + "\"");
  if (m.source.empty() || m.destination.empty())
    return malformed("inm: empty source or destination");
  auto data = j.find("data");
  if (data == j.end() || !data->is_object())
    return malformed("inm: missing or non-object \"data\"");
  m.data = std::move(*data);
  return m;
}

Inm Inm::response(const std::string& from, bool ok, nlohmann::json d) const {
  Inm r;
  r.source = from;
  r.destination = source;
  r.type = "response";
  r.nonce = nonce;
  r.data = d.is_object() ? std::move(d) : nlohmann::json::object();
  r.data["ok"] = ok;
  return r;
}

std::string string_field(const nlohmann::json& j, const char* key, std::string fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

uint64_t uint_field(const nlohmann::json& j, const char* key, uint64_t fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  if (it == j.end()) return fallback;
  if (it->is_number_unsigned()) return it->get<uint64_t>();
  // A value built in code (not parsed) holds small numbers as signed.
  if (it->is_number_integer() && it->get<int64_t>() >= 0) return it->get<uint64_t>();
  return fallback;
}

std::string utf8_prefix(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xc0) == 0x80) --n;
  return s.substr(0, n);
}

bool bool_field(const nlohmann::json& j, const char* key, bool fallback) {
  if (!j.is_object()) return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

}  // namespace chorus::relay
