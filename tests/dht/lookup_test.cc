#include "chorus/dht/lookup.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <set>
#include <string>

#include "chorus/dht/routing_table.h"

namespace chorus::dht {
namespace {

NodeId random_id(std::mt19937_64& rng) {
  NodeId id{};
  for (auto& b : id) b = static_cast<uint8_t>(rng());
  return id;
}

Contact contact_of(const NodeId& id) {
  return Contact{id, id, Address{"10.0.0.1", 1}};
}

NodeId id_with_first_byte(uint8_t first) {
  NodeId id{};
  id[0] = first;
  return id;
}

// Short hex prefixes make a failed comparison readable.
std::vector<std::string> hex(const std::vector<NodeId>& ids) {
  std::vector<std::string> out;
  for (const NodeId& id : ids) {
    char buf[17];
    for (int i = 0; i < 8; ++i) std::snprintf(buf + 2 * i, 3, "%02x", id[i]);
    out.emplace_back(buf);
  }
  return out;
}

std::vector<NodeId> ids_of(const std::vector<Contact>& contacts) {
  std::vector<NodeId> out;
  for (const Contact& c : contacts) out.push_back(c.id);
  return out;
}

// A whole network in one process: every node's routing table knows a random
// sample of the others plus its own neighbourhood (what its join lookup
// would have found), as Kademlia assumes.
class Network {
 public:
  Network(size_t nodes, size_t sample, uint64_t seed) : rng_(seed) {
    for (size_t i = 0; i < nodes; ++i) ids_.push_back(random_id(rng_));
    for (size_t i = 0; i < nodes; ++i) {
      auto [it, fresh] = tables_.emplace(ids_[i], RoutingTable(ids_[i], 20));
      RoutingTable& table = it->second;
      for (size_t s = 0; s < sample; ++s) table.observe(contact_of(ids_[rng_() % nodes]), 0);
      for (const NodeId& near : brute_closest(ids_[i], 21)) table.observe(contact_of(near), 0);
    }
  }

  std::vector<NodeId> brute_closest(const Key& target, size_t n,
                                    const std::set<NodeId>& excluded = {}) const {
    std::vector<NodeId> all;
    for (const NodeId& id : ids_) {
      if (!excluded.count(id)) all.push_back(id);
    }
    n = std::min(n, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<ptrdiff_t>(n), all.end(),
                      [&](const NodeId& a, const NodeId& b) { return closer(target, a, b); });
    all.resize(n);
    return all;
  }

  struct Outcome {
    std::vector<NodeId> found;
    int depth = 0;   // hops to the closest node found
    int rounds = 0;  // round trips, when every query of a round answers together
    size_t queried = 0;
    size_t max_in_flight = 0;
    size_t max_in_flight_before_converged = 0;
    size_t max_candidates = 0;
  };

  // Drives one lookup from `origin` to the end, answering each round of
  // queries from the simulated tables. `answer` may override a node's reply.
  template <typename Answer>
  Outcome run(const NodeId& origin, const Key& target, const LookupConfig& config,
              const std::set<NodeId>& dead, Answer&& answer) {
    Lookup lookup(target, tables_.at(origin).closest(target, config.k), config);
    Outcome out;
    for (int round = 0; !lookup.done(); ++round) {
      std::vector<Contact> asked;
      while (auto c = lookup.next_to_query()) {
        asked.push_back(*c);
        out.max_in_flight = std::max(out.max_in_flight, lookup.in_flight());
        if (!lookup.converged())
          out.max_in_flight_before_converged =
              std::max(out.max_in_flight_before_converged, lookup.in_flight());
      }
      out.rounds = round + 1;
      EXPECT_FALSE(asked.empty()) << "not done, yet nothing to ask";
      if (asked.empty() || round > 10000) break;
      for (const Contact& c : asked) {
        auto node = tables_.find(c.id);
        if (node == tables_.end() || dead.count(c.id)) {
          lookup.on_failure(c.id);
          continue;
        }
        std::vector<Contact> reply;
        if (!answer(c.id, target, reply)) reply = node->second.closest(target, config.k);
        std::erase_if(reply, [&](const Contact& r) { return r.id == origin; });
        lookup.on_reply(c.id, reply);
        out.max_candidates = std::max(out.max_candidates, lookup.candidates());
      }
    }
    out.found = ids_of(lookup.closest_answered());
    out.queried = lookup.queried();
    if (!out.found.empty()) out.depth = lookup.depth_of(out.found.front());
    EXPECT_LE(lookup.answered() + lookup.failed() + lookup.in_flight(), lookup.queried());
    return out;
  }

  Outcome run(const NodeId& origin, const Key& target, const LookupConfig& config,
              const std::set<NodeId>& dead = {}) {
    return run(origin, target, config, dead,
               [](const NodeId&, const Key&, std::vector<Contact>&) { return false; });
  }

  const std::vector<NodeId>& ids() const { return ids_; }
  const RoutingTable& table(const NodeId& id) const { return tables_.at(id); }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
  std::vector<NodeId> ids_;
  std::map<NodeId, RoutingTable> tables_;
};

int median(std::vector<int> v) {
  std::nth_element(v.begin(), v.begin() + static_cast<ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

TEST(LookupNetwork, FindsTheTrueClosestInFewHops) {
  Network net(2000, 200, 42);
  LookupConfig config;
  std::vector<int> depths;
  for (int i = 0; i < 200; ++i) {
    NodeId origin = net.ids()[net.rng()() % net.ids().size()];
    Key target = random_id(net.rng());
    if (i % 4 == 0) target = net.ids()[net.rng()() % net.ids().size()];
    auto out = net.run(origin, target, config);
    ASSERT_EQ(hex(out.found), hex(net.brute_closest(target, config.k, {origin}))) << "lookup " << i;
    EXPECT_LE(out.max_in_flight_before_converged, config.alpha);
    EXPECT_LE(out.max_in_flight, config.k);
    depths.push_back(out.depth);
  }
  EXPECT_LE(median(depths), 4);
}

// Asking the rest of the k closest at once, once the closest contact known
// has nothing closer to name, is what keeps a lookup to a few round trips:
// α at a time, the k closest alone would take k/α rounds. It must not buy
// that with many more queries.
TEST(LookupNetwork, AsksTheLastRoundAllAtOnce) {
  Network net(2000, 200, 45);
  LookupConfig config;
  std::vector<int> rounds;
  size_t queried = 0, converged_before_end = 0;
  for (int i = 0; i < 200; ++i) {
    NodeId origin = net.ids()[net.rng()() % net.ids().size()];
    Key target = random_id(net.rng());
    auto out = net.run(origin, target, config);
    ASSERT_EQ(hex(out.found), hex(net.brute_closest(target, config.k, {origin}))) << "lookup " << i;
    if (out.max_in_flight > config.alpha) ++converged_before_end;
    rounds.push_back(out.rounds);
    queried += out.queried;
  }
  EXPECT_LE(median(rounds), 5);            // 8 with α in flight to the end
  EXPECT_GE(converged_before_end, 190u);   // nearly every lookup widens
  EXPECT_LE(queried / 200, 3 * config.k);  // about the k closest plus the hops
}

TEST(LookupNetwork, ConvergesWhenSomeNodesNeverAnswer) {
  Network net(2000, 200, 43);
  std::set<NodeId> dead;
  for (const NodeId& id : net.ids()) {
    if (net.rng()() % 10 == 0) dead.insert(id);
  }
  LookupConfig config;
  for (int i = 0; i < 100; ++i) {
    NodeId origin;
    do origin = net.ids()[net.rng()() % net.ids().size()];
    while (dead.count(origin));
    Key target = random_id(net.rng());
    std::set<NodeId> excluded = dead;
    excluded.insert(origin);
    auto out = net.run(origin, target, config, dead);
    ASSERT_EQ(hex(out.found), hex(net.brute_closest(target, config.k, excluded))) << "lookup " << i;
  }
}

TEST(LookupNetwork, HostileNodeCannotStallOrBloatTheLookup) {
  Network net(2000, 200, 44);
  LookupConfig config;
  config.max_candidates = 64;
  std::mt19937_64 junk(99);
  for (int i = 0; i < 50; ++i) {
    NodeId origin = net.ids()[net.rng()() % net.ids().size()];
    Key target = random_id(net.rng());
    // The hostile node is the one the origin knows closest to the target,
    // so the lookup surely asks it.
    NodeId hostile = net.table(origin).closest(target, 1).front().id;
    auto lie = [&](const NodeId& from, const Key&, std::vector<Contact>& reply) {
      if (from != hostile) return false;
      for (int n = 0; n < 1000; ++n) reply.push_back(contact_of(hostile));
      for (int n = 0; n < 1000; ++n) reply.push_back(contact_of(random_id(junk)));
      return true;
    };
    auto out = net.run(origin, target, config, {}, lie);
    ASSERT_EQ(hex(out.found), hex(net.brute_closest(target, config.k, {origin}))) << "lookup " << i;
    EXPECT_LE(out.max_candidates, config.max_candidates);
  }
}

TEST(Lookup, KeepsAtMostAlphaInFlight) {
  std::vector<Contact> seeds;
  for (int i = 1; i <= 10; ++i) seeds.push_back(contact_of(id_with_first_byte(uint8_t(i))));
  Lookup lookup(Key{}, seeds, {20, 3, 256});
  auto a = lookup.next_to_query(), b = lookup.next_to_query(), c = lookup.next_to_query();
  ASSERT_TRUE(a && b && c);
  // Closest first.
  EXPECT_EQ(a->id, id_with_first_byte(1));
  EXPECT_EQ(c->id, id_with_first_byte(3));
  EXPECT_FALSE(lookup.next_to_query().has_value());
  EXPECT_EQ(lookup.in_flight(), 3u);
  lookup.on_failure(b->id);
  auto d = lookup.next_to_query();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->id, id_with_first_byte(4));
  EXPECT_FALSE(lookup.next_to_query().has_value());
  EXPECT_EQ(lookup.queried(), 4u);
  EXPECT_EQ(lookup.failed(), 1u);
}

TEST(Lookup, AStalledQueryFreesItsPlaceButItsLateAnswerStillCounts) {
  std::vector<Contact> seeds;
  for (int i = 1; i <= 6; ++i) seeds.push_back(contact_of(id_with_first_byte(uint8_t(i))));
  Lookup lookup(Key{}, seeds, {4, 3, 256});
  auto a = lookup.next_to_query(), b = lookup.next_to_query(), c = lookup.next_to_query();
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(lookup.next_to_query().has_value());
  lookup.on_stalled(a->id);
  EXPECT_EQ(lookup.in_flight(), 2u);
  EXPECT_EQ(lookup.stalled_count(), 1u);
  // Its place goes to the next one, and the window of the k = 4 closest
  // reaches one further, past the stalled one.
  auto d = lookup.next_to_query();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->id, id_with_first_byte(4));
  lookup.on_reply(b->id, {});
  lookup.on_reply(c->id, {});
  lookup.on_reply(d->id, {});
  auto e = lookup.next_to_query();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->id, id_with_first_byte(5));
  lookup.on_reply(e->id, {});
  // Done without waiting for the stalled one; it is listed as such.
  EXPECT_TRUE(lookup.done());
  ASSERT_EQ(lookup.stalled().size(), 1u);
  EXPECT_EQ(lookup.stalled().front().id, a->id);
  // It answers late, naming a closer contact: taken, and asked.
  lookup.on_reply(a->id, {contact_of(id_with_first_byte(0))});
  EXPECT_EQ(lookup.stalled_count(), 0u);
  EXPECT_EQ(lookup.answered(), 5u);
  EXPECT_FALSE(lookup.done());
  auto f = lookup.next_to_query();
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(f->id, id_with_first_byte(0));
  // A timeout for something already answered changes nothing.
  lookup.on_failure(a->id);
  EXPECT_EQ(lookup.failed(), 0u);
}

// When every peer slows down at once, stalling them all must not end the
// lookup with nobody heard: with no one else left to ask, it waits.
TEST(Lookup, WithNobodyElseToAskItWaitsForTheStalled) {
  Lookup lookup(Key{}, {contact_of(id_with_first_byte(1)), contact_of(id_with_first_byte(2))},
                {20, 3, 256});
  auto a = lookup.next_to_query(), b = lookup.next_to_query();
  ASSERT_TRUE(a && b);
  lookup.on_stalled(a->id);
  lookup.on_stalled(b->id);
  EXPECT_FALSE(lookup.next_to_query().has_value());
  EXPECT_FALSE(lookup.done());
  lookup.on_reply(b->id, {});
  EXPECT_FALSE(lookup.done());
  lookup.on_failure(a->id);
  EXPECT_TRUE(lookup.done());
  ASSERT_EQ(lookup.closest_answered().size(), 1u);
  EXPECT_EQ(lookup.closest_answered().front().id, b->id);
}

TEST(Lookup, AStalledQueryThatTimesOutFailsOnce) {
  Lookup lookup(Key{}, {contact_of(id_with_first_byte(1)), contact_of(id_with_first_byte(2))},
                {20, 3, 256});
  auto a = lookup.next_to_query();
  ASSERT_TRUE(a.has_value());
  lookup.on_stalled(a->id);
  lookup.on_stalled(a->id);  // twice: no effect
  EXPECT_EQ(lookup.stalled_count(), 1u);
  lookup.on_failure(a->id);
  lookup.on_failure(a->id);
  EXPECT_EQ(lookup.stalled_count(), 0u);
  EXPECT_EQ(lookup.failed(), 1u);
  EXPECT_TRUE(lookup.stalled().empty());
}

TEST(Lookup, AsksTheRestOfTheKClosestOnceTheClosestNamesNoOneCloser) {
  std::vector<Contact> seeds;
  for (int i = 1; i <= 10; ++i) seeds.push_back(contact_of(id_with_first_byte(uint8_t(i * 2))));
  Lookup lookup(Key{}, seeds, {20, 3, 256});
  auto a = lookup.next_to_query(), b = lookup.next_to_query(), c = lookup.next_to_query();
  ASSERT_TRUE(a && b && c);
  // b names someone closer than a: still α at a time.
  lookup.on_reply(b->id, {contact_of(id_with_first_byte(1))});
  EXPECT_FALSE(lookup.converged());
  auto d = lookup.next_to_query();
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->id, id_with_first_byte(1));
  EXPECT_FALSE(lookup.next_to_query().has_value());
  // The closest answers and names only farther contacts: the rest go at once.
  lookup.on_reply(d->id, {contact_of(id_with_first_byte(30))});
  EXPECT_TRUE(lookup.converged());
  size_t more = 0;
  while (lookup.next_to_query()) ++more;
  EXPECT_EQ(more, 8u);  // seeds 8..20 and the newcomer 30: all but a, b, c
  EXPECT_EQ(lookup.in_flight(), 10u);
  // A closer contact named now is asked at once too.
  lookup.on_reply(a->id, {contact_of(id_with_first_byte(0x00))});
  EXPECT_TRUE(lookup.next_to_query().has_value());
}

TEST(Lookup, NeverAsksTwiceAndIgnoresStrayAnswers) {
  NodeId a = id_with_first_byte(1), b = id_with_first_byte(2);
  Lookup lookup(Key{}, {contact_of(a), contact_of(b)}, {20, 3, 256});
  lookup.on_reply(a, {contact_of(id_with_first_byte(9))});  // not asked yet
  EXPECT_EQ(lookup.answered(), 0u);
  EXPECT_EQ(lookup.depth_of(id_with_first_byte(9)), 0);
  ASSERT_EQ(lookup.next_to_query()->id, a);
  ASSERT_EQ(lookup.next_to_query()->id, b);
  lookup.on_failure(a);
  lookup.on_reply(b, {contact_of(a), contact_of(b)});
  lookup.on_reply(b, {contact_of(id_with_first_byte(9))});  // a second answer
  lookup.on_failure(b);
  EXPECT_EQ(lookup.answered(), 1u);
  EXPECT_EQ(lookup.failed(), 1u);
  EXPECT_FALSE(lookup.next_to_query().has_value());
  EXPECT_TRUE(lookup.done());
  EXPECT_EQ(ids_of(lookup.closest_answered()), (std::vector<NodeId>{b}));
}

TEST(Lookup, MergesDuplicatesKeepingTheSmallerDepth) {
  NodeId a = id_with_first_byte(0x10), b = id_with_first_byte(0x20), far = id_with_first_byte(0x40),
         near = id_with_first_byte(0x01);
  Lookup lookup(Key{}, {contact_of(a), contact_of(b), contact_of(far)}, {20, 1, 256});
  ASSERT_EQ(lookup.next_to_query()->id, a);
  lookup.on_reply(a, {contact_of(near), contact_of(far), contact_of(far)});
  EXPECT_EQ(lookup.depth_of(near), 2);
  EXPECT_EQ(lookup.depth_of(far), 1);  // a seed stays at depth 1
  EXPECT_EQ(lookup.candidates(), 4u);
  ASSERT_EQ(lookup.next_to_query()->id, near);
  lookup.on_reply(near, {contact_of(far), contact_of(a)});
  EXPECT_EQ(lookup.depth_of(far), 1);
  EXPECT_EQ(lookup.candidates(), 4u);
}

TEST(Lookup, IsDoneWhenTheKClosestLiveOnesAnswered) {
  std::vector<Contact> seeds;
  for (int i = 1; i <= 6; ++i) seeds.push_back(contact_of(id_with_first_byte(uint8_t(i))));
  Lookup lookup(Key{}, seeds, {2, 1, 256});
  EXPECT_FALSE(lookup.done());
  lookup.on_failure(lookup.next_to_query()->id);  // 1 fails
  EXPECT_FALSE(lookup.done());
  auto two = lookup.next_to_query();
  lookup.on_reply(two->id, {});
  EXPECT_FALSE(lookup.done());
  auto three = lookup.next_to_query();
  EXPECT_EQ(three->id, id_with_first_byte(3));
  lookup.on_reply(three->id, {});
  EXPECT_TRUE(lookup.done());
  // Nothing beyond the k closest live ones is worth asking.
  EXPECT_FALSE(lookup.next_to_query().has_value());
  EXPECT_EQ(ids_of(lookup.closest_answered()),
            (std::vector<NodeId>{id_with_first_byte(2), id_with_first_byte(3)}));
}

TEST(Lookup, EmptyOrExhaustedIsDone) {
  Lookup empty(Key{}, {}, {});
  EXPECT_TRUE(empty.done());
  EXPECT_FALSE(empty.next_to_query().has_value());
  Lookup one(Key{}, {contact_of(id_with_first_byte(1))}, {});
  EXPECT_FALSE(one.done());
  one.on_failure(one.next_to_query()->id);
  EXPECT_TRUE(one.done());
  EXPECT_TRUE(one.closest_answered().empty());
}

TEST(Lookup, StaysWithinMaxCandidatesAndNeverRequeriesWhatItDropped) {
  LookupConfig config{4, 2, 6};
  std::vector<Contact> seeds;
  for (int i = 0; i < 20; ++i) seeds.push_back(contact_of(id_with_first_byte(uint8_t(0x80 + i))));
  Lookup lookup(Key{}, seeds, config);
  EXPECT_EQ(lookup.candidates(), 6u);
  std::set<NodeId> asked;
  uint8_t next = 0x7f;
  while (!lookup.done()) {
    auto c = lookup.next_to_query();
    ASSERT_TRUE(c.has_value());
    ASSERT_TRUE(asked.insert(c->id).second) << "asked twice";
    // Every answer names a closer node, everything asked so far and far junk.
    std::vector<Contact> reply{contact_of(id_with_first_byte(next))};
    if (next > 0x60) --next;
    for (const NodeId& id : asked) reply.push_back(contact_of(id));
    for (int i = 0; i < 50; ++i) reply.push_back(contact_of(id_with_first_byte(uint8_t(0xC0 + i))));
    if (asked.size() % 3 == 0) {
      lookup.on_failure(c->id);
    } else {
      lookup.on_reply(c->id, reply);
    }
    ASSERT_LE(lookup.candidates(), config.max_candidates);
    ASSERT_LT(asked.size(), 200u);
  }
  EXPECT_EQ(lookup.closest_answered().size(), 4u);
}

}  // namespace
}  // namespace chorus::dht
