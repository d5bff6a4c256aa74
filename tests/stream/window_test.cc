// Credit-based flow control (src/stream/window.h).
#include "stream/window.h"

#include <gtest/gtest.h>

namespace tern::stream {
namespace {

TEST(SendWindow, StopsAtTheMessageLimit) {
  SendWindow w({2, 100});
  ASSERT_TRUE(w.can_send());
  w.spend(10);
  ASSERT_TRUE(w.can_send());
  w.spend(10);
  EXPECT_FALSE(w.can_send());
  EXPECT_EQ(w.messages(), 0);
  EXPECT_EQ(w.bytes(), 80);
}

TEST(SendWindow, AMessageLargerThanTheWindowOverdrawsOnce) {
  SendWindow w({10, 100});
  w.spend(1000);
  EXPECT_EQ(w.bytes(), -900);
  EXPECT_FALSE(w.can_send()) << "no second message while the byte balance is not positive";
  ASSERT_TRUE(w.grant({1, 900}));
  EXPECT_FALSE(w.can_send()) << "a balance of exactly 0 bytes sends nothing";
  ASSERT_TRUE(w.grant({0, 1}));
  EXPECT_TRUE(w.can_send());
}

TEST(SendWindow, AGrantPastTheMaximumIsRefusedAndChangesNothing) {
  SendWindow w({1, 100});
  EXPECT_FALSE(w.grant({0, static_cast<std::uint32_t>(kMaxCredit)}));
  EXPECT_EQ(w.bytes(), 100);
  EXPECT_EQ(w.messages(), 1);
  EXPECT_TRUE(w.grant({0, static_cast<std::uint32_t>(kMaxCredit - 100)}));
  EXPECT_EQ(w.bytes(), kMaxCredit);
}

TEST(RecvWindow, AdmitsWhatTheWriterMaySendAndNoMore) {
  RecvWindow r({1, 100});
  EXPECT_TRUE(r.admit(50));
  EXPECT_FALSE(r.admit(1)) << "the writer had no message credit left";
  EXPECT_EQ(r.messages(), 0);
  EXPECT_EQ(r.bytes(), 50);
}

TEST(RecvWindow, GrantsBackInBatchesOfHalfTheWindow) {
  RecvWindow r({4, 1000});
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(r.admit(10));
  r.consumed(10);
  EXPECT_EQ(r.take_grant(), std::nullopt) << "1 of 4 messages consumed: below half";
  r.consumed(10);
  EXPECT_EQ(r.take_grant(), (Credit{2, 20}));
  EXPECT_EQ(r.messages(), 2);
  EXPECT_EQ(r.bytes(), 980);
  EXPECT_EQ(r.take_grant(), std::nullopt) << "nothing consumed since the grant";
}

TEST(RecvWindow, HalfTheBytesAloneTriggersAGrant) {
  RecvWindow r({100, 1000});
  ASSERT_TRUE(r.admit(600));
  r.consumed(600);
  EXPECT_EQ(r.take_grant(), (Credit{1, 600}));
}

TEST(RecvWindow, AnOverdrawnMessageIsGrantedBackToTheInitialWindow) {
  RecvWindow r({4, 100});
  ASSERT_TRUE(r.admit(1000));
  EXPECT_EQ(r.bytes(), -900);
  EXPECT_FALSE(r.admit(1));
  r.consumed(1000);
  EXPECT_EQ(r.take_grant(), (Credit{1, 1000}));
  EXPECT_EQ(r.bytes(), 100);
  EXPECT_EQ(r.messages(), 4);
}

TEST(RecvWindow, AOneMessageWindowStillMoves) {
  RecvWindow r({1, 1});
  ASSERT_TRUE(r.admit(0));
  r.consumed(0);
  EXPECT_EQ(r.take_grant(), (Credit{1, 0}));
  EXPECT_TRUE(r.admit(5));
}

}  // namespace
}  // namespace tern::stream
