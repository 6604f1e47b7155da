// The RPC's confirmation and election actions (spec/nano-rpc.md,
// "Confirmation" and "Elections") against a real ledger (memory and LMDB)
// where some blocks are cemented, and RpcServices whose election services
// answer fixed snapshots and views: nano-node's fields, field by field, and
// its errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "block_maker.h"
#include "chorus/nano/account.h"
#include "chorus/nano/election.h"
#include "chorus/nano/ledger.h"
#include "chorus/nano/rpc_handler.h"
#include "chorus/nano/vote_rules.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers
using Json = nlohmann::ordered_json;

constexpr Amount kNano =
    Amount{1'000'000'000'000'000'000ull} * Amount{1'000'000'000'000ull};  // 10^30 raw

class RpcElectionsTest : public ::testing::TestWithParam<std::string>, protected BlockMaker {
 protected:
  RpcElectionsTest() : ledger_(net_), store_(make_test_store(GetParam(), dir_)) {
    auto txn = store_->begin_write();
    ledger_.initialize(*txn, kNow);
    EXPECT_TRUE(txn->commit().ok());
    // The genesis sends to A (cemented), A opens with R as representative
    // (cemented), the genesis sends to B (not cemented); the fork competes
    // with that last send in an election.
    send_a_ = state(g_, net_.genesis_hash, g_.pub, net_.genesis_amount - 1000, a_.pub);
    open_a_ = state(a_, BlockHash{}, r_.pub, 1000, block_hash(send_a_));
    send_b_ = state(g_, block_hash(send_a_), g_.pub, net_.genesis_amount - 3000, b_.pub);
    fork_ = state(g_, block_hash(send_a_), g_.pub, net_.genesis_amount - 5000, b_.pub);
    for (const Block& b : {send_a_, open_a_, send_b_}) process(b);
    confirm(block_hash(open_a_));  // and the send it receives
  }

  void process(const Block& b) {
    auto txn = store_->begin_write();
    ASSERT_EQ(ledger_.process(*txn, b, kNow), BlockStatus::kProgress);
    ASSERT_TRUE(txn->commit().ok());
  }
  void confirm(const BlockHash& hash) {
    auto txn = store_->begin_write();
    std::vector<CementedBlock> cemented;
    ASSERT_TRUE(ledger_.confirm(*txn, hash, cemented).ok());
    ASSERT_TRUE(txn->commit().ok());
  }

  // Services that answer `snapshot_` and `view_`, and record block_confirm.
  RpcServices elections() {
    RpcServices s;
    s.elections = [this] { return snapshot_; };
    s.election = [this](const BlockHash& key) -> std::optional<ElectionView> {
      asked_.push_back(key);
      if (!view_) return std::nullopt;
      for (const auto& t : view_->blocks)
        if (t.hash == key) return view_;
      if (std::equal(key.begin(), key.end(), view_->root.begin())) return view_;
      return std::nullopt;
    };
    s.block_confirm = [this](const BlockHash& hash) {
      confirm_asked_.push_back(hash);
      return confirm_answer_;
    };
    return s;
  }

  Json ask_with(const RpcServices& services, const Json& request) {
    RpcHandler rpc(net_, *store_, services);
    std::optional<std::string> answer;
    rpc.handle(request.dump(), [&](std::string r) {
      EXPECT_FALSE(answer.has_value()) << "replied twice";
      answer = std::move(r);
    });
    EXPECT_TRUE(answer.has_value()) << "no reply to " << request.dump();
    return Json::parse(answer.value_or("{}"));
  }
  Json ask(const Json& request) { return ask_with(elections(), request); }
  std::string error_of(const Json& request) {
    return ask(request).value("error", std::string("<no error>"));
  }

  std::string acct(const PublicKey& k) { return encode_account(k); }
  template <size_t N>
  std::string hex(const std::array<uint8_t, N>& h) {
    return to_hex_upper(h);
  }
  Amount weight(const PublicKey& rep) { return store_->begin_read()->weight(rep); }

  TempDir dir_;
  Ledger ledger_;
  std::unique_ptr<LedgerStore> store_;
  const Key a_ = key_of(1), b_ = key_of(2), r_ = key_of(3), x_ = key_of(4);
  Block send_a_, open_a_, send_b_, fork_;

  ElectionsSnapshot snapshot_;
  std::optional<ElectionView> view_;
  std::vector<BlockHash> asked_;
  std::vector<BlockHash> confirm_asked_;
  bool confirm_answer_ = true;
};

// ---- confirmation as the ledger has it

TEST_P(RpcElectionsTest, ConfirmedIsTheLedgersConfirmationHeight) {
  const std::string sa = hex(block_hash(send_a_)), sb = hex(block_hash(send_b_));
  Json info = ask(Json{{"action", "blocks_info"},
                       {"hashes", {hex(net_.genesis_hash), sa, hex(block_hash(open_a_)), sb}}});
  EXPECT_EQ(info["blocks"][hex(net_.genesis_hash)]["confirmed"], "true");
  EXPECT_EQ(info["blocks"][sa]["confirmed"], "true");
  EXPECT_EQ(info["blocks"][hex(block_hash(open_a_))]["confirmed"], "true");
  EXPECT_EQ(info["blocks"][sb]["confirmed"], "false");
  EXPECT_EQ(ask(Json{{"action", "block_info"}, {"hash", sb}})["confirmed"], "false");
  // include_not_found lists the unknown hashes instead of failing.
  const std::string unknown(64, 'A');
  Json partial =
      ask(Json{{"action", "blocks_info"}, {"hashes", {sa, unknown}}, {"include_not_found", true}});
  EXPECT_EQ(partial["blocks"][sa]["confirmed"], "true");
  EXPECT_EQ(partial["blocks_not_found"], Json::array({unknown}));
  EXPECT_EQ(error_of(Json{{"action", "blocks_info"}, {"hashes", {sa, unknown}}}),
            "Block not found");

  // cemented: genesis, send to A, open of A; count has the send to B too.
  Json count = ask(Json{{"action", "block_count"}});
  EXPECT_EQ(count["count"], "4");
  EXPECT_EQ(count["cemented"], "3") << "the confirmation heights added up";
  EXPECT_EQ(ask(Json{{"action", "telemetry"}})["cemented_count"], "3");
  RpcServices counted = elections();
  counted.cemented_count = [] { return uint64_t{42}; };
  EXPECT_EQ(ask_with(counted, Json{{"action", "block_count"}})["cemented"], "42");
  EXPECT_EQ(ask_with(counted, Json{{"action", "telemetry"}})["cemented_count"], "42");

  // B's send is not cemented: not receivable, not in B's balance, and the
  // genesis' confirmed balance is the one before it.
  const Json b_receivable{{"action", "receivable"}, {"account", acct(b_.pub)}};
  EXPECT_EQ(ask(b_receivable)["blocks"], "");
  Json any = b_receivable;
  any["include_only_confirmed"] = "false";
  EXPECT_EQ(ask(any)["blocks"], Json::array({sb}));
  Json accounts{{"action", "accounts_receivable"}, {"accounts", {acct(b_.pub)}}};
  EXPECT_EQ(ask(accounts)["blocks"], "");
  accounts["include_only_confirmed"] = false;
  EXPECT_EQ(ask(accounts)["blocks"][acct(b_.pub)], Json::array({sb}));
  Json balances =
      ask(Json{{"action", "accounts_balances"}, {"accounts", {acct(g_.pub), acct(b_.pub)}}});
  EXPECT_EQ(balances["balances"][acct(g_.pub)]["balance"],
            amount_to_string(net_.genesis_amount - 1000));
  EXPECT_EQ(balances["balances"][acct(b_.pub)]["receivable"], "0");
  Json ledger_balances = ask(Json{{"action", "accounts_balances"},
                                  {"accounts", {acct(g_.pub), acct(b_.pub)}},
                                  {"include_only_confirmed", false}});
  EXPECT_EQ(ledger_balances["balances"][acct(g_.pub)]["balance"],
            amount_to_string(net_.genesis_amount - 3000));
  EXPECT_EQ(ledger_balances["balances"][acct(b_.pub)]["receivable"], "2000");
  Json gi = ask(Json{{"action", "account_info"},
                     {"account", acct(g_.pub)},
                     {"include_confirmed", true},
                     {"representative", true}});
  EXPECT_EQ(gi["balance"], amount_to_string(net_.genesis_amount - 3000));
  EXPECT_EQ(gi["confirmed_balance"], amount_to_string(net_.genesis_amount - 1000));
  EXPECT_EQ(gi["confirmed_height"], "2");
  EXPECT_EQ(gi["confirmed_frontier"], sa);
  EXPECT_EQ(gi["confirmed_representative"], acct(g_.pub));
  Json bi = ask(Json{{"action", "account_info"},
                     {"account", acct(a_.pub)},
                     {"include_confirmed", "true"},
                     {"receivable", "true"}});
  EXPECT_EQ(bi["confirmed_height"], "1");
  EXPECT_EQ(bi["confirmed_balance"], "1000");
  EXPECT_EQ(bi["confirmed_receivable"], "0");

  confirm(block_hash(send_b_));
  EXPECT_EQ(ask(b_receivable)["blocks"], Json::array({sb}));
  EXPECT_EQ(ask(Json{{"action", "block_count"}})["cemented"], "4");
  EXPECT_EQ(ask(Json{{"action", "account_balance"}, {"account", acct(b_.pub)}})["receivable"],
            "2000");
}

// A node that runs no elections confirms nothing on its own and says so.
TEST_P(RpcElectionsTest, WithoutElectionsTheElectionActionsSaySo) {
  const RpcServices none;
  const std::string root = hex(qualified_root(send_b_));
  for (const Json& request :
       {Json{{"action", "representatives_online"}}, Json{{"action", "confirmation_quorum"}},
        Json{{"action", "confirmation_history"}}, Json{{"action", "confirmation_active"}},
        Json{{"action", "block_confirm"}, {"hash", hex(block_hash(send_b_))}},
        Json{{"action", "confirmation_info"}, {"root", root}},
        Json{{"action", "election_info"}, {"root", root}}}) {
    EXPECT_EQ(ask_with(none, request), (Json{{"error", "Elections not running"}}))
        << request.dump();
  }
  EXPECT_EQ(ask_with(none, Json{{"action", "block_count"}})["cemented"], "3");
}

// ---- the election actions

TEST_P(RpcElectionsTest, RepresentativesOnline) {
  snapshot_.online_reps = {{g_.pub, 1}, {r_.pub, 1}};
  std::vector<PublicKey> order{g_.pub, r_.pub};
  std::sort(order.begin(), order.end());
  Json plain = ask(Json{{"action", "representatives_online"}});
  EXPECT_EQ(plain, (Json{{"representatives", {acct(order[0]), acct(order[1])}}}));
  Json weights = ask(Json{{"action", "representatives_online"}, {"weight", "true"}});
  ASSERT_TRUE(weights["representatives"].is_object()) << weights.dump();
  EXPECT_EQ(weights["representatives"][acct(g_.pub)],
            (Json{{"weight", amount_to_string(net_.genesis_amount - 3000)}}))
      << "the ledger weight";
  EXPECT_EQ(weights["representatives"][acct(r_.pub)], (Json{{"weight", "1000"}}));
  EXPECT_EQ(weights["representatives"].size(), 2u);
  // accounts: only those among the online ones.
  Json only = ask(Json{{"action", "representatives_online"},
                       {"accounts", {acct(r_.pub), acct(x_.pub)}},
                       {"weight", true}});
  EXPECT_EQ(only, (Json{{"representatives", {{acct(r_.pub), {{"weight", "1000"}}}}}}));
  EXPECT_EQ(ask(Json{{"action", "representatives_online"},
                     {"accounts", {acct(x_.pub)}}})["representatives"],
            "")
      << "none: the empty string, as nano-node's property tree";
  EXPECT_EQ(ask(Json{{"action", "representatives_online"},
                     {"accounts", Json::array()}})["representatives"],
            "");
  EXPECT_EQ(error_of(Json{{"action", "representatives_online"}, {"accounts", {"nano_1bad"}}}),
            "Bad account number");
  EXPECT_EQ(error_of(Json{{"action", "representatives_online"}, {"accounts", acct(r_.pub)}}),
            "Unable to parse JSON");
  snapshot_.online_reps.clear();
  EXPECT_EQ(ask(Json{{"action", "representatives_online"}})["representatives"], "");
}

TEST_P(RpcElectionsTest, ConfirmationQuorum) {
  snapshot_.quorum_delta = 40 * kNano;
  snapshot_.online_weight = 50 * kNano;
  snapshot_.trended_weight = 60 * kNano;
  snapshot_.online_weight_minimum = 70 * kNano;
  snapshot_.online_reps = {{r_.pub, 1000}};
  Json q = ask(Json{{"action", "confirmation_quorum"}});
  EXPECT_EQ(q, (Json{{"quorum_delta", amount_to_string(40 * kNano)},
                     {"online_weight_quorum_percent", "67"},
                     {"online_weight_minimum", amount_to_string(70 * kNano)},
                     {"online_stake_total", amount_to_string(50 * kNano)},
                     {"trended_stake_total", amount_to_string(60 * kNano)},
                     {"peers_stake_total", "1000"}}));
  EXPECT_EQ(std::to_string(kOnlineWeightQuorumPercent), "67");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_quorum"}, {"peer_details", true}}),
            "peer_details is not supported");
  EXPECT_EQ(ask(Json{{"action", "confirmation_quorum"}, {"peer_details", "false"}}), q);
}

TEST_P(RpcElectionsTest, ConfirmationHistory) {
  ElectionInfo first;
  first.duration_ms = 120;
  first.time_ms = 1'700'000'000'123;
  first.tally = 5 * kNano;
  first.final_tally = 4 * kNano;
  first.blocks = 1;
  first.voters = 2;
  first.request_count = 0;
  ElectionInfo second = first;
  second.duration_ms = 380;
  second.blocks = 2;
  second.request_count = 3;
  snapshot_.history = {{block_hash(send_a_), first}, {block_hash(open_a_), second}};
  Json h = ask(Json{{"action", "confirmation_history"}});
  EXPECT_EQ(h["confirmation_stats"], (Json{{"count", "2"}, {"average", "250"}}));
  ASSERT_EQ(h["confirmations"].size(), 2u) << h.dump();
  EXPECT_EQ(h["confirmations"][0], (Json{{"hash", hex(block_hash(send_a_))},
                                         {"duration", "120"},
                                         {"time", "1700000000123"},
                                         {"tally", amount_to_string(5 * kNano)},
                                         {"final", amount_to_string(4 * kNano)},
                                         {"blocks", "1"},
                                         {"voters", "2"},
                                         {"request_count", "0"}}));
  EXPECT_EQ(h["confirmations"][1]["hash"], hex(block_hash(open_a_))) << "oldest first";
  EXPECT_EQ(h["confirmations"][1]["request_count"], "3");
  Json one = ask(Json{{"action", "confirmation_history"}, {"hash", hex(block_hash(open_a_))}});
  EXPECT_EQ(one["confirmation_stats"], (Json{{"count", "1"}, {"average", "380"}}));
  EXPECT_EQ(one["confirmations"].size(), 1u);
  Json none = ask(Json{{"action", "confirmation_history"}, {"hash", std::string(64, '1')}});
  EXPECT_EQ(none, (Json{{"confirmation_stats", {{"count", "0"}}}, {"confirmations", ""}}));
  EXPECT_EQ(error_of(Json{{"action", "confirmation_history"}, {"hash", "12"}}),
            "Invalid block hash");
}

TEST_P(RpcElectionsTest, ConfirmationActiveListsTheRootsAsNanoNodePrintsThem) {
  snapshot_.active = {qualified_root(send_b_), qualified_root(open_a_)};
  Json a = ask(Json{{"action", "confirmation_active"}});
  // Root then previous, 128 upper-case hex digits.
  const std::string root = hex(block_hash(send_a_)) + hex(block_hash(send_a_));
  const std::string open_root = hex(a_.pub) + std::string(64, '0');
  EXPECT_EQ(a,
            (Json{{"confirmations", {root, open_root}}, {"unconfirmed", "2"}, {"confirmed", "0"}}));
  EXPECT_EQ(ask(Json{{"action", "confirmation_active"}, {"announcements", "1"}})["unconfirmed"],
            "2");
  snapshot_.active.clear();
  EXPECT_EQ(ask(Json{{"action", "confirmation_active"}}),
            (Json{{"confirmations", ""}, {"unconfirmed", "0"}, {"confirmed", "0"}}));
}

TEST_P(RpcElectionsTest, BlockConfirm) {
  const BlockHash sb = block_hash(send_b_);
  EXPECT_EQ(ask(Json{{"action", "block_confirm"}, {"hash", hex(sb)}}), (Json{{"started", "1"}}));
  EXPECT_EQ(confirm_asked_, std::vector<BlockHash>{sb});
  // Cemented already: started, and no election.
  EXPECT_EQ(ask(Json{{"action", "block_confirm"}, {"hash", hex(block_hash(send_a_))}}),
            (Json{{"started", "1"}}));
  EXPECT_EQ(confirm_asked_.size(), 1u);
  EXPECT_EQ(error_of(Json{{"action", "block_confirm"}, {"hash", std::string(64, '7')}}),
            "Block not found");
  EXPECT_EQ(error_of(Json{{"action", "block_confirm"}, {"hash", "XYZ"}}), "Invalid block hash");
  EXPECT_EQ(error_of(Json{{"action", "block_confirm"}}), "Unable to parse JSON");
  // The elections would not take it (stopping): an error, not "started".
  confirm_answer_ = false;
  EXPECT_EQ(error_of(Json{{"action", "block_confirm"}, {"hash", hex(sb)}}),
            "Elections not running");
}

TEST_P(RpcElectionsTest, ConfirmationInfoShowsTheRunningElection) {
  const BlockHash sb = block_hash(send_b_), fk = block_hash(fork_);
  ElectionView v;
  v.root = qualified_root(send_b_);
  v.winner = sb;
  v.started_ms = 5;
  v.blocks = {{sb, 7 * kNano, 6 * kNano}, {fk, 2 * kNano, 0}};
  v.votes[g_.pub] = Election::LastVote{1, sb, 5};
  v.votes[x_.pub] = Election::LastVote{1, sb, 5};  // no weight in the ledger
  v.votes[r_.pub] = Election::LastVote{1, fk, 5};
  v.request_count = 3;
  v.contents[fk] = fork_;  // the fork is not in the ledger
  view_ = v;
  const std::string root = hex(v.root);
  Json info = ask(Json{{"action", "confirmation_info"}, {"root", root}});
  EXPECT_EQ(asked_.back(), block_hash(send_a_)) << "looked up by the root's first half";
  EXPECT_EQ(info["announcements"], "3");
  EXPECT_EQ(info["voters"], "3");
  EXPECT_EQ(info["last_winner"], hex(sb));
  EXPECT_EQ(info["total_tally"], amount_to_string(9 * kNano));
  EXPECT_EQ(info["final_tally"], amount_to_string(6 * kNano));
  ASSERT_TRUE(info["blocks"].is_object()) << info.dump();
  EXPECT_EQ(info["blocks"].size(), 2u);
  EXPECT_EQ(info["blocks"].begin().key(), hex(sb)) << "heaviest first";
  EXPECT_EQ(info["blocks"][hex(sb)]["tally"], amount_to_string(7 * kNano));
  EXPECT_EQ(info["blocks"][hex(fk)]["tally"], amount_to_string(2 * kNano));
  // contents: JSON text by default, from the ledger or the election.
  ASSERT_TRUE(info["blocks"][hex(sb)]["contents"].is_string());
  EXPECT_EQ(Json::parse(info["blocks"][hex(sb)]["contents"].get<std::string>()),
            block_to_json(send_b_));
  EXPECT_EQ(Json::parse(info["blocks"][hex(fk)]["contents"].get<std::string>()),
            block_to_json(fork_));
  EXPECT_FALSE(info["blocks"][hex(sb)].contains("representatives"));

  Json json_block =
      ask(Json{{"action", "confirmation_info"}, {"root", root}, {"json_block", "true"}});
  EXPECT_EQ(json_block["blocks"][hex(fk)]["contents"], block_to_json(fork_));
  Json bare = ask(Json{{"action", "confirmation_info"}, {"root", root}, {"contents", false}});
  EXPECT_EQ(bare["blocks"][hex(sb)], (Json{{"tally", amount_to_string(7 * kNano)}}));

  Json reps = ask(Json{{"action", "confirmation_info"},
                       {"root", root},
                       {"contents", "false"},
                       {"representatives", "true"}});
  const Json for_winner = reps["blocks"][hex(sb)]["representatives"];
  ASSERT_EQ(for_winner.size(), 2u) << reps.dump();
  EXPECT_EQ(for_winner.begin().key(), acct(g_.pub)) << "heaviest first";
  EXPECT_EQ(for_winner[acct(g_.pub)], amount_to_string(net_.genesis_amount - 3000));
  EXPECT_EQ(for_winner[acct(x_.pub)], "0");
  EXPECT_EQ(reps["blocks"][hex(fk)]["representatives"], (Json{{acct(r_.pub), "1000"}}));

  // election_info is the same action; `hash` finds the election of a block.
  EXPECT_EQ(ask(Json{{"action", "election_info"}, {"root", root}}), info);
  EXPECT_EQ(ask(Json{{"action", "election_info"}, {"hash", hex(fk)}}), info);
  EXPECT_EQ(ask(Json{{"action", "confirmation_info"}, {"root", root}, {"hash", hex(fk)}}), info)
      << "root wins when both are given";
  // A root as lower-case hex reads the same.
  std::string lower = root;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  EXPECT_EQ(ask(Json{{"action", "confirmation_info"}, {"root", lower}}), info);
}

TEST_P(RpcElectionsTest, ConfirmationInfoErrorsAreNanoNodes) {
  ElectionView v;
  v.root = qualified_root(send_b_);
  v.winner = block_hash(send_b_);
  v.blocks = {{block_hash(send_b_), 0, 0}};
  view_ = v;
  const std::string root = hex(v.root);
  // The right root with another previous: no election sits there.
  std::string other = root;
  other[127] = other[127] == '0' ? '1' : '0';
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", other}}),
            "Active confirmation not found");
  // A short root is a number (leading zeros): the zero root here.
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", "0"}}),
            "Active confirmation not found");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"hash", std::string(64, '5')}}),
            "Active confirmation not found");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", "xyz"}}), "Invalid root hash");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", ""}}), "Invalid root hash");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", root + "0"}}),
            "Invalid root hash");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}}), "Unable to parse JSON");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"hash", "12"}}), "Invalid block hash");
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", root}, {"contents", "maybe"}}),
            "Unable to parse JSON");
  view_.reset();
  EXPECT_EQ(error_of(Json{{"action", "confirmation_info"}, {"root", root}}),
            "Active confirmation not found");
}

INSTANTIATE_TEST_SUITE_P(Stores, RpcElectionsTest, ::testing::Values("memory", "lmdb"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace chorus::nano
