#include "chorus/nano/memory_store.h"

#include <functional>
#include <map>
#include <mutex>
#include <shared_mutex>

namespace chorus::nano {
namespace {

struct Tables {
  std::map<BlockHash, StoredBlock> blocks;
  std::map<PublicKey, AccountInfo> accounts;
  std::map<PendingKey, PendingInfo> pending;
  std::map<PublicKey, Amount> weights;
  std::map<PublicKey, ConfirmationHeight> heights;
  std::map<QualifiedRoot, BlockHash> final_votes;
};

template <typename Map, typename Key>
auto find_opt(const Map& m, const Key& k) -> std::optional<typename Map::mapped_type> {
  auto it = m.find(k);
  if (it == m.end()) return std::nullopt;
  return it->second;
}

class MemoryStore;

class MemoryRead : public ReadTxn {
 public:
  explicit MemoryRead(Tables& t) : t_(t) {}
  std::optional<StoredBlock> block(const BlockHash& h) override { return find_opt(t_.blocks, h); }
  bool block_exists(const BlockHash& h) override { return t_.blocks.count(h) != 0; }
  uint64_t block_count() override { return t_.blocks.size(); }
  std::optional<AccountInfo> account(const PublicKey& a) override {
    return find_opt(t_.accounts, a);
  }
  uint64_t account_count() override { return t_.accounts.size(); }
  std::vector<std::pair<PublicKey, AccountInfo>> accounts_from(const PublicKey& start,
                                                               size_t limit) override {
    std::vector<std::pair<PublicKey, AccountInfo>> out;
    for (auto it = t_.accounts.lower_bound(start); it != t_.accounts.end() && out.size() < limit;
         ++it)
      out.emplace_back(*it);
    return out;
  }
  std::optional<PendingInfo> pending(const PendingKey& k) override {
    return find_opt(t_.pending, k);
  }
  std::vector<std::pair<PendingKey, PendingInfo>> pending_of(const PublicKey& account,
                                                             size_t limit) override {
    std::vector<std::pair<PendingKey, PendingInfo>> out;
    for (auto it = t_.pending.lower_bound(PendingKey{account, {}});
         it != t_.pending.end() && it->first.account == account && out.size() < limit; ++it)
      out.emplace_back(*it);
    return out;
  }
  std::vector<std::pair<PendingKey, PendingInfo>> pending_from(const PendingKey& start,
                                                               size_t limit) override {
    std::vector<std::pair<PendingKey, PendingInfo>> out;
    for (auto it = t_.pending.lower_bound(start); it != t_.pending.end() && out.size() < limit;
         ++it)
      out.emplace_back(*it);
    return out;
  }
  uint64_t pending_count() override { return t_.pending.size(); }
  Amount weight(const PublicKey& rep) override { return find_opt(t_.weights, rep).value_or(0); }
  std::vector<std::pair<PublicKey, Amount>> weights() override {
    return {t_.weights.begin(), t_.weights.end()};
  }
  ConfirmationHeight confirmation_height(const PublicKey& a) override {
    return find_opt(t_.heights, a).value_or(ConfirmationHeight{});
  }
  std::optional<BlockHash> final_vote(const QualifiedRoot& root) override {
    return find_opt(t_.final_votes, root);
  }

 protected:
  Tables& t_;
};

class SharedRead final : public MemoryRead {
 public:
  SharedRead(Tables& t, std::shared_mutex& mu) : MemoryRead(t), lock_(mu) {}

 private:
  std::shared_lock<std::shared_mutex> lock_;
};

// Writes go straight into the tables; each records how to undo itself, and
// an uncommitted transaction replays the record backwards.
class MemoryWrite final : public WriteTxn {
 public:
  MemoryWrite(Tables& t, std::shared_mutex& mu) : read_(t), t_(t), lock_(mu) {}
  ~MemoryWrite() override {
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) (*it)();
  }

  std::optional<StoredBlock> block(const BlockHash& h) override { return read_.block(h); }
  bool block_exists(const BlockHash& h) override { return read_.block_exists(h); }
  uint64_t block_count() override { return read_.block_count(); }
  std::optional<AccountInfo> account(const PublicKey& a) override { return read_.account(a); }
  uint64_t account_count() override { return read_.account_count(); }
  std::vector<std::pair<PublicKey, AccountInfo>> accounts_from(const PublicKey& s,
                                                               size_t limit) override {
    return read_.accounts_from(s, limit);
  }
  std::optional<PendingInfo> pending(const PendingKey& k) override { return read_.pending(k); }
  std::vector<std::pair<PendingKey, PendingInfo>> pending_of(const PublicKey& a,
                                                             size_t limit) override {
    return read_.pending_of(a, limit);
  }
  std::vector<std::pair<PendingKey, PendingInfo>> pending_from(const PendingKey& s,
                                                               size_t limit) override {
    return read_.pending_from(s, limit);
  }
  uint64_t pending_count() override { return read_.pending_count(); }
  Amount weight(const PublicKey& rep) override { return read_.weight(rep); }
  std::vector<std::pair<PublicKey, Amount>> weights() override { return read_.weights(); }
  ConfirmationHeight confirmation_height(const PublicKey& a) override {
    return read_.confirmation_height(a);
  }
  std::optional<BlockHash> final_vote(const QualifiedRoot& root) override {
    return read_.final_vote(root);
  }

  void put_block(const BlockHash& h, const StoredBlock& b) override { set(t_.blocks, h, b); }
  void del_block(const BlockHash& h) override { erase(t_.blocks, h); }
  void set_successor(const BlockHash& h, const BlockHash& successor) override {
    auto b = read_.block(h);
    if (!b) return;
    b->successor = successor;
    set(t_.blocks, h, *b);
  }
  void put_account(const PublicKey& a, const AccountInfo& i) override { set(t_.accounts, a, i); }
  void del_account(const PublicKey& a) override { erase(t_.accounts, a); }
  void put_pending(const PendingKey& k, const PendingInfo& i) override { set(t_.pending, k, i); }
  void del_pending(const PendingKey& k) override { erase(t_.pending, k); }
  void put_weight(const PublicKey& rep, Amount w) override {
    if (w == 0) {
      erase(t_.weights, rep);
    } else {
      set(t_.weights, rep, w);
    }
  }
  void put_confirmation_height(const PublicKey& a, const ConfirmationHeight& h) override {
    set(t_.heights, a, h);
  }
  void put_final_vote(const QualifiedRoot& root, const BlockHash& hash) override {
    set(t_.final_votes, root, hash);
  }
  Result<void> commit() override {
    if (!lock_.owns_lock()) return invalid_argument("transaction already committed");
    undo_.clear();
    lock_.unlock();  // over: the next writer (or a reader) may go on
    return {};
  }

 private:
  template <typename Map>
  void set(Map& m, const typename Map::key_type& k, const typename Map::mapped_type& v) {
    auto it = m.find(k);
    if (it == m.end()) {
      m.emplace(k, v);
      undo_.push_back([&m, k] { m.erase(k); });
    } else {
      undo_.push_back([&m, k, old = it->second] { m[k] = old; });
      it->second = v;
    }
  }
  template <typename Map>
  void erase(Map& m, const typename Map::key_type& k) {
    auto it = m.find(k);
    if (it == m.end()) return;
    undo_.push_back([&m, k, old = it->second] { m.emplace(k, old); });
    m.erase(it);
  }

  MemoryRead read_;
  Tables& t_;
  std::unique_lock<std::shared_mutex> lock_;
  std::vector<std::function<void()>> undo_;
};

class MemoryStore final : public LedgerStore {
 public:
  std::unique_ptr<ReadTxn> begin_read() override {
    return std::make_unique<SharedRead>(tables_, mu_);
  }
  std::unique_ptr<WriteTxn> begin_write() override {
    return std::make_unique<MemoryWrite>(tables_, mu_);
  }

 private:
  std::shared_mutex mu_;
  Tables tables_;
};

}  // namespace

std::unique_ptr<LedgerStore> make_memory_store() {
  return std::make_unique<MemoryStore>();
}

}  // namespace chorus::nano
