#include "bootstrap.h"

#include <spdlog/spdlog.h>

#include "next_key.h"

namespace chorus::nano {
namespace {

// Misbehaviour score for a peer whose bootstrap answers are provably wrong
// (malformed, out of order, more than asked, forged blocks).
constexpr int kScoreLie = 50;

}  // namespace

Bootstrap::Bootstrap(const BootstrapConfig& config, LedgerStore& store, LedgerService& ledger,
                     overlay::Node& node)
    : config_(config), store_(store), ledger_(ledger), node_(node) {}

overlay::AppHandlers Bootstrap::handlers() {
  overlay::AppHandlers h;
  std::weak_ptr<Bootstrap> weak = weak_from_this();
  h.on_stream = [weak](const overlay::StreamRequest& r, overlay::StreamWriter w) {
    if (auto self = weak.lock()) self->serve(r, std::move(w));
  };
  h.priority = overlay::AppPriority::kBulk;  // never ahead of live blocks
  return h;
}

BootstrapStats Bootstrap::stats() const {
  std::lock_guard<std::mutex> lock(stats_mu_);
  return stats_;
}

// ---- Serving: pages of frontiers, blocks of a chain, as credit allows.

void Bootstrap::serve(const overlay::StreamRequest& request, overlay::StreamWriter w) {
  auto parsed = parse_bootstrap_request(request.payload);
  if (!parsed.ok()) {
    (void)w.fail(parsed.error().message());
    return;
  }
  if (const auto* f = std::get_if<FrontiersRequest>(&*parsed)) {
    serve_frontiers(std::move(w), f->start, f->count);
    return;
  }
  const auto& c = std::get<ChainRequest>(*parsed);
  auto txn = store_.begin_read();
  BlockHash first{};
  if (c.after == BlockHash{}) {
    if (auto info = txn->account(c.account)) first = info->open_block;
  } else if (auto after = txn->block(c.after); after && after->sideband.account == c.account) {
    first = after->successor;
  }
  txn.reset();
  serve_chain(std::move(w), first, c.count);
}

void Bootstrap::serve_frontiers(overlay::StreamWriter w, PublicKey next, uint32_t left) {
  auto txn = store_.begin_read();
  while (left > 0 && w.credit() > 0) {
    auto page = txn->accounts_from(next, std::min<size_t>(kFrontiersPerPage, left));
    if (page.empty()) {
      (void)w.finish();
      return;
    }
    std::vector<Frontier> out;
    for (auto& [account, info] : page) out.emplace_back(account, info.head);
    if (!w.write(serialize_frontiers(out)).ok()) return;
    left -= static_cast<uint32_t>(out.size());
    next = out.back().first;
    if (!next_key(next)) left = 0;
  }
  if (left == 0) {
    (void)w.finish();
    return;
  }
  std::weak_ptr<Bootstrap> weak = weak_from_this();
  w.when_credit([weak, w, next, left] {
    if (auto self = weak.lock()) self->serve_frontiers(w, next, left);
  });
}

void Bootstrap::serve_chain(overlay::StreamWriter w, BlockHash next, uint32_t left) {
  auto txn = store_.begin_read();
  while (left > 0 && next != BlockHash{} && w.credit() > 0) {
    auto b = txn->block(next);
    if (!b) break;
    if (!w.write(serialize_typed_block(b->block)).ok()) return;
    --left;
    next = b->successor;
  }
  if (left == 0 || next == BlockHash{}) {
    (void)w.finish();
    return;
  }
  std::weak_ptr<Bootstrap> weak = weak_from_this();
  w.when_credit([weak, w, next, left] {
    if (auto self = weak.lock()) self->serve_chain(w, next, left);
  });
}

// ---- Catching up from one peer.

void Bootstrap::on_peer(const PublicKey& peer, bool up) {
  if (!up) {
    sessions_.erase(peer);
    return;
  }
  if (config_.enabled && sessions_.count(peer) == 0) start_session(peer);
}

void Bootstrap::start_session(const PublicKey& peer) {
  auto s = std::make_shared<Session>();
  s->peer = peer;
  s->started = std::chrono::steady_clock::now();
  sessions_[peer] = s;
  {
    std::lock_guard<std::mutex> lock(stats_mu_);
    ++stats_.sessions_started;
  }
  std::weak_ptr<Bootstrap> weak = weak_from_this();
  overlay::StreamCallbacks cb;
  cb.on_data = [weak, s](ByteView data) {
    auto self = weak.lock();
    return self && self->on_frontiers(s, data);
  };
  cb.on_end = [weak, s](Result<void> r) {
    auto self = weak.lock();
    if (!self || s->failed) return;
    if (!r.ok()) return self->fail(s, "frontiers: " + r.error().message());
    s->frontiers_done = true;
    self->pump(s);
  };
  node_.open_stream(kNanoBootstrapApp, peer,
                    serialize_bootstrap_request(FrontiersRequest{{}, config_.max_frontiers}),
                    std::move(cb));
}

bool Bootstrap::on_frontiers(const std::shared_ptr<Session>& s, ByteView data) {
  if (s->failed) return false;
  auto page = parse_frontiers(data);
  if (!page.ok()) {
    node_.penalize(s->peer, kScoreLie, "bootstrap: " + page.error().message());
    fail(s, page.error().message());
    return false;
  }
  s->frontiers += page->size();
  if (s->frontiers > config_.max_frontiers) {
    node_.penalize(s->peer, kScoreLie, "bootstrap: more frontiers than asked");
    fail(s, "more frontiers than asked");
    return false;
  }
  auto txn = store_.begin_read();
  for (const auto& [account, head] : *page) {
    if (txn->block_exists(head)) continue;                     // we have it (or are past it)
    if (s->wanted.size() >= config_.max_wanted) return false;  // the rest next time
    auto info = txn->account(account);
    s->wanted.emplace_back(account, info ? info->head : BlockHash{});
  }
  return true;
}

void Bootstrap::pump(const std::shared_ptr<Session>& s) {
  if (s->failed) return;
  while (s->chains_open < config_.parallel_chains && !s->wanted.empty()) {
    auto [account, after] = s->wanted.front();
    s->wanted.pop_front();
    ++s->chains_open;
    auto chain = std::make_shared<Chain>(Chain{account, after, config_.max_chain_blocks});
    std::weak_ptr<Bootstrap> weak = weak_from_this();
    overlay::StreamCallbacks cb;
    cb.on_data = [weak, s, chain](ByteView data) {
      auto self = weak.lock();
      return self && self->on_chain_block(s, data, *chain);
    };
    cb.on_end = [weak, s, chain](Result<void> r) {
      auto self = weak.lock();
      if (!self) return;
      --s->chains_open;
      if (s->failed) return;
      if (!r.ok() && r.error().code() != ErrorCode::kCancelled)
        return self->fail(s, "chain: " + r.error().message());
      // A full answer may have more behind it: ask again after its last block.
      if (r.ok() && chain->left == 0) s->wanted.emplace_back(chain->account, chain->last);
      self->pump(s);
    };
    node_.open_stream(
        kNanoBootstrapApp, s->peer,
        serialize_bootstrap_request(ChainRequest{account, after, config_.max_chain_blocks}),
        std::move(cb));
  }
  maybe_done(s);
}

bool Bootstrap::on_chain_block(const std::shared_ptr<Session>& s, ByteView data, Chain& chain) {
  if (s->failed) return false;
  auto block = parse_typed_block(data);
  std::string lie;
  if (!block.ok()) {
    lie = block.error().message();
  } else if (chain.left == 0) {
    lie = "more blocks than asked";
  } else if (block->previous != chain.last) {
    // Each block must follow the one before it (the first, `after`; an
    // open block, nothing), so an endless or replayed stream is a lie.
    lie = "a block that does not follow the chain asked for";
  }
  if (!lie.empty()) {
    node_.penalize(s->peer, kScoreLie, "bootstrap: " + lie);
    fail(s, lie);
    return false;
  }
  --chain.left;
  chain.last = block_hash(*block);
  ++s->blocks;
  std::weak_ptr<Bootstrap> weak = weak_from_this();
  overlay::Node* node = &node_;
  auto submitted = ledger_.submit(
      *block, BlockSource::kBootstrap, [weak, s, node](std::optional<BlockStatus> status) {
        // Forged blocks cost the peer, whatever our ledger holds; other
        // refusals (old, fork, gaps) can be honest and cost nothing.
        if (!status ||
            (*status != BlockStatus::kBadSignature && *status != BlockStatus::kInsufficientWork))
          return;
        node->post([weak, s] {
          auto self = weak.lock();
          if (!self || s->failed) return;
          self->node_.penalize(s->peer, kScoreLie, "bootstrap: a forged block");
          self->fail(s, "a forged block");
        });
      });
  // The ledger is full: the stream ends here (cancelled) and the account
  // is asked for again by the next session.
  return submitted.ok();
}

void Bootstrap::fail(const std::shared_ptr<Session>& s, const std::string& why) {
  if (s->failed) return;
  s->failed = true;
  s->wanted.clear();
  spdlog::debug("bootstrap from a peer failed: {}", why);
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_.sessions_failed;
}

void Bootstrap::maybe_done(const std::shared_ptr<Session>& s) {
  if (s->done || s->failed || !s->frontiers_done || s->chains_open != 0 || !s->wanted.empty())
    return;
  auto it = sessions_.find(s->peer);
  if (it == sessions_.end() || it->second != s) return;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - s->started).count();
  std::lock_guard<std::mutex> lock(stats_mu_);
  ++stats_.sessions_completed;
  stats_.blocks_received += s->blocks;
  if (s->blocks > 0 && secs > 0) stats_.last_session_blocks_per_s = s->blocks / secs;
  // The session stays in the map (so a link that flaps does not restart it
  // at once) until its link goes down.
  s->done = true;
}

}  // namespace chorus::nano
