// The consumer's provider-list file cache (RegistryOptions::cache_file,
// src/registry/caching_registry.h): lists received are written to the file; a
// subscription the registry does not answer within request_timeout is served
// the cached list; the registry's own list wins when it answers.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fake_clock.h"
#include "registry/caching_registry.h"
#include "registry/embedded/embedded_registry.h"
#include "registry_test_util.h"
#include "loopback.h"
#include "wait_until.h"
#include "tern/registry_server.h"

namespace {

using regtest::Clock;
using testutil::wait_until;
using regtest::InProcessProvider;
using regtest::PushLog;
using testsvc::Calculator;
using namespace std::chrono_literals;

constexpr auto kRequestTimeout = 300ms;
const std::string kService = "testsvc::Calculator";  // testsvc::Calculator's service name

struct ProviderCacheTest : ::testing::Test {
  void SetUp() override {
    char dir_template[] = "/tmp/tern-provider-cache-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir = dir_template;
    cache_file = dir + "/providers.cache";
  }
  void TearDown() override {
    if (registry) registry->shutdown();
    std::filesystem::remove_all(dir);
  }

  void start_registry() {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = 300ms;
    registry = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(registry->start().is_ok());
    registry_url = "tern://127.0.0.1:" + std::to_string(registry->port());
  }

  tern::RegistryOptions registry_options() const {
    tern::RegistryOptions o;
    o.cache_file = cache_file;
    o.request_timeout = kRequestTimeout;
    o.initial_backoff = 50ms;
    o.max_backoff = 500ms;
    return o;
  }

  std::string file_text() const {
    std::ifstream in(cache_file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // A tern:// address where nothing listens (a registry that was just stopped).
  static std::string dead_registry() {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    tern::RegistryServer r(o);
    EXPECT_TRUE(r.start().is_ok());
    std::string url = "tern://127.0.0.1:" + std::to_string(r.port());
    r.shutdown();
    return url;
  }

  std::string dir;
  std::string cache_file;
  std::unique_ptr<tern::RegistryServer> registry;
  std::string registry_url;
};

std::vector<std::string> addresses(const tern::Proxy<Calculator>& p) {
  std::vector<std::string> out;
  for (auto& u : p.reference()->providers()) out.push_back(u.address());
  return regtest::sorted(out);
}

// The main use: a consumer that starts while the registry is down calls the
// providers an earlier run of it cached.
TEST_F(ProviderCacheTest, ConsumerStartedDuringAnOutageCallsTheCachedProviders) {
  start_registry();
  InProcessProvider p1(registry_url);
  InProcessProvider p2(registry_url);
  ASSERT_TRUE(p1.status.is_ok() && p2.status.is_ok());
  const std::vector<std::string> both = regtest::sorted({p1.address(), p2.address()});

  tern::ClientOptions co = testutil::one_io();
  co.registry = registry_options();
  {
    tern::Client first(co);
    auto calc = first.refer<Calculator>(registry_url).value();
    ASSERT_TRUE(wait_until([&] { return addresses(calc) == both; }, 5s));
  }
  const std::string text = file_text();
  EXPECT_NE(text.find(registry_url + "\t" + kService + "\t" + p1.url()), std::string::npos) << text;
  EXPECT_NE(text.find(registry_url + "\t" + kService + "\t" + p2.url()), std::string::npos) << text;

  registry->shutdown();  // the outage; the providers keep serving

  tern::Client second(co);
  tern::ReferenceOptions ro;
  ro.load_balance = "round_robin";
  ro.warmup = 0ms;
  auto calc = second.refer<Calculator>(registry_url, ro).value();
  ASSERT_TRUE(wait_until([&] { return addresses(calc) == both; }, 10s))
      << "directory: " << ::testing::PrintToString(addresses(calc));
  for (int i = 0; i < 10; ++i) ASSERT_EQ(calc.call<&Calculator::add>(i, 1).value(), i + 1);
  EXPECT_GT(p1.impl->adds.load(), 0);
  EXPECT_GT(p2.impl->adds.load(), 0);
}

// Registry level: the cached list is pushed once request_timeout has passed
// without an answer, never before; lookup() falls back to the file; lines
// that do not parse are skipped.
TEST_F(ProviderCacheTest, UnansweredSubscriptionGetsTheCachedListAfterRequestTimeout) {
  const std::string address = dead_registry();
  {
    std::ofstream out(cache_file);
    out << "# written by hand\n"
        << address << "\tCalculator\ttern://127.0.0.1:20880/Calculator?weight=100\n"
        << address << "\tCalculator\ttern://127.0.0.1:20881/Calculator?weight=100\n"
        << address << "\tEmpty\n"
        << "garbage line without tabs\n"
        << address << "\tBroken\tnot a url\n"
        << "tern://127.0.0.1:1\tCalculator\ttern://10.9.9.9:1/Calculator\n";  // another registry's
  }
  auto registry = tern::create_registry_any(tern::Url::parse(address).value(), registry_options());
  ASSERT_TRUE(registry.has_value()) << registry.status().to_string();

  PushLog log;
  const auto subscribed = Clock::now();
  auto id = (*registry)->subscribe("Calculator", log.listener());
  ASSERT_TRUE(id.has_value());
  const std::vector<std::string> cached = {"tern://127.0.0.1:20880/Calculator?weight=100",
                                           "tern://127.0.0.1:20881/Calculator?weight=100"};
  auto at = log.wait_for(cached, 10s);
  ASSERT_NE(at, Clock::time_point{}) << "no cached push; latest: " << ::testing::PrintToString(log.latest());
  EXPECT_GE(at - subscribed, kRequestTimeout);
  EXPECT_EQ(log.count(), 1u);

  PushLog empty_log;
  ASSERT_TRUE((*registry)->subscribe("Empty", empty_log.listener()).has_value());
  EXPECT_NE(empty_log.wait_for({}, 10s), Clock::time_point{});

  auto looked_up = (*registry)->lookup("Calculator");
  ASSERT_TRUE(looked_up.has_value()) << looked_up.status().to_string();
  EXPECT_EQ(regtest::to_strings(*looked_up), cached);
  auto unknown = (*registry)->lookup("NeverCached");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.status().code(), tern::StatusCode::kUnavailable);
  (*registry)->unsubscribe(*id);
}

// When the registry answers, its list is what the listener gets (no stale
// cached push after it) and what the file then holds. The cache's fallback
// delay runs on a fake clock (the CachingRegistry is made here as
// create_registry() makes it, with that clock): the registry's answer comes
// first whatever the machine's speed, and the fallback time is then passed
// without sleeping.
TEST_F(ProviderCacheTest, TheRegistrysListWinsAndReplacesTheFile) {
  start_registry();
  InProcessProvider p1(registry_url);
  ASSERT_TRUE(p1.status.is_ok());
  {
    std::ofstream out(cache_file);
    out << registry_url << "\t" << kService << "\ttern://127.0.0.1:1/Calculator\n";
  }
  tern::testing::FakeClock clock;  // outlives the registry
  const auto start = clock.now();
  auto backend = tern::make_embedded_registry(tern::Url::parse(registry_url).value(), registry_options());
  ASSERT_TRUE(backend.has_value()) << backend.status().to_string();
  auto registry = std::make_shared<tern::CachingRegistry>(*backend, registry_url,
                                                          tern::ProviderCacheFile::open(cache_file), kRequestTimeout,
                                                          clock);
  PushLog log;
  auto id = registry->subscribe(kService, log.listener());
  ASSERT_TRUE(id.has_value());
  ASSERT_NE(log.wait_for({p1.url()}, 5s), Clock::time_point{});
  // Past the fallback time: the fallback thread looks, finds the
  // subscription answered, and has nothing left to wait for.
  ASSERT_TRUE(wait_until([&] { return clock.await_wait(100ms) == start + kRequestTimeout; }, 5s));
  clock.advance(kRequestTimeout);
  ASSERT_EQ(clock.await_wait(), tern::Clock::time_point::max());
  // A second subscription's answer is pushed after anything queued before it.
  PushLog marker;
  auto marker_id = registry->subscribe("Marker", marker.listener());
  ASSERT_TRUE(marker_id.has_value());
  ASSERT_NE(marker.wait_for({}, 5s), Clock::time_point{});
  registry->unsubscribe(*marker_id);
  const auto pushes = log.pushes();
  ASSERT_EQ(pushes.size(), 1u);
  EXPECT_EQ(pushes[0].urls, std::vector<std::string>{p1.url()});
  const std::string text = file_text();
  EXPECT_NE(text.find(registry_url + "\t" + kService + "\t" + p1.url()), std::string::npos) << text;
  EXPECT_EQ(text.find("127.0.0.1:1/"), std::string::npos) << text;
  registry->unsubscribe(*id);
}

// A file that cannot be written leaves the cache in memory: calls go on.
TEST_F(ProviderCacheTest, UnwritableFileKeepsWorking) {
  start_registry();
  InProcessProvider p1(registry_url);
  ASSERT_TRUE(p1.status.is_ok());
  tern::ClientOptions co = testutil::one_io();
  co.registry = registry_options();
  co.registry.cache_file = dir + "/no/such/dir/providers.cache";
  tern::Client client(co);
  auto calc = client.refer<Calculator>(registry_url).value();
  ASSERT_TRUE(wait_until([&] { return addresses(calc) == std::vector<std::string>{p1.address()}; }, 5s));
  EXPECT_EQ(calc.call<&Calculator::add>(2, 3).value(), 5);
  EXPECT_FALSE(std::filesystem::exists(co.registry.cache_file));
}

}  // namespace
