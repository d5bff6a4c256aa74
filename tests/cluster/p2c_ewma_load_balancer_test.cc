// tests/cluster/p2c_ewma_load_balancer_test.cc
#include "cluster/lb/p2c_ewma_load_balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "fake_invoker.h"
#include "lb_test_util.h"

namespace tern::cluster {
namespace {

using testing::FakeInvokerList;
using testing::count_picks;
using testing::seeded;
using std::chrono::microseconds;

TEST(P2cEwmaLoadBalancer, MovesTrafficAwayFromASlowProvider) {
  FakeInvokerList list({100, 100, 100});
  list[0].stats().ewma_latency_us = 1'000;
  list[1].stats().ewma_latency_us = 10'000;  // 10x slower
  list[2].stats().ewma_latency_us = 1'000;
  lb::P2cEwmaLoadBalancer balancer(seeded(17));
  constexpr int kPicks = 30'000;
  std::vector<int> counts = count_picks(balancer, list, kPicks);
  double slow_share = static_cast<double>(counts[1]) / kPicks;
  std::printf("[p2c_ewma] static latencies 1ms,10ms,1ms over %d picks: %.2f%% %.2f%% %.2f%%\n", kPicks,
              100.0 * counts[0] / kPicks, 100.0 * slow_share, 100.0 * counts[2] / kPicks);
  // A fair share would be 1/3; at least 80% of it must move away.
  EXPECT_LE(slow_share, (1.0 / 3) * 0.2);
  EXPECT_NEAR(counts[0], counts[2], kPicks / 20);
}

TEST(P2cEwmaLoadBalancer, MovesTrafficAwayUnderLoad) {
  // A closed-loop simulation: 24 calls stay in flight; each completion records
  // its latency (10x on provider 1) and frees its slot. In-flight counts and
  // latencies both feed the cost.
  FakeInvokerList list({100, 100, 100});
  lb::P2cEwmaLoadBalancer balancer(seeded(23));
  constexpr int kCalls = 30'000, kInFlight = 24;
  const microseconds latency[] = {microseconds(1000), microseconds(10'000), microseconds(1000)};
  struct Pending {
    Invoker* invoker;
    std::int64_t done_at;
  };
  std::vector<Pending> pending;
  std::vector<int> counts(3);
  std::int64_t now = 0;
  for (int i = 0; i < kCalls; ++i) {
    while (static_cast<int>(pending.size()) >= kInFlight) {
      // Complete the earliest pending call.
      auto it = std::min_element(pending.begin(), pending.end(),
                                 [](const Pending& a, const Pending& b) { return a.done_at < b.done_at; });
      now = it->done_at;
      it->invoker->stats().active.fetch_sub(1);
      it->invoker->stats().record_latency(latency[list.index_of(it->invoker)]);
      pending.erase(it);
    }
    Invoker* p = balancer.select(list.span(), {});
    int idx = list.index_of(p);
    ++counts[static_cast<std::size_t>(idx)];
    p->stats().active.fetch_add(1);
    pending.push_back({p, now + latency[idx].count()});
  }
  double slow_share = static_cast<double>(counts[1]) / kCalls;
  std::printf("[p2c_ewma] closed loop (24 in flight), latencies 1ms,10ms,1ms: %.2f%% %.2f%% %.2f%%\n",
              100.0 * counts[0] / kCalls, 100.0 * slow_share, 100.0 * counts[2] / kCalls);
  EXPECT_LE(slow_share, (1.0 / 3) * 0.2);
}

TEST(P2cEwmaLoadBalancer, IdleSlowProviderIsProbedAndWinsBackWhenRecovered) {
  // Injected clock, 5 ms between calls, no load (active stays 0). Provider 1
  // was 10x slow and has recovered: its samples now say 1 ms, but it only gets
  // samples when it is picked.
  auto now = std::chrono::steady_clock::time_point(std::chrono::hours(1000));
  LoadBalancerOptions options = seeded(41);
  options.now = [&] { return now; };
  FakeInvokerList list({100, 100, 100});
  list[0].stats().ewma_latency_us = 1'000;
  list[1].stats().ewma_latency_us = 10'000;
  list[2].stats().ewma_latency_us = 1'000;
  lb::P2cEwmaLoadBalancer balancer(options);
  constexpr int kWindow = 6'000;  // 30 s
  constexpr int kWindows = 10;
  int first_probe = -1;
  std::vector<double> share(kWindows);
  for (int i = 0; i < kWindow * kWindows; ++i) {
    now += std::chrono::milliseconds(5);
    Invoker* p = balancer.select(list.span(), {});
    p->stats().record_latency(microseconds(1000));
    if (p == &list[1]) {
      if (first_probe < 0) first_probe = i;
      share[static_cast<std::size_t>(i / kWindow)] += 1.0 / kWindow;
    }
  }
  std::printf("[p2c_ewma] recovered provider: first probe after %.1f s idle; share per 30 s window:",
              (first_probe + 1) * 0.005);
  for (double s : share) std::printf(" %.1f%%", s * 100);
  std::printf("\n");
  EXPECT_GT(first_probe, 0);
  EXPECT_LT((first_probe + 1) * 0.005, 10.0);  // log2(10) = 3.3 half-lives of 2 s
  EXPECT_LT(share[0], 0.01);                   // shunned while its samples say slow
  // Back in use. Not a full third: with no load the cost is latency alone,
  // and the integer EWMA of InvokerStats settles up to 7 us above the others'
  // 1000 us, so it loses the comparisons it is in until idle decay evens it.
  EXPECT_GT(share.back(), 0.10);
}

TEST(P2cEwmaLoadBalancer, NewProviderIsProbed) {
  FakeInvokerList list({100, 100, 100});
  list[0].stats().ewma_latency_us = 2'000;
  list[1].stats().ewma_latency_us = 3'000;
  // list[2] has no sample yet: costed as the fastest known (2 ms).
  lb::P2cEwmaLoadBalancer balancer(seeded(31));
  int to_new = 0;
  for (int i = 0; i < 3000; ++i) to_new += balancer.select(list.span(), {}) == &list[2];
  std::printf("[p2c_ewma] provider without a sample got %d of 3000 picks\n", to_new);
  EXPECT_GT(to_new, 500);
}

TEST(P2cEwmaLoadBalancer, TwoProvidersAlwaysTheCheaper) {
  FakeInvokerList list({100, 100});
  list[0].stats().ewma_latency_us = 500;
  list[0].stats().active = 3;  // cost 2000
  list[1].stats().ewma_latency_us = 1000;
  list[1].stats().active = 0;  // cost 1000
  lb::P2cEwmaLoadBalancer balancer(seeded(1));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(balancer.select(list.span(), {}), &list[1]);
}

TEST(P2cEwmaLoadBalancer, WeightScalesTheCost) {
  FakeInvokerList list({400, 100});
  list[0].stats().ewma_latency_us = 3000;  // 3000 / 400 < 1000 / 100
  list[1].stats().ewma_latency_us = 1000;
  lb::P2cEwmaLoadBalancer balancer(seeded(1));
  for (int i = 0; i < 100; ++i) EXPECT_EQ(balancer.select(list.span(), {}), &list[0]);
}

}  // namespace
}  // namespace tern::cluster
