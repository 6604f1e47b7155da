#include "chorus/overlay/identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "chorus/overlay/keyed_hash.h"

namespace chorus::overlay {
namespace {

constexpr char kBase32Alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view kAddressPrefix = "ch";
constexpr std::string_view kKeyFileTag = "chorus-ed25519-seed ";

std::string base32_encode(ByteView data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32Alphabet[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32Alphabet[(buffer << (5 - bits)) & 31]);
  return out;
}

std::optional<Bytes> base32_decode(std::string_view text) {
  Bytes out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = c ? std::strchr(kBase32Alphabet, c) : nullptr;
    if (!p) return std::nullopt;
    buffer = (buffer << 5) | static_cast<uint32_t>(p - kBase32Alphabet);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  // Leftover bits must be zero padding, or two spellings would name one key.
  if (bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::array<uint8_t, 4> checksum(const PublicKey& key) {
  std::array<uint8_t, 4> sum{};
  crypto_generichash(sum.data(), sum.size(), key.data(), key.size(), nullptr, 0);
  return sum;
}

void ensure_sodium() {
  static const int rc = sodium_init();
  (void)rc;
}

}  // namespace

std::string address_to_text(const PublicKey& key) {
  Bytes raw(key.begin(), key.end());
  auto sum = checksum(key);
  raw.insert(raw.end(), sum.begin(), sum.end());
  return std::string(kAddressPrefix) + base32_encode(raw);
}

Result<PublicKey> parse_address(std::string_view text) {
  PublicKey key{};
  if (text.size() == 64) {
    auto raw = from_hex(text);
    if (!raw) return malformed("address: 64 characters but not hex");
    std::copy(raw->begin(), raw->end(), key.begin());
    return key;
  }
  if (text.substr(0, kAddressPrefix.size()) != kAddressPrefix) {
    return malformed("address: expected 'ch' + 58 base32 characters or 64 hex digits");
  }
  auto raw = base32_decode(text.substr(kAddressPrefix.size()));
  if (!raw || raw->size() != 36) return malformed("address: bad base32 text or length");
  std::copy(raw->begin(), raw->begin() + 32, key.begin());
  auto sum = checksum(key);
  if (!std::equal(sum.begin(), sum.end(), raw->begin() + 32)) {
    return malformed("address: checksum mismatch (mistyped address?)");
  }
  return key;
}

Hash256 blake2b_256(ByteView data) {
  Hash256 h{};
  crypto_generichash(h.data(), h.size(), data.data(), data.size(), nullptr, 0);
  return h;
}

NodeId dht_id(const PublicKey& key) {
  return blake2b_256(key);
}

bool verify_signature(const PublicKey& key, ByteView message, const Signature& sig) {
  ensure_sodium();
  return crypto_sign_verify_detached(sig.data(), message.data(), message.size(), key.data()) == 0;
}

Identity Identity::generate() {
  ensure_sodium();
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  Identity id = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return id;
}

Identity Identity::from_seed(const std::array<uint8_t, 32>& seed) {
  ensure_sodium();
  Identity id;
  id.seed_ = seed;
  crypto_sign_seed_keypair(id.public_key_.data(), id.secret_.data(), seed.data());
  return id;
}

Identity::Identity(const Identity&) = default;
Identity& Identity::operator=(const Identity&) = default;

Identity::~Identity() {
  sodium_memzero(seed_.data(), seed_.size());
  sodium_memzero(secret_.data(), secret_.size());
}

Signature Identity::sign(ByteView message) const {
  Signature sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(), secret_.data());
  return sig;
}

std::array<uint8_t, 32> Identity::x25519_secret() const {
  std::array<uint8_t, 32> out{};
  crypto_sign_ed25519_sk_to_curve25519(out.data(), secret_.data());
  return out;
}

namespace {

// Ed25519 -> X25519 public keys, first in first out: a peer heard from
// again refreshes nothing, but the bound holds with no list to maintain.
class X25519Cache {
 public:
  bool find(const PublicKey& key, std::array<uint8_t, 32>& out) {
    std::lock_guard lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    out = it->second;
    return true;
  }
  void insert(const PublicKey& key, const std::array<uint8_t, 32>& x) {
    std::lock_guard lock(mu_);
    if (capacity_ == 0 || map_.count(key)) return;
    if (order_.size() < capacity_) {
      order_.push_back(key);
    } else {
      map_.erase(order_[next_]);
      order_[next_] = key;
      next_ = (next_ + 1) % capacity_;
    }
    map_.emplace(key, x);
  }
  void set_capacity(size_t entries) {
    std::lock_guard lock(mu_);
    capacity_ = entries;
    map_.clear();
    order_.clear();
    order_.shrink_to_fit();
    next_ = 0;
  }

 private:
  std::mutex mu_;
  size_t capacity_ = 4096;
  std::unordered_map<PublicKey, std::array<uint8_t, 32>, KeyedHash> map_{0, KeyedHash::fresh()};
  std::vector<PublicKey> order_;  // insertion order, a ring once full
  size_t next_ = 0;               // the oldest, once full
};

X25519Cache& x25519_cache() {
  static X25519Cache* cache = new X25519Cache;  // never destroyed: usable from static destructors
  return *cache;
}

}  // namespace

Result<std::array<uint8_t, 32>> Identity::x25519_public(const PublicKey& key) {
  std::array<uint8_t, 32> out{};
  if (x25519_cache().find(key, out)) return out;
  if (crypto_sign_ed25519_pk_to_curve25519(out.data(), key.data()) != 0) {
    return invalid_argument("public key is not a valid Ed25519 point");
  }
  x25519_cache().insert(key, out);
  return out;
}

void Identity::set_x25519_cache_capacity(size_t entries) {
  x25519_cache().set_capacity(entries);
}

Result<Identity> Identity::load_or_create(const std::string& path) {
  ensure_sodium();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    Identity id = generate();
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return io_error("key file " + path + ": " + std::strerror(errno));
    std::string text = std::string(kKeyFileTag) + to_hex(id.seed_) + "\n";
    ssize_t n = ::write(fd, text.data(), text.size());
    int saved = errno;
    sodium_memzero(text.data(), text.size());
    bool synced = ::fsync(fd) == 0;
    ::close(fd);
    if (n != static_cast<ssize_t>(text.size()) || !synced) {
      ::unlink(path.c_str());
      return io_error("key file " + path + ": write failed: " + std::strerror(saved));
    }
    return id;
  }
  if (fd < 0) return io_error("key file " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return io_error("key file " + path + ": " + std::strerror(errno));
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return invalid_argument("key file " + path + " is readable by group or others; chmod 600 it");
  }
  // A key file is one line; room for one byte more than any we accept, so
  // a longer file (garbage after the key, found by overlay_text_fuzz) is
  // refused rather than read in part.
  char buf[257];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) return io_error("key file " + path + ": " + std::strerror(errno));
  if (static_cast<size_t>(n) == sizeof buf) {
    sodium_memzero(buf, sizeof buf);
    return malformed("key file " + path + ": longer than a key file (" +
                     std::to_string(sizeof buf - 1) + " bytes at most)");
  }
  std::string_view text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (text.substr(0, kKeyFileTag.size()) != kKeyFileTag) {
    sodium_memzero(buf, sizeof buf);
    return malformed("key file " + path + ": does not start with '" + std::string(kKeyFileTag) +
                     "'");
  }
  auto seed = from_hex(text.substr(kKeyFileTag.size()));
  sodium_memzero(buf, sizeof buf);
  if (!seed || seed->size() != 32)
    return malformed("key file " + path + ": seed is not 64 hex digits");
  std::array<uint8_t, 32> s{};
  std::copy(seed->begin(), seed->end(), s.begin());
  sodium_memzero(seed->data(), seed->size());
  Identity id = from_seed(s);
  sodium_memzero(s.data(), s.size());
  return id;
}

}  // namespace chorus::overlay
