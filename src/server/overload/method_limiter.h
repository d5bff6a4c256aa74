// src/server/overload/method_limiter.h - the per-method limits of
// tern/overload.h (internal): admission on the IO thread, release when the
// call answers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "tern/overload.h"
#include "tern/status.h"

namespace tern::server_impl {

using LimitClock = std::chrono::steady_clock;

// brpc's auto concurrency limiter (tern/overload.h has the algorithm).
// Time is passed in, so tests drive it with made-up samples.
// Thread safety: limit() is lock-free; on_sample() takes a mutex.
class AutoConcurrencyLimit {
 public:
  struct Options {
    int initial_limit = 40;
    int min_limit = 4;  // light, bursty traffic is not refused (tern/overload.h)
    int max_limit = 0;  // 0 = none
    std::chrono::milliseconds window{1000};
    int min_samples = 20;
    int max_samples = 200;
    std::chrono::milliseconds remeasure_interval{30000};
  };
  explicit AutoConcurrencyLimit(Options options);

  int limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  // One answered call: its latency (arrival to answer, queueing included)
  // and its service time (handler start to answer).
  void on_sample(std::chrono::nanoseconds latency, std::chrono::nanoseconds service, LimitClock::time_point now);

  // Diagnostics (tests, /status): the current estimates.
  double min_latency_us() const;
  double max_qps() const;

 private:
  void end_window(LimitClock::time_point now);

  Options o_;
  std::atomic<int> limit_;
  mutable std::mutex mu_;
  LimitClock::time_point window_start_{};
  std::int64_t samples_ = 0;
  double total_latency_us_ = 0;
  double total_service_us_ = 0;
  double min_latency_us_ = 0;  // 0 = not measured yet
  double max_qps_ = 0;
  double explore_ = 0.3;
  LimitClock::time_point next_remeasure_{};
};

// A token bucket: `rate` tokens per second, at most `burst` stored.
// Thread safety: try_take() takes a mutex.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst);
  bool try_take(LimitClock::time_point now);

 private:
  double rate_, burst_, tokens_;
  LimitClock::time_point last_{};
  std::mutex mu_;
};

// The limits of one method. Shared by the method's entry and its calls in
// flight (ServerCall holds it until it answers). Thread safety: all methods.
class MethodLimiter {
 public:
  MethodLimiter(std::string name, const MethodLimit& limit);

  // OK and one slot taken, or RESOURCE_EXHAUSTED (not executed) naming the
  // method and the limit.
  Status try_acquire(LimitClock::time_point now);
  // Gives the slot back. `sample`: the call was answered after running (its
  // latency and service time feed the adaptive limit); false for calls
  // dropped or refused later.
  void release(std::chrono::nanoseconds latency, std::chrono::nanoseconds service, bool sample,
               LimitClock::time_point now);

  int in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }
  // The concurrency limit in force (0 = none).
  int concurrency_limit() const noexcept;

 private:
  std::string name_;
  MethodLimit limit_;
  std::atomic<int> in_flight_{0};
  std::unique_ptr<AutoConcurrencyLimit> auto_;
  std::unique_ptr<TokenBucket> qps_;
};

// A method's limiter, replaceable while IO threads admit calls
// (Server::set_limits). load() is one relaxed atomic load for a method that
// never had limits; after one was set, an atomic shared_ptr load. Calls
// admitted by a replaced limiter keep it (ServerCall holds a reference) and
// release their slot to it. Thread safety: load() and store() from any
// thread; moving only before the server starts.
class LimiterSlot {
 public:
  LimiterSlot() = default;
  explicit LimiterSlot(std::shared_ptr<MethodLimiter> limiter) { store(std::move(limiter)); }
  LimiterSlot(LimiterSlot&& o) noexcept { store(o.load()); }
  LimiterSlot& operator=(LimiterSlot&& o) noexcept {
    store(o.load());
    return *this;
  }

  std::shared_ptr<MethodLimiter> load() const noexcept {
    if (!ever_set_.load(std::memory_order_acquire)) return nullptr;
    return limiter_.load(std::memory_order_acquire);
  }
  void store(std::shared_ptr<MethodLimiter> limiter) noexcept {
    if (!limiter && !ever_set_.load(std::memory_order_relaxed)) return;
    limiter_.store(std::move(limiter), std::memory_order_release);
    ever_set_.store(true, std::memory_order_release);
  }

 private:
  std::atomic<bool> ever_set_{false};
  std::atomic<std::shared_ptr<MethodLimiter>> limiter_;
};

}  // namespace tern::server_impl
