// URL parameters -> options structs (tern/config.h): every parser with real
// values, strict errors naming the key, and a reference configured by URL
// calling a server configured by parameters.
#include "tern/config.h"

#include <gtest/gtest.h>

#include "registry_embedded/registry_test_util.h"
#include "test_services.h"

namespace {

using std::chrono::milliseconds;
using tern::StatusCode;

// The status of a Result or a Status, for EXPECT_* on messages.
template <typename R>
tern::Status status_of(const R& r) {
  if constexpr (std::is_same_v<R, tern::Status>) {
    return r;
  } else {
    return r.status();
  }
}

#define EXPECT_INVALID(expr, fragment)                                                     \
  do {                                                                                     \
    tern::Status st_ = status_of(expr);                                                    \
    EXPECT_EQ(st_.code(), StatusCode::kInvalidArgument) << st_;                            \
    EXPECT_NE(st_.message().find(fragment), std::string::npos) << "message: " << st_.message(); \
  } while (0)

TEST(ReferenceUrl, DubboStyleParametersSetTheOptions) {
  auto rc = tern::parse_reference_url(
      "tern://127.0.0.1:2379/?timeout=500&load_balance=round_robin&retries=1&serialization=json");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->registry, "tern://127.0.0.1:2379");
  EXPECT_EQ(rc->service, "");
  EXPECT_EQ(rc->options.timeout, milliseconds(500));
  EXPECT_EQ(rc->options.load_balance, "round_robin");
  EXPECT_EQ(rc->options.retries, 1);
  EXPECT_EQ(rc->options.serialization, "json");
  // Keys not given keep their defaults.
  EXPECT_EQ(rc->options.cluster, "failover");
  EXPECT_EQ(rc->options.forks, 2);
  EXPECT_EQ(rc->options.warmup, milliseconds(600000));
}

TEST(ReferenceUrl, ServicePathListsDurationsWithUnits) {
  auto rc = tern::parse_reference_url(
      "direct://10.0.0.5:20880,10.0.0.6:20881/Calculator?timeout=3s&idempotent_methods=add,%20get&warmup=0"
      "&backup_request=50ms&eject_backoff_max=2min&cluster=forking&forks=3&seed=42&version=1.0&group=blue");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->registry, "direct://10.0.0.5:20880,10.0.0.6:20881");
  EXPECT_EQ(rc->service, "Calculator");
  EXPECT_EQ(rc->options.timeout, milliseconds(3000));
  EXPECT_EQ(rc->options.idempotent_methods, (std::set<std::string, std::less<>>{"add", "get"}));
  EXPECT_EQ(rc->options.warmup, milliseconds(0));
  EXPECT_EQ(rc->options.backup_request, milliseconds(50));
  EXPECT_EQ(rc->options.eject_backoff_max, milliseconds(120000));
  EXPECT_EQ(rc->options.cluster, "forking");
  EXPECT_EQ(rc->options.forks, 3);
  EXPECT_EQ(rc->options.seed, 42u);
  EXPECT_EQ(rc->options.version, "1.0");
  EXPECT_EQ(rc->options.group, "blue");
}

TEST(ReferenceUrl, UnknownKeysAndBadValuesNameTheKey) {
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timout=500"), "\"timout\"");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timout=500"), "known: backup_request, breaker_failure_rate");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timeout=abc"),
                 "timeout: \"abc\" is not a duration");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timeout=0"), "timeout: \"0\" must be at least 1 ms");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timeout=5h"), "timeout: \"5h\" is not a duration");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timeout=-5"), "timeout: \"-5\" is not a duration");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?timeout=99999999999999999999"),
                 "timeout: \"99999999999999999999\" is too large");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?retries=-1"),
                 "retries: \"-1\" is out of range [0, 100]");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?retries=1.5"), "retries: \"1.5\" is not an integer");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?retries="), "retries: \"\" is not an integer");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?load_balance=fastest"), "load_balance: ");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?load_balance=fastest"), "round_robin");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?serialization=xml"),
                 "serialization: unknown serialization \"xml\"");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?cluster=pray"), "cluster: ");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?forks=0"), "forks: \"0\" is out of range [1, 1000]");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?idempotent_methods=add,,get"),
                 "idempotent_methods: empty method name");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?eject_backoff=5s&eject_backoff_max=1s"),
                 "eject_backoff: 5000 ms exceeds eject_backoff_max (1000 ms)");
  EXPECT_INVALID(tern::parse_reference_url("tern:///Calculator?timeout=5"), "names no registry host");
  EXPECT_INVALID(tern::parse_reference_url("not a url"), "");
}

TEST(ReferenceUrl, CircuitBreakerKeys) {
  auto rc = tern::parse_reference_url(
      "tern://127.0.0.1:9090/Calculator?breaker_window=50&breaker_min_calls=10&breaker_failure_rate=25%25"
      "&breaker_slow_call=200ms&breaker_slow_rate=0.75");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->options.breaker_window, 50);
  EXPECT_EQ(rc->options.breaker_min_calls, 10);
  EXPECT_DOUBLE_EQ(rc->options.breaker_failure_rate, 0.25);
  EXPECT_EQ(rc->options.breaker_slow_call, milliseconds(200));
  EXPECT_DOUBLE_EQ(rc->options.breaker_slow_rate, 0.75);
  EXPECT_EQ(tern::param_value(rc->options, "breaker_failure_rate").value(), "0.25");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?breaker_failure_rate=1.5"),
                 "breaker_failure_rate: \"1.5\" is out of range (0, 1]");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?breaker_slow_rate=0"),
                 "breaker_slow_rate: \"0\" is out of range (0, 1]");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?breaker_failure_rate=half"),
                 "breaker_failure_rate: \"half\" is not a number");
  EXPECT_INVALID(tern::parse_reference_url("tern://127.0.0.1:9090/?breaker_window=10&breaker_min_calls=20"),
                 "breaker_min_calls: 20 exceeds breaker_window (10)");
}

TEST(ServerParams, EveryKeyWithRealValues) {
  tern::ConfigParams p = {{"listen", "[::1]:20880"},       {"announce_host", "10.0.0.5"}, {"io_threads", "2"},
                          {"pool", "cached"},              {"worker_threads", "8"},        {"worker_queue", "500"},
                          {"pool_keep_alive", "1min"},     {"dispatcher", "direct"},       {"io_block_threshold", "20"},
                          {"heartbeat_interval", "0"},     {"max_body", "1048576"},        {"max_meta", "4096"},
                          {"max_connections", "64"},       {"max_in_flight_per_connection", "0"}};
  auto o = tern::parse_server_options(p);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->listen, "[::1]:20880");
  EXPECT_EQ(o->announce_host, "10.0.0.5");
  EXPECT_EQ(o->io_threads, 2u);
  EXPECT_EQ(o->pool, "cached");
  EXPECT_EQ(o->worker_threads, 8u);
  EXPECT_EQ(o->worker_queue, 500u);
  EXPECT_EQ(o->pool_keep_alive, milliseconds(60000));
  EXPECT_EQ(o->dispatcher, "direct");
  EXPECT_EQ(o->io_block_threshold, milliseconds(20));
  EXPECT_EQ(o->heartbeat_interval, milliseconds(0));
  EXPECT_EQ(o->limits.max_body, 1048576u);
  EXPECT_EQ(o->limits.max_meta, 4096u);
  EXPECT_EQ(o->max_connections, 64u);
  EXPECT_EQ(o->max_in_flight_per_connection, 0u);

  EXPECT_INVALID(tern::parse_server_options({{"pool", "elastic"}}), "pool: unknown pool \"elastic\"");
  EXPECT_INVALID(tern::parse_server_options({{"listen", "host:port"}}), "listen: ");
  EXPECT_INVALID(tern::parse_server_options({{"listen", "127.0.0.1"}}),
                 "listen: '127.0.0.1' has no port (write '127.0.0.1:0' for a free port)");
  EXPECT_INVALID(tern::parse_server_options({{"max_meta", "70000"}}), "max_meta: \"70000\" is out of range [1, 65535]");
  EXPECT_INVALID(tern::parse_server_options({{"dispatcher", "sometimes"}}), "dispatcher: ");
  EXPECT_INVALID(tern::parse_server_options({{"worker_queue", "0"}}), "worker_queue: ");
  EXPECT_INVALID(tern::parse_server_options({{"announce_host", ""}}), "announce_host: must not be empty");
  EXPECT_INVALID(tern::parse_server_options({{"timeout", "5"}}), "unknown server parameter \"timeout\"");
}

TEST(ServiceParams, WeightVersionGroupDispatcherParameters) {
  auto o = tern::parse_service_options({{"weight", "200"},
                                        {"version", "1.0"},
                                        {"group", "blue"},
                                        {"dispatcher", "direct"},
                                        {"name", "acme.Calculator"},
                                        {"parameters.zone", "eu-1"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->weight, 200);
  EXPECT_EQ(o->version, "1.0");
  EXPECT_EQ(o->group, "blue");
  EXPECT_EQ(o->dispatcher, "direct");
  EXPECT_EQ(o->name, "acme.Calculator");
  EXPECT_EQ(o->parameters, (std::map<std::string, std::string>{{"zone", "eu-1"}}));
  EXPECT_EQ(tern::param_value(*o, "parameters.zone").value(), "eu-1");
  EXPECT_EQ(tern::param_value(*o, "parameters.absent").value(), "");
  // An empty dispatcher means "the server's".
  EXPECT_EQ(tern::parse_service_options({{"dispatcher", ""}})->dispatcher, "");

  EXPECT_INVALID(tern::parse_service_options({{"weight", "-1"}}), "weight: \"-1\" is out of range");
  EXPECT_INVALID(tern::parse_service_options({{"weight", "heavy"}}), "weight: \"heavy\" is not an integer");
  EXPECT_INVALID(tern::parse_service_options({{"parameters.", "x"}}), "parameters.: the parameter needs a name");
  EXPECT_INVALID(tern::parse_service_options({{"methods", "add"}}), "unknown service parameter \"methods\"");
}

TEST(RegistryParams, DurationsAndBackoffOrder) {
  auto o = tern::parse_registry_options(
      {{"heartbeat_interval", "1s"}, {"initial_backoff", "50"}, {"max_backoff", "2s"}, {"request_timeout", "700ms"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->heartbeat_interval, milliseconds(1000));
  EXPECT_EQ(o->initial_backoff, milliseconds(50));
  EXPECT_EQ(o->max_backoff, milliseconds(2000));
  EXPECT_EQ(o->request_timeout, milliseconds(700));
  EXPECT_EQ(o->cache_file, "");
  EXPECT_EQ(tern::parse_registry_options({{"cache_file", "/var/cache/app/providers"}}).value().cache_file,
            "/var/cache/app/providers");
  EXPECT_INVALID(tern::parse_registry_options({{"initial_backoff", "10s"}}),
                 "initial_backoff: 10000 ms exceeds max_backoff (5000 ms)");
  EXPECT_INVALID(tern::parse_registry_options({{"heartbeat_interval", "0"}}), "heartbeat_interval: ");
}

TEST(ClientParams, IoThreadsAndChannelKeys) {
  auto o = tern::parse_client_options({{"io_threads", "2"},
                                       {"connect_timeout", "500"},
                                       {"heartbeat_interval", "5s"},
                                       {"dispatcher", "all"},
                                       {"callback_threads", "3"},
                                       {"max_body", "65536"}});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->io_threads, 2u);
  EXPECT_EQ(o->channel.connect_timeout, milliseconds(500));
  EXPECT_EQ(o->channel.heartbeat_interval, milliseconds(5000));
  EXPECT_EQ(o->channel.dispatcher, "all");
  EXPECT_EQ(o->channel.callback_threads, 3u);
  EXPECT_EQ(o->channel.limits.max_body, 65536u);
  // ChannelOptions alone has no io_threads.
  EXPECT_INVALID(tern::parse_channel_options({{"io_threads", "2"}}), "unknown client parameter \"io_threads\"");
  auto c = tern::parse_channel_options({{"connect_timeout", "2s"}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->connect_timeout, milliseconds(2000));
}

// routes: '|'-separated "<router>:<rule>" specs, each rule percent-encoded
// in a URL; built with RouterChain::create at parse time, so a bad rule is an
// error here, not at the first call.
TEST(ReferenceUrl, RoutesAreSeparatedByABarAndCheckedAtLoadTime) {
  auto rc = tern::parse_reference_url(
      "tern://127.0.0.1:9090/Orders?routes=condition:method%20%3D%20get%20%26%20attachment[user]%20%3D%20beta-*"
      "%20%3D%3E%20version%20%3D%202.0,2.1%3B%20force|tag:|weighted:method%20%3D%20place%20%3D%3E%20tag%20%3D%20canary"
      "%20@%205%25");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->service, "Orders");
  EXPECT_EQ(rc->options.routes,
            (std::vector<std::string>{"condition:method = get & attachment[user] = beta-* => version = 2.0,2.1; force",
                                      "tag:", "weighted:method = place => tag = canary @ 5%"}));
  EXPECT_EQ(tern::param_value(rc->options, "routes").value(),
            "condition:method = get & attachment[user] = beta-* => version = 2.0,2.1; force|tag:|"
            "weighted:method = place => tag = canary @ 5%");
  // docs/configuration.md's example.
  auto doc = tern::parse_reference_url(
      "tern://127.0.0.1:9090/Orders?routes=tag:|condition:method%20%3D%20get%20%3D%3E%20version%20%3D%202.0");
  ASSERT_TRUE(doc.ok()) << doc.status();
  EXPECT_EQ(doc->options.routes, (std::vector<std::string>{"tag:", "condition:method = get => version = 2.0"}));
  // Default: none; an empty value clears them.
  EXPECT_EQ(tern::param_value(tern::ReferenceOptions{}, "routes").value(), "");
  tern::ReferenceOptions o = rc->options;
  ASSERT_TRUE(tern::apply_param(o, "routes", "").is_ok());
  EXPECT_TRUE(o.routes.empty());

  // Errors: INVALID_ARGUMENT naming routes[i] (the index in the list), the
  // position and the token; the options are left as they were.
  o.routes = {"tag:"};
  tern::Status bad = tern::apply_param(o, "routes", "tag:|condition:method = get version = 2.0");
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(),
            "routes[1] condition rule 'method = get version = 2.0': at position 13 ('version'): expected '=>' or '&'");
  EXPECT_EQ(o.routes, std::vector<std::string>{"tag:"});
  EXPECT_EQ(tern::apply_param(o, "routes", "nosuch:x").message(),
            "routes[0] unknown router 'nosuch' (known: condition, tag, weighted)");
  EXPECT_EQ(tern::apply_param(o, "routes", "tag").message(),
            "routes[0] 'tag' is not '<router>:<rule>' (e.g. 'condition:method = get => version = 2.0')");
  EXPECT_EQ(tern::apply_param(o, "routes", "tag:||tag:").message(),
            "routes[1] is empty (routes are separated by '|')");
  EXPECT_EQ(tern::apply_param(o, "routes", "tag:|").message(),
            "routes[1] is empty (routes are separated by '|')");
  EXPECT_INVALID(tern::parse_reference_url("tern://h:1/?routes=condition:%3D%3E%20weight%20%3E%201"),
                 "reference URL \"tern://h:1/?routes=condition:%3D%3E%20weight%20%3E%201\": routes[0] condition rule");
}

// param_value() prints what apply_param() reads: a round trip changes nothing,
// for every key of every struct, from non-default values too.
template <typename O>
void expect_round_trip(const O& options) {
  for (const std::string& key : tern::param_keys<O>()) {
    std::string k = key == "parameters.<name>" ? "parameters.zone" : key;
    auto text = tern::param_value(options, k);
    ASSERT_TRUE(text.ok()) << k << ": " << text.status();
    O copy = options;
    ASSERT_TRUE(tern::apply_param(copy, k, *text).is_ok()) << k << "=" << *text;
    EXPECT_EQ(tern::param_value(copy, k).value(), *text) << k;
  }
}

TEST(Params, RoundTripEveryKey) {
  expect_round_trip(tern::ReferenceOptions{});
  expect_round_trip(tern::parse_reference_options({{"idempotent_methods", "a,b"}, {"seed", "18446744073709551615"}})
                        .value());
  expect_round_trip(tern::ServerOptions{});
  expect_round_trip(tern::ServiceOptions{});
  expect_round_trip(tern::parse_service_options({{"parameters.zone", "eu"}, {"weight", "0"}}).value());
  expect_round_trip(tern::RegistryOptions{});
  expect_round_trip(tern::ChannelOptions{});
  expect_round_trip(tern::ClientOptions{});
  expect_round_trip(tern::parse_reference_options({{"routes", "tag:|condition:method = get => version = 2.0"}}).value());
  EXPECT_EQ(tern::param_keys<tern::ReferenceOptions>().size(), 24u);  // 18 + the five breaker_ keys + routes
  EXPECT_EQ(tern::param_keys<tern::ServerOptions>().size(), 31u);  // 26 + the five adaptive_ keys
  auto adaptive = tern::parse_server_options({{"adaptive_promote_after", "8"}, {"adaptive_promote_below", "250"},
                                              {"adaptive_demote_above", "5000"}, {"adaptive_max_demotions", "0"}})
                      .value();
  EXPECT_EQ(adaptive.adaptive.promote_after, 8u);
  EXPECT_EQ(adaptive.adaptive.promote_below, std::chrono::microseconds(250));
  EXPECT_EQ(adaptive.adaptive.demote_above, std::chrono::microseconds(5000));
  EXPECT_EQ(adaptive.adaptive.max_demotions, 0u);
  expect_round_trip(adaptive);
  EXPECT_INVALID(tern::parse_server_options({{"adaptive_demote_above", "0"}}), "adaptive_demote_above: ");
  EXPECT_EQ(tern::param_keys<tern::ServiceOptions>().size(), 8u);
  auto limited = tern::parse_service_options({{"max_concurrency", "auto"}, {"max_qps", "50"}}).value();
  EXPECT_TRUE(limited.limit.adaptive);
  EXPECT_EQ(limited.limit.max_qps, 50.0);
  expect_round_trip(limited);
  EXPECT_EQ(tern::parse_service_options({{"max_concurrency", "8"}}).value().limit.max_concurrency, 8);
  EXPECT_INVALID(tern::parse_service_options({{"max_concurrency", "lots"}}), "max_concurrency: ");
  EXPECT_EQ(tern::param_keys<tern::RegistryOptions>().size(), 5u);
  EXPECT_EQ(tern::param_keys<tern::ChannelOptions>().size(), 13u);
  EXPECT_EQ(tern::param_keys<tern::ClientOptions>().size(), 14u);
  EXPECT_INVALID(tern::param_value(tern::ReferenceOptions{}, "nope"), "unknown reference parameter \"nope\"");
  auto grpc_off = tern::parse_server_options({{"grpc_health", "false"}, {"grpc_reflection", "false"}}).value();
  EXPECT_FALSE(grpc_off.grpc_health);
  EXPECT_FALSE(grpc_off.grpc_reflection);
  EXPECT_TRUE(tern::ServerOptions{}.grpc_health);
}

// A server configured by parameters, a reference configured by its URL: the
// call goes through with the serialization and timeout the URL named.
TEST(Params, UrlConfiguredReferenceCallsParamConfiguredServer) {
  auto so = tern::parse_server_options({{"listen", "127.0.0.1:0"}, {"io_threads", "1"}, {"worker_threads", "2"}});
  ASSERT_TRUE(so.ok()) << so.status();
  tern::Server server(*so);
  auto svc = tern::parse_service_options({{"weight", "300"}});
  ASSERT_TRUE(server.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>(), *svc).is_ok());
  ASSERT_TRUE(server.start().is_ok());

  auto rc = tern::parse_reference_url("direct://127.0.0.1:" + std::to_string(server.port()) +
                                      "?serialization=json&timeout=200&cluster=failfast");
  ASSERT_TRUE(rc.ok()) << rc.status();
  tern::Client client(tern::parse_client_options({{"io_threads", "1"}}).value());
  auto calc = client.refer<testsvc::Calculator>(rc->registry, rc->options);
  ASSERT_TRUE(calc.ok()) << calc.status();
  EXPECT_EQ(calc->reference()->options().serialization, "json");
  EXPECT_EQ(calc->reference()->serialization_id(), 2);
  EXPECT_EQ(calc->call<&testsvc::Calculator::add>(20, 22).value(), 42);
  // The URL's 200 ms timeout applies: a 1 s handler times out.
  auto slow = calc->call<&testsvc::Calculator::sleep_ms>(1000);
  EXPECT_EQ(slow.status().code(), StatusCode::kDeadlineExceeded) << slow.status();
  server.shutdown(milliseconds(0));
}

// A reference whose routes come from its URL routes its calls: of two
// direct:// providers, the one the rule drains gets none.
TEST(Params, UrlRoutesApplyToCalls) {
  std::vector<std::unique_ptr<tern::Server>> servers;
  std::vector<std::shared_ptr<regtest::CountingCalculator>> impls;
  for (int i = 0; i < 2; ++i) {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.worker_threads = 1;
    servers.push_back(std::make_unique<tern::Server>(so));
    impls.push_back(std::make_shared<regtest::CountingCalculator>());
    ASSERT_TRUE(servers.back()->expose<testsvc::Calculator>(impls.back()).is_ok());
    ASSERT_TRUE(servers.back()->start().is_ok());
  }
  const std::string drained = "127.0.0.1:" + std::to_string(servers[0]->port());
  auto rc = tern::parse_reference_url("direct://" + drained + ",127.0.0.1:" + std::to_string(servers[1]->port()) +
                                      "?load_balance=round_robin&routes=condition:%3D%3E%20address%20!%3D%20" +
                                      drained + "%3B%20force");
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_EQ(rc->options.routes, std::vector<std::string>{"condition:=> address != " + drained + "; force"});
  tern::Client client(tern::parse_client_options({{"io_threads", "1"}}).value());
  auto calc = client.refer<testsvc::Calculator>(rc->registry, rc->options);
  ASSERT_TRUE(calc.ok()) << calc.status();
  for (int i = 0; i < 6; ++i) ASSERT_EQ(calc->call<&testsvc::Calculator::add>(i, 1).value(), i + 1);
  EXPECT_EQ(impls[0]->adds.load(), 0);
  EXPECT_EQ(impls[1]->adds.load(), 6);
  for (auto& s : servers) s->shutdown(milliseconds(0));
}

}  // namespace
