// Bounded polling for tests (header-only): the one way a test waits for
// something another thread or process does. Nothing here sleeps for a fixed
// time except between polls, so a test that passes is as fast as the
// system under test.
#pragma once

#include <chrono>
#include <thread>

namespace testutil {

// Calls `cond` until it returns true (then true) or `timeout` has passed
// (then false; `cond` was called once more after the deadline), sleeping
// `step` between calls. `cond` runs on the calling thread.
template <typename Cond>
bool wait_until(Cond&& cond, std::chrono::milliseconds timeout = std::chrono::seconds(5),
                std::chrono::milliseconds step = std::chrono::milliseconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (cond()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
}

}  // namespace testutil
