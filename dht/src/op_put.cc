// put / put_signed: STORE to the replicas; ok when at least one took it.
#include "operations.h"

namespace chorus::dht {
namespace {

void put_done(OpHost& host, Operation& op) {
  op.result.acks = op.tally.acks.size();
  if (op.tally.acks.empty())
    return host.finish(op, op.tally.none_accepted("put", op.targets.size()));
  host.finish(op, std::move(op.result));
}

}  // namespace

StoreBody PutOp::store_body(const DhtConfig&) const {
  return PutBody{value_};
}

void PutOp::on_phase_done(OpHost& host, int64_t) {
  put_done(host, *this);
}

StoreBody PutSignedOp::store_body(const DhtConfig&) const {
  return PutSignedBody{value_};
}

void PutSignedOp::on_phase_done(OpHost& host, int64_t) {
  put_done(host, *this);
}

}  // namespace chorus::dht
