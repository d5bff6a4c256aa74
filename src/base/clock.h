// clock.h - the Clock seam (issue #21): a steady clock that can be replaced,
// so that code waiting for time (backoff, heartbeats, timeouts, ejection) is
// tested by advancing a fake clock instead of sleeping.
//
// Users: ReconnectLoop (registry/common); rpc::Session's heartbeat decision
// (rpc/heartbeat.h); the outlier ejector; ClientCore::clock (references, hedge
// timers, its channels); tern::Channel (reconnect backoff, resolution waits,
// its sessions' call deadlines); Server::Impl::clock (request deadlines).
// docs/architecture.md lists what still reads steady_clock directly.
// tests/helpers/fake_clock.h is the test implementation.
//
// Internal header (not installed): the interface may still change while
// those users adopt it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace tern {

// A source of steady time plus the one kind of waiting that depends on it.
// Implementations are thread-safe: every method may be called from any
// thread concurrently. The interface has no data members; Clock::steady() is
// the reference implementation.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  using duration = std::chrono::steady_clock::duration;

  virtual ~Clock() = default;

  // The current time of this clock; never goes backwards.
  virtual time_point now() const = 0;

  // Blocks on `cv` until `done()` is true or this clock has reached
  // `deadline` (time_point::max(): no deadline), and returns done().
  // `lock` must hold the mutex that guards what done() reads and that the
  // notifier of `cv` takes; it is held on entry and on return and released
  // while blocked. done() is called with `lock` held. Spurious wakeups are
  // absorbed.
  virtual bool wait_until(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, time_point deadline,
                          const std::function<bool()>& done) = 0;

  // The process-wide real clock (std::chrono::steady_clock); lives forever.
  static Clock& steady();
};

}  // namespace tern
