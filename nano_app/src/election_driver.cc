#include "election_driver.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <future>

#include "chorus/nano/keys.h"
#include "clock.h"
#include "next_key.h"

namespace chorus::nano {
namespace {

constexpr Hash32 kZero{};

// The block the ledger holds at a root: the successor of `previous`, or
// the open block of the account.
std::optional<BlockHash> ledger_block_at(ReadTxn& txn, const Block& b) {
  if (b.previous != kZero) {
    auto p = txn.block(b.previous);
    if (!p || p->successor == kZero) return std::nullopt;
    return p->successor;
  }
  auto info = txn.account(b.account);
  if (!info) return std::nullopt;
  return info->open_block;
}

}  // namespace

// The task queue outlives the driver in the callbacks it hands the ledger:
// a callback that comes after stop() finds it closed and does nothing.
struct ElectionDriver::Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::function<void()>> tasks;
  bool closed = false;
  size_t max_tasks = 0;
  // Blocks this driver cemented: counted by the ledger thread right after
  // each commit, so readers of the store never see more than this says.
  std::atomic<uint64_t> cemented{0};

  bool post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed || tasks.size() >= max_tasks) return false;
      tasks.push_back(std::move(task));
    }
    cv.notify_one();
    return true;
  }
};

ElectionDriver::ElectionDriver(LedgerService& ledger, std::vector<PrivateKey> reps,
                               ElectionDriverConfig config, Hooks hooks)
    : ledger_(ledger),
      store_(ledger.store()),
      config_(config),
      hooks_(std::move(hooks)),
      inbox_(std::make_shared<Inbox>()),
      active_(config.active) {
  inbox_->max_tasks = config_.max_tasks;
  for (const PrivateKey& k : reps) rep_keys_.push_back(public_key(k));
  if (!reps.empty())
    generator_ = std::make_unique<VoteGenerator>(std::move(reps), config.generator);
}

Result<std::unique_ptr<ElectionDriver>> ElectionDriver::start(LedgerService& ledger,
                                                              std::vector<PrivateKey> reps,
                                                              ElectionDriverConfig config,
                                                              Hooks hooks) {
  if (!hooks.now_ms || !hooks.wall_ms) return invalid_argument("election driver: no clock");
  std::unique_ptr<ElectionDriver> d(
      new ElectionDriver(ledger, std::move(reps), config, std::move(hooks)));
  // First of all, before anything is cemented here: count what is, and
  // give each account with unconfirmed blocks its election.
  d->post([p = d.get()] { p->resume(); });
  d->thread_ = std::thread([p = d.get()] { p->run(); });
  return d;
}

uint64_t ElectionDriver::cemented_count() const {
  return cemented_base_ + inbox_->cemented.load();
}

ElectionDriver::~ElectionDriver() {
  stop();
}

void ElectionDriver::stop() {
  {
    std::lock_guard<std::mutex> lock(inbox_->mu);
    inbox_->closed = true;
  }
  inbox_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ElectionDriver::post(std::function<void()> task) {
  return inbox_->post(std::move(task));
}

void ElectionDriver::run() {
  int64_t last_tick = hooks_.now_ms();
  for (;;) {
    std::deque<std::function<void()>> batch;
    {
      std::unique_lock<std::mutex> lock(inbox_->mu);
      inbox_->cv.wait_for(lock, std::chrono::milliseconds(config_.tick_ms),
                          [this] { return inbox_->closed || !inbox_->tasks.empty(); });
      if (inbox_->closed) return;
      batch.swap(inbox_->tasks);
    }
    for (auto& t : batch) t();
    const int64_t now = hooks_.now_ms();
    if (now - last_tick >= config_.tick_ms) {
      last_tick = now;
      tick();
    }
  }
}

void ElectionDriver::resume() {
  auto txn = store_.begin_read();
  PublicKey from{};
  uint64_t cemented = 0;
  std::vector<PublicKey> unconfirmed;
  for (;;) {
    auto page = txn->accounts_from(from, 4096);
    for (const auto& [account, info] : page) {
      const uint64_t height = txn->confirmation_height(account).height;
      cemented += height;
      if (height < info.block_count) unconfirmed.push_back(account);
    }
    if (page.size() < 4096) break;
    from = page.back().first;
    if (!next_key(from)) break;
  }
  txn.reset();
  cemented_base_ = cemented;
  for (const PublicKey& a : unconfirmed) {
    if (active_.size() >= config_.active.max_elections) {
      if (backlog_.size() < config_.max_backlog) backlog_.insert(a);
      continue;
    }
    activate(a);
  }
}

// ---- inputs

void ElectionDriver::block_accepted(const BlockHash& hash) {
  post([this, hash] {
    auto txn = store_.begin_read();
    auto s = txn->block(hash);
    if (s) activate(s->sideband.account);
  });
}

void ElectionDriver::fork_seen(const Block& block, std::function<void(bool)> done) {
  post([this, block, done = std::move(done)] {
    const BlockHash hash = block_hash(block);
    const QualifiedRoot root = qualified_root(block);
    const int64_t now = hooks_.now_ms();
    auto w = [this](const PublicKey& r) { return weight(r); };
    bool taken = false;
    if (const Election* e = active_.find(root)) {
      taken = e->has_block(hash);
      if (!taken) {
        blocks_[root][hash] = block;
        taken = active_.add_fork(root, hash, now, w);
        if (!taken) blocks_[root].erase(hash);
      }
    } else {
      // No election here yet: one for the ledger's block at the root,
      // whatever it depends on, that the fork then joins.
      auto txn = store_.begin_read();
      auto current = ledger_block_at(*txn, block);
      if (current && *current != hash && !Ledger::confirmed(*txn, *current)) {
        auto stored = txn->block(*current);
        txn.reset();
        if (stored && start_election(*current, stored->block)) {
          blocks_[root][hash] = block;
          taken = active_.add_fork(root, hash, now, w);
          if (!taken) blocks_[root].erase(hash);
        }
      }
    }
    handle_events();
    check_quorum(root);
    if (done) done(taken);
  });
}

void ElectionDriver::vote_received(Vote vote, std::function<void(VoteCode, bool)> done) {
  const bool posted = post([this, vote = std::move(vote), done] {
    const VoteCode code = count_vote(vote);
    if (done) done(code, weight(vote.account) > 0);
  });
  if (!posted && done) done(VoteCode::kIndeterminate, false);
}

void ElectionDriver::answer_request(std::vector<ConfirmReq::Pair> pairs,
                                    std::function<void(VoteAnswer)> reply) {
  const bool posted = post([this, pairs = std::move(pairs), reply] {
    if (!generator_) return reply({});
    std::vector<BlockHash> normal, final, to_claim;
    std::vector<QualifiedRoot> claim_roots;
    auto answer = std::make_shared<VoteAnswer>();
    auto txn = store_.begin_read();
    for (const ConfirmReq::Pair& p : pairs) {
      BlockHash hash = p.hash;
      auto s = txn->block(hash);
      if (!s) {
        // Not the block this ledger holds at that root: the asker holds a
        // fork. Vote for ours, and send it along, so that the asker can
        // count the votes and take it.
        std::optional<BlockHash> ours;
        if (auto prev = txn->block(p.root); prev && prev->successor != kZero) {
          ours = prev->successor;
        } else if (auto info = txn->account(PublicKey{p.root})) {
          ours = info->open_block;
        }
        if (!ours || !(s = txn->block(*ours))) continue;
        hash = *ours;
        if (answer->blocks.size() < kMaxAnswerBlocks) answer->blocks.push_back(s->block);
      }
      const QualifiedRoot root = qualified_root(s->block);
      if (auto f = txn->final_vote(root)) {
        if (*f == hash) final.push_back(hash);
        continue;  // a final vote for another block here: nothing to say
      }
      if (Ledger::confirmed(*txn, hash)) {
        // Cemented here: a final vote for it is safe; claim it first.
        to_claim.push_back(hash);
        claim_roots.push_back(root);
        continue;
      }
      const Election* e = active_.find(root);
      if (e && e->winner() == hash) normal.push_back(hash);
    }
    txn.reset();
    const uint64_t wall = hooks_.wall_ms();
    if (!normal.empty()) answer->votes = generator_->sign_now(normal, false, wall);
    if (!final.empty())
      for (Vote& v : generator_->sign_now(final, true, wall)) answer->votes.push_back(std::move(v));
    if (to_claim.empty()) return reply(std::move(*answer));
    auto claimed = std::make_shared<std::vector<BlockHash>>();
    std::weak_ptr<Inbox> inbox = inbox_;
    auto queued = ledger_.write(
        [to_claim, claim_roots, claimed](WriteTxn& w) -> Result<void> {
          for (size_t i = 0; i < to_claim.size(); ++i)
            if (claim_final_vote(w, claim_roots[i], to_claim[i])) claimed->push_back(to_claim[i]);
          return {};
        },
        [this, inbox, claimed, answer, reply](Result<void> r) {
          auto in = inbox.lock();
          if (!in || !r.ok() || claimed->empty()) return reply(std::move(*answer));
          const bool ok = in->post([this, claimed, answer, reply] {
            for (Vote& v : generator_->sign_now(*claimed, true, hooks_.wall_ms()))
              answer->votes.push_back(std::move(v));
            reply(std::move(*answer));
          });
          if (!ok) reply({});
        });
    if (!queued.ok()) reply(std::move(*answer));
  });
  if (!posted) reply({});
}

bool ElectionDriver::confirm_block(const BlockHash& hash) {
  auto txn = store_.begin_read();
  auto s = txn->block(hash);
  if (!s || Ledger::confirmed(*txn, hash)) return false;
  return post([this, hash, block = s->block] { start_election(hash, block); });
}

// ---- the driver's thread

Amount ElectionDriver::weight(const PublicKey& rep) {
  auto it = weights_.find(rep);
  if (it != weights_.end()) return it->second;
  auto txn = store_.begin_read();
  const Amount w = txn->weight(rep);
  weights_.emplace(rep, w);
  return w;
}

VoteCode ElectionDriver::count_vote(const Vote& vote) {
  const VoteCode code = active_.vote(
      vote, [this](const PublicKey& r) { return weight(r); }, hooks_.now_ms());
  if (hooks_.emit) hooks_.emit(VoteSeenEvent{vote, code});
  if (code == VoteCode::kInvalid) return code;
  handle_events();
  std::set<QualifiedRoot> roots;
  for (const BlockHash& h : vote.hashes)
    if (const Election* e = active_.find_by_hash(h)) roots.insert(e->root());
  for (const QualifiedRoot& r : roots) check_quorum(r);
  return code;
}

void ElectionDriver::activate(const PublicKey& account) {
  auto txn = store_.begin_read();
  auto info = txn->account(account);
  if (!info) return;
  const ConfirmationHeight ch = txn->confirmation_height(account);
  if (ch.height >= info->block_count) return;
  BlockHash next = info->open_block;
  if (ch.height != 0) {
    auto frontier = txn->block(ch.frontier);
    if (!frontier) return;
    next = frontier->successor;
  }
  auto s = txn->block(next);
  if (!s) return;
  if (info->block_count - ch.height >= config_.optimistic_gap && info->head != next) {
    if (auto head = txn->block(info->head)) start_election(info->head, head->block);
  }
  // A receive waits for its send to be cemented: cementing the send
  // activates this account again.
  if (auto src = Ledger::receive_source(*s); src && !Ledger::confirmed(*txn, *src)) return;
  txn.reset();
  if (!start_election(next, s->block) && active_.size() >= config_.active.max_elections &&
      backlog_.size() < config_.max_backlog)
    backlog_.insert(account);
}

bool ElectionDriver::start_election(const BlockHash& hash, const Block& block) {
  const QualifiedRoot root = qualified_root(block);
  if (const Election* e = active_.find(root)) return e->has_block(hash);
  blocks_[root][hash] = block;
  const bool started =
      active_.start(root, hash, hooks_.now_ms(), [this](const PublicKey& r) { return weight(r); });
  if (!started && !active_.find(root)) blocks_.erase(root);
  handle_events();
  if (started) check_quorum(root);
  return started;
}

void ElectionDriver::handle_events() {
  const int64_t now = hooks_.now_ms();
  for (ElectionEvent& ev : active_.take_events()) {
    if (auto* s = std::get_if<ElectionStarted>(&ev)) {
      if (hooks_.emit) hooks_.emit(ElectionStartedEvent{s->hash});
      if (generator_ && generator_->add(s->root, s->hash, false, now)) last_vote_ms_[s->root] = now;
    } else if (auto* w = std::get_if<WinnerChanged>(&ev)) {
      replace(w->root, w->winner);
      if (hooks_.emit) hooks_.emit(ElectionStoppedEvent{w->loser, false});
      if (generator_ && !final_claimed_.count(w->root) &&
          generator_->add(w->root, w->winner, false, now))
        last_vote_ms_[w->root] = now;
    } else if (auto* c = std::get_if<ElectionConfirmed>(&ev)) {
      ElectionInfo info;
      info.duration_ms = c->duration_ms;
      info.time_ms = hooks_.wall_ms();
      info.tally = c->tally;
      info.final_tally = c->final_tally;
      info.blocks = c->blocks;
      info.voters = c->voters;
      if (auto rq = requests_.find(c->root); rq != requests_.end()) {
        info.request_count = rq->second.second;
        requests_.erase(rq);
      }
      confirmed_info_[c->winner] = info;
      to_cement_.push_back(c->winner);
      ++elections_confirmed_;
      if (c->blocks > 1) ++forks_resolved_;
      history_.push_back(ConfirmedElection{c->winner, info});
      while (history_.size() > config_.max_history) history_.pop_front();
      blocks_.erase(c->root);
      final_claimed_.erase(c->root);
      last_vote_ms_.erase(c->root);
      requests_.erase(c->root);
    } else if (auto* st = std::get_if<ElectionStopped>(&ev)) {
      for (const BlockHash& b : st->blocks)
        if (hooks_.emit) hooks_.emit(ElectionStoppedEvent{b, true});
      // Tried again when there is room (an election that expired may
      // confirm once the representatives are back).
      auto it = blocks_.find(st->root);
      if (it != blocks_.end() && !it->second.empty()) {
        auto txn = store_.begin_read();
        for (const auto& [h, b] : it->second) {
          auto stored = txn->block(h);
          if (stored && backlog_.size() < config_.max_backlog)
            backlog_.insert(stored->sideband.account);
        }
      }
      forget(st->root);
    }
  }
}

// A hosted representative votes final once the winner's votes reach
// quorum, after the claim is in the store: a restart cannot make it vote
// final for another block at the root.
void ElectionDriver::check_quorum(const QualifiedRoot& root) {
  if (!generator_ || final_claimed_.count(root)) return;
  const Election* e = active_.find(root);
  if (!e || e->confirmed()) return;
  const int64_t now = hooks_.now_ms();
  const Amount delta = active_.online().delta(now);
  const BlockHash winner = e->winner();
  bool quorum = false;
  for (const auto& t : e->tally([this](const PublicKey& r) { return weight(r); }))
    if (t.hash == winner) quorum = t.tally >= delta;
  if (!quorum) return;
  final_claimed_.insert(root);
  auto claimed = std::make_shared<bool>(false);
  std::weak_ptr<Inbox> inbox = inbox_;
  auto queued = ledger_.write(
      [root, winner, claimed](WriteTxn& txn) -> Result<void> {
        *claimed = claim_final_vote(txn, root, winner);
        return {};
      },
      [this, inbox, root, winner, claimed](Result<void> r) {
        auto in = inbox.lock();
        if (!in || !r.ok()) return;
        in->post([this, root, winner, claimed] {
          if (!*claimed) {
            spdlog::warn("nano: a representative here voted final for another block at this root");
            return;
          }
          if (generator_->add(root, winner, true, hooks_.now_ms()))
            last_vote_ms_[root] = hooks_.now_ms();
        });
      });
  if (!queued.ok()) final_claimed_.erase(root);
}

// The ledger takes the new winner in place of whatever it holds at the
// root (and what depends on that), all or nothing.
void ElectionDriver::replace(const QualifiedRoot& root, const BlockHash& winner) {
  auto r = blocks_.find(root);
  if (r == blocks_.end()) return;
  auto b = r->second.find(winner);
  if (b == r->second.end()) {
    spdlog::warn("nano: the winner of a fork is a block this node has not seen");
    return;
  }
  const Block block = b->second;
  const Ledger& ledger = ledger_.ledger();
  auto queued = ledger_.write(
      [&ledger, block, winner](WriteTxn& txn) -> Result<void> {
        if (txn.block_exists(winner)) return {};
        const uint64_t now_s = wall_s();
        if (auto current = ledger_block_at(txn, block)) {
          auto removed = ledger.rollback(txn, *current, now_s);
          if (!removed.ok()) return removed.error();
        }
        const BlockStatus st = ledger.process(txn, block, now_s);
        if (st != BlockStatus::kProgress)
          return invalid_argument("fork winner refused: " + std::string(block_status_name(st)));
        return {};
      },
      [](Result<void> done) {
        if (!done.ok())
          spdlog::warn("nano: could not put a fork's winner in the ledger: {}",
                       done.error().message());
      });
  if (!queued.ok()) spdlog::warn("nano: fork replacement not queued: {}", queued.error().message());
}

void ElectionDriver::forget(const QualifiedRoot& root) {
  blocks_.erase(root);
  final_claimed_.erase(root);
  last_vote_ms_.erase(root);
  requests_.erase(root);
}

void ElectionDriver::flush_cementing() {
  if (to_cement_.empty()) return;
  std::vector<BlockHash> hashes;
  hashes.swap(to_cement_);
  auto result = std::make_shared<std::vector<CementedBlock>>();
  const Ledger& ledger = ledger_.ledger();
  std::weak_ptr<Inbox> inbox = inbox_;
  auto queued = ledger_.write(
      [&ledger, hashes, result](WriteTxn& txn) -> Result<void> {
        // A block that cannot be cemented (not in the ledger yet) leaves
        // the others, and what was cemented before the error, in place.
        for (const BlockHash& h : hashes) {
          auto r = ledger.confirm(txn, h, *result);
          if (!r.ok())
            spdlog::warn("nano: cannot cement a confirmed block: {}", r.error().message());
        }
        return {};
      },
      [this, inbox, hashes, result](Result<void> r) {
        auto in = inbox.lock();
        if (!in) return;
        if (!r.ok()) {
          spdlog::warn("nano: cementing failed: {}", r.error().message());
          result->clear();  // nothing of it was committed
        }
        in->cemented += result->size();  // at once: readers of the store see them now
        in->post([this, hashes, result] { cemented(hashes, *result); });
      });
  if (!queued.ok()) {
    // The ledger is full of work: try again on the next tick.
    to_cement_.insert(to_cement_.end(), hashes.begin(), hashes.end());
  }
}

void ElectionDriver::cemented(const std::vector<BlockHash>& hashes,
                              const std::vector<CementedBlock>& blocks) {
  std::set<PublicKey> next;
  for (const CementedBlock& c : blocks) {
    BlockConfirmedEvent ev;
    ev.block = c.stored.block;
    ev.hash = c.hash;
    ev.account = c.stored.sideband.account;
    ev.amount = c.amount;
    ev.height = c.stored.sideband.height;
    auto info = confirmed_info_.find(c.hash);
    if (info != confirmed_info_.end()) {
      ev.type = ConfirmationType::kActiveQuorum;
      ev.election = info->second;
    } else {
      ev.type = ConfirmationType::kActiveConfirmationHeight;
    }
    ++confirmed_blocks_;
    // An election still running for a block now cemented has nothing left
    // to decide.
    const QualifiedRoot root = qualified_root(c.stored.block);
    if (active_.erase(root)) forget(root);
    if (hooks_.emit) hooks_.emit(ev);
    next.insert(ev.account);
    const bool is_send =
        c.stored.block.type == BlockType::kSend ||
        (c.stored.block.type == BlockType::kState && c.stored.sideband.details.is_send);
    if (is_send) next.insert(PublicKey{c.stored.block.link});
  }
  for (const BlockHash& h : hashes) confirmed_info_.erase(h);
  for (const PublicKey& a : next) activate(a);
}

void ElectionDriver::tick() {
  const int64_t now = hooks_.now_ms();
  weights_.clear();  // ledger weights move with every block: read afresh each tick
  active_.tick(now);
  handle_events();
  if (generator_) {
    // Unconfirmed elections get their votes again: a vote lost on the way,
    // or a representative that came online late, does not stall them.
    if (now - last_revote_ms_ >= config_.revote_ms / 4) {
      last_revote_ms_ = now;
      for (const Election* e : active_.list()) {
        auto last = last_vote_ms_.find(e->root());
        if (last != last_vote_ms_.end() && now - last->second < config_.revote_ms) continue;
        const bool final = final_claimed_.count(e->root()) > 0;
        if (generator_->add(e->root(), e->winner(), final, now)) last_vote_ms_[e->root()] = now;
      }
    }
    for (Vote& v : generator_->take_due(now, hooks_.wall_ms())) {
      if (hooks_.broadcast) hooks_.broadcast(v);
      count_vote(v);
    }
  }
  if (hooks_.request_votes && now - last_request_round_ms_ >= config_.request_interval_ms / 4) {
    last_request_round_ms_ = now;
    request_round(now);
  }
  while (!backlog_.empty() && active_.size() < config_.active.max_elections) {
    const PublicKey a = *backlog_.begin();
    backlog_.erase(backlog_.begin());
    activate(a);
  }
  flush_cementing();
}

// Elections that do not confirm by themselves ask the representatives:
// votes lost on the way, a node that was down or is catching up.
void ElectionDriver::request_round(int64_t now) {
  std::vector<ConfirmReq::Pair> pairs;
  size_t messages = 0, republished = 0;
  for (const Election* e : active_.list()) {
    if (now - e->started_ms() < config_.request_after_ms) continue;
    auto& [last, count] = requests_[e->root()];
    if (last != 0 && now - last < config_.request_interval_ms) continue;
    last = now;
    ++count;
    if (hooks_.republish && count % std::max<uint32_t>(1, config_.republish_after_requests) == 0 &&
        republished < config_.max_republish_per_round) {
      auto r = blocks_.find(e->root());
      if (r != blocks_.end()) {
        if (auto b = r->second.find(e->winner()); b != r->second.end()) {
          hooks_.republish(b->second);
          ++republished;
        }
      }
    }
    ConfirmReq::Pair p;
    p.hash = e->winner();
    std::copy(e->root().begin(), e->root().begin() + 32, p.root.begin());
    pairs.push_back(p);
    if (pairs.size() == 255) {
      hooks_.request_votes(std::move(pairs));
      pairs.clear();
      if (++messages >= config_.max_requests_per_round) break;
    }
  }
  if (!pairs.empty()) hooks_.request_votes(std::move(pairs));
}

// ---- reads

ElectionsSnapshot ElectionDriver::snapshot() {
  auto p = std::make_shared<std::promise<ElectionsSnapshot>>();
  auto f = p->get_future();
  const bool posted = post([this, p] {
    const int64_t now = hooks_.now_ms();
    ElectionsSnapshot s;
    OnlineReps& online = active_.online();
    s.online_weight = online.online(now);
    s.trended_weight = online.trended();
    s.quorum_delta = online.delta(now);
    s.online_weight_minimum = online.config().online_weight_minimum;
    s.online_reps = online.list(now);
    for (const Election* e : active_.list()) s.active.push_back(e->root());
    s.history.assign(history_.begin(), history_.end());
    s.confirmed_blocks = confirmed_blocks_;
    s.elections_confirmed = elections_confirmed_;
    s.forks_resolved = forks_resolved_;
    p->set_value(std::move(s));
  });
  if (!posted || f.wait_for(std::chrono::seconds(2)) != std::future_status::ready) return {};
  return f.get();
}

std::optional<ElectionView> ElectionDriver::election(const BlockHash& hash_or_root) {
  auto p = std::make_shared<std::promise<std::optional<ElectionView>>>();
  auto f = p->get_future();
  const bool posted = post([this, p, hash_or_root] {
    const Election* e = active_.find_by_hash(hash_or_root);
    if (!e) {
      for (const Election* x : active_.list())
        if (std::equal(hash_or_root.begin(), hash_or_root.end(), x->root().begin())) e = x;
    }
    if (!e) return p->set_value(std::nullopt);
    ElectionView v;
    v.root = e->root();
    v.winner = e->winner();
    v.started_ms = e->started_ms();
    v.blocks = e->tally([this](const PublicKey& r) { return weight(r); });
    v.votes = e->last_votes();
    p->set_value(std::move(v));
  });
  if (!posted || f.wait_for(std::chrono::seconds(2)) != std::future_status::ready)
    return std::nullopt;
  return f.get();
}

}  // namespace chorus::nano
