// The circuit breaker over real calls (docs/load-balancing.md, "Circuit
// breaking"): a provider that answers INTERNAL to every add() is taken out of
// the rotation once its failure rate over the window is judged, and calls go
// to the healthy one; with the breaker off, the same provider stays in.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {

struct Flaky : testsvc::CalculatorImpl {
  explicit Flaky(bool fail) : fail(fail) {}
  bool fail;
  std::atomic<int> adds{0};
  int add(int a, int b) override {
    adds.fetch_add(1);
    if (fail) throw std::runtime_error("broken provider");
    return a + b;
  }
};

struct Pair {
  std::shared_ptr<Flaky> good = std::make_shared<Flaky>(false);
  std::shared_ptr<Flaky> bad = std::make_shared<Flaky>(true);
  std::unique_ptr<tern::Server> good_server = testutil::start_server(good);
  std::unique_ptr<tern::Server> bad_server = testutil::start_server(bad);
  std::string url() const { return testutil::direct({good_server->port(), bad_server->port()}); }
};

tern::ReferenceOptions round_robin_failfast() {
  tern::ReferenceOptions o;
  o.cluster = "failfast";  // every failure reaches the caller: the counts are exact
  o.load_balance = "round_robin";
  o.eject_after = 0;       // only the breaker takes a provider out
  o.eject_backoff = 10s;   // no probe within the test
  o.eject_backoff_max = 10s;
  return o;
}

TEST(CircuitBreakerE2E, AProviderFailingEveryCallLeavesTheRotationAfterMinCalls) {
  Pair p;
  tern::Client client(testutil::one_io());
  auto o = round_robin_failfast();
  o.breaker_window = 10;
  o.breaker_min_calls = 10;
  o.breaker_failure_rate = 0.5;
  auto calc = client.refer<Calculator>(p.url(), o).value();
  int failed = 0;
  for (int i = 0; i < 60; ++i) {
    auto r = calc.call<&Calculator::add>(i, 1);
    if (!r.has_value()) {
      EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal) << r.status();
      ++failed;
    } else {
      EXPECT_EQ(*r, i + 1);
    }
  }
  // Round robin alternates until the bad provider has 10 answers in its
  // window, all failures: then it is open, and the rest go to the good one.
  EXPECT_EQ(p.bad->adds.load(), 10);
  EXPECT_EQ(failed, 10);
  EXPECT_EQ(p.good->adds.load(), 50);
  bool bad_ejected = false;
  for (auto& s : calc.reference()->provider_stats()) {
    if (s.url.address() == "127.0.0.1:" + std::to_string(p.bad_server->port())) bad_ejected = s.ejected;
  }
  EXPECT_TRUE(bad_ejected);
}

TEST(CircuitBreakerE2E, OffByDefaultTheFailingProviderKeepsItsShare) {
  Pair p;
  tern::Client client(testutil::one_io());
  auto calc = client.refer<Calculator>(p.url(), round_robin_failfast()).value();
  for (int i = 0; i < 40; ++i) (void)calc.call<&Calculator::add>(i, 1);
  EXPECT_EQ(p.bad->adds.load(), 20);
  EXPECT_EQ(p.good->adds.load(), 20);
}

TEST(CircuitBreakerE2E, OutOfRangeSettingsAreInvalidArgument) {
  tern::Client client(testutil::one_io());
  auto o = round_robin_failfast();
  o.breaker_window = 10;
  o.breaker_min_calls = 11;
  auto r = client.refer<Calculator>(testutil::direct({1}), o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "breaker_min_calls must be in [1, breaker_window]");
  o.breaker_min_calls = 5;
  o.breaker_failure_rate = 0;
  auto r2 = client.refer<Calculator>(testutil::direct({1}), o);
  ASSERT_FALSE(r2.has_value());
  EXPECT_EQ(r2.status().message(), "breaker_failure_rate must be in (0, 1]");
}

}  // namespace
