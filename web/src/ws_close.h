// Writing a WebSocket close frame ourselves, for the server and the client.
//
// The usual way with libwebsockets is lws_close_reason() and returning -1
// from the callback. Debian's libwebsockets 4.1 is a _DEBUG build, which on
// a libuv loop closes such a connection a second time at once ("uv repeat
// test" in lib/core-net/service.c) and so drops the close frame: the peer
// never learns the code. Writing the frame from a writable callback and
// letting the peer's answering close (or a timeout) end the connection
// keeps the code on the wire.
#pragma once

#include <libwebsockets.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace chorus::web {

// The library's opcode for close frames (its LWS_WRITE_CLOSE, 4), which
// its public header leaves out; lws_write() takes it.
inline constexpr auto kLwsWriteClose = static_cast<lws_write_protocol>(4);

// From a writable callback: the close frame with `code` and up to 123 bytes
// of `reason`, then at most `wait_s` seconds for the peer's answer. False
// when the write failed (return -1 from the callback then).
inline bool write_close_frame(lws* wsi, int code, const std::string& reason, int wait_s) {
  unsigned char frame[LWS_PRE + 125];
  unsigned char* p = frame + LWS_PRE;
  p[0] = static_cast<unsigned char>(code >> 8);
  p[1] = static_cast<unsigned char>(code & 0xff);
  const size_t n = std::min<size_t>(reason.size(), 123);
  std::memcpy(p + 2, reason.data(), n);
  if (lws_write(wsi, p, n + 2, kLwsWriteClose) < 0) return false;
  lws_set_timeout(wsi, PENDING_TIMEOUT_CLOSE_ACK, wait_s);
  return true;
}

}  // namespace chorus::web
