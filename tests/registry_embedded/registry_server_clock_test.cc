// The embedded registry center's expiry (RegistryServer, tern/registry_server.h)
// on a FakeClock: a registration not renewed for more than 3 heartbeat
// intervals is removed by the sweep, one 1 ms younger is kept, and a
// heartbeat() restarts the count. The registrations are made over a real
// connection that stays open (a raw client of the registry's API that never
// sends heartbeat() unless told), so only the clock decides; no sleeping.
#include "tern/registry_server.h"

#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fake_clock.h"
#include "loopback.h"
#include "registry/embedded/registry_protocol.h"
#include "registry/embedded/registry_server_test_access.h"
#include "tern/client.h"

namespace {

using namespace std::chrono_literals;
using tern::registry::RegistryApi;
using Clock = tern::Clock;

constexpr auto kHeartbeat = 1000ms;  // fake time; the connection's own pings run on real time
const std::string kA = "tern://127.0.0.1:20001/Echo";
const std::string kB = "tern://127.0.0.1:20002/Echo";
const std::string kConsumer = "consumer://10.0.0.9/Echo?application=x&pid=1";

struct RegistryServerClock : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = kHeartbeat;
    o.on_change = [this](const std::string& service, const std::vector<std::string>& providers) {
      std::lock_guard lock(mu);
      changes.emplace_back(service, providers);
    };
    server = std::make_unique<tern::RegistryServer>(o);
    tern::RegistryServerTestAccess::set_clock(*server, clock);
    ASSERT_TRUE(server->start().is_ok());
    // The sweeper's first wait: one interval after start().
    ASSERT_EQ(clock.await_wait(), start + kHeartbeat);
    client = std::make_unique<tern::Client>(testutil::one_io());
    tern::ReferenceOptions ro;
    ro.cluster = "failfast";
    api = client->refer<RegistryApi>("direct://127.0.0.1:" + std::to_string(server->port()), ro).value();
  }
  void TearDown() override {
    client.reset();
    server.reset();
  }

  // Moves the clock to start + `at` and waits for the sweep that this wakes
  // (the sweeper then waits one interval from `at`: that is how the test
  // knows the sweep is over).
  void sweep_at(Clock::duration at) {
    clock.advance(start + at - clock.now());
    EXPECT_EQ(clock.await_wait(), start + at + kHeartbeat) << "no sweep at +" << to_ms(at) << " ms";
  }

  static long long to_ms(Clock::duration d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  }

  std::vector<std::pair<std::string, std::vector<std::string>>> changes_seen() {
    std::lock_guard lock(mu);
    return changes;
  }

  tern::testing::FakeClock clock;  // outlives the server
  const Clock::time_point start = clock.now();
  std::unique_ptr<tern::RegistryServer> server;
  std::unique_ptr<tern::Client> client;
  tern::Proxy<RegistryApi> api;
  std::mutex mu;
  std::vector<std::pair<std::string, std::vector<std::string>>> changes;
};

TEST_F(RegistryServerClock, RegistrationIsRemovedJustAfterThreeIntervalsWithoutRenewal) {
  ASSERT_TRUE(api.call<&RegistryApi::register_provider>(kA).value());        // renewed at +0
  ASSERT_TRUE(api.call<&RegistryApi::register_consumer>(kConsumer).value());  // renewed at +0
  clock.advance(2ms);
  ASSERT_TRUE(api.call<&RegistryApi::register_provider>(kB).value());  // renewed at +2 ms
  ASSERT_EQ(server->providers("Echo"), (std::vector<std::string>{kA, kB}));

  // One sweep at 3 intervals + 1 ms: kA and the consumer are 1 ms past the
  // limit, kB 1 ms short of it.
  sweep_at(3 * kHeartbeat + 1ms);
  EXPECT_EQ(server->providers("Echo"), std::vector<std::string>{kB});
  EXPECT_EQ(api.call<&RegistryApi::list_consumers>("Echo").value(), std::vector<std::string>{});
  const auto seen = changes_seen();
  ASSERT_EQ(seen.size(), 3u) << "two registrations and one removal published";
  EXPECT_EQ(seen.back(), (std::pair<std::string, std::vector<std::string>>{"Echo", {kB}}));

  // kB goes at the next sweep (one interval later).
  sweep_at(4 * kHeartbeat + 1ms);
  EXPECT_EQ(server->providers("Echo"), std::vector<std::string>{});
  EXPECT_EQ(changes_seen().size(), 4u);
}

TEST_F(RegistryServerClock, HeartbeatRestartsTheCount) {
  ASSERT_TRUE(api.call<&RegistryApi::register_provider>(kA).value());  // renewed at +0
  sweep_at(2 * kHeartbeat);
  EXPECT_EQ(api.call<&RegistryApi::heartbeat>().value(), 1) << "renews kA at +2 intervals";

  // Without the renewal kA would be 1 ms past the limit here.
  sweep_at(3 * kHeartbeat + 1ms);
  EXPECT_EQ(server->providers("Echo"), std::vector<std::string>{kA});
  // 1 ms short of 3 intervals after the renewal: kept.
  sweep_at(5 * kHeartbeat - 1ms);
  EXPECT_EQ(server->providers("Echo"), std::vector<std::string>{kA});
  // The next sweep (one interval later) is past the limit: removed, and the
  // registry holds nothing for this (still open) connection.
  sweep_at(6 * kHeartbeat - 1ms);
  EXPECT_EQ(server->providers("Echo"), std::vector<std::string>{});
  EXPECT_EQ(api.call<&RegistryApi::heartbeat>().value(), 0);
  const auto seen = changes_seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen.back(), (std::pair<std::string, std::vector<std::string>>{"Echo", {}}));
}

}  // namespace
