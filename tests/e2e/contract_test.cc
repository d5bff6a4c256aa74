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

#include "loopback.h"
#include "tern/client.h"
#include "tern/server.h"

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

}  // namespace
