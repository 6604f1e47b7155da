// A thread-safe record of what an app's handlers received.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "harness.h"

namespace chorus::itest {

struct Received {
  PublicKey from{};
  PublicKey origin{};
  Bytes payload;
  bool encrypted = false;
  bool is_request = false;
};

class Inbox {
 public:
  void add(Received r) {
    {
      std::lock_guard<std::mutex> g(mu_);
      items_.push_back(std::move(r));
    }
    cv_.notify_all();
  }

  // Waits until `pred(items)` holds; false after `timeout`.
  bool wait(const std::function<bool(const std::vector<Received>&)>& pred,
            std::chrono::milliseconds timeout = kWait) {
    std::unique_lock<std::mutex> g(mu_);
    return cv_.wait_for(g, timeout, [&] { return pred(items_); });
  }
  bool wait_size(size_t n, std::chrono::milliseconds timeout = kWait) {
    return wait([n](const std::vector<Received>& v) { return v.size() >= n; }, timeout);
  }
  bool wait_payload(const Bytes& payload, std::chrono::milliseconds timeout = kWait) {
    return wait([&](const std::vector<Received>& v) { return count_in(v, payload) > 0; }, timeout);
  }

  size_t count(const Bytes& payload) {
    std::lock_guard<std::mutex> g(mu_);
    return count_in(items_, payload);
  }
  size_t size() {
    std::lock_guard<std::mutex> g(mu_);
    return items_.size();
  }
  std::vector<Received> items() {
    std::lock_guard<std::mutex> g(mu_);
    return items_;
  }

 private:
  static size_t count_in(const std::vector<Received>& v, const Bytes& payload) {
    size_t n = 0;
    for (const auto& r : v) n += r.payload == payload;
    return n;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> items_;
};

// Handlers that record into `inbox`. SPEAKs get `decision`.
inline AppHandlers recording_handlers(std::shared_ptr<Inbox> inbox,
                                      SpeakDecision decision = SpeakDecision::kKeep) {
  AppHandlers h;
  h.on_shout = [inbox](const ShoutInfo& s) {
    inbox->add({s.from, s.origin, Bytes(s.payload.begin(), s.payload.end()), false, false});
  };
  h.on_speak = [inbox, decision](const SpeakInfo& s) {
    inbox->add({s.from, s.origin, Bytes(s.payload.begin(), s.payload.end()), false, false});
    return decision;
  };
  h.on_whisper = [inbox](const WhisperInfo& w, Responder) {
    inbox->add(
        {w.from, w.from, Bytes(w.payload.begin(), w.payload.end()), w.encrypted, w.is_request});
  };
  return h;
}

}  // namespace chorus::itest
