// The live nodes of `chorus swarm`: one libuv overlay node (and optionally
// a DHT) per entry, each on its own loop thread, and bounded ways for the
// command's thread to ask them things on those threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <vector>

#include "chorus/dht/dht.h"
#include "chorus/overlay/node.h"

namespace chorus::tools {

using Clock = std::chrono::steady_clock;
constexpr overlay::AppId kSwarmApp = 1;

inline int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

inline double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

struct SwarmNode {
  std::unique_ptr<overlay::Node> node;
  std::unique_ptr<dht::Dht> dht;  // after `node`: destroyed first
  bool listening = false;
  std::vector<uint8_t> got;          // per SHOUT index; loop thread only
  std::vector<double> latencies_ms;  // loop thread only
};

// Runs `fn` on every node's loop thread and waits for all (bounded).
template <typename T>
std::vector<T> ask_all(std::vector<SwarmNode>& nodes, const std::function<T(overlay::Node&)>& fn) {
  std::vector<std::future<T>> futures;
  for (auto& n : nodes) {
    auto p = std::make_shared<std::promise<T>>();
    futures.push_back(p->get_future());
    overlay::Node* node = n.node.get();
    node->post([p, node, fn] { p->set_value(fn(*node)); });
  }
  std::vector<T> out;
  for (auto& f : futures) {
    if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      out.push_back(T{});
      continue;
    }
    out.push_back(f.get());
  }
  return out;
}

// Runs `fn(i)` on node i's loop thread and waits (bounded).
template <typename T>
T ask_node(SwarmNode& sn, std::function<T()> fn) {
  auto p = std::make_shared<std::promise<T>>();
  auto f = p->get_future();
  sn.node->post([p, fn] { p->set_value(fn()); });
  if (f.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return T{};
  return f.get();
}

}  // namespace chorus::tools
