#include "chorus/relay/channel_password.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdlib>

#include "chorus/base/bytes.h"

namespace chorus::relay {

PasswordHash hash_password(std::string_view channel, std::string_view password, int iterations) {
  PasswordHash out{};
  // Fails only when OpenSSL cannot allocate; a relay that cannot hash
  // cannot check passwords either, so it stops rather than accept one.
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(channel.data()),
                        static_cast<int>(channel.size()), iterations, EVP_sha256(),
                        static_cast<int>(out.size()), out.data()) != 1)
    std::abort();
  return out;
}

bool password_matches(const PasswordHash& stored, std::string_view channel,
                      std::string_view password, int iterations) {
  const PasswordHash given = hash_password(channel, password, iterations);
  return CRYPTO_memcmp(stored.data(), given.data(), stored.size()) == 0;
}

std::string hash_to_hex(const PasswordHash& hash) {
  return to_hex(ByteView(hash.data(), hash.size()));
}

std::optional<PasswordHash> hash_from_hex(std::string_view hex) {
  auto bytes = from_hex(hex);
  if (!bytes || bytes->size() != PasswordHash{}.size()) return std::nullopt;
  PasswordHash out;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

}  // namespace chorus::relay
