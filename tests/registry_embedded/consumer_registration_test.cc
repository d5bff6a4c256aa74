// Consumers in the embedded registry (issue #20): every reference registers
// consumer://<host>/<service>?application=..&pid=.. through its registry,
// unregisters when destroyed, is dropped with its connection, comes back after
// a registry restart, and `tern ls` shows it.
#include <gtest/gtest.h>

#include <unistd.h>

#include <optional>

#include "registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/registry.h"
#include "tern/registry_server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using regtest::binary;
using regtest::InProcessProvider;
using regtest::run_command;
using testutil::wait_until;

namespace {

const std::string kCalc(tern::ServiceTraits<testsvc::Calculator>::name);

std::unique_ptr<tern::RegistryServer> start_registry(std::uint16_t port = 0) {
  tern::RegistryServerOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  o.heartbeat_interval = 300ms;
  auto r = std::make_unique<tern::RegistryServer>(o);
  EXPECT_TRUE(r->start().is_ok());
  return r;
}

std::string tern_url(const tern::RegistryServer& r) { return "tern://127.0.0.1:" + std::to_string(r.port()); }

tern::RegistryOptions fast() {
  tern::RegistryOptions o;
  o.heartbeat_interval = 300ms;
  o.initial_backoff = 50ms;
  o.max_backoff = 500ms;
  o.request_timeout = 2000ms;
  return o;
}

std::shared_ptr<tern::Registry> observer(const std::string& url) {
  return tern::create_registry_any(tern::Url::parse(url).value(), fast()).value();
}

std::vector<tern::Url> consumers(tern::Registry& r, const std::string& service) {
  auto l = r.list_consumers(service);
  EXPECT_TRUE(l.has_value()) << l.status();
  return l ? *l : std::vector<tern::Url>{};
}

TEST(ConsumerRegistration, AReferenceRegistersItselfAndLeavesWhenDestroyed) {
  auto server = start_registry();
  auto watch = observer(tern_url(*server));
  tern::ClientOptions co;
  co.io_threads = 1;
  co.application = "shop";
  co.registry = fast();
  tern::Client client(co);
  tern::ReferenceOptions ro;
  ro.version = "1.0";
  ro.group = "eu";
  std::optional<tern::Proxy<testsvc::Calculator>> calc;
  calc.emplace(client.refer<testsvc::Calculator>(tern_url(*server), ro).value());

  auto list = consumers(*watch, kCalc);
  ASSERT_EQ(list.size(), 1u);
  const tern::Url& c = list[0];
  EXPECT_EQ(c.scheme(), "consumer");
  EXPECT_EQ(c.path(), kCalc);
  EXPECT_FALSE(c.host_port().host.empty());
  EXPECT_EQ(c.param("application"), "shop");
  EXPECT_EQ(c.param("pid"), std::to_string(::getpid()));
  EXPECT_EQ(c.param("version"), "1.0");
  EXPECT_EQ(c.param("group"), "eu");
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof host - 1), 0);
  EXPECT_EQ(c.param("hostname"), host);
  // Consumers are never providers: nothing is pushed, nothing is listed.
  EXPECT_TRUE(watch->lookup(kCalc).value().empty());
  EXPECT_TRUE(server->providers(kCalc).empty());
  EXPECT_TRUE(watch->list_services().value().empty());

  // A second reference to the same service is a second consumer.
  std::optional<tern::Proxy<testsvc::Calculator>> again;
  again.emplace(client.refer<testsvc::Calculator>(tern_url(*server)).value());
  EXPECT_EQ(consumers(*watch, kCalc).size(), 2u);
  again.reset();  // destroys that reference: it unregisters at once
  EXPECT_EQ(consumers(*watch, kCalc), std::vector<tern::Url>{c});

  calc.reset();
  EXPECT_TRUE(consumers(*watch, kCalc).empty());
}

// Each reference subscribes (waking the registry client's worker, which
// sends a heartbeat) and registers while that heartbeat is under way. A count
// taken while a registration was in flight once looked like a lost
// registration and started a re-registration of every consumer, which could
// reach the registry after a reference's unregistration and leave the consumer
// registered after its reference was gone.
TEST(ConsumerRegistration, ADestroyedReferenceStaysUnregisteredWhileOthersComeAndGo) {
  auto server = start_registry();
  auto watch = observer(tern_url(*server));
  tern::ClientOptions co;
  co.io_threads = 1;
  co.application = "shop";
  co.registry = fast();
  tern::Client client(co);
  auto calc = client.refer<testsvc::Calculator>(tern_url(*server));
  ASSERT_TRUE(calc.has_value());
  const std::vector<tern::Url> first = consumers(*watch, kCalc);
  ASSERT_EQ(first.size(), 1u);
  for (int i = 0; i < 30; ++i) {
    std::optional<tern::Proxy<testsvc::Calculator>> again;
    again.emplace(client.refer<testsvc::Calculator>(tern_url(*server)).value());
    ASSERT_EQ(consumers(*watch, kCalc).size(), 2u) << "round " << i;
    again.reset();
    ASSERT_EQ(consumers(*watch, kCalc), first) << "round " << i;
  }
}

TEST(ConsumerRegistration, AConsumerIsDroppedWithItsConnectionAndComesBackAfterARegistryRestart) {
  auto server = start_registry();
  const std::uint16_t port = server->port();
  const std::string url = tern_url(*server);
  auto watch = observer(url);

  // A registry object that goes away without unregistering (as a process
  // that dies): its connection closes and the registry drops the consumer.
  {
    auto owner = observer(url);
    auto c = tern::Url::parse("consumer://10.0.0.9/Dying?application=x&pid=1").value();
    ASSERT_TRUE(owner->register_consumer(c).is_ok());
    EXPECT_EQ(consumers(*watch, "Dying"), std::vector<tern::Url>{c});
  }
  EXPECT_TRUE(wait_until([&] { return consumers(*watch, "Dying").empty(); }, 5s));

  tern::ClientOptions co;
  co.io_threads = 1;
  co.application = "shop";
  co.registry = fast();
  tern::Client client(co);
  auto calc = client.refer<testsvc::Calculator>(url);
  ASSERT_TRUE(calc.has_value());
  ASSERT_EQ(consumers(*watch, kCalc).size(), 1u);
  const tern::Url registered = consumers(*watch, kCalc)[0];

  server->shutdown();
  server.reset();
  server = start_registry(port);
  ASSERT_EQ(server->port(), port);
  // The consumer's registry client re-registers it on its new connection.
  std::vector<tern::Url> seen;
  EXPECT_TRUE(wait_until([&] {
    auto l = watch->list_consumers(kCalc);
    if (l) seen = *l;
    return l && *l == std::vector<tern::Url>{registered};
  }, 10s)) << ::testing::PrintToString(seen.size());
}

// A registry that beats 5x faster than the consumer's registry client
// expires the consumer between its heartbeats on a connection that stays
// open; the heartbeat's count tells the client, which registers it again.
TEST(ConsumerRegistration, AConsumerDroppedOnALiveConnectionIsRegisteredAgain) {
  tern::RegistryServerOptions o;
  o.listen = "127.0.0.1:0";
  o.heartbeat_interval = 200ms;
  tern::RegistryServer server(o);
  ASSERT_TRUE(server.start().is_ok());
  const std::string url = tern_url(server);
  auto watch = observer(url);
  tern::RegistryOptions slow = fast();
  slow.heartbeat_interval = 1000ms;
  auto owner = tern::create_registry_any(tern::Url::parse(url).value(), slow).value();
  auto c = tern::Url::parse("consumer://10.0.0.9/Echo?application=x&pid=1").value();
  ASSERT_TRUE(owner->register_consumer(c).is_ok());
  ASSERT_TRUE(wait_until([&] { return consumers(*watch, "Echo").empty(); }, 3s)) << "expiry";
  EXPECT_TRUE(wait_until([&] { return consumers(*watch, "Echo") == std::vector<tern::Url>{c}; }, 3s))
      << "the client never registered its consumer again";
}

TEST(ConsumerRegistration, TernLsShowsConsumersAfterProviders) {
  auto server = start_registry();
  const std::string url = tern_url(*server);
  InProcessProvider p1(url, regtest::weight(100));
  ASSERT_TRUE(p1.status.is_ok());
  tern::ClientOptions co;
  co.io_threads = 1;
  co.application = "shop";
  // The registry's interval (300 ms), not the default 10 s: with 10 s the
  // registry expires the consumer after 3 missed renewals (~1 s) and the
  // client registers it again only at its next heartbeat, so a slow `tern ls`
  // (an ASan build on a loaded machine) saw no consumer.
  co.registry = fast();
  tern::Client client(co);
  auto calc = client.refer<testsvc::Calculator>(url);
  ASSERT_TRUE(calc.has_value());
  auto watch = observer(url);
  ASSERT_EQ(consumers(*watch, kCalc).size(), 1u);
  const std::string consumer = consumers(*watch, kCalc)[0].to_string();
  ASSERT_TRUE(wait_until([&] { return !server->providers(kCalc).empty(); }, 5s));

  auto ls = run_command({binary("tern"), "ls", "--registry", url});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out, kCalc + " (1 provider, 1 consumer)\n  " + p1.url() + "\n  " + consumer + "\n");
  auto one = run_command({binary("tern"), "ls", "--registry", url, kCalc});
  EXPECT_EQ(one.out, ls.out);
}

}  // namespace
