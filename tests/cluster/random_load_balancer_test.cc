// tests/cluster/random_load_balancer_test.cc
#include "cluster/lb/random_load_balancer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "fake_invoker.h"
#include "lb_test_util.h"

namespace tern::cluster {
namespace {

using testing::FakeInvokerList;
using testing::count_picks;
using testing::seeded;

TEST(RandomLoadBalancer, WeightedDistributionWithinThreePercent) {
  FakeInvokerList list({1, 2, 7});
  lb::RandomLoadBalancer balancer(seeded(42));
  constexpr int kPicks = 100'000;
  std::vector<int> counts = count_picks(balancer, list, kPicks);
  const double expected[] = {0.1, 0.2, 0.7};
  std::printf("[random] weights 1,2,7 over %d picks:", kPicks);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    double share = static_cast<double>(counts[i]) / kPicks;
    std::printf(" %.2f%% (want %.0f%%)", share * 100, expected[i] * 100);
    EXPECT_NEAR(share / expected[i], 1.0, 0.03) << "invoker " << i;
  }
  std::printf("\n");
}

TEST(RandomLoadBalancer, SameSeedSameSequence) {
  FakeInvokerList list({1, 1, 1, 1, 1});
  lb::RandomLoadBalancer a(seeded(7)), b(seeded(7)), c(seeded(8));
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    Invoker* pa = a.select(list.span(), {});
    EXPECT_EQ(pa, b.select(list.span(), {}));
    if (pa != c.select(list.span(), {})) ++differ;
  }
  EXPECT_GT(differ, 500);  // a different seed gives a different sequence
}

TEST(RandomLoadBalancer, ZeroWeightNeverPicked) {
  FakeInvokerList list({0, 5, 0});
  lb::RandomLoadBalancer balancer(seeded(1));
  for (int i = 0; i < 10'000; ++i) EXPECT_EQ(balancer.select(list.span(), {}), &list[1]);
}

TEST(RandomLoadBalancer, SkipsUnavailableWhileAnyIsAvailable) {
  FakeInvokerList list({100, 100, 100});
  list[0].set_available(false);
  list[2].set_available(false);
  lb::RandomLoadBalancer balancer(seeded(3));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(balancer.select(list.span(), {}), &list[1]);
  list[1].set_available(false);
  int picked_first = 0;
  for (int i = 0; i < 1000; ++i) {
    Invoker* p = balancer.select(list.span(), {});
    ASSERT_NE(p, nullptr);  // none available: still answers
    if (p == &list[0]) ++picked_first;
  }
  EXPECT_GT(picked_first, 0);
}

}  // namespace
}  // namespace tern::cluster
