// Routing rules end to end (tern/cluster/router.h, docs/governance.md): real
// providers announced in the embedded registry with URL parameters (version,
// tag), a consumer whose ReferenceOptions::routes narrow each call's
// providers before the load balancer. Counts are read from the providers
// themselves (add() calls, count() totals) and from the consumer's
// per-provider attempts.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "registry_embedded/registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/registry_server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using regtest::InProcessProvider;
using testsvc::Calculator;
using testutil::wait_until;

namespace {

tern::ServiceOptions with_params(std::string version, std::map<std::string, std::string> params = {}) {
  tern::ServiceOptions o;
  o.version = std::move(version);
  o.parameters = std::move(params);
  return o;
}

struct RouterE2e : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = 300ms;
    registry = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(registry->start().is_ok());
    registry_url = "tern://127.0.0.1:" + std::to_string(registry->port());
    tern::ClientOptions co;
    co.io_threads = 1;
    co.registry.heartbeat_interval = 300ms;
    client = std::make_unique<tern::Client>(co);
  }
  void TearDown() override {
    client.reset();
    providers.clear();
    if (registry) registry->shutdown();
  }

  InProcessProvider& add_provider(tern::ServiceOptions so) {
    providers.push_back(std::make_unique<InProcessProvider>(registry_url, std::move(so)));
    EXPECT_TRUE(providers.back()->status.is_ok()) << providers.back()->status.to_string();
    return *providers.back();
  }

  // A reference with `routes`, round robin, once every provider is in its directory.
  tern::Proxy<Calculator> refer(std::vector<std::string> routes) {
    tern::ReferenceOptions o;
    o.load_balance = "round_robin";
    o.warmup = 0ms;
    o.routes = std::move(routes);
    auto p = client->refer<Calculator>(registry_url, std::move(o));
    EXPECT_TRUE(p.has_value()) << p.status().to_string();
    if (!p.has_value()) return {};
    auto proxy = std::move(p).value();
    EXPECT_TRUE(wait_until([&] { return proxy.reference()->providers().size() == providers.size(); }, 5s));
    return proxy;
  }

  static std::uint64_t attempts_on(const tern::Proxy<Calculator>& p, const InProcessProvider& provider) {
    for (auto& s : p.reference()->provider_stats()) {
      if (s.url.address() == provider.address()) return s.attempts;
    }
    ADD_FAILURE() << "no provider " << provider.address();
    return 0;
  }

  std::unique_ptr<tern::RegistryServer> registry;
  std::string registry_url;
  std::unique_ptr<tern::Client> client;
  std::vector<std::unique_ptr<InProcessProvider>> providers;
};

TEST_F(RouterE2e, ConditionRuleSendsAddOnlyToVersion2Providers) {
  auto& v1 = add_provider(with_params("1.0"));
  auto& v2a = add_provider(with_params("2.0"));
  auto& v2b = add_provider(with_params("2.0"));
  auto calc = refer({"condition:method = add => version = 2.0"});
  for (int i = 0; i < 20; ++i) {
    auto r = calc.call<&Calculator::add>(i, 1);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    EXPECT_EQ(*r, i + 1);
  }
  EXPECT_EQ(v1.impl->adds.load(), 0);
  EXPECT_EQ(v2a.impl->adds.load(), 10);  // round robin over the two version 2.0 providers
  EXPECT_EQ(v2b.impl->adds.load(), 10);
  // Other methods are not routed: greet reaches all three.
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(calc.call<&Calculator::greet>("x").has_value());
  EXPECT_EQ(attempts_on(calc, v1), 2u);
  EXPECT_EQ(attempts_on(calc, v2a), 12u);
  EXPECT_EQ(attempts_on(calc, v2b), 12u);
}

TEST_F(RouterE2e, TagRuleFollowsTheCallsTagAttachment) {
  auto& plain = add_provider(with_params(""));
  auto& canary = add_provider(with_params("", {{"tag", "canary"}}));
  auto calc = refer({"tag:"});
  tern::CallOptions tagged;
  tagged.attachments = {{"tern.tag", "canary"}};
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(calc.with(tagged).call<&Calculator::add>(1, 2).has_value());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(calc.call<&Calculator::add>(1, 2).has_value());
  EXPECT_EQ(canary.impl->adds.load(), 8);
  EXPECT_EQ(plain.impl->adds.load(), 5);
  // A tag nobody has: the untagged provider (force=false).
  tern::CallOptions blue;
  blue.attachments = {{"tern.tag", "blue"}};
  ASSERT_TRUE(calc.with(blue).call<&Calculator::add>(1, 2).has_value());
  EXPECT_EQ(plain.impl->adds.load(), 6);
  // Oneway calls are routed the same way.
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(calc.with(tagged).oneway<&Calculator::count>(10).is_ok());
  EXPECT_TRUE(wait_until([&] { return canary.impl->total() == 30; }, 5s));
  EXPECT_EQ(plain.impl->total(), 0);
}

TEST_F(RouterE2e, ForcedTagAndBlockingRuleFailTheCallNamingTheRule) {
  auto& plain = add_provider(with_params(""));
  auto forced = refer({"tag:force"});
  tern::CallOptions blue;
  blue.attachments = {{"tern.tag", "blue"}};
  auto r = forced.with(blue).call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_EQ(r.status().message(), "no provider of testsvc::Calculator has tag 'blue' (tag router, force)");
  auto blocked = refer({"condition:method = add =>"});
  auto b = blocked.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(b.has_value());
  EXPECT_EQ(b.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_EQ(b.status().message(), "call testsvc::Calculator.add blocked by condition rule 'method = add =>'");
  EXPECT_EQ(attempts_on(blocked, plain), 0u);  // nothing was sent, nothing retried
  EXPECT_TRUE(blocked.call<&Calculator::greet>("x").has_value());
  EXPECT_EQ(plain.impl->adds.load(), 0);
}

TEST_F(RouterE2e, MalformedRuleIsInvalidArgumentAtReferenceCreation) {
  tern::ReferenceOptions o;
  o.routes = {"tag:", "condition:method = get version = 2.0"};
  auto p = client->refer<Calculator>(registry_url, o);
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(),
            "routes[1] condition rule 'method = get version = 2.0': at position 13 ('version'): expected '=>' or '&'");
}

}  // namespace

namespace {

// docs/governance.md, "A provider drained": every call avoids one provider.
TEST_F(RouterE2e, DrainedProviderGetsNoCalls) {
  auto& a = add_provider(with_params(""));
  auto& drained = add_provider(with_params(""));
  auto& c = add_provider(with_params(""));
  auto calc = refer({"condition: => address != " + drained.address() + "; force"});
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(calc.call<&Calculator::add>(i, i).has_value());
  EXPECT_EQ(drained.impl->adds.load(), 0);
  EXPECT_EQ(a.impl->adds.load(), 5);
  EXPECT_EQ(c.impl->adds.load(), 5);
}

// docs/governance.md, "A canary release": 5 % of `add` to the canary.
TEST_F(RouterE2e, WeightedSplitSendsAShareToTheCanary) {
  auto& stable = add_provider(with_params(""));
  auto& canary = add_provider(with_params("", {{"tag", "canary"}}));
  tern::ReferenceOptions o;
  o.warmup = 0ms;
  o.seed = 42;
  o.routes = {"weighted:method = add => tag = canary @ 5%"};
  auto p = client->refer<Calculator>(registry_url, std::move(o));
  ASSERT_TRUE(p.has_value()) << p.status().to_string();
  auto calc = std::move(p).value();
  ASSERT_TRUE(wait_until([&] { return calc.reference()->providers().size() == 2; }, 5s));
  constexpr int kCalls = 2000;
  for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(calc.call<&Calculator::add>(1, 1).has_value());
  EXPECT_EQ(stable.impl->adds.load() + canary.impl->adds.load(), kCalls);
  std::printf("[weighted e2e] 5%% rule, seed 42: %d of %d calls reached the canary\n", canary.impl->adds.load(), kCalls);
  EXPECT_GE(canary.impl->adds.load(), 60);  // 3 % .. 7 % of 2000
  EXPECT_LE(canary.impl->adds.load(), 140);
}

}  // namespace

namespace {

// A propagated tag (CallOptions::propagated, sent as "^tern.tag" so nested
// calls keep it) routes like a plain one.
TEST_F(RouterE2e, PropagatedTagRoutesLikeAnAttachment) {
  auto& plain = add_provider(with_params(""));
  auto& canary = add_provider(with_params("", {{"tag", "canary"}}));
  auto calc = refer({"tag:force"});
  tern::CallOptions propagated;
  propagated.propagated = {{"tern.tag", "canary"}};
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(calc.with(propagated).call<&Calculator::add>(1, 2).has_value());
  EXPECT_EQ(canary.impl->adds.load(), 4);
  EXPECT_EQ(plain.impl->adds.load(), 0);
}

// broadcast calls every provider the routers leave, not every provider.
TEST_F(RouterE2e, BroadcastReachesOnlyTheRoutedProviders) {
  auto& v1 = add_provider(with_params("1.0"));
  auto& v2a = add_provider(with_params("2.0"));
  auto& v2b = add_provider(with_params("2.0"));
  tern::ReferenceOptions o;
  o.cluster = "broadcast";
  o.routes = {"condition:method = add => version = 2.0"};
  auto p = client->refer<Calculator>(registry_url, std::move(o));
  ASSERT_TRUE(p.has_value()) << p.status().to_string();
  auto calc = std::move(p).value();
  ASSERT_TRUE(wait_until([&] { return calc.reference()->providers().size() == 3; }, 5s));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(calc.call<&Calculator::add>(1, 2).has_value());
  EXPECT_EQ(v1.impl->adds.load(), 0);
  EXPECT_EQ(v2a.impl->adds.load(), 3);
  EXPECT_EQ(v2b.impl->adds.load(), 3);
}

}  // namespace
