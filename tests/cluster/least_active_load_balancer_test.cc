// tests/cluster/least_active_load_balancer_test.cc
#include "cluster/lb/least_active_load_balancer.h"

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

TEST(LeastActiveLoadBalancer, NothingToABusyProvider) {
  FakeInvokerList list({100, 100, 100});
  list[1].stats().active = 10;
  lb::LeastActiveLoadBalancer balancer(seeded(9));
  std::vector<int> counts = count_picks(balancer, list, 30'000);
  std::printf("[least_active] active 0,10,0 over 30000 picks: %d %d %d\n", counts[0], counts[1], counts[2]);
  EXPECT_EQ(counts[1], 0);
  // The two idle ones share the load evenly (equal weights: uniform).
  EXPECT_NEAR(counts[0], 15'000, 450);
  EXPECT_NEAR(counts[2], 15'000, 450);
}

TEST(LeastActiveLoadBalancer, LeastActiveWinsOverWeight) {
  FakeInvokerList list({1000, 1});
  list[0].stats().active = 1;
  lb::LeastActiveLoadBalancer balancer(seeded(4));
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(balancer.select(list.span(), {}), &list[1]);
}

TEST(LeastActiveLoadBalancer, TiesBrokenByWeight) {
  FakeInvokerList list({100, 300, 600, 500});
  list[3].stats().active = 2;  // not tied: out
  for (int i = 0; i < 3; ++i) list[static_cast<std::size_t>(i)].stats().active = 1;
  lb::LeastActiveLoadBalancer balancer(seeded(21));
  constexpr int kPicks = 100'000;
  std::vector<int> counts = count_picks(balancer, list, kPicks);
  const double expected[] = {0.1, 0.3, 0.6};
  std::printf("[least_active] tie among weights 100,300,600 (+ a busier 500) over %d picks:", kPicks);
  for (int i = 0; i < 3; ++i) {
    double share = static_cast<double>(counts[static_cast<std::size_t>(i)]) / kPicks;
    std::printf(" %.2f%% (want %.0f%%)", share * 100, expected[i] * 100);
    EXPECT_NEAR(share / expected[i], 1.0, 0.03) << "invoker " << i;
  }
  std::printf(", busier: %d\n", counts[3]);
  EXPECT_EQ(counts[3], 0);
}

TEST(LeastActiveLoadBalancer, FollowsLiveCounters) {
  // A consumer loop: each pick takes a slot and the slowest provider releases
  // its slots last, so it ends up with the fewest calls.
  FakeInvokerList list({100, 100, 100});
  lb::LeastActiveLoadBalancer balancer(seeded(5));
  std::vector<int> counts(3);
  for (int round = 0; round < 1000; ++round) {
    for (int k = 0; k < 6; ++k) {
      Invoker* p = balancer.select(list.span(), {});
      ++counts[static_cast<std::size_t>(list.index_of(p))];
      p->stats().active.fetch_add(1);
    }
    // Providers 0 and 1 finish everything; provider 2 keeps one call pending.
    list[0].stats().active = 0;
    list[1].stats().active = 0;
    if (list[2].stats().active > 0) list[2].stats().active = 1;
  }
  std::printf("[least_active] live counters, provider 2 always one call behind: %d %d %d\n", counts[0], counts[1],
              counts[2]);
  EXPECT_LT(counts[2], counts[0]);
  EXPECT_LT(counts[2], counts[1]);
}

}  // namespace
}  // namespace tern::cluster
