// Small helpers of the libuv drivers (the overlay's and the DHT's): their
// clock, libuv's error text, and converting addresses between SocketAddress
// and sockaddr. Internal: never installed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>

#include "chorus/base/result.h"
#include "chorus/overlay/config.h"

namespace chorus::overlay {

// The driver's clock for the core: uv_hrtime() (monotonic, arbitrary start)
// in microseconds. It never leaves this process (no wire field carries it).
int64_t now_us();

// "ECONNREFUSED: connection refused": libuv's name and message of `code`.
std::string uv_error(int code);

// An IPv4 or IPv6 sockaddr as host and port; kInvalidArgument for another family.
Result<SocketAddress> from_sockaddr(const sockaddr* sa);

// Parses `a.host` (IPv6 when it holds a ':') into `ss`. 0, or libuv's error.
int to_sockaddr(const SocketAddress& a, sockaddr_storage& ss);

}  // namespace chorus::overlay
