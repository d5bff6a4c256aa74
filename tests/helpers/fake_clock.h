// fake_clock.h - a Clock (base/clock.h) whose time moves only when a test
// calls advance(), so backoff, heartbeats and timeouts are tested without
// sleeping.
//
// Waiting: a thread in wait_until() is woken when advance() reaches its
// deadline (or by its own condition variable, as with the real clock).
// await_wait() lets the test block until the code under test is waiting and
// read the deadline it waits for: that is how a test learns "the loop now
// waits 200 ms" without a sleep.
//
// Thread safety: every method may be called from any thread. The mutex of a
// waiter must outlive the advance() calls made while it may wait (advance()
// takes it before notifying, so a wakeup cannot be lost).
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "base/clock.h"

namespace tern::testing {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary, fixed point (not the epoch, so `now() - x` stays valid).
  explicit FakeClock(time_point start = time_point{} + std::chrono::hours(1)) : now_(start) {}

  time_point now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }

  bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline,
                  const std::function<bool()>& done) override {
    if (done()) return true;  // not a wait: await_wait() counts only real ones
    std::uint64_t id = 0;
    {
      std::lock_guard l(mu_);
      id = ++waits_;
      waiters_[id] = Waiter{&cv, lock.mutex(), deadline};
      deadlines_.push_back(deadline);
    }
    waits_cv_.notify_all();
    while (!done() && now() < deadline) cv.wait(lock);
    {
      std::lock_guard l(mu_);
      waiters_.erase(id);
    }
    return done();
  }

  // Moves time forward by `d` and wakes the waiters whose deadline passed.
  void advance(duration d) {
    std::vector<Waiter> due;
    {
      std::lock_guard lock(mu_);
      now_ += d;
      for (const auto& [id, w] : waiters_) {
        if (w.deadline <= now_) due.push_back(w);
      }
    }
    for (const Waiter& w : due) {
      std::lock_guard lock(*w.mutex);  // the waiter is either before its check or inside cv.wait
      w.cv->notify_all();
    }
  }

  // Blocks (real time, at most `timeout`) until a wait has begun since the
  // previous await_wait() returned, and returns the deadline of the latest
  // such wait (time_point::max(): none); nullopt on timeout. A wait that
  // already ended counts too.
  std::optional<time_point> await_wait(std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    if (!waits_cv_.wait_for(lock, timeout, [&] { return waits_ > seen_; })) return std::nullopt;
    seen_ = waits_;
    return deadlines_.back();
  }

  // How many waits have begun.
  std::uint64_t waits() const {
    std::lock_guard lock(mu_);
    return waits_;
  }

 private:
  struct Waiter {
    std::condition_variable* cv = nullptr;
    std::mutex* mutex = nullptr;
    time_point deadline;
  };

  mutable std::mutex mu_;
  std::condition_variable waits_cv_;
  time_point now_;
  std::uint64_t waits_ = 0;
  std::uint64_t seen_ = 0;
  std::map<std::uint64_t, Waiter> waiters_;  // waits in progress, by id
  std::vector<time_point> deadlines_;         // of every wait, in order
};

}  // namespace tern::testing
