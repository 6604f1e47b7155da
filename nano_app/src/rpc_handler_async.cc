// The RPC actions whose answers wait for the node: process (the block
// processor) and work_generate (the work pool).
#include <algorithm>

#include "chorus/nano/ledger.h"
#include "chorus/nano/rpc_handler.h"
#include "chorus/nano/work.h"
#include "rpc_request.h"
#include "rpc_work_clients.h"

namespace chorus::nano {

using Json = nlohmann::ordered_json;
using rpc::error_json;
using rpc::Failure;

namespace {

// The block of a process request: "block" as a JSON string, or as an
// object with json_block; both signature and work are required.
Block request_block(const rpc::Request& req, const Json& request) {
  const bool json_block = req.flag("json_block", false);
  if (!request.contains("block")) throw Failure("Unable to parse JSON");
  Json block_json;
  if (json_block) {
    block_json = request.at("block");
  } else {
    if (!request.at("block").is_string()) throw Failure("Block is invalid");
    auto parsed = parse_json_text(request.at("block").get<std::string>(), 64 << 10);
    if (!parsed) throw Failure("Block is invalid");
    block_json = std::move(*parsed);
  }
  if (!block_json.is_object()) throw Failure("Block is invalid");
  auto parsed = block_from_json(block_json);
  if (!parsed || !parsed->has_signature || !parsed->has_work) throw Failure("Block is invalid");
  return parsed->block;
}

// nano-node's "subtype" check of a state block, against the ledger.
void check_subtype(const std::string& subtype, const Block& b, ReadTxn& txn,
                   const NetworkParams& net) {
  if (b.previous != BlockHash{} && !txn.block_exists(b.previous))
    throw Failure(std::string(block_status_rpc_error(BlockStatus::kGapPrevious)));
  auto info = txn.account(b.account);
  const Amount balance = info ? info->balance : 0;
  if (subtype == "send") {
    if (balance <= b.balance) throw Failure("Invalid block balance for given subtype");
  } else if (subtype == "receive") {
    if (balance > b.balance) throw Failure("Invalid block balance for given subtype");
  } else if (subtype == "open") {
    if (b.previous != BlockHash{}) throw Failure("Invalid previous block for given subtype");
  } else if (subtype == "change") {
    if (balance != b.balance) throw Failure("Invalid block balance for given subtype");
    if (b.previous == BlockHash{}) throw Failure("Invalid previous block for given subtype");
  } else if (subtype == "epoch") {
    if (balance != b.balance) throw Failure("Invalid block balance for given subtype");
    if (!net.epoch_of_link(b.link)) throw Failure("Invalid epoch link");
  } else {
    throw Failure("Invalid block subtype");
  }
}

}  // namespace

uint64_t RpcHandler::entry_threshold() const {
  const auto& w = network_.work;
  return std::min({w.epoch_1, w.epoch_2, w.epoch_2_receive});
}

void RpcHandler::process(const Json& request, Reply reply) const {
  Block block;
  bool started = false;  // answered already: an async process
  const bool ok = rpc::answer_failures(reply, [&] {
    const rpc::Request req(request);
    block = request_block(req, request);
    if (block.type == BlockType::kState) {
      if (auto subtype = req.string_optional("subtype"); subtype && !subtype->empty()) {
        auto txn = store_.begin_read();
        check_subtype(*subtype, block, *txn, network_);
      }
    }
    if (Ledger::difficulty(block) < entry_threshold())
      throw Failure("Block work is less than threshold");
    if (!services_.process) throw Failure("Stopped");
    if (req.flag("async", false)) {
      if (block.type != BlockType::kState) throw Failure("Must be a state block");
      services_.process(block, [](std::optional<BlockStatus>) {});
      reply(Json{{"started", "1"}}.dump());
      started = true;
    }
  });
  if (!ok || started) return;
  const std::string hash = to_hex_upper(block_hash(block));
  services_.process(block, [reply = std::move(reply), hash](std::optional<BlockStatus> status) {
    if (!status) {
      reply(error_json("Stopped"));
    } else if (*status == BlockStatus::kProgress) {
      reply(Json{{"hash", hash}}.dump());
    } else {
      reply(error_json(block_status_rpc_error(*status)));
    }
  });
}

void RpcHandler::work_generate(const Json& request, Reply reply, std::string_view client) const {
  BlockHash root;
  uint64_t difficulty = 0;
  const bool ok = rpc::answer_failures(reply, [&] {
    const rpc::Request req(request);
    root = req.hash("hash");
    const uint64_t base = network_.work.epoch_2;
    difficulty = req.difficulty(base).value_or(base);
    const uint64_t highest =
        std::max({network_.work.epoch_1, network_.work.epoch_2, network_.work.epoch_2_receive});
    auto limit = difficulty_from_multiplier(limits_.max_work_multiplier, highest);
    if (difficulty < entry_threshold() || !limit || difficulty > *limit)
      throw Failure("Difficulty above config limit or below publish threshold");
    if (!services_.work_generate) throw Failure("Work generation is disabled");
    if (!work_clients_->take(client)) throw Failure("Too many work requests from this client");
  });
  if (!ok) return;
  const uint64_t base = network_.work.epoch_2;
  services_.work_generate(
      root, difficulty,
      [reply = std::move(reply), root, base, clients = work_clients_,
       who = std::string(client)](std::optional<uint64_t> work) {
        clients->give_back(who);
        if (!work) {
          reply(error_json("Cancelled"));
          return;
        }
        const uint64_t value = work_value(root, *work);
        reply(Json{{"hash", to_hex_upper(root)},
                   {"work", u64_to_hex(*work)},
                   {"difficulty", u64_to_hex(value)},
                   {"multiplier", rpc::multiplier_text(multiplier_from_difficulty(value, base))}}
                  .dump());
      });
}

}  // namespace chorus::nano
