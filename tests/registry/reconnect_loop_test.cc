// ReconnectLoop (src/registry/common/reconnect_loop.h) on a FakeClock: the
// exact retry times, reset after success, wakeups, timers and stop, without
// a server and without sleeping.
#include "registry/common/reconnect_loop.h"

#include <gtest/gtest.h>

#include <deque>
#include <mutex>
#include <vector>

#include "fake_clock.h"

namespace tern {
namespace {

using std::chrono::milliseconds;
using Outcome = ReconnectLoop::Outcome;

// A step that answers from a script (kFailed once the script is used up)
// and records every pass.
class ScriptedStep {
 public:

  ReconnectLoop::StepFn fn() {
    return [this](const ReconnectLoop::Pass& pass) {
      std::lock_guard lock(mu_);
      passes_.push_back(pass);
      ReconnectLoop::Step step;
      step.outcome = Outcome::kFailed;
      if (!script_.empty()) {
        step = script_.front();
        script_.pop_front();
      }
      return step;
    };
  }
  void then(Outcome outcome, Clock::time_point next = Clock::time_point::max()) {
    std::lock_guard lock(mu_);
    script_.push_back(ReconnectLoop::Step{outcome, next});
  }
  std::vector<ReconnectLoop::Pass> passes() const {
    std::lock_guard lock(mu_);
    return passes_;
  }

 private:
  mutable std::mutex mu_;
  std::deque<ReconnectLoop::Step> script_;
  std::vector<ReconnectLoop::Pass> passes_;
};

const BackoffPolicy kNoJitter{milliseconds(100), milliseconds(1000), 2.0, 0.0};

// Waits for the loop to block and returns how long after now it will wake.
milliseconds next_wait(testing::FakeClock& clock) {
  auto deadline = clock.await_wait();
  EXPECT_TRUE(deadline.has_value()) << "the loop never waited";
  if (!deadline) return milliseconds(-1);
  if (*deadline == Clock::time_point::max()) return milliseconds::max();
  return std::chrono::duration_cast<milliseconds>(*deadline - clock.now());
}

// Lets the loop retry `n` times: each time waits for it to block, records
// how long it waits, and advances the clock by that much.
std::vector<long long> follow_retries(testing::FakeClock& clock, int n) {
  std::vector<long long> waits;
  for (int i = 0; i < n; ++i) {
    const milliseconds w = next_wait(clock);
    waits.push_back(w.count());
    clock.advance(w);
  }
  return waits;
}

TEST(ReconnectLoop, RetriesFollowTheBackoffExactly) {
  testing::FakeClock clock;
  ScriptedStep step;
  ReconnectLoop loop(kNoJitter, step.fn(), clock, 1);
  loop.start();  // first pass at once; it fails
  EXPECT_EQ(follow_retries(clock, 6), (std::vector<long long>{100, 200, 400, 800, 1000, 1000}));
  EXPECT_EQ(next_wait(clock), milliseconds(1000));
  loop.stop();
  const auto passes = step.passes();
  ASSERT_EQ(passes.size(), 7u);
  EXPECT_FALSE(passes[0].retry);
  for (std::size_t i = 1; i < passes.size(); ++i) {
    EXPECT_TRUE(passes[i].retry) << i;
    EXPECT_FALSE(passes[i].backing_off) << i;
  }
}

TEST(ReconnectLoop, JitteredRetriesFollowTheSeed) {
  testing::FakeClock clock;
  ScriptedStep step;
  ReconnectLoop loop(BackoffPolicy{milliseconds(100), milliseconds(1000), 2.0, 0.2}, step.fn(), clock, 42);
  loop.start();
  // As Backoff with seed 42 (backoff_test.cc).
  EXPECT_EQ(follow_retries(clock, 6), (std::vector<long long>{110, 211, 440, 684, 1000, 838}));
  loop.stop();
}

TEST(ReconnectLoop, SuccessResetsTheBackoffAndCancelsTheRetry) {
  testing::FakeClock clock;
  ScriptedStep step;
  step.then(Outcome::kFailed);
  step.then(Outcome::kFailed);
  step.then(Outcome::kFailed);
  step.then(Outcome::kSynced);  // next: only a wakeup
  ReconnectLoop loop(kNoJitter, step.fn(), clock, 1);
  loop.start();
  EXPECT_EQ(follow_retries(clock, 3), (std::vector<long long>{100, 200, 400}));
  EXPECT_EQ(next_wait(clock), milliseconds::max());  // synced: no retry left
  loop.wake();  // fails (script used up): the backoff starts again at 100 ms
  EXPECT_EQ(next_wait(clock), milliseconds(100));
  loop.stop();
  EXPECT_EQ(step.passes().size(), 5u);
}

TEST(ReconnectLoop, ResetBackoffKeepsTheScheduledRetry) {
  testing::FakeClock clock;
  ReconnectLoop* self = nullptr;
  int passes = 0;
  std::mutex mu;
  ReconnectLoop loop(
      kNoJitter,
      [&](const ReconnectLoop::Pass&) {
        std::lock_guard lock(mu);
        ++passes;
        if (passes == 4) self->reset_backoff();  // "connected", then the resync fails
        return ReconnectLoop::Step{Outcome::kFailed};
      },
      clock, 1);
  self = &loop;
  loop.start();
  EXPECT_EQ(follow_retries(clock, 3), (std::vector<long long>{100, 200, 400}));
  EXPECT_EQ(next_wait(clock), milliseconds(100));  // pass 4 reset the backoff before failing
  loop.stop();
}

TEST(ReconnectLoop, WakeWhileBackingOffRunsAPassButKeepsTheRetryTime) {
  testing::FakeClock clock;
  ScriptedStep step;
  ReconnectLoop loop(kNoJitter, step.fn(), clock, 1);
  loop.start();
  EXPECT_EQ(next_wait(clock), milliseconds(100));
  clock.advance(milliseconds(30));
  loop.wake();  // fails again, but the retry stays at +100 ms from the first failure
  EXPECT_EQ(next_wait(clock), milliseconds(70));
  clock.advance(milliseconds(70));
  EXPECT_EQ(next_wait(clock), milliseconds(200));
  loop.stop();
  const auto passes = step.passes();
  ASSERT_EQ(passes.size(), 3u);
  EXPECT_FALSE(passes[1].retry);
  EXPECT_TRUE(passes[1].backing_off);
  EXPECT_TRUE(passes[2].retry);
  EXPECT_FALSE(passes[2].backing_off);
}

TEST(ReconnectLoop, StepTimerAndFirstDelay) {
  testing::FakeClock clock;
  ScriptedStep step;
  const Clock::time_point t0 = clock.now();
  step.then(Outcome::kSynced, t0 + milliseconds(500 + 1000));  // a heartbeat every second
  step.then(Outcome::kSynced, t0 + milliseconds(500 + 2000));
  ReconnectLoop loop(kNoJitter, step.fn(), clock, 1);
  loop.start(milliseconds(500));
  EXPECT_EQ(next_wait(clock), milliseconds(500));
  EXPECT_TRUE(step.passes().empty());
  clock.advance(milliseconds(500));
  EXPECT_EQ(next_wait(clock), milliseconds(1000));
  clock.advance(milliseconds(1000));
  EXPECT_EQ(next_wait(clock), milliseconds(1000));
  loop.stop();
  const auto passes = step.passes();
  ASSERT_EQ(passes.size(), 2u);
  EXPECT_EQ(passes[0].now, t0 + milliseconds(500));
  EXPECT_EQ(passes[1].now, t0 + milliseconds(1500));
}

TEST(ReconnectLoop, StopWhileWaitingForARetryReturnsWithoutAnotherPass) {
  testing::FakeClock clock;
  ScriptedStep step;
  ReconnectLoop loop(kNoJitter, step.fn(), clock, 1);
  loop.start();
  EXPECT_EQ(next_wait(clock), milliseconds(100));
  loop.stop();  // no advance: the wait ends because of stop alone
  EXPECT_EQ(step.passes().size(), 1u);
  loop.stop();  // idempotent
}

TEST(ReconnectLoop, StopBeforeStartAndWithoutStart) {
  testing::FakeClock clock;
  ScriptedStep step;
  {
    ReconnectLoop never_started(kNoJitter, step.fn(), clock, 1);
  }
  EXPECT_TRUE(step.passes().empty());
}

}  // namespace
}  // namespace tern
