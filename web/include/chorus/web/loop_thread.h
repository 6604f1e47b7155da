// chorus::web::LoopThread — a libuv loop on a thread of its own, for a
// server that has no overlay Node to share a loop with (an RPC-only NANO
// node, a test). With a Node, use its loop instead (LoopHooks).
//
//   auto t = LoopThread::start("rpc");          // the loop runs
//   t->post([&](uv_loop_s* loop) { ... });      // runs on the loop thread
//   t->stop([&] { server.reset(); });           // last words, then join
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "chorus/base/result.h"

struct uv_loop_s;

namespace chorus::web {

class LoopThread {
 public:
  // kIo when the loop or the thread cannot be made. At most `max_queued`
  // posted functions wait to run; post() refuses more.
  static Result<std::unique_ptr<LoopThread>> start(std::string name, size_t max_queued = 65536);
  ~LoopThread();  // stop({})
  LoopThread(const LoopThread&) = delete;
  LoopThread& operator=(const LoopThread&) = delete;

  // Runs `fn` on the loop thread, in order; false once stopping or while
  // max_queued wait (then `fn` never runs).
  bool post(std::function<void(uv_loop_s* loop)> fn);
  // Runs `last` on the loop thread (close handles there), lets the loop
  // finish what those closes started, and joins the thread. Not from the
  // loop thread itself.
  void stop(std::function<void()> last = {});
  bool on_loop_thread() const;

  struct Impl;

 private:
  explicit LoopThread(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace chorus::web
