#include "chorus/overlay/uv_helpers.h"

namespace chorus::overlay {
namespace {
constexpr uint64_t kNanosPerMicro = 1000;
}  // namespace

int64_t now_us() {
  return static_cast<int64_t>(uv_hrtime() / kNanosPerMicro);
}

std::string uv_error(int code) {
  return std::string(uv_err_name(code)) + ": " + uv_strerror(code);
}

Result<SocketAddress> from_sockaddr(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = {};
  if (sa->sa_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(sa);
    uv_ip4_name(a, host, sizeof host);
    return SocketAddress{host, ntohs(a->sin_port)};
  }
  if (sa->sa_family == AF_INET6) {
    auto* a = reinterpret_cast<const sockaddr_in6*>(sa);
    uv_ip6_name(a, host, sizeof host);
    return SocketAddress{host, ntohs(a->sin6_port)};
  }
  return invalid_argument("unknown address family");
}

int to_sockaddr(const SocketAddress& a, sockaddr_storage& ss) {
  if (a.host.find(':') != std::string::npos) {
    return uv_ip6_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in6*>(&ss));
  }
  return uv_ip4_addr(a.host.c_str(), a.port, reinterpret_cast<sockaddr_in*>(&ss));
}

}  // namespace chorus::overlay
