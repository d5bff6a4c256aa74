// Fixed business thread pool with a bounded queue.
#include "server/thread_pool.h"

#include <pthread.h>

namespace tern::rpc {
namespace {
thread_local const ThreadPool* t_pool = nullptr;
}

ThreadPool::ThreadPool(std::size_t threads, std::size_t max_queue, std::string name)
    : max_queue_(max_queue), name_(std::move(name)) {
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this, i] {
      t_pool = this;
      std::string tname = name_ + "-" + std::to_string(i);
      pthread_setname_np(pthread_self(), tname.substr(0, 15).c_str());
      run();
    });
  }
}

ThreadPool::~ThreadPool() { stop(true); }

bool ThreadPool::try_submit(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void ThreadPool::run() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

void ThreadPool::stop(bool drain) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    if (!drain) queue_.clear();
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
  }
  threads_.clear();
}

std::size_t ThreadPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool ThreadPool::in_pool_thread() const noexcept { return t_pool == this; }

}  // namespace tern::rpc
