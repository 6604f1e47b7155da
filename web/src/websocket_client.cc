#include "chorus/web/websocket_client.h"

#include <libwebsockets.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>

#include "chorus/web/loop_thread.h"
#include "chorus/web/websocket.h"
#include "ws_close.h"

namespace chorus::web {

namespace {
enum class Phase { kConnecting, kOpen, kClosed };
}  // namespace

// One connection: the user's thread and the loop thread meet here, under mu.
struct WebSocketConnection::State {
  std::weak_ptr<WebSocketClient::Impl> client;
  WebSocketConnectOptions options;
  size_t max_message_bytes = 0;
  size_t max_queued = 0;

  std::mutex mu;
  std::condition_variable cv;
  Phase phase = Phase::kConnecting;
  std::string error;  // why the connection failed, or closed
  std::deque<std::string> inbox;
  std::deque<std::string> out;
  bool closing = false;
  int close_code = kCloseNormal;  // ours, once closing
  std::string close_reason;
  int result_code = kCloseAbnormal;  // how it ended
  std::string result_reason;

  // Loop thread only.
  lws* wsi = nullptr;
  std::string rx;
  bool rx_too_big = false;
  bool close_sent = false;
  int peer_code = kCloseAbnormal;
  std::string peer_reason;
};

struct WebSocketClient::Impl {
  WebSocketClientOptions options;
  std::unique_ptr<LoopThread> loop;
  lws_context* context = nullptr;  // made and used on the loop thread
  bool stopping = false;           // loop thread
  // Connections not yet closed, keyed by the pointer libwebsockets carries.
  std::map<WebSocketConnection::State*, std::shared_ptr<WebSocketConnection::State>> live;
  std::mutex count_mu;
  size_t connections = 0;  // under count_mu: for the bound, from any thread

  static int callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len);
  void finish(WebSocketConnection::State& s, int code, std::string reason, std::string error);
};

void WebSocketClient::Impl::finish(WebSocketConnection::State& s, int code, std::string reason,
                                   std::string error) {
  s.wsi = nullptr;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.phase = Phase::kClosed;
    s.result_code = code;
    s.result_reason = std::move(reason);
    if (s.error.empty()) s.error = std::move(error);
    s.out.clear();
  }
  s.cv.notify_all();
  {
    std::lock_guard<std::mutex> lock(count_mu);
    if (connections > 0) --connections;
  }
  live.erase(&s);  // may free s: last
}

int WebSocketClient::Impl::callback(lws* wsi, lws_callback_reasons reason, void* user, void* in,
                                    size_t len) {
  auto* self = static_cast<Impl*>(lws_context_user(lws_get_context(wsi)));
  auto* s = static_cast<WebSocketConnection::State*>(lws_get_opaque_user_data(wsi));
  if (!self || self->stopping || !s || !self->live.count(s))
    return lws_callback_http_dummy(wsi, reason, user, in, len);
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      for (const auto& [name, value] : s->options.headers) {
        std::string key = name + ":";
        std::transform(key.begin(), key.end(), key.begin(), ::tolower);
        if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(key.c_str()),
                                        reinterpret_cast<const unsigned char*>(value.data()),
                                        static_cast<int>(value.size()), p, end) != 0)
          return -1;
      }
      return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->phase = Phase::kOpen;
        if (!s->out.empty() || s->closing) lws_callback_on_writable(wsi);
      }
      s->cv.notify_all();
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      const unsigned status = lws_http_client_http_response(wsi);
      std::string why = in ? std::string(static_cast<const char*>(in),
                                         strnlen(static_cast<const char*>(in), len ? len : 256))
                           : "";
      if (status >= 300) why = "HTTP " + std::to_string(status);
      self->finish(*s, kCloseAbnormal, {}, why.empty() ? "connection failed" : why);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE: {
      if (lws_is_first_fragment(wsi)) {
        s->rx.clear();
        s->rx_too_big = false;
      }
      if (s->rx_too_big) return 0;
      if (s->rx.size() + len > s->max_message_bytes) {
        s->rx_too_big = true;
        s->rx.clear();
        std::lock_guard<std::mutex> lock(s->mu);
        if (!s->closing) {
          s->closing = true;
          s->close_code = kCloseTooBig;
          s->close_reason = "message too big";
          lws_callback_on_writable(wsi);
        }
        return 0;
      }
      s->rx.append(static_cast<const char*>(in), len);
      if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi) != 0) return 0;
      std::string message;
      message.swap(s->rx);
      if (s->options.on_message) {
        s->options.on_message(std::move(message));
        return 0;
      }
      {
        std::lock_guard<std::mutex> lock(s->mu);
        if (s->inbox.size() >= s->max_queued) {
          if (!s->closing) {
            s->closing = true;
            s->close_code = kClosePolicy;
            s->close_reason = "receive queue full";
            lws_callback_on_writable(wsi);
          }
          return 0;
        }
        s->inbox.push_back(std::move(message));
      }
      s->cv.notify_all();
      return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE: {
      if (s->close_sent) return 0;
      std::string text;
      bool more = false;
      bool send_close = false;
      {
        std::lock_guard<std::mutex> lock(s->mu);
        if (!s->out.empty()) {
          text = std::move(s->out.front());
          s->out.pop_front();
          more = !s->out.empty() || s->closing;
        } else if (s->closing) {
          send_close = true;
        } else {
          return 0;
        }
      }
      if (!send_close) {
        std::vector<unsigned char> buf(LWS_PRE + text.size());
        std::memcpy(buf.data() + LWS_PRE, text.data(), text.size());
        if (lws_write(wsi, buf.data() + LWS_PRE, text.size(), LWS_WRITE_TEXT) <
            static_cast<int>(text.size()))
          return -1;
        if (more) lws_callback_on_writable(wsi);
        return 0;
      }
      int code = 0;
      std::string why;
      {
        std::lock_guard<std::mutex> lock(s->mu);
        code = s->close_code;
        why = s->close_reason;
      }
      s->close_sent = true;
      return write_close_frame(wsi, code, why, 2) ? 0 : -1;
    }
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      const auto* b = static_cast<const unsigned char*>(in);
      s->peer_code = len >= 2 ? (b[0] << 8 | b[1]) : kCloseNoStatus;
      if (len > 2) s->peer_reason.assign(reinterpret_cast<const char*>(b) + 2, len - 2);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY: {
      int code = s->peer_code;
      std::string why = s->peer_reason;
      if (s->close_sent && s->peer_code == kCloseAbnormal) {
        std::lock_guard<std::mutex> lock(s->mu);
        code = s->close_code;
        why = s->close_reason;
      }
      self->finish(*s, code, why, "closed");
      return 0;
    }
    default:
      break;
  }
  return lws_callback_http_dummy(wsi, reason, user, in, len);
}

Result<std::unique_ptr<WebSocketClient>> WebSocketClient::start(WebSocketClientOptions options) {
  auto impl = std::make_shared<Impl>();
  impl->options = options;
  auto loop = LoopThread::start("ws-client");
  if (!loop.ok()) return loop.error();
  impl->loop = std::move(*loop);
  static const lws_protocols kProtocols[] = {
      {"chorus-client", &Impl::callback, 0, 0, 0, nullptr, 0},
      {nullptr, nullptr, 0, 0, 0, nullptr, 0}};
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  Impl* raw = impl.get();
  const bool posted = impl->loop->post([&](uv_loop_s* uv) {
    void* loops[1] = {uv};
    lws_context_creation_info info;
    std::memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    info.foreign_loops = loops;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.protocols = kProtocols;
    info.user = raw;
    info.fd_limit_per_thread = static_cast<unsigned>(raw->options.max_connections + 16);
    raw->context = lws_create_context(&info);
    std::lock_guard<std::mutex> lock(mu);
    done = true;
    cv.notify_all();
  });
  if (!posted) return io_error("websocket client: loop refused work");
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done; });
  }
  if (!impl->context) return io_error("websocket client: cannot start libwebsockets");
  return std::unique_ptr<WebSocketClient>(new WebSocketClient(std::move(impl)));
}

WebSocketClient::WebSocketClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebSocketClient::~WebSocketClient() {
  Impl* raw = impl_.get();
  impl_->loop->stop([raw] {
    raw->stopping = true;
    for (auto& [ptr, state] : raw->live) {
      state->wsi = nullptr;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        state->phase = Phase::kClosed;
        if (state->error.empty()) state->error = "client stopped";
      }
      state->cv.notify_all();
    }
    raw->live.clear();
    lws_context_destroy(raw->context);
  });
  // A foreign loop's context is freed by a second destroy once the loop
  // has closed its handles.
  lws_context_destroy(impl_->context);
  impl_->context = nullptr;
}

Result<std::unique_ptr<WebSocketConnection>> WebSocketClient::connect(
    const std::string& host, uint16_t port, const std::string& path,
    WebSocketConnectOptions options) {
  {
    std::lock_guard<std::mutex> lock(impl_->count_mu);
    if (impl_->connections >= impl_->options.max_connections)
      return limit_exceeded("websocket client: at most " +
                            std::to_string(impl_->options.max_connections) + " connections");
    ++impl_->connections;
  }
  auto state = std::make_shared<WebSocketConnection::State>();
  state->client = impl_;
  state->max_message_bytes = impl_->options.max_message_bytes;
  state->max_queued = impl_->options.max_queued_messages;
  const auto timeout = options.timeout;
  state->options = std::move(options);
  Impl* raw = impl_.get();
  const bool posted = impl_->loop->post([raw, state, host, port, path](uv_loop_s*) {
    raw->live[state.get()] = state;
    const std::string host_header = host + ":" + std::to_string(port);
    lws_client_connect_info i;
    std::memset(&i, 0, sizeof i);
    i.context = raw->context;
    i.address = host.c_str();
    i.port = port;
    i.path = path.c_str();
    i.host = host_header.c_str();
    i.origin = host_header.c_str();
    i.local_protocol_name = "chorus-client";
    i.opaque_user_data = state.get();
    if (state->options.tls) {
      i.ssl_connection = LCCSCF_USE_SSL;
      if (state->options.tls_insecure)
        i.ssl_connection |= LCCSCF_ALLOW_SELFSIGNED | LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK |
                            LCCSCF_ALLOW_EXPIRED | LCCSCF_ALLOW_INSECURE;
    }
    lws* wsi = lws_client_connect_via_info(&i);
    // On failure libwebsockets may already have called CONNECTION_ERROR,
    // which finished the state.
    if (raw->live.count(state.get())) {
      if (!wsi)
        raw->finish(*state, kCloseAbnormal, {}, "cannot connect to " + host_header);
      else
        state->wsi = wsi;
    }
  });
  if (!posted) {
    std::lock_guard<std::mutex> lock(impl_->count_mu);
    --impl_->connections;
    return io_error("websocket client: loop refused work");
  }
  std::unique_lock<std::mutex> lock(state->mu);
  if (!state->cv.wait_for(lock, timeout, [&] { return state->phase != Phase::kConnecting; })) {
    lock.unlock();
    auto conn = std::make_unique<WebSocketConnection>(state);
    conn->close(kCloseGoingAway, "connect timed out", std::chrono::milliseconds(200));
    return timed_out("websocket: no answer from " + host + ":" + std::to_string(port));
  }
  if (state->phase == Phase::kClosed) {
    const std::string why = state->error;
    if (why.rfind("HTTP ", 0) == 0) return refused(why);
    return io_error("websocket: " + host + ":" + std::to_string(port) + path + ": " + why);
  }
  lock.unlock();
  return std::make_unique<WebSocketConnection>(state);
}

WebSocketConnection::WebSocketConnection(std::shared_ptr<State> state) : state_(std::move(state)) {}

WebSocketConnection::~WebSocketConnection() {
  close(kCloseGoingAway, {}, std::chrono::milliseconds(500));
}

namespace {
// Asks the loop to write for this connection, if both are still there.
void poke(const std::shared_ptr<WebSocketConnection::State>& s) {
  auto client = s->client.lock();
  if (!client) return;
  WebSocketClient::Impl* raw = client.get();
  (void)client->loop->post([raw, s](uv_loop_s*) {
    if (raw->live.count(s.get()) && s->wsi) lws_callback_on_writable(s->wsi);
  });
}
}  // namespace

Result<void> WebSocketConnection::send(std::string text) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->phase != Phase::kOpen || state_->closing) return cancelled("websocket: closed");
    state_->out.push_back(std::move(text));
  }
  poke(state_);
  return {};
}

std::optional<std::string> WebSocketConnection::receive(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->cv.wait_for(lock, timeout,
                      [&] { return !state_->inbox.empty() || state_->phase == Phase::kClosed; });
  if (state_->inbox.empty()) return std::nullopt;
  std::string m = std::move(state_->inbox.front());
  state_->inbox.pop_front();
  return m;
}

void WebSocketConnection::close(int code, std::string reason, std::chrono::milliseconds timeout) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (state_->phase == Phase::kClosed) return;
    if (!state_->closing) {
      state_->closing = true;
      state_->close_code = code;
      state_->close_reason = std::move(reason);
    }
  }
  poke(state_);
  (void)wait_closed(timeout);
}

std::optional<int> WebSocketConnection::wait_closed(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(state_->mu);
  if (!state_->cv.wait_for(lock, timeout, [&] { return state_->phase == Phase::kClosed; }))
    return std::nullopt;
  return state_->result_code;
}

bool WebSocketConnection::is_open() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->phase == Phase::kOpen && !state_->closing;
}

std::string WebSocketConnection::close_reason() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->result_reason;
}

}  // namespace chorus::web
