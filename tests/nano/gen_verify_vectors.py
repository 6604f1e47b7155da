#!/usr/bin/env python3
"""Edge vectors for NANO signature verification (spec/nano.md §Signatures).

An independent model of nano-node's single-signature check, ed25519-donna's
`ed25519_sign_open` with BLAKE2b-512, written with Python integers (no
libsodium): reject when S has any of its top 3 bits set; decode A accepting
any y (taken mod p, so non-canonical y too) that has an x, with the sign bit
applied even when x = 0; h = BLAKE2b-512(R || A bytes || M) mod L;
s = S mod L; accept iff encode([s]B - [h]A) equals the 32 bytes of R.

Prints spec/vectors/nano_verify.json (regenerate with
  python3 tests/nano/gen_verify_vectors.py > spec/vectors/nano_verify.json).
Deterministic: every random choice comes from a seeded generator.
"""
import hashlib
import json
import random

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def inv(x):
    return pow(x, P - 2, P)


def add(a, b):
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * inv(1 + t) % P, (y1 * y2 + x1 * x2) * inv(1 - t) % P)


def neg(a):
    return ((-a[0]) % P, a[1])


IDENTITY = (0, 1)


def mul(k, a):
    r = IDENTITY
    while k:
        if k & 1:
            r = add(r, a)
        a = add(a, a)
        k >>= 1
    return r


def decode(b):
    """donna's unpack (sign applied positively): None when y has no x."""
    y = (int.from_bytes(b, "little") & ((1 << 255) - 1)) % P
    sign = b[31] >> 7
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x = u * pow(v, 3, P) * pow(u * pow(v, 7, P), (P - 5) // 8, P) % P
    if v * x * x % P == u:
        pass
    elif v * x * x % P == (-u) % P:
        x = x * SQRT_M1 % P
    else:
        return None
    if (x & 1) != sign:
        x = (-x) % P
    return (x, y)


def encode(a):
    x, y = a
    return (y | (x & 1) << 255).to_bytes(32, "little")


BY = 4 * inv(5) % P
B = decode(BY.to_bytes(32, "little"))


def h512(*parts):
    return hashlib.blake2b(b"".join(parts), digest_size=64).digest()


def verify(pk, msg, sig):
    if sig[63] & 224:
        return False
    a = decode(pk)
    if a is None:
        return False
    h = int.from_bytes(h512(sig[:32], pk, msg), "little") % L
    s = int.from_bytes(sig[32:], "little") % L
    return encode(add(mul(s, B), neg(mul(h, a)))) == sig[:32]


def keypair(secret):
    e = h512(secret)
    a = int.from_bytes(e[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    return a, e[32:], encode(mul(a, B))


def sign(secret, msg):
    a, prefix, pk = keypair(secret)
    r = int.from_bytes(h512(prefix, msg), "little") % L
    R = encode(mul(r, B))
    h = int.from_bytes(h512(R, pk, msg), "little") % L
    return pk, R + ((r + h * a) % L).to_bytes(32, "little")


# The 8 points of order dividing 8: T8 generates them.
T8 = decode(bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"))
assert mul(8, T8) == IDENTITY and mul(4, T8) != IDENTITY


def sig_for_torsion_key(rng, pk, msg, main_scalar, torsion):
    """A signature the donna rule accepts for A = [main_scalar]B + torsion."""
    while True:
        r = rng.randrange(1, L)
        for k in range(8):
            R = encode(add(mul(r, B), neg(mul(k, torsion))))
            h = int.from_bytes(h512(R, pk, msg), "little") % L
            if h % 8 == k:
                return R + ((r + h * main_scalar) % L).to_bytes(32, "little")


def le(n):
    return n.to_bytes(32, "little")


def main():
    rng = random.Random(6)
    out = []

    def vec(name, pk, msg, sig, note):
        out.append({"name": name, "public": pk.hex(), "message": msg.hex(), "signature": sig.hex(),
                    "valid": verify(pk, msg, sig), "note": note})

    msg = bytes.fromhex("991CF190094C00F0B68E2E5F75F6BEE95A2E0BD93CEAA4A6734DB9F19B728948")
    pk, sig = sign(bytes(32), msg)
    s = int.from_bytes(sig[32:], "little")
    vec("honest", pk, msg, sig, "an ordinary signature")
    vec("s_plus_l", pk, msg, sig[:32] + le(s + L), "S + L < 2^253: reduced mod L, accepted")
    vec("s_plus_2l", pk, msg, sig[:32] + le(s + 2 * L), "S + 2L >= 2^253: top bits set, refused")
    vec("s_top_bit", pk, msg, sig[:63] + bytes([sig[63] | 0x80]), "bit 255 of S set")

    ident = encode(IDENTITY)
    neg_b = encode(neg(B))
    vec("identity_key_s_zero", ident, msg, ident + le(0), "A = identity, R = identity, S = 0")
    vec("identity_key_s_l", ident, msg, ident + le(L), "S = L is S = 0 mod L: accepted")
    vec("identity_key_s_l_minus_1", ident, msg, neg_b + le(L - 1), "S = L - 1, R = -B")
    vec("identity_key_s_l_plus_1", ident, msg, encode(B) + le(L + 1), "S = L + 1, R = B")
    vec("identity_key_any_message", ident, b"anything", encode(mul(12345, B)) + le(12345),
        "A = identity: R = [S]B verifies for every message")
    neg_zero = bytes(ident[:31]) + bytes([0x80])
    vec("identity_key_sign_bit_set", neg_zero, msg, ident + le(0), "x = 0 with the sign bit set")
    noncanon = (P + 1).to_bytes(32, "little")
    vec("identity_key_noncanonical_y", noncanon, msg, ident + le(0), "y = p + 1 (non-canonical)")
    vec("noncanonical_r_refused", ident, msg, noncanon + le(0),
        "R = non-canonical identity: bytes differ from the canonical encoding")
    bad_y = next(le(y) for y in range(2, 100) if decode(le(y)) is None)
    vec("key_not_on_curve", bad_y, msg, ident + le(0), "A's y has no x: refused")

    order2 = encode(mul(4, T8))
    vec("order_2_key", order2, msg, sig_for_torsion_key(rng, order2, msg, 0, mul(4, T8)),
        "A of order 2")
    t8 = encode(T8)
    vec("order_8_key", t8, msg, sig_for_torsion_key(rng, t8, msg, 0, T8), "A of order 8")

    a_main = rng.randrange(1, L)
    for k in (1, 3, 4):
        t = mul(k, T8)
        mixed = encode(add(mul(a_main, B), t))
        vec("mixed_key_t%d" % k, mixed, msg, sig_for_torsion_key(rng, mixed, msg, a_main, t),
            "A = [a]B + T: accepted only as the cofactorless rule computes it")
        # An honest-looking signature for the mixed key: valid iff h = 0 mod ord(T).
        r = rng.randrange(1, L)
        R = encode(mul(r, B))
        h = int.from_bytes(h512(R, mixed, msg), "little") % L
        vec("mixed_key_t%d_plain" % k, mixed, msg, R + le((r + h * a_main) % L),
            "R = [r]B, S = r + h a: the torsion part of [h]A is not cancelled")

    # An honest key, R with a torsion component: refused.
    a, prefix, pk = keypair(b"\x07" * 32)
    r = rng.randrange(1, L)
    R = encode(add(mul(r, B), T8))
    h = int.from_bytes(h512(R, pk, msg), "little") % L
    vec("r_with_torsion", pk, msg, R + le((r + h * a) % L), "R = [r]B + T8")
    for i in range(8):
        secret = bytes(rng.randrange(256) for _ in range(32))
        m = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        pk, sig = sign(secret, m)
        vec("random_%d" % i, pk, m, sig, "random key and message")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
