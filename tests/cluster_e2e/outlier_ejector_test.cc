// The outlier-ejection state machine with times passed in (no sleeping), and
// the retry rule every strategy shares.
#include "tern/cluster/outlier_ejector.h"

#include <gtest/gtest.h>

#include "tern/cluster/fault_tolerance.h"

using namespace std::chrono_literals;
using tern::cluster::InvokerStats;
using tern::cluster::OutlierEjector;

TEST(OutlierEjector, EjectsAfterThreeFailuresBacksOffDoublingAndResetsOnSuccess) {
  OutlierEjector e({.eject_after = 3, .backoff = 1000ms, .max_backoff = 4000ms});
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  e.on_connection_failure(st, t);
  e.on_connection_failure(st, t);
  EXPECT_TRUE(e.available(t));
  e.on_connection_failure(st, t);
  EXPECT_EQ(st.consecutive_failures.load(), 3);
  EXPECT_TRUE(e.ejected());
  EXPECT_FALSE(e.available(t + 999ms));
  EXPECT_TRUE(e.available(t + 1000ms));  // probe-able
  e.on_attempt(t + 1000ms);               // the probe
  EXPECT_FALSE(e.available(t + 1001ms));  // one probe at a time
  e.on_connection_failure(st, t + 1010ms);  // probe failed: 2 s now
  EXPECT_FALSE(e.available(t + 3009ms));
  EXPECT_TRUE(e.available(t + 3010ms));
  e.on_attempt(t + 3010ms);
  e.on_inconclusive();  // the probe timed out: another call may probe
  EXPECT_TRUE(e.available(t + 3020ms));
  e.on_attempt(t + 3020ms);
  e.on_connection_failure(st, t + 3020ms);  // 4 s
  e.on_attempt(t + 7020ms);
  e.on_connection_failure(st, t + 7020ms);  // capped at 4 s
  EXPECT_FALSE(e.available(t + 11019ms));
  EXPECT_TRUE(e.available(t + 11020ms));
  e.on_attempt(t + 11020ms);
  e.on_success(st);
  EXPECT_FALSE(e.ejected());
  EXPECT_EQ(st.consecutive_failures.load(), 0);
  EXPECT_EQ(e.next_backoff(), 1000ms);
}

TEST(OutlierEjector, ZeroDisablesAndSuccessesInterruptTheRun) {
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  OutlierEjector off({.eject_after = 0});
  for (int i = 0; i < 10; ++i) off.on_connection_failure(st, t);
  EXPECT_FALSE(off.ejected());
  InvokerStats st2;
  OutlierEjector e;
  e.on_connection_failure(st2, t);
  e.on_connection_failure(st2, t);
  e.on_success(st2);
  e.on_connection_failure(st2, t);
  EXPECT_FALSE(e.ejected());
}

// ---- circuit breaking: the same ejection, tripped by rates over a window ----

namespace {
const tern::Status kOk;
const tern::Status kInternal(tern::StatusCode::kInternal, "handler threw", true);
const tern::Status kBadArgument(tern::StatusCode::kInvalidArgument, "no such item", true);
const tern::Status kTimeout(tern::StatusCode::kDeadlineExceeded, "timed out", true);
const tern::Status kRefused(tern::StatusCode::kUnavailable, "connect refused", false);
const tern::Status kCancelled(tern::StatusCode::kCancelled, "cancelled by the caller", false);
}  // namespace

TEST(CircuitBreaker, FailureRateTripsOnlyOnceMinCallsAreIn) {
  OutlierEjector e({.eject_after = 0, .backoff = 1000ms, .max_backoff = 8000ms, .window = 10, .min_calls = 5,
                    .failure_rate = 0.5});
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  for (int i = 0; i < 4; ++i) e.on_result(st, kInternal, 1ms, t);  // 4 of 4 failed, but fewer than 5 calls
  EXPECT_FALSE(e.ejected());
  e.on_result(st, kOk, 1ms, t);  // 4 of 5 >= 0.5
  EXPECT_TRUE(e.ejected());
  EXPECT_FALSE(e.available(t + 999ms));
  EXPECT_TRUE(e.available(t + 1000ms));
}

TEST(CircuitBreaker, ApplicationErrorsAndCancelsAreNotFailures) {
  OutlierEjector e({.eject_after = 0, .window = 4, .min_calls = 4, .failure_rate = 0.25});
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  for (int i = 0; i < 20; ++i) e.on_result(st, kBadArgument, 1ms, t);
  for (int i = 0; i < 20; ++i) e.on_result(st, kCancelled, 1ms, t);
  EXPECT_FALSE(e.ejected());
  e.on_result(st, kTimeout, 1ms, t);  // 1 of 4 >= 0.25: a timeout is a failure
  EXPECT_TRUE(e.ejected());
  EXPECT_TRUE(tern::cluster::is_breaker_failure(tern::Status(tern::StatusCode::kResourceExhausted, "busy")));
  EXPECT_FALSE(tern::cluster::is_breaker_failure(tern::Status(tern::StatusCode::kNotFound, "none")));
}

TEST(CircuitBreaker, TheWindowSlidesOldOutcomesOut) {
  OutlierEjector e({.eject_after = 0, .window = 4, .min_calls = 4, .failure_rate = 0.5});
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  e.on_result(st, kInternal, 1ms, t);  // F
  for (int i = 0; i < 3; ++i) e.on_result(st, kOk, 1ms, t);  // F S S S: 1 of 4
  EXPECT_FALSE(e.ejected());
  e.on_result(st, kInternal, 1ms, t);  // S S S F: the first F left, still 1 of 4
  EXPECT_FALSE(e.ejected());
  e.on_result(st, kInternal, 1ms, t);  // S S F F: 2 of 4
  EXPECT_TRUE(e.ejected());
}

TEST(CircuitBreaker, SlowAnswersTripAtTheSlowRate) {
  OutlierEjector e({.eject_after = 0, .window = 5, .min_calls = 5, .failure_rate = 1.0, .slow_call = 100ms,
                    .slow_rate = 0.8});
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  for (int i = 0; i < 3; ++i) e.on_result(st, kOk, 150ms, t);
  e.on_result(st, kOk, 99ms, t);  // just under: not slow
  e.on_result(st, kOk, 100ms, t);  // 4 of 5 slow >= 0.8
  EXPECT_TRUE(e.ejected());
}

TEST(CircuitBreaker, HalfOpenProbeDecidesAndLateAnswersAreIgnored) {
  OutlierEjector e({.eject_after = 0, .backoff = 1000ms, .max_backoff = 8000ms, .window = 4, .min_calls = 2,
                    .failure_rate = 1.0, .slow_call = 500ms, .slow_rate = 1.0});
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  e.on_result(st, kInternal, 1ms, t);
  e.on_result(st, kInternal, 1ms, t);  // 2 of 2: open until t + 1 s
  ASSERT_TRUE(e.ejected());
  e.on_result(st, kOk, 1ms, t + 10ms);  // a call sent before the trip: ignored
  EXPECT_TRUE(e.ejected());
  EXPECT_FALSE(e.available(t + 10ms));
  e.on_attempt(t + 1000ms);  // half-open: the probe
  EXPECT_FALSE(e.available(t + 1001ms));
  e.on_result(st, kCancelled, 1ms, t + 1002ms);  // inconclusive: another call may probe
  EXPECT_TRUE(e.available(t + 1003ms));
  e.on_attempt(t + 1003ms);
  e.on_result(st, kInternal, 1ms, t + 1004ms);  // the probe failed: open for 2 s
  EXPECT_FALSE(e.available(t + 3003ms));
  EXPECT_TRUE(e.available(t + 3004ms));
  e.on_attempt(t + 3004ms);
  e.on_result(st, kOk, 600ms, t + 3604ms);  // a slow probe fails too: 4 s
  EXPECT_FALSE(e.available(t + 7603ms));
  EXPECT_EQ(e.next_backoff(), 8000ms);
  e.on_attempt(t + 7604ms);
  e.on_result(st, kOk, 5ms, t + 7609ms);  // closed again, backoff and window reset
  EXPECT_FALSE(e.ejected());
  EXPECT_EQ(e.next_backoff(), 1000ms);
  e.on_result(st, kInternal, 1ms, t + 7610ms);  // 1 call: below min_calls of the fresh window
  EXPECT_FALSE(e.ejected());
}

TEST(CircuitBreaker, OffByDefaultRemoteErrorsNeverEject) {
  OutlierEjector e;  // window 0
  InvokerStats st;
  auto t = OutlierEjector::Clock::time_point{} + 1h;
  for (int i = 0; i < 100; ++i) e.on_result(st, kInternal, 1ms, t);
  EXPECT_FALSE(e.ejected());
  for (int i = 0; i < 3; ++i) e.on_result(st, kRefused, 1ms, t);  // consecutive connection failures still eject
  EXPECT_TRUE(e.ejected());
  EXPECT_EQ(st.consecutive_failures.load(), 3);
}

TEST(RetryRule, OnlyWhatCannotHaveRunUnlessIdempotent) {
  using tern::Status;
  using tern::StatusCode;
  using tern::cluster::should_retry;
  Status refused(StatusCode::kUnavailable, "connect refused", false);
  Status lost(StatusCode::kUnavailable, "connection lost", true);
  Status busy(StatusCode::kResourceExhausted, "pool full", false);
  Status late(StatusCode::kDeadlineExceeded, "timed out", true);
  Status remote(StatusCode::kInternal, "handler threw", true);
  EXPECT_TRUE(should_retry(refused, false));
  EXPECT_TRUE(should_retry(busy, false));
  EXPECT_FALSE(should_retry(lost, false));
  EXPECT_TRUE(should_retry(lost, true));
  EXPECT_FALSE(should_retry(late, true));
  EXPECT_FALSE(should_retry(remote, true));
  EXPECT_FALSE(should_retry(Status(StatusCode::kCancelled, "x"), true));
  EXPECT_TRUE(tern::cluster::is_connection_failure(refused));
  EXPECT_FALSE(tern::cluster::is_connection_failure(lost));
  EXPECT_EQ(tern::cluster::parse_fault_tolerance("nope").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(*tern::cluster::parse_fault_tolerance("broadcast"), tern::cluster::FaultTolerance::kBroadcast);
}
