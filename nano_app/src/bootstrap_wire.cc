#include "chorus/nano/bootstrap_wire.h"

#include <cstring>

namespace chorus::nano {
namespace {

void put_u32(Bytes& b, uint32_t v) {
  for (int i = 3; i >= 0; --i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
uint32_t get_u32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3];
}
template <size_t N>
void put(Bytes& b, const std::array<uint8_t, N>& a) {
  b.insert(b.end(), a.begin(), a.end());
}
template <size_t N>
std::array<uint8_t, N> get(const uint8_t* p) {
  std::array<uint8_t, N> a;
  std::memcpy(a.data(), p, N);
  return a;
}

}  // namespace

Bytes serialize_bootstrap_request(const BootstrapRequest& r) {
  Bytes b;
  if (const auto* f = std::get_if<FrontiersRequest>(&r)) {
    b.push_back('F');
    put(b, f->start);
    put_u32(b, f->count);
  } else {
    const auto& c = std::get<ChainRequest>(r);
    b.push_back('C');
    put(b, c.account);
    put(b, c.after);
    put_u32(b, c.count);
  }
  return b;
}

Result<BootstrapRequest> parse_bootstrap_request(ByteView bytes) {
  if (bytes.size() == 1 + 32 + 4 && bytes[0] == 'F')
    return BootstrapRequest{FrontiersRequest{get<32>(&bytes[1]), get_u32(&bytes[33])}};
  if (bytes.size() == 1 + 32 + 32 + 4 && bytes[0] == 'C')
    return BootstrapRequest{
        ChainRequest{get<32>(&bytes[1]), get<32>(&bytes[33]), get_u32(&bytes[65])}};
  return malformed("bootstrap request: " + std::to_string(bytes.size()) +
                   " bytes are neither a frontiers nor a chain request");
}

Bytes serialize_frontiers(const std::vector<Frontier>& page) {
  Bytes b;
  b.reserve(page.size() * 64);
  for (const auto& [account, head] : page) {
    put(b, account);
    put(b, head);
  }
  return b;
}

Result<std::vector<Frontier>> parse_frontiers(ByteView bytes) {
  if (bytes.empty() || bytes.size() % 64 != 0 || bytes.size() / 64 > kFrontiersPerPage)
    return malformed("frontiers page: " + std::to_string(bytes.size()) + " bytes");
  std::vector<Frontier> page;
  page.reserve(bytes.size() / 64);
  for (size_t at = 0; at < bytes.size(); at += 64) {
    Frontier f{get<32>(&bytes[at]), get<32>(&bytes[at + 32])};
    if (!page.empty() && !(page.back().first < f.first))
      return malformed("frontiers page: accounts not ascending");
    page.push_back(f);
  }
  return page;
}

}  // namespace chorus::nano
