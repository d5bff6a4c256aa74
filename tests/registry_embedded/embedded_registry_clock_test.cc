// The `tern://` backend's empty-list protection (EmbeddedRegistry::update(),
// src/registry/embedded/embedded_registry.cc) on a FakeClock: after a
// registry restart, the new registry's empty list is held back for exactly
// hold_period() (3 heartbeat intervals + max(max_backoff, 5 s)) while the
// consumer knows providers, applied once that has passed (by a subscribe()
// or by the heartbeat pass), and replaced by a non-empty list of the new
// epoch. The registry is a real RegistryServer restarted on the same port;
// only the consumer's time is fake, so the hold period passes without
// sleeping.
#include "registry/embedded/embedded_registry.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "fake_clock.h"
#include "loopback.h"
#include "registry/embedded/registry_protocol.h"
#include "registry_test_util.h"
#include "tern/client.h"
#include "tern/registry_server.h"
#include "wait_until.h"

namespace {

using namespace std::chrono_literals;
using regtest::PushLog;
using tern::registry::RegistryApi;
using Clock = tern::Clock;

constexpr auto kHeartbeat = 1000ms;  // the consumer's, on the fake clock
constexpr auto kMaxBackoff = 500ms;
// hold_period(): 3 intervals + max(max_backoff, 5 s).
constexpr auto kHold = 3 * kHeartbeat + 5000ms;
const std::string kA = "tern://127.0.0.1:20001/Echo";
const std::string kB = "tern://127.0.0.1:20002/Echo";

std::vector<std::vector<std::string>> lists(const PushLog& log) {
  std::vector<std::vector<std::string>> out;
  for (const auto& p : log.pushes()) out.push_back(p.urls);
  return out;
}

struct EmbeddedRegistryClock : ::testing::Test {
  void SetUp() override {
    start_server(0);
    port = server->port();
    register_provider(kA);

    tern::RegistryOptions o;
    o.heartbeat_interval = kHeartbeat;
    o.initial_backoff = 50ms;
    o.max_backoff = kMaxBackoff;
    o.request_timeout = 2000ms;
    auto made = tern::make_embedded_registry_on_clock(
        tern::Url::parse("tern://127.0.0.1:" + std::to_string(port)).value(), o, clock);
    ASSERT_TRUE(made.has_value()) << made.status().to_string();
    consumer = *made;
    ASSERT_TRUE(consumer->subscribe("Echo", log.listener()).has_value());
    ASSERT_NE(log.wait_for({kA}, 5s), regtest::Clock::time_point{});
    // One heartbeat pass on the clock: the loop then waits for the next one.
    clock.advance(kHeartbeat);
    await_loop_waiting_for(start + 2 * kHeartbeat);
  }
  void TearDown() override {
    consumer.reset();
    if (server) server->shutdown();
  }

  void start_server(std::uint16_t on_port) {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:" + std::to_string(on_port);
    o.heartbeat_interval = 10s;  // real time: raw registrations must not expire during a test
    server = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(server->start().is_ok());
    raw = std::make_unique<tern::Client>(testutil::one_io());
    tern::ReferenceOptions ro;
    ro.cluster = "failfast";
    api = raw->refer<RegistryApi>("direct://127.0.0.1:" + std::to_string(server->port()), ro).value();
  }

  // A provider registration held by the raw client's connection.
  void register_provider(const std::string& url) {
    ASSERT_TRUE(api.call<&RegistryApi::register_provider>(url).value());
  }

  // Blocks until the consumer's loop waits for `deadline` (its pass before
  // that wait is over).
  void await_loop_waiting_for(Clock::time_point deadline) {
    for (int i = 0; i < 20; ++i) {
      auto d = clock.await_wait();
      ASSERT_TRUE(d.has_value()) << "the loop never waited";
      if (*d == deadline) return;
    }
    FAIL() << "the loop never waited for the expected deadline";
  }

  // Restarts the registry on the same port with no providers (a new epoch)
  // and makes the consumer meet its empty list, at `held_at`; returns with
  // the loop idle. The consumer's listener has seen [kA] only.
  void restart_registry() {
    server->shutdown();
    server.reset();
    api = tern::Proxy<RegistryApi>();  // before the client it calls through
    raw.reset();
    start_server(port);
    ASSERT_EQ(server->port(), port);
    // Connected again: lookup() answers the new registry's list, not the cached one.
    ASSERT_TRUE(testutil::wait_until(
        [&] {
          auto r = consumer->lookup("Echo");
          return r.has_value() && r->empty();
        },
        10s))
        << "the consumer never reached the restarted registry";
    clock.advance(1ms);  // so that the loop's next deadline below is told apart from the one it waits for now
    held_at = clock.now();
    // The new subscriber gets the list held back, not the registry's empty one...
    ASSERT_EQ(probe(), std::vector<std::string>{kA});
    // ...and the first one nothing (the probe's push ran after any push to it).
    ASSERT_EQ(lists(log), std::vector<std::vector<std::string>>{{kA}});
    // The subscribe() woke the loop: its pass resyncs (the empty list again) and
    // it waits one interval.
    await_loop_waiting_for(held_at + kHeartbeat);
  }

  // What a new subscriber to Echo is given now (its first push; it
  // unsubscribes before returning). The dispatcher runs pushes in order, so
  // every push queued before it, to any listener, has run too.
  std::vector<std::string> probe() {
    PushLog p;
    auto id = consumer->subscribe("Echo", p.listener());
    EXPECT_TRUE(id.has_value());
    if (!id) return {"(subscribe failed)"};
    EXPECT_TRUE(testutil::wait_until([&] { return p.count() > 0; }, 5s)) << "a new subscriber got no list";
    consumer->unsubscribe(*id);
    auto pushes = p.pushes();
    return pushes.empty() ? std::vector<std::string>{"(no push)"} : pushes.front().urls;
  }

  tern::testing::FakeClock clock;  // outlives the consumer
  const Clock::time_point start = clock.now();
  std::uint16_t port = 0;
  std::unique_ptr<tern::RegistryServer> server;
  std::unique_ptr<tern::Client> raw;
  tern::Proxy<RegistryApi> api;
  std::shared_ptr<tern::Registry> consumer;
  PushLog log;
  Clock::time_point held_at;
};

TEST_F(EmbeddedRegistryClock, HeldBackEmptyListIsAppliedOnlyOnceTheHoldPeriodHasPassed) {
  restart_registry();

  // 1 ms short of the period: the heartbeat pass this wakes keeps holding it,
  // and a new subscriber is given the providers known.
  clock.advance(kHold - 1ms);
  await_loop_waiting_for(held_at + kHold - 1ms + kHeartbeat);
  EXPECT_EQ(probe(), std::vector<std::string>{kA});
  EXPECT_EQ(lists(log), std::vector<std::vector<std::string>>{{kA}}) << "empty list applied before the period ended";

  // The period is over: the next list met (a new subscriber's) is the empty one, for everyone.
  clock.advance(1ms);
  EXPECT_EQ(probe(), std::vector<std::string>{});
  ASSERT_NE(log.wait_for({}, 5s), regtest::Clock::time_point{});
  EXPECT_EQ(lists(log), (std::vector<std::vector<std::string>>{{kA}, {}}));
}

TEST_F(EmbeddedRegistryClock, HeartbeatPassAppliesTheHeldEmptyListWhenThePeriodEnds) {
  restart_registry();
  clock.advance(kHold);  // wakes the loop at exactly the end of the period; no subscribe() involved
  ASSERT_NE(log.wait_for({}, 5s), regtest::Clock::time_point{}) << "held list never applied";
  await_loop_waiting_for(held_at + kHold + kHeartbeat);
  EXPECT_EQ(lists(log), (std::vector<std::vector<std::string>>{{kA}, {}}));
}

TEST_F(EmbeddedRegistryClock, NonEmptyListOfTheNewEpochReplacesTheHeldList) {
  restart_registry();
  register_provider(kB);  // on the restarted registry: pushed to the consumer
  ASSERT_NE(log.wait_for({kB}, 5s), regtest::Clock::time_point{});

  // Past the period, the heartbeat pass finds nothing held: no empty list.
  clock.advance(kHold);
  await_loop_waiting_for(held_at + kHold + kHeartbeat);
  EXPECT_EQ(probe(), std::vector<std::string>{kB});
  EXPECT_EQ(lists(log), (std::vector<std::vector<std::string>>{{kA}, {kB}}));
}

}  // namespace
