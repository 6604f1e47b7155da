#include <string>

#include "chorus/nano/account.h"
#include "chorus/nano/block.h"

namespace chorus::nano {
namespace {

using Json = nlohmann::ordered_json;

Result<std::string> get_string(const Json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end()) return invalid_argument(std::string("block: missing \"") + field + "\"");
  if (!it->is_string())
    return invalid_argument(std::string("block: \"") + field + "\" is not a string");
  return it->get<std::string>();
}

Result<Hash32> get_hex32(const Json& j, const char* field) {
  auto s = get_string(j, field);
  if (!s.ok()) return s.error();
  return parse_hex_fixed<32>(*s, std::string("block: ") + field);
}

Result<PublicKey> get_account(const Json& j, const char* field) {
  auto s = get_string(j, field);
  if (!s.ok()) return s.error();
  auto k = decode_account(*s);
  if (!k.ok()) return invalid_argument(std::string("block: ") + field + ": " + k.error().message());
  return k;
}

#define CHORUS_TRY_ASSIGN(lhs, expr) \
  do {                               \
    auto r_ = (expr);                \
    if (!r_.ok()) return r_.error(); \
    lhs = std::move(*r_);            \
  } while (0)

}  // namespace

Json block_to_json(const Block& b) {
  Json j;
  j["type"] = block_type_name(b.type);
  switch (b.type) {
    case BlockType::kSend:
      j["previous"] = to_hex_upper(b.previous);
      j["destination"] = encode_account(b.link);
      j["balance"] = amount_to_hex(b.balance);
      break;
    case BlockType::kReceive:
      j["previous"] = to_hex_upper(b.previous);
      j["source"] = to_hex_upper(b.link);
      break;
    case BlockType::kOpen:
      j["source"] = to_hex_upper(b.link);
      j["representative"] = encode_account(b.representative);
      j["account"] = encode_account(b.account);
      break;
    case BlockType::kChange:
      j["previous"] = to_hex_upper(b.previous);
      j["representative"] = encode_account(b.representative);
      break;
    case BlockType::kState:
      j["account"] = encode_account(b.account);
      j["previous"] = to_hex_upper(b.previous);
      j["representative"] = encode_account(b.representative);
      j["balance"] = amount_to_string(b.balance);
      j["link"] = to_hex_upper(b.link);
      j["link_as_account"] = encode_account(b.link);
      break;
  }
  j["signature"] = to_hex_upper(b.signature);
  j["work"] = u64_to_hex(b.work);
  return j;
}

Result<ParsedBlock> block_from_json(const Json& j) {
  if (!j.is_object()) return invalid_argument("block: not a JSON object");
  std::string type_name;
  CHORUS_TRY_ASSIGN(type_name, get_string(j, "type"));
  const auto type = block_type_from_name(type_name);
  if (!type) return invalid_argument("block: unknown type \"" + type_name + "\"");
  ParsedBlock p;
  Block& b = p.block;
  b.type = *type;
  switch (b.type) {
    case BlockType::kSend: {
      CHORUS_TRY_ASSIGN(b.previous, get_hex32(j, "previous"));
      CHORUS_TRY_ASSIGN(b.link, get_account(j, "destination"));
      std::string balance;
      CHORUS_TRY_ASSIGN(balance, get_string(j, "balance"));
      CHORUS_TRY_ASSIGN(b.balance, parse_amount_hex(balance));
      break;
    }
    case BlockType::kReceive:
      CHORUS_TRY_ASSIGN(b.previous, get_hex32(j, "previous"));
      CHORUS_TRY_ASSIGN(b.link, get_hex32(j, "source"));
      break;
    case BlockType::kOpen:
      CHORUS_TRY_ASSIGN(b.link, get_hex32(j, "source"));
      CHORUS_TRY_ASSIGN(b.representative, get_account(j, "representative"));
      CHORUS_TRY_ASSIGN(b.account, get_account(j, "account"));
      break;
    case BlockType::kChange:
      CHORUS_TRY_ASSIGN(b.previous, get_hex32(j, "previous"));
      CHORUS_TRY_ASSIGN(b.representative, get_account(j, "representative"));
      break;
    case BlockType::kState: {
      CHORUS_TRY_ASSIGN(b.account, get_account(j, "account"));
      CHORUS_TRY_ASSIGN(b.previous, get_hex32(j, "previous"));
      CHORUS_TRY_ASSIGN(b.representative, get_account(j, "representative"));
      std::string balance;
      CHORUS_TRY_ASSIGN(balance, get_string(j, "balance"));
      auto amount = parse_amount(balance);
      if (!amount.ok()) return invalid_argument("block: balance: " + amount.error().message());
      b.balance = *amount;
      std::string link;
      CHORUS_TRY_ASSIGN(link, get_string(j, "link"));
      if (auto as_account = decode_account(link); as_account.ok()) {
        b.link = *as_account;
      } else {
        CHORUS_TRY_ASSIGN(b.link, parse_hex_fixed<32>(link, "block: link"));
      }
      if (j.contains("link_as_account")) {
        PublicKey other;
        CHORUS_TRY_ASSIGN(other, get_account(j, "link_as_account"));
        if (other != b.link) return invalid_argument("block: link_as_account differs from link");
      }
      break;
    }
  }
  if (j.contains("signature")) {
    std::string sig;
    CHORUS_TRY_ASSIGN(sig, get_string(j, "signature"));
    CHORUS_TRY_ASSIGN(b.signature, parse_hex_fixed<64>(sig, "block: signature"));
    p.has_signature = true;
  }
  if (j.contains("work")) {
    std::string work;
    CHORUS_TRY_ASSIGN(work, get_string(j, "work"));
    CHORUS_TRY_ASSIGN(b.work, parse_hex_u64(work, "block: work"));
    p.has_work = true;
  }
  return p;
}

Result<Json> parse_json_text(std::string_view text, size_t max_bytes) {
  constexpr int kMaxDepth = 16;
  if (text.size() > max_bytes)
    return limit_exceeded("input: more than " + std::to_string(max_bytes) + " bytes");
  // Bound the nesting before handing the text to the parser.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxDepth) return limit_exceeded("input: JSON nested too deep");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  Json j = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return invalid_argument("input: not valid JSON");
  return j;
}

}  // namespace chorus::nano
