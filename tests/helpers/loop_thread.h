// tests/helpers/loop_thread.h - an io_context run by its own thread, and
// waiting for a condition with a deadline (header-only, no Tern library).
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <thread>

namespace tern::testing {

// Polls `pred` until it holds or `timeout` passes; returns its last value.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > end) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// An io_context run by one thread until destroyed.
class LoopThread {
 public:
  LoopThread() : work_(asio::make_work_guard(loop_)), thread_([this] { loop_.run(); }) {}
  ~LoopThread() {
    work_.reset();
    loop_.stop();
    thread_.join();
  }
  asio::io_context& loop() noexcept { return loop_; }

 private:
  asio::io_context loop_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
};

}  // namespace tern::testing
