// Dynamic configuration end to end with the embedded registry
// (docs/governance.md "Dynamic configuration"): `tern config` (the built CLI)
// stores a document in a running `tern registry`'s storage, and a running
// consumer's calls follow it; the docs' worked example (canary by tag, a
// provider drained by weight 0), read from docs/governance.md itself. The
// checks are shared with ZooKeeper and etcd
// (tests/helpers/governance_example_checks.h,
// tests/registry_{zookeeper,etcd}/governance_e2e_test.cc).
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

#include "governance_example_checks.h"
#include "tern/governance.h"
#include "tern/registry_server.h"

using namespace std::chrono_literals;

namespace {

constexpr auto kHeartbeat = 300ms;

struct DynamicConfigE2e : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = kHeartbeat;
    registry = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(registry->start().is_ok());
    bench = std::make_unique<govtest::Bench>("tern://127.0.0.1:" + std::to_string(registry->port()), kHeartbeat);
  }
  void TearDown() override {
    bench.reset();
    if (registry) registry->shutdown();
  }

  std::unique_ptr<tern::RegistryServer> registry;
  std::unique_ptr<govtest::Bench> bench;
};

TEST_F(DynamicConfigE2e, CliSetChangesWhereARunningConsumersCallsGo) { govtest::check_cli_set_get_rm(*bench); }

TEST_F(DynamicConfigE2e, CliWatchPrintsEveryPush) { govtest::check_cli_watch(*bench); }

TEST_F(DynamicConfigE2e, ConsumerKeepsTheLastGoodDocument) { govtest::check_consumer_keeps_last_good_document(*bench); }

TEST_F(DynamicConfigE2e, DocsCanaryAndDrainExample) { govtest::check_docs_canary_and_drain(*bench); }

}  // namespace

namespace {

// `tern config set` given a directory, or an endless device: nothing stored,
// the document in force untouched, a clear error and exit code 2.
TEST_F(DynamicConfigE2e, CliSetRefusesADirectoryAndAnEndlessFile) {
  auto rev = bench->cli_set("retries: 1\n");
  ASSERT_GT(rev, 0u);
  const std::string service(tern::ServiceTraits<testsvc::Calculator>::name);
  auto dir = bench->tern_config({"set", service, ::testing::TempDir()});
  EXPECT_EQ(dir.exit_code, 2);
  EXPECT_EQ(dir.err, "error: '" + ::testing::TempDir() + "' is not a file (nothing stored)\n");
  auto zero = bench->tern_config({"set", service, "/dev/zero"});
  EXPECT_EQ(zero.exit_code, 2);
  EXPECT_NE(zero.err.find("over the limit of 1048576 bytes"), std::string::npos) << zero.err;
  // Around the CLI, through the registry's own API: refused there too.
  auto big = bench->store().set_config(service, std::string(tern::kMaxGovernanceDocument + 1, '#'));
  EXPECT_EQ(big.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(big.message(), "configuration document of 1048577 bytes is over the limit of 1048576 bytes");
  auto ctl = bench->store().set_config("bad\nname", "retries: 1\n");
  EXPECT_EQ(ctl.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(ctl.message(), "service name with a control character");
  auto doc = bench->store().get_config(service);
  ASSERT_TRUE(doc.has_value());
  EXPECT_EQ(doc->revision, rev);
  EXPECT_EQ(doc->text, "retries: 1\n");
}

}  // namespace
