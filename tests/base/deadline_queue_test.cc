// The channel's per-timeout FIFO (src/client/deadline_queue.h): order is kept
// across wrap-around and growth, and steady use does not grow it; and the
// timer's sweep over the FIFOs, driven by a FakeClock.
#include "client/deadline_queue.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "fake_clock.h"

namespace {

using tern::rpc::DeadlineQueue;
using TimePoint = std::chrono::steady_clock::time_point;

TimePoint at(int ms) { return TimePoint(std::chrono::milliseconds(ms)); }

TEST(DeadlineQueue, KeepsFifoOrderAcrossWrapAroundAndGrowth) {
  DeadlineQueue q;
  std::uint64_t next_in = 0, next_out = 0;
  // Wrap the 64-entry ring several times at a depth of 40, then grow it to
  // 300 entries while its head is in the middle.
  for (int round = 0; round < 500; ++round) {
    q.emplace_back(at(static_cast<int>(next_in)), next_in);
    ++next_in;
    if (next_in - next_out > 40) {
      ASSERT_EQ(q.front().second, next_out);
      q.pop_front();
      ++next_out;
    }
  }
  for (int i = 0; i < 260; ++i, ++next_in) q.emplace_back(at(static_cast<int>(next_in)), next_in);
  while (!q.empty()) {
    ASSERT_EQ(q.front().second, next_out);
    ASSERT_EQ(q.front().first, at(static_cast<int>(next_out)));
    q.pop_front();
    ++next_out;
  }
  EXPECT_EQ(next_out, next_in);
  EXPECT_EQ(next_in, 760u);
}

}  // namespace

// ---- the channel timer's sweep, on a FakeClock ----

namespace {

using namespace std::chrono_literals;

// A channel's pending table reduced to what the sweep asks: id -> deadline.
struct Calls {
  std::map<std::uint32_t, DeadlineQueue> fifos;
  std::map<std::uint64_t, TimePoint> pending;
  std::uint64_t next_id = 1;
  std::uint64_t start(const tern::Clock& clock, std::chrono::milliseconds timeout) {
    auto id = next_id++;
    auto deadline = clock.now() + timeout;
    pending[id] = deadline;
    fifos[static_cast<std::uint32_t>(timeout.count())].emplace_back(deadline, id);
    return id;
  }
  // The sweep at the clock's now: the ids failed DEADLINE_EXCEEDED, in order.
  std::vector<std::uint64_t> sweep(const tern::Clock& clock, TimePoint* next) {
    std::vector<std::uint64_t> expired;
    *next = tern::rpc::sweep_deadlines(
        fifos, clock.now(),
        [&](std::uint64_t id, TimePoint deadline) {
          auto it = pending.find(id);
          return it != pending.end() && it->second == deadline;
        },
        [&](std::uint64_t id) {
          expired.push_back(id);
          pending.erase(id);
        });
    return expired;
  }
};

}  // namespace

TEST(SweepDeadlines, ExpiresCallsExactlyAtTheirDeadlineAcrossTimeouts) {
  tern::testing::FakeClock clock;
  const auto t0 = clock.now();
  Calls c;
  auto a = c.start(clock, 100ms);  // t0 + 100
  auto b = c.start(clock, 30ms);   // t0 + 30
  clock.advance(10ms);
  auto d = c.start(clock, 100ms);  // t0 + 110
  auto e = c.start(clock, 30ms);   // t0 + 40
  TimePoint next;
  EXPECT_TRUE(c.sweep(clock, &next).empty());
  EXPECT_EQ(next, t0 + 30ms);
  clock.advance(19ms);  // t0 + 29
  EXPECT_TRUE(c.sweep(clock, &next).empty());
  clock.advance(1ms);  // t0 + 30: b exactly at its deadline
  EXPECT_EQ(c.sweep(clock, &next), std::vector<std::uint64_t>{b});
  EXPECT_EQ(next, t0 + 40ms);
  clock.advance(70ms);  // t0 + 100: e (t0 + 40) and a (t0 + 100)
  auto expired = c.sweep(clock, &next);
  EXPECT_EQ(std::set<std::uint64_t>(expired.begin(), expired.end()), (std::set<std::uint64_t>{a, e}));
  EXPECT_EQ(next, t0 + 110ms);
  EXPECT_EQ(c.fifos.size(), 1u);  // the 30 ms FIFO is empty and gone
  clock.advance(10ms);
  EXPECT_EQ(c.sweep(clock, &next), std::vector<std::uint64_t>{d});
  EXPECT_EQ(next, TimePoint::max());
  EXPECT_TRUE(c.fifos.empty());
}

TEST(SweepDeadlines, FinishedCallsAreDroppedAndNeverExpire) {
  tern::testing::FakeClock clock;
  const auto t0 = clock.now();
  Calls c;
  auto a = c.start(clock, 50ms);
  clock.advance(5ms);
  auto b = c.start(clock, 50ms);  // t0 + 55
  c.pending.erase(a);            // a answered before its deadline
  TimePoint next;
  EXPECT_TRUE(c.sweep(clock, &next).empty());
  EXPECT_EQ(next, t0 + 55ms);  // a's entry no longer holds the timer at t0 + 50
  EXPECT_EQ(c.fifos.at(50).size(), 1u);
  clock.advance(50ms);
  EXPECT_EQ(c.sweep(clock, &next), std::vector<std::uint64_t>{b});
}

TEST(SweepDeadlines, AReusedIdWithAnotherDeadlineIsNotTheOldEntry) {
  // The live check compares the deadline too, as the channel's does.
  tern::testing::FakeClock clock;
  Calls c;
  auto a = c.start(clock, 10ms);
  clock.advance(1ms);
  c.pending[a] = clock.now() + 1000ms;  // the id now names a different, later call
  clock.advance(20ms);
  TimePoint next;
  EXPECT_TRUE(c.sweep(clock, &next).empty());
  EXPECT_EQ(c.pending.count(a), 1u);
}

// ---- eager removal when a call finishes (pop_finished_front) ----

namespace {

// Finishes call `id` of `c` as the channel does: erases it, then pops the
// finished entries at the front of its FIFO. Returns how many it popped and
// counts the live checks made.
std::size_t finish(Calls& c, std::uint32_t timeout_ms, std::uint64_t id, int* checks) {
  c.pending.erase(id);
  return tern::rpc::pop_finished_front(c.fifos.at(timeout_ms), id, [&](std::uint64_t other, TimePoint deadline) {
    ++*checks;
    auto it = c.pending.find(other);
    return it != c.pending.end() && it->second == deadline;
  });
}

}  // namespace

TEST(PopFinishedFront, InOrderResponsesKeepTheFifoAtTheCallsInFlight) {
  // 64 calls in flight, 10,000 answered in call order: without eager removal
  // the FIFO would hold all 10,064 entries until the timer's sweep.
  tern::testing::FakeClock clock;
  Calls c;
  std::uint64_t oldest = c.start(clock, 3000ms);
  for (int i = 1; i < 64; ++i) c.start(clock, 3000ms);
  int checks = 0;
  for (int i = 0; i < 10000; ++i) {
    ASSERT_EQ(finish(c, 3000, oldest++, &checks), 1u) << "call " << i;
    c.start(clock, 3000ms);
    ASSERT_EQ(c.fifos.at(3000).size(), 64u);
  }
  EXPECT_EQ(c.fifos.at(3000).front().second, oldest);
  // One live check per finished call: the entry behind it (never its own).
  EXPECT_EQ(checks, 10000);
}

TEST(PopFinishedFront, AnEntryBehindAnOlderLiveCallWaitsForIt) {
  tern::testing::FakeClock clock;
  Calls c;
  auto a = c.start(clock, 100ms);
  auto b = c.start(clock, 100ms);
  auto d = c.start(clock, 100ms);
  int checks = 0;
  EXPECT_EQ(finish(c, 100, b, &checks), 0u);  // a, older and live, is at the front
  EXPECT_EQ(c.fifos.at(100).size(), 3u);
  EXPECT_EQ(finish(c, 100, a, &checks), 2u);  // a's own entry and b's, finished before
  ASSERT_EQ(c.fifos.at(100).size(), 1u);
  EXPECT_EQ(c.fifos.at(100).front().second, d);
  EXPECT_EQ(finish(c, 100, d, &checks), 1u);
  EXPECT_TRUE(c.fifos.at(100).empty());
  // What is left for the sweep: nothing, and the timer has no deadline to wait for.
  TimePoint next;
  clock.advance(200ms);
  EXPECT_TRUE(c.sweep(clock, &next).empty());
  EXPECT_EQ(next, TimePoint::max());
}

TEST(DeadlineQueue, RetainKeepsTheLiveEntriesInOrderAcrossTheWrap) {
  DeadlineQueue q;
  // Move the head to the middle of the 64-entry ring so kept entries wrap.
  for (std::uint64_t i = 0; i < 50; ++i) q.emplace_back(at(static_cast<int>(i)), i);
  for (int i = 0; i < 50; ++i) q.pop_front();
  for (std::uint64_t i = 100; i < 160; ++i) q.emplace_back(at(static_cast<int>(i)), i);
  q.retain([](std::uint64_t id, TimePoint) { return id % 3 == 0; });
  std::vector<std::uint64_t> left;
  while (!q.empty()) {
    left.push_back(q.front().second);
    EXPECT_EQ(q.front().first, at(static_cast<int>(q.front().second)));
    q.pop_front();
  }
  std::vector<std::uint64_t> want;
  for (std::uint64_t i = 100; i < 160; ++i)
    if (i % 3 == 0) want.push_back(i);
  EXPECT_EQ(left, want);
  // Still usable after: order kept for what comes next.
  q.emplace_back(at(1), 7);
  q.emplace_back(at(2), 8);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.front().second, 7u);
}

TEST(PopFinishedFront, OnlyTheFinishedCallsFifoIsTouched) {
  tern::testing::FakeClock clock;
  Calls c;
  auto fast = c.start(clock, 10ms);
  auto slow = c.start(clock, 5000ms);
  int checks = 0;
  EXPECT_EQ(finish(c, 10, fast, &checks), 1u);
  EXPECT_TRUE(c.fifos.at(10).empty());
  ASSERT_EQ(c.fifos.at(5000).size(), 1u);
  EXPECT_EQ(c.fifos.at(5000).front().second, slow);
  EXPECT_EQ(checks, 0);  // the finished call's own entry needs no lookup
}
