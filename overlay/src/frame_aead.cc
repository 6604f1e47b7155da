#include "frame_aead.h"

#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <vector>

namespace chorus::overlay {

static_assert(crypto_aead_aes256gcm_NPUBBYTES == kFrameNonceBytes);
static_assert(crypto_aead_chacha20poly1305_IETF_NPUBBYTES == kFrameNonceBytes);
static_assert(crypto_aead_aes256gcm_ABYTES == kFrameTagBytes);
static_assert(crypto_aead_chacha20poly1305_IETF_ABYTES == kFrameTagBytes);

namespace {

const EVP_CIPHER* evp_cipher(Cipher c) {
  return c == Cipher::kAes256Gcm ? EVP_aes_256_gcm() : EVP_chacha20_poly1305();
}

// A failure of libcrypto on a keyed context with valid lengths is a broken
// library, not bad input: there is nothing a caller could do with it.
void check(int rc) {
  if (rc != 1) std::abort();
}

}  // namespace

FrameAead::FrameAead(const std::array<uint8_t, 32>& key, Cipher cipher, AeadLibrary library,
                     Direction direction)
    : key_(key), cipher_(cipher), library_(library) {
  // sodium_init() picks the fast (SIMD) implementations; without it
  // libsodium runs its portable code, several times slower.
  if (sodium_init() < 0) std::abort();
  if (library_ != AeadLibrary::kOpenSsl) return;
  ctx_ = EVP_CIPHER_CTX_new();
  if (ctx_ == nullptr) std::abort();
  // Key once; each frame then sets only its nonce (12 bytes, the default
  // IV length of both constructions).
  check(direction == Direction::kSeal
            ? EVP_EncryptInit_ex(ctx_, evp_cipher(cipher), nullptr, key_.data(), nullptr)
            : EVP_DecryptInit_ex(ctx_, evp_cipher(cipher), nullptr, key_.data(), nullptr));
}

FrameAead::~FrameAead() {
  EVP_CIPHER_CTX_free(ctx_);  // cleanses the expanded key
  sodium_memzero(key_.data(), key_.size());
}

void FrameAead::seal(const uint8_t* nonce, const uint8_t* ad, size_t ad_len,
                     const uint8_t* plaintext, size_t plaintext_len, uint8_t* out) {
  if (library_ == AeadLibrary::kLibsodium) {
    if (cipher_ == Cipher::kAes256Gcm) {
      crypto_aead_aes256gcm_encrypt(out, nullptr, plaintext, plaintext_len, ad, ad_len, nullptr,
                                    nonce, key_.data());
    } else {
      crypto_aead_chacha20poly1305_ietf_encrypt(out, nullptr, plaintext, plaintext_len, ad, ad_len,
                                                nullptr, nonce, key_.data());
    }
    return;
  }
  // Frames are bounded far below INT_MAX (Config::max_frame_bytes).
  if (plaintext_len > INT_MAX || ad_len > INT_MAX) std::abort();
  int n = 0;
  check(EVP_EncryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce));
  check(EVP_EncryptUpdate(ctx_, nullptr, &n, ad, static_cast<int>(ad_len)));
  int written = 0;
  if (plaintext_len > 0) {
    check(EVP_EncryptUpdate(ctx_, out, &written, plaintext, static_cast<int>(plaintext_len)));
  }
  check(EVP_EncryptFinal_ex(ctx_, out + written, &n));
  check(EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(kFrameTagBytes),
                            out + plaintext_len));
}

bool FrameAead::open(const uint8_t* nonce, const uint8_t* ad, size_t ad_len, uint8_t* data,
                     size_t len) {
  if (len < kFrameTagBytes) return false;
  const size_t plain_len = len - kFrameTagBytes;
  if (library_ == AeadLibrary::kLibsodium) {
    unsigned long long out_len = 0;
    // libsodium checks the tag before it decrypts anything.
    return (cipher_ == Cipher::kAes256Gcm
                ? crypto_aead_aes256gcm_decrypt(data, &out_len, nullptr, data, len, ad, ad_len,
                                                nonce, key_.data())
                : crypto_aead_chacha20poly1305_ietf_decrypt(data, &out_len, nullptr, data, len, ad,
                                                            ad_len, nonce, key_.data())) == 0;
  }
  if (plain_len > INT_MAX || ad_len > INT_MAX) return false;
  int n = 0;
  check(EVP_DecryptInit_ex(ctx_, nullptr, nullptr, nullptr, nonce));
  check(EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, static_cast<int>(kFrameTagBytes),
                            data + plain_len));
  check(EVP_DecryptUpdate(ctx_, nullptr, &n, ad, static_cast<int>(ad_len)));
  int written = 0;
  if (plain_len > 0) {
    check(EVP_DecryptUpdate(ctx_, data, &written, data, static_cast<int>(plain_len)));
  }
  if (EVP_DecryptFinal_ex(ctx_, data + written, &n) != 1) {
    // libcrypto decrypts before it checks the tag: wipe what it wrote.
    sodium_memzero(data, plain_len);
    return false;
  }
  return true;
}

namespace {

// Seconds to seal `frames` frames of `size` bytes.
double time_sealing(Cipher cipher, AeadLibrary library, size_t size, int frames) {
  std::array<uint8_t, 32> key{};
  std::array<uint8_t, kFrameNonceBytes> nonce{};
  std::array<uint8_t, 4> ad{};
  FrameAead aead(key, cipher, library, FrameAead::Direction::kSeal);
  std::vector<uint8_t> plain(size, 0x5a), out(size + kFrameTagBytes);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < frames; ++i) {
    nonce[11] = static_cast<uint8_t>(i);
    aead.seal(nonce.data(), ad.data(), ad.size(), plain.data(), plain.size(), out.data());
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// True when both libraries seal the same bytes to the same frame and each
// opens the other's: the probe never picks a library that disagrees.
bool libraries_agree(Cipher cipher) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 7 + 1);
  std::array<uint8_t, kFrameNonceBytes> nonce{};
  nonce[11] = 9;
  std::array<uint8_t, 4> ad{0, 0, 1, 3};
  std::vector<uint8_t> plain(243);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> a(plain.size() + kFrameTagBytes), b(a.size());
  FrameAead sa(key, cipher, AeadLibrary::kLibsodium, FrameAead::Direction::kSeal);
  FrameAead so(key, cipher, AeadLibrary::kOpenSsl, FrameAead::Direction::kSeal);
  sa.seal(nonce.data(), ad.data(), ad.size(), plain.data(), plain.size(), a.data());
  so.seal(nonce.data(), ad.data(), ad.size(), plain.data(), plain.size(), b.data());
  if (a != b) return false;
  FrameAead oa(key, cipher, AeadLibrary::kLibsodium, FrameAead::Direction::kOpen);
  FrameAead oo(key, cipher, AeadLibrary::kOpenSsl, FrameAead::Direction::kOpen);
  return oa.open(nonce.data(), ad.data(), ad.size(), b.data(), b.size()) &&
         oo.open(nonce.data(), ad.data(), ad.size(), a.data(), a.size()) && a == b &&
         std::equal(plain.begin(), plain.end(), a.begin());
}

AeadLibrary measure_fastest(Cipher cipher) {
  // libsodium has AES-256-GCM only with AES-NI; OpenSSL has it anywhere.
  if (cipher == Cipher::kAes256Gcm && !aes_gcm_available()) return AeadLibrary::kOpenSsl;
  if (!libraries_agree(cipher)) return AeadLibrary::kLibsodium;
  // A mix of the frames links carry: batches of small messages and bulk
  // 64 KiB ones. About a millisecond each; alternated, best of three, so a
  // busy other core sways it less.
  double best[2] = {1e9, 1e9};
  for (int round = 0; round < 3; ++round) {
    for (AeadLibrary lib : {AeadLibrary::kLibsodium, AeadLibrary::kOpenSsl}) {
      const double s = time_sealing(cipher, lib, 1024, 64) + time_sealing(cipher, lib, 65536, 8);
      double& b = best[lib == AeadLibrary::kOpenSsl];
      if (s < b) b = s;
    }
  }
  return best[1] < best[0] ? AeadLibrary::kOpenSsl : AeadLibrary::kLibsodium;
}

}  // namespace

AeadLibrary fastest_aead_library(Cipher cipher) {
  // Measured once per process and cipher (thread-safe statics).
  if (cipher == Cipher::kAes256Gcm) {
    static const AeadLibrary aes = measure_fastest(Cipher::kAes256Gcm);
    return aes;
  }
  static const AeadLibrary chacha = measure_fastest(Cipher::kChaCha20Poly1305);
  return chacha;
}

const char* aead_library_name(AeadLibrary library) {
  return library == AeadLibrary::kOpenSsl ? "openssl" : "libsodium";
}

}  // namespace chorus::overlay
