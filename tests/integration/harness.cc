#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "chorus/overlay/random.h"

namespace chorus::itest {

OverlayConfig fast_config() {
  OverlayConfig c;
  c.handshake_timeout_ms = 500;
  c.ping_interval_ms = 200;
  // Generous: a loaded CI machine (tests run two at a time on two cores) must
  // not make an honest, busy peer look dead. Liveness tests set their own.
  c.ping_timeout_ms = 5000;
  c.request_timeout_ms = 5000;
  c.reconnect_base_ms = 50;
  c.reconnect_max_ms = 500;
  c.peer_exchange_interval_ms = 500;
  c.rotate_interval_ms = 0;
  return c;
}

void quiet_logs() {
  const char* env = std::getenv("CHORUS_TEST_LOG");
  spdlog::set_level(env ? spdlog::level::from_str(env) : spdlog::level::warn);
}

// ------------------------------------------------------------------ PeerWatch

void PeerWatch::attach(Node& node) {
  node.on_peer([this](const PublicKey& peer, bool up, const std::string& reason) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (up) {
        up_[peer] = 1;
        ++ups_[peer];
      } else {
        up_.erase(peer);
        ++downs_[peer];
        last_reason_[peer] = reason;
      }
    }
    cv_.notify_all();
  });
}

bool PeerWatch::wait(const std::function<bool(const std::map<PublicKey, int>&)>& pred,
                     std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> g(mu_);
  return cv_.wait_for(g, timeout, [&] { return pred(up_); });
}

bool PeerWatch::wait_up(const PublicKey& key, std::chrono::milliseconds timeout) {
  return wait([&](const std::map<PublicKey, int>& up) { return up.count(key) != 0; }, timeout);
}

bool PeerWatch::wait_down(const PublicKey& key, std::chrono::milliseconds timeout,
                          std::string* reason) {
  std::unique_lock<std::mutex> g(mu_);
  bool ok = cv_.wait_for(g, timeout, [&] { return downs_[key] > 0 && up_.count(key) == 0; });
  if (ok && reason) *reason = last_reason_[key];
  return ok;
}

bool PeerWatch::wait_count(size_t at_least, std::chrono::milliseconds timeout) {
  return wait([&](const std::map<PublicKey, int>& up) { return up.size() >= at_least; }, timeout);
}

int PeerWatch::ups(const PublicKey& key) {
  std::lock_guard<std::mutex> g(mu_);
  return ups_[key];
}

int PeerWatch::downs(const PublicKey& key) {
  std::lock_guard<std::mutex> g(mu_);
  return downs_[key];
}

// ------------------------------------------------------------------ nodes

SocketAddress TestNode::addr() const {
  auto a = node->listen_address();
  if (!a) throw std::runtime_error("node does not listen");
  return *a;
}

std::vector<PublicKey> TestNode::peer_keys() const {
  return on_loop(*node, [n = node.get()] {
    std::vector<PublicKey> keys;
    for (const auto& p : n->peers()) keys.push_back(p.key);
    std::sort(keys.begin(), keys.end());
    return keys;
  });
}

bool TestNode::linked_to(const TestNode& other) const {
  auto keys = peer_keys();
  return std::find(keys.begin(), keys.end(), other.key()) != keys.end();
}

TestNode start_node(NodeOptions options, std::map<AppId, AppHandlers> apps) {
  TestNode t;
  auto created = Node::create(std::move(options));
  if (!created) throw std::runtime_error("Node::create: " + created.error().to_string());
  t.node = std::move(*created);
  for (auto& [app, h] : apps) {
    auto r = t.node->register_app(app, std::move(h));
    if (!r) throw std::runtime_error("register_app: " + r.error().to_string());
  }
  t.watch->attach(*t.node);
  auto r = t.node->start();
  if (!r) throw std::runtime_error("Node::start: " + r.error().to_string());
  return t;
}

TestNode start_node(OverlayConfig config, bool listen, std::map<AppId, AppHandlers> apps) {
  NodeOptions o;
  o.overlay = std::move(config);
  if (!listen) o.listen = std::nullopt;
  return start_node(std::move(o), std::move(apps));
}

// ------------------------------------------------------------------ sync wrappers

namespace {
Error wait_failed(const std::string& what) {
  return Error(ErrorCode::kTimeout, "test harness: no completion for " + what);
}
}  // namespace

Result<int64_t> ping(Node& from, const PublicKey& to) {
  auto p = std::make_shared<std::promise<Result<int64_t>>>();
  auto f = p->get_future();
  from.ping(to, [p](Result<int64_t> r) { p->set_value(std::move(r)); });
  if (f.wait_for(kWait) != std::future_status::ready) return wait_failed("ping");
  return f.get();
}

Result<Hash256> whisper(Node& from, AppId app, const PublicKey& to, Bytes payload, bool encrypt) {
  auto p = std::make_shared<std::promise<Result<Hash256>>>();
  auto f = p->get_future();
  from.whisper(app, to, std::move(payload), encrypt,
               [p](Result<Hash256> r) { p->set_value(std::move(r)); });
  if (f.wait_for(kWait) != std::future_status::ready) return wait_failed("whisper");
  return f.get();
}

Result<Bytes> request(Node& from, AppId app, const PublicKey& to, Bytes payload,
                      RequestOptions options) {
  auto p = std::make_shared<std::promise<Result<Bytes>>>();
  auto f = p->get_future();
  from.request(app, to, std::move(payload), options,
               [p](Result<Bytes> r) { p->set_value(std::move(r)); });
  if (f.wait_for(kWait) != std::future_status::ready) return wait_failed("request");
  return f.get();
}

Result<void> speak(Node& from, AppId app, Bytes payload, SpeakOptions options) {
  auto p = std::make_shared<std::promise<Result<void>>>();
  auto f = p->get_future();
  from.speak(app, std::move(payload), options, [p](Result<void> r) { p->set_value(std::move(r)); });
  if (f.wait_for(kWait) != std::future_status::ready) return wait_failed("speak");
  return f.get();
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  Random r;
  r.fill(b.data(), b.size());
  return b;
}

Bytes text(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

// ------------------------------------------------------------------ RawClient

RawClient::RawClient(const SocketAddress& to, int rcvbuf) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  if (rcvbuf > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(to.port);
  if (::inet_pton(AF_INET, to.host.c_str(), &sa.sin_addr) != 1) {
    throw std::runtime_error("bad IPv4 address " + to.host);
  }
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    throw std::runtime_error("connect: " + std::string(std::strerror(errno)));
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send_all(ByteView bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

namespace {
// Waits for the socket to become readable; false at the deadline.
bool readable(int fd, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // let read() report it
  }
}
}  // namespace

Bytes RawClient::read_exact(size_t n, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  Bytes out(n);
  size_t got = 0;
  while (got < n) {
    if (!readable(fd_, deadline)) throw std::runtime_error("raw client: read timed out");
    ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw std::runtime_error("raw client: connection closed while reading");
    got += static_cast<size_t>(r);
  }
  return out;
}

Bytes RawClient::read_some(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  for (;;) {
    if (!readable(fd_, deadline)) return {};
    Bytes out(65536);
    ssize_t r = ::recv(fd_, out.data(), out.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return {};
    out.resize(static_cast<size_t>(r));
    return out;
  }
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  uint8_t buf[65536];
  for (;;) {
    if (!readable(fd_, deadline)) return false;
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r == 0) return true;
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return true;  // ECONNRESET and friends
    }
  }
}

SessionKeys RawClient::handshake(const Identity& identity, Bytes* leftover) {
  Random random;
  Handshake hs(identity, Role::kInitiator, 0, random);
  if (!send_all(hs.take_output())) throw std::runtime_error("raw client: HELLO not sent");
  auto deadline = Clock::now() + kWait;
  uint8_t buf[4096];
  while (!hs.done()) {
    if (!readable(fd_, deadline)) throw std::runtime_error("raw client: handshake timed out");
    ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) throw std::runtime_error("raw client: closed during the handshake");
    auto used = hs.on_bytes(ByteView(buf, static_cast<size_t>(r)));
    if (!used) throw std::runtime_error("raw client: handshake: " + used.error().to_string());
    Bytes out = hs.take_output();
    if (!out.empty() && !send_all(out)) throw std::runtime_error("raw client: AUTH not sent");
    if (hs.done() && leftover) leftover->assign(buf + *used, buf + r);
  }
  return hs.keys();
}

}  // namespace chorus::itest
