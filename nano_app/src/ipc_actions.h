// The IPC's request types (spec/ipc.proto) and, for those the JSON RPC
// answers, the mapping both ways: a protobuf request becomes the RPC's
// JSON request, the RPC's JSON answer becomes the protobuf response. The
// RPC (rpc_handler.h) is the one implementation of each action; IPC is a
// second encoding of it.
//
// The RPC writes every value as text and some lists as objects keyed by a
// hash or an account; the mapping turns those into the typed fields and
// repeated messages of ipc.proto. Fields the RPC adds later and ipc.proto
// lacks are left out (a new field there is a minor version).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "chorus/nano/block.h"
#include "ipc.pb.h"

namespace chorus::nano::ipc {

struct Action {
  RequestType type;
  // The request's name on the command line, and the RPC action when `rpc`.
  const char* name;
  const google::protobuf::Message* request;   // the default instance
  const google::protobuf::Message* response;  // the default instance
  bool rpc;  // answered by the JSON RPC; else by the IPC session itself
};

// Every request type this node knows, in RequestType order.
const std::vector<Action>& actions();
const Action* action_of(RequestType type);  // null when unknown
const Action* action_named(std::string_view name);

// The RPC request for `request` (a message of action.request's type),
// with "action" and the flags that ask for typed answers (json_block,
// peer_details).
nlohmann::ordered_json rpc_request(const Action& action, const google::protobuf::Message& request);

// The RPC's answer as the response body, or (an {"error": ...} answer, or
// one that does not fit the response message) false with `error` set.
bool rpc_response(const Action& action, const nlohmann::ordered_json& answer, std::string& body,
                  Error& error);

// A block as ipc.proto's Block (the fields the RPC's json_block writes).
void block_message(const nano::Block& block, Block& out);

}  // namespace chorus::nano::ipc
