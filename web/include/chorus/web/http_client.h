// chorus::web::HttpClient — a blocking HTTP/1.1 client (libcurl) for tools
// and tests that talk to a node's RPC or health endpoint: `chorus-nano
// devnet`, the benchmarks, the integration tests. One client keeps its
// connection alive between requests; it is not for the node's loop (it
// blocks the calling thread) and is used by one thread at a time.
//
//   HttpClient c;
//   auto r = c.post("http://127.0.0.1:7076/", R"({"action":"version"})");
//   if (r.ok() && r->status == 200) use(r->body);
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "chorus/base/result.h"
#include "chorus/web/http_server.h"

namespace chorus::web {

struct HttpClientOptions {
  long timeout_ms = 10000;           // the whole request, connect included
  size_t max_body_bytes = 64 << 20;  // an answer above this is kLimit
};

class HttpClient {
 public:
  explicit HttpClient(HttpClientOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // The answer, whatever its status; kIo when no answer came (refused,
  // timed out, cut), kLimit for an answer above max_body_bytes.
  Result<HttpResponse> post(const std::string& url, std::string_view body);
  Result<HttpResponse> get(const std::string& url);

  // Connections opened so far (1 after several requests on a kept-alive one).
  long connects() const { return connects_; }

 private:
  Result<HttpResponse> perform(const std::string& url, const std::string_view* body);
  HttpClientOptions options_;
  void* curl_;  // CURL*
  long connects_ = 0;
};

}  // namespace chorus::web
