// HttpServer on an overlay node's loop (LoopHooks), asked over real TCP by
// libcurl: requests and answers, answers given later from another thread,
// keep-alive, and the bounds a client cannot get around.
#include "chorus/web/http_server.h"

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <thread>

#include "chorus/overlay/node.h"
#include "chorus/web/http_client.h"

namespace chorus::web {
namespace {

using namespace std::chrono_literals;

struct Reply {
  long status = 0;
  std::string body;
  CURLcode code = CURLE_OK;
};

size_t collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// One request through `curl` (reused, so keep-alive can be seen).
Reply call(CURL* curl, const std::string& method, const std::string& url,
           const std::string& body = "") {
  Reply r;
  curl_easy_reset(curl);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 10000L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  if (method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  r.code = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

// A node whose loop also runs an HttpServer with `handler`.
class ServerOnNode {
 public:
  explicit ServerOnNode(HttpHandler handler, HttpServerOptions options = {}) {
    overlay::NodeOptions o;
    o.listen = overlay::SocketAddress{"127.0.0.1", 0};
    auto node = overlay::Node::create(o);
    EXPECT_TRUE(node.ok());
    node_ = std::move(*node);
    std::promise<Result<uint16_t>> port;
    auto ready = port.get_future();
    overlay::LoopHooks hooks;
    hooks.started = [&, handler, options](uv_loop_s* loop) {
      auto s = HttpServer::start(loop, options, handler);
      if (!s.ok()) {
        port.set_value(s.error());
        return;
      }
      server_ = std::move(*s);
      port.set_value(server_->port());
    };
    hooks.stopping = [this] {
      if (server_) server_->stop();
    };
    EXPECT_TRUE(node_->add_loop_hooks(std::move(hooks)).ok());
    EXPECT_TRUE(node_->start().ok());
    EXPECT_EQ(ready.wait_for(10s), std::future_status::ready);
    started_ = ready.get();
  }
  ~ServerOnNode() {
    node_->stop();
    server_.reset();  // after its loop has finished
  }

  const Result<uint16_t>& started() const { return started_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(started_.ok() ? *started_ : 0) + path;
  }
  overlay::Node& node() { return *node_; }
  // Stats, read on the loop thread.
  HttpServerStats stats() {
    std::promise<HttpServerStats> p;
    auto f = p.get_future();
    node_->post([&] { p.set_value(server_->stats()); });
    return f.get();
  }

 private:
  std::unique_ptr<overlay::Node> node_;
  std::unique_ptr<HttpServer> server_;
  Result<uint16_t> started_ = Error(ErrorCode::kIo, "not started");
};

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() : curl_(curl_easy_init()) {}
  ~HttpServerTest() override { curl_easy_cleanup(curl_); }
  CURL* curl_;
};

TEST_F(HttpServerTest, AnswersPostsAndGetsOnOneKeptAliveConnection) {
  ServerOnNode s([](const HttpRequest& r, Responder reply) {
    reply({200, "application/json",
           R"({"method":")" + r.method + R"(","path":")" + r.path + R"(","peer":")" + r.peer +
               R"(","length":)" + std::to_string(r.body.size()) + "}"});
  });
  ASSERT_TRUE(s.started().ok()) << s.started().error().message();
  Reply post = call(curl_, "POST", s.url("/"), R"({"action":"version"})");
  ASSERT_EQ(post.code, CURLE_OK) << curl_easy_strerror(post.code);
  EXPECT_EQ(post.status, 200);
  EXPECT_EQ(post.body, R"({"method":"POST","path":"/","peer":"127.0.0.1","length":20})");
  Reply get = call(curl_, "GET", s.url("/health?x=1"));
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, R"({"method":"GET","path":"/health","peer":"127.0.0.1","length":0})");
  long connects = -1;
  curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0) << "the second request reused the first connection";
  EXPECT_EQ(s.stats().requests, 2u);
}

TEST_F(HttpServerTest, AnAnswerCanComeLaterFromAnotherThread) {
  std::unique_ptr<ServerOnNode> s;
  std::vector<std::thread> workers;
  s = std::make_unique<ServerOnNode>([&](const HttpRequest& r, Responder reply) {
    // Work elsewhere, then back to the loop to answer, as an RPC does.
    workers.emplace_back([&s, reply, body = r.body] {
      std::this_thread::sleep_for(20ms);  // the work itself, not a wait for an event
      s->node().post([reply, body] { reply({200, "text/plain", "done:" + body}); });
    });
  });
  ASSERT_TRUE(s->started().ok());
  Reply r = call(curl_, "POST", s->url("/"), "abc");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "done:abc");
  for (auto& w : workers) w.join();
}

TEST_F(HttpServerTest, ABodyOverTheBoundIs413AndOtherClientsGoOn) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  ServerOnNode s(
      [](const HttpRequest& r, Responder reply) {
        reply({200, "text/plain", r.body});
      },
      o);
  ASSERT_TRUE(s.started().ok());
  Reply big = call(curl_, "POST", s.url("/"), std::string(5000, 'x'));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("\"error\""), std::string::npos) << big.body;
  Reply fits = call(curl_, "POST", s.url("/"), std::string(1000, 'y'));
  EXPECT_EQ(fits.status, 200);
  EXPECT_EQ(fits.body.size(), 1000u);
  EXPECT_EQ(s.stats().refused_too_large, 1u);
}

TEST_F(HttpServerTest, OtherMethodsAre405) {
  ServerOnNode s([](const HttpRequest&, Responder reply) { reply({200, "text/plain", "x"}); });
  ASSERT_TRUE(s.started().ok());
  Reply put = call(curl_, "PUT", s.url("/"));
  EXPECT_NE(put.status, 200);
  Reply after = call(curl_, "GET", s.url("/"));
  EXPECT_EQ(after.status, 200);
}

TEST_F(HttpServerTest, ABusyPortIsAnIoErrorAndStoppingWithAnOpenRequestIsClean) {
  std::promise<void> asked;
  auto asked_f = asked.get_future();
  Responder kept;
  auto a = std::make_unique<ServerOnNode>([&](const HttpRequest&, Responder reply) {
    kept = reply;  // never answered
    asked.set_value();
  });
  ASSERT_TRUE(a->started().ok());
  HttpServerOptions taken;
  taken.port = *a->started();
  ServerOnNode b([](const HttpRequest&, Responder) {}, taken);
  ASSERT_FALSE(b.started().ok());
  EXPECT_EQ(b.started().error().code(), ErrorCode::kIo);

  std::thread client([&, url = a->url("/")] {
    CURL* c = curl_easy_init();
    Reply r = call(c, "POST", url, "{}");
    EXPECT_NE(r.code, CURLE_OK) << "the server went away without an answer";
    curl_easy_cleanup(c);
  });
  ASSERT_EQ(asked_f.wait_for(10s), std::future_status::ready);
  a.reset();  // stops the node with the request open
  client.join();
  EXPECT_FALSE(kept.pending());
  kept({200, "text/plain", "late"});  // after the server is gone: nothing happens
}

TEST(HttpClientTest, KeepsItsConnectionBoundsAnswersAndSaysWhenNoneCame) {
  ServerOnNode s([](const HttpRequest& r, Responder reply) {
    if (r.path == "/big") return reply({200, "text/plain", std::string(10000, 'b')});
    reply({201, "text/plain", r.method + ":" + r.body});
  });
  ASSERT_TRUE(s.started().ok());
  HttpClientOptions o;
  o.max_body_bytes = 5000;
  HttpClient client(o);
  auto posted = client.post(s.url("/"), "hello");
  ASSERT_TRUE(posted.ok()) << posted.error().message();
  EXPECT_EQ(posted->status, 201);
  EXPECT_EQ(posted->body, "POST:hello");
  EXPECT_EQ(posted->content_type, "text/plain");
  auto got = client.get(s.url("/x"));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->body, "GET:");
  EXPECT_EQ(client.connects(), 1) << "the second request reused the connection";
  auto big = client.get(s.url("/big"));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code(), ErrorCode::kLimit);
  EXPECT_TRUE(client.post(s.url("/"), "again").ok());  // the client goes on after it
  // Nobody listens on port 1 of loopback: refused at once.
  auto refused = client.post("http://127.0.0.1:1/", "{}");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kIo);
}

}  // namespace
}  // namespace chorus::web
