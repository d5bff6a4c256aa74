// Backoff (src/registry/common/backoff.h): the exact delays of the stated
// algorithm, with and without jitter.
#include "registry/common/backoff.h"

#include <gtest/gtest.h>

#include <vector>

namespace tern {
namespace {

using std::chrono::milliseconds;

std::vector<long long> take(Backoff& b, int n) {
  std::vector<long long> out;
  for (int i = 0; i < n; ++i) out.push_back(b.next().count());
  return out;
}

TEST(Backoff, DoublesUpToTheCapWithoutJitter) {
  Backoff b(BackoffPolicy{milliseconds(100), milliseconds(1000), 2.0, 0.0}, 1);
  EXPECT_EQ(take(b, 7), (std::vector<long long>{100, 200, 400, 800, 1000, 1000, 1000}));
}

TEST(Backoff, ResetStartsAgainAtInitial) {
  Backoff b(BackoffPolicy{milliseconds(100), milliseconds(1000), 2.0, 0.0}, 1);
  EXPECT_EQ(take(b, 3), (std::vector<long long>{100, 200, 400}));
  b.reset();
  EXPECT_EQ(take(b, 2), (std::vector<long long>{100, 200}));
}

TEST(Backoff, GrpcMultiplierRoundsToMilliseconds) {
  Backoff b(BackoffPolicy{milliseconds(1000), milliseconds(120000), 1.6, 0.0}, 1);
  EXPECT_EQ(take(b, 5), (std::vector<long long>{1000, 1600, 2560, 4096, 6554}));
}

TEST(Backoff, JitterIsFixedBySeedAndStaysWithinTwentyPercent) {
  const BackoffPolicy policy{milliseconds(100), milliseconds(1000), 2.0, 0.2};
  Backoff a(policy, 42);
  Backoff b(policy, 42);
  const auto delays = take(a, 6);
  EXPECT_EQ(delays, take(b, 6));  // same seed, same delays
  EXPECT_EQ(delays, (std::vector<long long>{110, 211, 440, 684, 1000, 838}));
  const long long base[] = {100, 200, 400, 800, 1000, 1000};
  for (std::size_t i = 0; i < delays.size(); ++i) {
    EXPECT_GE(delays[i], base[i] * 8 / 10) << i;
    EXPECT_LE(delays[i], std::min(1000LL, base[i] * 12 / 10)) << i;  // capped after the jitter
  }
}

TEST(Backoff, OtherSeedsGiveOtherDelays) {
  const BackoffPolicy policy{milliseconds(100), milliseconds(1000), 2.0, 0.2};
  Backoff a(policy, 1);
  Backoff b(policy, 2);
  EXPECT_NE(take(a, 4), take(b, 4));
}

}  // namespace
}  // namespace tern
