// ReachCore alone: no sockets, no loop, a virtual clock. Each test plays
// the driver by hand — it drains actions and feeds back the results it
// chooses — so routing, retries, the route cache, deadlines and stop are
// checked step by step.
#include "chorus/dht/reach_core.h"

#include <gtest/gtest.h>

#include <string>

namespace chorus::dht {
namespace {

using overlay::Identity;

constexpr overlay::AppId kApp = 5;
constexpr int64_t kMs = 1000;

Identity identity(uint8_t n) {
  std::array<uint8_t, 32> seed{};
  seed[0] = n;
  seed[31] = 0x5a;
  return Identity::from_seed(seed);
}

SignedValue signed_record(const Identity& owner, uint64_t seq, const NodeRecord& rec) {
  SignedValue v;
  v.owner = owner.public_key();
  v.seq = seq;
  v.ttl_s = 600;
  v.data = encode_node_record(rec).value();
  v.signature =
      owner.sign(signed_value_message(node_record_key(owner.public_key()), v.seq, v.ttl_s, v.data));
  return v;
}

NodeRecord listening(const Identity& node, uint16_t port) {
  return NodeRecord{NodeRecord::Kind::kListening,
                    {make_contact(node.public_key(), Address{"10.0.0.1", port})}};
}

NodeRecord relayed(const std::vector<const Identity*>& relays) {
  NodeRecord rec{NodeRecord::Kind::kRelayed, {}};
  uint16_t port = 7000;
  for (const Identity* r : relays)
    rec.entries.push_back(make_contact(r->public_key(), Address{"10.0.0.2", port++}));
  return rec;
}

OpResult with_record(const SignedValue& v) {
  OpResult r;
  r.signed_values.push_back(v);
  return r;
}

// Drains the core, keeping everything but timers (the last one is noted).
struct Driver {
  explicit Driver(ReachCore& c) : core(c) {}
  ReachCore& core;
  std::vector<ReachAction> got;
  int64_t timer = -1;

  std::vector<ReachAction>& drain() {
    got.clear();
    ReachAction a;
    while (core.poll_action(a)) {
      if (auto* t = std::get_if<SetTimer>(&a)) {
        timer = t->at_us;
        continue;
      }
      got.push_back(std::move(a));
    }
    return got;
  }
  template <typename T>
  T only() {
    drain();
    EXPECT_EQ(got.size(), 1u);
    if (got.size() != 1 || !std::holds_alternative<T>(got[0])) {
      ADD_FAILURE() << "expected one action of another type (index "
                    << (got.empty() ? -1 : static_cast<int>(got[0].index())) << ")";
      return T{};
    }
    return std::get<T>(got[0]);
  }
};

ReachCoreOptions no_publish() {
  ReachCoreOptions o;
  o.publish = false;
  return o;
}

TEST(ReachCore, SendBeforeStartIsCancelledAndLeavesNoCountBehind) {
  // The bug: an early failure decremented an operation counter it had never
  // incremented, so it wrapped and every later send failed with kLimit.
  const Identity self = identity(1), peer = identity(2);
  ReachCoreOptions o = no_publish();
  o.max_operations = 2;
  ReachCore core(self.public_key(), o);
  Driver d(core);
  for (int i = 0; i < 3; ++i) {
    const ReachOp op = core.whisper(kApp, peer.public_key(), {1}, 0);
    auto done = d.only<Completed>();
    EXPECT_EQ(done.op, op);
    EXPECT_EQ(std::get<Result<Hash256>>(done.result).error().code(), ErrorCode::kCancelled);
  }
  EXPECT_EQ(core.operations(), 0u);
  ASSERT_TRUE(core.start(0).ok());
  core.on_peer(peer.public_key(), true, 0);
  // Two may be in progress; neither is refused with kLimit.
  for (int i = 0; i < 2; ++i) {
    core.whisper(kApp, peer.public_key(), {2}, 0);
    auto send = d.only<Send>();
    EXPECT_EQ(send.to, peer.public_key());
    EXPECT_FALSE(send.relay);
  }
  // The third is over the bound.
  core.request(kApp, peer.public_key(), {3}, 1000, 0);
  auto over = d.only<Completed>();
  EXPECT_EQ(std::get<Result<Bytes>>(over.result).error().code(), ErrorCode::kLimit);
}

TEST(ReachCore, StopCompletesEverySendOnceWithCancelledAndIgnoresLateResults) {
  const Identity self = identity(1), peer = identity(2), far = identity(3);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  core.on_peer(peer.public_key(), true, 0);
  const ReachOp a = core.whisper(kApp, peer.public_key(), {1}, 0);
  const ReachOp b = core.request(kApp, far.public_key(), {2}, 1000, 0);
  d.drain();  // a Send and a GetRecord
  core.stop(1);
  d.drain();
  ASSERT_EQ(d.got.size(), 2u);
  for (auto& act : d.got) {
    auto& c = std::get<Completed>(act);
    EXPECT_TRUE(c.op == a || c.op == b);
    auto code = c.op == a ? std::get<Result<Hash256>>(c.result).error().code()
                          : std::get<Result<Bytes>>(c.result).error().code();
    EXPECT_EQ(code, ErrorCode::kCancelled);
  }
  // The driver's late results complete nothing a second time.
  core.on_whisper_done(a, Hash256{}, 2);
  core.on_record(b, OpResult{}, 2);
  EXPECT_TRUE(d.drain().empty());
  // A send after stop completes at once with kCancelled.
  core.whisper(kApp, peer.public_key(), {3}, 3);
  EXPECT_EQ(std::get<Result<Hash256>>(d.only<Completed>().result).error().code(),
            ErrorCode::kCancelled);
  EXPECT_EQ(core.start(4).error().code(), ErrorCode::kCancelled);
}

TEST(ReachCore, ListeningStrangerIsLookedUpDialledAndSentTo) {
  const Identity self = identity(1), target = identity(2);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  const ReachOp op = core.request(kApp, target.public_key(), {'h', 'i'}, 500, 0);
  auto get = d.only<GetRecord>();
  EXPECT_EQ(get.op, op);
  EXPECT_EQ(get.target, target.public_key());
  core.on_record(op, with_record(signed_record(target, 10, listening(target, 4000))), 5 * kMs);
  auto dial = d.only<Dial>();
  EXPECT_EQ(dial.key, target.public_key());
  EXPECT_EQ(dial.address.port, 4000);
  core.on_dialled(op, Result<void>(), 6 * kMs);
  auto send = d.only<Send>();
  EXPECT_TRUE(send.request);
  EXPECT_EQ(send.timeout_ms, 500);
  EXPECT_EQ(send.payload, (Bytes{'h', 'i'}));
  core.on_request_done(op, Bytes{'o', 'k'}, 7 * kMs);
  auto done = d.only<Completed>();
  EXPECT_EQ(*std::get<Result<Bytes>>(done.result), (Bytes{'o', 'k'}));
  EXPECT_EQ(core.operations(), 0u);
}

TEST(ReachCore, InitiateOnlyNodeGoesThroughItsRelaysLinkedFirstNextOnRefusal) {
  const Identity self = identity(1), target = identity(2), r1 = identity(3), r2 = identity(4);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  core.on_peer(r2.public_key(), true, 0);  // linked: tried first, without a dial
  const ReachOp op = core.whisper(kApp, target.public_key(), {1}, 0);
  d.only<GetRecord>();
  core.on_record(op, with_record(signed_record(target, 3, relayed({&r1, &r2}))), 1);
  auto first = d.only<Send>();
  EXPECT_EQ(first.relay, r2.public_key());
  core.on_whisper_done(op, refused("relaying is off"), 2);
  auto dial = d.only<Dial>();
  EXPECT_EQ(dial.key, r1.public_key());
  core.on_dialled(op, Result<void>(), 3);
  auto second = d.only<Send>();
  EXPECT_EQ(second.relay, r1.public_key());
  // A request timeout would not move on; a whisper refused by the last
  // relay ends with that refusal.
  core.on_whisper_done(op, refused("target gone"), 4);
  auto done = d.only<Completed>();
  EXPECT_EQ(std::get<Result<Hash256>>(done.result).error().code(), ErrorCode::kRefused);
}

TEST(ReachCore, NoRecordFallsBackToFindNodeThenNotFound) {
  const Identity self = identity(1), target = identity(2);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  ReachOp op = core.whisper(kApp, target.public_key(), {1}, 0);
  d.only<GetRecord>();
  core.on_record(op, not_found("nothing"), 1);
  d.only<FindNode>();
  OpResult found;
  found.closest.push_back(make_contact(target.public_key(), Address{"10.0.0.9", 4100}));
  core.on_contacts(op, found, 2);
  EXPECT_EQ(d.only<Dial>().address.port, 4100);

  const Identity nobody = identity(9);
  op = core.whisper(kApp, nobody.public_key(), {1}, 3);
  d.only<GetRecord>();
  core.on_record(op, OpResult{}, 4);
  d.only<FindNode>();
  core.on_contacts(op, OpResult{}, 5);
  EXPECT_EQ(std::get<Result<Hash256>>(d.only<Completed>().result).error().code(),
            ErrorCode::kNotFound);
}

// Completes one send to a listening `target` whose record the driver
// serves (when asked) as `rec`; returns how many GetRecords it took.
int send_once(ReachCore& core, Driver& d, const Identity& target, const SignedValue& rec,
              int64_t now) {
  int gets = 0;
  const ReachOp op = core.whisper(kApp, target.public_key(), {1}, now);
  for (int step = 0; step < 10; ++step) {
    d.drain();
    if (d.got.empty()) break;
    for (auto& a : d.got) {
      if (std::holds_alternative<GetRecord>(a)) {
        ++gets;
        core.on_record(op, with_record(rec), now);
      } else if (std::holds_alternative<Dial>(a)) {
        core.on_dialled(op, Result<void>(), now);
      } else if (std::holds_alternative<Send>(a)) {
        core.on_whisper_done(op, Hash256{}, now);
      } else if (auto* c = std::get_if<Completed>(&a)) {
        EXPECT_TRUE(std::get<Result<Hash256>>(c->result).ok());
        return gets;
      }
    }
  }
  ADD_FAILURE() << "the send did not complete";
  return gets;
}

TEST(ReachCore, RouteCacheSavesTheGetWithinItsTtl) {
  const Identity self = identity(1), target = identity(2);
  ReachCoreOptions o = no_publish();
  o.route_cache.ttl_ms = 10'000;
  ReachCore core(self.public_key(), o);
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  const SignedValue rec = signed_record(target, 1, listening(target, 4000));
  EXPECT_EQ(send_once(core, d, target, rec, 0), 1);
  EXPECT_EQ(send_once(core, d, target, rec, 5'000 * kMs), 0);  // within the TTL: no get
  EXPECT_EQ(core.stats().record_gets, 1u);
  EXPECT_EQ(core.stats().cache_hits, 1u);
  EXPECT_EQ(send_once(core, d, target, rec, 10'001 * kMs), 1);  // expired: looked up again
  EXPECT_EQ(core.stats().record_gets, 2u);
}

TEST(ReachCore, RouteCacheIsBounded) {
  const Identity self = identity(1);
  ReachCoreOptions o = no_publish();
  o.route_cache.max_entries = 3;
  ReachCore core(self.public_key(), o);
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  for (uint8_t i = 10; i < 20; ++i) {
    const Identity t = identity(i);
    send_once(core, d, t, signed_record(t, 1, listening(t, 4000)), i);
    EXPECT_LE(core.route_cache().size(), 3u);
  }
  // The three used last are kept; an older one costs a get again.
  const Identity recent = identity(19), old = identity(10);
  EXPECT_EQ(send_once(core, d, recent, signed_record(recent, 1, listening(recent, 4000)), 30), 0);
  EXPECT_EQ(send_once(core, d, old, signed_record(old, 1, listening(old, 4000)), 31), 1);
}

TEST(ReachCore, NewerRecordReplacesTheCachedRoute) {
  const Identity self = identity(1), target = identity(2);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  EXPECT_EQ(send_once(core, d, target, signed_record(target, 5, listening(target, 4000)), 0), 1);
  // An older or equal record changes nothing; a newer one (the node moved
  // to port 4001) invalidates the cached address.
  core.observe_record(target.public_key(), {signed_record(target, 4, listening(target, 3999))}, 1);
  core.observe_record(target.public_key(), {signed_record(target, 6, listening(target, 4001))}, 1);
  EXPECT_EQ(core.stats().cache_invalidated, 1u);
  core.whisper(kApp, target.public_key(), {1}, 2);
  auto dial = d.only<Dial>();  // no get, and the new address
  EXPECT_EQ(dial.address.port, 4001);
  EXPECT_EQ(core.stats().record_gets, 1u);
}

TEST(ReachCore, FailedCachedRouteIsInvalidatedThenOneFreshLookupAndRetry) {
  const Identity self = identity(1), target = identity(2);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  EXPECT_EQ(send_once(core, d, target, signed_record(target, 5, listening(target, 4000)), 0), 1);
  const ReachOp op = core.whisper(kApp, target.public_key(), {1}, 1);
  EXPECT_EQ(d.only<Dial>().address.port, 4000);  // from the cache
  core.on_dialled(op, io_error("connection refused"), 2);
  EXPECT_EQ(core.route_cache().size(), 0u);  // invalidated
  d.only<GetRecord>();                       // one fresh lookup
  core.on_record(op, with_record(signed_record(target, 7, listening(target, 4002))), 3);
  auto dial = d.only<Dial>();
  EXPECT_EQ(dial.address.port, 4002);
  // It fails too: no second lookup, the error is the caller's.
  core.on_dialled(op, io_error("connection refused again"), 4);
  auto done = d.only<Completed>();
  EXPECT_EQ(std::get<Result<Hash256>>(done.result).error().code(), ErrorCode::kIo);
  EXPECT_EQ(core.stats().record_gets, 2u);
  EXPECT_EQ(core.stats().retries, 1u);
}

TEST(ReachCore, PeerThatTurnsOutGoneIsLookedUpAndDialled) {
  const Identity self = identity(1), target = identity(2);
  ReachCore core(self.public_key(), no_publish());
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  core.on_peer(target.public_key(), true, 0);
  const ReachOp op = core.whisper(kApp, target.public_key(), {1}, 0);
  EXPECT_FALSE(d.only<Send>().relay);
  core.on_whisper_done(op, not_found("not a direct peer"), 1);  // the link had just gone
  d.only<GetRecord>();
  core.on_record(op, with_record(signed_record(target, 2, listening(target, 4000))), 2);
  EXPECT_EQ(d.only<Dial>().address.port, 4000);
  EXPECT_FALSE(core.is_peer(target.public_key()));
}

TEST(ReachCore, DeadlineEndsAnOpWhoseResultNeverCame) {
  const Identity self = identity(1), target = identity(2);
  ReachCoreOptions o = no_publish();
  o.operation_deadline_ms = 1000;
  ReachCore core(self.public_key(), o);
  Driver d(core);
  ASSERT_TRUE(core.start(0).ok());
  const ReachOp op = core.request(kApp, target.public_key(), {1}, 500, 0);
  d.only<GetRecord>();
  EXPECT_EQ(d.timer, 1500 * kMs);
  core.on_timer(1499 * kMs);
  EXPECT_TRUE(d.drain().empty());
  core.on_timer(1500 * kMs);
  auto done = d.only<Completed>();
  EXPECT_EQ(done.op, op);
  EXPECT_EQ(std::get<Result<Bytes>>(done.result).error().code(), ErrorCode::kTimeout);
  EXPECT_EQ(d.timer, -1);
  core.on_record(op, OpResult{}, 1600 * kMs);  // late: ignored
  EXPECT_TRUE(d.drain().empty());
}

TEST(ReachCore, PublishesAtStartOnScheduleAndWhenRelaysChange) {
  const Identity self = identity(1), r1 = identity(2), r2 = identity(3);
  ReachCoreOptions o;
  o.republish_interval_ms = 1000;
  ReachCore core(self.public_key(), o);
  Driver d(core);
  core.set_relays({r1.public_key()}, 0);  // before start: nothing yet
  EXPECT_TRUE(d.drain().empty());
  ASSERT_TRUE(core.start(5'000'000).ok());
  auto first = d.only<PublishRecord>();
  EXPECT_EQ(first.seq, 5'000'000u);
  EXPECT_EQ(d.timer, 5'000'000 + 1000 * kMs);
  // A change while the put is in flight: one more put after it.
  core.set_relays({r1.public_key(), r2.public_key()}, 5'000'001);
  EXPECT_TRUE(d.drain().empty());
  core.on_published(first.op, Result<void>(), 5'000'002);
  auto second = d.only<PublishRecord>();
  EXPECT_GT(second.seq, first.seq);
  core.on_published(second.op, Result<void>(), 5'000'003);
  core.set_relays({r1.public_key(), r2.public_key()}, 5'000'004);  // unchanged: no put
  EXPECT_TRUE(d.drain().empty());
  core.on_timer(d.timer);
  auto third = d.only<PublishRecord>();
  EXPECT_GT(third.seq, second.seq);
  // An explicit publish is reported; the schedule's are not.
  const ReachOp mine = core.publish(6'100'000);
  auto fourth = d.only<PublishRecord>();
  EXPECT_EQ(fourth.op, mine);
  core.on_published(third.op, Result<void>(), 6'100'001);
  EXPECT_TRUE(d.drain().empty());
  core.on_published(mine, not_found("no relay"), 6'100'002);
  auto done = d.only<Completed>();
  EXPECT_EQ(done.op, mine);
  EXPECT_EQ(std::get<Result<void>>(done.result).error().code(), ErrorCode::kNotFound);
}

}  // namespace
}  // namespace chorus::dht
