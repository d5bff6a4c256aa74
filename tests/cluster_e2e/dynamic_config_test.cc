// Dynamic configuration on the consumer (tern/governance.h, docs/governance.md
// "Dynamic configuration"): real providers and a real consumer over an
// in-memory Registry written here (mem://), which stores one document per
// service and pushes provider lists and documents synchronously, from the
// thread that changes them. Counts come from the providers (add() calls).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "registry_embedded/registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/log.h"
#include "tern/provider.h"
#include "wait_until.h"
#include "warn_log.h"

using namespace std::chrono_literals;
using regtest::InProcessProvider;
using testsvc::Calculator;
using testutil::wait_until;

namespace {

// A Registry in memory: providers, subscriptions and configuration
// documents; every push runs on the thread that caused it, one at a time
// (push_mu_), never under mu_.
class MemRegistry final : public tern::Registry {
 public:
  tern::Status register_provider(const tern::Url& provider) override {
    {
      std::lock_guard lock(mu_);
      auto& list = providers_[provider.path()];
      for (const auto& u : list) {
        if (u == provider) return {};
      }
      list.push_back(provider);
    }
    push_providers(provider.path());
    return {};
  }
  tern::Status unregister_provider(const tern::Url& provider) override {
    {
      std::lock_guard lock(mu_);
      auto& list = providers_[provider.path()];
      std::erase(list, provider);
    }
    push_providers(provider.path());
    return {};
  }
  tern::Result<tern::SubscriptionId> subscribe(const std::string& service, tern::RegistryListener listener) override {
    tern::SubscriptionId id = 0;
    {
      std::lock_guard lock(mu_);
      id = ++next_id_;
      subscriptions_[id] = {service, std::move(listener)};
    }
    push_providers(service);
    return id;
  }
  void unsubscribe(tern::SubscriptionId id) override {
    std::lock_guard push(push_mu_);  // once it returns, the listener is not running
    std::lock_guard lock(mu_);
    subscriptions_.erase(id);
  }
  tern::Result<std::vector<tern::Url>> lookup(const std::string& service) override {
    std::lock_guard lock(mu_);
    return providers_[service];
  }

  tern::Status set_config(const std::string& service, const std::string& text) override {
    {
      std::lock_guard lock(mu_);
      documents_[service] = tern::ConfigDocument{text, ++revision_};
    }
    push_config(service);
    return {};
  }
  tern::Status remove_config(const std::string& service) override {
    {
      std::lock_guard lock(mu_);
      if (documents_.erase(service) == 0) return {};
    }
    push_config(service);
    return {};
  }
  tern::Result<tern::ConfigDocument> get_config(const std::string& service) override {
    std::lock_guard lock(mu_);
    auto it = documents_.find(service);
    return it == documents_.end() ? tern::ConfigDocument{} : it->second;
  }
  tern::Result<tern::SubscriptionId> watch_config(const std::string& service, tern::ConfigListener listener) override {
    tern::SubscriptionId id = 0;
    {
      std::lock_guard lock(mu_);
      id = ++next_id_;
      watches_[id] = {service, std::move(listener)};
    }
    push_config(service);
    return id;
  }
  void unwatch_config(tern::SubscriptionId id) override {
    std::lock_guard push(push_mu_);
    std::lock_guard lock(mu_);
    watches_.erase(id);
  }

  // The revision the next set_config() stores.
  std::uint64_t next_revision() const {
    std::lock_guard lock(mu_);
    return revision_ + 1;
  }

 private:
  void push_providers(const std::string& service) {
    std::lock_guard push(push_mu_);
    std::vector<tern::RegistryListener> listeners;
    std::vector<tern::Url> list;
    {
      std::lock_guard lock(mu_);
      list = providers_[service];
      for (auto& [id, sub] : subscriptions_) {
        if (sub.first == service) listeners.push_back(sub.second);
      }
    }
    for (auto& l : listeners) l(service, list);
  }
  void push_config(const std::string& service) {
    std::lock_guard push(push_mu_);
    std::vector<tern::ConfigListener> listeners;
    tern::ConfigDocument document;
    {
      std::lock_guard lock(mu_);
      auto it = documents_.find(service);
      if (it != documents_.end()) document = it->second;
      for (auto& [id, w] : watches_) {
        if (w.first == service) listeners.push_back(w.second);
      }
    }
    for (auto& l : listeners) l(service, document);
  }

  mutable std::mutex mu_;
  std::recursive_mutex push_mu_;
  std::map<std::string, std::vector<tern::Url>> providers_;
  std::map<tern::SubscriptionId, std::pair<std::string, tern::RegistryListener>> subscriptions_;
  std::map<tern::SubscriptionId, std::pair<std::string, tern::ConfigListener>> watches_;
  std::map<std::string, tern::ConfigDocument> documents_;
  std::uint64_t revision_ = 0;
  tern::SubscriptionId next_id_ = 0;
};

// mem://<name>: one MemRegistry per name, shared by providers and consumers.
std::shared_ptr<MemRegistry> mem_registry(const std::string& name) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<MemRegistry>> all;
  static std::once_flag once;
  std::call_once(once, [] {
    tern::register_registry_backend("mem", [](const tern::Url& address, const tern::RegistryOptions&) {
      return tern::Result<std::shared_ptr<tern::Registry>>(
          std::shared_ptr<tern::Registry>(mem_registry(address.host_port().host)));
    });
  });
  std::lock_guard lock(mu);
  auto& r = all[name];
  if (!r) r = std::make_shared<MemRegistry>();
  return r;
}

// Warn lines logged while it lives.
using testutil::WarnLog;

tern::ServiceOptions version(std::string v) {
  tern::ServiceOptions o;
  o.version = std::move(v);
  return o;
}

const std::string kCalc(tern::ServiceTraits<Calculator>::name);

struct DynamicConfig : ::testing::Test {
  void SetUp() override {
    name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    registry = mem_registry(name);
    url = "mem://" + name;
    tern::ClientOptions co;
    co.io_threads = 1;
    client = std::make_unique<tern::Client>(co);
  }
  void TearDown() override {
    client.reset();
    providers.clear();
  }

  InProcessProvider& add_provider(tern::ServiceOptions so = {}) {
    providers.push_back(std::make_unique<InProcessProvider>(url, std::move(so)));
    EXPECT_TRUE(providers.back()->status.is_ok()) << providers.back()->status.to_string();
    return *providers.back();
  }

  // Round robin (unless `o` names another), no warm-up, once the directory
  // holds `expected` providers (default: all of them).
  tern::Proxy<Calculator> refer(tern::ReferenceOptions o = {}, std::size_t expected = 0) {
    if (expected == 0) expected = providers.size();
    if (o.load_balance == "random") o.load_balance = "round_robin";
    o.warmup = 0ms;
    auto p = client->refer<Calculator>(url, std::move(o));
    EXPECT_TRUE(p.has_value()) << p.status().to_string();
    if (!p.has_value()) return {};
    auto proxy = std::move(p).value();
    EXPECT_TRUE(wait_until([&] { return proxy.reference()->providers().size() == expected; }, 5s));
    return proxy;
  }

  // Stores `text` and returns its revision.
  std::uint64_t set(const std::string& text) {
    std::uint64_t rev = registry->next_revision();
    EXPECT_TRUE(registry->set_config(kCalc, text).is_ok());
    return rev;
  }

  static void adds(tern::Proxy<Calculator>& calc, int n) {
    for (int i = 0; i < n; ++i) {
      auto r = calc.call<&Calculator::add>(i, 1);
      ASSERT_TRUE(r.has_value()) << r.status().to_string();
      ASSERT_EQ(*r, i + 1);
    }
  }

  std::string name;
  std::shared_ptr<MemRegistry> registry;
  std::string url;
  std::unique_ptr<tern::Client> client;
  std::vector<std::unique_ptr<InProcessProvider>> providers;
};

TEST_F(DynamicConfig, RouteDocumentMovesCallsToVersion2Providers) {
  auto& v1 = add_provider(version("1.0"));
  auto& v2a = add_provider(version("2.0"));
  auto& v2b = add_provider(version("2.0"));
  auto calc = refer();
  EXPECT_EQ(calc.reference()->config_revision(), 0u);
  adds(calc, 30);
  EXPECT_EQ(v1.impl->adds.load(), 10);
  EXPECT_EQ(v2a.impl->adds.load(), 10);
  EXPECT_EQ(v2b.impl->adds.load(), 10);

  auto rev = set("routes:\n  - \"condition: method = add => version = 2.0\"\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  adds(calc, 20);
  EXPECT_EQ(v1.impl->adds.load(), 10);  // no more
  EXPECT_EQ(v2a.impl->adds.load(), 20);
  EXPECT_EQ(v2b.impl->adds.load(), 20);
  // The reference's own options are untouched; the document is what applies.
  EXPECT_TRUE(calc.reference()->options().routes.empty());
}

TEST_F(DynamicConfig, ReferenceCreatedAfterTheDocumentFollowsItFromTheFirstCall) {
  auto& v1 = add_provider(version("1.0"));
  auto& v2 = add_provider(version("2.0"));
  auto rev = set("routes: [\"condition: => version = 2.0\"]\nretries: 0\n");
  auto calc = refer();
  EXPECT_EQ(calc.reference()->config_revision(), rev);
  adds(calc, 7);
  EXPECT_EQ(v1.impl->adds.load(), 0);
  EXPECT_EQ(v2.impl->adds.load(), 7);
}

TEST_F(DynamicConfig, WeightZeroAndDisabledTakeProvidersOut) {
  auto& a = add_provider();
  auto& b = add_provider();
  auto& c = add_provider();
  auto calc = refer();
  auto rev = set("providers:\n  \"" + a.address() + "\": {weight: 0}\n  \"" + b.address() + "\": {disabled: true}\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  adds(calc, 9);
  EXPECT_EQ(a.impl->adds.load(), 0);
  EXPECT_EQ(b.impl->adds.load(), 0);
  EXPECT_EQ(c.impl->adds.load(), 9);
  // Disabled: out of the directory; weight 0: in it, never picked.
  std::vector<std::string> listed;
  for (const auto& u : calc.reference()->providers()) listed.push_back(u.address());
  std::sort(listed.begin(), listed.end());
  std::vector<std::string> expected{a.address(), c.address()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(listed, expected);
  // Broadcast reaches every provider the directory holds: not the disabled one.
  tern::ReferenceOptions bo;
  bo.cluster = "broadcast";
  auto all = refer(bo, 2);
  ASSERT_TRUE(all.call<&Calculator::add>(1, 1).has_value());
  EXPECT_EQ(b.impl->adds.load(), 0);
  EXPECT_EQ(a.impl->adds.load(), 1);
  EXPECT_EQ(c.impl->adds.load(), 10);
}

TEST_F(DynamicConfig, LoadBalancerSeesTheOverriddenWeight) {
  auto& a = add_provider();
  auto& b = add_provider();
  tern::ReferenceOptions o;
  o.load_balance = "weighted_round_robin";
  auto calc = refer(o);
  auto rev = set("providers:\n  \"" + a.address() + "\": {weight: 300}\n");  // b keeps its URL's 100
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  adds(calc, 40);
  EXPECT_EQ(a.impl->adds.load(), 30);
  EXPECT_EQ(b.impl->adds.load(), 10);
  // load_balance from the document: round robin ignores weights.
  rev = set("load_balance: round_robin\nproviders:\n  \"" + a.address() + "\": {weight: 300}\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  adds(calc, 40);
  EXPECT_EQ(a.impl->adds.load(), 50);
  EXPECT_EQ(b.impl->adds.load(), 30);
}

TEST_F(DynamicConfig, AnOverrideForAnAddressNoProviderHasIsAppliedWithAWarning) {
  auto& a = add_provider(version("1.0"));
  auto& b = add_provider(version("1.0"));
  auto calc = refer();
  WarnLog log;
  // "localhost" is not how the providers registered (127.0.0.1): the drain would do nothing.
  auto rev = set("providers:\n  \"localhost:" + std::to_string(a.provider->port()) + "\": {weight: 0}\n  \"" +
                 b.address() + "\": {weight: 50}\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  std::vector<std::string> warnings;
  for (auto& l : log.lines()) {
    if (l.find("match no provider") != std::string::npos) warnings.push_back(l);
  }
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_EQ(warnings[0], "dynamic configuration of " + kCalc + ": revision " + std::to_string(rev) +
                             ": providers localhost:" + std::to_string(a.provider->port()) +
                             " match no provider of the service now (addresses are host:port exactly as registered)");
  adds(calc, 10);
  EXPECT_GT(a.impl->adds.load(), 0);  // not drained: the address did not match
}

TEST_F(DynamicConfig, MalformedDocumentIsRejectedAndThePreviousOneStays) {
  auto& v1 = add_provider(version("1.0"));
  auto& v2 = add_provider(version("2.0"));
  auto calc = refer();
  auto good = set("routes:\n  - \"condition: method = add => version = 2.0\"\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == good; }, 5s));
  WarnLog log;
  // The consumer's lines: the two providers log their own rejections ("rejected by the provider").
  auto consumer_lines = [&] {
    std::vector<std::string> out;
    for (auto& l : log.lines()) {
      if (l.find("by the provider") == std::string::npos) out.push_back(l);
    }
    return out;
  };
  auto bad = set("routes:\n  - \"condition: method = add => version = 1.0\"\n  - \"condition: method = add version\"\n");
  // The push was delivered synchronously: the revision in force is still the good one.
  EXPECT_EQ(calc.reference()->config_revision(), good);
  auto lines = consumer_lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "dynamic configuration of " + kCalc + ": revision " + std::to_string(bad) +
                          " rejected (line 3: routes[1]: condition rule ' method = add version': at position 14 "
                          "('version'): expected '=>' or '&'); revision " +
                          std::to_string(good) + " stays in force");
  adds(calc, 6);
  EXPECT_EQ(v1.impl->adds.load(), 0);
  EXPECT_EQ(v2.impl->adds.load(), 6);
  // An unknown key is rejected the same way.
  auto unknown = set("timeout: 1s\nretires: 1\n");
  EXPECT_EQ(calc.reference()->config_revision(), good);
  ASSERT_EQ(consumer_lines().size(), 2u);
  EXPECT_NE(consumer_lines()[1].find("revision " + std::to_string(unknown) + " rejected (line 2: unknown key \"retires\""),
            std::string::npos)
      << consumer_lines()[1];
  adds(calc, 2);
  EXPECT_EQ(v2.impl->adds.load(), 8);
}

TEST_F(DynamicConfig, RemovedDocumentRestoresTheReferencesOwnOptions) {
  auto& v1 = add_provider(version("1.0"));
  auto& v2 = add_provider(version("2.0"));
  tern::ReferenceOptions o;
  o.routes = {"condition: method = add => version = 1.0"};
  auto calc = refer(o);
  adds(calc, 3);
  EXPECT_EQ(v1.impl->adds.load(), 3);
  auto rev = set("routes:\n  - \"condition: method = add => version = 2.0\"\ntimeout: 100ms\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  adds(calc, 4);
  EXPECT_EQ(v2.impl->adds.load(), 4);
  // The document's timeout: a 400 ms call fails after 100 ms.
  auto slow = calc.call<&Calculator::sleep_ms>(400);
  ASSERT_FALSE(slow.has_value());
  EXPECT_EQ(slow.status().code(), tern::StatusCode::kDeadlineExceeded);

  ASSERT_TRUE(registry->remove_config(kCalc).is_ok());
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == 0; }, 5s));
  adds(calc, 5);
  EXPECT_EQ(v1.impl->adds.load(), 8);  // the reference's own route again
  EXPECT_EQ(v2.impl->adds.load(), 4);
  // ... and its own timeout (3 s).
  auto ok = calc.call<&Calculator::sleep_ms>(200);
  ASSERT_TRUE(ok.has_value()) << ok.status().to_string();
  EXPECT_EQ(*ok, "slept 200");
}

TEST_F(DynamicConfig, ChangesUnderSteadyLoadLoseNoCall) {
  auto& v1 = add_provider(version("1.0"));
  auto& v2 = add_provider(version("2.0"));
  auto calc = refer();
  constexpr int kPerThread = 400;
  std::atomic<int> done{0}, failed{0};
  auto load = [&] {
    for (int i = 0; i < kPerThread; ++i) {
      auto r = calc.call<&Calculator::add>(i, 1);
      if (!r.has_value() || *r != i + 1) failed.fetch_add(1);
      done.fetch_add(1);
    }
  };
  std::thread t1(load), t2(load);
  // Flip the route between the two versions while the calls run: each
  // change waits until some calls ran under the previous one.
  std::uint64_t last = 0;
  for (int flip = 0; flip < 10; ++flip) {
    int before = done.load();
    last = set(flip % 2 == 0 ? "routes: [\"condition: => version = 2.0\"]\n" : "routes: [\"condition: => version = 1.0\"]\n");
    ASSERT_TRUE(wait_until([&] { return done.load() >= std::min(before + 40, 2 * kPerThread); }, 10s));
  }
  t1.join();
  t2.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(done.load(), 2 * kPerThread);
  EXPECT_EQ(v1.impl->adds.load() + v2.impl->adds.load(), 2 * kPerThread);
  EXPECT_GT(v1.impl->adds.load(), 0);
  EXPECT_GT(v2.impl->adds.load(), 0);
  // The last document (flip 9: version 1.0) is in force.
  EXPECT_EQ(calc.reference()->config_revision(), last);
  int v1_before = v1.impl->adds.load();
  adds(calc, 5);
  EXPECT_EQ(v1.impl->adds.load(), v1_before + 5);
}

TEST_F(DynamicConfig, RegistryWithoutDynamicConfigurationKeepsTheReferencesOptions) {
  auto& p = add_provider();
  auto proxy = client->refer<Calculator>("direct://" + p.address(), tern::ReferenceOptions{});
  ASSERT_TRUE(proxy.has_value()) << proxy.status().to_string();
  EXPECT_EQ(proxy->reference()->config_revision(), 0u);
  auto r = proxy->call<&Calculator::add>(2, 3);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(*r, 5);
}

}  // namespace
