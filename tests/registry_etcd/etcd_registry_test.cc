// Tests of the etcd registry backend against a real etcd (one per suite).
#include "registry/etcd_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "etcd_server_util.h"
#include "registry/etcd_client.h"
#include "tern/log.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using testing::EtcdServer;
using testing::TcpProxy;
using testing::wait_until;
using List = std::vector<std::string>;

Url provider(const std::string& service, std::uint16_t port) {
  auto url = Url::parse("tern://127.0.0.1:" + std::to_string(port) + "/" + service + "?weight=100&version=1.0");
  EXPECT_TRUE(url.ok()) << url.status();
  return url.value_or(Url());
}

List texts(const std::vector<Url>& urls) {
  List out;
  for (const auto& u : urls) out.push_back(u.to_string());
  std::sort(out.begin(), out.end());
  return out;
}

List texts(std::initializer_list<Url> urls) { return texts(std::vector<Url>(urls)); }

// Records every list pushed to one listener.
class Recorder {
 public:
  RegistryListener listener() {
    return [this](const std::string&, const std::vector<Url>& providers) {
      std::lock_guard lk(mu_);
      history_.push_back(texts(providers));
    };
  }
  // True once the latest pushed list equals `expected`.
  bool wait_for(const List& expected, std::chrono::milliseconds timeout) {
    return wait_until([&] { std::lock_guard lk(mu_); return !history_.empty() && history_.back() == expected; },
                      timeout);
  }
  std::vector<List> history() {
    std::lock_guard lk(mu_);
    return history_;
  }

 private:
  std::mutex mu_;
  std::vector<List> history_;
};

RegistryOptions fast_options(std::chrono::milliseconds heartbeat = 10s) {
  RegistryOptions o;
  o.heartbeat_interval = heartbeat;
  o.initial_backoff = 50ms;
  o.max_backoff = 400ms;
  o.request_timeout = 2s;
  return o;
}

class EtcdRegistryTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new EtcdServer();
    ASSERT_TRUE(server_->start());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  // A test that failed half-way through a restart must not break the next.
  void SetUp() override { ASSERT_TRUE(server_->start()); }

  static std::shared_ptr<EtcdRegistry> make(RegistryOptions options = fast_options(), std::uint16_t port = 0) {
    Url address = server_->registry_url();
    if (port != 0) address = Url("etcd", {HostPort{"127.0.0.1", port}});
    auto r = make_etcd_registry(address, options);
    EXPECT_TRUE(r.ok()) << r.status();
    return std::dynamic_pointer_cast<EtcdRegistry>(r.value_or(nullptr));
  }

  static EtcdServer* server_;
};

EtcdServer* EtcdRegistryTest::server_ = nullptr;

TEST(EtcdClientTest, Base64AndPrefixRangeEnd) {
  EXPECT_EQ(etcd::base64_encode(""), "");
  EXPECT_EQ(etcd::base64_encode("f"), "Zg==");
  EXPECT_EQ(etcd::base64_encode("fo"), "Zm8=");
  EXPECT_EQ(etcd::base64_encode("foo"), "Zm9v");
  EXPECT_EQ(etcd::base64_encode("/tern/a"), "L3Rlcm4vYQ==");
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "/tern/x/p/tern%3A%2F%2F1", std::string("\0\xff\x80", 3)}) {
    auto d = etcd::base64_decode(etcd::base64_encode(s));
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(etcd::base64_decode("Zm9v!").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(etcd::prefix_range_end("/tern/"), "/tern0");
  EXPECT_EQ(etcd::prefix_range_end(std::string("a\xff", 2)), "b");
}

TEST(EtcdRegistryStandaloneTest, RejectsInvalidArguments) {
  EXPECT_EQ(make_etcd_registry(Url("etcd", {}), RegistryOptions{}).status().code(), StatusCode::kInvalidArgument);
  auto r = make_etcd_registry(Url("etcd", {HostPort{"127.0.0.1", testing::free_port()}}), fast_options());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->register_provider(Url("tern", {HostPort{"127.0.0.1", 1}})).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->register_provider(Url("tern", {}, "Svc")).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*r)->subscribe("", [](const std::string&, const std::vector<Url>&) {}).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(EtcdRegistryStandaloneTest, UnreachableEtcdGivesUnavailableAndPromptDestruction) {
  auto r = make_etcd_registry(Url("etcd", {HostPort{"127.0.0.1", testing::free_port()}}), fast_options());
  ASSERT_TRUE(r.ok());
  std::shared_ptr<Registry> registry = std::move(*r);
  EXPECT_EQ(registry->register_provider(provider("Down", 7001)).code(), StatusCode::kUnavailable);
  EXPECT_EQ(registry->lookup("Down").status().code(), StatusCode::kUnavailable);
  ASSERT_TRUE(registry->subscribe("Down", [](const std::string&, const std::vector<Url>&) {}).ok());
  std::this_thread::sleep_for(100ms);  // let the background threads enter their retry loops
  const auto start = std::chrono::steady_clock::now();
  registry.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// A consumer subscribing while etcd is down is told, once, in the words of
// every backend: "registry ... unreachable (...)".
TEST(EtcdRegistryStandaloneTest, SubscribingWhileUnreachableLogsRegistryUnreachableOnce) {
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
  auto r = make_etcd_registry(Url("etcd", {HostPort{"127.0.0.1", port}}), fast_options());
  ASSERT_TRUE(r.ok());
  std::shared_ptr<Registry> registry = std::move(*r);
  ASSERT_TRUE(registry->subscribe("Down", [](const std::string&, const std::vector<Url>&) {}).ok());
  const std::string expected = "registry etcd unreachable (etcd 127.0.0.1:" + std::to_string(port) + ": ";
  auto unreachable = [&] {
    std::lock_guard lk(log_mu);
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(" unreachable ") != std::string::npos; });
  };
  EXPECT_TRUE(wait_until([&] { return unreachable() >= 1; }, 5s));
  std::this_thread::sleep_for(300ms);  // retries meanwhile log nothing more
  registry.reset();
  EXPECT_EQ(unreachable(), 1);
  std::lock_guard lk(log_mu);
  auto first = std::find_if(lines.begin(), lines.end(),
                            [](const std::string& l) { return l.find(" unreachable ") != std::string::npos; });
  ASSERT_NE(first, lines.end());
  EXPECT_EQ(first->rfind(expected, 0), 0u) << *first;
  EXPECT_NE(first->find("; keeping the last provider lists, retrying with backoff"), std::string::npos) << *first;
}

TEST_F(EtcdRegistryTest, SubscriberIsNotifiedWithinOneSecondWithTheExactList) {
  Recorder rec;
  auto consumer = make();
  auto producer = make();
  const Url p1 = provider("Notify", 7001), p2 = provider("Notify", 7002), p3 = provider("Notify", 7003);
  ASSERT_TRUE(consumer->subscribe("Notify", rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for({}, 5s)) << "the first (empty) list is always pushed";

  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  EXPECT_TRUE(rec.wait_for(texts({p1}), 1s));
  ASSERT_TRUE(producer->register_provider(p2).is_ok());
  EXPECT_TRUE(rec.wait_for(texts({p1, p2}), 1s));
  // Registering again changes nothing, so nothing is pushed for it.
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  ASSERT_TRUE(producer->register_provider(p3).is_ok());
  EXPECT_TRUE(rec.wait_for(texts({p1, p2, p3}), 1s));
  EXPECT_EQ(rec.history(), (std::vector<List>{{}, texts({p1}), texts({p1, p2}), texts({p1, p2, p3})}));
}

TEST_F(EtcdRegistryTest, UnregisterPushesTheRemoval) {
  Recorder rec;
  auto producer = make();
  auto consumer = make();
  const Url p1 = provider("Unreg", 7001), p2 = provider("Unreg", 7002);
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  ASSERT_TRUE(producer->register_provider(p2).is_ok());
  ASSERT_TRUE(consumer->subscribe("Unreg", rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for(texts({p1, p2}), 5s));
  ASSERT_TRUE(producer->unregister_provider(p1).is_ok());
  EXPECT_TRUE(rec.wait_for(texts({p2}), 1s));
  ASSERT_TRUE(producer->unregister_provider(p2).is_ok());
  EXPECT_TRUE(rec.wait_for({}, 1s));
  EXPECT_TRUE(producer->unregister_provider(p2).is_ok()) << "unknown provider: no-op";
}

TEST_F(EtcdRegistryTest, AnotherRegistryObjectSeesProvidersViaLookup) {
  auto producer = make();
  const Url p1 = provider("Look", 7001), p2 = provider("Look", 7002);
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  ASSERT_TRUE(producer->register_provider(p2).is_ok());
  auto other = make();
  auto list = other->lookup("Look");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(texts(*list), texts({p1, p2}));
  auto none = other->lookup("LookNobody");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  // Several endpoints: a dead one first is skipped.
  auto r = make_etcd_registry(Url("etcd", {HostPort{"127.0.0.1", testing::free_port()},
                                           HostPort{"127.0.0.1", server_->client_port()}}),
                              fast_options());
  ASSERT_TRUE(r.ok());
  list = (*r)->lookup("Look");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(texts(*list), texts({p1, p2}));
}

TEST_F(EtcdRegistryTest, SecondSubscriberGetsTheCurrentListAtOnce) {
  Recorder first, second;
  auto producer = make();
  auto consumer = make();
  const Url p1 = provider("Twice", 7001), p2 = provider("Twice", 7002);
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  auto id1 = consumer->subscribe("Twice", first.listener());
  ASSERT_TRUE(id1.ok());
  ASSERT_TRUE(first.wait_for(texts({p1}), 5s));
  ASSERT_TRUE(consumer->subscribe("Twice", second.listener()).ok());
  EXPECT_TRUE(second.wait_for(texts({p1}), 1s));
  consumer->unsubscribe(*id1);
  ASSERT_TRUE(producer->register_provider(p2).is_ok());
  EXPECT_TRUE(second.wait_for(texts({p1, p2}), 1s));
  EXPECT_EQ(first.history(), (std::vector<List>{texts({p1})}));
}

TEST_F(EtcdRegistryTest, DestroyedRegistryRevokesItsLease) {
  Recorder rec;
  auto consumer = make();
  auto producer = make();
  const Url p1 = provider("Revoke", 7001);
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  ASSERT_TRUE(consumer->subscribe("Revoke", rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for(texts({p1}), 5s));
  const auto start = std::chrono::steady_clock::now();
  producer.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s) << "destruction must be prompt";
  EXPECT_TRUE(rec.wait_for({}, 1s));
}

TEST_F(EtcdRegistryTest, CrashedProviderDisappearsAfterLeaseTtl) {
  Recorder rec;
  auto consumer = make();
  auto producer = make(fast_options(300ms));  // TTL 1 s (etcd may raise it to its minimum)
  const Url p1 = provider("Crash", 7001);
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  ASSERT_TRUE(consumer->subscribe("Crash", rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for(texts({p1}), 5s));
  producer->set_revoke_on_destroy(false);
  producer.reset();
  auto still = consumer->lookup("Crash");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(texts(*still), texts({p1})) << "without a revoke the key lives until the lease expires";
  EXPECT_TRUE(rec.wait_for({}, 10s));
}

// Consumers (issue #20): listed by another registry object, never in the
// provider list, put again after their lease is lost, gone with a revoked
// lease (a closed registry) and with an expired one (a crash).
TEST_F(EtcdRegistryTest, ConsumersAreListedAndFollowTheLeaseLikeProviders) {
  auto observer = make();
  auto owner = make(fast_options(300ms));
  auto consumer = Url::parse("consumer://10.1.2.3/Buyers?application=shop&pid=4242&group=eu").value();
  ASSERT_TRUE(owner->register_consumer(consumer).is_ok());
  auto listed = observer->list_consumers("Buyers");
  ASSERT_TRUE(listed.ok()) << listed.status();
  EXPECT_EQ(texts(*listed), texts({consumer}));
  auto providers = observer->lookup("Buyers");
  ASSERT_TRUE(providers.ok());
  EXPECT_TRUE(providers->empty()) << "a consumer is never a provider";
  auto services = observer->list_services();
  ASSERT_TRUE(services.ok());
  EXPECT_EQ(std::count(services->begin(), services->end(), "Buyers"), 0);

  // The lease is lost (revoked behind the registry's back, as when etcd
  // expired it during an outage): the registry grants a new one and puts
  // the consumer again.
  std::string endpoints = "--endpoints=127.0.0.1:" + std::to_string(server_->client_port());
  std::string revoke = "for l in $(ETCDCTL_API=3 etcdctl " + endpoints + " lease list | tail -n +2); do " +
                       "ETCDCTL_API=3 etcdctl " + endpoints + " lease revoke $l >/dev/null; done";
  ASSERT_EQ(std::system(revoke.c_str()), 0);
  EXPECT_TRUE(wait_until([&] {
    auto l = observer->list_consumers("Buyers");
    return l.ok() && l->empty();
  }, 5s)) << "revoking the lease removes the key";
  EXPECT_TRUE(wait_until([&] {
    auto l = observer->list_consumers("Buyers");
    return l.ok() && texts(*l) == texts({consumer});
  }, 10s)) << "the registry puts its consumer again on a new lease";

  ASSERT_TRUE(owner->unregister_consumer(consumer).is_ok());
  auto after = observer->list_consumers("Buyers");
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->empty());

  // A crash (no revoke): gone when the lease expires.
  ASSERT_TRUE(owner->register_consumer(consumer).is_ok());
  owner->set_revoke_on_destroy(false);
  owner.reset();
  EXPECT_EQ(texts(observer->list_consumers("Buyers").value()), texts({consumer}));
  EXPECT_TRUE(wait_until([&] {
    auto l = observer->list_consumers("Buyers");
    return l.ok() && l->empty();
  }, 10s));
}

TEST_F(EtcdRegistryTest, KeepAliveHoldsTheRegistrationBeyondTheTtl) {
  auto consumer = make();
  auto producer = make(fast_options(300ms));
  ASSERT_TRUE(producer->register_provider(provider("Alive", 7001)).is_ok());
  // Watch for 3 s (3 x TTL): the provider must never drop out.
  EXPECT_FALSE(wait_until([&] { auto l = consumer->lookup("Alive"); return !l.ok() || l->empty(); }, 3s));
}

TEST_F(EtcdRegistryTest, EtcdRestartLosesNoChange) {
  Recorder rec;
  TcpProxy proxy(server_->client_port());
  auto consumer = make(fast_options(), proxy.port());
  auto a = make(fast_options(1s));
  const Url p1 = provider("Restart", 7001), p2 = provider("Restart", 7002);
  ASSERT_TRUE(a->register_provider(p1).is_ok());
  ASSERT_TRUE(consumer->subscribe("Restart", rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for(texts({p1}), 5s));

  // etcd goes down; the consumer is kept away until both changes are made,
  // so it must catch up purely by resuming its watch.
  proxy.set_blocked(true);
  server_->kill();
  auto b = make(fast_options(1s));
  EXPECT_EQ(b->register_provider(p2).code(), StatusCode::kUnavailable);
  auto cached = consumer->lookup("Restart");
  ASSERT_TRUE(cached.ok()) << cached.status();
  EXPECT_EQ(texts(*cached), texts({p1})) << "the last list is kept while etcd is down";

  ASSERT_TRUE(server_->start());
  ASSERT_TRUE(wait_until([&] { auto l = a->lookup("Restart"); return l.ok() && l->size() == 2; }, 10s))
      << "b registers p2 by itself once etcd is back";
  ASSERT_TRUE(a->unregister_provider(p1).is_ok());
  proxy.set_blocked(false);
  EXPECT_TRUE(rec.wait_for(texts({p2}), 10s));
  EXPECT_EQ(rec.history(), (std::vector<List>{texts({p1}), texts({p1, p2}), texts({p2})}))
      << "every change is seen, and no empty list is pushed while etcd is down";
}

TEST_F(EtcdRegistryTest, CompactedResumeRevisionTriggersAFullReRead) {
  std::mutex log_mu;
  std::vector<std::string> lines;
  set_log_sink([&](LogLevel, std::string_view m) { std::lock_guard lk(log_mu); lines.emplace_back(m); });
  struct RestoreSink {
    ~RestoreSink() { set_log_sink({}); }
  } restore;

  Recorder rec;
  TcpProxy proxy(server_->client_port());
  auto consumer = make(fast_options(), proxy.port());
  auto producer = make();
  const Url p1 = provider("Compact", 7001), p2 = provider("Compact", 7002), p3 = provider("Compact", 7003);
  ASSERT_TRUE(producer->register_provider(p1).is_ok());
  ASSERT_TRUE(consumer->subscribe("Compact", rec.listener()).ok());
  ASSERT_TRUE(rec.wait_for(texts({p1}), 5s));

  proxy.set_blocked(true);  // the consumer's watch breaks; etcd stays up
  ASSERT_TRUE(producer->register_provider(p2).is_ok());
  ASSERT_TRUE(producer->unregister_provider(p1).is_ok());
  ASSERT_TRUE(server_->put("/unrelated/key", "x"));
  ASSERT_GT(server_->compact(), 0);
  ASSERT_TRUE(producer->register_provider(p3).is_ok());
  proxy.set_blocked(false);

  EXPECT_TRUE(rec.wait_for(texts({p2, p3}), 10s));
  for (const auto& list : rec.history()) EXPECT_FALSE(list.empty());
  std::lock_guard lk(log_mu);
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) { return l.find("compacted") != std::string::npos; }))
      << "the watch must have hit the compacted revision";
}

TEST_F(EtcdRegistryTest, ListServicesNamesServicesWithProviders) {
  auto producer = make();
  ASSERT_TRUE(producer->register_provider(provider("LsAlpha", 7001)).is_ok());
  ASSERT_TRUE(producer->register_provider(provider("LsBeta", 7002)).is_ok());
  ASSERT_TRUE(producer->register_provider(provider("LsBeta", 7003)).is_ok());
  auto names = make()->list_services();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(std::count(names->begin(), names->end(), "LsAlpha"), 1);
  EXPECT_EQ(std::count(names->begin(), names->end(), "LsBeta"), 1);
  EXPECT_TRUE(std::is_sorted(names->begin(), names->end()));

  ASSERT_TRUE(producer->unregister_provider(provider("LsAlpha", 7001)).is_ok());
  names = producer->list_services();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(std::count(names->begin(), names->end(), "LsAlpha"), 0);
}

}  // namespace
}  // namespace tern
