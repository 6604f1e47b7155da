// The RPC core against a real ledger (memory and LMDB stores) and a real
// block processor: nano-node's answers, field by field, and its errors;
// "lmdb_http" asks every request over HTTP (chorus::web::HttpServer, a
// libcurl client), as wallets do.
#include "chorus/nano/rpc_handler.h"
#include "chorus/web/http_client.h"

#include <gtest/gtest.h>

#include <future>

#include "block_maker.h"
#include "chorus/nano/account.h"
#include "chorus/nano/block_processor.h"
#include "chorus/web/http_server.h"
#include "chorus/web/loop_thread.h"
#include "rpc_test_services.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers
using Json = nlohmann::ordered_json;

class RpcHandlerTest : public ::testing::TestWithParam<std::string>, protected BlockMaker {
 protected:
  RpcHandlerTest()
      : ledger_(net_),
        store_(make_test_store(GetParam(), dir_)),
        processor_(ledger_, *store_),
        rpc_(net_, *store_, services()) {
    auto txn = store_->begin_write();
    ledger_.initialize(*txn, kNow);
    EXPECT_TRUE(txn->commit().ok());
    if (GetParam().find("http") != std::string::npos) serve_http();
  }
  ~RpcHandlerTest() override {
    if (loop_) loop_->stop([this] { http_->stop(); });
    loop_.reset();
    http_.reset();
  }

  void serve_http() {
    auto loop = web::LoopThread::start("rpc-test");
    ASSERT_TRUE(loop.ok());
    loop_ = std::move(*loop);
    std::promise<uint16_t> port;
    loop_->post([&](uv_loop_s* uv) {
      auto s =
          web::HttpServer::start(uv, {}, [this](const web::HttpRequest& r, web::Responder reply) {
            rpc_.handle(
                r.body,
                [reply](std::string text) {
                  reply({200, "application/json", text});
                },
                r.peer);
          });
      EXPECT_TRUE(s.ok());
      http_ = std::move(*s);
      port.set_value(http_->port());
    });
    url_ = "http://127.0.0.1:" + std::to_string(port.get_future().get()) + "/";
    client_ = std::make_unique<web::HttpClient>();
  }
  RpcServices services() {
    RpcServices s = processor_services(processor_, kNow);
    return s;
  }

  // The answer to `request`, which must come at once.
  Json ask_text(const std::string& request) {
    if (client_) {
      auto answer = client_->post(url_, request);
      EXPECT_TRUE(answer.ok()) << answer.error().message();
      if (!answer.ok()) return Json();
      EXPECT_EQ(answer->status, 200) << request.substr(0, 80);
      return Json::parse(answer->body, nullptr, false);
    }
    std::optional<std::string> answer;
    rpc_.handle(request, [&](std::string r) {
      EXPECT_FALSE(answer.has_value()) << "replied twice";
      answer = std::move(r);
    });
    EXPECT_TRUE(answer.has_value()) << "no reply to " << request;
    return Json::parse(answer.value_or("{}"));
  }
  Json ask(const Json& request) { return ask_text(request.dump()); }
  std::string error_of(const Json& request) {
    Json r = ask(request);
    return r.value("error", std::string("<no error>"));
  }

  // What a node's elections do once `hash` is confirmed: cement it and
  // what it depends on (Ledger::confirm).
  void confirm(const BlockHash& hash) {
    auto txn = store_->begin_write();
    std::vector<CementedBlock> cemented;
    ASSERT_TRUE(ledger_.confirm(*txn, hash, cemented).ok());
    ASSERT_TRUE(txn->commit().ok());
  }
  // The same by hand: raise `account`'s confirmation height.
  void cement(const PublicKey& account, uint64_t height, const BlockHash& frontier) {
    auto txn = store_->begin_write();
    txn->put_confirmation_height(account, ConfirmationHeight{height, frontier});
    ASSERT_TRUE(txn->commit().ok());
  }

  std::string acct(const PublicKey& k) { return encode_account(k); }
  std::string hex(const Hash32& h) { return to_hex_upper(h); }

  // A genesis send of `amount` to `to`, through the process action; then
  // confirmed, as the node's elections would, unless `cemented` is false.
  Block send_from_genesis(const PublicKey& to, Amount amount, bool cemented = true) {
    auto info = store_->begin_read()->account(g_.pub);
    Block b = state(g_, info->head, g_.pub, info->balance - amount, to);
    Json r = ask(Json{{"action", "process"}, {"json_block", true}, {"block", block_to_json(b)}});
    EXPECT_EQ(r.value("hash", ""), hex(block_hash(b))) << r.dump();
    if (cemented) confirm(block_hash(b));
    return b;
  }

  TempDir dir_;
  Ledger ledger_;
  std::unique_ptr<LedgerStore> store_;
  BlockProcessor processor_;
  RpcHandler rpc_;
  std::unique_ptr<web::LoopThread> loop_;
  std::unique_ptr<web::HttpServer> http_;  // the loop thread's
  std::string url_;
  std::unique_ptr<web::HttpClient> client_;
};

TEST_P(RpcHandlerTest, VersionAndBlockCountSpeakForTheDevNetwork) {
  Json v = ask_text(R"({"action":"version"})");
  EXPECT_EQ(v["network"], "dev");
  EXPECT_EQ(v["network_identifier"], hex(net_.genesis_hash));
  EXPECT_EQ(v["rpc_version"], "1");
  Json c = ask_text(R"({"action":"block_count"})");
  EXPECT_EQ(c["count"], "1");
  EXPECT_EQ(c["unchecked"], "0");
  EXPECT_EQ(c["cemented"], "1") << "the genesis is cemented from the start";
}

TEST_P(RpcHandlerTest, ASendShowsInBalancesReceivableAndAccountInfo) {
  const Key a = key_of(1);
  const Block send = send_from_genesis(a.pub, 1000);
  Json bal = ask(Json{{"action", "account_balance"}, {"account", acct(a.pub)}});
  EXPECT_EQ(bal, (Json{{"balance", "0"}, {"pending", "1000"}, {"receivable", "1000"}}));
  Json gb = ask(Json{{"action", "account_balance"}, {"account", acct(g_.pub)}});
  EXPECT_EQ(gb["balance"], amount_to_string(net_.genesis_amount - 1000));

  Json rec = ask(Json{{"action", "receivable"}, {"account", acct(a.pub)}});
  EXPECT_EQ(rec["blocks"], Json::array({hex(block_hash(send))}));
  Json with_source = ask(Json{
      {"action", "pending"}, {"account", acct(a.pub)}, {"source", "true"}, {"threshold", "1"}});
  EXPECT_EQ(with_source["blocks"][hex(block_hash(send))]["amount"], "1000");
  EXPECT_EQ(with_source["blocks"][hex(block_hash(send))]["source"], acct(g_.pub));
  Json over = ask(Json{{"action", "receivable"}, {"account", acct(a.pub)}, {"threshold", "1001"}});
  EXPECT_EQ(over["blocks"], "") << "nothing receivable: the empty string, as nano-node's ptree";

  Json info = ask(Json{{"action", "account_info"},
                       {"account", acct(g_.pub)},
                       {"representative", true},
                       {"weight", "true"},
                       {"receivable", true}});
  EXPECT_EQ(info["frontier"], hex(block_hash(send)));
  EXPECT_EQ(info["open_block"], hex(net_.genesis_hash));
  EXPECT_EQ(info["representative_block"], hex(block_hash(send)));
  EXPECT_EQ(info["block_count"], "2");
  EXPECT_EQ(info["account_version"], "0");
  EXPECT_EQ(info["representative"], acct(g_.pub));
  EXPECT_EQ(info["weight"], amount_to_string(net_.genesis_amount - 1000));
  EXPECT_EQ(info["receivable"], "0");
  EXPECT_EQ(error_of(Json{{"action", "account_info"}, {"account", acct(a.pub)}}),
            "Account not found");

  Json bi =
      ask(Json{{"action", "block_info"}, {"hash", hex(block_hash(send))}, {"json_block", true}});
  EXPECT_EQ(bi["block_account"], acct(g_.pub));
  EXPECT_EQ(bi["amount"], "1000");
  EXPECT_EQ(bi["height"], "2");
  EXPECT_EQ(bi["subtype"], "send");
  EXPECT_EQ(bi["contents"]["link_as_account"], acct(a.pub));
  Json as_text = ask(Json{{"action", "block_info"}, {"hash", hex(block_hash(send))}});
  EXPECT_TRUE(as_text["contents"].is_string()) << "without json_block, contents is JSON text";

  Json ba = ask(Json{{"action", "block_account"}, {"hash", hex(block_hash(send))}});
  EXPECT_EQ(ba["account"], acct(g_.pub));
  Json fr = ask(Json{{"action", "accounts_frontiers"}, {"accounts", {acct(g_.pub), acct(a.pub)}}});
  EXPECT_EQ(fr["frontiers"][acct(g_.pub)], hex(block_hash(send)));
  EXPECT_EQ(fr["errors"][acct(a.pub)], "Account not found");
  Json ar = ask(Json{{"action", "accounts_receivable"}, {"accounts", {acct(a.pub)}}, {"count", 5}});
  EXPECT_EQ(ar["blocks"][acct(a.pub)], Json::array({hex(block_hash(send))}));
}

// nano-node counts `count` over the entries it answers: those below the
// threshold are passed over and leave room for later ones.
TEST_P(RpcHandlerTest, ReceivableCountsOnlyEntriesAtOrAboveTheThreshold) {
  const Key a = key_of(4);
  const Block big = send_from_genesis(a.pub, 5000);
  // Dust until one sorts before the big send (entries go in hash order).
  Block dust = send_from_genesis(a.pub, 1);
  for (int i = 0; i < 64 && block_hash(dust) > block_hash(big); ++i)
    dust = send_from_genesis(a.pub, 1);
  ASSERT_LT(block_hash(dust), block_hash(big));
  Json one = ask(Json{
      {"action", "receivable"}, {"account", acct(a.pub)}, {"count", 1}, {"threshold", "1000"}});
  EXPECT_EQ(one["blocks"], (Json{{hex(block_hash(big)), "5000"}})) << one.dump();
  Json accounts = ask(Json{{"action", "accounts_receivable"},
                           {"accounts", {acct(a.pub)}},
                           {"count", "1"},
                           {"threshold", "1000"}});
  EXPECT_EQ(accounts["blocks"][acct(a.pub)], (Json{{hex(block_hash(big)), "5000"}}));
  // offset skips entries in hash order, before the threshold is applied.
  Json all = ask(Json{{"action", "receivable"}, {"account", acct(a.pub)}});
  ASSERT_GE(all["blocks"].size(), 2u);
  Json skipped =
      ask(Json{{"action", "receivable"}, {"account", acct(a.pub)}, {"offset", 1}, {"count", 1}});
  EXPECT_EQ(skipped["blocks"], Json::array({all["blocks"][1]}));
  EXPECT_EQ(error_of(Json{{"action", "receivable"}, {"account", acct(a.pub)}, {"offset", "x"}}),
            "Invalid offset");
  // Nothing at all: "" (nano-node's empty property tree), not [] or {}.
  const Key none = key_of(5);
  EXPECT_EQ(ask(Json{{"action", "receivable"}, {"account", acct(none.pub)}})["blocks"], "");
  EXPECT_EQ(ask(Json{{"action", "accounts_receivable"}, {"accounts", {acct(none.pub)}}})["blocks"],
            "");
}

// The requests nano-wallet-js sends (tests/nano/wallet), field for field,
// and the fields it reads from each answer.
TEST_P(RpcHandlerTest, TheRequestsOfNanoWalletJsGetWhatItReads) {
  const Key a = key_of(6);
  std::string xrb_a = acct(a.pub);
  xrb_a.replace(0, 5, "xrb_");
  // sync() of an unopened account: exactly this error, which it ignores.
  const Json info_request{{"action", "account_info"},
                          {"account", xrb_a},
                          {"representative", true},
                          {"weight", true},
                          {"receivable", true}};
  EXPECT_EQ(error_of(info_request), "Account not found");
  const Block send = send_from_genesis(a.pub, 3000);
  // getReceivable(): count as a JSON number, threshold as a string.
  Json rec = ask(Json{{"action", "receivable"},
                      {"account", acct(a.pub)},
                      {"count", 100},
                      {"threshold", "10000000000000000000000000"}});
  EXPECT_EQ(rec["blocks"], "") << "3000 raw is below the wallet's 0.00001 NANO";
  rec = ask(
      Json{{"action", "receivable"}, {"account", acct(a.pub)}, {"count", 100}, {"threshold", "1"}});
  EXPECT_EQ(rec["blocks"], (Json{{hex(block_hash(send)), "3000"}}));
  // getWork(): the root in upper-case hex (a public key for an open), and
  // the threshold it then checks the work against itself.
  Json w = ask(
      Json{{"action", "work_generate"}, {"hash", hex(a.pub)}, {"difficulty", "ffc0000000000000"}});
  ASSERT_TRUE(w.contains("work")) << w.dump();
  const uint64_t work = *parse_hex_u64(w["work"].get<std::string>(), "work");
  EXPECT_GE(work_value(a.pub, work), 0xffc0000000000000ULL);
  // receive(): nanocurrency-js writes xrb_ accounts, link_as_account, and
  // no subtype; json_block is the string "true"; it compares the hash.
  Block open = state(a, BlockHash{}, g_.pub, 3000, block_hash(send));
  open.work = work;
  Json block = block_to_json(open);
  block["account"] = xrb_a;
  const std::string link_as_account = block["link_as_account"].get<std::string>();
  block["link_as_account"] = "xrb_" + link_as_account.substr(5);
  Json processed = ask(Json{{"action", "process"}, {"json_block", "true"}, {"block", block}});
  EXPECT_EQ(processed, (Json{{"hash", hex(block_hash(open))}}));
  confirm(block_hash(open));  // the wallet waits for its election
  Json info = ask(info_request);
  EXPECT_EQ(info["balance"], "3000");
  EXPECT_EQ(info["frontier"], hex(block_hash(open)));
  EXPECT_EQ(info["receivable"], "0");
  EXPECT_EQ(info["representative"], acct(g_.pub));
  Json balance = ask(Json{{"action", "account_balance"}, {"account", xrb_a}, {"receivable", true}});
  EXPECT_EQ(balance["balance"], "3000");
}

// A send its election confirmed: include_confirmed answers the
// confirmed_* fields with the ledger's values.
TEST_P(RpcHandlerTest, IncludeConfirmedAnswersTheConfirmedFields) {
  const Key a = key_of(7);
  const Block send = send_from_genesis(a.pub, 100);
  const std::string after = amount_to_string(net_.genesis_amount - 100);
  Json plain = ask(Json{{"action", "account_info"}, {"account", acct(g_.pub)}});
  EXPECT_EQ(plain["confirmation_height"], "2");
  EXPECT_EQ(plain["confirmation_height_frontier"], hex(block_hash(send)));
  EXPECT_FALSE(plain.contains("confirmed_balance"));
  Json full = ask(Json{{"action", "account_info"},
                       {"account", acct(g_.pub)},
                       {"include_confirmed", true},
                       {"representative", true},
                       {"receivable", true}});
  EXPECT_EQ(full["confirmed_balance"], after);
  EXPECT_EQ(full["confirmed_height"], "2");
  EXPECT_EQ(full["confirmed_frontier"], hex(block_hash(send)));
  EXPECT_EQ(full["confirmed_representative"], acct(g_.pub));
  EXPECT_EQ(full["confirmed_receivable"], "0");
  EXPECT_EQ(full["confirmed_pending"], "0");
  EXPECT_FALSE(full.contains("confirmation_height")) << "nano-node answers one pair or the other";
  EXPECT_EQ(ask(Json{{"action", "block_info"}, {"hash", hex(block_hash(send))}})["confirmed"],
            "true");
}

// What is not cemented yet is not receivable, not in account_balance (by
// default) and not confirmed; cementing brings it in.
TEST_P(RpcHandlerTest, OnlyCementedSendsAreReceivable) {
  const Key a = key_of(8);
  const Block send = send_from_genesis(a.pub, 700, false);
  const std::string h = hex(block_hash(send));
  const Json receivable{{"action", "receivable"}, {"account", acct(a.pub)}, {"threshold", "1"}};
  EXPECT_EQ(ask(receivable)["blocks"], "");
  Json any = receivable;
  any["include_only_confirmed"] = false;
  EXPECT_EQ(ask(any)["blocks"], (Json{{h, "700"}}));
  EXPECT_EQ(ask(Json{{"action", "account_balance"}, {"account", acct(a.pub)}}),
            (Json{{"balance", "0"}, {"pending", "0"}, {"receivable", "0"}}));
  Json gb = ask(Json{{"action", "account_balance"}, {"account", acct(g_.pub)}});
  EXPECT_EQ(gb["balance"], amount_to_string(net_.genesis_amount)) << "the confirmed balance";
  Json gb_any = ask(Json{{"action", "account_balance"},
                         {"account", acct(g_.pub)},
                         {"include_only_confirmed", "false"}});
  EXPECT_EQ(gb_any["balance"], amount_to_string(net_.genesis_amount - 700));
  Json info = ask(Json{{"action", "account_info"},
                       {"account", acct(g_.pub)},
                       {"include_confirmed", "true"},
                       {"representative", "true"}});
  EXPECT_EQ(info["balance"], amount_to_string(net_.genesis_amount - 700));
  EXPECT_EQ(info["confirmed_balance"], amount_to_string(net_.genesis_amount));
  EXPECT_EQ(info["confirmed_height"], "1");
  EXPECT_EQ(info["confirmed_frontier"], hex(net_.genesis_hash));
  EXPECT_EQ(info["confirmed_representative"], acct(g_.pub));
  EXPECT_EQ(ask(Json{{"action", "account_info"}, {"account", acct(g_.pub)}})["confirmation_height"],
            "1");
  EXPECT_EQ(ask(Json{{"action", "block_info"}, {"hash", h}})["confirmed"], "false");
  Json a_info =
      ask(Json{{"action", "accounts_receivable"}, {"accounts", {acct(a.pub)}}, {"count", 10}});
  EXPECT_EQ(a_info["blocks"], "");

  cement(g_.pub, 2, block_hash(send));
  EXPECT_EQ(ask(receivable)["blocks"], (Json{{h, "700"}}));
  EXPECT_EQ(ask(Json{{"action", "account_balance"}, {"account", acct(a.pub)}})["receivable"],
            "700");
  EXPECT_EQ(ask(Json{{"action", "block_info"}, {"hash", h}})["confirmed"], "true");
  info =
      ask(Json{{"action", "account_info"}, {"account", acct(g_.pub)}, {"include_confirmed", true}});
  EXPECT_EQ(info["confirmed_balance"], amount_to_string(net_.genesis_amount - 700));
  EXPECT_EQ(info["confirmed_height"], "2");
}

TEST_P(RpcHandlerTest, ChainAndSuccessorsWalkBothWays) {
  const Key a = key_of(2);
  const Block s1 = send_from_genesis(a.pub, 1);
  const Block s2 = send_from_genesis(a.pub, 1);
  Json down = ask(Json{{"action", "chain"}, {"block", hex(block_hash(s2))}, {"count", "10"}});
  EXPECT_EQ(down["blocks"],
            Json::array({hex(block_hash(s2)), hex(block_hash(s1)), hex(net_.genesis_hash)}));
  Json up = ask(Json{{"action", "successors"}, {"block", hex(net_.genesis_hash)}, {"count", 2}});
  EXPECT_EQ(up["blocks"], Json::array({hex(net_.genesis_hash), hex(block_hash(s1))}));
  Json skip = ask(
      Json{{"action", "chain"}, {"block", hex(block_hash(s2))}, {"count", "1"}, {"offset", "1"}});
  EXPECT_EQ(skip["blocks"], Json::array({hex(block_hash(s1))}));
  EXPECT_EQ(error_of(Json{{"action", "chain"}, {"block", hex(block_hash(s2))}, {"count", "0"}}),
            "Invalid count");
}

TEST_P(RpcHandlerTest, ProcessAnswersWithNanoNodesErrorStrings) {
  const Key a = key_of(3);
  const Block send = send_from_genesis(a.pub, 5);
  const Json as_json = block_to_json(send);
  // The same block again, as text (the default), is old.
  EXPECT_EQ(error_of(Json{{"action", "process"}, {"block", as_json.dump()}}), "Old block");
  Block fork = state(g_, net_.genesis_hash, g_.pub, net_.genesis_amount - 6, a.pub);
  EXPECT_EQ(
      error_of(Json{{"action", "process"}, {"json_block", "true"}, {"block", block_to_json(fork)}}),
      "Fork");
  Block gap = state(g_, Hash32{9}, g_.pub, 1, a.pub);
  EXPECT_EQ(
      error_of(Json{{"action", "process"}, {"json_block", true}, {"block", block_to_json(gap)}}),
      "Gap previous block");
  // A forged signature on a block already stored is still "Old block" (the
  // signature is not hashed); on a new block it is "Bad signature".
  Block stored_forged = send;
  stored_forged.signature[0] ^= 1;
  EXPECT_EQ(
      error_of(Json{
          {"action", "process"}, {"json_block", true}, {"block", block_to_json(stored_forged)}}),
      "Old block");
  Block forged = state(g_, block_hash(send), g_.pub, net_.genesis_amount - 7, a.pub);
  forged.signature[0] ^= 1;
  EXPECT_EQ(
      error_of(Json{{"action", "process"}, {"json_block", true}, {"block", block_to_json(forged)}}),
      "Bad signature");
  Block poor = state(g_, block_hash(send), g_.pub, 1, a.pub);
  poor.work = work_between(block_root(poor), 0, net_.work.epoch_2_receive);
  EXPECT_EQ(
      error_of(Json{{"action", "process"}, {"json_block", true}, {"block", block_to_json(poor)}}),
      "Block work is less than threshold");
  // A subtype that does not fit the block is refused before processing.
  Block send2 = state(g_, block_hash(send), g_.pub, net_.genesis_amount - 10, a.pub);
  EXPECT_EQ(error_of(Json{{"action", "process"},
                          {"json_block", true},
                          {"subtype", "receive"},
                          {"block", block_to_json(send2)}}),
            "Invalid block balance for given subtype");
  EXPECT_EQ(error_of(Json{{"action", "process"},
                          {"json_block", true},
                          {"subtype", "sideways"},
                          {"block", block_to_json(send2)}}),
            "Invalid block subtype");
  Json unsigned_block = block_to_json(send2);
  unsigned_block.erase("signature");
  EXPECT_EQ(error_of(Json{{"action", "process"}, {"json_block", true}, {"block", unsigned_block}}),
            "Block is invalid");
  Json ok = ask(Json{{"action", "process"},
                     {"json_block", true},
                     {"subtype", "send"},
                     {"block", block_to_json(send2)}});
  EXPECT_EQ(ok["hash"], hex(block_hash(send2)));
}

TEST_P(RpcHandlerTest, KeysAccountsAndWork) {
  Json k = ask(Json{{"action", "key_expand"}, {"key", hex(g_.priv)}});
  EXPECT_EQ(k["public"], hex(g_.pub));
  EXPECT_EQ(k["account"], acct(g_.pub));
  Seed seed{};
  Json d = ask(Json{{"action", "deterministic_key"}, {"seed", hex(seed)}, {"index", 3}});
  EXPECT_EQ(d["private"], hex(derive_private_key(seed, 3)));
  EXPECT_EQ(ask(Json{{"action", "account_key"}, {"account", acct(g_.pub)}})["key"], hex(g_.pub));
  EXPECT_EQ(ask(Json{{"action", "account_get"}, {"key", hex(g_.pub)}})["account"], acct(g_.pub));
  std::string xrb = acct(g_.pub);
  xrb.replace(0, 5, "xrb_");
  EXPECT_EQ(ask(Json{{"action", "account_key"}, {"account", xrb}})["key"], hex(g_.pub));
  EXPECT_EQ(ask(Json{{"action", "validate_account_number"}, {"account", xrb}})["valid"], "1");
  EXPECT_EQ(ask(Json{{"action", "validate_account_number"}, {"account", "nano_1"}})["valid"], "0");

  const Hash32 root{7};
  Json w = ask(Json{{"action", "work_generate"}, {"hash", hex(root)}});
  ASSERT_TRUE(w.contains("work")) << w.dump();
  const uint64_t work = *parse_hex_u64(w["work"].get<std::string>(), "work");
  EXPECT_GE(work_value(root, work), net_.work.epoch_2);
  Json v = ask(Json{{"action", "work_validate"}, {"hash", hex(root)}, {"work", w["work"]}});
  EXPECT_EQ(v["valid_all"], "1");
  EXPECT_EQ(v["difficulty"], w["difficulty"]);
  EXPECT_EQ(
      error_of(Json{{"action", "work_generate"}, {"hash", hex(root)}, {"multiplier", "1000"}}),
      "Difficulty above config limit or below publish threshold");
}

TEST_P(RpcHandlerTest, BadRequestsGetAJsonErrorNeverACrash) {
  EXPECT_EQ(error_of(Json{{"action", "no_such_thing"}}), "Unknown command");
  EXPECT_EQ(ask_text(std::string("not json"))["error"], "Unable to parse JSON");
  EXPECT_EQ(ask_text(std::string("[1,2]"))["error"], "Unable to parse JSON");
  EXPECT_EQ(ask_text(std::string(R"({"action":5})"))["error"], "Unknown command");
  EXPECT_EQ(error_of(Json{{"action", "account_info"}}), "Unable to parse JSON");
  EXPECT_EQ(error_of(Json{{"action", "account_info"}, {"account", "nano_bad"}}),
            "Bad account number");
  EXPECT_EQ(error_of(Json{{"action", "account_info"}, {"account", {{"x", 1}}}}),
            "Unable to parse JSON");
  EXPECT_EQ(error_of(Json{{"action", "block_info"}, {"hash", "00"}}), "Invalid block hash");
  EXPECT_EQ(error_of(Json{{"action", "block_info"}, {"hash", hex(Hash32{1})}}), "Block not found");
  EXPECT_EQ(
      error_of(Json{{"action", "account_info"}, {"account", acct(g_.pub)}, {"weight", "maybe"}}),
      "Unable to parse JSON");
  EXPECT_EQ(error_of(Json{{"action", "receivable"}, {"account", acct(g_.pub)}, {"count", "-1"}}),
            "Invalid count");
  EXPECT_EQ(error_of(Json{{"action", "accounts_balances"}, {"accounts", "nano_x"}}),
            "Unable to parse JSON");
  std::string deep(100, '[');
  EXPECT_EQ(ask_text(R"({"action":"version","x":)" + deep + "}")["error"], "Unable to parse JSON");
  Json many = Json::array();
  for (int i = 0; i < 10001; ++i) many.push_back(acct(g_.pub));
  EXPECT_NE(error_of(Json{{"action", "accounts_balances"}, {"accounts", many}}).find("Too many"),
            std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(Stores, RpcHandlerTest, ::testing::Values("memory", "lmdb", "lmdb_http"),
                         [](const auto& p) { return p.param; });

TEST(RpcWorkBounds, OneClientCannotHoldMoreThanItsShareOfTheWorkPool) {
  // Searches are held (as a busy pool holds them) until the test ends them.
  std::vector<std::function<void(std::optional<uint64_t>)>> searching;
  RpcServices s;
  s.work_generate = [&](const Hash32&, uint64_t,
                        std::function<void(std::optional<uint64_t>)> done) {
    searching.push_back(std::move(done));
  };
  auto store = make_memory_store();
  RpcLimits limits;
  limits.max_work_per_client = 2;
  RpcHandler rpc(dev_network(), *store, std::move(s), limits);
  std::vector<std::string> answers;
  auto ask = [&](const std::string& client) {
    const std::string body =
        R"({"action":"work_generate","hash":")" + std::string(64, 'A') + R"("})";
    rpc.handle(
        body, [&](std::string r) { answers.push_back(std::move(r)); }, client);
  };
  ask("10.0.0.1");
  ask("10.0.0.1");
  EXPECT_EQ(searching.size(), 2u);
  EXPECT_TRUE(answers.empty());
  ask("10.0.0.1");  // a third from the same client: refused at once
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(Json::parse(answers[0])["error"], "Too many work requests from this client");
  ask("10.0.0.2");  // another client still gets its share
  EXPECT_EQ(searching.size(), 3u);
  searching[0](std::nullopt);  // a search ends (here: cancelled)...
  ASSERT_EQ(answers.size(), 2u);
  EXPECT_EQ(Json::parse(answers[1])["error"], "Cancelled");
  ask("10.0.0.1");  // ...and its client may ask again
  EXPECT_EQ(searching.size(), 4u);
  ask("");  // no client named: only the pool's own bound applies
  ask("");
  ask("");
  EXPECT_EQ(searching.size(), 7u);
  for (size_t i = 1; i < searching.size(); ++i) searching[i](std::nullopt);
  EXPECT_EQ(answers.size(), 8u);
}

}  // namespace
}  // namespace chorus::nano
