// parse_governance_config (tern/governance.h): the dynamic configuration
// document's exact parsed values, and the exact error of each kind of bad
// document (key and 1-based line).
#include <gtest/gtest.h>

#include <string>

#include "tern/governance.h"

using namespace std::chrono_literals;
using tern::parse_governance_config;

namespace {

std::string error_of(std::string_view text) {
  auto r = parse_governance_config(text);
  if (r.has_value()) return "(parsed)";
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  return r.status().message();
}

TEST(GovernanceParse, FullDocumentParsesToExactValues) {
  auto r = parse_governance_config(R"(# canary of Orders
routes:
  - "condition: method = get => version = 2.0"
  - "tag:"
timeout: 500ms
retries: 1
load_balance: round_robin
providers:
  "127.0.0.1:20880": {weight: 0}
  "127.0.0.1:20881": {disabled: true}
  "10.0.0.7:20880":
    weight: 250
    disabled: false
)");
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  ASSERT_TRUE(r->routes.has_value());
  EXPECT_EQ(*r->routes, (std::vector<std::string>{"condition: method = get => version = 2.0", "tag:"}));
  EXPECT_EQ(r->timeout, 500ms);
  EXPECT_EQ(r->retries, 1);
  EXPECT_EQ(r->load_balance, "round_robin");
  ASSERT_EQ(r->providers.size(), 3u);
  EXPECT_EQ(r->providers.at("127.0.0.1:20880").weight, 0);
  EXPECT_FALSE(r->providers.at("127.0.0.1:20880").disabled);
  EXPECT_FALSE(r->providers.at("127.0.0.1:20881").weight.has_value());
  EXPECT_TRUE(r->providers.at("127.0.0.1:20881").disabled);
  EXPECT_EQ(r->providers.at("10.0.0.7:20880").weight, 250);
  EXPECT_FALSE(r->providers.at("10.0.0.7:20880").disabled);
  EXPECT_EQ(tern::describe_governance_config(*r),
            "routes (2), timeout 500ms, retries 1, load_balance round_robin, providers 10.0.0.7:20880 weight 250, "
            "127.0.0.1:20880 weight 0, 127.0.0.1:20881 disabled");
}

TEST(GovernanceParse, AbsentKeysStayUnsetAndEmptyDocumentsOverrideNothing) {
  for (std::string_view text : {"", "# nothing yet\n", "{}"}) {
    auto r = parse_governance_config(text);
    ASSERT_TRUE(r.has_value()) << text << ": " << r.status().to_string();
    EXPECT_FALSE(r->routes.has_value());
    EXPECT_FALSE(r->timeout.has_value());
    EXPECT_FALSE(r->retries.has_value());
    EXPECT_FALSE(r->load_balance.has_value());
    EXPECT_TRUE(r->providers.empty());
    EXPECT_EQ(tern::describe_governance_config(*r), "nothing");
  }
  // `routes: []` is present and empty: it removes the reference's own routes.
  auto none = parse_governance_config("routes: []\n");
  ASSERT_TRUE(none.has_value());
  ASSERT_TRUE(none->routes.has_value());
  EXPECT_TRUE(none->routes->empty());
}

TEST(GovernanceParse, DurationsTakeTheUnitsOfTheConfigurationFile) {
  EXPECT_EQ(parse_governance_config("timeout: 250")->timeout, 250ms);
  EXPECT_EQ(parse_governance_config("timeout: 3s")->timeout, 3000ms);
  EXPECT_EQ(parse_governance_config("timeout: 2min")->timeout, 120000ms);
  EXPECT_EQ(error_of("timeout: fast"),
            "line 1: timeout: \"fast\" is not a duration (milliseconds, or a whole number with ms, s or min)");
  EXPECT_EQ(error_of("timeout: 0ms"), "line 1: timeout: 0ms is out of range [1ms, 1 day]");
  EXPECT_EQ(error_of("timeout: 2h"),
            "line 1: timeout: \"2h\" is not a duration (milliseconds, or a whole number with ms, s or min)");
}

TEST(GovernanceParse, UnknownAndRepeatedKeysAreRejectedWithTheirLine) {
  EXPECT_EQ(error_of("retries: 1\ntimeuot: 5s\n"),
            "line 2: unknown key \"timeuot\" (known: routes, timeout, retries, load_balance, providers, limits)");
  EXPECT_EQ(error_of("retries: 1\nretries: 2\n"), "line 2: top level: \"retries\" is repeated");
  EXPECT_EQ(error_of("providers:\n  \"127.0.0.1:1\": {weight: 1, wieght: 2}\n"),
            "line 2: providers.127.0.0.1:1: unknown key \"wieght\" (known: weight, disabled)");
}

TEST(GovernanceParse, BadValuesNameTheKey) {
  EXPECT_EQ(error_of("retries: -1"), "line 1: retries: -1 is out of range [0, 100]");
  EXPECT_EQ(error_of("retries: two"), "line 1: retries: \"two\" is not a whole number");
  EXPECT_EQ(error_of("retries: [1]"), "line 1: retries: expected a value, got a list");
  EXPECT_EQ(error_of("load_balance: fastest"),
            "line 1: load_balance: unknown load balancer 'fastest' (known: consistent_hash, least_active, "
            "p2c_ewma, random, round_robin, weighted_round_robin)");
  EXPECT_EQ(error_of("providers:\n  \"127.0.0.1:20880\": {weight: -3}\n"),
            "line 2: providers.127.0.0.1:20880.weight: -3 is out of range [0, 1000000]");
  EXPECT_EQ(error_of("providers:\n  \"127.0.0.1:20880\": {disabled: yes}\n"),
            "line 2: providers.127.0.0.1:20880.disabled: expected true or false, got \"yes\"");
  EXPECT_EQ(error_of("providers:\n  localhost: {disabled: true}\n"),
            "line 2: providers: \"localhost\" is not a provider address host:port");
  EXPECT_EQ(error_of("providers:\n  - 127.0.0.1:20880\n"), "line 2: providers: expected a map, got a list");
  EXPECT_EQ(error_of("- routes\n"), "line 1: expected a map at the top, got a list");
  EXPECT_EQ(error_of("routes: \"tag:\"\n"), "line 1: routes: expected a list, got a value");
}

TEST(GovernanceParse, MalformedRouteNamesItsIndexLineAndToken) {
  EXPECT_EQ(error_of("timeout: 1s\nroutes:\n  - \"tag:\"\n  - \"condition: method = get version = 2.0\"\n"),
            "line 4: routes[1]: condition rule ' method = get version = 2.0': at position 14 ('version'): "
            "expected '=>' or '&'");
  EXPECT_EQ(error_of("routes:\n  - \"fastest:x\"\n"),
            "line 2: routes[0]: unknown router 'fastest' (known: condition, tag, weighted)");
  EXPECT_EQ(error_of("routes:\n  - \"method = get => version = 2.0\"\n"),
            "line 2: routes[0]: 'method = get => version = 2.0' is not '<router>:<rule>' (e.g. "
            "'condition:method = get => version = 2.0')");
}

TEST(GovernanceParse, MalformedYamlIsInvalidArgumentWithItsLine) {
  EXPECT_EQ(error_of("retries: 1\nroutes: [\"tag:\"\n"), "line 3: malformed YAML: end of sequence flow not found");
}

// format_governance_config: the canonical text, and parse(format(x)) == x.
void expect_same(const tern::GovernanceConfig& a, const tern::GovernanceConfig& b) {
  EXPECT_EQ(a.routes, b.routes);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.retries, b.retries);
  EXPECT_EQ(a.load_balance, b.load_balance);
  ASSERT_EQ(a.providers.size(), b.providers.size());
  for (const auto& [address, o] : a.providers) {
    ASSERT_EQ(b.providers.count(address), 1u) << address;
    EXPECT_EQ(o.weight, b.providers.at(address).weight) << address;
    EXPECT_EQ(o.disabled, b.providers.at(address).disabled) << address;
  }
}

TEST(GovernanceFormat, FullDocumentRoundTripsThroughTheParser) {
  tern::GovernanceConfig x;
  x.routes = std::vector<std::string>{"condition: method = get => version = 2.0", "tag:",
                                      "condition: attachment[user] = beta-* => tag = canary"};
  x.timeout = 1500ms;
  x.retries = 3;
  x.load_balance = "round_robin";
  x.providers["127.0.0.1:20880"].weight = 0;
  x.providers["127.0.0.1:20881"].disabled = true;
  x.providers["10.0.0.7:20880"].weight = 1000000;
  x.providers["10.0.0.7:20880"].disabled = true;
  x.providers["[::1]:20882"];  // present without overrides
  const std::string text = tern::format_governance_config(x);
  EXPECT_EQ(text,
            "routes:\n"
            "  - \"condition: method = get => version = 2.0\"\n"
            "  - \"tag:\"\n"
            "  - \"condition: attachment[user] = beta-* => tag = canary\"\n"
            "timeout: 1500ms\n"
            "retries: 3\n"
            "load_balance: \"round_robin\"\n"
            "providers:\n"
            "  \"10.0.0.7:20880\": {weight: 1000000, disabled: true}\n"
            "  \"127.0.0.1:20880\": {weight: 0}\n"
            "  \"127.0.0.1:20881\": {disabled: true}\n"
            "  \"[::1]:20882\": {}\n");
  auto back = parse_governance_config(text);
  ASSERT_TRUE(back.has_value()) << back.status().to_string() << "\n" << text;
  expect_same(x, *back);
  EXPECT_EQ(tern::format_governance_config(*back), text);  // canonical: a fixed point
  EXPECT_EQ(tern::describe_governance_config(*back), tern::describe_governance_config(x));
}

TEST(GovernanceFormat, EmptyAndPartialDocumentsRoundTrip) {
  tern::GovernanceConfig empty;
  EXPECT_EQ(tern::format_governance_config(empty), "{}\n");
  auto e = parse_governance_config(tern::format_governance_config(empty));
  ASSERT_TRUE(e.has_value());
  expect_same(empty, *e);

  tern::GovernanceConfig none;
  none.routes = std::vector<std::string>{};  // present and empty: removes the reference's routes
  EXPECT_EQ(tern::format_governance_config(none), "routes: []\n");
  auto n = parse_governance_config(tern::format_governance_config(none));
  ASSERT_TRUE(n.has_value());
  expect_same(none, *n);

  // A stored document with comments and flow style comes back canonical.
  auto stored = parse_governance_config("# drained\nproviders: {\"127.0.0.1:1\": {disabled: true, weight: 5}}\n");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(tern::format_governance_config(*stored), "providers:\n  \"127.0.0.1:1\": {weight: 5, disabled: true}\n");
}

TEST(GovernanceFormat, StringsWithQuotesBackslashesAndControlBytesReadBackAsThemselves) {
  // A provider address is kept verbatim by the parser (it must only end in
  // :port), so the odd bytes go in its host part.
  for (std::string host : {std::string("a\"b"), std::string("c\\d"), std::string("e#f: g"), std::string("t\tn\nx\x01")}) {
    tern::GovernanceConfig x;
    x.providers[host + ":1"].weight = 7;
    auto back = parse_governance_config(tern::format_governance_config(x));
    ASSERT_TRUE(back.has_value()) << back.status().to_string() << "\n" << tern::format_governance_config(x);
    expect_same(x, *back);
  }
}

// ---- the provider side's `limits` key, and document-wide limits ----

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
