// tern/net/io_context_pool.h - N event loops, one Asio io_context per IO thread.
//
// IO threads poll sockets, decode, encode and write (DESIGN §5); user code
// runs on them only with the `direct` dispatcher. Connections are spread over
// the loops round robin and stay on their loop for life, so all of a
// connection's state is touched by one thread.
//
// Thread safety: next()/size()/in_loop_thread() may be called from any
// thread; start()/stop() from one controlling thread.
//
// Headers: this header keeps Asio (io_context, executor_work_guard), because
// the pool is made of Asio loops and hands them out (next(), at()) for code
// that posts to them or runs sockets and timers on them: the transport
// (src/net), the server and the channel (src/), tests and benchmarks that
// drive a loop. No other public header includes it; tern/channel.h only
// declares net::IoContextPool (ChannelPool::io()), so a program that uses
// Client, Server or Provider compiles no Asio header.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace tern::net {

class IoContextPool {
 public:
  // `threads` = 0 means std::thread::hardware_concurrency() (at least 1).
  // `name` prefixes the threads' names ("tern-io-0", ...).
  explicit IoContextPool(std::size_t threads = 0, std::string name = "tern-io");
  ~IoContextPool();  // stop() + join
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  // Starts the threads. Idempotent.
  void start();
  // Stops every loop and joins the threads. Handlers still queued stay in
  // the loops (destroyed unrun with the pool, unless drain() runs them).
  // Must not be called from one of the pool's own threads.
  void stop();
  // After stop(): runs the handlers left in the loops on the calling thread,
  // one at a time, loop after loop and again (a handler may queue more, on
  // any loop), until a pass over every loop runs none or `max_handlers`
  // ran (a handler that queues another forever is cut there; what is left
  // is destroyed unrun with the pool). Returns the handlers run. A shutdown
  // calls it so that what its close handlers queued last (a call's or a
  // stream's end, a reference the handler holds) runs instead of being
  // destroyed unrun. Not while the threads run (does nothing then: 0).
  std::size_t drain(std::size_t max_handlers = 100000);

  // The next loop, round robin.
  asio::io_context& next() noexcept;
  asio::io_context& at(std::size_t i) noexcept { return *contexts_[i]; }
  std::size_t size() const noexcept { return contexts_.size(); }

  // True when the calling thread is one of this process's Tern IO threads
  // (of any pool); the blocking detector and the `direct` checks use it.
  static bool in_io_thread() noexcept;
  // True when the calling thread is one of this pool's threads (a client
  // refuses a blocking call there: it would wait for its own loop).
  bool owns_current_thread() const noexcept;

 private:
  using Guard = asio::executor_work_guard<asio::io_context::executor_type>;
  std::string name_;
  std::vector<std::unique_ptr<asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  std::atomic<std::size_t> next_{0};
  bool started_ = false;
};

}  // namespace tern::net
