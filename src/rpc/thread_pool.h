// src/rpc/thread_pool.h - business thread pools, as Dubbo offers them
// (DESIGN §5):
//   fixed    `max_threads` threads from the start, bounded queue
//   cached   grows on demand up to `max_threads`; a thread idle for
//            `keep_alive` retires
//   limited  grows on demand up to `max_threads`, never shrinks
// A task that finds no idle thread, no room to grow and a full queue is
// refused at once (try_submit() returns false) so the caller can answer
// RESOURCE_EXHAUSTED instead of blocking an IO thread. stop(drain) runs the
// queued tasks first (graceful stop) or drops them.
// Internal. Thread safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>

#include "tern/detail/unique_function.h"
#include "tern/result.h"

namespace tern::rpc {

struct ThreadPoolOptions {
  std::string kind = "fixed";       // fixed | cached | limited
  std::size_t max_threads = 8;
  std::size_t max_queue = 10000;    // tasks waiting for a thread
  std::chrono::milliseconds keep_alive{60000};
  std::string name = "tern-biz";
};

class ThreadPool {
 public:
  using Task = detail::UniqueFunction<void()>;
  // INVALID_ARGUMENT for an unknown kind or 0 threads.
  static Result<std::unique_ptr<ThreadPool>> create(ThreadPoolOptions options);
  ThreadPool(std::size_t threads, std::size_t max_queue, std::string name = "tern-biz");
  ~ThreadPool();  // stop(true)

  // Queues `task` (moved from only when accepted). False when refused: the
  // caller still owns the task and decides (run inline, answer overload...).
  bool try_submit(Task&& task);
  void stop(bool drain = true);
  std::size_t queued() const;
  std::size_t threads() const;
  // Threads running a task now (live, neither waiting nor spinning for work).
  std::size_t active() const;
  bool in_pool_thread() const noexcept;

 private:
  explicit ThreadPool(ThreadPoolOptions options);
  void spawn_locked();
  void run();
  static constexpr std::chrono::microseconds kSpin{20};

  ThreadPoolOptions options_;
  bool grows_ = false;    // cached, limited
  bool retires_ = false;  // cached
  mutable std::mutex mu_;
  std::condition_variable cv_;       // work or stop
  std::condition_variable exit_cv_;  // a thread exited
  std::deque<Task> queue_;
  std::size_t live_ = 0;
  std::size_t idle_ = 0;
  // Wakeups signalled and not yet taken by a waiting thread: a task wakes a
  // thread only when idle_ > wakes_ (an awake thread drains the queue before
  // it waits again), so a burst of N requests costs at most idle_ futex
  // wakes, not N.
  std::size_t wakes_ = 0;
  // One thread at a time spins for kSpin after its task before it sleeps,
  // watching queued_; while it does, try_submit() wakes nobody. Changed
  // under mu_ (read lock-free only by the spinner).
  std::size_t spinning_ = 0;
  std::atomic<std::size_t> queued_{0};
  std::size_t spawned_ = 0;
  bool stopping_ = false;
};

}  // namespace tern::rpc
