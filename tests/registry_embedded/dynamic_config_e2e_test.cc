// Dynamic configuration end to end with the embedded registry
// (docs/governance.md "Dynamic configuration"): `tern config` (the built CLI)
// stores a document in a running `tern registry`'s storage, and a running
// consumer's calls follow it; the docs' worked example (canary by tag, a
// provider drained by weight 0), read from docs/governance.md itself.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "registry_test_util.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/registry_server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using regtest::binary;
using regtest::InProcessProvider;
using regtest::run_command;
using testsvc::Calculator;
using testutil::wait_until;

namespace {

const std::string kCalc(tern::ServiceTraits<Calculator>::name);

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream all;
  all << in.rdbuf();
  return all.str();
}

// The ```yaml blocks of the docs section that starts with `heading`.
std::vector<std::string> yaml_blocks_after(const std::string& doc, const std::string& heading) {
  std::vector<std::string> out;
  auto at = doc.find(heading);
  if (at == std::string::npos) return out;
  auto end = doc.find("\n## ", at + heading.size());
  auto next_h3 = doc.find("\n### ", at + heading.size());
  if (next_h3 < end) end = next_h3;
  const std::string open = "```yaml\n";
  for (auto p = doc.find(open, at); p != std::string::npos && p < end; p = doc.find(open, p)) {
    p += open.size();
    auto close = doc.find("```", p);
    out.push_back(doc.substr(p, close - p));
    p = close + 3;
  }
  return out;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (auto p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
}

struct DynamicConfigE2e : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions o;
    o.listen = "127.0.0.1:0";
    o.heartbeat_interval = 300ms;
    registry = std::make_unique<tern::RegistryServer>(o);
    ASSERT_TRUE(registry->start().is_ok());
    registry_url = "tern://127.0.0.1:" + std::to_string(registry->port());
    tern::ClientOptions co;
    co.io_threads = 1;
    co.registry.heartbeat_interval = 300ms;
    client = std::make_unique<tern::Client>(co);
    dir = ::testing::TempDir() + "tern_cfg_" + std::to_string(::getpid()) + "_" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name();
  }
  void TearDown() override {
    client.reset();
    providers.clear();
    if (registry) registry->shutdown();
    std::remove((dir + ".yaml").c_str());
  }

  InProcessProvider& add_provider(tern::ServiceOptions so) {
    providers.push_back(std::make_unique<InProcessProvider>(registry_url, std::move(so)));
    EXPECT_TRUE(providers.back()->status.is_ok()) << providers.back()->status.to_string();
    return *providers.back();
  }

  tern::Proxy<Calculator> refer() {
    tern::ReferenceOptions o;
    o.load_balance = "round_robin";
    o.warmup = 0ms;
    auto p = client->refer<Calculator>(registry_url, std::move(o));
    EXPECT_TRUE(p.has_value()) << p.status().to_string();
    if (!p.has_value()) return {};
    auto proxy = std::move(p).value();
    EXPECT_TRUE(wait_until([&] { return proxy.reference()->providers().size() == providers.size(); }, 5s));
    return proxy;
  }

  // `tern config <args...> --registry URL`.
  testutil::CommandResult tern_config(std::vector<std::string> args) {
    std::vector<std::string> argv{binary("tern"), "config"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--registry");
    argv.push_back(registry_url);
    return run_command(argv);
  }

  // Writes `yaml` to a file and stores it with `tern config set`; returns the revision printed.
  std::uint64_t cli_set(const std::string& yaml) {
    const std::string path = dir + ".yaml";
    std::ofstream(path) << yaml;
    auto r = tern_config({"set", kCalc, path});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string prefix = "stored the configuration of " + kCalc + ": revision ";
    EXPECT_EQ(r.out.rfind(prefix, 0), 0u) << r.out;
    if (r.out.rfind(prefix, 0) != 0) return 0;
    return std::stoull(r.out.substr(prefix.size()));
  }

  static void adds(tern::Proxy<Calculator>& calc, int n, const tern::CallOptions* options = nullptr) {
    for (int i = 0; i < n; ++i) {
      auto r = options ? calc.with(*options).call<&Calculator::add>(i, 1) : calc.call<&Calculator::add>(i, 1);
      ASSERT_TRUE(r.has_value()) << r.status().to_string();
      ASSERT_EQ(*r, i + 1);
    }
  }

  std::unique_ptr<tern::RegistryServer> registry;
  std::string registry_url;
  std::unique_ptr<tern::Client> client;
  std::vector<std::unique_ptr<InProcessProvider>> providers;
  std::string dir;
};

TEST_F(DynamicConfigE2e, CliSetChangesWhereARunningConsumersCallsGo) {
  auto& v1 = add_provider(regtest::service_options("1.0"));
  auto& v2 = add_provider(regtest::service_options("2.0"));
  auto calc = refer();
  adds(calc, 10);
  EXPECT_EQ(v1.impl->adds.load(), 5);
  EXPECT_EQ(v2.impl->adds.load(), 5);

  // Nothing stored yet.
  auto none = tern_config({"get", kCalc});
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out, "# revision 0 (no document)\n");

  const std::string yaml = "routes:\n  - \"condition: method = add => version = 2.0\"\n";
  auto rev = cli_set(yaml);
  ASSERT_GT(rev, 0u);
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == rev; }, 5s));
  adds(calc, 10);
  EXPECT_EQ(v1.impl->adds.load(), 5);
  EXPECT_EQ(v2.impl->adds.load(), 15);

  auto got = tern_config({"get", kCalc});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(got.out, yaml + "# revision " + std::to_string(rev) + "\n");

  // A bad document: exit code 2, the error, nothing stored, nothing changes.
  std::ofstream(dir + ".yaml") << "routes:\n  - \"condition: method = add version\"\n";
  auto bad = tern_config({"set", kCalc, dir + ".yaml"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.out, "");
  EXPECT_EQ(bad.err, "error: invalid configuration for " + kCalc +
                         " (nothing stored): line 2: routes[0]: condition rule ' method = add version': at position "
                         "14 ('version'): expected '=>' or '&'\n");
  auto still = tern_config({"get", kCalc});
  EXPECT_EQ(still.out, yaml + "# revision " + std::to_string(rev) + "\n");
  EXPECT_EQ(calc.reference()->config_revision(), rev);

  // rm: back to the reference's own options (both providers).
  auto rm = tern_config({"rm", kCalc});
  EXPECT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_EQ(rm.out, "removed the configuration of " + kCalc + "\n");
  ASSERT_TRUE(wait_until([&] { return calc.reference()->config_revision() == 0; }, 5s));
  adds(calc, 10);
  EXPECT_EQ(v1.impl->adds.load(), 10);
  EXPECT_EQ(v2.impl->adds.load(), 20);
}

TEST_F(DynamicConfigE2e, CliWatchPrintsEveryPush) {
  regtest::Child watch({binary("tern"), "config", "watch", kCalc, "--registry", registry_url});
  // Lines up to and including the next "# revision" line.
  auto next_push = [&] {
    std::string text;
    for (int i = 0; i < 20; ++i) {
      std::string line = watch.read_line(10s);
      text += line + "\n";
      if (line.empty() || line.rfind("# revision", 0) == 0) break;
    }
    return text;
  };
  EXPECT_EQ(next_push(), "push: " + kCalc + "\n# revision 0 (no document)\n");
  auto rev = cli_set("retries: 1\n");
  EXPECT_EQ(next_push(), "push: " + kCalc + "\nretries: 1\n# revision " + std::to_string(rev) + "\n");
  ASSERT_EQ(tern_config({"rm", kCalc}).exit_code, 0);
  EXPECT_EQ(next_push(), "push: " + kCalc + "\n# revision 0 (no document)\n");
}

TEST_F(DynamicConfigE2e, DocsCanaryAndDrainExample) {
  auto blocks = yaml_blocks_after(read_file(std::string(TERN_SOURCE_DIR) + "/docs/governance.md"),
                                  "### Worked example: canary and drain through the registry");
  ASSERT_EQ(blocks.size(), 2u);
  auto& stable_a = add_provider(regtest::service_options(""));
  auto& stable_b = add_provider(regtest::service_options(""));
  tern::ServiceOptions canary_options;
  canary_options.parameters["tag"] = "canary";
  auto& canary = add_provider(canary_options);
  auto orders = refer();
  tern::CallOptions tester;
  tester.attachments = {{"tern.tag", "canary"}};

  // Step 1: only tagged calls reach the canary.
  auto rev = cli_set(blocks[0]);
  ASSERT_TRUE(wait_until([&] { return orders.reference()->config_revision() == rev; }, 5s));
  adds(orders, 4, &tester);
  adds(orders, 6);
  EXPECT_EQ(canary.impl->adds.load(), 4);
  EXPECT_EQ(stable_a.impl->adds.load(), 3);
  EXPECT_EQ(stable_b.impl->adds.load(), 3);

  // Step 2: the docs' 10.0.0.7:20880 is stable_a here: drained by weight 0.
  std::string drain = blocks[1];
  replace_all(drain, "10.0.0.7:20880", stable_a.address());
  rev = cli_set(drain);
  ASSERT_TRUE(wait_until([&] { return orders.reference()->config_revision() == rev; }, 5s));
  adds(orders, 5);
  adds(orders, 2, &tester);
  EXPECT_EQ(stable_a.impl->adds.load(), 3);  // no new call
  EXPECT_EQ(stable_b.impl->adds.load(), 8);
  EXPECT_EQ(canary.impl->adds.load(), 6);

  // Step 3: `tern config rm`: no routes, every provider again.
  auto rm = tern_config({"rm", kCalc});
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  ASSERT_TRUE(wait_until([&] { return orders.reference()->config_revision() == 0; }, 5s));
  adds(orders, 9);
  EXPECT_EQ(stable_a.impl->adds.load() + stable_b.impl->adds.load() + canary.impl->adds.load(), 17 + 9);
  EXPECT_EQ(stable_a.impl->adds.load(), 6);
  EXPECT_EQ(stable_b.impl->adds.load(), 11);
  EXPECT_EQ(canary.impl->adds.load(), 9);
}

}  // namespace
