#include "ipc_actions.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>

#include <google/protobuf/descriptor.h>

namespace chorus::nano::ipc {

using Json = nlohmann::ordered_json;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

const std::vector<Action>& actions() {
  static const std::vector<Action> kActions = {
      {REQUEST_TYPE_ACCOUNT_BALANCE, "account_balance", &AccountBalanceRequest::default_instance(),
       &AccountBalanceResponse::default_instance(), true},
      {REQUEST_TYPE_ACCOUNT_INFO, "account_info", &AccountInfoRequest::default_instance(),
       &AccountInfoResponse::default_instance(), true},
      {REQUEST_TYPE_BLOCK_INFO, "block_info", &BlockInfoRequest::default_instance(),
       &BlockInfoResponse::default_instance(), true},
      {REQUEST_TYPE_BLOCKS_INFO, "blocks_info", &BlocksInfoRequest::default_instance(),
       &BlocksInfoResponse::default_instance(), true},
      {REQUEST_TYPE_PROCESS, "process", &ProcessRequest::default_instance(),
       &ProcessResponse::default_instance(), true},
      {REQUEST_TYPE_WORK_GENERATE, "work_generate", &WorkGenerateRequest::default_instance(),
       &WorkGenerateResponse::default_instance(), true},
      {REQUEST_TYPE_WORK_VALIDATE, "work_validate", &WorkValidateRequest::default_instance(),
       &WorkValidateResponse::default_instance(), true},
      {REQUEST_TYPE_PEERS, "peers", &PeersRequest::default_instance(),
       &PeersResponse::default_instance(), true},
      {REQUEST_TYPE_REPRESENTATIVES_ONLINE, "representatives_online",
       &RepresentativesOnlineRequest::default_instance(),
       &RepresentativesOnlineResponse::default_instance(), true},
      {REQUEST_TYPE_CONFIRMATION_INFO, "confirmation_info",
       &ConfirmationInfoRequest::default_instance(), &ConfirmationInfoResponse::default_instance(),
       true},
      {REQUEST_TYPE_TELEMETRY, "telemetry", &TelemetryRequest::default_instance(),
       &TelemetryResponse::default_instance(), true},
      {REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, "subscribe_confirmations",
       &SubscribeConfirmationsRequest::default_instance(),
       &SubscribeConfirmationsResponse::default_instance(), false},
      {REQUEST_TYPE_UNSUBSCRIBE_CONFIRMATIONS, "unsubscribe_confirmations",
       &UnsubscribeConfirmationsRequest::default_instance(),
       &UnsubscribeConfirmationsResponse::default_instance(), false},
      {REQUEST_TYPE_STOP, "stop", &StopRequest::default_instance(),
       &StopResponse::default_instance(), false},
  };
  return kActions;
}

const Action* action_of(RequestType type) {
  for (const Action& a : actions())
    if (a.type == type) return &a;
  return nullptr;
}

const Action* action_named(std::string_view name) {
  for (const Action& a : actions())
    if (name == a.name) return &a;
  return nullptr;
}

namespace {

// ---- protobuf -> the RPC's JSON (every scalar as text, as the RPC reads)

Json scalar_to_json(const Message& m, const Reflection& r, const FieldDescriptor& f, int i);

Json message_to_json(const Message& m) {
  const Reflection& r = *m.GetReflection();
  std::vector<const FieldDescriptor*> set;
  r.ListFields(m, &set);  // the fields present (proto3: non-default)
  Json out = Json::object();
  for (const FieldDescriptor* f : set) {
    if (f->is_repeated()) {
      Json list = Json::array();
      for (int i = 0; i < r.FieldSize(m, f); ++i) list.push_back(scalar_to_json(m, r, *f, i));
      out[f->name()] = std::move(list);
    } else {
      out[f->name()] = scalar_to_json(m, r, *f, -1);
    }
  }
  return out;
}

Json scalar_to_json(const Message& m, const Reflection& r, const FieldDescriptor& f, int i) {
  const bool rep = i >= 0;
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r.GetRepeatedString(m, &f, i) : r.GetString(m, &f);
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r.GetRepeatedBool(m, &f, i) : r.GetBool(m, &f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_UINT64:
      return std::to_string(rep ? r.GetRepeatedUInt64(m, &f, i) : r.GetUInt64(m, &f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return std::to_string(rep ? r.GetRepeatedUInt32(m, &f, i) : r.GetUInt32(m, &f));
    case FieldDescriptor::CPPTYPE_INT64:
      return std::to_string(rep ? r.GetRepeatedInt64(m, &f, i) : r.GetInt64(m, &f));
    case FieldDescriptor::CPPTYPE_INT32:
      return std::to_string(rep ? r.GetRepeatedInt32(m, &f, i) : r.GetInt32(m, &f));
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return rep ? r.GetRepeatedDouble(m, &f, i) : r.GetDouble(m, &f);
    case FieldDescriptor::CPPTYPE_FLOAT:
      return rep ? r.GetRepeatedFloat(m, &f, i) : r.GetFloat(m, &f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return (rep ? r.GetRepeatedEnum(m, &f, i) : r.GetEnum(m, &f))->name();
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return message_to_json(rep ? r.GetRepeatedMessage(m, &f, i) : r.GetMessage(m, &f));
  }
  return Json();
}

// ---- the RPC's JSON -> protobuf (text where numbers and booleans are)

bool parse_u64(const std::string& s, uint64_t& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool json_to_message(const Json& j, Message& m, std::string& why);

// One value of field `f` (repeated: appended).
bool set_value(const Json& v, Message& m, const FieldDescriptor& f, std::string& why) {
  const Reflection& r = *m.GetReflection();
  const bool rep = f.is_repeated();
  auto wrong = [&] {
    why = "\"" + f.name() + "\": " + v.dump().substr(0, 80) + " does not fit";
    return false;
  };
  auto as_u64 = [&](uint64_t& out) {
    if (v.is_number_unsigned()) {
      out = v.get<uint64_t>();
      return true;
    }
    return v.is_string() && parse_u64(v.get_ref<const std::string&>(), out);
  };
  switch (f.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING: {
      std::string s;
      if (v.is_string()) {
        s = v.get<std::string>();
      } else if (v.is_number() || v.is_boolean()) {
        s = v.dump();
      } else {
        return wrong();
      }
      rep ? r.AddString(&m, &f, std::move(s)) : r.SetString(&m, &f, std::move(s));
      return true;
    }
    case FieldDescriptor::CPPTYPE_BOOL: {
      bool b = false;
      if (v.is_boolean()) {
        b = v.get<bool>();
      } else if (v == "true" || v == "1") {
        b = true;
      } else if (v != "false" && v != "0") {
        return wrong();
      }
      rep ? r.AddBool(&m, &f, b) : r.SetBool(&m, &f, b);
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t n = 0;
      if (!as_u64(n)) return wrong();
      rep ? r.AddUInt64(&m, &f, n) : r.SetUInt64(&m, &f, n);
      return true;
    }
    case FieldDescriptor::CPPTYPE_UINT32: {
      uint64_t n = 0;
      if (!as_u64(n) || n > std::numeric_limits<uint32_t>::max()) return wrong();
      rep ? r.AddUInt32(&m, &f, static_cast<uint32_t>(n))
          : r.SetUInt32(&m, &f, static_cast<uint32_t>(n));
      return true;
    }
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double d = 0;
      if (v.is_number()) {
        d = v.get<double>();
      } else if (v.is_string()) {
        const std::string& s = v.get_ref<const std::string&>();
        char* end = nullptr;
        d = std::strtod(s.c_str(), &end);
        if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d)) return wrong();
      } else {
        return wrong();
      }
      rep ? r.AddDouble(&m, &f, d) : r.SetDouble(&m, &f, d);
      return true;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      if (!v.is_object()) return wrong();
      Message* sub = rep ? r.AddMessage(&m, &f) : r.MutableMessage(&m, &f);
      return json_to_message(v, *sub, why);
    }
    default:
      return wrong();  // ipc.proto's responses hold no other kinds
  }
}

// Fills `m` from the object `j` by field name; keys `m` lacks are left
// out, and nano-node's "" for an empty list is an empty repeated field.
bool json_to_message(const Json& j, Message& m, std::string& why) {
  if (!j.is_object()) {
    why = "not an object";
    return false;
  }
  const auto* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor& f = *d->field(i);
    auto it = j.find(f.name());
    if (it == j.end()) continue;
    if (!f.is_repeated()) {
      if (!set_value(*it, m, f, why)) return false;
      continue;
    }
    if (*it == "") continue;
    if (!it->is_array()) {
      why = "\"" + f.name() + "\": not a list";
      return false;
    }
    for (const Json& e : *it)
      if (!set_value(e, m, f, why)) return false;
  }
  return true;
}

// The RPC's lists keyed by a hash, account or address: {K: V, ...} (or
// [K, ...], or "" for none) as [{key: K, ...V}] ([{key: K, value: V}]
// when V is not an object), in the RPC's order.
Json keyed_list(const Json& j, const char* key, const char* value = nullptr) {
  Json out = Json::array();
  if (j.is_array()) {
    for (const Json& k : j) out.push_back(Json{{key, k}});
  } else if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      Json e = Json::object();
      e[key] = k;
      if (v.is_object()) {
        for (const auto& [vk, vv] : v.items()) e[vk] = vv;
      } else if (value) {
        e[value] = v;
      }
      out.push_back(std::move(e));
    }
  }
  return out;
}

// Errors that say the node lacks something, not that the request was bad.
bool unsupported(const std::string& text) {
  return text == "Unknown command" || text == "Elections not running" ||
         text == "Work generation is disabled" || text == "peer_details is not supported";
}

}  // namespace

Json rpc_request(const Action& action, const Message& request) {
  Json j = message_to_json(request);
  Json out{{"action", action.name}};
  for (auto& [k, v] : j.items()) out[k] = v;
  switch (action.type) {
    case REQUEST_TYPE_BLOCK_INFO:
    case REQUEST_TYPE_CONFIRMATION_INFO:
    case REQUEST_TYPE_PROCESS:
      out["json_block"] = "true";
      break;
    case REQUEST_TYPE_BLOCKS_INFO:
      out["json_block"] = "true";
      if (!out.contains("hashes")) out["hashes"] = Json::array();
      break;
    case REQUEST_TYPE_PEERS:
      out["peer_details"] = "true";
      break;
    default:
      break;
  }
  return out;
}

bool rpc_response(const Action& action, const Json& answer, std::string& body, Error& error) {
  if (!answer.is_object()) {
    error.set_code(ERROR_CODE_UNSPECIFIED);
    error.set_message("the RPC's answer is not an object");
    return false;
  }
  if (auto e = answer.find("error"); e != answer.end()) {
    const std::string text = e->is_string() ? e->get<std::string>() : e->dump();
    error.set_code(unsupported(text) ? ERROR_CODE_UNSUPPORTED : ERROR_CODE_REQUEST_FAILED);
    error.set_message(text);
    return false;
  }
  Json j = answer;
  switch (action.type) {
    case REQUEST_TYPE_BLOCKS_INFO:
      if (j.contains("blocks")) j["blocks"] = keyed_list(j["blocks"], "hash");
      break;
    case REQUEST_TYPE_PEERS:
      if (j.contains("peers")) j["peers"] = keyed_list(j["peers"], "address", "protocol_version");
      break;
    case REQUEST_TYPE_REPRESENTATIVES_ONLINE:
      if (j.contains("representatives"))
        j["representatives"] = keyed_list(j["representatives"], "account", "weight");
      break;
    case REQUEST_TYPE_CONFIRMATION_INFO:
      if (j.contains("blocks")) {
        j["blocks"] = keyed_list(j["blocks"], "hash");
        for (Json& b : j["blocks"])
          if (b.contains("representatives"))
            b["representatives"] = keyed_list(b["representatives"], "account", "weight");
      }
      break;
    default:
      break;
  }
  std::unique_ptr<Message> m(action.response->New());
  std::string why;
  if (!json_to_message(j, *m, why)) {
    error.set_code(ERROR_CODE_UNSPECIFIED);
    error.set_message("the RPC's answer does not map to " + m->GetTypeName() + ": " + why);
    return false;
  }
  body = m->SerializeAsString();
  return true;
}

void block_message(const nano::Block& block, Block& out) {
  std::string why;
  out.Clear();
  (void)json_to_message(block_to_json(block), out, why);  // strings only: always fits
}

}  // namespace chorus::nano::ipc
