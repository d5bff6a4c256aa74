// Dynamic configuration in ZooKeeper (persistent node /tern/<service>/config,
// revision = mzxid) against a real ZooKeeper server started by the suite: the
// storage contract of tern/registry.h (config_store_checks.h), the node's
// path and kind, and a watcher whose session expires while the document
// changes (re-read and pushed after the new session).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "config_store_checks.h"
#include "registry/zookeeper_registry.h"
#include "zk_server_util.h"

namespace tern {
namespace {

using cfgtest::ConfigLog;
using std::chrono::milliseconds;
using testing::TcpProxy;
using testing::wait_until;
using testing::ZkServer;
using testing::ZkTestClient;

constexpr milliseconds kHeartbeat{300};  // session timeout 900 ms
constexpr milliseconds kConnectTimeout{10000};

class ZookeeperConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ZkServer();
    start_error_ = server_->start();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(start_error_.empty()) << "cannot start ZooKeeper: " << start_error_; }

  static std::shared_ptr<ZookeeperRegistry> make(const std::string& host_port = {}) {
    RegistryOptions o;
    o.heartbeat_interval = kHeartbeat;
    o.initial_backoff = milliseconds(50);
    o.max_backoff = milliseconds(500);
    o.request_timeout = milliseconds(2000);
    auto hp = parse_host_port(host_port.empty() ? server_->host_port() : host_port);
    auto r = std::make_shared<ZookeeperRegistry>(std::vector<HostPort>{*hp}, o);
    EXPECT_TRUE(wait_until([&] { return r->connected(); }, kConnectTimeout)) << "registry did not connect";
    return r;
  }
  static std::string service() {
    return std::string("Cfg_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static ZkServer* server_;
  static std::string start_error_;
};

ZkServer* ZookeeperConfigTest::server_ = nullptr;
std::string ZookeeperConfigTest::start_error_;

TEST_F(ZookeeperConfigTest, RoundTripWatchPersistenceAndUnwatch) {
  cfgtest::check_round_trip([] { return std::shared_ptr<Registry>(make()); }, service());
}

TEST_F(ZookeeperConfigTest, StoredAsAPersistentNodeWithMzxidAsRevision) {
  const std::string svc = service();
  auto writer = make();
  ASSERT_TRUE(writer->set_config(svc, "weight = 3\n").is_ok());
  auto doc = writer->get_config(svc);
  ASSERT_TRUE(doc.has_value()) << doc.status().to_string();
  EXPECT_EQ(ZookeeperRegistry::config_path(svc), "/tern/" + svc + "/config");
  ZkTestClient raw(server_->host_port());
  ASSERT_TRUE(raw.connected());
  std::int64_t owner = -1;
  ASSERT_EQ(raw.exists(ZookeeperRegistry::config_path(svc), &owner), 0);
  EXPECT_EQ(owner, 0) << "not a persistent node";
  EXPECT_TRUE(writer->remove_config(svc).is_ok());
  EXPECT_NE(raw.exists(ZookeeperRegistry::config_path(svc), &owner), 0);
}

TEST_F(ZookeeperConfigTest, EmptyServiceIsInvalid) {
  auto reg = make();
  cfgtest::check_empty_service_rejected(*reg);
}

// The watcher's session expires (cut off by a proxy) while the document
// changes twice; after the new session it re-reads and pushes the latest.
TEST_F(ZookeeperConfigTest, WatcherReReadsAfterSessionExpiry) {
  const std::string svc = service();
  TcpProxy proxy(server_->port());
  auto watcher = make(proxy.host_port());
  auto writer = make();
  ASSERT_TRUE(writer->set_config(svc, "v1").is_ok());
  ConfigLog log;
  auto watch = watcher->watch_config(svc, log.listener());
  ASSERT_TRUE(watch.has_value());
  auto v1 = writer->get_config(svc);
  ASSERT_TRUE(v1.has_value());
  ASSERT_TRUE(log.wait_for({"v1", v1->revision})) << cfgtest::print(log.docs());
  // A provider node of the watcher's session tells when the server expired it.
  Url marker("tern", {{"127.0.0.1", 20880}}, svc);
  ASSERT_TRUE(watcher->register_provider(marker).is_ok());
  ZkTestClient raw(server_->host_port());
  ASSERT_TRUE(raw.connected());
  std::int64_t owner = 0;
  ASSERT_EQ(raw.exists(ZookeeperRegistry::provider_path(marker), &owner), 0);

  proxy.set_blocked(true);
  ASSERT_TRUE(wait_until([&] { return !watcher->connected(); }, kConnectTimeout));
  ASSERT_TRUE(writer->set_config(svc, "v2").is_ok());
  ASSERT_TRUE(writer->set_config(svc, "v3").is_ok());
  auto v3 = writer->get_config(svc);
  ASSERT_TRUE(v3.has_value());
  ASSERT_TRUE(wait_until([&] { return raw.exists(ZookeeperRegistry::provider_path(marker), &owner) != 0; },
                         kConnectTimeout))
      << "session did not expire";
  proxy.set_blocked(false);

  ASSERT_TRUE(log.wait_for({"v3", v3->revision}, milliseconds(15000))) << cfgtest::print(log.docs());
  for (const auto& d : log.docs()) EXPECT_NE(d.second, 0u) << "document lost while disconnected: " << cfgtest::print(log.docs());
  watcher->unwatch_config(*watch);
  EXPECT_TRUE(writer->remove_config(svc).is_ok());
}

}  // namespace
}  // namespace tern
