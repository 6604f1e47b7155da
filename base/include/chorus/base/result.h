// Result<T>: the error type at every Chorus module boundary.
//
// A Result holds either a value or an Error (a small code plus a message a
// person can read). Success costs no allocation; errors are values a caller
// can branch on (`code()`), log (`message()`), or pass up unchanged.
// Exceptions never cross a module; programmer errors assert.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace chorus {

enum class ErrorCode {
  kInvalidArgument,  // the caller passed something malformed
  kMalformed,        // bytes from outside did not parse
  kAuthFailed,       // a signature or AEAD tag did not verify
  kProtocol,         // a peer broke the protocol (wrong version, bad state)
  kLimit,            // a configured bound was exceeded
  kNotFound,         // no such peer, key, app or request
  kTimeout,          // the answer did not arrive in time
  kCancelled,        // the operation was ended by close/stop before finishing
  kRefused,          // the peer answered NACK or refused the operation
  kIo,               // the operating system reported an error
  kExists,           // the thing is already there (duplicate registration)
};

const char* error_code_name(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "code-name: message", for logs.
  std::string to_string() const { return std::string(error_code_name(code_)) + ": " + message_; }

 private:
  ErrorCode code_;
  std::string message_;
};

inline Error invalid_argument(std::string m) {
  return {ErrorCode::kInvalidArgument, std::move(m)};
}
inline Error malformed(std::string m) {
  return {ErrorCode::kMalformed, std::move(m)};
}
inline Error auth_failed(std::string m) {
  return {ErrorCode::kAuthFailed, std::move(m)};
}
inline Error protocol_error(std::string m) {
  return {ErrorCode::kProtocol, std::move(m)};
}
inline Error limit_exceeded(std::string m) {
  return {ErrorCode::kLimit, std::move(m)};
}
inline Error not_found(std::string m) {
  return {ErrorCode::kNotFound, std::move(m)};
}
inline Error timed_out(std::string m) {
  return {ErrorCode::kTimeout, std::move(m)};
}
inline Error cancelled(std::string m) {
  return {ErrorCode::kCancelled, std::move(m)};
}
inline Error refused(std::string m) {
  return {ErrorCode::kRefused, std::move(m)};
}
inline Error io_error(std::string m) {
  return {ErrorCode::kIo, std::move(m)};
}

inline const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kMalformed:
      return "malformed";
    case ErrorCode::kAuthFailed:
      return "auth-failed";
    case ErrorCode::kProtocol:
      return "protocol";
    case ErrorCode::kLimit:
      return "limit";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kCancelled:
      return "cancelled";
    case ErrorCode::kRefused:
      return "refused";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kExists:
      return "exists";
  }
  return "unknown";
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_{ErrorCode::kInvalidArgument, ""};
  bool ok_ = true;
};

}  // namespace chorus
