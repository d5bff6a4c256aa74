// The `adaptive` dispatcher's per-method decision (src/server/adaptive_placement.h),
// driven with chosen run times: no threads, sockets or clock.
#include <gtest/gtest.h>

#include <chrono>

#include "server/adaptive_placement.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using tern::server_impl::AdaptivePlacement;
using Change = AdaptivePlacement::Change;

namespace {

tern::AdaptiveDispatchOptions options(std::uint32_t promote_after = 4, std::uint32_t max_demotions = 3) {
  tern::AdaptiveDispatchOptions o;
  o.promote_below = 100us;
  o.promote_after = promote_after;
  o.demote_above = 2000us;
  o.max_demotions = max_demotions;
  return o;
}

// Pooled runs of `took` until the method is promoted; returns how many it took (0 = not within `limit`).
int runs_until_promoted(AdaptivePlacement& p, std::chrono::nanoseconds took, int limit) {
  for (int i = 1; i <= limit; ++i) {
    if (p.record(false, took) == Change::kPromoted) return i;
  }
  return 0;
}

TEST(AdaptivePlacement, StartsOnThePoolAndMovesToTheIoThreadAfterTheRunsInARow) {
  AdaptivePlacement p(options(4));
  EXPECT_FALSE(p.runs_inline());
  EXPECT_EQ(p.runs_needed(), 4u);
  EXPECT_EQ(p.record(false, 10us), Change::kNone);
  EXPECT_EQ(p.record(false, 10us), Change::kNone);
  EXPECT_EQ(p.record(false, 99us), Change::kNone);
  EXPECT_FALSE(p.runs_inline());
  EXPECT_EQ(p.record(false, 10us), Change::kPromoted);
  EXPECT_TRUE(p.runs_inline());
  // A pooled run queued before the promotion changes nothing.
  EXPECT_EQ(p.record(false, 10ms), Change::kNone);
  EXPECT_TRUE(p.runs_inline());
}

TEST(AdaptivePlacement, ALongRunOnThePoolRestartsTheCount) {
  AdaptivePlacement p(options(4));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(p.record(false, 10us), Change::kNone);
  EXPECT_EQ(p.record(false, 100us), Change::kNone);  // not under promote_below: the count restarts
  EXPECT_EQ(runs_until_promoted(p, 10us, 10), 4);
}

TEST(AdaptivePlacement, ALongRunOnTheIoThreadSendsItBackAndTheNextPromotionNeedsEightTimesTheRuns) {
  AdaptivePlacement p(options(4, 3));
  ASSERT_EQ(runs_until_promoted(p, 10us, 10), 4);
  EXPECT_EQ(p.record(true, 2000us), Change::kNone);  // not over demote_above
  EXPECT_TRUE(p.runs_inline());
  EXPECT_EQ(p.record(true, 2001us), Change::kDemoted);
  EXPECT_FALSE(p.runs_inline());
  EXPECT_EQ(p.demotions(), 1u);
  EXPECT_EQ(p.record(true, 50ms), Change::kNone);  // a second long run already under way reports nothing
  EXPECT_EQ(p.runs_needed(), 32u);
  EXPECT_EQ(runs_until_promoted(p, 10us, 1000), 32);
  EXPECT_EQ(p.record(true, 3ms), Change::kDemoted);
  EXPECT_EQ(p.runs_needed(), 256u);
  EXPECT_EQ(runs_until_promoted(p, 10us, 1000), 256);
  EXPECT_EQ(p.record(true, 3ms), Change::kDemoted);
  // max_demotions reached: on the pool for good.
  EXPECT_EQ(p.runs_needed(), 0u);
  EXPECT_EQ(runs_until_promoted(p, 1us, 100000), 0);
  EXPECT_FALSE(p.runs_inline());
}

TEST(AdaptivePlacement, AMethodThatStartsBlockingBrieflyOnEveryCallIsSentBackByItsMean) {
  AdaptivePlacement p(options(1));  // demote_mean_above: default 500 us
  ASSERT_EQ(runs_until_promoted(p, 1us, 1), 1);
  // 1 ms per call: under demote_above (2 ms), so only the mean can catch it:
  // 1000 x (1 - (7/8)^k) > 500 from the 6th run.
  for (int i = 1; i <= 5; ++i) ASSERT_EQ(p.record(true, 1ms), Change::kNone) << i;
  EXPECT_EQ(p.record(true, 1ms), Change::kDemoted);
  EXPECT_FALSE(p.runs_inline());
  // The mean starts again after a demotion: promoted again, short runs keep it there.
  ASSERT_EQ(runs_until_promoted(p, 1us, 100), 8);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(p.record(true, 50us), Change::kNone);
  EXPECT_TRUE(p.runs_inline());
}

TEST(AdaptivePlacement, OptionsWhereARunIsShortAndTooLongAtOnceAreRefused) {
  tern::AdaptiveDispatchOptions o;
  EXPECT_TRUE(tern::validate_adaptive_options(o).is_ok());
  o.promote_below = 600us;  // over demote_mean_above (500 us)
  EXPECT_EQ(tern::validate_adaptive_options(o).code(), tern::StatusCode::kInvalidArgument);
  o = {};
  o.promote_below = 0us;
  EXPECT_EQ(tern::validate_adaptive_options(o).code(), tern::StatusCode::kInvalidArgument);
}

TEST(AdaptivePlacement, PromoteAfterZeroNeverPromotes) {
  AdaptivePlacement p(options(0));
  EXPECT_EQ(p.runs_needed(), 0u);
  EXPECT_EQ(runs_until_promoted(p, 1us, 10000), 0);
}

TEST(AdaptivePlacement, ShortRunsOnTheIoThreadKeepItThere) {
  AdaptivePlacement p(options(1));
  ASSERT_EQ(runs_until_promoted(p, 1us, 1), 1);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(p.record(true, 400us), Change::kNone);  // under both limits
  EXPECT_TRUE(p.runs_inline());
  EXPECT_EQ(p.demotions(), 0u);
}

TEST(AdaptivePlacement, DispatcherNamedAdaptiveIsParsedWithItsTable) {
  auto p = tern::dispatch_policy("adaptive");
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(p->adaptive_requests);
  EXPECT_TRUE(p->pooled(tern::DispatchEvent::kRequest));  // where a method starts
  for (auto e : {tern::DispatchEvent::kResponse, tern::DispatchEvent::kConnect, tern::DispatchEvent::kDisconnect,
                 tern::DispatchEvent::kHeartbeat}) {
    EXPECT_FALSE(p->pooled(e)) << tern::dispatch_event_name(e);
  }
  EXPECT_FALSE(tern::dispatch_policy("all")->adaptive_requests);
  EXPECT_EQ(tern::ServerOptions{}.dispatcher, "adaptive");
}

}  // namespace
