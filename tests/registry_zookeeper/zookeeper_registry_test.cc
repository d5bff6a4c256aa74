// The ZooKeeper registry against a real ZooKeeper server (started by the
// suite, one per suite): pushes, lookups across registry objects, crash and
// session expiry (through a TCP proxy that cuts the registry off), server
// restart, list_services, and the listener threading contract.
#include "registry/zookeeper_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tern/log.h"
#include "zk_server_util.h"

namespace tern {
namespace {

using std::chrono::milliseconds;
using testing::TcpProxy;
using testing::wait_until;
using testing::ZkServer;
using testing::ZkTestClient;

constexpr milliseconds kHeartbeat{300};                  // session timeout 900 ms
constexpr milliseconds kSessionTimeout = 3 * kHeartbeat;
constexpr milliseconds kConnectTimeout{10000};

// Records every push a listener receives.
class Recorder {
 public:
  RegistryListener listener() {
    return [this](const std::string& service, const std::vector<Url>& providers) {
      std::lock_guard lock(mu_);
      services_.push_back(service);
      pushes_.push_back(providers);
    };
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return pushes_.size();
  }
  std::vector<std::vector<Url>> pushes() const {
    std::lock_guard lock(mu_);
    return pushes_;
  }
  // True once the latest push equals `expected`.
  bool wait_for(const std::vector<Url>& expected, milliseconds timeout) const {
    return wait_until(
        [&] {
          std::lock_guard lock(mu_);
          return !pushes_.empty() && pushes_.back() == expected;
        },
        timeout);
  }
  std::string dump() const {
    std::lock_guard lock(mu_);
    std::string out;
    for (const auto& list : pushes_) {
      out += "[";
      for (const Url& u : list) out += u.to_string() + " ";
      out += "] ";
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> services_;
  std::vector<std::vector<Url>> pushes_;
};

class ZookeeperRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ZkServer();
    start_error_ = server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(start_error_.empty()) << "cannot start ZooKeeper: " << start_error_;
    if (!server_->running()) {
      ASSERT_EQ(server_->start(), "");  // after a failed restart test
    }
  }

  static RegistryOptions options(milliseconds heartbeat = kHeartbeat) {
    RegistryOptions o;
    o.heartbeat_interval = heartbeat;
    o.initial_backoff = milliseconds(50);
    o.max_backoff = milliseconds(500);
    o.request_timeout = milliseconds(2000);
    return o;
  }
  // A registry connected to `host_port` (the server by default); waits for
  // the first connection.
  static std::shared_ptr<ZookeeperRegistry> make(const std::string& host_port = {},
                                                 milliseconds heartbeat = kHeartbeat) {
    auto hp = parse_host_port(host_port.empty() ? server_->host_port() : host_port);
    auto r = std::make_shared<ZookeeperRegistry>(std::vector<HostPort>{*hp}, options(heartbeat));
    EXPECT_TRUE(wait_until([&] { return r->connected(); }, kConnectTimeout)) << "registry did not connect";
    return r;
  }
  // A service name unique to the running test.
  static std::string service() {
    return std::string("Svc_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  static Url provider(const std::string& svc, std::uint16_t port) {
    Url u("tern", {{"127.0.0.1", port}}, svc);
    u.set_param("weight", "100");
    u.set_param("city", "Zürich & 東京");
    return u;
  }

  static ZkServer* server_;
  static std::string start_error_;
};

ZkServer* ZookeeperRegistryTest::server_ = nullptr;
std::string ZookeeperRegistryTest::start_error_;

TEST_F(ZookeeperRegistryTest, RegisterIsPushedToSubscriberWithinOneSecond) {
  Recorder rec;
  auto consumer = make();
  auto producer = make();
  const std::string svc = service();
  auto id = consumer->subscribe(svc, rec.listener());
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(rec.wait_for({}, milliseconds(2000))) << "no first (empty) snapshot: " << rec.dump();

  Url url = provider(svc, 20880);
  ASSERT_TRUE(producer->register_provider(url).is_ok());
  EXPECT_TRUE(rec.wait_for({url}, milliseconds(1000))) << rec.dump();
  EXPECT_TRUE(producer->register_provider(url).is_ok());  // idempotent

  ZkTestClient raw(server_->host_port());
  ASSERT_TRUE(raw.connected());
  std::int64_t owner = 0;
  EXPECT_EQ(raw.exists(ZookeeperRegistry::provider_path(url), &owner), 0);
  EXPECT_EQ(owner, producer->session()->id);
  EXPECT_EQ(ZookeeperRegistry::provider_path(url), "/tern/" + svc + "/providers/" + url_encode(url.to_string()));
}

TEST_F(ZookeeperRegistryTest, UnregisterPushesTheRemoval) {
  Recorder rec;
  auto reg = make();
  const std::string svc = service();
  Url a = provider(svc, 20880), b = provider(svc, 20881);
  ASSERT_TRUE(reg->register_provider(a).is_ok());
  ASSERT_TRUE(reg->register_provider(b).is_ok());
  ASSERT_TRUE(reg->subscribe(svc, rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for({a, b}, milliseconds(2000))) << rec.dump();
  ASSERT_TRUE(reg->unregister_provider(a).is_ok());
  EXPECT_TRUE(rec.wait_for({b}, milliseconds(1000))) << rec.dump();
  ASSERT_TRUE(reg->unregister_provider(b).is_ok());
  EXPECT_TRUE(rec.wait_for({}, milliseconds(1000))) << rec.dump();
  EXPECT_TRUE(reg->unregister_provider(b).is_ok());  // unknown: no-op
  EXPECT_EQ(rec.pushes().front(), (std::vector<Url>{a, b}));  // the first snapshot, not deltas
}

TEST_F(ZookeeperRegistryTest, SecondRegistrySeesProvidersViaLookup) {
  auto producer = make();
  const std::string svc = service();
  Url a = provider(svc, 20880), b = provider(svc, 20881);
  ASSERT_TRUE(producer->register_provider(b).is_ok());
  ASSERT_TRUE(producer->register_provider(a).is_ok());
  // Another "process", built through the factory table.
  auto other = create_registry(*Url::parse("zookeeper://" + server_->host_port()), options());
  ASSERT_TRUE(other.ok()) << other.status();
  auto list = (*other)->lookup(svc);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, (std::vector<Url>{a, b}));
  auto none = (*other)->lookup(svc + "_nobody");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_F(ZookeeperRegistryTest, DestroyedRegistryRemovesItsNodesAndSubscribersAreTold) {
  Recorder rec;
  auto consumer = make();
  auto producer = make();
  const std::string svc = service();
  Url url = provider(svc, 20880);
  ASSERT_TRUE(producer->register_provider(url).is_ok());
  ASSERT_TRUE(consumer->subscribe(svc, rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for({url}, milliseconds(2000))) << rec.dump();
  auto t0 = std::chrono::steady_clock::now();
  producer.reset();  // closes the session without unregistering
  EXPECT_TRUE(rec.wait_for({}, kSessionTimeout)) << rec.dump();
  std::printf("  removal pushed %lld ms after destruction\n",
              static_cast<long long>(std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count()));
}

// A provider that can no longer reach ZooKeeper (crashed, partitioned) stops
// heartbeating: the server expires its session and the subscriber is told.
// When it can reach ZooKeeper again it learns of the expiry, opens a new
// session and registers again.
TEST_F(ZookeeperRegistryTest, SessionExpiryRemovesNodesAndReRegistrationBringsThemBack) {
  Recorder rec;
  TcpProxy proxy(server_->port());
  auto consumer = make();
  auto producer = make(proxy.host_port());
  const std::string svc = service();
  Url url = provider(svc, 20880);
  Recorder own;  // the producer's own subscription must survive the expiry too
  ASSERT_TRUE(producer->register_provider(url).is_ok());
  ASSERT_TRUE(producer->subscribe(svc, own.listener()).ok());
  ASSERT_TRUE(consumer->subscribe(svc, rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for({url}, milliseconds(2000))) << rec.dump();
  ASSERT_TRUE(own.wait_for({url}, milliseconds(2000))) << own.dump();
  const std::int64_t old_session = producer->session()->id;

  auto t0 = std::chrono::steady_clock::now();
  proxy.set_blocked(true);
  ASSERT_TRUE(rec.wait_for({}, kSessionTimeout + milliseconds(2000))) << rec.dump();
  auto elapsed = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0);
  std::printf("  expiry pushed %lld ms after the cut (session timeout %lld ms)\n",
              static_cast<long long>(elapsed.count()), static_cast<long long>(kSessionTimeout.count()));
  EXPECT_GE(elapsed, kSessionTimeout - milliseconds(100));
  EXPECT_FALSE(producer->connected());
  auto cached = producer->lookup(svc);  // disconnected: the last known list
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(*cached, std::vector<Url>{url});

  proxy.set_blocked(false);
  ASSERT_TRUE(rec.wait_for({url}, milliseconds(10000))) << rec.dump();
  ASSERT_TRUE(wait_until([&] { return producer->connected(); }, kConnectTimeout));
  const std::int64_t new_session = producer->session()->id;
  EXPECT_NE(new_session, old_session);
  ZkTestClient raw(server_->host_port());
  std::int64_t owner = 0;
  EXPECT_EQ(raw.exists(ZookeeperRegistry::provider_path(url), &owner), 0);
  EXPECT_EQ(owner, new_session);
  EXPECT_EQ(own.pushes().back(), std::vector<Url>{url}) << own.dump();
  for (const auto& push : own.pushes()) EXPECT_FALSE(push.empty()) << "own list emptied while disconnected";
}

TEST_F(ZookeeperRegistryTest, NodeLeftByAnotherSessionIsReplaced) {
  const std::string svc = service();
  Url url = provider(svc, 20880);
  auto stale = std::make_unique<ZkTestClient>(server_->host_port(), 30000);
  ASSERT_TRUE(stale->connected());
  // As if a crashed earlier run of this provider still had its session.
  ASSERT_EQ(stale->create_ephemeral(ZookeeperRegistry::provider_path(url), url.to_string()), 0);
  auto producer = make();
  ASSERT_TRUE(producer->register_provider(url).is_ok());
  ZkTestClient raw(server_->host_port());
  std::int64_t owner = 0;
  ASSERT_EQ(raw.exists(ZookeeperRegistry::provider_path(url), &owner), 0);
  EXPECT_EQ(owner, producer->session()->id);
  stale.reset();  // the old session ends; our node must stay
  auto list = make()->lookup(svc);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, std::vector<Url>{url});
}

TEST_F(ZookeeperRegistryTest, ServerRestartKeepsLastListThenReReads) {
  Recorder rec;
  auto consumer = make({}, milliseconds(2000));  // 6 s sessions survive the restart
  auto producer = make({}, milliseconds(2000));
  const std::string svc = service();
  Url u1 = provider(svc, 20880), u2 = provider(svc, 20881);
  ASSERT_TRUE(producer->register_provider(u1).is_ok());
  ASSERT_TRUE(consumer->subscribe(svc, rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for({u1}, milliseconds(2000))) << rec.dump();
  const std::size_t before = rec.count();

  server_->stop();
  ASSERT_TRUE(wait_until([&] { return !consumer->connected() && !producer->connected(); }, milliseconds(5000)));
  // Changes made during the outage are remembered and reported as UNAVAILABLE.
  EXPECT_EQ(producer->unregister_provider(u1).code(), StatusCode::kUnavailable);
  EXPECT_EQ(producer->register_provider(u2).code(), StatusCode::kUnavailable);
  auto cached = consumer->lookup(svc);
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(*cached, std::vector<Url>{u1});
  EXPECT_EQ(rec.count(), before) << "pushed during the outage: " << rec.dump();

  ASSERT_EQ(server_->start(), "");
  EXPECT_TRUE(rec.wait_for({u2}, milliseconds(15000))) << rec.dump();
  for (std::size_t i = before; i < rec.pushes().size(); ++i) EXPECT_NE(rec.pushes()[i], std::vector<Url>{u1});
  auto list = consumer->lookup(svc);
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(*list, std::vector<Url>{u2});
}

TEST_F(ZookeeperRegistryTest, ListServicesNamesServicesWithProviders) {
  auto reg = make();
  const std::string a = service() + "_A", b = service() + "_B", gone = service() + "_Gone";
  ASSERT_TRUE(reg->register_provider(provider(a, 1)).is_ok());
  ASSERT_TRUE(reg->register_provider(provider(b, 2)).is_ok());
  ASSERT_TRUE(reg->register_provider(provider(gone, 3)).is_ok());
  ASSERT_TRUE(reg->unregister_provider(provider(gone, 3)).is_ok());
  std::vector<std::string> got;
  // Providers of earlier tests vanish with their sessions; wait for that.
  EXPECT_TRUE(wait_until(
      [&] {
        auto r = reg->list_services();
        if (r.ok()) got = *r;
        return got == std::vector<std::string>{a, b};
      },
      milliseconds(5000)))
      << ::testing::PrintToString(got);
}

TEST_F(ZookeeperRegistryTest, ConsumersAreAnnounced) {
  auto reg = make();
  const std::string svc = service();
  Url consumer("consumer", {{"127.0.0.1", 0}}, svc);
  consumer.set_param("pid", "42");
  ASSERT_TRUE(reg->register_consumer(consumer).is_ok());
  ZkTestClient raw(server_->host_port());
  int rc = -1;
  EXPECT_EQ(raw.children("/tern/" + svc + "/consumers", &rc), std::vector<std::string>{url_encode(consumer.to_string())});
  EXPECT_EQ(rc, 0);
  ASSERT_TRUE(reg->unregister_consumer(consumer).is_ok());
  EXPECT_TRUE(raw.children("/tern/" + svc + "/consumers", &rc).empty());
}

// Consumers (issue #20): listed by another registry object, gone with the
// session (a crash), re-created after the expiry like providers, removed when
// the registry object is destroyed; never in the provider list.
TEST_F(ZookeeperRegistryTest, ConsumersAreListedAndFollowTheSessionLikeProviders) {
  TcpProxy proxy(server_->port());
  auto observer = make();
  auto owner = make(proxy.host_port());
  const std::string svc = service();
  Url consumer("consumer", {{"10.1.2.3", 0}}, svc);
  consumer.set_param("application", "shop");
  consumer.set_param("pid", "4242");
  consumer.set_param("version", "1.0");
  ASSERT_TRUE(owner->register_consumer(consumer).is_ok());
  auto listed = observer->list_consumers(svc);
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(*listed, std::vector<Url>{consumer});
  EXPECT_EQ(listed->front().param("application"), "shop");
  auto providers = observer->lookup(svc);
  ASSERT_TRUE(providers.ok());
  EXPECT_TRUE(providers->empty()) << "a consumer is never a provider";

  proxy.set_blocked(true);  // the owner's session expires: its node goes
  EXPECT_TRUE(wait_until([&] {
    auto l = observer->list_consumers(svc);
    return l.ok() && l->empty();
  }, kSessionTimeout + milliseconds(5000)));
  proxy.set_blocked(false);  // a new session re-creates it
  EXPECT_TRUE(wait_until([&] {
    auto l = observer->list_consumers(svc);
    return l.ok() && *l == std::vector<Url>{consumer};
  }, milliseconds(10000)));

  owner.reset();  // closing the registry removes it at once
  auto after = observer->list_consumers(svc);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());
}

TEST_F(ZookeeperRegistryTest, ListenerMayCallBackIntoTheRegistry) {
  auto reg = make();
  const std::string svc = service();
  Url url = provider(svc, 20880);
  ASSERT_TRUE(reg->register_provider(url).is_ok());
  std::mutex mu;
  std::vector<std::vector<Url>> seen;
  std::atomic<int> calls{0};
  SubscriptionId id = 0;
  std::atomic<bool> id_set{false};
  auto sub = reg->subscribe(svc, [&](const std::string& s, const std::vector<Url>&) {
    ++calls;
    auto list = reg->lookup(s);  // back into the registry from its listener thread
    std::lock_guard lock(mu);
    if (list.ok()) seen.push_back(*list);
    while (!id_set) std::this_thread::yield();
    reg->unsubscribe(id);  // of itself: takes effect after this call returns
  });
  ASSERT_TRUE(sub.ok());
  id = *sub;
  id_set = true;
  ASSERT_TRUE(wait_until([&] { std::lock_guard l(mu); return !seen.empty(); }, milliseconds(3000)));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(seen.front(), std::vector<Url>{url});
  }
  ASSERT_TRUE(reg->unregister_provider(url).is_ok());
  Recorder rec;  // a later subscription proves the change was processed
  ASSERT_TRUE(reg->subscribe(svc, rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for({}, milliseconds(2000))) << rec.dump();
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(ZookeeperRegistryTest, UnsubscribeStopsPushes) {
  Recorder rec, other;
  auto reg = make();
  const std::string svc = service();
  auto id = reg->subscribe(svc, rec.listener());
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(reg->subscribe(svc, other.listener()).ok());
  ASSERT_TRUE(rec.wait_for({}, milliseconds(2000)));
  reg->unsubscribe(*id);
  const std::size_t n = rec.count();
  Url url = provider(svc, 20880);
  ASSERT_TRUE(reg->register_provider(url).is_ok());
  ASSERT_TRUE(other.wait_for({url}, milliseconds(1000))) << other.dump();
  EXPECT_EQ(rec.count(), n);
  reg->unsubscribe(*id);  // twice: no-op
}

TEST_F(ZookeeperRegistryTest, UnreachableServerGivesUnavailableAndRetries) {
  const std::uint16_t port = testing::free_port();
  RegistryOptions o = options();
  o.request_timeout = milliseconds(300);
  ZookeeperRegistry reg({{"127.0.0.1", port}}, o);
  const std::string svc = service();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(reg.register_provider(provider(svc, 1)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(reg.lookup(svc).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(reg.list_services().status().code(), StatusCode::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(2000));
  Recorder rec;
  EXPECT_TRUE(reg.subscribe(svc, rec.listener()).ok());
  EXPECT_FALSE(reg.connected());
}

// A consumer subscribing while ZooKeeper is down is told, as with the
// embedded registry and etcd: "registry ... unreachable", once.
TEST(ZookeeperRegistryStandaloneTest, SubscribingWhileUnreachableLogsRegistryUnreachableOnce) {
  std::mutex log_mu;
  std::vector<std::string> lines;
  set_log_sink([&](LogLevel level, std::string_view m) {
    if (level < LogLevel::kWarn) return;
    std::lock_guard lk(log_mu);
    lines.emplace_back(m);
  });
  struct RestoreSink {
    ~RestoreSink() { set_log_sink({}); }
  } restore;
  const std::uint16_t port = testing::free_port();
  RegistryOptions o;
  o.heartbeat_interval = kHeartbeat;
  o.initial_backoff = milliseconds(50);
  o.max_backoff = milliseconds(500);
  o.request_timeout = milliseconds(300);
  ZookeeperRegistry reg({{"127.0.0.1", port}}, o);
  const std::string svc = "Svc_UnreachableLog";
  Recorder rec;
  ASSERT_TRUE(reg.subscribe(svc, rec.listener()).ok());
  ASSERT_TRUE(reg.subscribe(svc + "_2", rec.listener()).ok());
  const std::string expected = "registry zookeeper://127.0.0.1:" + std::to_string(port) + " unreachable (";
  auto count = [&] {
    std::lock_guard lk(log_mu);
    return std::count_if(lines.begin(), lines.end(), [&](const std::string& l) {
      return l.rfind(expected, 0) == 0 && l.find("; subscribing to " + svc + " once it is reachable") != std::string::npos;
    });
  };
  EXPECT_TRUE(wait_until([&] { return count() == 1; }, std::chrono::seconds(5)));
  std::this_thread::sleep_for(milliseconds(300));  // retries meanwhile log nothing more
  EXPECT_EQ(count(), 1);
  std::lock_guard lk(log_mu);
  std::size_t unreachable = std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find(" unreachable ") != std::string::npos;
  });
  EXPECT_EQ(unreachable, 1u) << (lines.empty() ? "" : lines.back());
}

TEST_F(ZookeeperRegistryTest, InvalidArguments) {
  auto reg = make();
  Recorder rec;
  EXPECT_EQ(reg->register_provider(Url("tern", {{"h", 1}}, "")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->register_provider(Url("tern", {}, "Svc")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->register_provider(Url("tern", {{"h", 1}}, "a/b")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->subscribe("..", rec.listener()).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->subscribe("ok", nullptr).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(reg->lookup("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(create_registry(*Url::parse("zookeeper:///x")).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace tern
