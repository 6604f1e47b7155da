// Node::run_work: CPU-heavy app work on libuv's threadpool, its `done` back
// on the loop thread, bounded by NodeOptions::max_work_jobs. A job counts
// from uv_queue_work until its after-work callback; stop() cancels the jobs
// that have not started and the loop waits for the running ones.
#include "chorus/overlay/uv_helpers.h"
#include "node_impl.h"

namespace chorus::overlay {

// Loop thread (or, after stop, the thread running the command).
void Node::Impl::start_work(std::function<void()> work, DoneCallback done) {
  auto finish_later = [this, &done](Result<void> r) {
    if (done) deferred.push_back([r = std::move(r), done = std::move(done)] { done(r); });
  };
  if (work_closed) return finish_later(cancelled("node stopped"));
  if (jobs.size() >= options.max_work_jobs) {
    return finish_later(limit_exceeded("run_work: " + std::to_string(options.max_work_jobs) +
                                       " jobs already queued or running"));
  }
  auto* job = new WorkJob;
  job->req.data = job;
  job->impl = this;
  job->work = std::move(work);
  job->done = std::move(done);
  if (int rc = uv_queue_work(&loop, &job->req, on_work, on_work_done); rc != 0) {
    done = std::move(job->done);
    delete job;
    return finish_later(io_error("run_work: " + uv_error(rc)));
  }
  jobs.insert(job);
}

// A pool thread.
void Node::Impl::on_work(uv_work_t* req) {
  auto* job = static_cast<WorkJob*>(req->data);
  try {
    if (job->work) job->work();
  } catch (const std::exception& e) {
    job->failure = e.what();
  } catch (...) {
    job->failure = "unknown exception";
  }
}

// The loop thread, once per job: after it ran, or after uv_cancel. The
// loop (and so stop()) does not end while a job is queued or running.
void Node::Impl::on_work_done(uv_work_t* req, int status) {
  std::unique_ptr<WorkJob> job(static_cast<WorkJob*>(req->data));
  job->impl->jobs.erase(job.get());
  Result<void> r;
  if (status == UV_ECANCELED) {
    r = cancelled("node stopped before the work started");
  } else if (status != 0) {
    r = io_error("run_work: " + uv_error(status));
  } else if (job->failure) {
    r = io_error("run_work: the work threw: " + *job->failure);
  }
  job->work = nullptr;
  if (job->done) job->done(r);
}

void Node::run_work(std::function<void()> work, DoneCallback done) {
  impl_->run_on_loop([m = impl_.get(), work = std::move(work), done = std::move(done)]() mutable {
    m->start_work(std::move(work), std::move(done));
  });
}

}  // namespace chorus::overlay
