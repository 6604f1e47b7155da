#include "chorus/nano/lmdb_store.h"

#include <lmdb.h>
#include <sys/stat.h>

#include <cstring>
#include <string>

namespace chorus::nano {
namespace {

// ---- Record layouts (spec/nano.md §Ledger store). Integers big-endian. ----

class Out {
 public:
  void raw(const uint8_t* p, size_t n) { b_.insert(b_.end(), p, p + n); }
  template <size_t N>
  void arr(const std::array<uint8_t, N>& a) {
    raw(a.data(), N);
  }
  void u8(uint8_t v) { b_.push_back(v); }
  void u64(uint64_t v) {
    for (int i = 7; i >= 0; --i) b_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  void amount(Amount a) { arr(amount_to_bytes(a)); }
  MDB_val val() { return {b_.size(), b_.data()}; }
  Bytes& bytes() { return b_; }

 private:
  Bytes b_;
};

// Reads fields in order; any read past the end marks the record bad.
class In {
 public:
  explicit In(const MDB_val& v) : p_(static_cast<const uint8_t*>(v.mv_data)), n_(v.mv_size) {}
  bool take(void* dst, size_t n) {
    if (bad_ || n > n_) return !(bad_ = true);
    std::memcpy(dst, p_, n);
    p_ += n;
    n_ -= n;
    return true;
  }
  template <size_t N>
  std::array<uint8_t, N> arr() {
    std::array<uint8_t, N> a{};
    take(a.data(), N);
    return a;
  }
  uint8_t u8() {
    uint8_t v = 0;
    take(&v, 1);
    return v;
  }
  uint64_t u64() {
    uint8_t b[8] = {};
    take(b, 8);
    uint64_t v = 0;
    for (uint8_t c : b) v = v << 8 | c;
    return v;
  }
  Amount amount() {
    auto a = arr<16>();
    return amount_from_bytes(a.data());
  }
  ByteView rest() { return {p_, n_}; }
  // True when every field was there and nothing is left over.
  bool done() const { return !bad_ && n_ == 0; }

 private:
  const uint8_t* p_;
  size_t n_;
  bool bad_ = false;
};

std::optional<Epoch> epoch_from(uint8_t b) {
  if (b > 2) return std::nullopt;
  return static_cast<Epoch>(b);
}

// Block record: sideband (account, height, timestamp, balance, details,
// source epoch), successor, then the typed block.
Bytes encode_block(const StoredBlock& s) {
  Out o;
  o.arr(s.sideband.account);
  o.u64(s.sideband.height);
  o.u64(s.sideband.timestamp);
  o.amount(s.sideband.balance);
  const auto& d = s.sideband.details;
  o.u8(static_cast<uint8_t>(d.epoch));
  o.u8(static_cast<uint8_t>((d.is_send ? 1 : 0) | (d.is_receive ? 2 : 0) | (d.is_epoch ? 4 : 0)));
  o.u8(static_cast<uint8_t>(s.sideband.source_epoch));
  o.arr(s.successor);
  auto typed = serialize_typed_block(s.block);
  o.raw(typed.data(), typed.size());
  return std::move(o.bytes());
}

std::optional<StoredBlock> decode_block(const MDB_val& v) {
  In in(v);
  StoredBlock s;
  s.sideband.account = in.arr<32>();
  s.sideband.height = in.u64();
  s.sideband.timestamp = in.u64();
  s.sideband.balance = in.amount();
  auto epoch = epoch_from(in.u8());
  const uint8_t flags = in.u8();
  auto source = epoch_from(in.u8());
  s.successor = in.arr<32>();
  if (!epoch || !source || flags > 7) return std::nullopt;
  s.sideband.details = {*epoch, (flags & 1) != 0, (flags & 2) != 0, (flags & 4) != 0};
  s.sideband.source_epoch = *source;
  auto block = parse_typed_block(in.rest());
  if (!block) return std::nullopt;
  s.block = *block;
  return s;
}

Bytes encode_account(const AccountInfo& a) {
  Out o;
  o.arr(a.head);
  o.arr(a.representative);
  o.arr(a.open_block);
  o.amount(a.balance);
  o.u64(a.modified);
  o.u64(a.block_count);
  o.u8(static_cast<uint8_t>(a.epoch));
  return std::move(o.bytes());
}

std::optional<AccountInfo> decode_account(const MDB_val& v) {
  In in(v);
  AccountInfo a;
  a.head = in.arr<32>();
  a.representative = in.arr<32>();
  a.open_block = in.arr<32>();
  a.balance = in.amount();
  a.modified = in.u64();
  a.block_count = in.u64();
  auto epoch = epoch_from(in.u8());
  if (!epoch || !in.done()) return std::nullopt;
  a.epoch = *epoch;
  return a;
}

Bytes encode_pending_key(const PendingKey& k) {
  Out o;
  o.arr(k.account);
  o.arr(k.hash);
  return std::move(o.bytes());
}

Bytes encode_pending(const PendingInfo& p) {
  Out o;
  o.arr(p.source);
  o.amount(p.amount);
  o.u8(static_cast<uint8_t>(p.epoch));
  return std::move(o.bytes());
}

std::optional<PendingInfo> decode_pending(const MDB_val& v) {
  In in(v);
  PendingInfo p;
  p.source = in.arr<32>();
  p.amount = in.amount();
  auto epoch = epoch_from(in.u8());
  if (!epoch || !in.done()) return std::nullopt;
  p.epoch = *epoch;
  return p;
}

std::optional<Amount> decode_amount(const MDB_val& v) {
  In in(v);
  Amount a = in.amount();
  if (!in.done()) return std::nullopt;
  return a;
}

Bytes encode_height(const ConfirmationHeight& h) {
  Out o;
  o.u64(h.height);
  o.arr(h.frontier);
  return std::move(o.bytes());
}

std::optional<ConfirmationHeight> decode_height(const MDB_val& v) {
  In in(v);
  ConfirmationHeight h;
  h.height = in.u64();
  h.frontier = in.arr<32>();
  if (!in.done()) return std::nullopt;
  return h;
}

template <size_t N>
MDB_val key_of(const std::array<uint8_t, N>& a) {
  return {N, const_cast<uint8_t*>(a.data())};
}
MDB_val key_of(Bytes& b) {
  return {b.size(), b.data()};
}

template <size_t N>
std::array<uint8_t, N> array_from(const MDB_val& v) {
  std::array<uint8_t, N> a{};
  if (v.mv_size == N) std::memcpy(a.data(), v.mv_data, N);
  return a;
}

PendingKey pending_key_from(const MDB_val& k) {
  PendingKey pk;
  if (k.mv_size != 64) return pk;
  std::memcpy(pk.account.data(), k.mv_data, 32);
  std::memcpy(pk.hash.data(), static_cast<const uint8_t*>(k.mv_data) + 32, 32);
  return pk;
}

std::string lmdb_reason(const char* what, int rc) {
  return std::string(what) + ": " + mdb_strerror(rc);
}

struct Tables {
  MDB_dbi meta = 0, blocks = 0, accounts = 0, pending = 0, weights = 0, heights = 0,
          final_votes = 0;
};

// A cursor that closes itself.
class Cursor {
 public:
  Cursor(MDB_txn* txn, MDB_dbi dbi) {
    if (mdb_cursor_open(txn, dbi, &c_) != 0) c_ = nullptr;
  }
  ~Cursor() {
    if (c_) mdb_cursor_close(c_);
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  // Positions at the first key >= `key`; false at the end.
  bool seek(MDB_val key, MDB_val& k, MDB_val& v) {
    k = key;
    return c_ && mdb_cursor_get(c_, &k, &v, MDB_SET_RANGE) == 0;
  }
  bool first(MDB_val& k, MDB_val& v) { return c_ && mdb_cursor_get(c_, &k, &v, MDB_FIRST) == 0; }
  bool next(MDB_val& k, MDB_val& v) { return c_ && mdb_cursor_get(c_, &k, &v, MDB_NEXT) == 0; }

 private:
  MDB_cursor* c_ = nullptr;
};

// The reads, over any LMDB transaction; shared by the read and the write
// transaction (LMDB lets a write transaction read its own writes).
template <typename Base>
class LmdbReader : public Base {
 public:
  LmdbReader(MDB_txn* txn, const Tables& t) : txn_(txn), t_(t) {}

  std::optional<StoredBlock> block(const BlockHash& h) override {
    MDB_val v;
    if (!get(t_.blocks, key_of(h), v)) return std::nullopt;
    return decode_block(v);
  }
  bool block_exists(const BlockHash& h) override {
    MDB_val v;
    return get(t_.blocks, key_of(h), v);
  }
  uint64_t block_count() override { return entries(t_.blocks); }

  std::optional<AccountInfo> account(const PublicKey& a) override {
    MDB_val v;
    if (!get(t_.accounts, key_of(a), v)) return std::nullopt;
    return decode_account(v);
  }
  uint64_t account_count() override { return entries(t_.accounts); }
  std::vector<std::pair<PublicKey, AccountInfo>> accounts_from(const PublicKey& start,
                                                               size_t limit) override {
    std::vector<std::pair<PublicKey, AccountInfo>> out;
    if (limit == 0) return out;
    Cursor c(txn_, t_.accounts);
    MDB_val k, v;
    for (bool ok = c.seek(key_of(start), k, v); ok && out.size() < limit; ok = c.next(k, v)) {
      auto info = decode_account(v);
      if (info) out.emplace_back(array_from<32>(k), *info);
    }
    return out;
  }

  std::optional<PendingInfo> pending(const PendingKey& key) override {
    auto kb = encode_pending_key(key);
    MDB_val v;
    if (!get(t_.pending, key_of(kb), v)) return std::nullopt;
    return decode_pending(v);
  }
  std::vector<std::pair<PendingKey, PendingInfo>> pending_of(const PublicKey& account,
                                                             size_t limit) override {
    std::vector<std::pair<PendingKey, PendingInfo>> out;
    if (limit == 0) return out;
    auto start = encode_pending_key({account, {}});
    Cursor c(txn_, t_.pending);
    MDB_val k, v;
    for (bool ok = c.seek(key_of(start), k, v); ok && out.size() < limit; ok = c.next(k, v)) {
      if (k.mv_size != 64 || std::memcmp(k.mv_data, account.data(), 32) != 0) break;
      auto info = decode_pending(v);
      if (info) out.emplace_back(pending_key_from(k), *info);
    }
    return out;
  }
  std::vector<std::pair<PendingKey, PendingInfo>> pending_from(const PendingKey& start,
                                                               size_t limit) override {
    std::vector<std::pair<PendingKey, PendingInfo>> out;
    if (limit == 0) return out;
    auto from = encode_pending_key(start);
    Cursor c(txn_, t_.pending);
    MDB_val k, v;
    for (bool ok = c.seek(key_of(from), k, v); ok && out.size() < limit; ok = c.next(k, v)) {
      auto info = decode_pending(v);
      if (!info || k.mv_size != 64) continue;
      out.emplace_back(pending_key_from(k), *info);
    }
    return out;
  }
  uint64_t pending_count() override { return entries(t_.pending); }

  Amount weight(const PublicKey& rep) override {
    MDB_val v;
    if (!get(t_.weights, key_of(rep), v)) return 0;
    return decode_amount(v).value_or(0);
  }
  std::vector<std::pair<PublicKey, Amount>> weights() override {
    std::vector<std::pair<PublicKey, Amount>> out;
    Cursor c(txn_, t_.weights);
    MDB_val k, v;
    for (bool ok = c.first(k, v); ok; ok = c.next(k, v)) {
      auto w = decode_amount(v);
      if (w) out.emplace_back(array_from<32>(k), *w);
    }
    return out;
  }

  ConfirmationHeight confirmation_height(const PublicKey& a) override {
    MDB_val v;
    if (!get(t_.heights, key_of(a), v)) return {};
    return decode_height(v).value_or(ConfirmationHeight{});
  }
  std::optional<BlockHash> final_vote(const QualifiedRoot& root) override {
    MDB_val v;
    if (!get(t_.final_votes, key_of(root), v) || v.mv_size != 32) return std::nullopt;
    return array_from<32>(v);
  }

 protected:
  bool get(MDB_dbi dbi, MDB_val key, MDB_val& v) {
    return txn_ && mdb_get(txn_, dbi, &key, &v) == 0;
  }
  uint64_t entries(MDB_dbi dbi) {
    MDB_stat st;
    if (!txn_ || mdb_stat(txn_, dbi, &st) != 0) return 0;
    return st.ms_entries;
  }

  MDB_txn* txn_;
  const Tables& t_;
};

class LmdbRead final : public LmdbReader<ReadTxn> {
 public:
  using LmdbReader::LmdbReader;
  ~LmdbRead() override {
    if (txn_) mdb_txn_abort(txn_);
  }
};

// A write transaction. The first failed write (the map is full, say) is
// kept and returned by commit(), which then aborts instead: the interface's
// writes cannot fail one by one, and a batch is all or nothing anyway.
class LmdbWrite final : public LmdbReader<WriteTxn> {
 public:
  LmdbWrite(MDB_txn* txn, const Tables& t, int begin_rc) : LmdbReader(txn, t) {
    if (begin_rc != 0) fail(begin_rc, "begin write");
  }
  ~LmdbWrite() override {
    if (txn_) mdb_txn_abort(txn_);
  }

  void put_block(const BlockHash& h, const StoredBlock& b) override {
    auto bytes = encode_block(b);
    put(t_.blocks, key_of(h), key_of(bytes));
  }
  void del_block(const BlockHash& h) override { del(t_.blocks, key_of(h)); }
  void set_successor(const BlockHash& h, const BlockHash& successor) override {
    auto b = block(h);
    if (!b) return;
    b->successor = successor;
    put_block(h, *b);
  }
  void put_account(const PublicKey& a, const AccountInfo& info) override {
    auto bytes = encode_account(info);
    put(t_.accounts, key_of(a), key_of(bytes));
  }
  void del_account(const PublicKey& a) override { del(t_.accounts, key_of(a)); }
  void put_pending(const PendingKey& k, const PendingInfo& info) override {
    auto kb = encode_pending_key(k);
    auto vb = encode_pending(info);
    put(t_.pending, key_of(kb), key_of(vb));
  }
  void del_pending(const PendingKey& k) override {
    auto kb = encode_pending_key(k);
    del(t_.pending, key_of(kb));
  }
  void put_weight(const PublicKey& rep, Amount w) override {
    if (w == 0) {
      del(t_.weights, key_of(rep));
      return;
    }
    auto bytes = amount_to_bytes(w);
    put(t_.weights, key_of(rep), key_of(bytes));
  }
  void put_confirmation_height(const PublicKey& a, const ConfirmationHeight& h) override {
    auto bytes = encode_height(h);
    put(t_.heights, key_of(a), key_of(bytes));
  }
  void put_final_vote(const QualifiedRoot& root, const BlockHash& hash) override {
    put(t_.final_votes, key_of(root), key_of(hash));
  }

  Result<void> commit() override {
    if (!txn_) return invalid_argument("transaction already over");
    MDB_txn* txn = txn_;
    txn_ = nullptr;
    if (error_) {
      mdb_txn_abort(txn);
      return *error_;
    }
    const int rc = mdb_txn_commit(txn);
    if (rc != 0) return error_for(rc, "commit");
    return {};
  }

 private:
  static Error error_for(int rc, const char* what) {
    if (rc == MDB_MAP_FULL)
      return limit_exceeded(lmdb_reason(what, rc) + " (raise map_size_bytes)");
    return io_error(lmdb_reason(what, rc));
  }
  void fail(int rc, const char* what) {
    if (!error_) error_ = error_for(rc, what);
  }
  void put(MDB_dbi dbi, MDB_val key, MDB_val val) {
    if (!txn_ || error_) return;
    const int rc = mdb_put(txn_, dbi, &key, &val, 0);
    if (rc != 0) fail(rc, "put");
  }
  void del(MDB_dbi dbi, MDB_val key) {
    if (!txn_ || error_) return;
    const int rc = mdb_del(txn_, dbi, &key, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) fail(rc, "delete");
  }

  std::optional<Error> error_;
};

class LmdbStore final : public LedgerStore {
 public:
  LmdbStore() = default;
  ~LmdbStore() override {
    if (env_) mdb_env_close(env_);
  }

  Result<void> open(const LmdbOptions& o) {
    struct stat st;
    if (::stat(o.directory.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return io_error("ledger directory " + o.directory + " does not exist");
    int rc = mdb_env_create(&env_);
    if (rc != 0) return io_error(lmdb_reason("mdb_env_create", rc));
    mdb_env_set_maxdbs(env_, 8);
    mdb_env_set_mapsize(env_, o.map_size_bytes);
    mdb_env_set_maxreaders(env_, o.max_readers);
    // NOTLS: a read transaction belongs to its object, not to a thread, so
    // RPC workers and the ledger thread can each hold their own.
    unsigned flags = MDB_NOTLS | (o.sync ? 0u : MDB_NOSYNC);
    rc = mdb_env_open(env_, o.directory.c_str(), flags, 0600);
    if (rc != 0) return io_error(lmdb_reason(("open " + o.directory).c_str(), rc));

    MDB_txn* txn = nullptr;
    rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return io_error(lmdb_reason("begin", rc));
    auto dbi = [&](const char* name, MDB_dbi* out) {
      return rc == 0 ? (rc = mdb_dbi_open(txn, name, MDB_CREATE, out)) : rc;
    };
    dbi("meta", &t_.meta);
    dbi("blocks", &t_.blocks);
    dbi("accounts", &t_.accounts);
    dbi("pending", &t_.pending);
    dbi("weights", &t_.weights);
    dbi("heights", &t_.heights);
    dbi("final_votes", &t_.final_votes);  // added in 0.1: older ledgers get it empty
    if (rc != 0) {
      mdb_txn_abort(txn);
      return io_error(lmdb_reason("open tables", rc));
    }
    auto version = check_version(txn);
    if (!version.ok()) {
      mdb_txn_abort(txn);
      return version.error();
    }
    rc = mdb_txn_commit(txn);
    if (rc != 0) return io_error(lmdb_reason("commit", rc));
    return {};
  }

  std::unique_ptr<ReadTxn> begin_read() override {
    MDB_txn* txn = nullptr;
    // A failed begin (too many readers) yields a transaction that reads
    // nothing rather than a null the caller must check at every use.
    if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) != 0) txn = nullptr;
    return std::make_unique<LmdbRead>(txn, t_);
  }
  std::unique_ptr<WriteTxn> begin_write() override {
    MDB_txn* txn = nullptr;
    const int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) txn = nullptr;
    return std::make_unique<LmdbWrite>(txn, t_, rc);
  }

 private:
  Result<void> check_version(MDB_txn* txn) {
    static const char kKey[] = "version";
    MDB_val k{sizeof(kKey) - 1, const_cast<char*>(kKey)};
    MDB_val v;
    int rc = mdb_get(txn, t_.meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
      Out o;
      o.u64(kLmdbStoreVersion);
      MDB_val nv = o.val();
      rc = mdb_put(txn, t_.meta, &k, &nv, 0);
      if (rc != 0) return io_error(lmdb_reason("write version", rc));
      return {};
    }
    if (rc != 0) return io_error(lmdb_reason("read version", rc));
    In in(v);
    const uint64_t found = in.u64();
    if (!in.done()) return io_error("ledger store version record is damaged");
    if (found > kLmdbStoreVersion)
      return refused("ledger store has format version " + std::to_string(found) +
                     "; this build reads up to " + std::to_string(kLmdbStoreVersion));
    return {};
  }

  MDB_env* env_ = nullptr;
  Tables t_;
};

}  // namespace

Result<std::unique_ptr<LedgerStore>> open_lmdb_store(const LmdbOptions& options) {
  auto store = std::make_unique<LmdbStore>();
  auto opened = store->open(options);
  if (!opened.ok()) return opened.error();
  return std::unique_ptr<LedgerStore>(std::move(store));
}

}  // namespace chorus::nano
