// src/client/loop_timers.h - one-shot callbacks of one IO loop behind one
// asio timer (issue #21, DESIGN §11 "timeouts through a per-loop timer
// structure, not a heap-allocated timer per call"). The consumer's hedge
// timers (ClusterCall::schedule, src/proxy/reference_call.cc) live here: a
// hedged call adds an entry instead of allocating an asio::steady_timer.
//
// TimerQueue is the pure part, on a Clock, tested by advancing a FakeClock
// (tests/rpc/timer_queue_test.cc): entries are kept in one FIFO per delay
// value (DeadlineQueue, as the channel keeps its call deadlines; the calls of
// one reference hedge after one delay, so each FIFO is in deadline order),
// and a callback by id, removed at once by cancel() (eager removal of the
// callback; cancel() also pops the cancelled slots at the front of its FIFO,
// so with calls settled in the order they started a FIFO holds about the
// callbacks pending; a slot behind an older pending one waits for it). Once warm
// it allocates nothing: FIFOs keep their capacity and callback nodes are
// reused.
//
// LoopTimers drives a TimerQueue with one asio::steady_timer on its loop,
// armed for the earliest deadline only: no periodic sweep. Its mutex is held
// to add, cancel, or take the due callbacks out; the callbacks run after it
// is released.
#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "client/deadline_queue.h"
#include "tern/detail/unique_function.h"

namespace tern::rpc {

class TimerQueue {
 public:
  using Id = std::uint64_t;
  using Callback = detail::UniqueFunction<void()>;

  // `clock` must outlive the queue.
  explicit TimerQueue(const Clock& clock) noexcept : clock_(&clock) {}

  // `fn` is due at clock.now() + delay (a negative delay counts as 0).
  // Returns its id (never 0); `deadline`, when given, receives when it is due.
  Id add(std::chrono::milliseconds delay, Callback fn, Clock::time_point* deadline = nullptr);
  // Removes a callback not taken yet and returns it (to be destroyed by the
  // caller); empty when it was taken or cancelled already.
  Callback cancel(Id id);
  // Moves the callbacks due at clock.now() into `due` and returns the next
  // deadline (time_point::max(): none left). Callbacks of one delay come in
  // deadline order; those of different delays are grouped by delay (all of
  // them are due).
  Clock::time_point take_due(std::vector<Callback>& due);
  // Callbacks pending (not taken, not cancelled).
  std::size_t size() const noexcept { return entries_.size(); }
  // FIFO slots held, pending callbacks' and cancelled ones' not popped yet.
  std::size_t slots() const noexcept;
  const Clock& clock() const noexcept { return *clock_; }

 private:
  struct Entry {
    Callback fn;
    DeadlineQueue* fifo = nullptr;  // its slot's FIFO (a node of fifos_: stable)
  };
  using Entries = std::unordered_map<Id, Entry>;
  static constexpr std::size_t kSpareNodes = 64;
  void recycle(Entries::iterator it);  // erases, keeping the node for the next add()

  const Clock* clock_;
  Id next_id_ = 1;
  Entries entries_;
  std::vector<Entries::node_type> spare_;
  std::map<std::int64_t, DeadlineQueue> fifos_;  // by delay in ms; kept when empty (few distinct delays)
};

class LoopTimers : public std::enable_shared_from_this<LoopTimers> {
 public:
  using Id = TimerQueue::Id;

  // `loop` and `clock` must outlive this object; destroy it while `loop` is
  // not running it (or from `loop`'s thread).
  LoopTimers(asio::io_context& loop, const Clock& clock) : timer_(loop), queue_(clock) {}

  // Runs `fn` on the loop after `delay` unless cancel(id) comes first. Any thread.
  Id schedule(std::chrono::milliseconds delay, TimerQueue::Callback fn);
  // Drops a callback that has not been taken to run yet (it may be running
  // already, or about to: a callback must tolerate that). Any thread.
  void cancel(Id id);
  // Callbacks pending. Any thread.
  std::size_t pending() const;

 private:
  void rearm();     // loop thread: the timer at armed_
  void on_timer();  // loop thread: runs the due callbacks

  asio::steady_timer timer_;  // touched on the loop only
  mutable std::mutex mu_;
  TimerQueue queue_;                                         // guarded by mu_
  Clock::time_point armed_ = Clock::time_point::max();       // guarded by mu_: the deadline the timer waits for
  std::vector<TimerQueue::Callback> due_;                    // loop thread: reused between runs
};

}  // namespace tern::rpc
