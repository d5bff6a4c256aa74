// Per-loop one-shot timers (src/client/loop_timers.h): the TimerQueue on a
// FakeClock (exact due times, cancel, reuse), and LoopTimers on a real loop
// (the callbacks run on the loop, cancel wins, one asio timer for all).
#include "client/loop_timers.h"

#include <gtest/gtest.h>

#include <asio/executor_work_guard.hpp>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "fake_clock.h"

using namespace std::chrono_literals;
using tern::rpc::LoopTimers;
using tern::rpc::TimerQueue;

namespace {
// Runs what is due; `next` receives the next deadline.
void run_due(TimerQueue& q, tern::Clock::time_point* next = nullptr) {
  std::vector<TimerQueue::Callback> due;
  auto n = q.take_due(due);
  if (next) *next = n;
  for (auto& fn : due) fn();
}
}  // namespace

TEST(TimerQueue, CallbacksBecomeDueExactlyAtTheirDeadline) {
  tern::testing::FakeClock clock;
  TimerQueue q(clock);
  const auto t0 = clock.now();
  std::string ran;
  q.add(100ms, [&] { ran += "a"; });
  clock.advance(10ms);
  q.add(100ms, [&] { ran += "b"; });  // due at t0 + 110 ms
  q.add(50ms, [&] { ran += "c"; });   // due at t0 + 60 ms
  EXPECT_EQ(q.size(), 3u);
  tern::Clock::time_point next;
  run_due(q, &next);
  EXPECT_EQ(ran, "");
  EXPECT_EQ(next, t0 + 60ms);
  clock.advance(49ms);  // t0 + 59 ms
  run_due(q, &next);
  EXPECT_EQ(ran, "");
  clock.advance(1ms);  // t0 + 60 ms
  run_due(q, &next);
  EXPECT_EQ(ran, "c");
  EXPECT_EQ(next, t0 + 100ms);
  clock.advance(40ms);  // t0 + 100 ms
  run_due(q, &next);
  EXPECT_EQ(ran, "ca");
  EXPECT_EQ(next, t0 + 110ms);
  clock.advance(10ms);
  run_due(q, &next);
  EXPECT_EQ(ran, "cab");
  EXPECT_EQ(next, tern::Clock::time_point::max());
  EXPECT_EQ(q.size(), 0u);
}

TEST(TimerQueue, ACancelledCallbackNeverRunsAndIsReleasedAtOnce) {
  tern::testing::FakeClock clock;
  TimerQueue q(clock);
  auto held = std::make_shared<int>(7);
  std::string ran;
  auto a = q.add(100ms, [&, held] { ran += "a"; });
  q.add(100ms, [&] { ran += "b"; });
  EXPECT_EQ(held.use_count(), 2);
  auto fn = q.cancel(a);
  EXPECT_TRUE(static_cast<bool>(fn));
  fn = nullptr;
  EXPECT_EQ(held.use_count(), 1);  // eager: the callback's captures are gone before the deadline
  EXPECT_FALSE(static_cast<bool>(q.cancel(a)));  // twice: nothing
  EXPECT_EQ(q.size(), 1u);
  clock.advance(100ms);
  tern::Clock::time_point next;
  run_due(q, &next);
  EXPECT_EQ(ran, "b");
  EXPECT_EQ(next, tern::Clock::time_point::max());
}

TEST(TimerQueue, ACancelledFrontDoesNotHoldBackTheNextDeadline) {
  tern::testing::FakeClock clock;
  TimerQueue q(clock);
  const auto t0 = clock.now();
  int ran = 0;
  auto first = q.add(100ms, [&] { ++ran; });
  clock.advance(30ms);
  q.add(100ms, [&] { ++ran; });  // t0 + 130 ms
  q.cancel(first);
  tern::Clock::time_point next;
  run_due(q, &next);
  EXPECT_EQ(next, t0 + 130ms);  // the cancelled one at t0 + 100 is not waited for
  EXPECT_EQ(ran, 0);
}

TEST(TimerQueue, CancelledSlotsLeaveTheirFifoAtOnceWhenCancelledInOrder) {
  // Hedge timers of calls that settle first, in the order they started: the
  // FIFO holds the pending ones only, not every timer of the last delay.
  tern::testing::FakeClock clock;
  TimerQueue q(clock);
  int ran = 0;
  std::vector<TimerQueue::Id> ids;
  for (int i = 0; i < 16; ++i) ids.push_back(q.add(50ms, [&] { ++ran; }));
  for (int i = 0; i < 5000; ++i) {
    EXPECT_TRUE(static_cast<bool>(q.cancel(ids[static_cast<std::size_t>(i)])));
    ids.push_back(q.add(50ms, [&] { ++ran; }));
    ASSERT_EQ(q.slots(), 16u) << "after " << i;
  }
  EXPECT_EQ(q.size(), 16u);
  // Out of order: a cancelled slot behind a pending one stays until that goes.
  auto third = ids[5002];
  EXPECT_TRUE(static_cast<bool>(q.cancel(third)));
  EXPECT_EQ(q.slots(), 16u);
  EXPECT_EQ(q.size(), 15u);
  EXPECT_TRUE(static_cast<bool>(q.cancel(ids[5000])));
  EXPECT_EQ(q.slots(), 15u);  // 5000's slot; 5001 is pending at the front
  EXPECT_TRUE(static_cast<bool>(q.cancel(ids[5001])));
  EXPECT_EQ(q.slots(), 13u);  // 5001's and 5002's
  clock.advance(50ms);
  tern::Clock::time_point next;
  run_due(q, &next);
  EXPECT_EQ(ran, 13);
  EXPECT_EQ(q.slots(), 0u);
}

TEST(TimerQueue, ANegativeOrZeroDelayIsDueAtOnceAndIdsAreNeverReused) {
  tern::testing::FakeClock clock;
  TimerQueue q(clock);
  int ran = 0;
  auto a = q.add(-5ms, [&] { ++ran; });
  auto b = q.add(0ms, [&] { ++ran; });
  EXPECT_NE(a, 0u);
  EXPECT_NE(a, b);
  run_due(q);
  EXPECT_EQ(ran, 2);
  auto c = q.add(0ms, [&] { ++ran; });  // reuses a node, not an id
  EXPECT_NE(c, a);
  EXPECT_NE(c, b);
  EXPECT_FALSE(static_cast<bool>(q.cancel(a)));  // a ran: its id does not reach c
  EXPECT_EQ(q.size(), 1u);
}

TEST(LoopTimers, RunsOnTheLoopAfterTheDelayAndCancelWins) {
  asio::io_context loop;
  auto guard = asio::make_work_guard(loop);
  std::thread io([&] { loop.run(); });
  auto timers = std::make_shared<LoopTimers>(loop, tern::Clock::steady());
  std::promise<std::thread::id> ran_on;
  auto start = tern::Clock::steady().now();
  bool cancelled_ran = false;
  auto doomed = timers->schedule(20ms, [&] { cancelled_ran = true; });
  timers->schedule(30ms, [&] { ran_on.set_value(std::this_thread::get_id()); });
  timers->cancel(doomed);
  auto f = ran_on.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(f.get(), io.get_id());
  EXPECT_GE(tern::Clock::steady().now() - start, 30ms);
  EXPECT_FALSE(cancelled_ran);
  EXPECT_EQ(timers->pending(), 0u);
  // Many at once share the one timer; each runs once.
  constexpr int kMany = 1000;
  std::atomic<int> count{0};
  std::promise<void> all;
  for (int i = 0; i < kMany; ++i) {
    timers->schedule(std::chrono::milliseconds(i % 7), [&] {
      if (count.fetch_add(1) + 1 == kMany) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(10s), std::future_status::ready);
  EXPECT_EQ(count.load(), kMany);
  guard.reset();
  loop.stop();
  io.join();
}
