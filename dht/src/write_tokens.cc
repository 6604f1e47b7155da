#include "write_tokens.h"

#include <sodium.h>

#include <string>

namespace chorus::dht {

WriteTokens::WriteTokens(overlay::Random& random, int64_t now_ms)
    : random_(random), rotated_ms_(now_ms) {
  for (auto& s : secret_) random_.fill(s.data(), s.size());
}

WriteToken WriteTokens::make(const PublicKey& sender, const Address& from, int generation) const {
  WriteToken t{};
  crypto_generichash_state st;
  const auto& secret = secret_[static_cast<size_t>(generation)];
  crypto_generichash_init(&st, secret.data(), secret.size(), t.size());
  crypto_generichash_update(&st, sender.data(), sender.size());
  std::string addr = from.to_string();
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>(addr.data()), addr.size());
  crypto_generichash_final(&st, t.data(), t.size());
  return t;
}

WriteToken WriteTokens::issue(const PublicKey& sender, const Address& from) const {
  return make(sender, from, 0);
}

bool WriteTokens::valid(const PublicKey& sender, const Address& from,
                        const WriteToken& token) const {
  for (int g = 0; g < kGenerations; ++g) {
    WriteToken want = make(sender, from, g);
    if (sodium_memcmp(want.data(), token.data(), token.size()) == 0) return true;
  }
  return false;
}

void WriteTokens::rotate_if_due(int64_t now_ms, int64_t rotate_ms) {
  if (now_ms - rotated_ms_ < rotate_ms) return;
  secret_[1] = secret_[0];
  random_.fill(secret_[0].data(), secret_[0].size());
  rotated_ms_ = now_ms;
}

}  // namespace chorus::dht
