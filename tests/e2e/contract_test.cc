// Contract mismatches between a consumer and a provider over real calls: the
// provider's method returns double and takes int, the consumer's view of the
// same service ("terntest.Pricing") declares int and double. MessagePack
// decoding is strict (tern/serialization/msgpack_codec.h): every such call
// fails with INVALID_ARGUMENT naming the expected and the received type, and
// a result that does not decode says the handler ran (may_have_executed()).
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "loopback.h"
#include "tern/client.h"
#include "tern/contract.h"
#include "tern/log.h"
#include "tern/provider.h"
#include "tern/registry_server.h"
#include "tern/server.h"
#include "wait_until.h"

namespace contract {

// The provider's contract.
struct Pricing {
  virtual ~Pricing() = default;
  virtual double price(int quantity) = 0;
};
// The consumer's idea of it: an int result.
struct PricingIntResult {
  virtual ~PricingIntResult() = default;
  virtual int price(int quantity) = 0;
};
// Another consumer's idea of it: a double argument.
struct PricingDoubleArgument {
  virtual ~PricingDoubleArgument() = default;
  virtual double price(double quantity) = 0;
};

struct PricingImpl : Pricing {
  double price(int quantity) override {
    ++calls;
    return quantity * 1.5;  // 4 -> 6.0 (whole), 5 -> 7.5
  }
  std::atomic<int> calls{0};
};

}  // namespace contract

TERN_SERVICE_NAMED(contract::Pricing, "terntest.Pricing", price)
TERN_SERVICE_NAMED(contract::PricingIntResult, "terntest.Pricing", price)
TERN_SERVICE_NAMED(contract::PricingDoubleArgument, "terntest.Pricing", price)

namespace {

using contract::Pricing;
using contract::PricingDoubleArgument;
using contract::PricingIntResult;

struct ContractFixture : testutil::LoopbackFixture {
  void SetUp() override {
    start({}, [&](tern::Server& s) { ASSERT_TRUE(s.expose<Pricing>(impl).is_ok()); });
  }
  std::shared_ptr<contract::PricingImpl> impl = std::make_shared<contract::PricingImpl>();
};

TEST_F(ContractFixture, MatchingContractWorks) {
  auto p = client->refer<Pricing>(url).value();
  auto r = p.call<&Pricing::price>(4);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, 6.0);
  EXPECT_EQ(impl->calls.load(), 1);
}

// A provider's double where the consumer declared int: whole (6.0) and
// fractional (7.5) values fail alike, in every call mode, and the status says
// the handler ran.
TEST_F(ContractFixture, ResultOfAnotherTypeIsInvalidArgumentAndMayHaveExecuted) {
  auto p = client->refer<PricingIntResult>(url, testutil::failfast()).value();
  auto whole = p.call<&PricingIntResult::price>(4);
  ASSERT_FALSE(whole.has_value()) << *whole;
  EXPECT_EQ(whole.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(whole.status().message(), "result: expected int32, received float64 6");
  EXPECT_TRUE(whole.status().may_have_executed());

  auto fraction = p.async_call<&PricingIntResult::price>(5).get();
  ASSERT_FALSE(fraction.has_value());
  EXPECT_EQ(fraction.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(fraction.status().message(), "result: expected int32, received float64 7.5");
  EXPECT_TRUE(fraction.status().may_have_executed());

  auto task = [](tern::Proxy<PricingIntResult> q) -> tern::Task<tern::Status> {
    auto r = co_await q.co_call<&PricingIntResult::price>(2);
    co_return r.status();
  };
  auto co = tern::sync_wait(task(p));
  ASSERT_TRUE(co.has_value()) << co.status();
  EXPECT_EQ(co->code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(co->message(), "result: expected int32, received float64 3");
  EXPECT_TRUE(co->may_have_executed());

  EXPECT_EQ(impl->calls.load(), 3);  // every handler ran, once
}

// The same with the default (failover) cluster: the decode failure is not
// retried (the handler ran exactly once).
TEST_F(ContractFixture, ResultOfAnotherTypeIsNotRetried) {
  auto p = client->refer<PricingIntResult>(url).value();
  auto r = p.call<&PricingIntResult::price>(4);
  ASSERT_FALSE(r.has_value());
  EXPECT_TRUE(r.status().may_have_executed());
  EXPECT_EQ(impl->calls.load(), 1);
}

// A consumer's double where the provider takes int, whole or not: the
// provider refuses the arguments before its handler runs.
TEST_F(ContractFixture, ArgumentOfAnotherTypeIsInvalidArgumentBeforeTheHandler) {
  auto p = client->refer<PricingDoubleArgument>(url, testutil::failfast()).value();
  for (double q : {2.5, 2.0}) {
    auto r = p.call<&PricingDoubleArgument::price>(q);
    ASSERT_FALSE(r.has_value()) << q;
    EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(),
              std::string("argument 1 of 1: expected int32, received float64 ") + (q == 2.5 ? "2.5" : "2"));
  }
  // The handler never ran. (The consumer cannot tell this INVALID_ARGUMENT
  // from one a handler returned, so may_have_executed() stays conservatively
  // true for remote INVALID_ARGUMENT; src/client/channel.cc.)
  EXPECT_EQ(impl->calls.load(), 0);
}

// ---- the contract check (tern/contract.h): signatures announced in the
// registry URL and compared by the consumer --------------------------------

TEST(ContractCheck, SignaturesAndDigestsComeFromTheInterface) {
  auto provider = tern::method_contracts(tern::reflection::describe_interface<Pricing>());
  auto consumer = tern::method_contracts(tern::reflection::describe_interface<PricingIntResult>());
  ASSERT_EQ(provider.size(), 1u);
  ASSERT_EQ(consumer.size(), 1u);
  EXPECT_EQ(provider[0].method, "price");
  EXPECT_EQ(provider[0].signature, "price(int32)->double");
  EXPECT_EQ(consumer[0].signature, "price(int32)->int32");
  EXPECT_EQ(provider[0].digest.size(), 8u);
  EXPECT_NE(provider[0].digest, consumer[0].digest);
  // The same interface always gives the same digest (it is what the URL carries).
  EXPECT_EQ(tern::method_contracts(tern::reflection::describe_interface<Pricing>()), provider);

  auto mismatches = tern::compare_contracts(consumer, provider);
  ASSERT_EQ(mismatches.size(), 1u);
  EXPECT_EQ(mismatches[0].message(), "price: consumer price(int32)->int32, provider price(int32)->double");
  EXPECT_TRUE(tern::compare_contracts(provider, provider).empty());
}

// Grammar of containers and named types, and a struct whose fields changed:
// the signature reads the same, the digest does not.
TEST(ContractCheck, NamedTypeDefinitionsAreInTheDigest) {
  auto description = [](const char* y_type) {
    return nlohmann::json{
        {"methods",
         {{{"name", "move"},
           {"args",
            {{{"type", "struct"}, {"name", "geo::Point"}},
             {{"type", "array"}, {"items", {{"type", "optional"}, {"value", {{"type", "int64"}}}}}},
             {{"type", "map"}, {"key", {{"type", "string"}}}, {"value", {{"type", "double"}}}}}},
           {"result", {{"type", "tuple"}, {"items", {{{"type", "bool"}}, {{"type", "unknown"}, {"cpp", "X"}}}}}}},
          {{"name", "raw"}, {"args", nullptr}, {"result", nullptr}}}},
        {"types",
         {{"geo::Point",
           {{"kind", "struct"},
            {"fields", {{{"name", "x"}, {"type", {{"type", "int32"}}}}, {{"name", "y"}, {"type", {{"type", y_type}}}}}}}}}}};
  };
  auto v1 = tern::method_contracts(description("int32"));
  auto v2 = tern::method_contracts(description("int64"));
  ASSERT_EQ(v1.size(), 1u);  // "raw" has no types: not part of the contract
  EXPECT_EQ(v1[0].signature, "move(geo::Point,[int64?],{string:double})->(bool,?)");
  EXPECT_EQ(v2[0].signature, v1[0].signature);
  EXPECT_NE(v2[0].digest, v1[0].digest);
  auto m = tern::compare_contracts(v1, v2);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].message(), "move: consumer " + v1[0].signature + ", provider " + v1[0].signature +
                                " (same signature, a type's definition differs)");
}

TEST(ContractCheck, UrlParameterRoundTripsAndSkipsMalformedEntries) {
  std::vector<tern::MethodContract> c = {{"a", "a(int32)->void", "0123abcd"},
                                                   {"b", "b([string])->{int32:bool}", "ffff0000"}};
  auto text = tern::encode_contracts(c);
  EXPECT_EQ(text, "a(int32)->void@0123abcd;b([string])->{int32:bool}@ffff0000");
  EXPECT_EQ(tern::decode_contracts(text), c);
  // Through a URL (percent-encoded and back).
  tern::Url u("tern", {tern::HostPort{"127.0.0.1", 1}}, "S");
  u.set_param("contract", text);
  auto parsed = tern::Url::parse(u.to_string());
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(tern::decode_contracts(parsed->param("contract")), c);
  // Garbage never fails; only well-formed entries survive.
  auto some = tern::decode_contracts(";;no-at;(x)@1;ok()->int32@12345678;@@");
  ASSERT_EQ(some.size(), 1u);
  EXPECT_EQ(some[0].method, "ok");
  EXPECT_TRUE(tern::compare_contracts(c, tern::decode_contracts("")).empty());
}

// Captures warnings and errors logged while it lives.
struct LogCapture {
  LogCapture() {
    tern::set_log_sink([this](tern::LogLevel level, std::string_view m) {
      if (level < tern::LogLevel::kWarn) return;
      std::lock_guard lock(mu);
      lines.emplace_back(m);
    });
  }
  ~LogCapture() { tern::set_log_sink({}); }
  int count(std::string_view needle) {
    std::lock_guard lock(mu);
    int n = 0;
    for (auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

// A provider of terntest.Pricing announced in an embedded registry.
struct ContractRegistryFixture : ::testing::Test {
  void SetUp() override {
    tern::RegistryServerOptions ro;
    ro.listen = "127.0.0.1:0";
    registry = std::make_unique<tern::RegistryServer>(ro);
    ASSERT_TRUE(registry->start().is_ok());
    registry_url = "tern://127.0.0.1:" + std::to_string(registry->port());
    start_provider();
    client = std::make_unique<tern::Client>(testutil::one_io());
  }
  // (Re)starts `provider`: the Pricing implementation announced in the registry.
  void start_provider() {
    tern::ProviderOptions po;
    po.server.listen = "127.0.0.1:0";
    po.server.io_threads = 1;
    po.registry = registry_url;
    provider = std::make_unique<tern::Provider>(po);
    ASSERT_TRUE(provider->expose<Pricing>(impl).is_ok());
    ASSERT_TRUE(provider->start().is_ok());
  }
  void TearDown() override {
    client.reset();
    if (provider) provider->shutdown(std::chrono::milliseconds(0));
    if (registry) registry->shutdown();
  }
  std::string expected_mismatch() const {
    return "contract mismatch with provider 127.0.0.1:" + std::to_string(provider->port()) +
           " of terntest.Pricing: price: consumer price(int32)->int32, provider price(int32)->double";
  }
  tern::ReferenceOptions with_check(std::string check) {
    auto o = testutil::failfast();
    o.contract_check = std::move(check);
    return o;
  }
  std::shared_ptr<contract::PricingImpl> impl = std::make_shared<contract::PricingImpl>();
  std::unique_ptr<tern::RegistryServer> registry;
  std::string registry_url;
  std::unique_ptr<tern::Provider> provider;
  std::unique_ptr<tern::Client> client;
};

TEST_F(ContractRegistryFixture, ProviderUrlAnnouncesItsContract) {
  ASSERT_EQ(provider->urls().size(), 1u);
  auto own = tern::method_contracts(tern::reflection::describe_interface<Pricing>());
  EXPECT_EQ(provider->urls()[0].param("contract"), "price(int32)->double@" + own[0].digest);
}

TEST_F(ContractRegistryFixture, MatchingConsumerLogsNothing) {
  LogCapture log;
  auto p = client->refer<Pricing>(registry_url, with_check("strict"));
  ASSERT_TRUE(p.has_value()) << p.status();
  auto r = p->call<&Pricing::price>(2);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, 3.0);
  EXPECT_EQ(log.count("contract mismatch"), 0);
}

// Default "warn": one warning naming the method and both signatures; the
// provider stays in use (the call then fails on the value, as above).
TEST_F(ContractRegistryFixture, WarnModeLogsOnceAndKeepsTheProvider) {
  LogCapture log;
  auto p = client->refer<PricingIntResult>(registry_url, testutil::failfast());
  ASSERT_TRUE(p.has_value()) << p.status();
  EXPECT_EQ(log.count(expected_mismatch()), 1);
  EXPECT_EQ(p->reference()->providers().size(), 1u);
  // Calls do not warn again.
  auto r = p->call<&PricingIntResult::price>(5);
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(log.count(expected_mismatch()), 1);
}

TEST_F(ContractRegistryFixture, StrictModeRefusesAtRefer) {
  LogCapture log;
  auto p = client->refer<PricingIntResult>(registry_url, with_check("strict"));
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.status().code(), tern::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.status().message(),
            "contract mismatch for service 'terntest.Pricing' (contract_check=strict): provider 127.0.0.1:" +
                std::to_string(provider->port()) + ": price: consumer price(int32)->int32, provider price(int32)->double");
  EXPECT_EQ(impl->calls.load(), 0);
}

// A mismatching provider that arrives by a push (after refer()) is left out
// in strict mode: calls fail FAILED_PRECONDITION naming the mismatch and
// never reach it.
TEST_F(ContractRegistryFixture, StrictModeLeavesOutAProviderThatArrivesLater) {
  provider->shutdown(std::chrono::milliseconds(0));  // unregistered
  auto p = client->refer<PricingIntResult>(registry_url, with_check("strict"));
  ASSERT_TRUE(p.has_value()) << p.status();
  EXPECT_EQ(p->call<&PricingIntResult::price>(1).status().code(), tern::StatusCode::kUnavailable);

  LogCapture log;
  start_provider();
  ASSERT_TRUE(testutil::wait_until([&] { return log.count(expected_mismatch()) == 1; }, std::chrono::seconds(10)));
  EXPECT_TRUE(p->reference()->providers().empty());
  auto r = p->call<&PricingIntResult::price>(1);
  EXPECT_EQ(r.status().code(), tern::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("matches this consumer's contract: provider 127.0.0.1:"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(impl->calls.load(), 0);
}

TEST_F(ContractRegistryFixture, OffChecksNothingAndBadValuesAreRefused) {
  LogCapture log;
  auto p = client->refer<PricingIntResult>(registry_url, with_check("off"));
  ASSERT_TRUE(p.has_value()) << p.status();
  EXPECT_EQ(p->reference()->providers().size(), 1u);
  EXPECT_EQ(log.count("contract mismatch"), 0);
  auto bad = client->refer<PricingIntResult>(registry_url, with_check("loose"));
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "contract_check must be warn, strict or off, not 'loose'");
}

}  // namespace
