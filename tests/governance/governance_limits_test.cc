// The `limits` key of the dynamic configuration document (tern/governance.h):
// the provider side's per-method overload limits, parsed to exact values, and
// the exact error of each kind of bad entry.
#include <gtest/gtest.h>

#include <string>

#include "tern/governance.h"

using tern::parse_governance_config;

namespace {

std::string error_of(std::string_view text) {
  auto r = parse_governance_config(text);
  if (r.has_value()) return "(parsed)";
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(GovernanceLimits, ParsesEveryFieldPerMethodAndTheDefault) {
  auto r = parse_governance_config(R"(limits:
  "*": {adaptive: true}
  export:
    max_concurrency: 4
    max_qps: 50
  ping: {max_qps: 0.5}
)");
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  ASSERT_TRUE(r->limits.has_value());
  ASSERT_EQ(r->limits->size(), 3u);
  const auto& every = r->limits->at("*");
  EXPECT_TRUE(every.adaptive);
  EXPECT_EQ(every.max_concurrency, 0);
  EXPECT_EQ(every.max_qps, 0);
  const auto& e = r->limits->at("export");
  EXPECT_FALSE(e.adaptive);
  EXPECT_EQ(e.max_concurrency, 4);
  EXPECT_EQ(e.max_qps, 50);
  EXPECT_EQ(r->limits->at("ping").max_qps, 0.5);
  EXPECT_EQ(tern::describe_governance_config(*r),
            "limits * {adaptive} export {max_concurrency 4 max_qps 50} ping {max_qps 0.5}");
  // Consumers' keys stay absent.
  EXPECT_FALSE(r->routes.has_value());
  EXPECT_FALSE(r->timeout.has_value());
}

TEST(GovernanceLimits, AnEmptyMapRemovesEveryLimitAndAbsentMeansTheServicesOwn) {
  auto empty = parse_governance_config("limits: {}\n");
  ASSERT_TRUE(empty.has_value()) << empty.status().to_string();
  ASSERT_TRUE(empty->limits.has_value());
  EXPECT_TRUE(empty->limits->empty());
  EXPECT_EQ(tern::describe_governance_config(*empty), "limits none");
  auto absent = parse_governance_config("retries: 1\n");
  ASSERT_TRUE(absent.has_value());
  EXPECT_FALSE(absent->limits.has_value());
}

TEST(GovernanceLimits, BadEntriesNameTheLineAndTheKey) {
  EXPECT_EQ(error_of("limits:\n  export: {max_concurrency: -1}\n"),
            "line 2: limits.export.max_concurrency: -1 is out of range [0, 1000000]");
  EXPECT_EQ(error_of("limits:\n  export: {max_qps: fast}\n"), "line 2: limits.export.max_qps: \"fast\" is not a number");
  EXPECT_EQ(error_of("limits:\n  export: {max_qps: -2}\n"),
            "line 2: limits.export.max_qps: -2 is out of range [0, 1000000000]");
  EXPECT_EQ(error_of("limits:\n  export: {adaptive: yes}\n"),
            "line 2: limits.export.adaptive: expected true or false, got \"yes\"");
  EXPECT_EQ(error_of("limits:\n  export: {max_conc: 3}\n"),
            "line 2: limits.export: unknown key \"max_conc\" (known: max_concurrency, max_qps, adaptive)");
  EXPECT_EQ(error_of("limits: [export]\n"), "line 1: limits: expected a map, got a list");
  EXPECT_EQ(error_of("limits:\n  export: 4\n"), "line 2: limits.export: expected a map, got a value");
  EXPECT_EQ(error_of("limits:\n  export: {}\n  export: {}\n"), "line 3: limits: \"export\" is repeated");
}

TEST(GovernanceLimits, ProvidersParseWithoutKnowingTheConsumersRoutersAndBalancers) {
  const std::string text =
      "routes: [\"mine: region = eu\"]\nload_balance: my_balancer\nlimits:\n  add: {max_concurrency: 2}\n";
  // A consumer (default options) must know the router and the balancer...
  EXPECT_NE(error_of(text).find("routes[0]"), std::string::npos) << error_of(text);
  // ...a provider or the monitor checks their form only.
  auto r = parse_governance_config(text, {.check_extensions = false});
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(*r->routes, std::vector<std::string>{"mine: region = eu"});
  EXPECT_EQ(*r->load_balance, "my_balancer");
  EXPECT_EQ(r->limits->at("add").max_concurrency, 2);
  auto bad = parse_governance_config("routes: [\"no colon\"]\n", {.check_extensions = false});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().message(), "line 1: routes[0]: \"no colon\" is not a route \"<router>:<rule>\"");
}

TEST(GovernanceDocument, OversizeTextsAndSeveralYamlDocumentsAreRejected) {
  std::string big = "# " + std::string(tern::kMaxGovernanceDocument, 'x') + "\n";
  EXPECT_EQ(error_of(big), "the document is " + std::to_string(big.size()) + " bytes, over the limit of 1048576 bytes");
  EXPECT_EQ(error_of("retries: 1\n---\nretries: 5\n"), "the text holds 2 YAML documents ('---'); store one");
  auto one = parse_governance_config("---\nretries: 2\n");  // one document with its marker is fine
  ASSERT_TRUE(one.has_value()) << one.status().to_string();
  EXPECT_EQ(one->retries, 2);
  auto empty = parse_governance_config("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_EQ(tern::describe_governance_config(*empty), "nothing");
}

TEST(GovernanceLimits, FormatWritesThemSoTheyReadBackTheSame) {
  tern::GovernanceConfig c;
  c.limits.emplace();
  (*c.limits)["*"] = {.adaptive = true};
  (*c.limits)["export"] = {.max_concurrency = 4, .max_qps = 0.25};
  (*c.limits)["idle"] = {};
  const std::string text = tern::format_governance_config(c);
  EXPECT_EQ(text,
            "limits:\n"
            "  \"*\": {adaptive: true}\n"
            "  \"export\": {max_concurrency: 4, max_qps: 0.25}\n"
            "  \"idle\": {}\n");
  auto back = parse_governance_config(text);
  ASSERT_TRUE(back.has_value()) << back.status().to_string();
  ASSERT_TRUE(back->limits.has_value());
  ASSERT_EQ(back->limits->size(), 3u);
  EXPECT_TRUE(back->limits->at("*").adaptive);
  EXPECT_EQ(back->limits->at("export").max_concurrency, 4);
  EXPECT_EQ(back->limits->at("export").max_qps, 0.25);
  EXPECT_FALSE(back->limits->at("idle").enabled());
  c.limits->clear();
  EXPECT_EQ(tern::format_governance_config(c), "limits: {}\n");
}

}  // namespace
