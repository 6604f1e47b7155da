#include "chorus/nano/keys.h"

#include <sodium.h>

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <iterator>

#include "ed25519_vartime.h"

namespace chorus::nano {
namespace {

using Point = std::array<uint8_t, 32>;
using Scalar = std::array<uint8_t, 32>;

// The identity and the seven other points of order dividing 8, canonically
// encoded (the list libsodium and others use to refuse small-order points).
constexpr uint8_t kTorsion[8][32] = {
    {0x01},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
    {0x00},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
    {0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
     0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
    {0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4,
     0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6,
     0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x85},
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
     0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80},
    {0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b,
     0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39,
     0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0xfa},
};

Point identity() {
  return Point{0x01};
}

// x mod L for a 64-byte little-endian value.
Scalar reduce64(const uint8_t* wide) {
  uint8_t copy[64];
  std::memcpy(copy, wide, 64);
  Scalar out;
  crypto_core_ed25519_scalar_reduce(out.data(), copy);
  sodium_memzero(copy, sizeof copy);
  return out;
}

Scalar reduce32(const uint8_t* narrow) {
  uint8_t wide[64] = {};
  std::memcpy(wide, narrow, 32);
  Scalar out = reduce64(wide);
  sodium_memzero(wide, sizeof wide);
  return out;
}

bool is_zero(const Scalar& s) {
  return sodium_is_zero(s.data(), s.size()) == 1;
}

// [s]B for a reduced scalar; the identity for s = 0 (which libsodium refuses).
Point base_mult(const Scalar& s) {
  if (is_zero(s)) return identity();
  Point p;
  if (crypto_scalarmult_ed25519_base_noclamp(p.data(), s.data()) != 0) return identity();
  return p;
}

// p + q for any two encodings that decode (libsodium's add accepts every
// curve point: small order, mixed order and non-canonical y alike).
Point add(const Point& p, const Point& q) {
  Point r;
  const int rc = crypto_core_ed25519_add(r.data(), p.data(), q.data());
  (void)rc;
  return r;
}

// [h]A for a reduced non-zero scalar h and any decodable canonical A. libsodium's
// scalar multiplication refuses points outside the prime-order subgroup, so a
// point with a torsion component T is split as A = A' + T and
// [h]A = [h]A' + [h mod 8]T, which is the group result donna computes.
bool point_mult(const Scalar& h, const Point& a_canonical, Point& out) {
  if (is_zero(h)) {
    out = identity();
    return true;
  }
  if (crypto_scalarmult_ed25519_noclamp(out.data(), h.data(), a_canonical.data()) == 0) return true;
  const unsigned h_mod_8 = h[0] & 7;  // L is odd, but h < L is what donna multiplies by
  auto torsion_mult = [&](const uint8_t* t) {
    Point acc = identity();
    Point tp;
    std::memcpy(tp.data(), t, 32);
    for (unsigned i = 0; i < h_mod_8; ++i) acc = add(acc, tp);
    return acc;
  };
  for (const auto& t : kTorsion) {
    if (std::memcmp(a_canonical.data(), t, 32) == 0) {
      out = torsion_mult(t);
      return true;
    }
  }
  for (const auto& t : kTorsion) {
    Point main_part;
    if (crypto_core_ed25519_sub(main_part.data(), a_canonical.data(), t) != 0) continue;
    if (crypto_core_ed25519_is_valid_point(main_part.data()) != 1) continue;
    Point hm;
    if (crypto_scalarmult_ed25519_noclamp(hm.data(), h.data(), main_part.data()) != 0) return false;
    out = add(hm, torsion_mult(t));
    return true;
  }
  return false;  // unreachable for a point on the curve
}

Scalar hram(const uint8_t* r, const PublicKey& a, ByteView m) {
  crypto_generichash_state st;
  uint8_t wide[64];
  crypto_generichash_init(&st, nullptr, 0, sizeof wide);
  crypto_generichash_update(&st, r, 32);
  crypto_generichash_update(&st, a.data(), a.size());
  crypto_generichash_update(&st, m.data(), m.size());
  crypto_generichash_final(&st, wide, sizeof wide);
  return reduce64(wide);
}

}  // namespace

bool init_crypto() {
  return sodium_init() >= 0;
}

PrivateKey derive_private_key(const Seed& seed, uint32_t index) {
  uint8_t in[36];
  std::memcpy(in, seed.data(), 32);
  in[32] = static_cast<uint8_t>(index >> 24);
  in[33] = static_cast<uint8_t>(index >> 16);
  in[34] = static_cast<uint8_t>(index >> 8);
  in[35] = static_cast<uint8_t>(index);
  PrivateKey out;
  crypto_generichash(out.data(), out.size(), in, sizeof in, nullptr, 0);
  sodium_memzero(in, sizeof in);
  return out;
}

namespace {
struct Expanded {
  uint8_t ext[64];  // clamped scalar a ‖ nonce prefix
  ~Expanded() { sodium_memzero(ext, sizeof ext); }
};

void expand(const PrivateKey& key, Expanded& e) {
  crypto_generichash(e.ext, sizeof e.ext, key.data(), key.size(), nullptr, 0);
  e.ext[0] &= 248;
  e.ext[31] &= 127;
  e.ext[31] |= 64;
}
}  // namespace

PublicKey public_key(const PrivateKey& key) {
  Expanded e;
  expand(key, e);
  PublicKey a;
  // The clamped scalar is never 0 mod L, so this cannot fail.
  const int rc = crypto_scalarmult_ed25519_base_noclamp(a.data(), e.ext);
  (void)rc;
  return a;
}

Signature sign(const PrivateKey& key, ByteView message) {
  Expanded e;
  expand(key, e);
  PublicKey a;
  const int rc = crypto_scalarmult_ed25519_base_noclamp(a.data(), e.ext);
  (void)rc;

  uint8_t wide[64];
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, sizeof wide);
  crypto_generichash_update(&st, e.ext + 32, 32);
  crypto_generichash_update(&st, message.data(), message.size());
  crypto_generichash_final(&st, wide, sizeof wide);
  Scalar r = reduce64(wide);
  sodium_memzero(wide, sizeof wide);

  Signature sig;
  const Point big_r = base_mult(r);
  std::memcpy(sig.data(), big_r.data(), 32);
  const Scalar h = hram(sig.data(), a, message);
  Scalar a_reduced = reduce32(e.ext);
  Scalar s;
  crypto_core_ed25519_scalar_mul(s.data(), h.data(), a_reduced.data());
  crypto_core_ed25519_scalar_add(s.data(), s.data(), r.data());
  std::memcpy(sig.data() + 32, s.data(), 32);
  sodium_memzero(r.data(), r.size());
  sodium_memzero(a_reduced.data(), a_reduced.size());
  sodium_memzero(s.data(), s.size());
  return sig;
}

bool verify_reference(const PublicKey& key, ByteView message, const Signature& sig) {
  // donna: `if ((RS[63] & 224) || !ge25519_unpack_negative_vartime(&A, pk)) return -1;`
  if ((sig[63] & 0xe0) != 0) return false;
  Point a_canonical;
  if (crypto_core_ed25519_add(a_canonical.data(), key.data(), identity().data()) != 0)
    return false;                                   // y has no x on the curve
  const Scalar h = hram(sig.data(), key, message);  // over the key bytes as given
  const Scalar s = reduce32(sig.data() + 32);       // S mod L, S < 2^253
  const Point sb = base_mult(s);
  Point ha;
  if (!point_mult(h, a_canonical, ha)) return false;
  Point check;
  if (crypto_core_ed25519_sub(check.data(), sb.data(), ha.data()) != 0) return false;
  return std::memcmp(check.data(), sig.data(), 32) == 0;  // R compared as bytes
}

bool verify(const PublicKey& key, ByteView message, const Signature& sig) {
  return detail::verify_vartime(key.data(), message, sig.data());
}

Result<PrivateKey> read_private_key_file(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return io_error("key file " + path + ": cannot stat");
  if (!S_ISREG(st.st_mode)) return invalid_argument("key file " + path + ": not a regular file");
  if ((st.st_mode & 077) != 0)
    return invalid_argument("key file " + path +
                            ": readable by others; want mode 0600 (chmod 600 " + path + ")");
  if (st.st_size > 4096) return invalid_argument("key file " + path + ": over 4096 bytes");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("key file " + path + ": cannot read");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto first = text.find_first_not_of(" \t\r\n");
  const auto last = text.find_last_not_of(" \t\r\n");
  const std::string body = first == std::string::npos ? "" : text.substr(first, last - first + 1);
  auto key = parse_hex_fixed<32>(body, "key file " + path);
  // parse_hex_fixed names lengths and "not hex" only, never the digits.
  if (!key.ok()) return key.error();
  return *key;
}

}  // namespace chorus::nano
