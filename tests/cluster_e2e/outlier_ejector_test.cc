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
