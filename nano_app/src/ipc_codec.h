// IPC framing (spec/ipc.md), with no I/O: what the node's IPC server and
// the `chorus-nano ipc` client both read and write.
//
//   frame := 'N' 0x01 major minor   the preamble (protobuf encoding, version)
//            u32 BE n  header[n]    RequestHeader or ResponseHeader
//            u32 BE m  body[m]      the request, response or Event message
//
// FrameReader is fed bytes as they arrive, in pieces of any size, and
// gives back complete frames, or the reason the stream cannot be read on:
// a wrong lead or encoding byte, another major version, a length above the
// bound. The header and body stay bytes here; ipc_actions.h knows what
// they hold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "chorus/base/result.h"
#include "ipc.pb.h"

namespace chorus::nano::ipc {

inline constexpr uint8_t kLead = 'N';
inline constexpr uint8_t kEncodingProtobuf = 0x01;
// The protocol's version (spec/ipc.md, "Versions"): a compatible change
// (a field, a request type, an enum value added) raises the minor; any
// other the major. Both sides accept any minor of their major.
inline constexpr uint8_t kMajor = 1;
inline constexpr uint8_t kMinor = 0;
inline constexpr size_t kPreambleBytes = 4;
inline constexpr size_t kMaxCorrelationIdBytes = 256;

struct Frame {
  uint8_t major = 0;
  uint8_t minor = 0;
  std::string header;  // protobuf bytes
  std::string body;
};

struct FrameLimits {
  size_t max_header_bytes = 1024;
  size_t max_body_bytes = size_t{1} << 20;
};

class FrameReader {
 public:
  explicit FrameReader(FrameLimits limits = {}, uint8_t major = kMajor);

  // Appends bytes. The reader holds what it is given until next() takes
  // it: the caller bounds that by reading from the socket only while it
  // wants frames (buffered() tells).
  void feed(std::string_view bytes);

  // The next complete frame, or nullopt until more bytes come. Errors, at
  // the first byte that shows them, and for good (the stream is lost):
  //   kMalformed  the lead byte is not 'N' or the encoding not 0x01
  //   kProtocol   another major version (the message says both)
  //   kLimit      a header or body length above the bound
  Result<std::optional<Frame>> next();

  size_t buffered() const { return buf_.size() - at_; }
  // The major version of the frame that failed (kProtocol).
  uint8_t peer_major() const { return peer_major_; }

 private:
  FrameLimits limits_;
  uint8_t major_;
  std::string buf_;
  size_t at_ = 0;  // bytes of buf_ already taken
  std::optional<chorus::Error> failed_;
  uint8_t peer_major_ = 0;
};

// One frame's bytes: the preamble (kMajor, kMinor unless told), then
// `header` and `body` with their lengths.
std::string encode_frame(std::string_view header, std::string_view body, uint8_t major = kMajor,
                         uint8_t minor = kMinor);

// A response or event frame.
std::string encode_response(const ResponseHeader& header, std::string_view body);
// An error response (empty body) echoing `type` and `correlation_id`.
std::string encode_error(RequestType type, std::string_view correlation_id, ErrorCode code,
                         std::string_view message);

}  // namespace chorus::nano::ipc
