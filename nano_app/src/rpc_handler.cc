#include "chorus/nano/rpc_handler.h"

#include <map>
#include <memory>

#include "chorus/nano/account.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger.h"
#include "chorus/nano/work.h"
#include "rpc_request.h"
#include "rpc_work_clients.h"

namespace chorus::nano {

using Json = nlohmann::ordered_json;
using rpc::Failure;
using rpc::Request;

std::string_view block_status_rpc_error(BlockStatus s) {
  switch (s) {
    case BlockStatus::kProgress:
      return "";
    case BlockStatus::kOld:
      return "Old block";
    case BlockStatus::kBadSignature:
      return "Bad signature";
    case BlockStatus::kNegativeSpend:
      return "Negative spend";
    case BlockStatus::kFork:
      return "Fork";
    case BlockStatus::kUnreceivable:
      return "Unreceivable";
    case BlockStatus::kGapPrevious:
      return "Gap previous block";
    case BlockStatus::kGapSource:
      return "Gap source block";
    case BlockStatus::kGapEpochOpenPending:
      return "Gap pending for open epoch block";
    case BlockStatus::kOpenedBurnAccount:
      return "Block attempts to open the burn account";
    case BlockStatus::kBalanceMismatch:
      return "Balance and amount delta do not match";
    case BlockStatus::kBlockPosition:
      return "This block cannot follow the previous block";
    case BlockStatus::kInsufficientWork:
      return "Block work is insufficient";
    case BlockStatus::kRepresentativeMismatch:
      break;  // nano-node has no text of its own for it
  }
  return "Error processing block";
}

namespace {

std::string epoch_name(Epoch e) {
  return e == Epoch::k0 ? "0" : e == Epoch::k1 ? "1" : "2";
}

// The hash of the block that set the representative in force at `hash`.
BlockHash representative_block(ReadTxn& txn, BlockHash hash) {
  for (int guard = 0; guard < 1'000'000; ++guard) {
    auto b = txn.block(hash);
    if (!b) return {};
    const BlockType t = b->block.type;
    if (t == BlockType::kState || t == BlockType::kOpen || t == BlockType::kChange) return hash;
    hash = b->block.previous;
  }
  return {};
}

// Sum of what `account` may receive.
Amount receivable_sum(ReadTxn& txn, const PublicKey& account, size_t bound) {
  Amount sum = 0;
  for (auto& [k, p] : txn.pending_of(account, bound)) sum += p.amount;
  return sum;
}

std::string subtype_of(ReadTxn& txn, const StoredBlock& b) {
  switch (b.block.type) {
    case BlockType::kState:
      if (b.sideband.details.is_epoch) return "epoch";
      if (b.sideband.details.is_send) return "send";
      if (b.sideband.details.is_receive)
        return b.block.previous == BlockHash{} ? "open" : "receive";
      return "change";
    default:
      (void)txn;
      return block_type_name(b.block.type);
  }
}

}  // namespace

// One request being answered: the parsed request, the response being built
// and the action's code.
struct RpcHandler::Call {
  const RpcHandler& h;
  Request req;
  Json out = Json::object();

  Json block_info(ReadTxn& txn, const BlockHash& hash, bool json_block) {
    auto b = txn.block(hash);
    if (!b) throw Failure("Block not found");
    Json j;
    j["block_account"] = encode_account(b->sideband.account);
    j["amount"] = amount_to_string(Ledger::amount_of(txn, *b));
    j["balance"] = amount_to_string(b->sideband.balance);
    j["height"] = std::to_string(b->sideband.height);
    j["local_timestamp"] = std::to_string(b->sideband.timestamp);
    j["successor"] = to_hex_upper(b->successor);
    j["confirmed"] = "true";
    Json contents = block_to_json(b->block);
    if (json_block) {
      j["contents"] = contents;
    } else {
      j["contents"] = contents.dump(4);
    }
    if (b->block.type == BlockType::kState) j["subtype"] = subtype_of(txn, *b);
    return j;
  }

  AccountInfo account_info(ReadTxn& txn, const PublicKey& a) {
    auto info = txn.account(a);
    if (!info) throw Failure("Account not found");
    return *info;
  }

  void version() {
    out["rpc_version"] = "1";
    out["store_version"] = "1";
    out["protocol_version"] = std::to_string(h.network_.protocol_version);
    out["node_vendor"] = "Chorus 0.1.0";
    out["store_vendor"] = "LMDB";
    out["network"] = h.network_.name;
    out["network_identifier"] = to_hex_upper(h.network_.genesis_hash);
    out["build_info"] = "chorus-nano";
  }

  void block_count() {
    auto txn = h.store_.begin_read();
    const uint64_t count = txn->block_count();
    out["count"] = std::to_string(count);
    out["unchecked"] =
        std::to_string(h.services_.unchecked_count ? h.services_.unchecked_count() : 0);
    out["cemented"] = std::to_string(count);
  }

  void account_info() {
    const PublicKey a = req.account("account");
    auto txn = h.store_.begin_read();
    const AccountInfo info = account_info(*txn, a);
    const ConfirmationHeight ch = txn->confirmation_height(a);
    out["frontier"] = to_hex_upper(info.head);
    out["open_block"] = to_hex_upper(info.open_block);
    out["representative_block"] = to_hex_upper(representative_block(*txn, info.head));
    out["balance"] = amount_to_string(info.balance);
    out["modified_timestamp"] = std::to_string(info.modified);
    out["block_count"] = std::to_string(info.block_count);
    out["account_version"] = epoch_name(info.epoch);
    out["confirmation_height"] = std::to_string(ch.height);
    out["confirmation_height_frontier"] = to_hex_upper(ch.frontier);
    if (req.flag("representative", false))
      out["representative"] = encode_account(info.representative);
    if (req.flag("weight", false)) out["weight"] = amount_to_string(txn->weight(a));
    const bool pending = req.flag("pending", false);
    if (req.flag("receivable", pending)) {
      const std::string sum = amount_to_string(receivable_sum(*txn, a, h.limits_.max_count));
      out["pending"] = sum;
      out["receivable"] = sum;
    }
  }

  Json balance_of(ReadTxn& txn, const PublicKey& a) {
    auto info = txn.account(a);
    const std::string receivable = amount_to_string(receivable_sum(txn, a, h.limits_.max_count));
    return Json{{"balance", amount_to_string(info ? info->balance : 0)},
                {"pending", receivable},
                {"receivable", receivable}};
  }

  void account_balance() {
    const PublicKey a = req.account("account");
    auto txn = h.store_.begin_read();
    out = balance_of(*txn, a);
  }

  void account_block_count() {
    const PublicKey a = req.account("account");
    auto txn = h.store_.begin_read();
    out["block_count"] = std::to_string(account_info(*txn, a).block_count);
  }

  void account_representative() {
    const PublicKey a = req.account("account");
    auto txn = h.store_.begin_read();
    out["representative"] = encode_account(account_info(*txn, a).representative);
  }

  void account_weight() {
    const PublicKey a = req.account("account");
    out["weight"] = amount_to_string(h.store_.begin_read()->weight(a));
  }

  void accounts_balances() {
    auto accounts = req.accounts("accounts", h.limits_.max_accounts);
    auto txn = h.store_.begin_read();
    Json balances = Json::object();
    for (auto& [text, key] : accounts) balances[text] = balance_of(*txn, key);
    out["balances"] = balances;
  }

  void accounts_frontiers() {
    auto accounts = req.accounts("accounts", h.limits_.max_accounts);
    auto txn = h.store_.begin_read();
    Json frontiers = Json::object();
    Json errors = Json::object();
    for (auto& [text, key] : accounts) {
      auto info = txn->account(key);
      if (info) {
        frontiers[text] = to_hex_upper(info->head);
      } else {
        errors[text] = "Account not found";
      }
    }
    out["frontiers"] = frontiers;
    if (!errors.empty()) out["errors"] = errors;
  }

  // The receivable entries of one account, shaped as nano-node shapes them.
  Json receivable_of(ReadTxn& txn, const PublicKey& a, uint64_t count, Amount threshold,
                     bool source, bool min_version, bool sorting) {
    const bool simple = threshold == 0 && !source && !min_version && !sorting;
    auto entries = txn.pending_of(a, sorting ? h.limits_.max_count : count);
    if (sorting) {
      std::stable_sort(entries.begin(), entries.end(), [](const auto& x, const auto& y) {
        return x.second.amount > y.second.amount;
      });
      if (entries.size() > count) entries.resize(count);
    }
    if (simple) {
      Json list = Json::array();
      for (auto& [k, p] : entries) list.push_back(to_hex_upper(k.hash));
      return list;
    }
    Json blocks = Json::object();
    for (auto& [k, p] : entries) {
      if (p.amount < threshold) continue;
      if (source || min_version) {
        Json e{{"amount", amount_to_string(p.amount)}};
        if (source) e["source"] = encode_account(p.source);
        if (min_version) e["min_version"] = epoch_name(p.epoch);
        blocks[to_hex_upper(k.hash)] = e;
      } else {
        blocks[to_hex_upper(k.hash)] = amount_to_string(p.amount);
      }
    }
    return blocks;
  }

  void receivable() {
    const PublicKey a = req.account("account");
    const uint64_t count = req.count_optional(h.limits_.max_count);
    const Amount threshold = req.threshold();
    auto txn = h.store_.begin_read();
    out["blocks"] = receivable_of(*txn, a, count, threshold, req.flag("source", false),
                                  req.flag("min_version", false), req.flag("sorting", false));
  }

  void accounts_receivable() {
    auto accounts = req.accounts("accounts", h.limits_.max_accounts);
    const uint64_t count = req.count_optional(h.limits_.max_count);
    const Amount threshold = req.threshold();
    const bool source = req.flag("source", false);
    const bool sorting = req.flag("sorting", false);
    auto txn = h.store_.begin_read();
    Json blocks = Json::object();
    for (auto& [text, key] : accounts) {
      Json entries = receivable_of(*txn, key, count, threshold, source, false, sorting);
      if (!entries.empty()) blocks[text] = entries;
    }
    out["blocks"] = blocks;
  }

  void block_info() {
    const BlockHash hash = req.hash("hash");
    auto txn = h.store_.begin_read();
    out = block_info(*txn, hash, req.flag("json_block", false));
  }

  void blocks_info() {
    auto hashes = req.hashes("hashes", h.limits_.max_accounts);
    const bool json_block = req.flag("json_block", false);
    const bool include_not_found = req.flag("include_not_found", false);
    auto txn = h.store_.begin_read();
    Json blocks = Json::object();
    Json not_found = Json::array();
    for (auto& [text, hash] : hashes) {
      if (!txn->block_exists(hash)) {
        if (!include_not_found) throw Failure("Block not found");
        not_found.push_back(text);
        continue;
      }
      blocks[text] = block_info(*txn, hash, json_block);
    }
    out["blocks"] = blocks;
    if (include_not_found) out["blocks_not_found"] = not_found;
  }

  void block_account() {
    const BlockHash hash = req.hash("hash");
    auto txn = h.store_.begin_read();
    auto b = txn->block(hash);
    if (!b) throw Failure("Block not found");
    out["account"] = encode_account(b->sideband.account);
  }

  // chain (down through previous) and successors (up through successor).
  void chain(bool successors) {
    successors = successors != req.flag("reverse", false);
    BlockHash hash = req.hash("block");
    const uint64_t count = req.count_required(h.limits_.max_count);
    uint64_t offset = req.offset();
    auto txn = h.store_.begin_read();
    Json blocks = Json::array();
    while (hash != BlockHash{} && blocks.size() < count) {
      auto b = txn->block(hash);
      if (!b) break;
      if (offset > 0) {
        --offset;
      } else {
        blocks.push_back(to_hex_upper(hash));
      }
      hash = successors ? b->successor : b->block.previous;
    }
    out["blocks"] = blocks;
  }

  // Account heads in key order from `account` (nano-node's frontiers).
  void frontiers() {
    const PublicKey start = req.account("account");
    const uint64_t count = req.count_required(h.limits_.max_count);
    auto txn = h.store_.begin_read();
    Json frontiers = Json::object();
    for (auto& [a, info] : txn->accounts_from(start, count))
      frontiers[encode_account(a)] = to_hex_upper(info.head);
    out["frontiers"] = frontiers;
  }

  void validate_account_number() {
    out["valid"] = decode_account(req.string("account")).ok() ? "1" : "0";
  }

  void account_key() { out["key"] = to_hex_upper(req.account("account")); }

  void account_get() {
    auto key = parse_hex_fixed<32>(req.string("key"), "key");
    if (!key) throw Failure("Bad public key");
    out["account"] = encode_account(*key);
  }

  void key_out(const PrivateKey& priv) {
    const PublicKey pub = public_key(priv);
    out["private"] = to_hex_upper(priv);
    out["public"] = to_hex_upper(pub);
    out["account"] = encode_account(pub);
  }

  void key_expand() {
    auto key = parse_hex_fixed<32>(req.string("key"), "key");
    if (!key) throw Failure("Bad private key");
    key_out(*key);
  }

  void deterministic_key() {
    auto seed = parse_hex_fixed<32>(req.string("seed"), "seed");
    if (!seed) throw Failure("Bad seed");
    const uint64_t index = req.u64("index", "Invalid index");
    if (index > UINT32_MAX) throw Failure("Invalid index");
    key_out(derive_private_key(*seed, static_cast<uint32_t>(index)));
  }

  uint64_t base_difficulty() const { return h.network_.work.epoch_2; }

  void work_validate() {
    const BlockHash hash = req.hash("hash");
    const uint64_t work = req.work();
    const std::optional<uint64_t> difficulty = req.difficulty(base_difficulty());
    const uint64_t value = work_value(hash, work);
    if (difficulty) out["valid"] = value >= *difficulty ? "1" : "0";
    out["valid_all"] = value >= base_difficulty() ? "1" : "0";
    out["valid_receive"] = value >= h.network_.work.epoch_2_receive ? "1" : "0";
    out["difficulty"] = u64_to_hex(value);
    out["multiplier"] = rpc::multiplier_text(multiplier_from_difficulty(value, base_difficulty()));
  }

  void peers() {
    const bool details = req.flag("peer_details", false);
    Json peers = Json::object();
    if (h.services_.peers) {
      for (const auto& p : h.services_.peers()) {
        const std::string version = std::to_string(h.network_.protocol_version);
        if (details) {
          peers[p.address] = Json{{"protocol_version", version},
                                  {"node_id", "node_" + p.node_id},
                                  {"type", "tcp"},
                                  {"ready", p.ready ? "true" : "false"}};
        } else {
          peers[p.address] = version;
        }
      }
    }
    out["peers"] = peers.empty() ? Json("") : peers;
  }

  void telemetry() {
    auto txn = h.store_.begin_read();
    const uint64_t count = txn->block_count();
    out["block_count"] = std::to_string(count);
    out["cemented_count"] = std::to_string(count);
    out["unchecked_count"] =
        std::to_string(h.services_.unchecked_count ? h.services_.unchecked_count() : 0);
    out["account_count"] = std::to_string(txn->account_count());
    out["bandwidth_cap"] = "0";
    out["peer_count"] = std::to_string(h.services_.peers ? h.services_.peers().size() : size_t{0});
    out["protocol_version"] = std::to_string(h.network_.protocol_version);
    out["uptime"] = "0";
    out["genesis_block"] = to_hex_upper(h.network_.genesis_hash);
    out["major_version"] = "0";
    out["minor_version"] = "1";
    out["patch_version"] = "0";
    out["pre_release_version"] = "0";
    out["maker"] = "0";
    out["timestamp"] = "0";
    out["active_difficulty"] = u64_to_hex(base_difficulty());
  }
};

RpcHandler::RpcHandler(const NetworkParams& network, LedgerStore& store, RpcServices services,
                       RpcLimits limits)
    : network_(network),
      store_(store),
      services_(std::move(services)),
      limits_(limits),
      work_clients_(std::make_shared<WorkClients>(limits.max_work_per_client)) {}

void RpcHandler::handle(std::string_view body, Reply reply, std::string_view client) const {
  auto parsed = parse_json_text(body, limits_.max_body_bytes);
  if (!parsed.ok() || !parsed->is_object()) {
    reply(R"({"error":"Unable to parse JSON"})");
    return;
  }
  handle_json(*parsed, std::move(reply), client);
}

void RpcHandler::handle_json(const Json& request, Reply reply, std::string_view client) const {
  Call call{*this, Request(request)};
  std::string action;
  bool handed_on = false;  // process and work_generate answer themselves
  const bool ok = rpc::answer_failures(reply, [&] {
    if (!request.is_object()) throw Failure("Unable to parse JSON");
    action = call.req.string("action");
    // The actions whose answer comes later answer through `reply` themselves.
    if (action == "process" || action == "work_generate") {
      handed_on = true;
      return;
    }
    static const std::map<std::string, void (Call::*)()> kActions = {
        {"version", &Call::version},
        {"block_count", &Call::block_count},
        {"account_info", &Call::account_info},
        {"account_balance", &Call::account_balance},
        {"account_block_count", &Call::account_block_count},
        {"account_representative", &Call::account_representative},
        {"account_weight", &Call::account_weight},
        {"accounts_balances", &Call::accounts_balances},
        {"accounts_frontiers", &Call::accounts_frontiers},
        {"receivable", &Call::receivable},
        {"pending", &Call::receivable},
        {"accounts_receivable", &Call::accounts_receivable},
        {"accounts_pending", &Call::accounts_receivable},
        {"block_info", &Call::block_info},
        {"block", &Call::block_info},
        {"blocks_info", &Call::blocks_info},
        {"block_account", &Call::block_account},
        {"frontiers", &Call::frontiers},
        {"validate_account_number", &Call::validate_account_number},
        {"account_key", &Call::account_key},
        {"account_get", &Call::account_get},
        {"key_expand", &Call::key_expand},
        {"deterministic_key", &Call::deterministic_key},
        {"work_validate", &Call::work_validate},
        {"peers", &Call::peers},
        {"telemetry", &Call::telemetry},
    };
    if (action == "chain" || action == "successors") {
      call.chain(action == "successors");
    } else if (action == "work_cancel") {
      const BlockHash root = call.req.hash("hash");
      if (services_.work_cancel) services_.work_cancel(root);
      call.out["success"] = "";
    } else {
      auto it = kActions.find(action);
      if (it == kActions.end()) throw Failure("Unknown command");
      (call.*(it->second))();
    }
  });
  if (!ok) return;
  if (handed_on) {
    if (action == "process") return process(request, std::move(reply));
    return work_generate(request, std::move(reply), client);
  }
  reply(call.out.dump());
}

}  // namespace chorus::nano
