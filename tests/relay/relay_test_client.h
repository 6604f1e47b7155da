// A WSRelay client for tests: one WebSocket on /connect, commands that wait
// for their response, deliveries kept in arrival order.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <memory>
#include <string>

#include "chorus/web/websocket_client.h"

namespace chorus::relay::testing {

class RelayClient {
 public:
  RelayClient(web::WebSocketClient& client, const std::string& host, uint16_t port,
              const std::string& path = "/connect", web::WebSocketConnectOptions options = {}) {
    auto c = client.connect(host, port, path, std::move(options));
    if (c.ok()) ws_ = std::move(*c);
    else error_ = c.error().message();
  }
  bool connected() const { return ws_ != nullptr; }
  const std::string& error() const { return error_; }
  web::WebSocketConnection& socket() { return *ws_; }

  // Sends a command and waits (5 s) for its response's data; deliveries
  // that come first are kept for next_message(). Null on no response.
  nlohmann::json call(const std::string& command, nlohmann::json data = nlohmann::json::object()) {
    const std::string nonce = std::to_string(++nonce_);
    nlohmann::json req = {{"command", command}, {"data", std::move(data)}, {"nonce", nonce}};
    if (!ws_->send(req.dump()).ok()) return nullptr;
    return wait_response(nonce);
  }
  nlohmann::json wait_response(const nlohmann::json& nonce,
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto text = ws_->receive(std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now()));
      if (!text) break;
      nlohmann::json j = nlohmann::json::parse(*text, nullptr, false);
      if (j.is_object() && j.value("type", "") == "response" && j["nonce"] == nonce) return j["data"];
      inbox_.push_back(std::move(j));
    }
    return nullptr;
  }
  // The next frame that is not an awaited response (a delivery, or an
  // unsolicited error), waiting at most `timeout`.
  nlohmann::json next(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    if (!inbox_.empty()) {
      nlohmann::json j = std::move(inbox_.front());
      inbox_.pop_front();
      return j;
    }
    auto text = ws_->receive(timeout);
    if (!text) return nullptr;
    return nlohmann::json::parse(*text, nullptr, false);
  }

 private:
  std::unique_ptr<web::WebSocketConnection> ws_;
  std::string error_;
  std::deque<nlohmann::json> inbox_;
  uint64_t nonce_ = 0;
};

}  // namespace chorus::relay::testing
