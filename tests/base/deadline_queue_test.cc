// The channel's per-timeout FIFO (src/client/deadline_queue.h): order is kept
// across wrap-around and growth, and steady use does not grow it.
#include "client/deadline_queue.h"

#include <gtest/gtest.h>

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
