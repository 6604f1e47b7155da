// The WebSocket API core (spec/nano-websocket.md) with no sockets: the
// requests nano-node's clients send, the acks and errors they get, and
// which node events reach which subscriptions, in nano-node's shapes.
#include "chorus/nano/websocket_api.h"

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "chorus/nano/account.h"
#include "chorus/nano/block.h"

namespace chorus::nano {
namespace {

using Json = nlohmann::ordered_json;

constexpr uint64_t kNow = 1'700'000'000'123;

PublicKey key(uint8_t n) {
  PublicKey k{};
  k[0] = n;
  k[31] = n;
  return k;
}
BlockHash hash(uint8_t n) {
  BlockHash h{};
  h[1] = n;
  return h;
}

Block state_block(const PublicKey& account, const Hash32& link, Amount balance) {
  Block b;
  b.type = BlockType::kState;
  b.account = account;
  b.previous = hash(9);
  b.representative = key(50);
  b.balance = balance;
  b.link = link;
  b.work = 0x1234;
  return b;
}

class WebSocketApiTest : public ::testing::Test {
 protected:
  WebSocketApiTest() { make_api({}); }

  void make_api(WebSocketLimits limits) {
    WebSocketHooks hooks;
    hooks.is_local_account = [this](const PublicKey& k) { return local_.count(k) != 0; };
    hooks.sideband_of = [this](const BlockHash& h) -> std::optional<Sideband> {
      ++lookups_;
      auto it = sidebands_.find(h);
      if (it == sidebands_.end()) return std::nullopt;
      return it->second;
    };
    api_ = std::make_unique<WebSocketApi>(limits, std::move(hooks));
  }

  // Opens `session` and sends it each request; every answer must be JSON.
  std::vector<Json> ask(uint64_t session, const std::string& text) {
    std::vector<Json> out;
    for (auto& o : api_->message(session, text, kNow)) {
      EXPECT_EQ(o.session, session);
      auto j = Json::parse(o.text, nullptr, false);
      EXPECT_TRUE(j.is_object()) << o.text;
      out.push_back(j);
    }
    return out;
  }
  void open(uint64_t session) { ASSERT_TRUE(api_->open(session).ok()); }
  void subscribe(uint64_t session, const std::string& topic, const Json& options = nullptr) {
    Json r{{"action", "subscribe"}, {"topic", topic}, {"ack", true}};
    if (!options.is_null()) r["options"] = options;
    auto out = ask(session, r.dump());
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].value("ack", ""), "subscribe") << out[0].dump();
  }
  // The sessions an event reaches, each with its parsed message.
  std::map<uint64_t, Json> publish(const NodeEvent& e) {
    std::map<uint64_t, Json> out;
    for (auto& o : api_->event(e, kNow)) {
      auto j = Json::parse(o.text, nullptr, false);
      EXPECT_TRUE(j.is_object()) << o.text;
      EXPECT_FALSE(out.count(o.session)) << "two messages for one session";
      out[o.session] = j;
    }
    return out;
  }

  BlockConfirmedEvent confirmed(const Block& b, Amount amount,
                                ConfirmationType type = ConfirmationType::kActiveQuorum) {
    BlockConfirmedEvent e;
    e.block = b;
    e.hash = block_hash(b);
    e.account = b.account;
    e.amount = amount;
    e.height = 2;
    e.type = type;
    return e;
  }
  BlockConfirmedEvent send_from(const PublicKey& from, const PublicKey& to) {
    Block b = state_block(from, to, 10);
    auto e = confirmed(b, 90);
    Sideband sb;
    sb.account = from;
    sb.height = 2;
    sb.timestamp = 1'700'000'000;
    sb.balance = 10;
    sb.details.is_send = true;
    sidebands_[e.hash] = sb;
    return e;
  }

  std::set<PublicKey> local_;
  std::map<BlockHash, Sideband> sidebands_;
  int lookups_ = 0;
  std::unique_ptr<WebSocketApi> api_;
};

TEST_F(WebSocketApiTest, SubscribeAcksWithTheIdOnlyWhenGiven) {
  open(1);
  auto with_id = ask(1, R"({"action":"subscribe","topic":"confirmation","ack":true,"id":"r-7"})");
  ASSERT_EQ(with_id.size(), 1u);
  EXPECT_EQ(with_id[0], Json::parse(R"({"ack":"subscribe","time":"1700000000123","id":"r-7"})"));
  auto without = ask(1, R"({"action":"subscribe","topic":"vote","ack":"true"})");
  ASSERT_EQ(without.size(), 1u);
  EXPECT_EQ(without[0], Json::parse(R"({"ack":"subscribe","time":"1700000000123"})"));
  // No ack asked: nothing comes back, and the subscription holds.
  EXPECT_TRUE(ask(1, R"({"action":"subscribe","topic":"started_election"})").empty());
  EXPECT_TRUE(ask(1, R"({"action":"subscribe","topic":"telemetry","ack":false})").empty());
  const uint32_t all = (1u << 0) | (1u << 1) | (1u << 2) | (1u << 5);
  EXPECT_EQ(api_->wanted_topics(), all);
  // A numeric id comes back as its text, as nano-node reads it.
  auto numeric = ask(1, R"({"action":"unsubscribe","topic":"vote","ack":1,"id":42})");
  ASSERT_EQ(numeric.size(), 1u);
  EXPECT_EQ(numeric[0]["id"], "42");
  EXPECT_EQ(numeric[0]["ack"], "unsubscribe");
}

TEST_F(WebSocketApiTest, PingIsAlwaysAnsweredWithPong) {
  open(1);
  EXPECT_EQ(ask(1, R"({"action":"ping"})"),
            std::vector<Json>{Json::parse(R"({"ack":"pong","time":"1700000000123"})")});
  EXPECT_EQ(ask(1, R"({"action":"ping","id":"p"})"),
            std::vector<Json>{Json::parse(R"({"ack":"pong","time":"1700000000123","id":"p"})")});
}

TEST_F(WebSocketApiTest, UnsubscribeStopsTheTopicAndCloseEndsEverything) {
  open(1);
  open(2);
  subscribe(1, "started_election");
  subscribe(2, "started_election");
  EXPECT_EQ(publish(ElectionStartedEvent{hash(3)}).size(), 2u);
  auto acked = ask(1, R"({"action":"unsubscribe","topic":"started_election","ack":true})");
  ASSERT_EQ(acked.size(), 1u);
  EXPECT_EQ(acked[0]["ack"], "unsubscribe");
  auto got = publish(ElectionStartedEvent{hash(3)});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got.count(2));
  api_->close(2);
  EXPECT_TRUE(publish(ElectionStartedEvent{hash(3)}).empty());
  EXPECT_EQ(api_->wanted_topics(), 0u);
  EXPECT_EQ(api_->sessions(), 1u);
  // Unsubscribing from a topic not subscribed is no error (nano-node acks it).
  EXPECT_EQ(ask(1, R"({"action":"unsubscribe","topic":"vote","ack":true})")[0]["ack"],
            "unsubscribe");
}

TEST_F(WebSocketApiTest, ConfirmationMessageHasNanoNodesShape) {
  open(1);
  subscribe(1, "confirmation");
  const auto e = send_from(key(1), key(2));
  auto got = publish(e);
  ASSERT_EQ(got.size(), 1u);
  const Json& j = got[1];
  EXPECT_EQ(j["topic"], "confirmation");
  EXPECT_EQ(j["time"], "1700000000123");
  const Json& m = j["message"];
  EXPECT_EQ(m["account"], encode_account(key(1)));
  EXPECT_EQ(m["amount"], "90");
  EXPECT_EQ(m["hash"], to_hex_upper(e.hash));
  EXPECT_EQ(m["confirmation_type"], "active_quorum");
  EXPECT_FALSE(m.contains("election_info"));  // not asked for
  EXPECT_FALSE(m.contains("sideband"));
  Json block = block_to_json(e.block);
  block["subtype"] = "send";
  EXPECT_EQ(m["block"], block);
  // Field order as nano-node writes it.
  std::vector<std::string> keys;
  for (auto it = m.begin(); it != m.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys,
            (std::vector<std::string>{"account", "amount", "hash", "confirmation_type", "block"}));
}

TEST_F(WebSocketApiTest, StateSubtypesFollowTheLedgersDetails) {
  open(1);
  subscribe(1, "confirmation");
  auto subtype_of = [&](BlockDetails d) {
    Block b = state_block(key(1), hash(7), 100);
    b.balance = static_cast<Amount>(d.is_send) + 2 * d.is_receive + 4 * d.is_epoch;
    auto e = confirmed(b, 0);
    sidebands_[e.hash] = Sideband{key(1), 1, 0, 0, d, Epoch::k0};
    return publish(e)[1]["message"]["block"].value("subtype", "(none)");
  };
  EXPECT_EQ(subtype_of({Epoch::k0, true, false, false}), "send");
  EXPECT_EQ(subtype_of({Epoch::k0, false, true, false}), "receive");
  EXPECT_EQ(subtype_of({Epoch::k0, false, false, true}), "epoch");
  EXPECT_EQ(subtype_of({Epoch::k0, false, false, false}), "change");
  // A block no longer in the ledger: no subtype rather than a guess.
  Block gone = state_block(key(1), hash(8), 5);
  EXPECT_FALSE(publish(confirmed(gone, 0))[1]["message"]["block"].contains("subtype"));
  // Legacy blocks carry no subtype in nano-node's confirmations.
  Block legacy;
  legacy.type = BlockType::kChange;
  legacy.previous = hash(4);
  legacy.representative = key(3);
  auto e = confirmed(legacy, 0);
  e.account = key(1);
  EXPECT_FALSE(publish(e)[1]["message"]["block"].contains("subtype"));
}

TEST_F(WebSocketApiTest, AccountFilterMatchesTheAccountAndASendsDestination) {
  for (uint64_t s : {1, 2, 3, 4}) open(s);
  subscribe(1, "confirmation", {{"accounts", {encode_account(key(1))}}});
  subscribe(2, "confirmation", {{"accounts", {encode_account(key(2))}}});
  // Legacy prefix accepted, as in nano-node.
  std::string xrb = encode_account(key(3));
  xrb.replace(0, 5, "xrb_");
  subscribe(3, "confirmation", {{"accounts", {xrb}}});
  subscribe(4, "confirmation");  // no filter: everything
  auto got = publish(send_from(key(1), key(2)));
  EXPECT_EQ(got.size(), 3u);
  EXPECT_TRUE(got.count(1));  // the sender
  EXPECT_TRUE(got.count(2));  // the destination
  EXPECT_TRUE(got.count(4));
  got = publish(send_from(key(3), key(7)));
  EXPECT_EQ(got.size(), 2u);
  EXPECT_TRUE(got.count(3));
  // A change block's zero link is nobody's destination.
  subscribe(2, "confirmation", {{"accounts", {encode_account(PublicKey{})}}});
  EXPECT_FALSE(publish(confirmed(state_block(key(5), Hash32{}, 1), 0)).count(2));
  // An empty list (or all_local_accounts without local accounts) lets
  // nothing through, as in nano-node.
  subscribe(1, "confirmation", {{"accounts", Json::array()}});
  subscribe(2, "confirmation", {{"all_local_accounts", true}});
  got = publish(send_from(key(1), key(2)));
  EXPECT_EQ(got.size(), 1u);
  EXPECT_TRUE(got.count(4));
}

TEST_F(WebSocketApiTest, AllLocalAccountsAreTheEmbeddersAccounts) {
  local_ = {key(8)};
  open(1);
  subscribe(1, "confirmation", {{"all_local_accounts", true}});
  EXPECT_EQ(publish(send_from(key(8), key(2))).size(), 1u);
  EXPECT_EQ(publish(send_from(key(2), key(8))).size(), 1u);  // a send to a local account
  EXPECT_TRUE(publish(send_from(key(2), key(3))).empty());
  // Together with accounts: either lets a block through.
  subscribe(1, "confirmation",
            {{"all_local_accounts", true}, {"accounts", {encode_account(key(3))}}});
  EXPECT_EQ(publish(send_from(key(3), key(4))).size(), 1u);
  EXPECT_EQ(publish(send_from(key(8), key(4))).size(), 1u);
}

TEST_F(WebSocketApiTest, UpdateAddsAndRemovesAccounts) {
  open(1);
  subscribe(1, "confirmation", {{"accounts", {encode_account(key(1))}}});
  auto acked = ask(1, Json{{"action", "update"},
                           {"topic", "confirmation"},
                           {"ack", true},
                           {"id", "u1"},
                           {"options",
                            {{"accounts_add", {encode_account(key(2)), encode_account(key(3))}},
                             {"accounts_del", {encode_account(key(1))}}}}}
                          .dump());
  ASSERT_EQ(acked.size(), 1u);
  EXPECT_EQ(acked[0], Json::parse(R"({"ack":"update","time":"1700000000123","id":"u1"})"));
  EXPECT_TRUE(publish(send_from(key(1), key(9))).empty());
  EXPECT_EQ(publish(send_from(key(2), key(9))).size(), 1u);
  EXPECT_EQ(publish(send_from(key(9), key(3))).size(), 1u);

  // An update of a subscription without a filter starts one.
  open(2);
  subscribe(2, "confirmation");
  EXPECT_TRUE(ask(2, Json{{"action", "update"},
                          {"topic", "confirmation"},
                          {"options", {{"accounts_add", {encode_account(key(5))}}}}}
                         .dump())
                  .empty());
  auto got = publish(send_from(key(2), key(9)));
  EXPECT_FALSE(got.count(2));
  EXPECT_TRUE(publish(send_from(key(5), key(9))).count(2));
}

TEST_F(WebSocketApiTest, UpdateRefusalsChangeNothing) {
  open(1);
  auto refused = [&](const Json& request, const std::string& error) {
    auto out = ask(1, request.dump());
    ASSERT_EQ(out.size(), 1u) << request.dump();
    EXPECT_EQ(out[0].value("error", ""), error) << request.dump();
    EXPECT_FALSE(out[0].contains("ack"));
  };
  const Json add{{"accounts_add", {encode_account(key(2))}}};
  refused({{"action", "update"}, {"topic", "confirmation"}, {"ack", true}, {"options", add}},
          "Not subscribed to the topic");
  subscribe(1, "confirmation", {{"accounts", {encode_account(key(1))}}});
  subscribe(1, "vote");
  refused({{"action", "update"}, {"topic", "vote"}, {"options", add}},
          "The topic has no options to update");
  refused({{"action", "update"}, {"topic", "confirmation"}}, "Missing options");
  refused({{"action", "update"},
           {"topic", "confirmation"},
           {"options", {{"accounts_add", {encode_account(key(2)), "nano_nonsense"}}}}},
          "Invalid account: nano_nonsense");
  // The filter is as before: key(1) only.
  EXPECT_EQ(publish(send_from(key(1), key(9))).size(), 1u);
  EXPECT_TRUE(publish(send_from(key(2), key(9))).empty());
}

TEST_F(WebSocketApiTest, ConfirmationTypeFilter) {
  struct Case {
    const char* option;
    std::set<ConfirmationType> passes;
  };
  const std::vector<Case> cases = {
      {"all",
       {ConfirmationType::kActiveQuorum, ConfirmationType::kActiveConfirmationHeight,
        ConfirmationType::kInactive}},
      {"active", {ConfirmationType::kActiveQuorum, ConfirmationType::kActiveConfirmationHeight}},
      {"active_quorum", {ConfirmationType::kActiveQuorum}},
      {"ACTIVE_CONFIRMATION_HEIGHT", {ConfirmationType::kActiveConfirmationHeight}},
      {"inactive", {ConfirmationType::kInactive}},
  };
  for (const auto& c : cases) {
    make_api({});
    open(1);
    subscribe(1, "confirmation", {{"confirmation_type", c.option}});
    for (auto t : {ConfirmationType::kActiveQuorum, ConfirmationType::kActiveConfirmationHeight,
                   ConfirmationType::kInactive}) {
      auto e = send_from(key(1), key(2));
      e.type = t;
      auto got = publish(e);
      EXPECT_EQ(got.size(), c.passes.count(t)) << c.option << " " << confirmation_type_name(t);
      if (!got.empty()) {
        EXPECT_EQ(got[1]["message"]["confirmation_type"], confirmation_type_name(t));
      }
    }
  }
  make_api({});
  open(1);
  auto out = ask(
      1, R"({"action":"subscribe","topic":"confirmation","options":{"confirmation_type":"x"}})");
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["error"], "Invalid confirmation_type: x");
  EXPECT_EQ(api_->wanted_topics(), 0u);
}

TEST_F(WebSocketApiTest, IncludeBlockFalseLeavesTheBlockOut) {
  open(1);
  open(2);
  subscribe(1, "confirmation", {{"include_block", false}});
  subscribe(2, "confirmation",
            {{"include_block", "false"}, {"accounts", {encode_account(key(1))}}});
  auto got = publish(send_from(key(1), key(2)));
  ASSERT_EQ(got.size(), 2u);
  for (auto& [s, j] : got) {
    EXPECT_FALSE(j["message"].contains("block")) << s;
    EXPECT_EQ(j["message"]["account"], encode_account(key(1)));
  }
}

TEST_F(WebSocketApiTest, ElectionInfoAndSidebandWhenAskedFor) {
  open(1);
  open(2);
  subscribe(1, "confirmation", {{"include_election_info", true}, {"include_sideband_info", true}});
  subscribe(2, "confirmation", {{"include_election_info_with_votes", "true"}});
  auto e = send_from(key(1), key(2));
  ElectionInfo info;
  info.duration_ms = 546;
  info.time_ms = 1'579'736'541'227;
  info.tally = 80;
  info.final_tally = 70;
  info.blocks = 1;
  info.voters = 52;
  info.request_count = 2;
  e.election = info;
  auto got = publish(e);
  ASSERT_EQ(got.size(), 2u);
  const Json expected = Json::parse(R"({"duration":"546","time":"1579736541227","tally":"80",
      "final":"70","blocks":"1","voters":"52","request_count":"2"})");
  EXPECT_EQ(got[1]["message"]["election_info"], expected);
  EXPECT_EQ(got[1]["message"]["sideband"],
            Json::parse(R"({"height":"2","local_timestamp":"1700000000"})"));
  Json with_votes = expected;
  with_votes["votes"] = Json::array();
  EXPECT_EQ(got[2]["message"]["election_info"], with_votes);
  EXPECT_FALSE(got[2]["message"].contains("sideband"));
  // A block confirmed without an election here: zeros, as nano-node.
  e.election.reset();
  e.type = ConfirmationType::kActiveConfirmationHeight;
  EXPECT_EQ(publish(e)[1]["message"]["election_info"]["tally"], "0");
}

TEST_F(WebSocketApiTest, SidebandIsLookedUpOnlyWhenSomeoneWantsTheEvent) {
  const auto e = send_from(key(1), key(2));
  EXPECT_TRUE(publish(e).empty());
  open(1);
  subscribe(1, "confirmation", {{"include_block", false}});
  EXPECT_EQ(publish(e).size(), 1u);
  EXPECT_EQ(lookups_, 0);
  subscribe(1, "confirmation");
  EXPECT_EQ(publish(e).size(), 1u);
  EXPECT_EQ(lookups_, 1);
}

Vote make_vote(const PublicKey& rep, uint64_t timestamp) {
  Vote v;
  v.account = rep;
  for (size_t i = 0; i < v.signature.size(); ++i) v.signature[i] = static_cast<uint8_t>(i);
  v.timestamp = timestamp;
  v.hashes = {hash(1), hash(2)};
  return v;
}

TEST_F(WebSocketApiTest, VoteMessageHasNanoNodesShape) {
  open(1);
  subscribe(1, "vote");
  auto got = publish(VoteSeenEvent{make_vote(key(4), 0x1000'0000'0000'0023), VoteCode::kVote});
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[1]["topic"], "vote");
  const Json expected = {
      {"account", encode_account(key(4))},
      // The signature as one big-endian integer, in decimal (nano-node).
      {"signature",
       "20619466251353474970509842365560701464789489920172846409417241743516745913223447868976354"
       "1686534462555786726000561108048500636413870766166035119554111"},
      {"sequence", std::to_string(0x1000'0000'0000'0020)},
      {"timestamp", std::to_string(0x1000'0000'0000'0020)},
      {"duration", "3"},
      {"blocks", {to_hex_upper(hash(1)), to_hex_upper(hash(2))}},
      {"type", "vote"}};
  EXPECT_EQ(got[1]["message"], expected);
  // A final vote keeps its all-ones timestamp.
  auto final_vote = publish(VoteSeenEvent{make_vote(key(4), ~uint64_t{0}), VoteCode::kVote});
  EXPECT_EQ(final_vote[1]["message"]["timestamp"], "18446744073709551615");
  EXPECT_EQ(final_vote[1]["message"]["duration"], "15");
}

TEST_F(WebSocketApiTest, VoteFilters) {
  for (uint64_t s : {1, 2, 3, 4}) open(s);
  subscribe(1, "vote");                  // no options: every vote, replays too
  subscribe(2, "vote", Json::object());  // options: no replays, no indeterminate
  subscribe(3, "vote", {{"include_replays", true}, {"include_indeterminate", true}});
  subscribe(4, "vote", {{"representatives", {encode_account(key(4))}}});
  auto reached = [&](const PublicKey& rep, VoteCode code) {
    std::set<uint64_t> s;
    for (auto& [id, j] : publish(VoteSeenEvent{make_vote(rep, 16), code})) {
      EXPECT_EQ(j["message"]["type"], vote_code_name(code));
      s.insert(id);
    }
    return s;
  };
  EXPECT_EQ(reached(key(4), VoteCode::kVote), (std::set<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(reached(key(5), VoteCode::kVote), (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(reached(key(4), VoteCode::kReplay), (std::set<uint64_t>{1, 3}));
  EXPECT_EQ(reached(key(4), VoteCode::kIndeterminate), (std::set<uint64_t>{1, 3}));
  EXPECT_EQ(reached(key(4), VoteCode::kIgnored), (std::set<uint64_t>{1, 2, 3, 4}));
  // A vote whose signature failed is never published.
  EXPECT_EQ(reached(key(4), VoteCode::kInvalid), (std::set<uint64_t>{}));
}

TEST_F(WebSocketApiTest, ElectionAndNewBlockMessages) {
  open(1);
  for (const char* t : {"started_election", "stopped_election", "new_unconfirmed_block"})
    subscribe(1, t);
  EXPECT_EQ(publish(ElectionStartedEvent{hash(5)})[1],
            (Json{{"topic", "started_election"},
                  {"time", "1700000000123"},
                  {"message", {{"hash", to_hex_upper(hash(5))}}}}));
  EXPECT_EQ(publish(ElectionStoppedEvent{hash(6), false})[1],
            (Json{{"topic", "stopped_election"},
                  {"time", "1700000000123"},
                  {"message", {{"hash", to_hex_upper(hash(6))}}}}));
  const auto send = send_from(key(1), key(2));
  auto got = publish(BlockAcceptedEvent{send.block, send.hash});
  Json block = block_to_json(send.block);
  block["subtype"] = "send";
  // nano-node puts the hash beside the message, not in it.
  EXPECT_EQ(got[1], (Json{{"topic", "new_unconfirmed_block"},
                          {"time", "1700000000123"},
                          {"hash", to_hex_upper(send.hash)},
                          {"message", block}}));
  Block open_block;
  open_block.type = BlockType::kOpen;
  open_block.account = key(2);
  open_block.representative = key(2);
  open_block.link = send.hash;
  got = publish(BlockAcceptedEvent{open_block, block_hash(open_block)});
  EXPECT_EQ(got[1]["message"]["subtype"], "open");
  EXPECT_EQ(got[1]["message"]["type"], "open");
}

TEST_F(WebSocketApiTest, TelemetryGoesToItsSubscribers) {
  open(1);
  open(2);
  const Json data{{"block_count", "5"}, {"peer_count", "0"}};
  EXPECT_TRUE(api_->telemetry(data, kNow).empty());
  subscribe(1, "telemetry");
  auto out = api_->telemetry(data, kNow);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].session, 1u);
  EXPECT_EQ(Json::parse(out[0].text),
            (Json{{"topic", "telemetry"}, {"time", "1700000000123"}, {"message", data}}));
}

TEST_F(WebSocketApiTest, BadRequestsGetAClearErrorAndChangeNothing) {
  open(1);
  auto error_of = [&](const std::string& text) {
    auto out = ask(1, text);
    EXPECT_EQ(out.size(), 1u) << text;
    if (out.empty()) return std::string("(nothing)");
    EXPECT_FALSE(out[0].contains("ack")) << text;
    return out[0].value("error", "(no error)") + (out[0].contains("id") ? " #" : "");
  };
  EXPECT_EQ(error_of("not json"), "Unable to parse JSON");
  EXPECT_EQ(error_of(""), "Unable to parse JSON");
  EXPECT_EQ(error_of("[1,2]"), "Unable to parse JSON");
  EXPECT_EQ(error_of(std::string(40, '[') + std::string(40, ']')), "Unable to parse JSON");
  EXPECT_EQ(error_of(R"({"topic":"vote"})"), "Missing action");
  EXPECT_EQ(error_of(R"({"action":"dance","id":"d"})"), "Unknown action: dance #");
  EXPECT_EQ(error_of(R"({"action":"subscribe","ack":true})"), "Missing topic");
  EXPECT_EQ(error_of(R"({"action":"subscribe","topic":"work","id":"w"})"), "Unknown topic: work #");
  EXPECT_EQ(error_of(R"({"action":"subscribe","topic":"vote","ack":"maybe"})"),
            "Invalid boolean: ack");
  EXPECT_EQ(error_of(R"({"action":"subscribe","topic":"vote","options":[1]})"),
            "Invalid options: want an object");
  EXPECT_EQ(error_of(R"({"action":"subscribe","topic":"vote","options":{"representatives":"x"}})"),
            "Invalid representatives: want an array");
  EXPECT_EQ(error_of(R"({"action":"subscribe","topic":"confirmation","options":{"accounts":[1]}})"),
            "Invalid account in accounts");
  EXPECT_EQ(error_of(R"({"action":"ping","id":{"a":1}})"), "Invalid id");
  EXPECT_EQ(api_->wanted_topics(), 0u);
  // A refused re-subscription keeps the options it had.
  subscribe(1, "confirmation", {{"accounts", {encode_account(key(1))}}});
  EXPECT_EQ(
      error_of(R"({"action":"subscribe","topic":"confirmation","options":{"accounts":["x"]}})"),
      "Invalid account: x");
  EXPECT_EQ(publish(send_from(key(1), key(2))).size(), 1u);
  EXPECT_TRUE(publish(send_from(key(3), key(2))).empty());
  // A session never opened gets nothing, whatever it sends.
  EXPECT_TRUE(api_->message(99, R"({"action":"ping"})", kNow).empty());
}

TEST_F(WebSocketApiTest, Bounds) {
  WebSocketLimits limits;
  limits.max_sessions = 2;
  limits.max_accounts = 3;
  limits.max_message_bytes = 600;
  limits.max_id_bytes = 8;
  make_api(limits);
  open(1);
  open(2);
  EXPECT_EQ(api_->open(3).error().code(), ErrorCode::kLimit);
  EXPECT_EQ(api_->open(1).error().code(), ErrorCode::kInvalidArgument);
  api_->close(2);
  EXPECT_TRUE(api_->open(3).ok());

  auto accounts = [](int n) {
    Json a = Json::array();
    for (int i = 0; i < n; ++i) a.push_back(encode_account(key(static_cast<uint8_t>(i + 1))));
    return a;
  };
  auto first_error = [&](const Json& request) {
    auto out = ask(1, request.dump());
    return out.empty() ? std::string() : out[0].value("error", "");
  };
  EXPECT_EQ(first_error({{"action", "subscribe"},
                         {"topic", "confirmation"},
                         {"options", {{"accounts", accounts(4)}}}}),
            "Too many accounts");
  EXPECT_EQ(first_error({{"action", "subscribe"},
                         {"topic", "vote"},
                         {"options", {{"representatives", accounts(4)}}}}),
            "Too many accounts");
  subscribe(1, "confirmation", {{"accounts", accounts(3)}});
  // Adding one more than the bound holds is refused whole.
  EXPECT_EQ(first_error({{"action", "update"},
                         {"topic", "confirmation"},
                         {"options", {{"accounts_add", {encode_account(key(9))}}}}}),
            "Too many accounts");
  // Swapping one for another stays within it.
  EXPECT_EQ(first_error({{"action", "update"},
                         {"topic", "confirmation"},
                         {"options",
                          {{"accounts_add", {encode_account(key(9))}},
                           {"accounts_del", {encode_account(key(1))}}}}}),
            "");
  EXPECT_EQ(first_error({{"action", "ping"}, {"id", "123456789"}}), "id too long");
  EXPECT_EQ(first_error({{"action", "ping"}, {"pad", std::string(600, 'x')}}), "Message too large");
}

}  // namespace
}  // namespace chorus::nano
