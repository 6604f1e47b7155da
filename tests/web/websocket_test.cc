// WebSocket endpoints of HttpServer, over real TCP, with the library's own
// WebSocketClient and, where a client must misbehave, a raw socket.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <optional>
#include <vector>

#include "chorus/web/http_server.h"
#include "chorus/web/loop_thread.h"
#include "chorus/web/websocket_client.h"
#include "tls_files.h"

namespace chorus::web {
namespace {

using namespace std::chrono_literals;

// A server on a loop thread of its own; what its handlers saw, under mu.
class WsServer {
 public:
  explicit WsServer(HttpServerOptions options = {}) {
    WebSocketHandlers ws;
    ws.accept = [this](const HttpRequest& r) {
      std::lock_guard<std::mutex> lock(mu);
      auth.push_back(r.header("authentication").value_or("(none)"));
      if (r.path == "/forbidden") return 403;
      return r.path == "/echo" ? 0 : 404;
    };
    ws.on_open = [this](WebSocket c) {
      std::lock_guard<std::mutex> lock(mu);
      ++opened;
      last = c;
    };
    ws.on_message = [this](WebSocket c, std::string m) {
      if (m == "close-me") {
        (void)c.send("you asked");
        c.close(4001, "as asked");
        return;
      }
      if (m.rfind("flood ", 0) == 0) {
        const int n = std::stoi(m.substr(6));
        for (int i = 0; i < n; ++i)
          if (!c.send(std::string(64 * 1024, 'x')).ok()) {
            refused_sends.fetch_add(1);
            break;
          }
        return;
      }
      (void)c.send("echo " + m);
    };
    ws.on_close = [this](WebSocket, int code, const std::string& reason) {
      std::lock_guard<std::mutex> lock(mu);
      closes.emplace_back(code, reason);
      cv.notify_all();
    };
    loop_ = LoopThread::start("ws-test").value();
    std::promise<Result<uint16_t>> started;
    auto f = started.get_future();
    loop_->post([&](uv_loop_s* loop) {
      auto s = HttpServer::start(
          loop, options,
          [](const HttpRequest&, Responder reply) {
            reply({200, "text/plain", "hi"});
          },
          ws);
      if (!s.ok()) {
        started.set_value(s.error());
        return;
      }
      server_ = std::move(*s);
      started.set_value(server_->port());
    });
    auto r = f.get();
    EXPECT_TRUE(r.ok());
    port = r.ok() ? *r : 0;
  }
  ~WsServer() { stop(); }
  void stop() {
    if (!loop_) return;
    loop_->stop([this] {
      if (server_) server_->stop();
    });
    server_.reset();
    loop_.reset();
  }
  HttpServerStats stats() {
    std::promise<HttpServerStats> p;
    auto f = p.get_future();
    loop_->post([&](uv_loop_s*) { p.set_value(server_->stats()); });
    return f.get();
  }
  bool wait_closes(size_t n) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, 5s, [&] { return closes.size() >= n; });
  }

  uint16_t port = 0;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> auth;
  std::vector<std::pair<int, std::string>> closes;
  int opened = 0;
  WebSocket last;
  std::atomic<int> refused_sends{0};

 private:
  std::unique_ptr<LoopThread> loop_;
  std::unique_ptr<HttpServer> server_;
};

TEST(WebSocketTest, EchoesMessagesSeesHeadersAndHearsTheClientsCloseCode) {
  WsServer server;
  auto client = WebSocketClient::start().value();
  WebSocketConnectOptions o;
  o.headers = {{"Authentication", "token-123"}};
  auto ws = client->connect("127.0.0.1", server.port, "/echo", o);
  ASSERT_TRUE(ws.ok()) << ws.error().message();
  for (int i = 0; i < 50; ++i) ASSERT_TRUE((*ws)->send("m" + std::to_string(i)).ok());
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ((*ws)->receive(5s).value_or("(nothing)"), "echo m" + std::to_string(i));
  (*ws)->close(4000, "bye");
  ASSERT_TRUE(server.wait_closes(1));
  std::lock_guard<std::mutex> lock(server.mu);
  EXPECT_EQ(server.auth, std::vector<std::string>{"token-123"});
  EXPECT_EQ(server.closes[0], std::make_pair(4000, std::string("bye")));
  EXPECT_FALSE(server.last.open());
  EXPECT_FALSE(server.last.send("late").ok()) << "a handle outliving its connection refuses";
}

TEST(WebSocketTest, TlsServesHttpsAndWssAndRefusesPlainClients) {
  testing::TlsFiles tls;
  ASSERT_TRUE(tls.valid);
  HttpServerOptions o;
  o.tls_cert_file = tls.cert;
  o.tls_key_file = tls.key;
  WsServer server(o);
  ASSERT_NE(server.port, 0);
  auto client = WebSocketClient::start().value();
  WebSocketConnectOptions secure;
  secure.tls = true;
  secure.tls_insecure = true;  // self-signed
  auto ws = client->connect("127.0.0.1", server.port, "/echo", secure);
  ASSERT_TRUE(ws.ok()) << ws.error().message();
  ASSERT_TRUE((*ws)->send("over tls").ok());
  EXPECT_EQ((*ws)->receive(5s).value_or("(nothing)"), "echo over tls");
  // Verified against the system's CAs, a self-signed certificate fails.
  WebSocketConnectOptions strict;
  strict.tls = true;
  EXPECT_FALSE(client->connect("127.0.0.1", server.port, "/echo", strict).ok());
  // A client speaking plain WebSocket to the TLS port gets nowhere.
  EXPECT_FALSE(client->connect("127.0.0.1", server.port, "/echo").ok());
  // Missing files: a clear error, not a server without TLS.
  HttpServerOptions missing;
  missing.tls_cert_file = tls.cert + ".gone";
  missing.tls_key_file = tls.key;
  auto loop = LoopThread::start("tls-missing").value();
  std::promise<std::optional<Error>> refused;
  auto f = refused.get_future();
  loop->post([&](uv_loop_s* l) {
    auto s = HttpServer::start(l, missing, [](const HttpRequest&, Responder) {});
    refused.set_value(s.ok() ? std::nullopt : std::optional<Error>(s.error()));
  });
  const std::optional<Error> e = f.get();
  ASSERT_TRUE(e.has_value()) << "started without its certificate";
  EXPECT_EQ(e->code(), ErrorCode::kInvalidArgument) << e->message();
  loop->stop([] {});
}

TEST(WebSocketTest, RefusedUpgradesGetTheirHttpStatusAndPlainHttpStillWorks) {
  WsServer server;
  auto client = WebSocketClient::start().value();
  auto forbidden = client->connect("127.0.0.1", server.port, "/forbidden");
  ASSERT_FALSE(forbidden.ok());
  EXPECT_EQ(forbidden.error().code(), ErrorCode::kRefused);
  EXPECT_EQ(forbidden.error().message(), "HTTP 403");
  auto missing = client->connect("127.0.0.1", server.port, "/nowhere");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message(), "HTTP 404");
  EXPECT_EQ(server.stats().ws_refused, 2u);
  auto ok = client->connect("127.0.0.1", server.port, "/echo");
  ASSERT_TRUE(ok.ok()) << ok.error().message();
}

TEST(WebSocketTest, ServerCloseWritesWhatWasQueuedThenTheCodeAndReason) {
  WsServer server;
  auto client = WebSocketClient::start().value();
  auto ws = client->connect("127.0.0.1", server.port, "/echo").value();
  ASSERT_TRUE(ws->send("close-me").ok());
  EXPECT_EQ(ws->receive(5s).value_or("(nothing)"), "you asked");
  EXPECT_EQ(ws->wait_closed(5s).value_or(-1), 4001);
  EXPECT_EQ(ws->close_reason(), "as asked");
  ASSERT_TRUE(server.wait_closes(1));
  std::lock_guard<std::mutex> lock(server.mu);
  EXPECT_EQ(server.closes[0].first, 4001);
}

TEST(WebSocketTest, AnOversizedMessageClosesWith1009AndOthersAreStillServed) {
  HttpServerOptions o;
  o.max_ws_message_bytes = 1000;
  WsServer server(o);
  auto client = WebSocketClient::start().value();
  auto big = client->connect("127.0.0.1", server.port, "/echo").value();
  auto small = client->connect("127.0.0.1", server.port, "/echo").value();
  ASSERT_TRUE(big->send(std::string(5000, 'b')).ok());
  EXPECT_EQ(big->wait_closed(5s).value_or(-1), 1009);
  ASSERT_TRUE(small->send("still here").ok());
  EXPECT_EQ(small->receive(5s).value_or("(nothing)"), "echo still here");
  EXPECT_EQ(server.stats().ws_closed_too_big, 1u);
}

// A client that upgrades by hand and then never reads.
int raw_upgrade(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  const int small = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) return -1;
  const std::string req =
      "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  if (::send(fd, req.data(), req.size(), 0) != static_cast<ssize_t>(req.size())) return -1;
  char buf[512];
  if (::recv(fd, buf, sizeof buf, 0) <= 0) return -1;  // the 101
  return fd;
}

void send_masked(int fd, const std::string& text) {
  std::string f;
  f.push_back(static_cast<char>(0x81));
  f.push_back(static_cast<char>(0x80 | text.size()));
  const char mask[4] = {1, 2, 3, 4};
  f.append(mask, 4);
  for (size_t i = 0; i < text.size(); ++i) f.push_back(static_cast<char>(text[i] ^ mask[i % 4]));
  ASSERT_EQ(::send(fd, f.data(), f.size(), 0), static_cast<ssize_t>(f.size()));
}

TEST(WebSocketTest, AClientThatDoesNotReadIsClosedAtTheQueueBound) {
  HttpServerOptions o;
  o.max_ws_queued_bytes = 512 * 1024;
  WsServer server(o);
  const int fd = raw_upgrade(server.port);
  ASSERT_GE(fd, 0);
  send_masked(fd, "flood 200");  // 200 x 64 KiB, never read
  ASSERT_TRUE(server.wait_closes(1));
  EXPECT_EQ(server.refused_sends.load(), 1);
  EXPECT_EQ(server.stats().ws_closed_slow, 1u);
  ::close(fd);
  auto client = WebSocketClient::start().value();
  auto ws = client->connect("127.0.0.1", server.port, "/echo").value();
  ASSERT_TRUE(ws->send("next").ok());
  EXPECT_EQ(ws->receive(5s).value_or("(nothing)"), "echo next");
}

TEST(WebSocketTest, ConnectingToNothingFailsAndStoppingTheServerClosesClients) {
  auto client = WebSocketClient::start().value();
  uint16_t port = 0;
  {
    WsServer gone;
    port = gone.port;
  }
  auto none = client->connect("127.0.0.1", port, "/echo");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code(), ErrorCode::kIo);

  WsServer server;
  auto ws = client->connect("127.0.0.1", server.port, "/echo").value();
  server.stop();
  EXPECT_TRUE(ws->wait_closed(5s).has_value());
  EXPECT_FALSE(ws->send("after").ok());
}

}  // namespace
}  // namespace chorus::web
