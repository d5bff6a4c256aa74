// tests/cluster/weighted_round_robin_load_balancer_test.cc
#include "cluster/lb/weighted_round_robin_load_balancer.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "fake_invoker.h"

namespace tern::cluster {
namespace {

using testing::FakeInvokerList;

// Letters 'a', 'b', ... for the invokers of `list`.
std::string picks(LoadBalancer& balancer, FakeInvokerList& list, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    int idx = list.index_of(balancer.select(list.span(), {}));
    out += idx < 0 ? '?' : static_cast<char>('a' + idx);
  }
  return out;
}

TEST(WeightedRoundRobinLoadBalancer, SmoothSequenceInEveryWindow) {
  FakeInvokerList list({5, 1, 1});
  lb::WeightedRoundRobinLoadBalancer balancer({});
  for (int window = 0; window < 6; ++window) {
    EXPECT_EQ(picks(balancer, list, 7), "aabacaa") << "window " << window;
  }
}

TEST(WeightedRoundRobinLoadBalancer, ZeroWeightNeverPicked) {
  FakeInvokerList list({0, 1});
  lb::WeightedRoundRobinLoadBalancer balancer({});
  EXPECT_EQ(picks(balancer, list, 50), std::string(50, 'b'));
}

TEST(WeightedRoundRobinLoadBalancer, ExactSharesPerCycle) {
  FakeInvokerList list({3, 2, 1});
  lb::WeightedRoundRobinLoadBalancer balancer({});
  std::string seq = picks(balancer, list, 600);
  int a = 0, b = 0, c = 0;
  for (char ch : seq) (ch == 'a' ? a : ch == 'b' ? b : c)++;
  std::printf("[weighted_round_robin] weights 3,2,1 over 600 picks: %d %d %d\n", a, b, c);
  EXPECT_EQ(a, 300);
  EXPECT_EQ(b, 200);
  EXPECT_EQ(c, 100);
  // No bursts: the heaviest never runs more than ceil(3/(2+1)) + 1 = 2 in a row.
  EXPECT_EQ(seq.find("aaa"), std::string::npos);
}

TEST(WeightedRoundRobinLoadBalancer, MembershipChangeResetsState) {
  FakeInvokerList list({5, 1, 1});
  lb::WeightedRoundRobinLoadBalancer balancer({});
  EXPECT_EQ(picks(balancer, list, 3), "aab");  // mid-window
  list.add("10.0.0.9:20880", 1);
  // Fresh state on {5,1,1,1}: the same sequence a new balancer produces.
  lb::WeightedRoundRobinLoadBalancer fresh({});
  EXPECT_EQ(picks(balancer, list, 16), picks(fresh, list, 16));
}

TEST(WeightedRoundRobinLoadBalancer, StateIsKeptByIdNotByObject) {
  FakeInvokerList list({5, 1, 1});
  lb::WeightedRoundRobinLoadBalancer balancer({});
  EXPECT_EQ(picks(balancer, list, 3), "aab");
  // A refreshed list: new objects, same ids, different order.
  FakeInvokerList refreshed;
  refreshed.add(list[2].id(), 1);
  refreshed.add(list[0].id(), 5);
  refreshed.add(list[1].id(), 1);
  // Continues a,c,a,a of the 7-window (in refreshed's letters: b,a,b,b).
  EXPECT_EQ(picks(balancer, refreshed, 4), "babb");
}

}  // namespace
}  // namespace tern::cluster
