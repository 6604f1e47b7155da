// The kinds of DHT operation, one class each (see operation.h for what
// they share and spec/dht.md §7 for the rules they follow).
//
//   FindNodeOp  bootstrap / join / find_node / bucket refresh: a lookup
//                                                              (op_read.cc)
//   GetOp       FIND_VALUE along the lookup, values merged     (op_read.cc)
//   PutOp       STORE a plain value; ok when one replica took it (op_put.cc)
//   PutSignedOp STORE a signed value; the same rule           (op_put.cc)
//   LockOp      LOCK with a majority, then raise the replicas that granted
//               a smaller fencing token to the largest        (op_lock.cc)
//   RenewOp     LOCK with our token; lost without a majority  (op_lock.cc)
//   ReleaseOp   UNLOCK; best effort                           (op_lock.cc)
//   CasOp       CAS with a majority, else undone              (op_cas.cc)
//   DiffOp      DIFF; replicas without the base get the whole value
//               fetched from one that took the patch          (op_diff.cc)
//   ListenOp    LISTEN at the replicas, renewed until cancelled (op_listen.cc)
//   RepublishOp our own puts pushed to replicas that lack them (republisher.h)
#pragma once

#include <map>
#include <set>
#include <utility>
#include <vector>

#include "operation.h"

namespace chorus::dht {

class FindNodeOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kFindNode; }
  // `bootstrap`: an empty answer is kNotFound (nobody is there).
  FindNodeOp(const NodeId& target, bool bootstrap)
      : Operation(target, false), bootstrap_(bootstrap) {}
  void on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) override;

 private:
  bool bootstrap_;
};

class GetOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kGet; }
  explicit GetOp(const Key& target) : Operation(target, true) {}
  void on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) override;
};

class PutOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kPut; }
  PutOp(const Key& target, Value value) : Operation(target, false), value_(std::move(value)) {}
  const Value& value() const { return value_; }
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;
  bool writes_during_lookup() const override { return true; }

 private:
  Value value_;
};

class PutSignedOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kPutSigned; }
  PutSignedOp(const Key& target, SignedValue value)
      : Operation(target, false), value_(std::move(value)) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;
  bool writes_during_lookup() const override { return true; }

 private:
  SignedValue value_;
};

// Who a lock belongs to and for how long it is asked.
struct LockArgs {
  uint64_t owner_tag = 0;
  int64_t lease_ms = 0;
  uint64_t token = 0;  // renew / release: the fencing token we hold
};

class LockOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kLock; }
  LockOp(const Key& target, LockArgs args) : Operation(target, false), args_(args) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;

 private:
  void granted(OpHost& host, int64_t now_ms);  // the kWrite phase ended
  void raised(OpHost& host, int64_t now_ms);   // the kRaise phase ended
  void unlock_all(OpHost& host, int64_t now_ms);

  LockArgs args_;
  uint64_t raise_to_ = 0;
  size_t confirmed_ = 0;          // replicas known to hold a token ≥ raise_to_
  std::vector<int64_t> granted_;  // lease each of those replicas granted
  std::vector<std::pair<Contact, uint64_t>> holding_;  // replica → token it holds for us
};

class RenewOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kRenew; }
  RenewOp(const Key& target, LockArgs args) : Operation(target, false), args_(args) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;

 private:
  LockArgs args_;
};

class ReleaseOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kRelease; }
  ReleaseOp(const Key& target, LockArgs args) : Operation(target, false), args_(args) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;

 private:
  LockArgs args_;
};

// A versioned write: compare_and_set or apply_diff.
struct VersionedArgs {
  uint64_t owner_tag = 0;
  uint64_t base_version = 0;  // CAS: the expected version; diff: the base
  Bytes data;                 // CAS: the new value; diff: the patch
  uint32_t ttl_s = 0;
  Hash256 result_hash{};  // diff: BLAKE2b-256 of the whole new value
};

class CasOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kCas; }
  CasOp(const Key& target, VersionedArgs args) : Operation(target, false), args_(std::move(args)) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;

 private:
  VersionedArgs args_;
};

class DiffOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kDiff; }
  DiffOp(const Key& target, VersionedArgs args)
      : Operation(target, false), args_(std::move(args)) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;
  void on_fetched(OpHost& host, const Body* reply, int64_t now_ms) override;

 private:
  void patched(OpHost& host, int64_t now_ms);   // the kWrite phase ended
  void repaired(OpHost& host, int64_t now_ms);  // the kRepair phase ended
  bool is_result(const VersionedValue& v) const;
  void abort_applied(OpHost& host, int64_t now_ms);
  void repair_missing(OpHost& host, const VersionedValue& value, int64_t now_ms);

  VersionedArgs args_;
  std::vector<Contact> applied_;  // replicas that took the patch
  std::vector<Contact> missing_;  // replicas without the base
};

class ListenOp final : public Operation {
 public:
  OpKind kind() const override { return OpKind::kListen; }
  explicit ListenOp(const Key& target) : Operation(target, true) {}
  StoreBody store_body(const DhtConfig& config) const override;
  void on_lookup_done(OpHost& host, const Replicas& replicas, int64_t now_ms) override;
  void on_phase_done(OpHost& host, int64_t now_ms) override;
  ListenOp* as_listen() override { return this; }

  // Reports what is new to this listener (with nothing given: what the
  // lookup gathered).
  void deliver(OpHost& host, const std::vector<Value>& values,
               const std::vector<SignedValue>& signed_values,
               const std::optional<VersionedValue>& versioned);
  // True when `sender` is a node we registered with, and still may NOTIFY.
  bool listening_at(const PublicKey& sender, int64_t now_ms) const;
  // Registered and due for renewal (a new lookup).
  bool due(int64_t now_ms) const { return phase == Phase::kIdle && now_ms >= next_refresh_ms_; }

 private:
  std::set<std::pair<uint64_t, Hash256>> seen_values_;
  std::map<PublicKey, uint64_t> seen_signed_;
  uint64_t seen_version_ = 0;
  int64_t next_refresh_ms_ = 0;
  // Nodes we sent LISTEN to, and until when they may NOTIFY us (at most k
  // per renewal; expired ones are dropped at each renewal).
  std::map<PublicKey, int64_t> listening_at_;
};

}  // namespace chorus::dht
