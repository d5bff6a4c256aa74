// src/server/thread_pool.h - the business thread pool (fixed size, bounded
// queue). A full queue makes try_submit() fail at once so the caller can
// answer RESOURCE_EXHAUSTED instead of blocking the IO thread (DESIGN §5).
// Internal; the thread-model issue adds the cached and limited kinds.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tern/detail/unique_function.h"

namespace tern::rpc {

class ThreadPool {
 public:
  using Task = detail::UniqueFunction<void()>;
  ThreadPool(std::size_t threads, std::size_t max_queue, std::string name = "tern-biz");
  ~ThreadPool();  // stop(true)

  // Queues `task`; false when the queue holds max_queue tasks or the pool is stopping.
  bool try_submit(Task task);
  // Stops the threads; with `drain`, queued tasks run first.
  void stop(bool drain = true);
  std::size_t queued() const;
  // True on one of this pool's threads.
  bool in_pool_thread() const noexcept;

 private:
  void run();
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;
  std::size_t max_queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  std::string name_;
};

}  // namespace tern::rpc
