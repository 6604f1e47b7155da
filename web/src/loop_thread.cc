#include "chorus/web/loop_thread.h"

#include <uv.h>

#include <deque>
#include <mutex>
#include <thread>

namespace chorus::web {

struct LoopThread::Impl {
  uv_loop_t loop{};
  uv_async_t wake{};
  std::thread thread;
  std::mutex mu;
  std::deque<std::function<void(uv_loop_s*)>> queue;
  size_t max_queued = 0;
  std::function<void()> last;
  bool stopping = false;  // under mu
  bool joined = false;

  static void on_wake(uv_async_t* a) {
    auto* self = static_cast<Impl*>(a->data);
    std::deque<std::function<void(uv_loop_s*)>> jobs;
    bool stop = false;
    {
      std::lock_guard<std::mutex> lock(self->mu);
      jobs.swap(self->queue);
      stop = self->stopping;
    }
    for (auto& job : jobs) job(&self->loop);
    if (stop) {
      if (self->last) self->last();
      // Under the lock: post() sends on the handle only while not stopping,
      // so nothing sends on it once it is closing.
      std::lock_guard<std::mutex> lock(self->mu);
      if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&self->wake)))
        uv_close(reinterpret_cast<uv_handle_t*>(&self->wake), nullptr);
      // Whatever `last` closed finishes as the loop runs out.
    }
  }
};

Result<std::unique_ptr<LoopThread>> LoopThread::start(std::string name, size_t max_queued) {
  auto impl = std::make_unique<Impl>();
  impl->max_queued = max_queued;
  int rc = uv_loop_init(&impl->loop);
  if (rc != 0) return io_error("loop " + name + ": " + uv_strerror(rc));
  rc = uv_async_init(&impl->loop, &impl->wake, &Impl::on_wake);
  if (rc != 0) {
    uv_loop_close(&impl->loop);
    return io_error("loop " + name + ": " + uv_strerror(rc));
  }
  impl->wake.data = impl.get();
  Impl* raw = impl.get();
  try {
    impl->thread = std::thread([raw] {
      uv_run(&raw->loop, UV_RUN_DEFAULT);
      uv_loop_close(&raw->loop);
    });
  } catch (const std::system_error& e) {
    uv_close(reinterpret_cast<uv_handle_t*>(&impl->wake), nullptr);
    uv_run(&impl->loop, UV_RUN_DEFAULT);
    uv_loop_close(&impl->loop);
    return io_error("loop " + name + ": no thread: " + e.what());
  }
  return std::unique_ptr<LoopThread>(new LoopThread(std::move(impl)));
}

LoopThread::LoopThread(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

LoopThread::~LoopThread() {
  stop();
}

bool LoopThread::post(std::function<void(uv_loop_s*)> fn) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->stopping || impl_->queue.size() >= impl_->max_queued) return false;
  impl_->queue.push_back(std::move(fn));
  uv_async_send(&impl_->wake);
  return true;
}

void LoopThread::stop(std::function<void()> last) {
  if (impl_->joined) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (!impl_->stopping) {
      impl_->stopping = true;
      impl_->last = std::move(last);
      uv_async_send(&impl_->wake);
    }
  }
  impl_->thread.join();
  impl_->joined = true;
}

bool LoopThread::on_loop_thread() const {
  return std::this_thread::get_id() == impl_->thread.get_id();
}

}  // namespace chorus::web
