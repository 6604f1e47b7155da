// IpcServer, the libuv driver of the IPC sessions (spec/ipc.md), over real
// sockets: a Unix socket made 0600 and loopback TCP, pipelined requests
// answered in order, events to a subscriber, clients that send garbage or
// leave mid-frame, `stop` told to the owner, and the socket file removed.
#include "ipc_server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <mutex>

#include "block_maker.h"
#include "chorus/nano/account.h"
#include "chorus/nano/ledger.h"
#include "chorus/nano/memory_store.h"
#include "ipc_codec.h"
#include "test_store.h"

namespace chorus::nano {
namespace {

using namespace test;  // NOLINT: the fixtures' keys and block makers

// A blocking client with a 10 s bound on every read.
class Client {
 public:
  static Client unix_socket(const std::string& path) {
    Client c(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    EXPECT_EQ(::connect(c.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return c;
  }
  static Client tcp(uint16_t port) {
    Client c(::socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(c.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    return c;
  }
  Client(Client&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      ASSERT_GT(n, 0);
      bytes.remove_prefix(static_cast<size_t>(n));
    }
  }
  void request(ipc::RequestType type, const google::protobuf::Message& body,
               const std::string& correlation_id = "") {
    ipc::RequestHeader h;
    h.set_type(type);
    h.set_correlation_id(correlation_id);
    send(ipc::encode_frame(h.SerializeAsString(), body.SerializeAsString()));
  }
  // The next frame's header (and body), or nullopt once the node closes.
  std::optional<ipc::ResponseHeader> next(std::string* body = nullptr) {
    for (;;) {
      auto f = reader_.next();
      EXPECT_TRUE(f.ok());
      if (!f.ok()) return std::nullopt;
      if (*f) {
        ipc::ResponseHeader h;
        EXPECT_TRUE(h.ParseFromString((*f)->header));
        if (body) *body = (*f)->body;
        return h;
      }
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return std::nullopt;
      reader_.feed(std::string_view(buf, static_cast<size_t>(n)));
    }
  }

 private:
  explicit Client(int fd) : fd_(fd) {
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  int fd_;
  ipc::FrameReader reader_;
};

class IpcServerTest : public ::testing::Test, protected BlockMaker {
 protected:
  IpcServerTest() : store_(make_memory_store()), ledger_(net_) {
    auto txn = store_->begin_write();
    ledger_.initialize(*txn, kNow);
    EXPECT_TRUE(txn->commit().ok());
  }
  ~IpcServerTest() override {
    if (server_) server_->stop();
  }

  void start() {
    IpcServerContext c;
    c.socket_path = dir_.path() + "/ipc.sock";
    c.tcp = overlay::SocketAddress{"127.0.0.1", 0};
    c.rpc = std::make_unique<RpcHandler>(net_, *store_, RpcServices{});
    c.subscribe = [this](NodeEventListener l) {
      std::lock_guard<std::mutex> lock(mu_);
      listener_ = std::move(l);
      return uint64_t{1};
    };
    c.unsubscribe = [this](uint64_t) {
      std::lock_guard<std::mutex> lock(mu_);
      listener_ = nullptr;
    };
    c.on_stop = [this] { stopped_.set_value(); };
    auto s = IpcServer::start(std::move(c));
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
  }
  void emit(const NodeEvent& e) {
    std::lock_guard<std::mutex> lock(mu_);
    if (listener_) listener_(e);
  }

  TempDir dir_;
  std::unique_ptr<LedgerStore> store_;
  Ledger ledger_;
  std::unique_ptr<IpcServer> server_;
  std::mutex mu_;
  NodeEventListener listener_;
  std::promise<void> stopped_;
};

TEST_F(IpcServerTest, ListensOnlyWhereTheHostAloneReaches) {
  start();
  struct stat st {};
  ASSERT_EQ(::stat(server_->socket_path().c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_TRUE(server_->tcp_address().has_value());
  EXPECT_NE(server_->tcp_address()->port, 0);

  IpcServerContext off;
  off.tcp = overlay::SocketAddress{"0.0.0.0", 0};
  off.rpc = std::make_unique<RpcHandler>(net_, *store_, RpcServices{});
  auto refused = IpcServer::start(std::move(off));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kInvalidArgument);

  IpcServerContext taken;
  taken.socket_path = server_->socket_path();
  taken.rpc = std::make_unique<RpcHandler>(net_, *store_, RpcServices{});
  auto busy = IpcServer::start(std::move(taken));
  ASSERT_FALSE(busy.ok()) << "a live node's socket is not taken over";
  EXPECT_NE(busy.error().message().find("in use"), std::string::npos);

  const std::string path = server_->socket_path();
  server_->stop();
  EXPECT_NE(::access(path.c_str(), F_OK), 0) << "the socket file is removed at stop";
}

TEST_F(IpcServerTest, PipelinedRequestsAreAnsweredInOrderOverBothTransports) {
  start();
  for (int transport = 0; transport < 2; ++transport) {
    Client c = transport == 0 ? Client::unix_socket(server_->socket_path())
                              : Client::tcp(server_->tcp_address()->port);
    std::string all;
    for (int i = 0; i < 20; ++i) {
      ipc::RequestHeader h;
      h.set_type(i % 2 ? ipc::REQUEST_TYPE_TELEMETRY : ipc::REQUEST_TYPE_ACCOUNT_INFO);
      h.set_correlation_id(std::to_string(i));
      ipc::AccountInfoRequest info;
      info.set_account(encode_account(g_.pub));
      all += ipc::encode_frame(h.SerializeAsString(),
                               i % 2 ? std::string() : info.SerializeAsString());
    }
    c.send(all);  // all at once: more than the session answers at a time
    for (int i = 0; i < 20; ++i) {
      std::string body;
      auto h = c.next(&body);
      ASSERT_TRUE(h.has_value()) << i;
      EXPECT_EQ(h->correlation_id(), std::to_string(i));
      EXPECT_FALSE(h->has_error()) << h->error().message();
      if (i % 2 == 0) {
        ipc::AccountInfoResponse r;
        ASSERT_TRUE(r.ParseFromString(body));
        EXPECT_EQ(r.frontier(), to_hex_upper(net_.genesis_hash));
      }
    }
  }
}

TEST_F(IpcServerTest, BadClientsAreAnsweredAndClosedAndOthersGoOn) {
  start();
  {
    Client half = Client::unix_socket(server_->socket_path());
    half.send(std::string("N\x01\x01\x00\x00\x00", 6));  // and leaves mid-frame
  }
  Client garbage = Client::unix_socket(server_->socket_path());
  garbage.send("GET / HTTP/1.1\r\n\r\n");
  auto e = garbage.next();
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->error().code(), ipc::ERROR_CODE_BAD_PREAMBLE);
  EXPECT_FALSE(garbage.next().has_value()) << "closed after the answer";

  Client huge = Client::tcp(server_->tcp_address()->port);
  huge.send(std::string("N\x01\x01\x00\x00\x00\x00\x00\x7f\xff\xff\xff", 12));
  auto t = huge.next();
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->error().code(), ipc::ERROR_CODE_FRAME_TOO_LARGE);
  EXPECT_FALSE(huge.next().has_value());

  Client good = Client::unix_socket(server_->socket_path());
  good.request(ipc::REQUEST_TYPE_TELEMETRY, ipc::TelemetryRequest());
  auto ok = good.next();
  ASSERT_TRUE(ok.has_value());
  EXPECT_FALSE(ok->has_error());
}

TEST_F(IpcServerTest, ASubscriberHearsConfirmationsAndStopIsToldToTheOwner) {
  start();
  Client sub = Client::tcp(server_->tcp_address()->port);
  sub.request(ipc::REQUEST_TYPE_SUBSCRIBE_CONFIRMATIONS, ipc::SubscribeConfirmationsRequest(), "s");
  auto ack = sub.next();
  ASSERT_TRUE(ack.has_value());
  ASSERT_FALSE(ack->has_error());
  BlockConfirmedEvent e;
  e.block = state(g_, net_.genesis_hash, g_.pub, net_.genesis_amount - 1, key_of(1).pub);
  e.hash = block_hash(e.block);
  e.account = g_.pub;
  e.amount = 1;
  e.height = 2;
  emit(e);
  emit(BlockAcceptedEvent{e.block, e.hash});  // not a confirmation: not sent
  emit(e);
  for (int i = 0; i < 2; ++i) {
    std::string body;
    auto h = sub.next(&body);
    ASSERT_TRUE(h.has_value());
    EXPECT_TRUE(h->event());
    EXPECT_EQ(h->correlation_id(), "s");
    ipc::Event ev;
    ASSERT_TRUE(ev.ParseFromString(body));
    EXPECT_EQ(ev.confirmation().hash(), to_hex_upper(e.hash));
  }

  Client c = Client::unix_socket(server_->socket_path());
  c.request(ipc::REQUEST_TYPE_STOP, ipc::StopRequest());
  auto done = c.next();
  ASSERT_TRUE(done.has_value());
  EXPECT_FALSE(done->has_error());
  EXPECT_EQ(stopped_.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "on_stop is called once the answer is written";
}

}  // namespace
}  // namespace chorus::nano
