// The provider's side of dynamic configuration (tern/provider.h,
// docs/governance.md "Limits on the provider"): a running provider applies
// the `limits` key of its service's document from a real embedded registry,
// rejects a document naming a method it does not have (the last good one
// stays), and goes back to its own limits when the key or the document goes.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/log.h"
#include "tern/registry_server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using regtest::InProcessProvider;
using testsvc::Calculator;
using testutil::wait_until;

namespace {

const std::string kCalc(tern::ServiceTraits<Calculator>::name);

struct ProviderConfig : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = 300ms;
    registry = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(registry->start().is_ok());
    registry_url = "tern://127.0.0.1:" + std::to_string(registry->port());
    auto url = tern::Url::parse(registry_url);
    ASSERT_TRUE(url.has_value());
    auto r = tern::create_registry_any(*url);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    admin = *r;
    tern::set_log_sink([this](tern::LogLevel, std::string_view m) {
      std::lock_guard lock(log_mu);
      log.emplace_back(m);
    });
  }
  void TearDown() override {
    tern::set_log_sink({});
    client.reset();
    provider.reset();
    admin.reset();
    if (registry) registry->shutdown();
  }

  // Stores `text` and returns its revision.
  std::uint64_t set(const std::string& text) {
    EXPECT_TRUE(admin->set_config(kCalc, text).is_ok());
    auto doc = admin->get_config(kCalc);
    EXPECT_TRUE(doc.has_value());
    return doc.has_value() ? doc->revision : 0;
  }
  bool logged(const std::string& part) {
    std::lock_guard lock(log_mu);
    for (const auto& l : log) {
      if (l.find(part) != std::string::npos) return true;
    }
    return false;
  }
  std::optional<tern::Server::LimitState> state(const char* method) {
    return provider->provider->server().limit_state(kCalc, method);
  }
  tern::Proxy<Calculator> refer() {
    tern::ClientOptions co;
    co.io_threads = 1;
    client = std::make_unique<tern::Client>(co);
    tern::ReferenceOptions o;
    o.cluster = "failfast";
    o.warmup = 0ms;
    o.timeout = 10s;
    auto p = client->refer<Calculator>(registry_url, std::move(o));
    EXPECT_TRUE(p.has_value()) << p.status().to_string();
    auto proxy = std::move(p).value();
    EXPECT_TRUE(wait_until([&] { return proxy.reference()->providers().size() == 1; }, 5s));
    return proxy;
  }

  std::unique_ptr<tern::RegistryServer> registry;
  std::string registry_url;
  std::shared_ptr<tern::Registry> admin;
  std::unique_ptr<InProcessProvider> provider;
  std::unique_ptr<tern::Client> client;
  std::mutex log_mu;
  std::vector<std::string> log;
};

TEST_F(ProviderConfig, LimitsComeAndGoWithTheDocument) {
  provider = std::make_unique<InProcessProvider>(registry_url);
  ASSERT_TRUE(provider->status.is_ok()) << provider->status.to_string();
  auto calc = refer();
  EXPECT_FALSE(state("sleep_ms").has_value());
  EXPECT_EQ(provider->provider->config_revision(kCalc), 0u);

  // One call of sleep_ms at a time; add stays unlimited.
  std::uint64_t r1 = set("limits:\n  sleep_ms: {max_concurrency: 1}\n");
  ASSERT_GT(r1, 0u);
  ASSERT_TRUE(wait_until([&] { return provider->provider->config_revision(kCalc) == r1; }, 5s));
  ASSERT_TRUE(state("sleep_ms").has_value());
  EXPECT_EQ(state("sleep_ms")->concurrency_limit, 1);
  EXPECT_FALSE(state("add").has_value());
  EXPECT_TRUE(logged("dynamic configuration of " + kCalc + ": revision " + std::to_string(r1) +
                     " applied by the provider: limits sleep_ms {max_concurrency 1}"));
  {
    auto slow = calc.async_call<&Calculator::sleep_ms>(2000);
    ASSERT_TRUE(wait_until([&] { return state("sleep_ms")->in_flight == 1; }, 5s));
    auto refused = calc.call<&Calculator::sleep_ms>(1);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.status().code(), tern::StatusCode::kResourceExhausted);
    EXPECT_NE(refused.status().message().find("(max_concurrency 1)"), std::string::npos) << refused.status().message();
    auto sum = calc.call<&Calculator::add>(2, 3);
    ASSERT_TRUE(sum.has_value()) << sum.status().to_string();
    EXPECT_EQ(*sum, 5);

    // A document naming a method the provider lacks is rejected by it;
    // revision r1's limit stays (the slow call still holds its slot).
    std::uint64_t bad = set("limits:\n  nosuch: {max_concurrency: 1}\n");
    ASSERT_TRUE(wait_until([&] { return logged("revision " + std::to_string(bad) + " rejected by the provider"); }, 5s));
    EXPECT_TRUE(logged("names no method of it: 'nosuch'"));
    EXPECT_EQ(provider->provider->config_revision(kCalc), r1);
    EXPECT_EQ(state("sleep_ms")->concurrency_limit, 1);
    refused = calc.call<&Calculator::sleep_ms>(1);
    EXPECT_EQ(refused.status().code(), tern::StatusCode::kResourceExhausted);

    auto done = slow.get();
    ASSERT_TRUE(done.has_value()) << done.status().to_string();
    EXPECT_EQ(*done, "slept 2000");
  }

  // "*" limits every method: now add is limited too, sleep_ms keeps its own.
  std::uint64_t r2 = set("limits:\n  \"*\": {max_concurrency: 3}\n  sleep_ms: {max_concurrency: 2}\n");
  ASSERT_TRUE(wait_until([&] { return provider->provider->config_revision(kCalc) == r2; }, 5s));
  EXPECT_EQ(state("add")->concurrency_limit, 3);
  EXPECT_EQ(state("greet")->concurrency_limit, 3);
  EXPECT_EQ(state("sleep_ms")->concurrency_limit, 2);

  // A document without the key: the service's own limits (none here).
  std::uint64_t r3 = set("retries: 1\n");
  ASSERT_TRUE(wait_until([&] { return provider->provider->config_revision(kCalc) == 0; }, 5s));
  EXPECT_GT(r3, r2);
  EXPECT_FALSE(state("add").has_value());
  EXPECT_FALSE(state("sleep_ms").has_value());
  auto a = calc.async_call<&Calculator::sleep_ms>(50);
  auto b = calc.async_call<&Calculator::sleep_ms>(50);
  EXPECT_TRUE(a.get().has_value());
  EXPECT_TRUE(b.get().has_value());
}

TEST_F(ProviderConfig, RemovingTheDocumentRestoresTheServicesOwnLimits) {
  tern::ServiceOptions so;
  so.method_limits["add"] = {.max_concurrency = 7};
  provider = std::make_unique<InProcessProvider>(registry_url, so);
  ASSERT_TRUE(provider->status.is_ok()) << provider->status.to_string();
  EXPECT_EQ(state("add")->concurrency_limit, 7);

  std::uint64_t r1 = set("limits: {}\n");  // no limit at all while present
  ASSERT_TRUE(wait_until([&] { return provider->provider->config_revision(kCalc) == r1; }, 5s));
  EXPECT_FALSE(state("add").has_value());

  // A document that does not parse is rejected; `limits: {}` stays.
  std::uint64_t bad = set("limits:\n  add: {max_concurrency: -3}\n");
  ASSERT_TRUE(wait_until([&] { return logged("revision " + std::to_string(bad) + " rejected by the provider"); }, 5s));
  EXPECT_TRUE(logged("limits.add.max_concurrency: -3 is out of range"));
  EXPECT_EQ(provider->provider->config_revision(kCalc), r1);
  EXPECT_FALSE(state("add").has_value());

  ASSERT_TRUE(admin->remove_config(kCalc).is_ok());
  ASSERT_TRUE(wait_until([&] { return provider->provider->config_revision(kCalc) == 0; }, 5s));
  ASSERT_TRUE(state("add").has_value());
  EXPECT_EQ(state("add")->concurrency_limit, 7);
  EXPECT_TRUE(logged("dynamic configuration of " + kCalc + ": document removed (revision " + std::to_string(r1) +
                     " was in force); the provider's own limits apply"));
}

}  // namespace
