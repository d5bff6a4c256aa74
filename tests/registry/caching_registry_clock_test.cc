// CachingRegistry's fallback to the cached provider list
// (src/registry/caching_registry.h) on a FakeClock: a subscription the
// backend has not pushed to gets the cached list exactly fallback_delay after
// subscribe(), not a tick before, and never once the backend has pushed. The
// backend is a fake that pushes when the test says so: no server, no sleep.
#include "registry/caching_registry.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fake_clock.h"

namespace tern {
namespace {

using namespace std::chrono_literals;

constexpr auto kDelay = 300ms;
const std::string kAddress = "tern://127.0.0.1:1";  // keys the file's lines; nothing is dialled

// A backend whose subscriptions are pushed to only by push(), on the
// calling thread (a real backend pushes from a thread of its own).
class ScriptedBackend final : public Registry {
 public:
  Status register_provider(const Url&) override { return Status(); }
  Status unregister_provider(const Url&) override { return Status(); }
  Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) override {
    std::lock_guard lock(mu_);
    subs_.emplace(++last_id_, Sub{service, std::move(listener)});
    return last_id_;
  }
  void unsubscribe(SubscriptionId id) override {
    std::lock_guard lock(mu_);
    subs_.erase(id);
  }
  Result<std::vector<Url>> lookup(const std::string&) override {
    return Status(StatusCode::kUnavailable, "scripted backend: unreachable");
  }

  // Runs the listeners subscribed to `service` with `providers`.
  void push(const std::string& service, const std::vector<Url>& providers) {
    std::vector<RegistryListener> listeners;
    {
      std::lock_guard lock(mu_);
      for (auto& [id, sub] : subs_) {
        if (sub.service == service) listeners.push_back(sub.listener);
      }
    }
    for (auto& l : listeners) l(service, providers);
  }

 private:
  struct Sub {
    std::string service;
    RegistryListener listener;
  };
  std::mutex mu_;
  SubscriptionId last_id_ = 0;
  std::map<SubscriptionId, Sub> subs_;
};

// Every list a listener got, as URL strings, in order.
class Pushes {
 public:
  RegistryListener listener() {
    return [this](const std::string&, const std::vector<Url>& urls) {
      std::vector<std::string> list;
      for (const Url& u : urls) list.push_back(u.to_string());
      // Notified under the lock: a waiter that sees the push may destroy
      // this object as soon as it returns, so nothing here touches it after.
      std::lock_guard lock(mu_);
      lists_.push_back(std::move(list));
      cv_.notify_all();
    };
  }
  // Waits (at most 10 s, real time) until `n` pushes arrived; returns all of them.
  std::vector<std::vector<std::string>> wait_for(std::size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return lists_.size() >= n; });
    return lists_;
  }
  std::vector<std::vector<std::string>> all() const {
    std::lock_guard lock(mu_);
    return lists_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::vector<std::string>> lists_;
};

Url url(const std::string& text) { return Url::parse(text).value(); }

const std::vector<std::string> kCached = {"tern://127.0.0.1:20880/Calculator", "tern://127.0.0.1:20881/Calculator"};
const std::string kLive = "tern://127.0.0.1:20990/Calculator";

struct CachingRegistryClock : ::testing::Test {
  void SetUp() override {
    char dir_template[] = "/tmp/tern-caching-clock-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir = dir_template;
    std::ofstream out(dir + "/providers.cache");
    for (const auto& u : kCached) out << kAddress << "\tCalculator\t" << u << "\n";
    out.close();
    backend = std::make_shared<ScriptedBackend>();
    registry = std::make_unique<CachingRegistry>(backend, kAddress,
                                                 std::make_shared<ProviderCacheFile>(dir + "/providers.cache"), kDelay,
                                                 clock);
    // The fallback thread waits for its first subscription, with no deadline.
    ASSERT_EQ(clock.await_wait(), Clock::time_point::max());
  }
  void TearDown() override {
    registry.reset();
    std::filesystem::remove_all(dir);
  }

  // The fallback thread's next wait ends at this time (max(): no fallback pending).
  Clock::time_point next_fallback() {
    auto deadline = clock.await_wait();
    EXPECT_TRUE(deadline.has_value()) << "the fallback thread never waited";
    return deadline.value_or(Clock::time_point{});
  }

  // Every push queued before this call has run once it returns: the
  // dispatcher runs pushes in order, and this one comes after them.
  void flush_pushes() {
    Pushes marker;
    auto id = registry->subscribe("Marker", marker.listener());
    ASSERT_TRUE(id.has_value());
    backend->push("Marker", {});
    ASSERT_EQ(marker.wait_for(1).size(), 1u) << "marker push never ran";
    registry->unsubscribe(*id);
  }

  testing::FakeClock clock;  // outlives the registry
  const Clock::time_point start = clock.now();
  std::string dir;
  std::shared_ptr<ScriptedBackend> backend;
  std::unique_ptr<CachingRegistry> registry;
};

TEST_F(CachingRegistryClock, CachedListIsPushedExactlyFallbackDelayAfterSubscribe) {
  Pushes pushes;
  ASSERT_TRUE(registry->subscribe("Calculator", pushes.listener()).has_value());
  EXPECT_EQ(next_fallback(), start + kDelay);

  clock.advance(kDelay - 1ms);
  flush_pushes();  // subscribes "Marker": the fallback thread looks again, at delay - 1 ms
  EXPECT_EQ(next_fallback(), start + kDelay) << "Calculator's fallback moved";
  EXPECT_TRUE(pushes.all().empty()) << "cached list pushed 1 ms before the delay";

  clock.advance(1ms);
  // Calculator's fallback ran; Marker is gone (flush_pushes unsubscribed it): none pending.
  EXPECT_EQ(next_fallback(), Clock::time_point::max());
  EXPECT_EQ(pushes.wait_for(1), std::vector<std::vector<std::string>>{kCached});

  // The backend's first push replaces the cached list as usual.
  backend->push("Calculator", {url(kLive)});
  EXPECT_EQ(pushes.wait_for(2), (std::vector<std::vector<std::string>>{kCached, {kLive}}));
}

TEST_F(CachingRegistryClock, NoFallbackOnceTheBackendHasPushed) {
  Pushes pushes;
  ASSERT_TRUE(registry->subscribe("Calculator", pushes.listener()).has_value());
  EXPECT_EQ(next_fallback(), start + kDelay);
  backend->push("Calculator", {url(kLive)});
  ASSERT_EQ(pushes.wait_for(1).size(), 1u);

  clock.advance(kDelay);  // the fallback is due: the thread looks and finds the subscription live
  EXPECT_EQ(next_fallback(), Clock::time_point::max());
  clock.advance(10 * kDelay);
  flush_pushes();
  EXPECT_EQ(pushes.all(), std::vector<std::vector<std::string>>{{kLive}});
}

TEST_F(CachingRegistryClock, EachSubscriptionFallsBackOnItsOwnDelay) {
  Pushes first, second, uncached;
  ASSERT_TRUE(registry->subscribe("Calculator", first.listener()).has_value());
  EXPECT_EQ(next_fallback(), start + kDelay);
  clock.advance(100ms);
  // Each subscribe() makes the thread look again; the earliest fallback stays first.
  ASSERT_TRUE(registry->subscribe("Calculator", second.listener()).has_value());
  EXPECT_EQ(next_fallback(), start + kDelay);
  ASSERT_TRUE(registry->subscribe("NotInTheFile", uncached.listener()).has_value());
  EXPECT_EQ(next_fallback(), start + kDelay);

  clock.advance(kDelay - 100ms);  // the first's delay is over, not the others'
  EXPECT_EQ(next_fallback(), start + 100ms + kDelay);
  EXPECT_EQ(first.wait_for(1), std::vector<std::vector<std::string>>{kCached});
  EXPECT_TRUE(second.all().empty());

  clock.advance(100ms);
  EXPECT_EQ(next_fallback(), Clock::time_point::max());
  EXPECT_EQ(second.wait_for(1), std::vector<std::vector<std::string>>{kCached});
  flush_pushes();
  EXPECT_TRUE(uncached.all().empty()) << "a service the file does not know got a push";
  EXPECT_EQ(first.all().size(), 1u);
}

}  // namespace
}  // namespace tern
