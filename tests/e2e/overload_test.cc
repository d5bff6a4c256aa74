// Overload protection on the provider (tern/overload.h): brpc's auto
// concurrency limit driven by made-up samples, the token bucket, and fixed,
// rate and adaptive limits over real calls, with the consumer's failover
// taking a refused call to another provider.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "loopback.h"
#include "server/overload/method_limiter.h"
#include "tern/client.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using tern::server_impl::AutoConcurrencyLimit;
using tern::server_impl::LimitClock;
using tern::server_impl::TokenBucket;
using testsvc::Calculator;

namespace {

// Feeds `limit` one window's worth of answers: `qps` calls per second, each
// answered `latency` after it arrived and `service` after its handler
// started (latency - service: time queued), for `window`; returns the time
// after it.
LimitClock::time_point feed(AutoConcurrencyLimit& limit, LimitClock::time_point t, double qps,
                            std::chrono::microseconds latency, std::chrono::milliseconds window,
                            std::chrono::microseconds service = std::chrono::microseconds(0)) {
  if (service.count() == 0) service = latency;
  const auto gap = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / qps));
  const auto end = t + window;
  while (t < end) {
    t += gap;
    limit.on_sample(latency, service, t);
  }
  return t;
}

AutoConcurrencyLimit::Options windows_of_100ms() {
  AutoConcurrencyLimit::Options o;
  o.window = 100ms;
  o.min_samples = 20;
  o.max_samples = 1000;
  o.remeasure_interval = 3600s;  // not during these tests unless asked
  return o;
}

// At no load the limit settles near Little's law with the exploration
// margin: 800 calls/s x 5 ms x (1 + 0.3) = 5.2 -> 6 (not the initial 40).
// Queueing (latency up 4x at the same throughput) drops it to the floor in
// one window; back at 5 ms it grows back.
TEST(AutoConcurrencyLimit, FollowsLatencyAndThroughput) {
  AutoConcurrencyLimit limit(windows_of_100ms());
  EXPECT_EQ(limit.limit(), 40);
  LimitClock::time_point t{};
  t += 1s;
  for (int w = 0; w < 10; ++w) t = feed(limit, t, 800, 5000us, 100ms);
  EXPECT_NEAR(limit.min_latency_us(), 5000, 1);
  EXPECT_NEAR(limit.max_qps(), 800, 20);
  EXPECT_GE(limit.limit(), 5);
  EXPECT_LE(limit.limit(), 7);

  t = feed(limit, t, 800, 20000us, 100ms, 5000us);  // 15 ms queued
  t = feed(limit, t, 800, 20000us, 100ms, 5000us);
  EXPECT_EQ(limit.limit(), 4);  // the floor
  EXPECT_NEAR(limit.min_latency_us(), 5000, 1);  // queueing is not the method's cost

  for (int w = 0; w < 5; ++w) t = feed(limit, t, 800, 5000us, 100ms);
  EXPECT_GE(limit.limit(), 5);
  EXPECT_LE(limit.limit(), 7);
}

// Fewer answers than min_samples in a window say nothing: the limit stays.
TEST(AutoConcurrencyLimit, SparseTrafficKeepsTheLimit) {
  AutoConcurrencyLimit limit(windows_of_100ms());
  LimitClock::time_point t{};
  for (int w = 0; w < 20; ++w) t = feed(limit, t, 100, 5000us, 100ms);  // 10 per window
  EXPECT_EQ(limit.limit(), 40);
  EXPECT_EQ(limit.min_latency_us(), 0);
}

// The no-load latency is measured again every remeasure_interval, so a
// method that became permanently slower is learnt (without it, the old 5 ms
// would stay the minimum for ever).
TEST(AutoConcurrencyLimit, RemeasuresTheNoLoadLatency) {
  auto o = windows_of_100ms();
  o.remeasure_interval = 1s;
  AutoConcurrencyLimit limit(o);
  LimitClock::time_point t{};
  t += 1s;
  for (int w = 0; w < 5; ++w) t = feed(limit, t, 800, 5000us, 100ms);
  EXPECT_NEAR(limit.min_latency_us(), 5000, 1);
  for (int w = 0; w < 30; ++w) t = feed(limit, t, 400, 10000us, 100ms);
  EXPECT_NEAR(limit.min_latency_us(), 10000, 1);
}

TEST(AutoConcurrencyLimit, MaxLimitCapsIt) {
  auto o = windows_of_100ms();
  o.max_limit = 3;
  AutoConcurrencyLimit limit(o);
  EXPECT_EQ(limit.limit(), 3);
  LimitClock::time_point t{};
  for (int w = 0; w < 5; ++w) t = feed(limit, t, 2000, 20000us, 100ms);
  EXPECT_EQ(limit.limit(), 3);
}

TEST(TokenBucket, RefillsAtItsRateUpToItsBurst) {
  LimitClock::time_point t{};
  t += 1s;
  TokenBucket one(10, 1);  // 10 per second, burst 1
  EXPECT_TRUE(one.try_take(t));
  EXPECT_FALSE(one.try_take(t));
  EXPECT_FALSE(one.try_take(t + 50ms));
  EXPECT_TRUE(one.try_take(t + 100ms));
  EXPECT_FALSE(one.try_take(t + 100ms));

  TokenBucket ten(100, 10);
  int taken = 0;
  for (int i = 0; i < 20; ++i) taken += ten.try_take(t);
  EXPECT_EQ(taken, 10);
  taken = 0;
  for (int i = 0; i < 20; ++i) taken += ten.try_take(t + 10s);  // a long pause refills the burst only
  EXPECT_EQ(taken, 10);
}

std::unique_ptr<tern::Server> limited_server(tern::ServiceOptions so, std::size_t workers = 4) {
  tern::ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.io_threads = 1;
  o.worker_threads = workers;
  auto server = std::make_unique<tern::Server>(o);
  EXPECT_TRUE(server->expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>(), so).is_ok());
  auto st = server->start();
  EXPECT_TRUE(st.is_ok()) << st;
  return server;
}

// max_concurrency: the third concurrent call is refused at once, not
// executed; another method of the service is not limited; slots come back.
TEST(MethodLimits, MaxConcurrencyRefusesTheCallOverIt) {
  tern::ServiceOptions so;
  so.method_limits["sleep_ms"] = {.max_concurrency = 2};
  auto server = limited_server(so);
  tern::Client client(testutil::one_io());
  auto calc = client.refer<Calculator>(testutil::direct(*server), testutil::failfast()).value();
  // One connection, read in order: the two calls reach the limiter first.
  auto a = calc.async_call<&Calculator::sleep_ms>(300);
  auto b = calc.async_call<&Calculator::sleep_ms>(300);
  auto refused = calc.call<&Calculator::sleep_ms>(1);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.status().code(), tern::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), "method testsvc::Calculator.sleep_ms: 2 calls in flight (max_concurrency 2)");
  EXPECT_FALSE(refused.status().may_have_executed());
  EXPECT_EQ(calc.call<&Calculator::add>(1, 2).value(), 3);
  auto state = server->limit_state("testsvc::Calculator", "sleep_ms");
  ASSERT_TRUE(state.has_value());
  EXPECT_EQ(state->concurrency_limit, 2);
  EXPECT_EQ(state->in_flight, 2);
  EXPECT_FALSE(server->limit_state("testsvc::Calculator", "add").has_value());

  EXPECT_EQ(a.get().value(), "slept 300");
  EXPECT_EQ(b.get().value(), "slept 300");
  EXPECT_EQ(calc.call<&Calculator::sleep_ms>(1).value(), "slept 1");
  EXPECT_EQ(server->limit_state("testsvc::Calculator", "sleep_ms")->in_flight, 0);
  EXPECT_EQ(server->stats().rejected_limit, 1u);
}

TEST(MethodLimits, MaxQpsRefusesOverTheRate) {
  tern::ServiceOptions so;
  so.limit.max_qps = 1;  // every method: burst 1, then one per second
  auto server = limited_server(so);
  tern::Client client(testutil::one_io());
  auto calc = client.refer<Calculator>(testutil::direct(*server), testutil::failfast()).value();
  EXPECT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  auto refused = calc.call<&Calculator::add>(1, 1);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.status().code(), tern::StatusCode::kResourceExhausted);
  EXPECT_EQ(refused.status().message(), "method testsvc::Calculator.add: over 1 calls per second (max_qps 1)");
  EXPECT_EQ(calc.call<&Calculator::greet>("x").value(), "hello, x");  // its own bucket
  EXPECT_EQ(server->stats().rejected_limit, 1u);
}

TEST(MethodLimits, BadOverridesFailStart) {
  tern::ServerOptions o;
  o.listen = "127.0.0.1:0";
  tern::ServiceOptions unknown;
  unknown.method_limits["nope"] = {.max_concurrency = 1};
  tern::Server a(o);
  ASSERT_TRUE(a.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>(), unknown).is_ok());
  auto st = a.start();
  EXPECT_EQ(st.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(), "service 'testsvc::Calculator': method_limits names no method of it: 'nope'");
  tern::ServiceOptions negative;
  negative.limit.max_concurrency = -1;
  tern::Server b(o);
  ASSERT_TRUE(b.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>(), negative).is_ok());
  EXPECT_EQ(b.start().code(), tern::StatusCode::kInvalidArgument);
}

// A refused call is not executed, so failover takes it to the other
// provider: every call succeeds although provider A refuses some.
TEST(MethodLimits, FailoverRetriesARefusedCallElsewhere) {
  tern::ServiceOptions one_at_a_time;
  one_at_a_time.method_limits["sleep_ms"] = {.max_concurrency = 1};
  auto a = limited_server(one_at_a_time);
  auto b = limited_server({});
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.load_balance = "round_robin";
  ro.retries = 1;
  auto calc = client.refer<Calculator>(testutil::direct({a->port(), b->port()}), ro).value();
  std::vector<tern::Future<std::string>> calls;
  for (int i = 0; i < 6; ++i) calls.push_back(calc.async_call<&Calculator::sleep_ms>(200));
  for (auto& f : calls) EXPECT_EQ(f.get().value(), "slept 200");
  EXPECT_GE(a->stats().rejected_limit, 1u);
  EXPECT_EQ(b->stats().rejected_limit, 0u);
}

// The adaptive limit under 3x overload: 2 business threads and a 5 ms
// handler serve about 400 calls/s, while 24 closed-loop callers would keep
// 24 calls in flight. The limit comes down from its initial 40 to a few
// calls, the excess is refused (RESOURCE_EXHAUSTED, never another error),
// and accepted calls stop queueing behind 20 others. (Latency figures:
// docs/reliability.md; they are measured, not asserted here.)
TEST(MethodLimits, AdaptiveLimitComesDownUnderOverload) {
  tern::ServiceOptions so;
  so.method_limits["sleep_ms"] = {.adaptive = true};
  auto server = limited_server(so, /*workers=*/2);
  tern::Client client(testutil::one_io());
  auto calc = client.refer<Calculator>(testutil::direct(*server), testutil::failfast()).value();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, refused{0}, other{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 24; ++c) {
    callers.emplace_back([&] {
      while (!stop.load()) {
        auto r = calc.call<&Calculator::sleep_ms>(5);
        if (r.has_value()) {
          ++ok;
        } else if (r.status().code() == tern::StatusCode::kResourceExhausted) {
          ++refused;
          std::this_thread::sleep_for(1ms);  // a real consumer would go elsewhere
        } else {
          ++other;
        }
      }
    });
  }
  // Until the limit has come down (it starts at 40) and refused a call, at
  // most 20 s (stopping as soon as it came down could beat the first refusal
  // on a loaded machine).
  bool came_down = testutil::wait_until(
      [&] {
        auto s = server->limit_state("testsvc::Calculator", "sleep_ms");
        return s && s->concurrency_limit <= 12 && refused.load() > 0;
      },
      20s);
  stop = true;
  for (auto& t : callers) t.join();
  EXPECT_TRUE(came_down) << "limit " << server->limit_state("testsvc::Calculator", "sleep_ms")->concurrency_limit;
  EXPECT_GT(ok.load(), 0);
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(server->stats().rejected_limit, static_cast<std::uint64_t>(refused.load()));
}

}  // namespace
