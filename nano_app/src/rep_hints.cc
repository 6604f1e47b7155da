#include "rep_hints.h"

#include <spdlog/spdlog.h>
#include <uv.h>

#include <algorithm>

#include "chorus/nano/keys.h"
#include "chorus/nano/rep_record.h"
#include "clock.h"

namespace chorus::nano {

RepHints::RepHints(Context context) : c_(std::move(context)), directory_(c_.options.directory) {}

RepHints::~RepHints() {
  stop();
  reach_.reset();  // before the DHT it borrows
}

Result<std::unique_ptr<RepHints>> RepHints::attach(Context context) {
  if (!context.node || !context.network || !context.store)
    return invalid_argument("representative hints: node, network and store are needed");
  std::unique_ptr<RepHints> h(new RepHints(std::move(context)));
  auto d = dht::Dht::create(*h->c_.node, h->c_.options.dht);
  if (!d.ok()) return d.error();
  h->dht_ = std::move(*d);
  auto reach = dht::Reach::create(*h->c_.node, *h->dht_);
  if (!reach.ok()) return reach.error();
  h->reach_ = std::move(*reach);
  RepHints* self = h.get();
  overlay::LoopHooks hooks;
  hooks.started = [self](uv_loop_s* loop) {
    self->timer_ = new uv_timer_t;
    uv_timer_init(loop, self->timer_);
    self->timer_->data = self;
    const auto every = static_cast<uint64_t>(std::max<int64_t>(self->c_.options.tick_ms, 1));
    uv_timer_start(
        self->timer_, [](uv_timer_t* t) { static_cast<RepHints*>(t->data)->tick(); }, every, every);
  };
  hooks.stopping = [self] {
    self->running_ = false;
    if (self->timer_) {
      uv_close(reinterpret_cast<uv_handle_t*>(self->timer_),
               [](uv_handle_t* t) { delete reinterpret_cast<uv_timer_t*>(t); });
      self->timer_ = nullptr;
    }
  };
  if (auto r = h->c_.node->add_loop_hooks(std::move(hooks)); !r.ok()) return r.error();
  return h;
}

Result<void> RepHints::start() {
  auto r = dht_->start();
  if (!r.ok()) return r.error();
  if (auto started = reach_->start(); !started.ok()) return started.error();
  running_ = true;
  return {};
}

void RepHints::stop() {
  running_ = false;
  if (reach_) reach_->stop();
  if (dht_) dht_->stop();
}

void RepHints::request(overlay::AppId app, const PublicKey& to, Bytes payload, int64_t timeout_ms,
                       overlay::ReplyCallback done) {
  reach_->request(app, to, std::move(payload), timeout_ms, std::move(done));
}

void RepHints::tick() {
  if (!running_) return;
  const int64_t now = steady_ms();
  if (now >= next_publish_ms_) publish(now);
  if (now >= next_weights_ms_) refresh_weights(now);
  for (const PublicKey& account : directory_.due(by_weight_, now)) {
    const PublicKey a = account;
    dht_->get(dht::key_for(rep_record_name(*c_.network, a)), [this, a](Result<dht::OpResult> r) {
      std::vector<RepRecord> records;
      if (r.ok()) {
        for (const dht::SignedValue& v : r->signed_values) {
          auto rec = parse_rep_record(v.data, *c_.network, a, v.owner, v.seq);
          if (rec.ok()) records.push_back(*rec);
        }
      }
      directory_.found(a, records, steady_ms());
    });
  }
}

// One record a hosted representative, sequenced by the wall clock so that a
// restarted node's records replace its earlier ones without a stored
// counter. A put that reached nobody (no DHT contacts yet) is tried again
// soon.
void RepHints::publish(int64_t now_ms) {
  next_publish_ms_ = now_ms + c_.options.republish_ms;
  if (c_.representatives.empty()) return;
  const uint64_t seq = wall_ms();
  for (const PrivateKey& k : c_.representatives) {
    const RepRecord r = make_rep_record(k, *c_.network, c_.node->key(), seq);
    dht_->put_signed(
        dht::key_for(rep_record_name(*c_.network, r.account)), encode_rep_record(r), seq,
        c_.options.ttl_s, [this](Result<dht::OpResult> done) {
          if (done.ok()) {
            ++published_;
            return;
          }
          spdlog::debug("nano: representative record not stored: {}", done.error().message());
          next_publish_ms_ = std::min(next_publish_ms_, steady_ms() + c_.options.retry_publish_ms);
        });
  }
}

void RepHints::refresh_weights(int64_t now_ms) {
  next_weights_ms_ = now_ms + c_.options.weights_ms;
  // On the node's loop: order only the heaviest max_reps of what may be
  // tens of thousands of representatives.
  auto weights = c_.store->begin_read()->weights();
  const auto followed =
      static_cast<std::ptrdiff_t>(std::min(weights.size(), c_.options.directory.max_reps));
  std::partial_sort(weights.begin(), weights.begin() + followed, weights.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second; });
  weights.resize(static_cast<size_t>(followed));
  by_weight_.clear();
  for (const auto& [rep, w] : weights) {
    if (w == 0 || by_weight_.size() >= c_.options.directory.max_reps) break;
    by_weight_.push_back(rep);
  }
}

std::vector<PublicKey> RepHints::hosts(size_t n) const {
  std::vector<PublicKey> out = directory_.hosts(by_weight_, n + 1);
  std::erase(out, c_.node->key());  // not ourselves
  if (out.size() > n) out.resize(n);
  return out;
}

std::vector<std::pair<PublicKey, PublicKey>> RepHints::known() const {
  std::vector<std::pair<PublicKey, PublicKey>> out;
  for (const PublicKey& rep : by_weight_)
    if (auto h = directory_.host_of(rep)) out.emplace_back(rep, *h);
  return out;
}

}  // namespace chorus::nano
