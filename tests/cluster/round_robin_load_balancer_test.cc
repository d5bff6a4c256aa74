// tests/cluster/round_robin_load_balancer_test.cc
#include "cluster/lb/round_robin_load_balancer.h"

#include <gtest/gtest.h>

#include "fake_invoker.h"
#include "lb_test_util.h"

namespace tern::cluster {
namespace {

using testing::FakeInvokerList;
using testing::seeded;

TEST(RoundRobinLoadBalancer, ExactRotation) {
  FakeInvokerList list({100, 100, 100});
  lb::RoundRobinLoadBalancer balancer(seeded(11));
  // The rotation starts at a seed-dependent offset, then visits the list in
  // order, exactly.
  int first = list.index_of(balancer.select(list.span(), {}));
  ASSERT_GE(first, 0);
  for (int i = 1; i < 30; ++i) {
    EXPECT_EQ(list.index_of(balancer.select(list.span(), {})), (first + i) % 3) << "call " << i;
  }
}

TEST(RoundRobinLoadBalancer, SameSeedSameStart) {
  FakeInvokerList list({1, 1, 1, 1, 1, 1, 1});
  lb::RoundRobinLoadBalancer a(seeded(5)), b(seeded(5));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.select(list.span(), {}), b.select(list.span(), {}));
}

TEST(RoundRobinLoadBalancer, IgnoresWeightsButSkipsZero) {
  FakeInvokerList list({1, 0, 50});
  lb::RoundRobinLoadBalancer balancer(seeded(2));
  Invoker* prev = balancer.select(list.span(), {});
  ASSERT_TRUE(prev == &list[0] || prev == &list[2]);
  for (int i = 0; i < 20; ++i) {
    Invoker* p = balancer.select(list.span(), {});
    EXPECT_NE(p, &list[1]);
    EXPECT_NE(p, prev);  // strictly alternates between the two non-zero ones
    prev = p;
  }
}

}  // namespace
}  // namespace tern::cluster
