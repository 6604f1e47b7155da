// Field arithmetic mod p = 2^255 - 19 in five 51-bit limbs, extended twisted
// Edwards coordinates with the complete a = -1 formulas (Hisil, Wong, Carter,
// Dawson 2008: add-2008-hwcd-3, dbl-2008-hwcd), and an interleaved wNAF
// double-scalar multiplication [s]B + [h](-A). Complete formulas make the
// result exact for every curve point, torsion included, as the
// cofactorless rule requires.
#include "ed25519_vartime.h"

#include <sodium.h>

#include <array>
#include <cstring>

namespace chorus::nano::detail {
namespace {

__extension__ typedef unsigned __int128 u128;
constexpr uint64_t kMask51 = (uint64_t{1} << 51) - 1;

struct Fe {
  uint64_t v[5];
};

uint64_t load64(const uint8_t* b) {
  uint64_t r = 0;
  for (int i = 7; i >= 0; --i) r = r << 8 | b[i];
  return r;
}

// The low 255 bits, as donna and libsodium read them: y ≥ p is reduced.
Fe fe_frombytes(const uint8_t* b) {
  Fe f;
  f.v[0] = load64(b) & kMask51;
  f.v[1] = (load64(b + 6) >> 3) & kMask51;
  f.v[2] = (load64(b + 12) >> 6) & kMask51;
  f.v[3] = (load64(b + 19) >> 1) & kMask51;
  f.v[4] = (load64(b + 24) >> 12) & kMask51;
  return f;
}

void fe_carry(Fe& f) {
  for (int i = 0; i < 4; ++i) {
    f.v[i + 1] += f.v[i] >> 51;
    f.v[i] &= kMask51;
  }
  f.v[0] += 19 * (f.v[4] >> 51);
  f.v[4] &= kMask51;
}

void fe_tobytes(uint8_t* out, Fe f) {
  // Fully reduce (as libsodium's fe25519_reduce): carry twice, then add 19
  // and 2^255 - 19 so that the final carry out of bit 255 decides.
  fe_carry(f);
  fe_carry(f);
  f.v[0] += 19;
  fe_carry(f);
  f.v[0] += (uint64_t{1} << 51) - 19;
  for (int i = 1; i < 5; ++i) f.v[i] += (uint64_t{1} << 51) - 1;
  for (int i = 0; i < 4; ++i) {
    f.v[i + 1] += f.v[i] >> 51;
    f.v[i] &= kMask51;
  }
  f.v[4] &= kMask51;
  const uint64_t w0 = f.v[0] | f.v[1] << 51;
  const uint64_t w1 = f.v[1] >> 13 | f.v[2] << 38;
  const uint64_t w2 = f.v[2] >> 26 | f.v[3] << 25;
  const uint64_t w3 = f.v[3] >> 39 | f.v[4] << 12;
  const uint64_t w[4] = {w0, w1, w2, w3};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) out[8 * i + j] = static_cast<uint8_t>(w[i] >> (8 * j));
}

// No carries in add and sub: fe_mul and fe_sq take limbs up to 2^55, and
// every subtrahend below is a product, a sum of two products, or a negation
// (limbs at most those of 4p), so a - b + 4p never goes negative.
Fe fe_add(const Fe& a, const Fe& b) {
  Fe r;
  for (int i = 0; i < 5; ++i) r.v[i] = a.v[i] + b.v[i];
  return r;
}

Fe fe_sub(const Fe& a, const Fe& b) {
  Fe r;
  r.v[0] = a.v[0] + 0x1fffffffffffb4 - b.v[0];
  for (int i = 1; i < 5; ++i) r.v[i] = a.v[i] + 0x1ffffffffffffc - b.v[i];
  return r;
}

Fe fe_neg(const Fe& a) {
  return fe_sub(Fe{{0, 0, 0, 0, 0}}, a);
}

// The five 128-bit column sums of a product, carried back into 51-bit limbs
// (the top carry folds into limb 0 times 19, since 2^255 = 19 mod p).
inline Fe fe_carry(u128 t0, u128 t1, u128 t2, u128 t3, u128 t4) {
  Fe r;
  t1 += static_cast<uint64_t>(t0 >> 51);
  r.v[0] = static_cast<uint64_t>(t0) & kMask51;
  t2 += static_cast<uint64_t>(t1 >> 51);
  r.v[1] = static_cast<uint64_t>(t1) & kMask51;
  t3 += static_cast<uint64_t>(t2 >> 51);
  r.v[2] = static_cast<uint64_t>(t2) & kMask51;
  t4 += static_cast<uint64_t>(t3 >> 51);
  r.v[3] = static_cast<uint64_t>(t3) & kMask51;
  const uint64_t c = static_cast<uint64_t>(t4 >> 51);
  r.v[4] = static_cast<uint64_t>(t4) & kMask51;
  r.v[0] += c * 19;
  r.v[1] += r.v[0] >> 51;
  r.v[0] &= kMask51;
  return r;
}

Fe fe_mul(const Fe& a, const Fe& b) {
  const uint64_t a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
  const uint64_t b0 = b.v[0], b1 = b.v[1], b2 = b.v[2], b3 = b.v[3], b4 = b.v[4];
  const uint64_t b1_19 = 19 * b1, b2_19 = 19 * b2, b3_19 = 19 * b3, b4_19 = 19 * b4;
  u128 t0 =
      (u128)a0 * b0 + (u128)a1 * b4_19 + (u128)a2 * b3_19 + (u128)a3 * b2_19 + (u128)a4 * b1_19;
  u128 t1 = (u128)a0 * b1 + (u128)a1 * b0 + (u128)a2 * b4_19 + (u128)a3 * b3_19 + (u128)a4 * b2_19;
  u128 t2 = (u128)a0 * b2 + (u128)a1 * b1 + (u128)a2 * b0 + (u128)a3 * b4_19 + (u128)a4 * b3_19;
  u128 t3 = (u128)a0 * b3 + (u128)a1 * b2 + (u128)a2 * b1 + (u128)a3 * b0 + (u128)a4 * b4_19;
  u128 t4 = (u128)a0 * b4 + (u128)a1 * b3 + (u128)a2 * b2 + (u128)a3 * b1 + (u128)a4 * b0;
  return fe_carry(t0, t1, t2, t3, t4);
}

Fe fe_sq(const Fe& a) {
  const uint64_t a0 = a.v[0], a1 = a.v[1], a2 = a.v[2], a3 = a.v[3], a4 = a.v[4];
  const uint64_t d0 = 2 * a0, d1 = 2 * a1, d2 = 2 * a2;
  const uint64_t a3_19 = 19 * a3, a4_19 = 19 * a4;
  u128 t0 = (u128)a0 * a0 + (u128)d1 * a4_19 + (u128)d2 * a3_19;
  u128 t1 = (u128)d0 * a1 + (u128)d2 * a4_19 + (u128)a3 * a3_19;
  u128 t2 = (u128)d0 * a2 + (u128)a1 * a1 + (u128)(2 * a3) * a4_19;
  u128 t3 = (u128)d0 * a3 + (u128)d1 * a2 + (u128)a4 * a4_19;
  u128 t4 = (u128)d0 * a4 + (u128)d1 * a3 + (u128)a2 * a2;
  return fe_carry(t0, t1, t2, t3, t4);
}

Fe fe_sqn(Fe a, int n) {
  for (int i = 0; i < n; ++i) a = fe_sq(a);
  return a;
}

// z^(2^250 - 1), shared by inversion and the square-root exponent.
Fe fe_pow250(const Fe& z, Fe& z11) {
  const Fe z2 = fe_sq(z);
  const Fe z9 = fe_mul(fe_sqn(z2, 2), z);
  z11 = fe_mul(z9, z2);
  const Fe z2_5_0 = fe_mul(fe_sq(z11), z9);
  const Fe z2_10_0 = fe_mul(fe_sqn(z2_5_0, 5), z2_5_0);
  const Fe z2_20_0 = fe_mul(fe_sqn(z2_10_0, 10), z2_10_0);
  const Fe z2_40_0 = fe_mul(fe_sqn(z2_20_0, 20), z2_20_0);
  const Fe z2_50_0 = fe_mul(fe_sqn(z2_40_0, 10), z2_10_0);
  const Fe z2_100_0 = fe_mul(fe_sqn(z2_50_0, 50), z2_50_0);
  const Fe z2_200_0 = fe_mul(fe_sqn(z2_100_0, 100), z2_100_0);
  return fe_mul(fe_sqn(z2_200_0, 50), z2_50_0);
}

Fe fe_invert(const Fe& z) {  // z^(p - 2) = z^(2^255 - 21)
  Fe z11;
  const Fe t = fe_pow250(z, z11);
  return fe_mul(fe_sqn(t, 5), z11);
}

Fe fe_pow22523(const Fe& z) {  // z^((p - 5) / 8) = z^(2^252 - 3)
  Fe z11;
  const Fe t = fe_pow250(z, z11);
  return fe_mul(fe_sqn(t, 2), z);
}

bool fe_equal(const Fe& a, const Fe& b) {
  uint8_t x[32], y[32];
  fe_tobytes(x, a);
  fe_tobytes(y, b);
  return std::memcmp(x, y, 32) == 0;
}

bool fe_is_odd(const Fe& a) {
  uint8_t x[32];
  fe_tobytes(x, a);
  return x[0] & 1;
}

Fe fe_const(const char* hex) {
  uint8_t b[32];
  for (int i = 0; i < 32; ++i) {
    auto nib = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
    b[i] = static_cast<uint8_t>(nib(hex[2 * i]) << 4 | nib(hex[2 * i + 1]));
  }
  return fe_frombytes(b);
}

struct Constants {
  Fe d = fe_const("a3785913ca4deb75abd841414d0a700098e879777940c78c73fe6f2bee6c0352");
  Fe d2 = fe_const("59f1b226949bd6eb56b183829a14e00030d1f3eef2808e19e7fcdf56dcd90624");
  Fe sqrt_m1 = fe_const("b0a00e4a271beec478e42fad0618432fa7d7fb3d99004d2b0bdfc14f8024832b");
  Fe one{{1, 0, 0, 0, 0}};
};
const Constants& k() {
  static const Constants c;
  return c;
}

struct P3 {  // extended: x = X/Z, y = Y/Z, xy = T/Z
  Fe X, Y, Z, T;
};
struct Cached {  // (Y + X, Y - X, 2Z, 2dT)
  Fe YpX, YmX, Z2, T2d;
};

Cached to_cached(const P3& p) {
  return {fe_add(p.Y, p.X), fe_sub(p.Y, p.X), fe_add(p.Z, p.Z), fe_mul(p.T, k().d2)};
}

P3 add(const P3& p, const Cached& q, bool subtract) {
  const Fe a = fe_mul(fe_sub(p.Y, p.X), subtract ? q.YpX : q.YmX);
  const Fe b = fe_mul(fe_add(p.Y, p.X), subtract ? q.YmX : q.YpX);
  Fe c = fe_mul(p.T, q.T2d);
  if (subtract) c = fe_neg(c);
  const Fe d = fe_mul(p.Z, q.Z2);
  const Fe e = fe_sub(b, a), f = fe_sub(d, c), g = fe_add(d, c), h = fe_add(b, a);
  return {fe_mul(e, f), fe_mul(g, h), fe_mul(f, g), fe_mul(e, h)};
}

// Doubling ignores T; `need_t` skips its multiplication when the next
// operation is another doubling.
P3 dbl(const P3& p, bool need_t = true) {
  const Fe a = fe_sq(p.X), b = fe_sq(p.Y);
  const Fe zz = fe_sq(p.Z);
  const Fe c = fe_add(zz, zz);
  const Fe e = fe_sub(fe_sub(fe_sq(fe_add(p.X, p.Y)), a), b);
  const Fe g = fe_sub(b, a);  // -a + b
  const Fe f = fe_sub(g, c);
  const Fe h = fe_neg(fe_add(a, b));  // -a - b
  return {fe_mul(e, f), fe_mul(g, h), fe_mul(f, g), need_t ? fe_mul(e, h) : Fe{}};
}

// donna's ge25519_unpack_negative_vartime: -A for any y with an x.
bool decode_negated(const uint8_t* s, P3& out) {
  const Constants& c = k();
  const Fe y = fe_frombytes(s);
  const Fe yy = fe_sq(y);
  Fe u = fe_sub(yy, c.one);
  fe_carry(u);  // negated below
  const Fe v = fe_add(fe_mul(yy, c.d), c.one);
  const Fe v3 = fe_mul(fe_sq(v), v);
  const Fe uv7 = fe_mul(fe_mul(fe_sq(v3), v), u);
  Fe x = fe_mul(fe_mul(u, v3), fe_pow22523(uv7));
  const Fe vxx = fe_mul(v, fe_sq(x));
  if (!fe_equal(vxx, u)) {
    if (!fe_equal(vxx, fe_neg(u))) return false;
    x = fe_mul(x, c.sqrt_m1);
  }
  // A has x with parity = sign bit (x = 0 stays 0); -A has the other one.
  if (fe_is_odd(x) == ((s[31] >> 7) != 0)) x = fe_neg(x);
  out = {x, y, c.one, fe_mul(x, y)};
  return true;
}

void encode(uint8_t* out, const P3& p) {
  const Fe zi = fe_invert(p.Z);
  const Fe x = fe_mul(p.X, zi), y = fe_mul(p.Y, zi);
  fe_tobytes(out, y);
  out[31] = static_cast<uint8_t>(out[31] | (fe_is_odd(x) ? 0x80 : 0));
}

// Width-w NAF of a 256-bit little-endian scalar (s < 2^253 here).
void wnaf(int8_t naf[257], const uint8_t* scalar, int w) {
  uint64_t limbs[5] = {};
  for (int i = 0; i < 4; ++i) limbs[i] = load64(scalar + 8 * i);
  std::memset(naf, 0, 257);
  const int64_t width = int64_t{1} << w;
  auto bit = [&](int i) -> uint64_t { return limbs[i / 64] >> (i % 64) & 1; };
  // Work on a copy that we modify as digits are taken.
  int i = 0;
  while (i < 256) {
    if (bit(i) == 0) {
      ++i;
      continue;
    }
    // Window of w bits starting at i.
    int64_t window = 0;
    for (int j = 0; j < w && i + j < 320; ++j) window |= static_cast<int64_t>(bit(i + j)) << j;
    int64_t digit = window;
    if (digit >= width / 2) digit -= width;
    naf[i] = static_cast<int8_t>(digit);
    // scalar -= digit << i (add when digit is negative): touch limbs.
    auto add_at = [&](int pos, uint64_t value, bool subtract) {
      // value < 2^w fits in the window; propagate the carry/borrow.
      int li = pos / 64, sh = pos % 64;
      u128 v = static_cast<u128>(value) << sh;
      uint64_t lo = static_cast<uint64_t>(v), hi = static_cast<uint64_t>(v >> 64);
      if (!subtract) {
        u128 sum = static_cast<u128>(limbs[li]) + lo;
        limbs[li] = static_cast<uint64_t>(sum);
        uint64_t carry = static_cast<uint64_t>(sum >> 64) + hi;
        for (int m = li + 1; m < 5 && carry; ++m) {
          u128 s2 = static_cast<u128>(limbs[m]) + carry;
          limbs[m] = static_cast<uint64_t>(s2);
          carry = static_cast<uint64_t>(s2 >> 64);
        }
      } else {
        uint64_t borrow = limbs[li] < lo;
        limbs[li] -= lo;
        uint64_t sub_next = hi + borrow;
        for (int m = li + 1; m < 5 && sub_next; ++m) {
          borrow = limbs[m] < sub_next;
          limbs[m] -= sub_next;
          sub_next = borrow;
        }
      }
    };
    if (digit > 0) {
      add_at(i, static_cast<uint64_t>(digit), true);
    } else {
      add_at(i, static_cast<uint64_t>(-digit), false);
    }
    i += w;
  }
}

constexpr int kWidthA = 5;  // 8 odd multiples of -A per verification
constexpr int kWidthB = 8;  // 64 odd multiples of B, computed once

struct BaseTable {
  std::array<Cached, 1 << (kWidthB - 2)> odd;  // B, 3B, 5B, …
  BaseTable() {
    uint8_t by[32];
    std::memset(by, 0x66, 32);
    by[0] = 0x58;
    P3 b;
    decode_negated(by, b);  // -B
    b.X = fe_neg(b.X);      // B
    b.T = fe_neg(b.T);
    const Cached b2 = to_cached(dbl(b));
    P3 cur = b;
    for (size_t i = 0; i < odd.size(); ++i) {
      odd[i] = to_cached(cur);
      cur = add(cur, b2, false);
    }
  }
};
const BaseTable& base_table() {
  static const BaseTable t;
  return t;
}

}  // namespace

bool verify_vartime(const uint8_t* pk, ByteView message, const uint8_t* sig) {
  if ((sig[63] & 0xe0) != 0) return false;
  P3 neg_a;
  if (!decode_negated(pk, neg_a)) return false;

  uint8_t wide[64];
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, sizeof wide);
  crypto_generichash_update(&st, sig, 32);
  crypto_generichash_update(&st, pk, 32);
  crypto_generichash_update(&st, message.data(), message.size());
  crypto_generichash_final(&st, wide, sizeof wide);
  uint8_t h[32], s[32];
  crypto_core_ed25519_scalar_reduce(h, wide);
  std::memset(wide, 0, sizeof wide);
  std::memcpy(wide, sig + 32, 32);
  crypto_core_ed25519_scalar_reduce(s, wide);

  int8_t naf_h[257], naf_s[257];
  wnaf(naf_h, h, kWidthA);
  wnaf(naf_s, s, kWidthB);

  std::array<Cached, 1 << (kWidthA - 2)> a_odd;
  const Cached a2 = to_cached(dbl(neg_a));
  P3 cur = neg_a;
  for (size_t i = 0; i < a_odd.size(); ++i) {
    a_odd[i] = to_cached(cur);
    if (i + 1 < a_odd.size()) cur = add(cur, a2, false);
  }
  const BaseTable& bt = base_table();

  int top = 256;
  while (top >= 0 && naf_h[top] == 0 && naf_s[top] == 0) --top;
  P3 r{{{0, 0, 0, 0, 0}}, k().one, k().one, {{0, 0, 0, 0, 0}}};
  for (int i = top; i >= 0; --i) {
    r = dbl(r, naf_s[i] != 0 || naf_h[i] != 0);
    if (naf_s[i] > 0) r = add(r, bt.odd[static_cast<size_t>(naf_s[i] / 2)], false);
    if (naf_s[i] < 0) r = add(r, bt.odd[static_cast<size_t>(-naf_s[i] / 2)], true);
    if (naf_h[i] > 0) r = add(r, a_odd[static_cast<size_t>(naf_h[i] / 2)], false);
    if (naf_h[i] < 0) r = add(r, a_odd[static_cast<size_t>(-naf_h[i] / 2)], true);
  }
  uint8_t check[32];
  encode(check, r);
  return std::memcmp(check, sig, 32) == 0;
}

}  // namespace chorus::nano::detail
