// docs/governance.md's dynamic-configuration examples with etcd as the
// registry, against a real etcd started by the suite: providers and a
// consumer announced in and subscribed through etcd://, documents stored with
// the built `tern config` CLI (set/get/rm/watch), a document that does not
// parse rejected by the consumer, and the docs' canary-and-drain example read
// from the page (tests/helpers/governance_example_checks.h, shared with the
// embedded registry and ZooKeeper). Built as registry_etcd_e2e_test (linked
// against all of Tern).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "etcd_server_util.h"
#include "governance_example_checks.h"

namespace {

using namespace std::chrono_literals;
using tern::testing::EtcdServer;

// Providers' and consumer's registry heartbeat: lease TTL 3 s, so a busy
// machine does not expire a lease in the middle of a count.
constexpr auto kHeartbeat = 1000ms;

class EtcdGovernanceE2e : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new EtcdServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(server_->start());
    bench_ = std::make_unique<govtest::Bench>(server_->registry_url().to_string(), kHeartbeat);
  }
  void TearDown() override { bench_.reset(); }

  static EtcdServer* server_;
  std::unique_ptr<govtest::Bench> bench_;
};

EtcdServer* EtcdGovernanceE2e::server_ = nullptr;

TEST_F(EtcdGovernanceE2e, CliSetChangesWhereARunningConsumersCallsGo) { govtest::check_cli_set_get_rm(*bench_); }

TEST_F(EtcdGovernanceE2e, CliWatchPrintsEveryPush) { govtest::check_cli_watch(*bench_); }

TEST_F(EtcdGovernanceE2e, ConsumerKeepsTheLastGoodDocument) { govtest::check_consumer_keeps_last_good_document(*bench_); }

TEST_F(EtcdGovernanceE2e, DocsCanaryAndDrainExample) { govtest::check_docs_canary_and_drain(*bench_); }

}  // namespace
