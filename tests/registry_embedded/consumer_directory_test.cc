// The consumer's directory fed by the embedded registry (DESIGN §6, §7):
// tern::Client + refer<> through `tern://`, in-process Providers. Version and
// group filtering, an empty list failing at once, weighted distribution,
// pushes reaching Reference::providers(), and calls that keep succeeding on
// the cached providers while the registry is down.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "loopback.h"
#include "registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/registry_server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using regtest::Clock;
using regtest::InProcessProvider;
using testsvc::Calculator;
using testutil::wait_until;

namespace {

constexpr auto kHeartbeat = 300ms;

// ReferenceOptions built field by field.
tern::ReferenceOptions ref_options(std::string version, std::string group = {}) {
  tern::ReferenceOptions o;
  o.version = std::move(version);
  o.group = std::move(group);
  return o;
}
tern::ReferenceOptions balanced(std::string lb, std::uint64_t seed = 0) {
  tern::ReferenceOptions o;
  o.load_balance = std::move(lb);
  o.warmup = std::chrono::milliseconds(0);
  o.seed = seed;
  return o;
}
tern::ReferenceOptions with_timeout(std::chrono::milliseconds t, std::string version = {}) {
  tern::ReferenceOptions o;
  o.timeout = t;
  o.version = std::move(version);
  return o;
}

struct DirectoryTest : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = kHeartbeat;
    registry = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(registry->start().is_ok());
    registry_url = "tern://127.0.0.1:" + std::to_string(registry->port());
    tern::ClientOptions co;
    co.io_threads = 1;
    co.registry.heartbeat_interval = kHeartbeat;
    co.registry.initial_backoff = 50ms;
    co.registry.max_backoff = 500ms;
    client = std::make_unique<tern::Client>(co);
  }
  void TearDown() override {
    client.reset();
    providers.clear();
    if (registry) registry->shutdown();
  }

  InProcessProvider& add_provider(tern::ServiceOptions so = {}) {
    providers.push_back(std::make_unique<InProcessProvider>(registry_url, std::move(so)));
    EXPECT_TRUE(providers.back()->status.is_ok()) << providers.back()->status.to_string();
    return *providers.back();
  }

  tern::Proxy<Calculator> refer(tern::ReferenceOptions o = {}) {
    auto p = client->refer<Calculator>(registry_url, std::move(o));
    EXPECT_TRUE(p.has_value()) << p.status().to_string();
    return std::move(p).value();
  }

  // Addresses ("127.0.0.1:port") in the reference's directory, sorted.
  static std::vector<std::string> directory(const tern::Proxy<Calculator>& p) {
    std::vector<std::string> out;
    for (auto& u : p.reference()->providers()) out.push_back(u.address());
    std::sort(out.begin(), out.end());
    return out;
  }

  bool directory_becomes(const tern::Proxy<Calculator>& p, std::vector<std::string> expected,
                         std::chrono::milliseconds timeout = 5s) {
    expected = regtest::sorted(std::move(expected));
    return wait_until([&] { return directory(p) == expected; }, timeout);
  }

  std::unique_ptr<tern::RegistryServer> registry;
  std::string registry_url;
  std::unique_ptr<tern::Client> client;
  std::vector<std::unique_ptr<InProcessProvider>> providers;
};

// ---------------------------------------------------------------------------
// 6. Version / group filtering

TEST_F(DirectoryTest, VersionAndGroupFilterTheDirectory) {
  auto& v1a = add_provider(regtest::service_options("1.0", "a"));
  auto& v2a = add_provider(regtest::service_options("2.0", "a"));
  auto& v1b = add_provider(regtest::service_options("1.0", "b"));
  ASSERT_TRUE(wait_until([&] { return registry->providers(std::string(tern::ServiceTraits<Calculator>::name)).size() == 3; }, 5s));

  auto any = refer();
  auto v1 = refer(ref_options("1.0"));
  auto ga = refer(ref_options("", "a"));
  auto v2ga = refer(ref_options("2.0", "a"));
  auto v1gb = refer(ref_options("1.0", "b"));
  EXPECT_TRUE(directory_becomes(any, {v1a.address(), v2a.address(), v1b.address()}));
  EXPECT_TRUE(directory_becomes(v1, {v1a.address(), v1b.address()})) << ::testing::PrintToString(directory(v1));
  EXPECT_TRUE(directory_becomes(ga, {v1a.address(), v2a.address()})) << ::testing::PrintToString(directory(ga));
  EXPECT_TRUE(directory_becomes(v2ga, {v2a.address()})) << ::testing::PrintToString(directory(v2ga));
  EXPECT_TRUE(directory_becomes(v1gb, {v1b.address()})) << ::testing::PrintToString(directory(v1gb));

  // Calls land only on matching providers (and the provider accepts them).
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(v1gb.call<&Calculator::add>(i, 1).value(), i + 1);
    ASSERT_EQ(v2ga.call<&Calculator::add>(i, 2).value(), i + 2);
  }
  EXPECT_EQ(v1b.impl->adds.load(), 20);
  EXPECT_EQ(v2a.impl->adds.load(), 20);
  EXPECT_EQ(v1a.impl->adds.load(), 0);

  // A change is filtered too: v1a leaves gracefully -> version 1.0 keeps only v1b.
  v1a.provider->shutdown(100ms);
  EXPECT_TRUE(directory_becomes(v1, {v1b.address()})) << ::testing::PrintToString(directory(v1));
  EXPECT_TRUE(directory_becomes(ga, {v2a.address()})) << ::testing::PrintToString(directory(ga));
}

TEST_F(DirectoryTest, EmptyDirectoryFailsWithUnavailableAtOnce) {
  add_provider(regtest::service_options("1.0"));
  ASSERT_TRUE(wait_until([&] { return registry->providers(std::string(tern::ServiceTraits<Calculator>::name)).size() == 1; }, 5s));

  // No provider matches version 3.0.
  auto v3 = refer(with_timeout(5000ms, "3.0"));
  EXPECT_FALSE(v3.reference()->wait_for_providers(200ms));
  auto t0 = Clock::now();
  auto r = v3.call<&Calculator::add>(1, 2);
  auto took = regtest::since(t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable) << r.status().to_string();
  EXPECT_LT(took, 500ms) << "an empty directory waited instead of failing at once";

  // A service nobody provides, through the generic reference.
  auto ref = client->reference("NoSuchService", registry_url, with_timeout(5000ms));
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  EXPECT_TRUE((*ref)->providers().empty());
  tern::Proxy<Calculator> nobody(*ref);
  t0 = Clock::now();
  r = nobody.call<&Calculator::add>(1, 2);
  took = regtest::since(t0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable) << r.status().to_string();
  EXPECT_LT(took, 500ms);
}

TEST_F(DirectoryTest, ProvidersAppearingLaterAreDiscoveredByWaitForProviders) {
  auto calc = refer();
  EXPECT_TRUE(calc.reference()->providers().empty());
  auto& p = add_provider();
  ASSERT_TRUE(calc.reference()->wait_for_providers(5s));
  EXPECT_EQ(directory(calc), std::vector<std::string>{p.address()});
  EXPECT_EQ(calc.call<&Calculator::add>(20, 22).value(), 42);
  // And its graceful departure empties the directory (then UNAVAILABLE at once).
  p.provider->shutdown(100ms);
  ASSERT_TRUE(directory_becomes(calc, {}));
  auto r = calc.call<&Calculator::add>(1, 1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
}

// Smooth weighted round robin: over any multiple of the weight sum (in units
// of the gcd) every provider gets exactly its share.
TEST_F(DirectoryTest, WeightedRoundRobinFollowsWeightsExactly) {
  auto& w1 = add_provider(regtest::weight(100));
  auto& w2 = add_provider(regtest::weight(200));
  auto& w3 = add_provider(regtest::weight(300));
  auto calc = refer(balanced("weighted_round_robin"));
  ASSERT_TRUE(directory_becomes(calc, {w1.address(), w2.address(), w3.address()}))
      << ::testing::PrintToString(directory(calc));
  for (auto& u : calc.reference()->providers()) {
    if (u.address() == w1.address()) {
      EXPECT_EQ(u.int_param("weight", 0), 100);
    }
    if (u.address() == w3.address()) {
      EXPECT_EQ(u.int_param("weight", 0), 300);
    }
  }
  for (int i = 0; i < 600; ++i) ASSERT_EQ(calc.call<&Calculator::add>(i, 1).value(), i + 1);
  EXPECT_EQ(w1.impl->adds.load(), 100);
  EXPECT_EQ(w2.impl->adds.load(), 200);
  EXPECT_EQ(w3.impl->adds.load(), 300);
}

TEST_F(DirectoryTest, WeightedRandomRoughlyFollowsWeights) {
  auto& light = add_provider(regtest::weight(100));
  auto& heavy = add_provider(regtest::weight(300));
  auto calc = refer(balanced("random", 42));
  ASSERT_TRUE(directory_becomes(calc, {light.address(), heavy.address()}));
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(calc.call<&Calculator::add>(i, 1).has_value());
  // Expected 500 / 1500; 6 standard deviations (~19) either way is generous.
  EXPECT_NEAR(light.impl->adds.load(), 500, 120);
  EXPECT_EQ(light.impl->adds.load() + heavy.impl->adds.load(), 2000);
}

// ---------------------------------------------------------------------------
// 5. The registry goes down: consumers keep calling the cached providers.

TEST_F(DirectoryTest, CallsKeepSucceedingOnCachedProvidersWhileTheRegistryIsDown) {
  auto& p1 = add_provider();
  auto& p2 = add_provider();
  auto calc = refer(balanced("round_robin"));
  ASSERT_TRUE(directory_becomes(calc, {p1.address(), p2.address()}));

  registry->shutdown();
  registry.reset();

  // Keep calling across several heartbeat intervals (the consumer's and the
  // providers' registry clients notice the loss meanwhile).
  auto until = Clock::now() + 4 * kHeartbeat;
  int calls = 0;
  while (Clock::now() < until || calls < 100) {
    auto r = calc.call<&Calculator::add>(calls, 1);
    ASSERT_TRUE(r.has_value()) << "call " << calls << " failed with the registry down: " << r.status().to_string();
    ASSERT_EQ(*r, calls + 1);
    ++calls;
    if (calls % 10 == 0) std::this_thread::sleep_for(10ms);
  }
  // The directory kept both providers (no empty push) and both served.
  EXPECT_EQ(directory(calc), regtest::sorted({p1.address(), p2.address()}));
  EXPECT_GT(p1.impl->adds.load(), 0);
  EXPECT_GT(p2.impl->adds.load(), 0);

  // A new reference made while the registry is down gets nothing cached for
  // it in a fresh Client, and fails at once rather than hanging.
  tern::Client fresh(testutil::one_io());
  auto other = fresh.refer<Calculator>(registry_url, with_timeout(2000ms));
  if (other.has_value()) {
    auto t0 = Clock::now();
    auto r = other->call<&Calculator::add>(1, 1);
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
    EXPECT_LT(regtest::since(t0), 500ms);
  }
}

// 4 (consumer's view). Restart on the same port: the Client's directory is
// rebuilt from the new registry (providers re-register, consumer re-subscribes).
TEST_F(DirectoryTest, DirectoryFollowsARestartedRegistry) {
  auto& p1 = add_provider();
  auto& p2 = add_provider();
  auto calc = refer(balanced("round_robin"));
  ASSERT_TRUE(directory_becomes(calc, {p1.address(), p2.address()}));
  const std::uint16_t port = registry->port();

  registry->shutdown();
  registry.reset();
  // While down, p2 leaves (its unregister cannot reach the registry) and p3 starts.
  p2.provider->shutdown(100ms);
  auto& p3 = add_provider();
  EXPECT_EQ(directory(calc), regtest::sorted({p1.address(), p2.address()})) << "cached list changed while down";

  tern::RegistryServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  o.heartbeat_interval = kHeartbeat;
  registry = std::make_unique<tern::RegistryServer>(o);
  ASSERT_TRUE(registry->start().is_ok());
  EXPECT_TRUE(directory_becomes(calc, {p1.address(), p3.address()}, 10s))
      << "directory after restart: " << ::testing::PrintToString(directory(calc));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(calc.call<&Calculator::add>(i, i).value(), 2 * i);
  EXPECT_GT(p3.impl->adds.load(), 0);
}

}  // namespace
