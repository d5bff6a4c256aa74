// tests/cluster/load_balancer_test.cc - the name table, warm-up, and the
// contract every built-in balancer keeps (empty lists, zero weights,
// availability, concurrency).
#include "tern/cluster/load_balancer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fake_invoker.h"

namespace tern::cluster {
namespace {

using namespace std::chrono_literals;
using testing::FakeInvoker;
using testing::FakeInvokerList;

const std::vector<std::string> kBuiltins = {"random",       "round_robin",     "weighted_round_robin",
                                            "least_active", "consistent_hash", "p2c_ewma"};

std::unique_ptr<LoadBalancer> make(const std::string& name, LoadBalancerOptions options = {}) {
  if (options.seed == 0) options.seed = 12345;
  auto lb = create_load_balancer(name, options);
  EXPECT_TRUE(lb.ok()) << lb.status();
  return lb.ok() ? std::move(*lb) : nullptr;
}

// ---- the name table -------------------------------------------------------

TEST(LoadBalancerFactory, EveryBuiltinCreates) {
  for (const std::string& name : kBuiltins) {
    auto lb = create_load_balancer(name);
    ASSERT_TRUE(lb.ok()) << name << ": " << lb.status();
    ASSERT_NE(lb->get(), nullptr);
    EXPECT_EQ((*lb)->name(), name);
  }
}

TEST(LoadBalancerFactory, UnknownNameIsInvalidArgument) {
  auto lb = create_load_balancer("fastest_please");
  ASSERT_FALSE(lb.ok());
  EXPECT_EQ(lb.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(lb.status().message().find("fastest_please"), std::string::npos);
  for (const std::string& name : kBuiltins) {
    EXPECT_NE(lb.status().message().find(name), std::string::npos) << lb.status().message();
  }
}

TEST(LoadBalancerFactory, CustomRegistration) {
  struct First final : LoadBalancer {
    Invoker* select(std::span<Invoker* const> invokers, const Invocation&) override {
      return invokers.empty() ? nullptr : invokers.front();
    }
    std::string_view name() const override { return "first"; }
  };
  register_load_balancer("first", [](const LoadBalancerOptions&) { return std::make_unique<First>(); });
  auto lb = create_load_balancer("first");
  ASSERT_TRUE(lb.ok()) << lb.status();
  EXPECT_EQ((*lb)->name(), "first");
  register_load_balancer("null", [](const LoadBalancerOptions&) { return std::unique_ptr<LoadBalancer>(); });
  EXPECT_EQ(create_load_balancer("null").status().code(), StatusCode::kInternal);
}

// ---- warm-up --------------------------------------------------------------

struct FakeClock {
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point(1000h);
};

TEST(EffectiveWeight, RampsLinearlyDuringWarmup) {
  FakeClock clock;
  LoadBalancerOptions options;
  options.warmup = 10min;
  options.now = [&] { return clock.now; };
  FakeInvoker invoker("10.0.0.1:20880", 100, clock.now - 1min);
  EXPECT_EQ(effective_weight(invoker, options), 10);  // 1 of 10 minutes
  clock.now += 4min;
  EXPECT_EQ(effective_weight(invoker, options), 50);
  clock.now += 5min;
  EXPECT_EQ(effective_weight(invoker, options), 100);  // warm
  clock.now += 1h;
  EXPECT_EQ(effective_weight(invoker, options), 100);

  FakeInvoker just_found("10.0.0.2:20880", 100, clock.now);
  EXPECT_EQ(effective_weight(just_found, options), 1);  // at least 1
  FakeInvoker light("10.0.0.3:20880", 5, clock.now - 1min);
  EXPECT_EQ(effective_weight(light, options), 1);  // 0.5 rounds up to the minimum 1
  FakeInvoker zero("10.0.0.4:20880", 0, clock.now - 1s);
  EXPECT_EQ(effective_weight(zero, options), 0);  // 0 stays 0

  options.warmup = 0ms;  // disabled
  EXPECT_EQ(effective_weight(just_found, options), 100);
}

TEST(EffectiveWeight, ProviderTimestampCountsWhenOlder) {
  FakeClock clock;
  const auto wall = std::chrono::system_clock::time_point(std::chrono::hours(480'000));
  LoadBalancerOptions options;
  options.warmup = 10min;
  options.now = [&] { return clock.now; };
  options.wall_now = [&] { return wall; };
  FakeInvoker invoker("10.0.0.1:20880", 100, clock.now - 1min);
  auto ms = [](std::chrono::system_clock::time_point t) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
  };
  invoker.mutable_url().set_param("timestamp", ms(wall - 5min));  // provider up 5 min
  EXPECT_EQ(effective_weight(invoker, options), 50);
  invoker.mutable_url().set_param("timestamp", ms(wall + 1h));  // provider clock ahead
  EXPECT_EQ(effective_weight(invoker, options), 10);             // discovery age wins
  invoker.mutable_url().set_param("timestamp", "garbage");
  EXPECT_EQ(effective_weight(invoker, options), 10);
}

TEST(EffectiveWeight, WarmingProviderGetsATenthOfItsTraffic) {
  FakeClock clock;
  LoadBalancerOptions options;
  options.seed = 77;
  options.warmup = 10min;
  options.now = [&] { return clock.now; };
  FakeInvokerList list;
  list.add("10.0.0.1:20880", 100).set_discovered_at(clock.now - 1h);
  list.add("10.0.0.2:20880", 100).set_discovered_at(clock.now - 1min);  // effective 10
  for (const std::string& name : {std::string("random"), std::string("weighted_round_robin")}) {
    auto lb = make(name, options);
    constexpr int kPicks = 110'000;
    int warming = 0;
    for (int i = 0; i < kPicks; ++i) warming += lb->select(list.span(), {}) == &list[1];
    double share = static_cast<double>(warming) / kPicks;
    std::printf("[warm-up] %s: provider 1 min into a 10 min warm-up got %.2f%% (want %.2f%% = 10/110)\n",
                name.c_str(), share * 100, 100.0 * 10 / 110);
    EXPECT_NEAR(share / (10.0 / 110), 1.0, 0.05) << name;
  }
}

// ---- the contract of every built-in --------------------------------------

TEST(EveryLoadBalancer, EmptyListGivesNull) {
  for (const std::string& name : kBuiltins) {
    auto lb = make(name);
    EXPECT_EQ(lb->select({}, {}), nullptr) << name;
  }
}

TEST(EveryLoadBalancer, AllZeroWeightsGiveNull) {
  FakeInvokerList list({0, 0, 0});
  list[1].set_available(false);
  for (const std::string& name : kBuiltins) {
    auto lb = make(name);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(lb->select(list.span(), Invocation{"S", "m", "k"}), nullptr) << name;
  }
}

TEST(EveryLoadBalancer, NeverPicksZeroWeight) {
  FakeInvokerList list({0, 100, 0, 100});
  for (const std::string& name : kBuiltins) {
    auto lb = make(name);
    for (int i = 0; i < 2000; ++i) {
      Invoker* p = lb->select(list.span(), Invocation{"S", "m", std::to_string(i)});
      ASSERT_TRUE(p == &list[1] || p == &list[3]) << name;
    }
  }
}

TEST(EveryLoadBalancer, SkipsUnavailableWhenAnyIsAvailable) {
  FakeInvokerList list({100, 100, 100, 100});
  list[0].set_available(false);
  list[2].set_available(false);
  for (const std::string& name : kBuiltins) {
    auto lb = make(name);
    for (int i = 0; i < 2000; ++i) {
      Invoker* p = lb->select(list.span(), Invocation{"S", "m", std::to_string(i)});
      ASSERT_TRUE(p == &list[1] || p == &list[3]) << name;
    }
  }
  for (std::size_t i = 0; i < list.size(); ++i) list[i].set_available(false);
  for (const std::string& name : kBuiltins) {
    auto lb = make(name);
    EXPECT_NE(lb->select(list.span(), Invocation{"S", "m", "k"}), nullptr) << name << ": none available";
  }
}

TEST(EveryLoadBalancer, SingleInvoker) {
  FakeInvokerList list({7});
  for (const std::string& name : kBuiltins) {
    auto lb = make(name);
    EXPECT_EQ(lb->select(list.span(), Invocation{"S", "m", "k"}), &list[0]) << name;
  }
}

TEST(EveryLoadBalancer, ConcurrentSelects) {
  constexpr int kThreads = 4, kPerThread = 50'000;
  for (const std::string& name : kBuiltins) {
    FakeInvokerList list({100, 200, 300, 400});
    for (std::size_t i = 0; i < list.size(); ++i) {
      list[i].stats().record_latency(std::chrono::microseconds(1000 * static_cast<int>(i + 1)));
    }
    auto lb = make(name);
    std::vector<std::atomic<int>> counts(list.size());
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::string key;
        for (int i = 0; i < kPerThread; ++i) {
          key = std::to_string(t * kPerThread + i);
          Invoker* p = lb->select(list.span(), Invocation{"S", "m", key});
          int idx = list.index_of(p);
          if (idx < 0) {
            ++bad;
            continue;
          }
          ++counts[static_cast<std::size_t>(idx)];
          // Live counters, as the call path keeps them.
          p->stats().active.fetch_add(1, std::memory_order_relaxed);
          p->stats().record_latency(std::chrono::microseconds(1000 * (idx + 1)));
          p->stats().active.fetch_sub(1, std::memory_order_relaxed);
        }
      });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(bad.load(), 0) << name;
    int total = 0;
    std::printf("[concurrency] %s, weights 100,200,300,400, %d threads x %d:", name.c_str(), kThreads, kPerThread);
    for (auto& c : counts) {
      total += c.load();
      std::printf(" %d", c.load());
    }
    std::printf("\n");
    EXPECT_EQ(total, kThreads * kPerThread) << name;
    if (name == "round_robin") {
      for (auto& c : counts) EXPECT_EQ(c.load(), kThreads * kPerThread / 4) << name;
    }
    if (name == "weighted_round_robin") {
      // 200,000 picks = 200 whole cycles of total weight 1000.
      for (std::size_t i = 0; i < counts.size(); ++i) {
        EXPECT_EQ(counts[i].load(), kThreads * kPerThread / 10 * static_cast<int>(i + 1)) << name;
      }
    }
  }
}

}  // namespace
}  // namespace tern::cluster
