#include "ipc_codec.h"

#include <utility>

namespace chorus::nano::ipc {
namespace {

uint32_t read_be32(std::string_view s, size_t at) {
  return static_cast<uint32_t>(static_cast<uint8_t>(s[at])) << 24 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 1])) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 2])) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(s[at + 3]));
}

void put_be32(std::string& out, size_t n) {
  out.push_back(static_cast<char>(n >> 24 & 0xff));
  out.push_back(static_cast<char>(n >> 16 & 0xff));
  out.push_back(static_cast<char>(n >> 8 & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
}

}  // namespace

FrameReader::FrameReader(FrameLimits limits, uint8_t major) : limits_(limits), major_(major) {}

void FrameReader::feed(std::string_view bytes) {
  if (failed_) return;
  // Drop what was taken before growing, so the buffer holds one frame and
  // what came after it, never the whole history of the stream.
  if (at_ > 0 && at_ >= buf_.size() / 2) {
    buf_.erase(0, at_);
    at_ = 0;
  }
  buf_.append(bytes);
}

Result<std::optional<Frame>> FrameReader::next() {
  if (failed_) return *failed_;
  const std::string_view in = std::string_view(buf_).substr(at_);
  auto fail = [&](chorus::Error e) -> Result<std::optional<Frame>> {
    failed_ = e;
    buf_.clear();
    at_ = 0;
    return e;
  };
  // Each preamble byte is judged as soon as it arrives.
  if (in.size() >= 1 && static_cast<uint8_t>(in[0]) != kLead)
    return fail(malformed("not an IPC frame: it must start with 'N'"));
  if (in.size() >= 2 && static_cast<uint8_t>(in[1]) != kEncodingProtobuf)
    return fail(malformed("encoding " + std::to_string(static_cast<uint8_t>(in[1])) +
                          " not spoken: this node's IPC is protobuf (0x01)"));
  if (in.size() >= 3 && static_cast<uint8_t>(in[2]) != major_) {
    peer_major_ = static_cast<uint8_t>(in[2]);
    return fail(protocol_error("IPC major version " + std::to_string(peer_major_) +
                               " not spoken: this side speaks " + std::to_string(major_) + "." +
                               std::to_string(kMinor) + " (any " + std::to_string(major_) +
                               ".x is accepted)"));
  }
  size_t at = kPreambleBytes;
  if (in.size() < at + 4) return std::optional<Frame>();
  const uint32_t header_len = read_be32(in, at);
  if (header_len > limits_.max_header_bytes)
    return fail(limit_exceeded("header of " + std::to_string(header_len) + " bytes; the bound is " +
                               std::to_string(limits_.max_header_bytes)));
  at += 4;
  if (in.size() < at + header_len + 4) return std::optional<Frame>();
  const uint32_t body_len = read_be32(in, at + header_len);
  if (body_len > limits_.max_body_bytes)
    return fail(limit_exceeded("body of " + std::to_string(body_len) + " bytes; the bound is " +
                               std::to_string(limits_.max_body_bytes)));
  if (in.size() < at + header_len + 4 + body_len) return std::optional<Frame>();
  Frame f;
  f.major = static_cast<uint8_t>(in[2]);
  f.minor = static_cast<uint8_t>(in[3]);
  f.header.assign(in.substr(at, header_len));
  f.body.assign(in.substr(at + header_len + 4, body_len));
  at_ += at + header_len + 4 + body_len;
  if (at_ == buf_.size()) {
    buf_.clear();
    at_ = 0;
  }
  return std::optional<Frame>(std::move(f));
}

std::string encode_frame(std::string_view header, std::string_view body, uint8_t major,
                         uint8_t minor) {
  std::string out;
  out.reserve(kPreambleBytes + 8 + header.size() + body.size());
  out.push_back(static_cast<char>(kLead));
  out.push_back(static_cast<char>(kEncodingProtobuf));
  out.push_back(static_cast<char>(major));
  out.push_back(static_cast<char>(minor));
  put_be32(out, header.size());
  out.append(header);
  put_be32(out, body.size());
  out.append(body);
  return out;
}

std::string encode_response(const ResponseHeader& header, std::string_view body) {
  return encode_frame(header.SerializeAsString(), body);
}

std::string encode_error(RequestType type, std::string_view correlation_id, ErrorCode code,
                         std::string_view message) {
  ResponseHeader h;
  h.set_type(type);
  h.set_correlation_id(std::string(correlation_id));
  h.mutable_error()->set_code(code);
  h.mutable_error()->set_message(std::string(message));
  return encode_response(h, {});
}

}  // namespace chorus::nano::ipc
