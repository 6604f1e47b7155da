// HttpClient: libcurl's easy interface, one handle kept for keep-alive.
#include "chorus/web/http_client.h"

#include <curl/curl.h>

#include <mutex>

namespace chorus::web {
namespace {

// curl_global_init is not thread-safe; the first client runs it once.
void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string* body;
  size_t limit;
  bool over = false;
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* sink = static_cast<Sink*>(out);
  if (sink->body->size() + size * n > sink->limit) {
    sink->over = true;
    return 0;  // libcurl stops with CURLE_WRITE_ERROR
  }
  sink->body->append(data, size * n);
  return size * n;
}

}  // namespace

HttpClient::HttpClient(HttpClientOptions options) : options_(options) {
  init_curl_once();
  curl_ = curl_easy_init();
}

HttpClient::~HttpClient() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

Result<HttpResponse> HttpClient::post(const std::string& url, std::string_view body) {
  return perform(url, &body);
}

Result<HttpResponse> HttpClient::get(const std::string& url) {
  return perform(url, nullptr);
}

Result<HttpResponse> HttpClient::perform(const std::string& url, const std::string_view* body) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) return Error(ErrorCode::kIo, "libcurl could not make a handle");
  HttpResponse response;
  Sink sink{&response.body, options_.max_body_bytes};
  curl_easy_reset(curl);  // options only: the connection cache stays
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, options_.timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  }
  const CURLcode rc = curl_easy_perform(curl);
  long connects = 0;
  curl_easy_getinfo(curl, CURLINFO_NUM_CONNECTS, &connects);
  connects_ += connects;
  if (sink.over) {
    return Error(ErrorCode::kLimit, "answer from " + url + " above " +
                                        std::to_string(options_.max_body_bytes) + " bytes");
  }
  if (rc != CURLE_OK) return Error(ErrorCode::kIo, url + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  response.status = static_cast<int>(status);
  char* type = nullptr;
  curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &type);
  response.content_type = type ? type : "";
  return response;
}

}  // namespace chorus::web
