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
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    if (grows_ && idle_ <= queue_.size() && live_ < options_.max_threads) {
      spawn_locked();
    } else if (queue_.size() >= options_.max_queue + (grows_ ? idle_ : 0)) {
      return false;
    }
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void ThreadPool::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    ++idle_;
    bool timed_out = false;
    if (retires_) {
      timed_out = !cv_.wait_for(lock, options_.keep_alive, [&] { return stopping_ || !queue_.empty(); });
    } else {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    }
    --idle_;
    if (queue_.empty() && (stopping_ || timed_out)) break;  // stopping and drained, or idle too long
    Task task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
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
  cv_.notify_all();
  if (t_pool == this) return;  // called from a pool thread: cannot wait for ourselves
  exit_cv_.wait(lock, [&] { return live_ == 0; });
}

std::size_t ThreadPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

std::size_t ThreadPool::threads() const {
  std::lock_guard lock(mu_);
  return live_;
}

bool ThreadPool::in_pool_thread() const noexcept { return t_pool == this; }

}  // namespace tern::rpc
