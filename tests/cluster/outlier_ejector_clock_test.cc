// The outlier ejector on an injected Clock (issue #21): ejection and
// re-admission happen at the configured times, measured by advancing a
// FakeClock (tests/helpers/fake_clock.h), never by sleeping. The state
// machine with explicit times is tests/cluster_e2e/outlier_ejector_test.cc.
#include "tern/cluster/outlier_ejector.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

using namespace std::chrono_literals;
using tern::cluster::InvokerStats;
using tern::cluster::OutlierEjector;

namespace {
const tern::Status kOk;
const tern::Status kRefused(tern::StatusCode::kUnavailable, "connect refused", false);
const tern::Status kInternal(tern::StatusCode::kInternal, "handler threw", true);
}  // namespace

TEST(OutlierEjectorClock, EjectedForTheBackoffThenProbedThenReadmitted) {
  tern::testing::FakeClock clock;
  OutlierEjector e({.eject_after = 3, .backoff = 1000ms, .max_backoff = 4000ms}, &clock);
  InvokerStats st;
  e.on_result(st, kRefused, 0us);
  e.on_result(st, kRefused, 0us);
  EXPECT_FALSE(e.ejected());
  EXPECT_TRUE(e.available());
  e.on_result(st, kRefused, 0us);  // the 3rd consecutive connection failure
  ASSERT_TRUE(e.ejected());
  EXPECT_FALSE(e.available());
  clock.advance(999ms);
  EXPECT_FALSE(e.available());  // 1 ms before the backoff ends
  clock.advance(1ms);
  EXPECT_TRUE(e.available());  // exactly at the end: probe-able
  e.on_attempt();              // this attempt is the probe
  EXPECT_FALSE(e.available());  // one probe at a time
  e.on_result(st, kOk, 5ms);    // the probe answered
  EXPECT_FALSE(e.ejected());
  EXPECT_TRUE(e.available());
  EXPECT_EQ(e.next_backoff(), 1000ms);
  EXPECT_EQ(st.consecutive_failures.load(), 0);
}

TEST(OutlierEjectorClock, AFailedProbeDoublesTheBackoffUpToTheCap) {
  tern::testing::FakeClock clock;
  OutlierEjector e({.eject_after = 1, .backoff = 1000ms, .max_backoff = 3000ms}, &clock);
  InvokerStats st;
  e.on_result(st, kRefused, 0us);
  ASSERT_TRUE(e.ejected());
  EXPECT_EQ(e.next_backoff(), 2000ms);
  clock.advance(1000ms);
  e.on_attempt();
  e.on_result(st, kRefused, 0us);  // the probe failed: ejected for 2 s from now
  clock.advance(1999ms);
  EXPECT_FALSE(e.available());
  clock.advance(1ms);
  EXPECT_TRUE(e.available());
  EXPECT_EQ(e.next_backoff(), 3000ms);  // 4 s capped at 3 s
  e.on_attempt();
  e.on_result(st, kRefused, 0us);  // 3 s (the cap)
  clock.advance(2999ms);
  EXPECT_FALSE(e.available());
  clock.advance(1ms);
  EXPECT_TRUE(e.available());
  e.on_attempt();
  e.on_result(st, kRefused, 0us);  // still 3 s
  clock.advance(2999ms);
  EXPECT_FALSE(e.available());
  clock.advance(1ms);
  EXPECT_TRUE(e.available());
}

TEST(OutlierEjectorClock, OutcomesOfCallsSentBeforeTheEjectionAreIgnored) {
  tern::testing::FakeClock clock;
  OutlierEjector e({.eject_after = 0, .backoff = 500ms, .window = 4, .min_calls = 4, .failure_rate = 0.5}, &clock);
  InvokerStats st;
  e.on_result(st, kInternal, 1ms);
  e.on_result(st, kOk, 1ms);
  e.on_result(st, kOk, 1ms);
  EXPECT_FALSE(e.ejected());
  e.on_result(st, kInternal, 1ms);  // 2 of 4 failed >= 0.5: trips
  ASSERT_TRUE(e.ejected());
  clock.advance(499ms);
  e.on_result(st, kOk, 1ms);  // a call from before the ejection answers late: ignored
  EXPECT_TRUE(e.ejected());
  EXPECT_FALSE(e.available());
  clock.advance(1ms);
  EXPECT_TRUE(e.available());
  e.on_attempt();
  e.on_result(st, kOk, 1ms);  // the probe
  EXPECT_FALSE(e.ejected());
}

TEST(OutlierEjectorClock, WithoutAClockTheSteadyClockIsUsed) {
  OutlierEjector e({.eject_after = 1, .backoff = 60000ms});
  InvokerStats st;
  e.on_result(st, kRefused, 0us);
  EXPECT_TRUE(e.ejected());
  EXPECT_FALSE(e.available());  // a minute from now on the real clock
}
