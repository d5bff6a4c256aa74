// tests/cluster/consistent_hash_load_balancer_test.cc
#include "cluster/lb/consistent_hash_load_balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fake_invoker.h"

namespace tern::cluster {
namespace {

using testing::FakeInvokerList;

constexpr int kKeys = 100'000;

std::string key(int i) { return "user-" + std::to_string(i); }

Invocation call_with(const std::string& k) { return Invocation{"Cache", "get", k}; }

TEST(ConsistentHashLoadBalancer, SameKeySameProvider) {
  FakeInvokerList list({100, 100, 100, 100, 100});
  lb::ConsistentHashLoadBalancer balancer({});
  for (int i = 0; i < 100; ++i) {
    Invoker* first = balancer.select(list.span(), call_with(key(i)));
    ASSERT_NE(first, nullptr);
    for (int j = 0; j < 10; ++j) EXPECT_EQ(balancer.select(list.span(), call_with(key(i))), first);
  }
}

TEST(ConsistentHashLoadBalancer, IndependentBalancersAgree) {
  FakeInvokerList list({100, 100, 100, 100, 100, 100, 100, 100, 100, 100});
  // Another consumer: its own invoker objects, listed in another order.
  FakeInvokerList other;
  for (std::size_t i = list.size(); i-- > 0;) other.add(list[i].id(), 100);
  lb::ConsistentHashLoadBalancer a({}), b({});
  for (int i = 0; i < kKeys; ++i) {
    Invoker* pa = a.select(list.span(), call_with(key(i)));
    Invoker* pb = b.select(other.span(), call_with(key(i)));
    ASSERT_NE(pa, nullptr);
    ASSERT_NE(pb, nullptr);
    ASSERT_EQ(pa->id(), pb->id()) << key(i);
  }
}

TEST(ConsistentHashLoadBalancer, DistributionWith160VirtualNodes) {
  FakeInvokerList list({100, 100, 100, 100, 100, 100, 100, 100, 100, 100});
  lb::ConsistentHashLoadBalancer balancer({});
  std::vector<int> counts(list.size());
  for (int i = 0; i < kKeys; ++i) ++counts[static_cast<std::size_t>(list.index_of(balancer.select(list.span(), call_with(key(i)))))];
  auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
  std::printf("[consistent_hash] 10 providers x 160 vnodes, %d keys, per provider:", kKeys);
  for (int c : counts) std::printf(" %.2f%%", 100.0 * c / kKeys);
  std::printf(" (min %.2f%%, max %.2f%%)\n", 100.0 * *lo / kKeys, 100.0 * *hi / kKeys);
  // Ideal 10% each; 160 points per provider give about +-8% relative per
  // provider (1/sqrt(160)); allow +-30%.
  EXPECT_GT(*lo, kKeys / 10 * 7 / 10);
  EXPECT_LT(*hi, kKeys / 10 * 13 / 10);
}

TEST(ConsistentHashLoadBalancer, MoreVirtualNodesEvenTheSpread) {
  FakeInvokerList list({100, 100, 100, 100, 100, 100, 100, 100, 100, 100});
  double spread_10 = 0, spread_640 = 0;
  for (int vnodes : {10, 40, 160, 640}) {
    LoadBalancerOptions options;
    options.virtual_nodes = vnodes;
    lb::ConsistentHashLoadBalancer balancer(options);
    std::vector<int> counts(list.size());
    for (int i = 0; i < kKeys; ++i) ++counts[static_cast<std::size_t>(list.index_of(balancer.select(list.span(), call_with(key(i)))))];
    auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
    double spread = static_cast<double>(*hi - *lo) / kKeys;
    std::printf("[consistent_hash] %3d vnodes: min %.2f%% max %.2f%% per provider (ideal 10%%)\n", vnodes,
                100.0 * *lo / kKeys, 100.0 * *hi / kKeys);
    if (vnodes == 10) spread_10 = spread;
    if (vnodes == 640) spread_640 = spread;
  }
  EXPECT_LT(spread_640, spread_10);
}

TEST(ConsistentHashLoadBalancer, RemovingOneOfTenMovesOnlyItsKeys) {
  FakeInvokerList list({100, 100, 100, 100, 100, 100, 100, 100, 100, 100});
  lb::ConsistentHashLoadBalancer balancer({});
  std::vector<std::string> before(kKeys);
  for (int i = 0; i < kKeys; ++i) before[static_cast<std::size_t>(i)] = balancer.select(list.span(), call_with(key(i)))->id();
  const std::string removed = list[3].id();
  list.remove(3);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string& now = balancer.select(list.span(), call_with(key(i)))->id();
    const std::string& was = before[static_cast<std::size_t>(i)];
    if (was == removed) {
      ++moved;
      EXPECT_NE(now, removed);
    } else {
      ASSERT_EQ(now, was) << key(i) << " moved although its provider stayed";
    }
  }
  double share = static_cast<double>(moved) / kKeys;
  std::printf("[consistent_hash] removing 1 of 10 providers moved %.2f%% of %d keys (ideal 10%%)\n", share * 100,
              kKeys);
  EXPECT_GT(share, 0.05);
  EXPECT_LE(share, 0.15);
}

TEST(ConsistentHashLoadBalancer, EmptyKeyHashesServiceAndMethod) {
  FakeInvokerList list({100, 100, 100, 100, 100, 100, 100});
  lb::ConsistentHashLoadBalancer balancer({});
  for (int i = 0; i < 50; ++i) {
    std::string method = "m" + std::to_string(i);
    std::string full = "Svc." + method;
    EXPECT_EQ(balancer.select(list.span(), Invocation{"Svc", method, {}}),
              balancer.select(list.span(), Invocation{"Other", "x", full}));
  }
}

TEST(ConsistentHashLoadBalancer, UnavailableOwnerWalksOnAndComesBack) {
  FakeInvokerList list({100, 100, 100, 100});
  lb::ConsistentHashLoadBalancer balancer({});
  const Invocation call = call_with("sticky");
  Invoker* owner = balancer.select(list.span(), call);
  auto& fake = static_cast<testing::FakeInvoker&>(*owner);
  fake.set_available(false);
  Invoker* stand_in = balancer.select(list.span(), call);
  EXPECT_NE(stand_in, owner);
  EXPECT_EQ(balancer.select(list.span(), call), stand_in);  // stable while it is out
  fake.set_available(true);
  EXPECT_EQ(balancer.select(list.span(), call), owner);
}

TEST(ConsistentHashLoadBalancer, ZeroWeightIsOffTheRing) {
  FakeInvokerList list({100, 0, 100});
  lb::ConsistentHashLoadBalancer balancer({});
  for (int i = 0; i < 10'000; ++i) EXPECT_NE(balancer.select(list.span(), call_with(key(i))), &list[1]);
}

TEST(ConsistentHashLoadBalancer, MembershipFlipsUnderConcurrency) {
  // Threads see two different lists (as during a directory update): the ring
  // is rebuilt back and forth, and every answer is valid for its own list.
  FakeInvokerList full({100, 100, 100, 100, 100, 100});
  FakeInvokerList part;
  for (std::size_t i = 0; i < 4; ++i) part.add(full[i].id(), 100);
  lb::ConsistentHashLoadBalancer balancer({});
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      FakeInvokerList& mine = t % 2 == 0 ? full : part;
      for (int i = 0; i < 2000; ++i) {
        if (mine.index_of(balancer.select(mine.span(), call_with(key(i)))) < 0) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace tern::cluster
