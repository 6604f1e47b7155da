// Node records: how to reach a node that is not a direct peer, published in
// the DHT by the node itself (spec/dht.md, "Node records").
//
// A record is a signed value (owner = the node's key, so only that node can
// write it) under node_record_key(node). It names either the node's own
// listen address, or — for an initiate-only node, which nobody can dial —
// the relays it keeps links to, through which WHISPERs reach it
// (spec/overlay.md, "Relay"). Pure functions, no I/O: dht::Reach publishes
// and reads records; these encode, check and choose.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "chorus/base/result.h"
#include "chorus/dht/types.h"

namespace chorus::dht {

inline constexpr uint8_t kNodeRecordVersion = 1;
inline constexpr size_t kMaxRecordRelays = 8;

struct NodeRecord {
  enum class Kind : uint8_t {
    kListening = 1,  // entries: exactly one, the node itself at its listen address
    kRelayed = 2,    // entries: 1..kMaxRecordRelays relays (their key and listen address)
  };
  Kind kind = Kind::kListening;
  std::vector<Contact> entries;
  bool operator==(const NodeRecord&) const = default;
};

// BLAKE2b-256("chorus-node-record/v1" ‖ node key).
Key node_record_key(const PublicKey& node);

// version u8 ‖ kind u8 ‖ count u8 ‖ count × (key[32] ‖ family u8 ‖ address[4|16] ‖ port u16).
// kInvalidArgument for a record that breaks the rules decode checks.
Result<Bytes> encode_node_record(const NodeRecord& record);
// kMalformed: wrong version or kind, a count out of range (listening: 1;
// relayed: 1..kMaxRecordRelays), a bad family, port 0, truncation or
// trailing bytes.
Result<NodeRecord> decode_node_record(ByteView bytes);

// The record of `node` among what a get returned: signed by `node` under
// `node_record_key(node)` (the signature is checked here, whatever the
// replicas did), the highest sequence that decodes, and for a listening
// record naming `node` itself. kNotFound when there is none. With `seq`,
// the chosen record's sequence is stored there.
Result<NodeRecord> pick_node_record(const PublicKey& node,
                                    const std::vector<SignedValue>& signed_values,
                                    uint64_t* seq = nullptr);

// One way to reach `target`: dial `dial_key` at `address`, then send
// directly (no relay) or through `relay` (= dial_key).
struct Route {
  PublicKey dial_key{};
  Address address;
  std::optional<PublicKey> relay;
};

// The routes a record offers, best first: a listening node directly; an
// initiate-only node through its relays, those we are already linked to
// (`is_peer`) first, never through `self` or `target`.
std::vector<Route> routes_from(const NodeRecord& record, const PublicKey& target,
                               const PublicKey& self,
                               const std::function<bool(const PublicKey&)>& is_peer);

}  // namespace chorus::dht
