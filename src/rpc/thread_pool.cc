// Business thread pools: fixed, cached, limited.
#include "rpc/thread_pool.h"

#include <pthread.h>

#include <thread>

namespace tern::rpc {
namespace {
thread_local const ThreadPool* t_pool = nullptr;
}

Result<std::unique_ptr<ThreadPool>> ThreadPool::create(ThreadPoolOptions options) {
  if (options.kind != "fixed" && options.kind != "cached" && options.kind != "limited") {
    return Status(StatusCode::kInvalidArgument, "unknown thread pool '" + options.kind + "' (fixed, cached, limited)");
  }
  if (options.max_threads == 0) return Status(StatusCode::kInvalidArgument, "a thread pool needs at least 1 thread");
  return std::unique_ptr<ThreadPool>(new ThreadPool(std::move(options)));
}

ThreadPool::ThreadPool(std::size_t threads, std::size_t max_queue, std::string name)
    : ThreadPool(ThreadPoolOptions{"fixed", threads, max_queue, std::chrono::milliseconds(60000), std::move(name)}) {}

ThreadPool::ThreadPool(ThreadPoolOptions options) : options_(std::move(options)) {
  grows_ = options_.kind != "fixed";
  retires_ = options_.kind == "cached";
  if (!grows_) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < options_.max_threads; ++i) spawn_locked();
  }
}

ThreadPool::~ThreadPool() { stop(true); }

void ThreadPool::spawn_locked() {
  ++live_;
  std::size_t index = spawned_++;
  std::thread([this, index] {
    t_pool = this;
    std::string tname = options_.name + "-" + std::to_string(index);
    pthread_setname_np(pthread_self(), tname.substr(0, 15).c_str());
    run();
  }).detach();
}

bool ThreadPool::try_submit(Task&& task) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    if (grows_ && idle_ <= queue_.size() && live_ < options_.max_threads) {
      spawn_locked();
    } else if (queue_.size() >= options_.max_queue + (grows_ ? idle_ : 0)) {
      return false;
    }
    queue_.push_back(std::move(task));
    queued_.store(queue_.size(), std::memory_order_relaxed);
    wake = idle_ > wakes_ && spinning_ == 0;
    if (wake) ++wakes_;
  }
  if (wake) cv_.notify_one();
  return true;
}

void ThreadPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    if (queue_.empty() && !stopping_ && spinning_ == 0) {
      // A short spin before sleeping: under load the next request usually
      // comes within microseconds, and a futex sleep plus wakeup costs two
      // context switches (issue #17). One spinner at a time.
      ++spinning_;
      lock.unlock();
      auto until = std::chrono::steady_clock::now() + kSpin;
      while (queued_.load(std::memory_order_relaxed) == 0 && std::chrono::steady_clock::now() < until) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#else
        std::this_thread::yield();
#endif
      }
      lock.lock();
      --spinning_;  // under the lock: try_submit() saw it and did not wake anyone, or sees it gone
    }
    ++idle_;
    bool timed_out = false;
    // Every return from a wait (signalled, spurious or timed out) takes one
    // signalled wakeup, so wakes_ cannot stay counted for a thread that is
    // not coming: a leftover would stop try_submit() from waking anyone.
    auto deadline = retires_ ? std::chrono::steady_clock::now() + options_.keep_alive
                             : std::chrono::steady_clock::time_point();
    while (!stopping_ && queue_.empty() && !timed_out) {
      if (retires_) {
        timed_out = cv_.wait_until(lock, deadline) == std::cv_status::timeout;
      } else {
        cv_.wait(lock);
      }
      if (wakes_ > 0) --wakes_;
    }
    --idle_;
    if (queue_.empty() && (stopping_ || timed_out)) break;  // stopping and drained, or idle too long
    Task task = std::move(queue_.front());
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_relaxed);
    // More work behind this task (queued while we spun, or faster than the
    // woken threads came): pass a wakeup on, so a slow task never holds up
    // the ones queued behind it while a thread sleeps.
    bool pass_on = !queue_.empty() && idle_ > wakes_;
    if (pass_on) ++wakes_;
    lock.unlock();
    if (pass_on) cv_.notify_one();
    task();
    task.reset();
    lock.lock();
  }
  --live_;
  exit_cv_.notify_all();  // under the lock: stop() may destroy us right after
}

void ThreadPool::stop(bool drain) {
  std::unique_lock lock(mu_);
  stopping_ = true;
  if (!drain) queue_.clear();
  queued_.store(queue_.size(), std::memory_order_relaxed);
  cv_.notify_all();
  if (t_pool == this) return;  // called from a pool thread: cannot wait for ourselves
  exit_cv_.wait(lock, [&] { return live_ == 0; });
}

std::size_t ThreadPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t ThreadPool::active() const {
  std::lock_guard lock(mu_);
  return live_ - idle_ - spinning_;
}

std::size_t ThreadPool::threads() const {
  std::lock_guard lock(mu_);
  return live_;
}

bool ThreadPool::in_pool_thread() const noexcept { return t_pool == this; }

}  // namespace tern::rpc
