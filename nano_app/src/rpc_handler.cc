#include "chorus/nano/rpc_handler.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "chorus/nano/account.h"
#include "chorus/nano/keys.h"
#include "chorus/nano/ledger.h"
#include "chorus/nano/vote_rules.h"
#include "chorus/nano/work.h"
#include "next_key.h"
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

// A list of entries as nano-node's property tree writes it: an empty one
// is the empty string, not [] or {} (clients of nano-node expect "").
Json or_empty_string(Json list) {
  return list.empty() ? Json("") : list;
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

  // ---- confirmation: the ledger's (at or below the confirmation height)
  static bool confirmed(ReadTxn& txn, const StoredBlock& b) {
    return b.sideband.height <= txn.confirmation_height(b.sideband.account).height;
  }
  static bool confirmed(ReadTxn& txn, const BlockHash& hash) {
    return Ledger::confirmed(txn, hash);
  }
  static ConfirmationHeight confirmed_height(ReadTxn& txn, const PublicKey& a) {
    return txn.confirmation_height(a);
  }
  // nano-node's ledger.cemented_count(): the node's counter, else the
  // confirmation heights added up.
  uint64_t cemented_count(ReadTxn& txn) {
    if (h.services_.cemented_count) return h.services_.cemented_count();
    uint64_t sum = 0;
    PublicKey from{};
    for (;;) {
      auto page = txn.accounts_from(from, 4096);
      for (const auto& [account, info] : page) sum += txn.confirmation_height(account).height;
      if (page.size() < 4096) break;
      from = page.back().first;
      if (!next_key(from)) break;
    }
    return sum;
  }
  static Amount balance_at(ReadTxn& txn, const ConfirmationHeight& ch) {
    if (ch.height == 0) return 0;
    auto b = txn.block(ch.frontier);
    return b ? b->sideband.balance : 0;
  }
  // Sum of what `a` may receive; with `only_confirmed`, from confirmed
  // sends only (nano-node's ledger.account_receivable).
  Amount receivable_sum(ReadTxn& txn, const PublicKey& a, bool only_confirmed) {
    Amount sum = 0;
    for (auto& [k, p] : txn.pending_of(a, h.limits_.max_count))
      if (!only_confirmed || confirmed(txn, k.hash)) sum += p.amount;
    return sum;
  }
  // include_only_confirmed, default true as in nano-node. Ours has no
  // include_active: false lists every entry, in an election or not.
  bool only_confirmed() { return req.flag("include_only_confirmed", true); }

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
    j["confirmed"] = confirmed(txn, *b) ? "true" : "false";
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
    out["cemented"] = std::to_string(cemented_count(*txn));
  }

  // With include_confirmed, the confirmed_* fields nano-node adds, and
  // confirmed_height/confirmed_frontier in place of confirmation_height*.
  void account_info() {
    const PublicKey a = req.account("account");
    const bool representative = req.flag("representative", false);
    const bool weight = req.flag("weight", false);
    const bool receivable = req.flag("receivable", req.flag("pending", false));
    const bool with_confirmed = req.flag("include_confirmed", false);
    auto txn = h.store_.begin_read();
    const AccountInfo info = account_info(*txn, a);
    const ConfirmationHeight ch = confirmed_height(*txn, a);
    out["frontier"] = to_hex_upper(info.head);
    out["open_block"] = to_hex_upper(info.open_block);
    out["representative_block"] = to_hex_upper(representative_block(*txn, info.head));
    out["balance"] = amount_to_string(info.balance);
    if (with_confirmed) out["confirmed_balance"] = amount_to_string(balance_at(*txn, ch));
    out["modified_timestamp"] = std::to_string(info.modified);
    out["block_count"] = std::to_string(info.block_count);
    out["account_version"] = epoch_name(info.epoch);
    out[with_confirmed ? "confirmed_height" : "confirmation_height"] = std::to_string(ch.height);
    out[with_confirmed ? "confirmed_frontier" : "confirmation_height_frontier"] =
        to_hex_upper(ch.frontier);
    if (representative) {
      out["representative"] = encode_account(info.representative);
      if (with_confirmed) {
        const PublicKey rep =
            ch.height == 0 ? PublicKey{} : Ledger::representative_at(*txn, ch.frontier);
        out["confirmed_representative"] = encode_account(rep);
      }
    }
    if (weight) out["weight"] = amount_to_string(txn->weight(a));
    if (receivable) {
      const std::string sum = amount_to_string(receivable_sum(*txn, a, false));
      out["pending"] = sum;
      out["receivable"] = sum;
      if (with_confirmed) {
        const std::string confirmed_sum = amount_to_string(receivable_sum(*txn, a, true));
        out["confirmed_pending"] = confirmed_sum;
        out["confirmed_receivable"] = confirmed_sum;
      }
    }
  }

  // nano-node's balance_pending: by default (include_only_confirmed) the
  // balance at the confirmation height and the confirmed sends only.
  Json balance_of(ReadTxn& txn, const PublicKey& a, bool only_confirmed) {
    auto info = txn.account(a);
    Amount balance = 0;
    if (info) balance = only_confirmed ? balance_at(txn, confirmed_height(txn, a)) : info->balance;
    const std::string receivable = amount_to_string(receivable_sum(txn, a, only_confirmed));
    return Json{{"balance", amount_to_string(balance)},
                {"pending", receivable},
                {"receivable", receivable}};
  }

  void account_balance() {
    const PublicKey a = req.account("account");
    const bool confirmed_only = only_confirmed();
    auto txn = h.store_.begin_read();
    out = balance_of(*txn, a, confirmed_only);
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
    const bool confirmed_only = only_confirmed();
    auto txn = h.store_.begin_read();
    Json balances = Json::object();
    for (auto& [text, key] : accounts) balances[text] = balance_of(*txn, key, confirmed_only);
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

  // What a receivable request asks for.
  struct ReceivableQuery {
    uint64_t count = 0;
    uint64_t offset = 0;
    Amount threshold = 0;
    bool source = false, min_version = false, sorting = false, only_confirmed = true;
    // nano-node's accounts_receivable sorts only the entries it kept.
    bool sort_kept = false;
  };
  ReceivableQuery receivable_query(bool accounts) {
    ReceivableQuery q;
    q.count = req.count_optional(h.limits_.max_count);
    if (!accounts) q.offset = req.offset();
    q.threshold = req.threshold();
    q.source = req.flag("source", false);
    q.min_version = !accounts && req.flag("min_version", false);
    q.sorting = req.flag("sorting", false);
    q.only_confirmed = only_confirmed();
    q.sort_kept = accounts;
    return q;
  }

  // The receivable entries of one account, shaped and counted as nano-node
  // does: a list of hashes when nothing but count/offset is asked, else
  // hash: amount (or hash: {amount, source, min_version}). Unconfirmed
  // sends, and entries below the threshold, are passed over and do not
  // count; `offset` skips confirmed entries (after sorting, when sorted).
  Json receivable_of(ReadTxn& txn, const PublicKey& a, const ReceivableQuery& q) {
    const bool simple = q.threshold == 0 && !q.source && !q.min_version && !q.sorting;
    const bool sort_all = q.sorting && !q.sort_kept;
    std::vector<std::pair<PendingKey, PendingInfo>> kept;
    uint64_t skip = sort_all ? 0 : q.offset;
    for (auto& e : txn.pending_of(a, h.limits_.max_count)) {
      if (!sort_all && kept.size() >= q.count) break;
      if (q.only_confirmed && !confirmed(txn, e.first.hash)) continue;
      if (skip > 0) {
        --skip;
        continue;
      }
      if (!simple && e.second.amount < q.threshold) continue;
      kept.push_back(std::move(e));
    }
    if (q.sorting) {
      std::stable_sort(kept.begin(), kept.end(), [](const auto& x, const auto& y) {
        return x.second.amount > y.second.amount;
      });
      if (sort_all) {
        kept.erase(kept.begin(), kept.begin() + static_cast<ptrdiff_t>(
                                                    std::min<uint64_t>(q.offset, kept.size())));
        if (kept.size() > q.count) kept.resize(q.count);
      }
    }
    if (simple) {
      Json list = Json::array();
      for (auto& [k, p] : kept) list.push_back(to_hex_upper(k.hash));
      return list;
    }
    Json blocks = Json::object();
    for (auto& [k, p] : kept) {
      if (q.source || q.min_version) {
        Json e{{"amount", amount_to_string(p.amount)}};
        if (q.source) e["source"] = encode_account(p.source);
        if (q.min_version) e["min_version"] = epoch_name(p.epoch);
        blocks[to_hex_upper(k.hash)] = e;
      } else {
        blocks[to_hex_upper(k.hash)] = amount_to_string(p.amount);
      }
    }
    return blocks;
  }

  void receivable() {
    const PublicKey a = req.account("account");
    const ReceivableQuery q = receivable_query(false);
    auto txn = h.store_.begin_read();
    out["blocks"] = or_empty_string(receivable_of(*txn, a, q));
  }

  void accounts_receivable() {
    auto accounts = req.accounts("accounts", h.limits_.max_accounts);
    const ReceivableQuery q = receivable_query(true);
    auto txn = h.store_.begin_read();
    Json blocks = Json::object();
    for (auto& [text, key] : accounts) {
      Json entries = receivable_of(*txn, key, q);
      if (!entries.empty()) blocks[text] = entries;
    }
    out["blocks"] = or_empty_string(blocks);
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
    out["cemented_count"] = std::to_string(cemented_count(*txn));
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

  // ---- elections (spec/nano-rpc.md, "Elections")
  // nano-node always runs elections; a node here may run none.
  static constexpr const char* kNoElections = "Elections not running";
  ElectionsSnapshot elections() {
    if (!h.services_.elections) throw Failure(kNoElections);
    return h.services_.elections();
  }

  // The representatives whose votes were seen lately; with `accounts`,
  // those among them only.
  void representatives_online() {
    std::optional<std::set<PublicKey>> only;
    if (req.has("accounts")) {
      only.emplace();
      for (auto& [text, key] : req.accounts("accounts", h.limits_.max_accounts)) only->insert(key);
    }
    const bool weight = req.flag("weight", false);
    const ElectionsSnapshot s = elections();
    auto txn = h.store_.begin_read();
    Json reps = weight ? Json::object() : Json::array();
    for (const auto& [rep, seen] : s.online_reps) {
      if (only && !only->count(rep)) continue;
      if (weight) {
        reps[encode_account(rep)] = Json{{"weight", amount_to_string(txn->weight(rep))}};
      } else {
        reps.push_back(encode_account(rep));
      }
    }
    out["representatives"] = or_empty_string(reps);
  }

  // There is no representative crawler here: peers_stake_total is the
  // ledger weight of the online representatives, and peer_details (which
  // would list their addresses) is refused.
  void confirmation_quorum() {
    const ElectionsSnapshot s = elections();
    if (req.flag("peer_details", false)) throw Failure("peer_details is not supported");
    auto txn = h.store_.begin_read();
    Amount peers = 0;
    for (const auto& [rep, seen] : s.online_reps) peers += txn->weight(rep);
    out["quorum_delta"] = amount_to_string(s.quorum_delta);
    out["online_weight_quorum_percent"] = std::to_string(kOnlineWeightQuorumPercent);
    out["online_weight_minimum"] = amount_to_string(s.online_weight_minimum);
    out["online_stake_total"] = amount_to_string(s.online_weight);
    out["trended_stake_total"] = amount_to_string(s.trended_weight);
    out["peers_stake_total"] = amount_to_string(peers);
  }

  // The confirmed elections kept, oldest first; `hash` picks one winner.
  // The average is over the elections listed.
  void confirmation_history() {
    std::optional<BlockHash> only;
    if (req.has("hash")) only = req.hash("hash");
    if (only && *only == BlockHash{}) only.reset();  // nano-node: zero means all
    const ElectionsSnapshot s = elections();
    Json list = Json::array();
    int64_t total_ms = 0;
    for (const ConfirmedElection& c : s.history) {
      if (only && c.hash != *only) continue;
      const ElectionInfo& i = c.info;
      list.push_back(Json{{"hash", to_hex_upper(c.hash)},
                          {"duration", std::to_string(i.duration_ms)},
                          {"time", std::to_string(i.time_ms)},
                          {"tally", amount_to_string(i.tally)},
                          {"final", amount_to_string(i.final_tally)},
                          {"blocks", std::to_string(i.blocks)},
                          {"voters", std::to_string(i.voters)},
                          {"request_count", std::to_string(i.request_count)}});
      total_ms += i.duration_ms;
    }
    Json stats{{"count", std::to_string(list.size())}};
    if (!list.empty())
      stats["average"] = std::to_string(total_ms / static_cast<int64_t>(list.size()));
    out["confirmation_stats"] = stats;
    out["confirmations"] = or_empty_string(list);
  }

  // The roots of the running elections. A confirmed election leaves at
  // once, so `confirmed` is 0; `announcements` is not looked at.
  void confirmation_active() {
    const ElectionsSnapshot s = elections();
    Json roots = Json::array();
    for (const QualifiedRoot& r : s.active) roots.push_back(to_hex_upper(r));
    out["confirmations"] = or_empty_string(roots);
    out["unconfirmed"] = std::to_string(s.active.size());
    out["confirmed"] = "0";
  }

  // Starts an election for a block that is not cemented; one that is
  // answers "started" as well (nano-node then also replays its
  // confirmation to observers; ours does not).
  void block_confirm() {
    const BlockHash hash = req.hash("hash");
    if (!h.services_.block_confirm) throw Failure(kNoElections);
    auto cemented = [&] {
      auto txn = h.store_.begin_read();
      if (!txn->block_exists(hash)) throw Failure("Block not found");
      return confirmed(*txn, hash);
    };
    // An error only when it is still not cemented after the elections
    // refused it (they refuse only while stopping).
    if (!cemented() && !h.services_.block_confirm(hash) && !cemented()) throw Failure(kNoElections);
    out["started"] = "1";
  }

  // A qualified root as nano-node reads it: up to 128 hex digits (root,
  // then previous), a shorter text taken as a number.
  static QualifiedRoot parse_root(const std::string& text) {
    if (text.empty() || text.size() > 128) throw Failure("Invalid root hash");
    auto r = parse_hex_fixed<64>(std::string(128 - text.size(), '0') + text, "root");
    if (!r) throw Failure("Invalid root hash");
    return *r;
  }

  // One running election, by its qualified `root` (nano-node) or, ours
  // too, by the `hash` of a block in it.
  void confirmation_info() {
    const bool representatives = req.flag("representatives", false);
    const bool contents = req.flag("contents", true);
    const bool json_block = req.flag("json_block", false);
    std::optional<QualifiedRoot> root;
    BlockHash key{};
    if (req.has("hash") && !req.has("root")) {
      key = req.hash("hash");
    } else {
      root = parse_root(req.string("root"));
      std::copy_n(root->begin(), key.size(), key.begin());
    }
    if (!h.services_.election) throw Failure(kNoElections);
    const std::optional<ElectionView> view = h.services_.election(key);
    if (!view || (root && view->root != *root)) throw Failure("Active confirmation not found");
    auto txn = h.store_.begin_read();
    Amount total = 0, final_tally = 0;
    Json blocks = Json::object();
    for (const Election::BlockTally& t : view->blocks) {
      Json entry{{"tally", amount_to_string(t.tally)}};
      total += t.tally;
      if (t.hash == view->winner) final_tally = t.final_tally;
      if (contents) {
        std::optional<Block> b;
        if (auto it = view->contents.find(t.hash); it != view->contents.end()) {
          b = it->second;
        } else if (auto stored = txn->block(t.hash)) {
          b = stored->block;
        }
        if (b) entry["contents"] = json_block ? block_to_json(*b) : Json(block_to_json(*b).dump(4));
      }
      if (representatives) {
        // Heaviest first, by ledger weight.
        std::vector<std::pair<Amount, PublicKey>> voted;
        for (const auto& [rep, vote] : view->votes)
          if (vote.hash == t.hash) voted.emplace_back(txn->weight(rep), rep);
        std::stable_sort(voted.begin(), voted.end(),
                         [](const auto& x, const auto& y) { return x.first > y.first; });
        Json reps = Json::object();
        for (const auto& [w, rep] : voted) reps[encode_account(rep)] = amount_to_string(w);
        entry["representatives"] = or_empty_string(reps);
      }
      blocks[to_hex_upper(t.hash)] = entry;
    }
    out["announcements"] = std::to_string(view->request_count);
    out["voters"] = std::to_string(view->votes.size());
    out["last_winner"] = to_hex_upper(view->winner);
    out["total_tally"] = amount_to_string(total);
    out["final_tally"] = amount_to_string(final_tally);
    out["blocks"] = or_empty_string(blocks);
  }
};

// The actions answered by a method of Call; chain, successors, work_cancel,
// process and work_generate are handled apart.
const std::map<std::string, void (RpcHandler::Call::*)()>& RpcHandler::action_table() {
  static const std::map<std::string, void (RpcHandler::Call::*)()> kActions = {
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
      {"representatives_online", &Call::representatives_online},
      {"confirmation_quorum", &Call::confirmation_quorum},
      {"confirmation_history", &Call::confirmation_history},
      {"confirmation_active", &Call::confirmation_active},
      {"block_confirm", &Call::block_confirm},
      {"confirmation_info", &Call::confirmation_info},
      {"election_info", &Call::confirmation_info},  // the name issue 15 used
  };
  return kActions;
}

std::vector<std::string> RpcHandler::action_names() {
  std::vector<std::string> names{"chain", "successors", "work_cancel", "process", "work_generate"};
  for (const auto& [name, method] : action_table()) names.push_back(name);
  std::sort(names.begin(), names.end());
  return names;
}

RpcHandler::RpcHandler(const NetworkParams& network, LedgerStore& store, RpcServices services,
                       RpcLimits limits)
    : network_(network),
      store_(store),
      services_(std::move(services)),
      limits_(limits),
      work_clients_(std::make_shared<WorkClients>(limits.max_work_per_client)) {}

void RpcHandler::handle(std::string_view body, Reply reply, std::string_view client) const {
  const auto started = std::chrono::steady_clock::now();
  auto parsed = parse_json_text(body, limits_.max_body_bytes);
  if (!parsed.ok() || !parsed->is_object()) {
    if (observer_) observer_("", std::chrono::steady_clock::now() - started);
    reply(R"({"error":"Unable to parse JSON"})");
    return;
  }
  answer(*parsed, std::move(reply), client, started);
}

void RpcHandler::handle_json(const Json& request, Reply reply, std::string_view client) const {
  answer(request, std::move(reply), client, std::chrono::steady_clock::now());
}

void RpcHandler::answer(const Json& request, Reply reply, std::string_view client,
                        std::chrono::steady_clock::time_point started) const {
  if (observer_) {
    // The action as the request names it; an unknown one is the observer's
    // to fold (it came from a client).
    std::string named;
    if (request.is_object()) {
      auto it = request.find("action");
      if (it != request.end() && it->is_string()) named = it->get<std::string>();
    }
    reply = [observer = observer_, started, named = std::move(named),
             reply = std::move(reply)](std::string text) {
      observer(named, std::chrono::steady_clock::now() - started);
      reply(std::move(text));
    };
  }
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
    if (action == "chain" || action == "successors") {
      call.chain(action == "successors");
    } else if (action == "work_cancel") {
      const BlockHash root = call.req.hash("hash");
      if (services_.work_cancel) services_.work_cancel(root);
      call.out["success"] = "";
    } else {
      const auto& actions = action_table();
      auto it = actions.find(action);
      if (it == actions.end()) throw Failure("Unknown command");
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
