// tern::Config (tern/config.h): a YAML file with every section, the same keys
// as URL parameters, and errors with file and line that never crash.
#include "tern/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "test_services.h"

namespace {

using std::chrono::milliseconds;
using tern::StatusCode;

constexpr const char* kFull = R"(# a provider and a consumer in one file
registry:
  address: tern://127.0.0.1:9090
  heartbeat_interval: 1s
  request_timeout: 700
server:
  listen: 0.0.0.0:20880
  io_threads: 2
  dispatcher: message
  max_body: 1048576
services:
  Calculator:
    weight: 200
    version: 1.0
    group: blue
    parameters:
      zone: eu-1
client:
  io_threads: 1
  connect_timeout: 1s
references:
  Calculator:
    timeout: 500
    load_balance: round_robin
    retries: 1
    serialization: json
    idempotent_methods: [add, get]
  Echo: "direct://127.0.0.1:20881?timeout=200&cluster=failfast"
  Greeter:
    registry: zookeeper://127.0.0.1:2181
)";

TEST(YamlConfig, EverySectionWithRealValues) {
  auto c = tern::Config::parse(kFull, "tern.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->registry(), "tern://127.0.0.1:9090");
  EXPECT_EQ(c->registry_options().heartbeat_interval, milliseconds(1000));
  EXPECT_EQ(c->registry_options().request_timeout, milliseconds(700));
  EXPECT_EQ(c->registry_options().max_backoff, milliseconds(5000));  // default kept

  EXPECT_EQ(c->server_options().listen, "0.0.0.0:20880");
  EXPECT_EQ(c->server_options().io_threads, 2u);
  EXPECT_EQ(c->server_options().dispatcher, "message");
  EXPECT_EQ(c->server_options().limits.max_body, 1048576u);
  tern::ProviderOptions po = c->provider_options();
  EXPECT_EQ(po.registry, "tern://127.0.0.1:9090");
  EXPECT_EQ(po.server.io_threads, 2u);
  EXPECT_EQ(po.registry_options.heartbeat_interval, milliseconds(1000));

  tern::ServiceOptions calc = c->service("Calculator");
  EXPECT_EQ(calc.weight, 200);
  EXPECT_EQ(calc.version, "1.0");  // text as written, not the float 1
  EXPECT_EQ(calc.group, "blue");
  EXPECT_EQ(calc.parameters, (std::map<std::string, std::string>{{"zone", "eu-1"}}));
  EXPECT_EQ(c->service("Unlisted").weight, 100);
  EXPECT_EQ(c->services().size(), 1u);

  tern::ClientOptions co = c->client_options();
  EXPECT_EQ(co.io_threads, 1u);
  EXPECT_EQ(co.channel.connect_timeout, milliseconds(1000));
  EXPECT_EQ(co.registry.heartbeat_interval, milliseconds(1000));  // the registry section

  tern::ReferenceConfig r = c->reference("Calculator");
  EXPECT_EQ(r.registry, "tern://127.0.0.1:9090");  // the file's registry
  EXPECT_EQ(r.service, "Calculator");
  EXPECT_EQ(r.options.timeout, milliseconds(500));
  EXPECT_EQ(r.options.load_balance, "round_robin");
  EXPECT_EQ(r.options.retries, 1);
  EXPECT_EQ(r.options.serialization, "json");
  EXPECT_EQ(r.options.idempotent_methods, (std::set<std::string, std::less<>>{"add", "get"}));
  tern::ReferenceConfig echo = c->reference("Echo");  // the URL form
  EXPECT_EQ(echo.registry, "direct://127.0.0.1:20881");
  EXPECT_EQ(echo.options.timeout, milliseconds(200));
  EXPECT_EQ(echo.options.cluster, "failfast");
  EXPECT_EQ(c->reference("Greeter").registry, "zookeeper://127.0.0.1:2181");
  EXPECT_EQ(c->reference("Greeter").options.timeout, milliseconds(3000));
  tern::ReferenceConfig unlisted = c->reference("Unlisted");
  EXPECT_EQ(unlisted.registry, "tern://127.0.0.1:9090");
  EXPECT_EQ(unlisted.options.load_balance, "random");
  EXPECT_EQ(c->references().size(), 3u);
}

// The file and a URL with the same keys give the same options, key by key.
TEST(YamlConfig, SameKeysSameOptionsAsUrlParameters) {
  auto c = tern::Config::parse(R"(
references:
  Calculator: {timeout: 750, load_balance: least_active, retries: 0, forks: 4, warmup: 0, seed: 7,
               eject_after: 5, eject_backoff: 2s, eject_backoff_max: 1min, backup_request: 30, group: g}
)");
  ASSERT_TRUE(c.ok()) << c.status();
  auto url = tern::parse_reference_url(
      "tern://h:1/?timeout=750&load_balance=least_active&retries=0&forks=4&warmup=0&seed=7&eject_after=5"
      "&eject_backoff=2s&eject_backoff_max=1min&backup_request=30&group=g");
  ASSERT_TRUE(url.ok()) << url.status();
  tern::ReferenceOptions from_file = c->reference("Calculator").options;
  for (const std::string& key : tern::param_keys<tern::ReferenceOptions>()) {
    EXPECT_EQ(tern::param_value(from_file, key).value(), tern::param_value(url->options, key).value()) << key;
  }
  EXPECT_EQ(from_file.eject_backoff_max, milliseconds(60000));
}

// routes: a list of "<router>:<rule>" strings (or the URL form's one
// '|'-separated value), checked at load time with the file and line.
TEST(YamlConfig, RoutesAreAListCheckedAtLoadTime) {
  auto c = tern::Config::parse(R"(
references:
  Orders:
    routes:
      - "condition: method = get & attachment[user] = beta-* => version = 2.0,2.1; force"
      - "tag:"
      - "weighted: method = place => tag = canary @ 5%"
  Calculator:
    routes: "tag:|condition:method = add => version = 2.0"
  Echo:
    routes: []
  Greeter: "direct://127.0.0.1:20881?routes=tag:force"
)");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->reference("Orders").options.routes,
            (std::vector<std::string>{"condition: method = get & attachment[user] = beta-* => version = 2.0,2.1; force",
                                      "tag:", "weighted: method = place => tag = canary @ 5%"}));
  EXPECT_EQ(c->reference("Calculator").options.routes,
            (std::vector<std::string>{"tag:", "condition:method = add => version = 2.0"}));
  EXPECT_TRUE(c->reference("Echo").options.routes.empty());
  EXPECT_EQ(c->reference("Greeter").options.routes, std::vector<std::string>{"tag:force"});
  // The same options as the URL parameter.
  auto url = tern::parse_reference_url(
      "tern://h:1/?routes=condition:%20method%20%3D%20get%20%26%20attachment[user]%20%3D%20beta-*%20%3D%3E%20"
      "version%20%3D%202.0,2.1%3B%20force|tag:|weighted:%20method%20%3D%20place%20%3D%3E%20tag%20%3D%20canary%20@%205%25");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->options.routes, c->reference("Orders").options.routes);

  auto bad = tern::Config::parse("references:\n  Orders:\n    routes:\n      - \"tag:\"\n"
                                 "      - \"condition: method = get version = 2.0\"\n",
                                 "app.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "app.yaml:3: routes[1] condition rule ' method = get version = 2.0': at position 14 ('version'): expected "
            "'=>' or '&'");
  auto unknown = tern::Config::parse("references:\n  Orders:\n    routes: [\"canary: x\"]\n", "app.yaml");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message(), "app.yaml:3: routes[0] unknown router 'canary' (known: condition, tag, weighted)");
  auto bar = tern::Config::parse("references:\n  Orders:\n    routes:\n      - \"tag:\"\n      - \"x:a|b\"\n",
                                 "app.yaml");
  ASSERT_FALSE(bar.ok());
  EXPECT_EQ(bar.status().message(), "app.yaml:5: routes[1]: 'x:a|b' contains '|', which separates routes");
  auto empty = tern::Config::parse("references:\n  Orders:\n    routes: [\"\"]\n", "app.yaml");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(), "app.yaml:3: routes[0] is empty");
  auto map = tern::Config::parse("references:\n  Orders:\n    routes:\n      - {tag: x}\n", "app.yaml");
  ASSERT_FALSE(map.ok());
  EXPECT_EQ(map.status().message(), "app.yaml:4: routes[0]: expected a value, got a map");
}

TEST(YamlConfig, EmptyFileAndScalarRegistry) {
  auto empty = tern::Config::parse("");
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->registry(), "");
  EXPECT_EQ(empty->server_options().listen, "0.0.0.0:0");
  auto scalar = tern::Config::parse("registry: etcd://127.0.0.1:2379\n");
  ASSERT_TRUE(scalar.ok()) << scalar.status();
  EXPECT_EQ(scalar->registry(), "etcd://127.0.0.1:2379");
  EXPECT_EQ(scalar->registry_options().heartbeat_interval, milliseconds(10000));
}

// Error: INVALID_ARGUMENT, message "<source>:<line>: ..." (1-based line).
void expect_error(const std::string& yaml, const std::string& prefix, const std::string& fragment) {
  auto c = tern::Config::parse(yaml, "app.yaml");
  ASSERT_FALSE(c.ok()) << yaml;
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << c.status();
  EXPECT_EQ(c.status().message().rfind(prefix, 0), 0u) << "want prefix " << prefix << ", got " << c.status().message();
  EXPECT_NE(c.status().message().find(fragment), std::string::npos) << c.status().message();
}

TEST(YamlConfig, ErrorsNameFileLineAndKey) {
  expect_error("server:\n  listen: 127.0.0.1:0\n  io_thread: 2\n", "app.yaml:3: ",
               "unknown server parameter \"io_thread\"");
  expect_error("references:\n  Calculator:\n    timeout: soon\n", "app.yaml:3: ", "timeout: \"soon\" is not a duration");
  expect_error("references:\n  Calculator:\n    timeout: [1, 2]\n", "app.yaml:3: ",
               "timeout: expected a value, got a list");
  expect_error("server:\n  listen:\n    host: a\n", "app.yaml:3: ", "listen: expected a value, got a map");
  expect_error("services:\n  Calculator:\n    weight: 1\n    weight_x: 2\n", "app.yaml:4: ",
               "unknown service parameter \"weight_x\"");
  expect_error("services:\n  Calculator:\n    parameters: [a]\n", "app.yaml:3: ", "parameters: expected a map, got a list");
  expect_error("\n\nservers:\n  listen: x\n", "app.yaml:3: ", "unknown section \"servers\"");
  expect_error("- a\n- b\n", "app.yaml:1: ", "expected a map of sections at the top, got a list");
  expect_error("server: [1]\n", "app.yaml:1: ", "server: expected a map, got a list");
  expect_error("registry:\n  address: tern://h:1/?timeout=5\n", "app.yaml:2: ", "has a path or parameters");
  expect_error("registry:\n  initial_backoff: 9s\n", "app.yaml:2: ", "initial_backoff exceeds max_backoff");
  expect_error("references:\n  Echo: \"direct://h:1?timout=5\"\n", "app.yaml:2: ", "\"timout\"");
  expect_error("references:\n  Echo: \"direct://h:1/Other?timeout=5\"\n", "app.yaml:2: ", "names service \"Other\"");
  // Malformed YAML: yaml-cpp's message with the line.
  expect_error("server:\n  listen: 127.0.0.1:0\n   io_threads: 2\n", "app.yaml:3: ", "malformed YAML");
  expect_error("server: {listen: 127.0.0.1:0\n", "app.yaml:2: ", "malformed YAML");
  expect_error("references:\n  A: *nowhere\n", "app.yaml:2: ", "malformed YAML");
}

TEST(YamlConfig, GarbageNeverCrashes) {
  const char* inputs[] = {"{{{",       "]]]",         "- - -\n  - :",  ":\n:\n:",     "\t\tserver: 1",
                          "!!binary x", "server: !!map {}", "%YAML 9.9\n---\n", "---\n...\n---\n", "? [a]\n: b",
                          "server:\n  listen: &a 1\n  io_threads: *a\n", "\"unterminated", "server: {listen: [}]}"};
  for (const char* in : inputs) {
    auto c = tern::Config::parse(in, "g.yaml");
    if (!c.ok()) {
      EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << in;
      EXPECT_EQ(c.status().message().rfind("g.yaml", 0), 0u) << c.status().message();
    }
  }
  std::string zeros("server:\n  listen: \0\0\0\n", 23);
  auto c = tern::Config::parse(zeros, "z.yaml");
  EXPECT_FALSE(c.ok());
}

TEST(YamlConfig, LoadReadsAFileAndNamesItInErrors) {
  std::string path = std::string(TERN_BINARY_DIR) + "/config_test_" + std::to_string(::getpid()) + ".yaml";
  {
    std::ofstream out(path);
    out << "registry: tern://127.0.0.1:9999\nreferences:\n  Calculator:\n    retries: 3\n";
  }
  auto c = tern::Config::load(path);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->reference("Calculator").options.retries, 3);
  EXPECT_EQ(c->reference("Calculator").registry, "tern://127.0.0.1:9999");
  {
    std::ofstream out(path);
    out << "references:\n  Calculator:\n    retries: many\n";
  }
  auto bad = tern::Config::load(path);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), path + ":3: retries: \"many\" is not an integer");
  std::remove(path.c_str());
  auto missing = tern::Config::load(path);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "cannot open configuration file " + path);
}

// A provider and a consumer built from one file: the service's weight is
// announced, the reference's serialization and timeout are used.
TEST(YamlConfig, ProviderAndConsumerFromOneFile) {
  const std::string svc(tern::ServiceTraits<testsvc::Calculator>::name);  // the key is the service name
  auto pc = tern::Config::parse("server: {listen: 127.0.0.1:0, io_threads: 1, worker_threads: 2}\nservices:\n  \"" +
                                svc + "\": {weight: 250, version: \"2.1\", parameters: {zone: eu-1}}\n");
  ASSERT_TRUE(pc.ok()) << pc.status();
  tern::Provider provider(pc->provider_options());
  ASSERT_TRUE(provider
                  .expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(),
                                               pc->service<testsvc::Calculator>())
                  .is_ok());
  ASSERT_TRUE(provider.start().is_ok());
  std::vector<tern::Url> urls = provider.server().provider_urls();
  ASSERT_EQ(urls.size(), 1u);
  EXPECT_EQ(urls[0].param("weight"), "250");
  EXPECT_EQ(urls[0].param("version"), "2.1");
  EXPECT_EQ(urls[0].param("zone"), "eu-1");

  auto cc = tern::Config::parse("client: {io_threads: 1}\nreferences:\n  \"" + svc + "\":\n    registry: direct://127.0.0.1:" +
                                std::to_string(provider.port()) +
                                "\n    serialization: json\n    timeout: 300\n");
  ASSERT_TRUE(cc.ok()) << cc.status();
  tern::Client client(cc->client_options());
  tern::ReferenceConfig rc = cc->reference<testsvc::Calculator>();
  EXPECT_EQ(rc.options.timeout, milliseconds(300));
  auto calc = client.refer<testsvc::Calculator>(rc.registry, rc.options);
  ASSERT_TRUE(calc.ok()) << calc.status();
  EXPECT_EQ(calc->reference()->serialization_id(), 2);  // json
  EXPECT_EQ(calc->call<&testsvc::Calculator::add>(40, 2).value(), 42);
  auto slow = calc->call<&testsvc::Calculator::sleep_ms>(2000);
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded) << slow.status();
  provider.shutdown(milliseconds(0));
}

}  // namespace
