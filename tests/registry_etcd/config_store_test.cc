// Dynamic configuration in etcd (key /tern/<service>/config bound to no
// lease, revision = mod_revision) against a real etcd started by the suite:
// the storage contract of tern/registry.h (config_store_checks.h), the key
// outliving the writer's lease, and a watcher cut off from etcd while the
// document changes (it catches up by resuming its watch).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "config_store_checks.h"
#include "etcd_server_util.h"
#include "registry/etcd_registry.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using cfgtest::ConfigLog;
using testing::EtcdServer;
using testing::TcpProxy;
using testing::wait_until;

RegistryOptions fast_options(std::chrono::milliseconds heartbeat = 10s) {
  RegistryOptions o;
  o.heartbeat_interval = heartbeat;
  o.initial_backoff = 50ms;
  o.max_backoff = 400ms;
  o.request_timeout = 2s;
  return o;
}

class EtcdConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new EtcdServer();
    ASSERT_TRUE(server_->start());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(server_->start()); }

  static std::shared_ptr<EtcdRegistry> make(RegistryOptions options = fast_options(), std::uint16_t port = 0) {
    Url address = server_->registry_url();
    if (port != 0) address = Url("etcd", {HostPort{"127.0.0.1", port}});
    auto r = make_etcd_registry(address, options);
    EXPECT_TRUE(r.ok()) << r.status();
    return std::dynamic_pointer_cast<EtcdRegistry>(r.value_or(nullptr));
  }
  static std::string service() {
    return std::string("Cfg_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }

  static EtcdServer* server_;
};

EtcdServer* EtcdConfigTest::server_ = nullptr;

TEST_F(EtcdConfigTest, RoundTripWatchPersistenceAndUnwatch) {
  cfgtest::check_round_trip([] { return std::shared_ptr<Registry>(make()); }, service());
}

TEST_F(EtcdConfigTest, EmptyServiceIsInvalid) {
  auto reg = make();
  cfgtest::check_empty_service_rejected(*reg);
}

// The writer holds a lease (it registered a provider) and is destroyed as if
// it crashed (no revoke): its provider key expires with the lease, the
// document does not.
TEST_F(EtcdConfigTest, DocumentIsBoundToNoLease) {
  const std::string svc = service();
  EXPECT_EQ(EtcdRegistry::config_key(svc), "/tern/" + svc + "/config");
  auto reader = make();
  {
    auto writer = make(fast_options(300ms));  // lease TTL 1 s (etcd may raise it to its minimum)
    auto p = Url::parse("tern://127.0.0.1:7001/" + svc);
    ASSERT_TRUE(p.ok());
    ASSERT_TRUE(writer->register_provider(*p).is_ok());
    ASSERT_TRUE(writer->set_config(svc, "weight = 1\n").is_ok());
    writer->set_revoke_on_destroy(false);
  }
  ASSERT_TRUE(wait_until([&] { auto l = reader->lookup(svc); return l.ok() && l->empty(); }, 15s))
      << "the writer's lease did not expire";
  auto doc = reader->get_config(svc);
  ASSERT_TRUE(doc.has_value()) << doc.status().to_string();
  EXPECT_EQ(doc->text, "weight = 1\n");
  EXPECT_GT(doc->revision, 0u);
  EXPECT_TRUE(reader->remove_config(svc).is_ok());
}

// The watcher is cut off from etcd while the document changes twice; it
// catches up when the watch resumes, without a lost-document push.
TEST_F(EtcdConfigTest, WatcherCutOffCatchesUp) {
  const std::string svc = service();
  TcpProxy proxy(server_->client_port());
  auto watcher = make(fast_options(), proxy.port());
  auto writer = make();
  ASSERT_TRUE(writer->set_config(svc, "v1").is_ok());
  ConfigLog log;
  auto watch = watcher->watch_config(svc, log.listener());
  ASSERT_TRUE(watch.has_value());
  auto v1 = writer->get_config(svc);
  ASSERT_TRUE(v1.has_value());
  ASSERT_TRUE(log.wait_for({"v1", v1->revision})) << cfgtest::print(log.docs());

  proxy.set_blocked(true);
  ASSERT_TRUE(writer->set_config(svc, "v2").is_ok());
  ASSERT_TRUE(writer->set_config(svc, "v3").is_ok());
  auto v3 = writer->get_config(svc);
  ASSERT_TRUE(v3.has_value());
  proxy.set_blocked(false);

  ASSERT_TRUE(log.wait_for({"v3", v3->revision}, 15s)) << cfgtest::print(log.docs());
  for (const auto& d : log.docs()) EXPECT_NE(d.second, 0u) << cfgtest::print(log.docs());
  watcher->unwatch_config(*watch);
  EXPECT_TRUE(writer->remove_config(svc).is_ok());
}

}  // namespace
}  // namespace tern
