// BroadcastTree on its own (eager/lazy, GRAFT, PRUNE, timers, bounds,
// hostile IHAVE/GRAFT), the IHAVE/GRAFT/PRUNE codec against
// spec/vectors/overlay.json, and NodeCore running the tree: negotiation,
// mixed modes, pruning, repair.
#include "chorus/overlay/broadcast_tree.h"

#include <gtest/gtest.h>

#include "chorus/overlay/seen_cache.h"
#include "core_net.h"

namespace chorus::overlay {
namespace {

using Kind = BroadcastTree::Output::Kind;

ShoutKey id_of(uint8_t n) {
  PublicKey origin{};
  origin.fill(n);
  return make_seen_key(origin, 1000 + n);
}

std::shared_ptr<const Bytes> record_of(size_t size) {
  return std::make_shared<const Bytes>(size, 0xab);
}

std::vector<BroadcastTree::Output> drain(BroadcastTree& t) {
  std::vector<BroadcastTree::Output> out;
  BroadcastTree::Output o;
  while (t.poll(o)) out.push_back(o);
  return out;
}

auto never_have = [](const ShoutKey&) { return false; };

BroadcastTreeConfig small_config() {
  BroadcastTreeConfig c;
  c.graft_timeout_us = 400 * kMs;
  c.graft_retry_us = 200 * kMs;
  return c;
}

TEST(BroadcastTree, NewLinksStartEagerAndLinksOutsideTheTreeAreAlwaysEager) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  EXPECT_TRUE(t.has_link(1));
  EXPECT_TRUE(t.eager(1));
  EXPECT_FALSE(t.has_link(2));
  EXPECT_TRUE(t.eager(2));  // a flood-only peer gets full SHOUTs
  t.on_prune(2);            // and cannot be pruned
  EXPECT_TRUE(t.eager(2));
  EXPECT_TRUE(drain(t).empty());
}

TEST(BroadcastTree, DuplicateMakesTheLinkLazyAndSendsPrune) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  t.on_duplicate(1);
  EXPECT_FALSE(t.eager(1));
  auto out = drain(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kPrune);
  EXPECT_EQ(out[0].link, 1u);
  EXPECT_EQ(t.stats().prunes, 1u);
  // Still pushing after our PRUNE: tell it again, but it was pruned once.
  t.on_duplicate(1);
  EXPECT_EQ(drain(t).size(), 1u);
  EXPECT_EQ(t.stats().prunes, 1u);
  // A duplicate from a peer outside the tree prunes nothing.
  t.on_duplicate(9);
  EXPECT_TRUE(drain(t).empty());
}

TEST(BroadcastTree, PruneMakesLazyAndGraftMakesEager) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  t.on_prune(1);
  EXPECT_FALSE(t.eager(1));
  t.on_graft(1, {}, 0);
  EXPECT_TRUE(t.eager(1));
  EXPECT_TRUE(drain(t).empty());
}

TEST(BroadcastTree, AnnouncementsGoToLazyLinksInBatches) {
  BroadcastTreeConfig c = small_config();
  c.ihave_batch = 3;
  BroadcastTree t(c);
  t.add_link(1, 0);
  t.add_link(2, 0);
  for (uint8_t i = 0; i < 7; ++i) t.announce(1, id_of(i));
  t.announce(2, id_of(9));
  t.announce(5, id_of(9));        // not a tree link: ignored
  EXPECT_TRUE(drain(t).empty());  // nothing until the flush
  t.flush_announcements();
  auto out = drain(t);
  ASSERT_EQ(out.size(), 4u);  // 3 + 3 + 1 to link 1, 1 to link 2
  EXPECT_EQ(out[0].kind, Kind::kIhave);
  EXPECT_EQ(out[0].ids.size(), 3u);
  EXPECT_EQ(out[2].ids.size(), 1u);
  EXPECT_EQ(out[2].ids[0], id_of(6));
  EXPECT_EQ(out[3].link, 2u);
  t.flush_announcements();
  EXPECT_TRUE(drain(t).empty());
}

TEST(BroadcastTree, AnnouncementQueueIsBounded) {
  BroadcastTreeConfig c = small_config();
  c.max_queued_announcements = 5;
  BroadcastTree t(c);
  t.add_link(1, 0);
  for (uint8_t i = 0; i < 20; ++i) t.announce(1, id_of(i));
  EXPECT_EQ(t.stats().announcements_dropped, 15u);
  t.flush_announcements();
  auto out = drain(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].ids.size(), 5u);
}

TEST(BroadcastTree, MissingIdIsGraftedFromTheAnnouncerAfterTheTimeout) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  t.on_prune(1);
  t.on_ihave(1, std::vector<ShoutKey>{id_of(1)}, never_have, 1000 * kMs);
  EXPECT_EQ(t.missing_count(), 1u);
  EXPECT_EQ(t.next_timer_us(), 1400 * kMs);
  t.on_timer(1399 * kMs);
  EXPECT_TRUE(drain(t).empty());
  t.on_timer(1400 * kMs);
  auto out = drain(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kGraft);
  EXPECT_EQ(out[0].link, 1u);
  ASSERT_EQ(out[0].ids.size(), 1u);
  EXPECT_EQ(out[0].ids[0], id_of(1));
  EXPECT_TRUE(t.eager(1));  // the grafted link joins the tree
  EXPECT_EQ(t.stats().grafts, 1u);
  // The answer arrives: nothing more to do.
  t.on_message(id_of(1), 1, record_of(10), 1450 * kMs);
  EXPECT_EQ(t.missing_count(), 0u);
  EXPECT_EQ(t.next_timer_us(), std::nullopt);
}

TEST(BroadcastTree, EagerCopyBeforeTheTimeoutCancelsTheGraft) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  t.add_link(2, 0);
  t.on_prune(1);
  t.on_ihave(1, std::vector<ShoutKey>{id_of(1)}, never_have, 0);
  t.on_message(id_of(1), 2, record_of(10), 100 * kMs);
  t.on_timer(1000 * kMs);
  EXPECT_TRUE(drain(t).empty());
  EXPECT_FALSE(t.eager(1));
}

TEST(BroadcastTree, IdsWeHoldAreNotMissing) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  t.on_ihave(
      1, std::vector<ShoutKey>{id_of(1), id_of(2)}, [](const ShoutKey& k) { return k == id_of(1); },
      0);
  EXPECT_EQ(t.missing_count(), 1u);
}

TEST(BroadcastTree, AClosedEagerLinkFallsBackToTheNextAnnouncer) {
  BroadcastTree t(small_config());
  for (LinkId l : {1, 2, 3}) t.add_link(l, 0);
  // Link 3 was our eager parent; 1 and 2 announce; 1 then closes too.
  t.on_ihave(1, std::vector<ShoutKey>{id_of(1)}, never_have, 0);
  t.on_ihave(2, std::vector<ShoutKey>{id_of(1)}, never_have, 10 * kMs);
  t.remove_link(3);
  t.remove_link(1);
  t.on_timer(400 * kMs);
  auto out = drain(t);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].link, 2u);
  // Link 2 does not answer: with nobody left to ask, it is given up.
  t.on_timer(600 * kMs);
  EXPECT_TRUE(drain(t).empty());
  EXPECT_EQ(t.missing_count(), 0u);
  EXPECT_EQ(t.stats().missing_given_up, 1u);
}

TEST(BroadcastTree, EachAnnouncerIsGraftedOnceSoAHostileAnnouncerCostsOneGraft) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  // A peer announcing an id that does not exist, again and again.
  int64_t now = 0;
  size_t grafts = 0;
  for (int round = 0; round < 50; ++round, now += 100 * kMs) {
    t.on_ihave(1, std::vector<ShoutKey>{id_of(1)}, never_have, now);
    t.on_timer(now);
    for (auto& o : drain(t)) grafts += o.kind == Kind::kGraft;
  }
  // Each announcement after a give-up starts over: one GRAFT per
  // graft_timeout + graft_retry at most, never one per IHAVE.
  EXPECT_LE(grafts, 50u * 100 / 600 + 1);
  EXPECT_LE(t.missing_count(), 1u);
}

TEST(BroadcastTree, AnnouncersPerIdAndMissingIdsAreBounded) {
  BroadcastTreeConfig c = small_config();
  c.max_missing = 8;
  c.max_announcers = 2;
  BroadcastTree t(c);
  for (LinkId l = 1; l <= 5; ++l) t.add_link(l, 0);
  for (LinkId l = 1; l <= 5; ++l) t.on_ihave(l, std::vector<ShoutKey>{id_of(0)}, never_have, 0);
  std::vector<ShoutKey> many;
  for (uint8_t i = 1; i < 100; ++i) many.push_back(id_of(i));
  t.on_ihave(1, many, never_have, 0);
  EXPECT_EQ(t.missing_count(), 8u);
  EXPECT_GE(t.stats().ihave_ignored, 91u);
  // id 0 is grafted from at most two announcers, then given up.
  size_t grafts_for_0 = 0;
  for (int64_t now = 0; now < 5'000 * kMs; now += 100 * kMs) {
    t.on_timer(now);
    for (auto& o : drain(t))
      if (o.kind == Kind::kGraft && o.ids == std::vector<ShoutKey>{id_of(0)}) ++grafts_for_0;
  }
  EXPECT_EQ(grafts_for_0, 2u);
}

TEST(BroadcastTree, IhaveIdsAreRateLimitedPerLink) {
  BroadcastTreeConfig c = small_config();
  c.ihave_rate_per_s = 10;
  c.ihave_burst = 5;
  BroadcastTree t(c);
  t.add_link(1, 0);
  std::vector<ShoutKey> ids;
  for (uint8_t i = 0; i < 20; ++i) ids.push_back(id_of(i));
  t.on_ihave(1, ids, never_have, 0);
  EXPECT_EQ(t.missing_count(), 5u);
  EXPECT_EQ(t.stats().ihave_ignored, 15u);
  // A second later the bucket is full again (5, its burst), not 10.
  t.on_ihave(1, std::span(ids).subspan(5), never_have, 1000 * kMs);
  EXPECT_EQ(t.missing_count(), 10u);
  EXPECT_EQ(t.stats().ihave_ignored, 25u);
  // A link outside the tree announces nothing to us.
  t.on_ihave(7, ids, never_have, 2000 * kMs);
  EXPECT_EQ(t.missing_count(), 10u);
}

TEST(BroadcastTree, GraftIsAnsweredOnlyForHeldIdsAndOncePerLink) {
  BroadcastTree t(small_config());
  t.add_link(1, 0);
  t.add_link(2, 0);
  auto rec = record_of(100);
  t.on_message(id_of(1), 0, rec, 0);
  t.on_prune(1);
  t.on_graft(1, std::vector<ShoutKey>{id_of(1), id_of(2), id_of(1)}, 10 * kMs);
  auto out = drain(t);
  ASSERT_EQ(out.size(), 1u);  // id 2 is not held; id 1 only once
  EXPECT_EQ(out[0].kind, Kind::kMessage);
  EXPECT_EQ(out[0].link, 1u);
  EXPECT_EQ(out[0].record, rec);
  EXPECT_TRUE(t.eager(1));
  EXPECT_EQ(t.stats().grafts_answered, 1u);
  EXPECT_EQ(t.stats().grafts_refused, 2u);
  t.on_graft(1, std::vector<ShoutKey>{id_of(1)}, 20 * kMs);  // asked again: refused
  EXPECT_TRUE(drain(t).empty());
  t.on_graft(2, std::vector<ShoutKey>{id_of(1)}, 20 * kMs);  // another link may have it
  EXPECT_EQ(drain(t).size(), 1u);
  t.on_graft(9, std::vector<ShoutKey>{id_of(1)}, 20 * kMs);  // not a tree link
  EXPECT_TRUE(drain(t).empty());
}

TEST(BroadcastTree, GraftAnswersAreRateLimitedPerLink) {
  BroadcastTreeConfig c = small_config();
  c.graft_rate_per_s = 1;
  c.graft_burst = 3;
  BroadcastTree t(c);
  t.add_link(1, 0);
  std::vector<ShoutKey> ids;
  for (uint8_t i = 0; i < 10; ++i) {
    ids.push_back(id_of(i));
    t.on_message(id_of(i), 0, record_of(10), 0);
  }
  t.on_graft(1, ids, 0);
  EXPECT_EQ(drain(t).size(), 3u);
  t.on_graft(1, ids, 2000 * kMs);  // two seconds: two more tokens
  EXPECT_EQ(drain(t).size(), 2u);
}

TEST(BroadcastTree, StoreIsBoundedByEntriesBytesAndAge) {
  BroadcastTreeConfig c = small_config();
  c.store_entries = 3;
  c.store_bytes = 250;
  c.store_age_us = 1000 * kMs;
  BroadcastTree t(c);
  for (uint8_t i = 0; i < 5; ++i) t.on_message(id_of(i), 0, record_of(100), i * kMs);
  EXPECT_EQ(t.stored_count(), 2u);  // 250 bytes hold two of 100
  EXPECT_FALSE(t.holds(id_of(2)));
  EXPECT_TRUE(t.holds(id_of(4)));
  EXPECT_LE(t.stored_bytes(), 250u);
  t.on_message(id_of(9), 0, record_of(1000), 10 * kMs);  // larger than the store: not kept
  EXPECT_FALSE(t.holds(id_of(9)));
  t.on_timer(1004 * kMs);  // id 3 (stored at 3 ms) is older than 1000 ms now
  EXPECT_FALSE(t.holds(id_of(3)));
  EXPECT_TRUE(t.holds(id_of(4)));
  // A SHOUT stopped by the hop limit is not kept: nothing to answer with.
  t.on_message(id_of(7), 0, nullptr, 1004 * kMs);
  EXPECT_FALSE(t.holds(id_of(7)));
}

TEST(BroadcastTree, AnnouncerMuchFasterThanTheEagerLinkSwapsWithIt) {
  BroadcastTreeConfig c = small_config();
  c.swap_after_us = 100 * kMs;
  BroadcastTree t(c);
  t.add_link(1, 0);  // eager parent (slow)
  t.add_link(2, 0);  // lazy, announces early
  t.on_prune(2);
  t.on_ihave(2, std::vector<ShoutKey>{id_of(1)}, never_have, 0);
  t.on_message(id_of(1), 1, record_of(10), 150 * kMs);
  auto out = drain(t);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].kind, Kind::kGraft);  // "push to me" with no ids
  EXPECT_EQ(out[0].link, 2u);
  EXPECT_TRUE(out[0].ids.empty());
  EXPECT_EQ(out[1].kind, Kind::kPrune);
  EXPECT_EQ(out[1].link, 1u);
  EXPECT_TRUE(t.eager(2));
  EXPECT_FALSE(t.eager(1));
  EXPECT_EQ(t.stats().swaps, 1u);
  // Only slightly later: no swap.
  t.on_prune(1);
  t.on_ihave(1, std::vector<ShoutKey>{id_of(2)}, never_have, 200 * kMs);
  t.on_message(id_of(2), 2, record_of(10), 250 * kMs);
  EXPECT_TRUE(drain(t).empty());
}

// ---------------------------------------------------------------- codec

TEST(BroadcastTreeCodec, VectorsEncodeAndDecodeByteForByte) {
  const auto& v = vectors()["broadcast_tree"];
  ASSERT_TRUE(v.is_object());
  const ShoutKey a = hex_array<40>(v["id_a"]);
  const ShoutKey b = hex_array<40>(v["id_b"]);
  EXPECT_EQ(hex(encode_message(Message{0, IhaveMsg{{a, b}}})), v["ihave"]);
  EXPECT_EQ(hex(encode_message(Message{0, GraftMsg{{a}}})), v["graft"]);
  EXPECT_EQ(hex(encode_message(Message{0, GraftMsg{}})), v["graft_empty"]);
  EXPECT_EQ(hex(encode_message(Message{0, PruneMsg{}})), v["prune"]);
  auto ih = decode_message(hex_bytes(v["ihave"]));
  ASSERT_TRUE(ih.ok());
  EXPECT_EQ(std::get<IhaveMsg>(ih->body).ids, (std::vector<ShoutKey>{a, b}));
  auto gr = decode_message(hex_bytes(v["graft"]));
  ASSERT_TRUE(gr.ok());
  EXPECT_EQ(std::get<GraftMsg>(gr->body).ids, std::vector<ShoutKey>{a});
  auto pr = decode_message(hex_bytes(v["prune"]));
  ASSERT_TRUE(pr.ok());
  EXPECT_TRUE(std::holds_alternative<PruneMsg>(pr->body));
  // The option offer that announces support.
  EXPECT_EQ(hex(encode_message(Message{3, SetConnectionOptMsg{2, 1}})), v["offer"]);
}

TEST(BroadcastTreeCodec, CountMustMatchTheBodyExactly) {
  for (const char* name : {"ihave", "graft"}) {
    const Bytes full = hex_bytes(vectors()["broadcast_tree"][name]);
    for (size_t n = 0; n < full.size(); ++n) {
      auto m = decode_message(ByteView(full.data(), n));
      EXPECT_FALSE(m.ok()) << name << " prefix " << n;
    }
    Bytes longer = full;
    longer.push_back(0);
    EXPECT_FALSE(decode_message(longer).ok()) << name;
  }
  Bytes prune = hex_bytes(vectors()["broadcast_tree"]["prune"]);
  prune.push_back(0);
  EXPECT_FALSE(decode_message(prune).ok());
}

TEST(BroadcastTreeCodec, MoreThan255IdsAreCutAt255) {
  IhaveMsg big;
  big.ids.assign(300, id_of(1));
  auto back = decode_message(encode_message(Message{0, big}));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(std::get<IhaveMsg>(back->body).ids.size(), 255u);
}

// ---------------------------------------------------------------- NodeCore

OverlayConfig tree_config(uint64_t seed) {
  OverlayConfig c = test_config(seed);
  c.tree_shout_apps = {kApp};
  return c;
}

size_t shouts_delivered(Net& net, size_t i) {
  return events_of<ShoutEvent>(net.events(i)).size();
}

TEST(BroadcastTreeNode, TriangleFloodsOnceThenPrunesToATree) {
  Net net;
  for (uint64_t s = 1; s <= 3; ++s) net.add(tree_config(s));
  net.dial(0, 1);
  net.dial(1, 2);
  net.dial(2, 0);
  net.run(500 * kMs);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(net.core(i).broadcast_tree().link_count(), 2u) << i;  // negotiated
    net.core(i).register_app(kApp);
  }
  uint64_t shouts = 0;
  for (int round = 0; round < 6; ++round) {
    const uint64_t before = net.core(0).stats().shouts_sent + net.core(1).stats().shouts_sent +
                            net.core(2).stats().shouts_sent;
    ASSERT_TRUE(net.core(round % 3).shout(kApp, bytes_of("tree"), net.now_us).ok());
    net.run(1000 * kMs);
    shouts = net.core(0).stats().shouts_sent + net.core(1).stats().shouts_sent +
             net.core(2).stats().shouts_sent - before;
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(shouts_delivered(net, i), 4u) << i;
  // A tree on three nodes has two edges: each SHOUT crosses two links.
  EXPECT_EQ(shouts, 2u);
  EXPECT_GT(net.core(0).stats().prunes_sent + net.core(1).stats().prunes_sent +
                net.core(2).stats().prunes_sent,
            0u);
}

TEST(BroadcastTreeNode, TreeAndFloodNodesMix) {
  // 0 and 2 run the tree; 1 floods (but speaks the opcodes); a square.
  Net net;
  net.add(tree_config(1));
  net.add(test_config(2));
  net.add(tree_config(3));
  net.add(tree_config(4));
  net.dial(0, 1);
  net.dial(1, 2);
  net.dial(2, 3);
  net.dial(3, 0);
  net.run(500 * kMs);
  for (size_t i = 0; i < 4; ++i) net.core(i).register_app(kApp);
  for (int round = 0; round < 8; ++round) {
    ASSERT_TRUE(net.core(round % 4).shout(kApp, bytes_of("mixed"), net.now_us).ok());
    net.run(1500 * kMs);
  }
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(shouts_delivered(net, i), 6u) << i;
}

TEST(BroadcastTreeNode, PeerThatNacksTheOfferGetsFullShoutsAndNoTreeMessages) {
  NodeCore core(identity_of(1), tree_config(1), 1'000'000);
  RawPeer raw(core, identity_of(2));
  ASSERT_TRUE(raw.established());
  uint32_t offer_id = 0;
  for (const auto& [id, o] : raw.received_of<SetConnectionOptMsg>())
    if (o.option == 2 && o.setting == 1) offer_id = id;
  ASSERT_NE(offer_id, 0u);
  raw.send(Message{offer_id, NackMsg{static_cast<uint8_t>(Opcode::kSetConnectionOpt),
                                     NackCode::kUnsupportedOption,
                                     "unknown option 2",
                                     {2, 1}}});
  EXPECT_FALSE(core.broadcast_tree().has_link(raw.link()));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(core.shout(kApp, bytes_of("x"), 1'000'000).ok());
  raw.send(Message{1, PingMsg{}});  // pumps the core
  EXPECT_EQ(raw.received_of<ShoutMsg>().size(), 3u);
  EXPECT_TRUE(raw.received_of<IhaveMsg>().empty());
  EXPECT_TRUE(raw.received_of<PruneMsg>().empty());
}

TEST(BroadcastTreeNode, ForgedGraftGetsNothingAndARealOneGetsTheShoutOnce) {
  NodeCore core(identity_of(1), tree_config(1), 1'000'000);
  RawPeer raw(core, identity_of(2));
  raw.send(Message{50, SetConnectionOptMsg{2, 1}});
  ASSERT_TRUE(core.broadcast_tree().has_link(raw.link()));
  ASSERT_TRUE(core.shout(kApp, bytes_of("held"), 1'000'000).ok());
  raw.send(Message{1, PingMsg{}});
  auto shouts = raw.received_of<ShoutMsg>();
  ASSERT_EQ(shouts.size(), 1u);
  const ShoutKey held = make_seen_key(shouts[0].second.origin, shouts[0].second.shout_id);
  const size_t before = raw.received().size();
  raw.send(Message{0, GraftMsg{{id_of(1), id_of(2)}}});  // ids it never had
  raw.send(Message{1, PingMsg{}});
  EXPECT_EQ(raw.received_of<ShoutMsg>().size(), 1u);
  for (int i = 0; i < 5; ++i) raw.send(Message{0, GraftMsg{{held}}});
  raw.send(Message{1, PingMsg{}});
  EXPECT_EQ(raw.received_of<ShoutMsg>().size(), 2u);  // once, not five times
  EXPECT_GT(raw.received().size(), before);
  EXPECT_EQ(core.stats().grafts_answered, 1u);
  EXPECT_EQ(core.stats().grafts_refused, 6u);
  EXPECT_TRUE(core.is_connected(raw.key()));
}

TEST(BroadcastTreeNode, ForgedIhaveCostsOneSmallGraftAndNoShout) {
  NodeCore core(identity_of(1), tree_config(1), 1'000'000);
  RawPeer raw(core, identity_of(2));
  raw.send(Message{50, SetConnectionOptMsg{2, 1}});
  std::vector<ShoutKey> ids;
  for (uint8_t i = 0; i < 200; ++i) ids.push_back(id_of(i));
  raw.send(Message{0, IhaveMsg{ids}});
  raw.send(Message{0, IhaveMsg{ids}});
  EXPECT_EQ(core.broadcast_tree().missing_count(), 200u);
  for (int64_t t = 1'000'000; t <= 5'000'000; t += 100'000) core.on_timer(t);
  raw.send(Message{1, PingMsg{}});
  size_t grafted = 0;
  for (const auto& [id, g] : raw.received_of<GraftMsg>()) grafted += g.ids.size();
  EXPECT_EQ(grafted, 200u);  // each id asked for once, from its only announcer
  EXPECT_TRUE(raw.received_of<ShoutMsg>().empty());
  EXPECT_EQ(core.broadcast_tree().missing_count(), 0u);
}

TEST(BroadcastTreeNode, BadSignatureIsNotForwardedOnTheTree) {
  NodeCore core(identity_of(1), tree_config(1), 1'000'000);
  RawPeer a(core, identity_of(2));
  RawPeer b(core, identity_of(3));
  ShoutMsg s;
  s.app = kApp;
  s.hops_left = 5;
  s.origin = identity_of(4).public_key();
  s.shout_id = 77;
  s.payload = bytes_of("forged");
  a.send(Message{0, s});
  b.send(Message{1, PingMsg{}});
  EXPECT_TRUE(b.received_of<ShoutMsg>().empty());
  EXPECT_TRUE(b.received_of<IhaveMsg>().empty());
  EXPECT_EQ(core.stats().bad_signatures, 1u);
}

}  // namespace
}  // namespace chorus::overlay
