// docs/governance.md's dynamic-configuration examples with ZooKeeper as the
// registry, against a real ZooKeeper server started by the suite: providers
// and a consumer announced in and subscribed through zookeeper://, documents
// stored with the built `tern config` CLI (set/get/rm/watch), a document
// that does not parse rejected by the consumer, and the docs' canary-and-
// drain example read from the page (tests/helpers/governance_example_checks.h,
// shared with the embedded registry and etcd). Built as
// registry_zookeeper_e2e_test (linked against all of Tern).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "governance_example_checks.h"
#include "zk_server_util.h"

namespace {

using namespace std::chrono_literals;
using tern::testing::ZkServer;

// Providers' and consumer's registry heartbeat: ZooKeeper session timeout 3 s,
// so a busy machine does not expire a session in the middle of a count.
constexpr auto kHeartbeat = 1000ms;

class ZookeeperGovernanceE2e : public ::testing::Test {
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
    bench_ = std::make_unique<govtest::Bench>("zookeeper://" + server_->host_port(), kHeartbeat);
  }
  void TearDown() override { bench_.reset(); }

  static ZkServer* server_;
  static std::string start_error_;
  std::unique_ptr<govtest::Bench> bench_;
};

ZkServer* ZookeeperGovernanceE2e::server_ = nullptr;
std::string ZookeeperGovernanceE2e::start_error_;

TEST_F(ZookeeperGovernanceE2e, CliSetChangesWhereARunningConsumersCallsGo) { govtest::check_cli_set_get_rm(*bench_); }

TEST_F(ZookeeperGovernanceE2e, CliWatchPrintsEveryPush) { govtest::check_cli_watch(*bench_); }

TEST_F(ZookeeperGovernanceE2e, ConsumerKeepsTheLastGoodDocument) {
  govtest::check_consumer_keeps_last_good_document(*bench_);
}

TEST_F(ZookeeperGovernanceE2e, DocsCanaryAndDrainExample) { govtest::check_docs_canary_and_drain(*bench_); }

}  // namespace
