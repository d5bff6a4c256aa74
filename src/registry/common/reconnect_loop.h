// reconnect_loop.h - the one session thread of the registry backends: runs a
// backend's step when there is work, when its own timer is due, and when the
// retry after a failure is due, with backoff (backoff.h) timed by a Clock
// (base/clock.h).
//
// Used by: EmbeddedRegistry (heartbeats and resync), ZookeeperRegistry (the
// session thread: events, session re-creation and resync) and EtcdRegistry
// (one loop for lease/writes/reads, one for the watch stream). Each backend
// keeps what only it knows (what a step does); the waiting, the wakeups, the
// backoff and the stop live here.
//
// A pass: the loop calls step(pass) on its thread, without holding any lock
// of its own, when
//  - wake() was called since the previous pass began (work arrived), or
//  - the time the previous step asked for (Step::next) has come, or
//  - the retry scheduled after a failure has come (pass.retry is then true).
// The step answers with an Outcome:
//  - kSynced: everything is in line with the registry: the backoff starts
//    again from its initial delay and a scheduled retry is cancelled;
//  - kFailed: something failed: a retry is scheduled at now + the next
//    backoff delay, unless one is scheduled already (a failure never pushes
//    a scheduled retry later);
//  - kIdle: nothing learned about the registry (e.g. only events handled).
// pass.backing_off tells a step that a retry is scheduled for later; a
// backend that waits the backoff out (etcd) returns kIdle at once then.
//
// Threads and callbacks: one thread, owned, started by start() and joined by
// stop() or the destructor. step runs on it only, never inline in wake().
// wake() may be called from any thread, including under the caller's own
// mutex (the loop never calls step while holding its mutex, so the caller's
// lock may be held by step too). reset_backoff() is for step only.
// Ownership: the loop keeps `step` (and what it captures) until it is
// destroyed; `clock` must outlive the loop.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "base/clock.h"
#include "registry/common/backoff.h"

namespace tern {

class ReconnectLoop {
 public:
  enum class Outcome { kIdle, kSynced, kFailed };
  struct Pass {
    Clock::time_point now;     // the clock when the pass began
    bool retry = false;        // the retry scheduled after a failure is due now
    bool backing_off = false;  // a retry is scheduled for later than now
  };
  struct Step {
    Outcome outcome = Outcome::kIdle;
    // When to run the next pass even if nothing wakes the loop (a heartbeat,
    // a lease renewal); max(): only wake() or a retry.
    Clock::time_point next = Clock::time_point::max();
  };
  using StepFn = std::function<Step(const Pass& pass)>;

  // Does not start the thread. `seed` fixes the backoff's jitter (tests);
  // 0 seeds from std::random_device.
  ReconnectLoop(BackoffPolicy policy, StepFn step, Clock& clock = Clock::steady(), std::uint64_t seed = 0);
  // stop().
  ~ReconnectLoop();
  ReconnectLoop(const ReconnectLoop&) = delete;
  ReconnectLoop& operator=(const ReconnectLoop&) = delete;

  // Starts the thread; the first pass runs after `first_delay` (at once by
  // default). Call at most once.
  void start(Clock::duration first_delay = Clock::duration::zero());
  // Stops the thread: a waiting loop returns at once, a running step is
  // finished first (a step that blocks must be ended by the backend, e.g.
  // by its own stop flag). Idempotent. Must not be called from step.
  void stop();
  // Runs a pass as soon as the thread is free. Any thread; never blocks on
  // a running step.
  void wake();
  // From step only: the next failure waits the initial delay again (a
  // connection came up), without cancelling a scheduled retry.
  void reset_backoff();

 private:
  void run(Clock::duration first_delay);

  Clock& clock_;
  const StepFn step_;

  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  Backoff backoff_;
  bool stop_ = false;
  bool woken_ = false;
  std::optional<Clock::time_point> retry_at_;
  Clock::time_point next_ = Clock::time_point::max();
  std::thread thread_;
};

}  // namespace tern
