// Fixed messages of every op and STORE kind, shared by the RPC tests and the
// vector generator so spec/vectors/dht.json and the tests name the same set.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chorus/dht/rpc.h"

namespace chorus::dht::samples {

template <size_t N>
std::array<uint8_t, N> filled(uint8_t start) {
  std::array<uint8_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(start + i);
  return a;
}

inline Bytes text(const char* s) {
  auto v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

inline Value value() {
  return Value{0x0102030405060708ULL, text("hello"), 600};
}

inline SignedValue signed_value() {
  return SignedValue{filled<32>(0x40), 7, 3600, text("signed"), filled<64>(0x80)};
}

inline VersionedValue versioned() {
  return VersionedValue{42, text("v42"), 120};
}

struct Sample {
  std::string name;
  std::optional<Op> answering;
  Message message;
};

inline Message msg(uint64_t txid, Body body, uint8_t flags = 0) {
  return Message{txid, flags, std::move(body)};
}

inline StoreReq store(StoreBody body) {
  return StoreReq{filled<16>(0xa0), filled<32>(0x20), std::move(body)};
}

inline std::vector<Sample> all() {
  std::vector<Sample> s;
  s.push_back({"ping", std::nullopt, msg(1, PingReq{})});
  s.push_back({"find_node", std::nullopt, msg(2, FindNodeReq{filled<32>(0x11)}, kFlagReadOnly)});
  s.push_back({"find_value", std::nullopt, msg(3, FindValueReq{filled<32>(0x22)})});
  s.push_back({"store_put", std::nullopt, msg(4, store(PutBody{value()}))});
  s.push_back({"store_put_signed", std::nullopt, msg(5, store(PutSignedBody{signed_value()}))});
  s.push_back({"store_lock", std::nullopt, msg(6, store(LockBody{9, 30000, 5}))});
  s.push_back({"store_unlock", std::nullopt, msg(7, store(UnlockBody{9, 6}))});
  s.push_back({"store_cas", std::nullopt, msg(8, store(CasBody{9, 41, 120, text("new")}))});
  s.push_back({"store_diff", std::nullopt,
               msg(9, store(DiffBody{9, 42, 120, text("patch"), filled<32>(0x33)}))});
  s.push_back({"store_repair", std::nullopt, msg(10, store(RepairBody{versioned()}))});
  s.push_back({"store_abort", std::nullopt, msg(11, store(AbortBody{9, 43}))});
  s.push_back({"store_listen", std::nullopt, msg(12, store(ListenBody{300}))});
  s.push_back({"notify", std::nullopt,
               msg(13, NotifyReq{filled<32>(0x20), {value()}, {signed_value()}, versioned()})});
  FoundReply nodes;
  nodes.contacts = {make_contact(filled<32>(0x50), Address{"192.0.2.7", 4000}),
                    make_contact(filled<32>(0x60), Address{"2001:db8::1", 4001})};
  nodes.token = filled<16>(0xb0);
  s.push_back({"ack_find_node", Op::kFindNode, msg(2, nodes)});
  FoundReply found = nodes;
  found.values = {value()};
  found.signed_values = {signed_value()};
  found.versioned = versioned();
  found.lock = LockState{Owner{filled<32>(0x70), 9}, 6, 25000};
  s.push_back({"ack_find_value", Op::kFindValue, msg(3, found)});
  s.push_back({"ack_store", Op::kStore, msg(6, StoreReply{6, 30000})});
  s.push_back({"ack_ping", Op::kPing, msg(1, EmptyReply{})});
  s.push_back({"nack", std::nullopt, msg(8, Nack{Refusal::kConflict, 42, 0})});
  return s;
}

inline const char* op_name(std::optional<Op> op) {
  if (!op) return "";
  switch (*op) {
    case Op::kAck:
      return "ack";
    case Op::kNack:
      return "nack";
    case Op::kPing:
      return "ping";
    case Op::kFindNode:
      return "find_node";
    case Op::kFindValue:
      return "find_value";
    case Op::kStore:
      return "store";
    case Op::kNotify:
      return "notify";
  }
  return "";
}

inline std::optional<Op> op_from_name(const std::string& s) {
  for (Op op :
       {Op::kAck, Op::kNack, Op::kPing, Op::kFindNode, Op::kFindValue, Op::kStore, Op::kNotify}) {
    if (s == op_name(op)) return op;
  }
  return std::nullopt;
}

}  // namespace chorus::dht::samples
