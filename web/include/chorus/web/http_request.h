// chorus::web::HttpRequest — what an HttpServer hands its handlers of one
// request (or of a WebSocket upgrade request).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace chorus::web {

struct HttpRequest {
  std::string method;  // "GET" or "POST"
  std::string path;    // "/", "/health", without the query
  std::string body;    // POST only
  std::string peer;    // the client's IP address, for per-client bounds
  // Only the headers the server was asked to keep (HttpServerOptions::
  // keep_headers), names in lower case, values as sent.
  std::vector<std::pair<std::string, std::string>> headers;

  std::optional<std::string> header(std::string_view lower_case_name) const {
    for (const auto& [name, value] : headers)
      if (name == lower_case_name) return value;
    return std::nullopt;
  }
};

}  // namespace chorus::web
