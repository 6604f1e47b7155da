#include "ledger_command.h"

#include <filesystem>

#include "chorus/nano/account.h"
#include "chorus/nano/ledger_check.h"
#include "chorus/nano/lmdb_store.h"
#include "chorus/nano/rpc_handler.h"

namespace chorus::nano {

using Json = nlohmann::ordered_json;

LedgerCommand::LedgerCommand(CLI::App& app) {
  cmd_ = app.add_subcommand("ledger", "Read a node's ledger (LMDB) offline; JSON out");
  cmd_->require_subcommand(1);
  auto common = [this](CLI::App* c) {
    c->add_option("--data", data_, "The node's data directory (holds data.mdb)")->required();
    c->add_option("--network", network_, "dev or live")->capture_default_str();
  };
  account_ = cmd_->add_subcommand("account", "An account, as account_info answers it");
  common(account_);
  account_->add_option("--account", account_text_, "nano_… or xrb_…")->required();
  block_ = cmd_->add_subcommand("block", "A block, as block_info answers it");
  common(block_);
  block_->add_option("--hash", hash_text_, "64 hex digits")->required();
  frontiers_ = cmd_->add_subcommand("frontiers", "Account heads in key order");
  common(frontiers_);
  frontiers_->add_option("--start", start_text_, "First account (default: the lowest)");
  frontiers_->add_option("--count", count_, "How many")->capture_default_str();
  check_ = cmd_->add_subcommand(
      "check", "Verify every invariant: chains, balances, receivable, weights, heights");
  common(check_);
}

Result<Json> LedgerCommand::run() const {
  const NetworkParams* net = network_by_name(network_);
  if (!net) return invalid_argument("--network: want dev or live, got '" + network_ + "'");
  // Reading must not create a ledger where there is none.
  if (!std::filesystem::exists(std::filesystem::path(data_) / "data.mdb"))
    return not_found("no ledger in " + data_ + " (no data.mdb)");
  LmdbOptions o;
  o.directory = data_;
  auto store = open_lmdb_store(o);
  if (!store.ok()) return store.error();
  {
    auto txn = (*store)->begin_read();
    if (!txn->block_exists(net->genesis_hash))
      return invalid_argument("the ledger in " + data_ + " is not a " + net->name +
                              " ledger (its genesis block is missing)");
  }
  if (check_->parsed()) {
    auto txn = (*store)->begin_read();
    const LedgerCheckReport r = check_ledger(*txn, *net);
    if (!r.ok()) {
      std::string all = std::to_string(r.problems.size()) + " problem(s) in " + data_ + ":";
      for (const auto& p : r.problems) all += "\n  " + p;
      return malformed(all);
    }
    return Json{{"ok", true},
                {"accounts", r.accounts},
                {"blocks", r.blocks},
                {"pending", r.pending},
                {"representatives", r.representatives}};
  }
  // The rest answer as the RPC does, so that tools see one shape.
  Json request;
  if (account_->parsed()) {
    request = {{"action", "account_info"},
               {"account", account_text_},
               {"representative", true},
               {"weight", true},
               {"receivable", true}};
  } else if (block_->parsed()) {
    request = {{"action", "block_info"}, {"hash", hash_text_}, {"json_block", true}};
  } else {
    std::string start = start_text_.empty() ? encode_account(PublicKey{}) : start_text_;
    request = {{"action", "frontiers"}, {"account", start}, {"count", count_}};
  }
  RpcHandler rpc(*net, **store, RpcServices{});
  Json answer;
  rpc.handle_json(request, [&](std::string text) { answer = Json::parse(text); });
  if (answer.contains("error")) return invalid_argument(answer["error"].get<std::string>());
  return answer;
}

}  // namespace chorus::nano
