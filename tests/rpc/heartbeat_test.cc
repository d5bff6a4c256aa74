// The heartbeat decision (src/rpc/heartbeat.h) driven by a FakeClock: when a
// ping is due, when the connection is closed, and that reads reset it. No
// sleeping: the test moves time.
#include "rpc/heartbeat.h"

#include <gtest/gtest.h>

#include "fake_clock.h"

using namespace std::chrono_literals;
using tern::rpc::HeartbeatMonitor;
using Action = HeartbeatMonitor::Action;

TEST(HeartbeatMonitor, ClosesAfterTheConfiguredUnansweredPingsAndNotBefore) {
  tern::testing::FakeClock clock;
  HeartbeatMonitor hb(1000ms, 3, clock);
  const auto last_read = clock.now();  // the peer's last byte
  clock.advance(999ms);
  EXPECT_EQ(hb.tick(last_read), Action::kNone);  // not idle for a whole interval yet
  EXPECT_EQ(hb.unanswered(), 0);
  clock.advance(1ms);
  EXPECT_EQ(hb.tick(last_read), Action::kPing);  // idle for exactly one interval
  EXPECT_EQ(hb.unanswered(), 1);
  clock.advance(1000ms);
  EXPECT_EQ(hb.tick(last_read), Action::kPing);
  EXPECT_EQ(hb.unanswered(), 2);
  clock.advance(1000ms);
  EXPECT_EQ(hb.tick(last_read), Action::kPing);
  EXPECT_EQ(hb.unanswered(), 3);
  clock.advance(1000ms);
  EXPECT_EQ(hb.tick(last_read), Action::kClose);  // 3 pings unanswered
  EXPECT_EQ(hb.unanswered(), 3);
}

TEST(HeartbeatMonitor, TheLimitIsTheConfiguredOne) {
  tern::testing::FakeClock clock;
  HeartbeatMonitor hb(100ms, 1, clock);
  const auto last_read = clock.now();
  clock.advance(100ms);
  EXPECT_EQ(hb.tick(last_read), Action::kPing);
  clock.advance(100ms);
  EXPECT_EQ(hb.tick(last_read), Action::kClose);
}

TEST(HeartbeatMonitor, AReadResetsTheUnansweredPings) {
  tern::testing::FakeClock clock;
  HeartbeatMonitor hb(1000ms, 3, clock);
  auto last_read = clock.now();
  for (int i = 1; i <= 3; ++i) {
    clock.advance(1000ms);
    ASSERT_EQ(hb.tick(last_read), Action::kPing);
  }
  ASSERT_EQ(hb.unanswered(), 3);
  // The peer answers (any bytes count) just before the 4th tick.
  clock.advance(900ms);
  last_read = clock.now();
  clock.advance(100ms);
  EXPECT_EQ(hb.tick(last_read), Action::kNone);  // alive: no close, no ping (read 100 ms ago)
  EXPECT_EQ(hb.unanswered(), 0);
  // Silent again: three more pings before the close, counted from the read.
  clock.advance(900ms);  // 1000 ms after the read
  EXPECT_EQ(hb.tick(last_read), Action::kPing);
  EXPECT_EQ(hb.unanswered(), 1);
  clock.advance(1000ms);
  EXPECT_EQ(hb.tick(last_read), Action::kPing);
  clock.advance(1000ms);
  EXPECT_EQ(hb.tick(last_read), Action::kPing);
  clock.advance(1000ms);
  EXPECT_EQ(hb.tick(last_read), Action::kClose);
}

TEST(HeartbeatMonitor, ABusyConnectionNeverPings) {
  tern::testing::FakeClock clock;
  HeartbeatMonitor hb(1000ms, 3, clock);
  for (int i = 0; i < 10; ++i) {
    auto last_read = clock.now();
    clock.advance(999ms);  // a read every 999 ms: never idle for an interval
    EXPECT_EQ(hb.tick(last_read), Action::kNone) << i;
  }
  EXPECT_EQ(hb.unanswered(), 0);
}

TEST(HeartbeatMonitor, AReadDuringTheIdleIntervalStillPingsWhenItIsAnIntervalOld) {
  // A read seen at one tick resets the count, but if that read is already an
  // interval old the peer is idle again: a ping (the first of three) is due.
  tern::testing::FakeClock clock;
  HeartbeatMonitor hb(1000ms, 3, clock);
  auto t0 = clock.now();
  clock.advance(1000ms);
  ASSERT_EQ(hb.tick(t0), Action::kPing);
  clock.advance(1000ms);
  ASSERT_EQ(hb.tick(t0), Action::kPing);
  auto read = clock.now() - 1000ms;  // a read 1000 ms before this tick, not seen at the previous one
  EXPECT_EQ(hb.tick(read), Action::kPing);
  EXPECT_EQ(hb.unanswered(), 1);
}
