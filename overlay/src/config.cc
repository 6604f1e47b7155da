#include "chorus/overlay/config.h"

#include <arpa/inet.h>

#include <algorithm>

namespace chorus::overlay {

std::string SocketAddress::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<SocketAddress> parse_socket_address(const std::string& text) {
  std::string host, port;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return malformed("address '" + text + "': expected [V6]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) return malformed("address '" + text + "': expected HOST:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host == "localhost") host = "127.0.0.1";
  // inet_pton reads up to the first NUL: "1.2.3.4\0junk" would pass and keep
  // the junk in `host`, which then prints and parses as something else.
  if (host.find('\0') != std::string::npos) {
    return malformed("address '" + text + "': host must be a numeric IPv4 or IPv6 address");
  }
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) != 1 && inet_pton(AF_INET6, host.c_str(), buf) != 1) {
    return malformed("address '" + text + "': host must be a numeric IPv4 or IPv6 address");
  }
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != std::string::npos) {
    return malformed("address '" + text + "': port must be a number 0-65535");
  }
  unsigned long p = std::stoul(port);
  if (p > 65535) return malformed("address '" + text + "': port must be a number 0-65535");
  return SocketAddress{host, static_cast<uint16_t>(p)};
}

Result<void> OverlayConfig::validate() const {
  if (!frame_aead_library.empty() && frame_aead_library != "libsodium" &&
      frame_aead_library != "openssl") {
    return invalid_argument("frame_aead_library must be empty, \"libsodium\" or \"openssl\"");
  }
  if (max_frame_bytes < 1024 || max_frame_bytes > (256u << 20)) {
    return invalid_argument("max_frame_bytes must be within 1 KiB .. 256 MiB");
  }
  if (max_send_queue_bytes < 2 * max_frame_bytes) {
    return invalid_argument("max_send_queue_bytes must hold at least two frames");
  }
  if (link_write_window_bytes < (64u << 10) || link_write_window_bytes > max_send_queue_bytes) {
    return invalid_argument(
        "link_write_window_bytes must be within 64 KiB .. max_send_queue_bytes");
  }
  if (max_app_queue_bytes < max_frame_bytes || max_app_queue_bytes > max_send_queue_bytes) {
    return invalid_argument(
        "max_app_queue_bytes must be within max_frame_bytes .. max_send_queue_bytes");
  }
  if (handshake_timeout_ms <= 0 || ping_interval_ms <= 0 || ping_timeout_ms <= 0 ||
      request_timeout_ms <= 0 || reconnect_base_ms <= 0 || reconnect_max_ms < reconnect_base_ms ||
      peer_exchange_interval_ms <= 0 || rotate_interval_ms < 0 || seen_cache_age_ms <= 0 ||
      duplicate_link_grace_ms < 0) {
    return invalid_argument("timers must be positive (rotate_interval_ms may be 0)");
  }
  if (shout_hop_limit == 0) return invalid_argument("shout_hop_limit must be at least 1");
  if (seen_cache_entries == 0 || peer_book_entries == 0 || max_pending_requests == 0) {
    return invalid_argument("cache and table sizes must be at least 1");
  }
  if (peer_exchange_entries > 255) {
    return invalid_argument(
        "peer_exchange_entries must be at most 255 (one-byte count on the wire)");
  }
  for (size_t i = 0; i < compression.size(); ++i)
    for (size_t j = i + 1; j < compression.size(); ++j)
      if (compression[i] == compression[j])
        return invalid_argument("compression lists a method twice");
  if (preferred_compression && std::find(compression.begin(), compression.end(),
                                         *preferred_compression) == compression.end()) {
    return invalid_argument("preferred_compression must be one of the enabled methods");
  }
  if (shout_rate_per_s <= 0 || shout_burst < 1) {
    return invalid_argument("shout_rate_per_s and shout_burst must be positive");
  }
  if (relay_rate_per_s <= 0 || relay_burst < 1 || max_relay_pending == 0 ||
      relay_seen_entries == 0) {
    return invalid_argument(
        "relay_rate_per_s, relay_burst, max_relay_pending and relay_seen_entries must be positive");
  }
  if (max_pending_shout_verdicts == 0 || shout_verdict_timeout_ms <= 0) {
    return invalid_argument(
        "max_pending_shout_verdicts and shout_verdict_timeout_ms must be positive");
  }
  if (max_inbound_streams_per_peer == 0 || max_outbound_streams == 0 || max_stream_window == 0 ||
      stream_idle_timeout_ms <= 0) {
    return invalid_argument(
        "max_inbound_streams_per_peer, max_outbound_streams, max_stream_window and "
        "stream_idle_timeout_ms must be positive");
  }
  if (misbehaviour_limit <= 0 || misbehaviour_ban_ms <= 0 || max_bans == 0) {
    return invalid_argument(
        "misbehaviour_limit, misbehaviour_ban_ms and max_bans must be positive");
  }
  return {};
}

}  // namespace chorus::overlay
