#include "chorus/overlay/handshake.h"

#include <sodium.h>

#include <algorithm>

#include "chorus/overlay/wire.h"

namespace chorus::overlay {
namespace {

constexpr std::array<uint8_t, 4> kMagic = {'C', 'H', 'R', 'S'};
constexpr std::string_view kTranscriptContext = "chorus/handshake/v1";
constexpr std::string_view kAuthContext = "chorus/handshake/auth/v1";
constexpr std::string_view kNetworkContext = "chorus/network/v1";
constexpr size_t kVersionOffset = 4;        // after the magic
constexpr size_t kEphemeralKeyOffset = 38;  // magic, version, flags, static key

}  // namespace

Hash256 network_tag(std::string_view network_id) {
  Hash256 out{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, out.size());
  crypto_generichash_update(&st, as_bytes(kNetworkContext).data(), kNetworkContext.size());
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(network_id.data()),
                            network_id.size());
  crypto_generichash_final(&st, out.data(), out.size());
  return out;
}

Bytes encode_hello(const Hello& h) {
  Bytes out;
  out.reserve(kHelloBytes);
  ByteWriter w(out);
  w.array(kMagic);
  w.u8(h.version);
  w.u8(h.flags);
  w.array(h.static_key);
  w.array(h.ephemeral_key);
  w.u16(h.listen_port);
  w.array(h.network);
  return out;
}

Result<Hello> decode_hello(ByteView in) {
  if (in.size() != kHelloBytes) {
    return malformed("HELLO must be " + std::to_string(kHelloBytes) + " bytes");
  }
  ByteReader r(in);
  std::array<uint8_t, 4> magic{};
  Hello h;
  r.array(magic);
  if (magic != kMagic) return malformed("not a Chorus peer (bad HELLO magic)");
  r.u8(h.version);
  r.u8(h.flags);
  r.array(h.static_key);
  r.array(h.ephemeral_key);
  r.u16(h.listen_port);
  r.array(h.network);
  return h;
}

Handshake::Handshake(const Identity& self, Role role, uint16_t listen_port, Random& random,
                     uint8_t flags, const Hash256& network, PeerCheck check)
    : self_(self), role_(role), own_flags_(flags), network_(network), check_(std::move(check)) {
  Hello h;
  h.flags = flags;
  h.network = network;
  h.static_key = self.public_key();
  h.listen_port = listen_port;
  std::array<uint8_t, crypto_kx_SEEDBYTES> seed{};
  random.fill(seed.data(), seed.size());
  crypto_kx_seed_keypair(h.ephemeral_key.data(), eph_secret_.data(), seed.data());
  sodium_memzero(seed.data(), seed.size());
  own_hello_ = encode_hello(h);
  output_ = own_hello_;
}

Handshake::~Handshake() {
  sodium_memzero(eph_secret_.data(), eph_secret_.size());
  sodium_memzero(keys_.rx.data(), keys_.rx.size());
  sodium_memzero(keys_.tx.data(), keys_.tx.size());
}

Cipher Handshake::cipher() const {
  return (own_flags_ & peer_hello_.flags & kHelloAesGcm) ? Cipher::kAes256Gcm
                                                         : Cipher::kChaCha20Poly1305;
}

Bytes Handshake::take_output() {
  return std::exchange(output_, {});
}

Result<size_t> Handshake::on_bytes(ByteView in) {
  auto r = consume(in);
  if (!r && refusal_ == Refusal::kNone) refusal_ = Refusal::kOther;
  return r;
}

Result<size_t> Handshake::consume(ByteView in) {
  size_t used = 0;
  while (state_ != State::kDone) {
    size_t want = state_ == State::kWaitHello ? kHelloBytes : kAuthBytes;
    // The first four bytes already tell a stranger from a peer: fail fast.
    if (state_ == State::kWaitHello && pending_.size() < 4) {
      size_t k = std::min<size_t>(4 - pending_.size(), in.size() - used);
      for (size_t i = 0; i < k; ++i) {
        if (in[used + i] != kMagic[pending_.size() + i]) {
          return malformed("not a Chorus peer (bad HELLO magic)");
        }
      }
    }
    size_t take = std::min(want - pending_.size(), in.size() - used);
    pending_.insert(pending_.end(), in.begin() + used, in.begin() + used + take);
    used += take;
    // The version byte decides the HELLO's length: refuse another version
    // at once rather than wait for bytes an older peer never sends.
    if (state_ == State::kWaitHello && pending_.size() > kVersionOffset &&
        pending_[kVersionOffset] != kProtocolVersion) {
      return wrong_version(pending_[kVersionOffset]);
    }
    if (pending_.size() < want) break;
    Bytes msg = std::exchange(pending_, {});
    auto r = state_ == State::kWaitHello ? on_hello(msg) : on_auth(msg);
    if (!r) return r.error();
  }
  return used;
}

Result<void> Handshake::on_hello(ByteView bytes) {
  auto hello = decode_hello(bytes);
  if (!hello) return hello.error();
  if (hello->version != kProtocolVersion) return wrong_version(hello->version);
  peer_hello_ = *hello;  // also when refused below: the caller may look at it
  if (hello->static_key == self_.public_key()) {
    refusal_ = Refusal::kSelf;
    return protocol_error("connection to self");
  }
  if (hello->network != network_) {
    refusal_ = Refusal::kNetworkMismatch;
    return protocol_error("network id mismatch");
  }
  if (check_) {
    if (auto ok = check_(hello->static_key); !ok) {
      refusal_ = Refusal::kPeerCheck;
      return ok.error();
    }
  }
  peer_hello_raw_ = Bytes(bytes.begin(), bytes.end());

  const Bytes& hi = role_ == Role::kInitiator ? own_hello_ : peer_hello_raw_;
  const Bytes& hr = role_ == Role::kInitiator ? peer_hello_raw_ : own_hello_;
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, transcript_.size());
  crypto_generichash_update(&st, as_bytes(kTranscriptContext).data(), kTranscriptContext.size());
  crypto_generichash_update(&st, hi.data(), hi.size());
  crypto_generichash_update(&st, hr.data(), hr.size());
  crypto_generichash_final(&st, transcript_.data(), transcript_.size());

  int rc = role_ == Role::kInitiator
               ? crypto_kx_client_session_keys(keys_.rx.data(), keys_.tx.data(),
                                               own_hello_.data() + kEphemeralKeyOffset,
                                               eph_secret_.data(), peer_hello_.ephemeral_key.data())
               : crypto_kx_server_session_keys(
                     keys_.rx.data(), keys_.tx.data(), own_hello_.data() + kEphemeralKeyOffset,
                     eph_secret_.data(), peer_hello_.ephemeral_key.data());
  sodium_memzero(eph_secret_.data(), eph_secret_.size());
  if (rc != 0) return protocol_error("peer's ephemeral key is weak (low order)");

  Signature sig = self_.sign(auth_message(role_));
  output_.insert(output_.end(), sig.begin(), sig.end());
  state_ = State::kWaitAuth;
  return {};
}

Result<void> Handshake::on_auth(ByteView bytes) {
  Signature sig{};
  std::copy(bytes.begin(), bytes.end(), sig.begin());
  Role peer_role = role_ == Role::kInitiator ? Role::kResponder : Role::kInitiator;
  if (!verify_signature(peer_hello_.static_key, auth_message(peer_role), sig)) {
    return auth_failed("bad handshake signature");
  }
  state_ = State::kDone;
  return {};
}

Error Handshake::wrong_version(uint8_t theirs) {
  return protocol_error("wrong version: peer speaks " + std::to_string(theirs) + ", we speak " +
                        std::to_string(kProtocolVersion));
}

Bytes Handshake::auth_message(Role signer) const {
  Bytes m(kAuthContext.begin(), kAuthContext.end());
  m.push_back(static_cast<uint8_t>(signer));
  m.insert(m.end(), transcript_.begin(), transcript_.end());
  return m;
}

}  // namespace chorus::overlay
