// Metrics storage, histogram math and the metrics filters on a real
// provider and consumer.
#include "tern/monitor/metrics.h"

#include <gtest/gtest.h>

#include <thread>

#include "tern/client.h"
#include "tern/server.h"
#include "test_services.h"

namespace tern::monitor {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;

TEST(Histogram, BucketIndexIsLogScaleInMicroseconds) {
  EXPECT_EQ(latency_bucket_index(nanoseconds(0)), 0u);
  EXPECT_EQ(latency_bucket_index(nanoseconds(1000)), 0u);   // <= 1 us
  EXPECT_EQ(latency_bucket_index(nanoseconds(1001)), 1u);   // (1, 2] us
  EXPECT_EQ(latency_bucket_index(microseconds(2)), 1u);
  EXPECT_EQ(latency_bucket_index(microseconds(3)), 2u);     // (2, 4]
  EXPECT_EQ(latency_bucket_index(microseconds(1024)), 10u);
  EXPECT_EQ(latency_bucket_index(microseconds(1025)), 11u);
  EXPECT_EQ(latency_bucket_index(std::chrono::hours(1)), kLatencyBuckets - 1);  // +Inf
  EXPECT_DOUBLE_EQ(latency_bucket_bound(0), 1e-6);
  EXPECT_DOUBLE_EQ(latency_bucket_bound(10), 1024e-6);
  EXPECT_TRUE(std::isinf(latency_bucket_bound(kLatencyBuckets - 1)));
}

TEST(Histogram, QuantilesInterpolateInsideTheirBucket) {
  std::array<std::uint64_t, kLatencyBuckets> b{};
  EXPECT_EQ(histogram_quantile(b, 0.5), 0.0);
  b[10] = 100;  // all in (512, 1024] us
  EXPECT_NEAR(histogram_quantile(b, 0.5), 768e-6, 1e-12);
  EXPECT_NEAR(histogram_quantile(b, 1.0), 1024e-6, 1e-12);
  b[20] = 1;    // one outlier in (2^19, 2^20] us
  EXPECT_LE(histogram_quantile(b, 0.99), 1024e-6);
  EXPECT_GT(histogram_quantile(b, 0.999), 524288e-6);
}

TEST(MetricsRegistry, CountsCallsErrorsAndInFlight) {
  MetricsRegistry reg;
  auto& m = reg.method(Side::kProvider, "Svc", "m");
  EXPECT_EQ(&m, &reg.method(Side::kProvider, "Svc", "m"));  // same entry (cache)
  EXPECT_NE(&m, &reg.method(Side::kConsumer, "Svc", "m"));  // sides are separate
  m.on_start();
  m.on_start();
  m.on_finish(StatusCode::kOk, microseconds(100));
  auto snap = reg.snapshot();
  ASSERT_EQ(snap.size(), 2u);
  EXPECT_EQ(snap[0].side, Side::kProvider);
  EXPECT_EQ(snap[0].calls, 1u);
  EXPECT_EQ(snap[0].in_flight, 1);
  m.on_finish(StatusCode::kInternal, microseconds(300));
  m.record(StatusCode::kDeadlineExceeded, milliseconds(5));
  snap = reg.snapshot();
  EXPECT_EQ(snap[0].calls, 3u);
  EXPECT_EQ(snap[0].in_flight, 0);
  EXPECT_EQ(snap[0].errors, 2u);
  EXPECT_EQ(snap[0].errors_by_code.at(StatusCode::kInternal), 1u);
  EXPECT_EQ(snap[0].errors_by_code.at(StatusCode::kDeadlineExceeded), 1u);
  EXPECT_EQ(snap[0].latency_count, 3u);
  EXPECT_NEAR(snap[0].latency_sum_seconds, 0.0054, 1e-9);
}

TEST(MetricsRegistry, ConcurrentUpdatesAreNotLost) {
  auto reg = std::make_shared<MetricsRegistry>();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        auto& m = reg->method(Side::kConsumer, "S", i % 2 ? "a" : "b");
        m.on_start();
        m.on_finish(t == 0 && i % 100 == 0 ? StatusCode::kUnavailable : StatusCode::kOk, microseconds(i % 50));
      }
    });
  }
  for (auto& t : threads) t.join();
  std::uint64_t calls = 0, errors = 0;
  for (auto& s : reg->snapshot()) {
    calls += s.calls;
    errors += s.errors;
    EXPECT_EQ(s.in_flight, 0);
  }
  EXPECT_EQ(calls, 40000u);
  EXPECT_EQ(errors, 100u);
}

TEST(MetricsFilters, ProviderAndConsumerSideCountTheSameCalls) {
  auto metrics = std::make_shared<MetricsRegistry>();
  ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 2;
  so.filters.push_back(std::make_shared<MetricsServerFilter>(metrics));
  Server server(so);
  ASSERT_TRUE(server.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());

  ClientOptions co;
  co.io_threads = 1;
  co.filters.push_back(std::make_shared<MetricsClientFilter>(metrics));
  Client client(co);
  auto calc = client.refer<testsvc::Calculator>("direct://127.0.0.1:" + std::to_string(server.port())).value();
  for (int i = 0; i < 7; ++i) ASSERT_EQ(calc.call<&testsvc::Calculator::add>(i, 1).value(), i + 1);
  for (int i = 0; i < 3; ++i) {
    auto r = calc.call<&testsvc::Calculator::fail>(std::string("boom"));
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  }
  const std::string svc(ServiceTraits<testsvc::Calculator>::name);
  // The provider runs on_response just after sending the response: let it finish.
  for (int i = 0; i < 200; ++i) {
    std::uint64_t provider_calls = 0;
    for (auto& s : metrics->snapshot()) {
      if (s.side == Side::kProvider) provider_calls += s.calls;
    }
    if (provider_calls == 10) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  std::map<std::pair<Side, std::string>, MethodSnapshot> by;
  for (auto& s : metrics->snapshot()) {
    EXPECT_EQ(s.service, svc);
    by[{s.side, s.method}] = s;
  }
  for (Side side : {Side::kProvider, Side::kConsumer}) {
    SCOPED_TRACE(std::string(side_name(side)));
    auto& add = by.at({side, "add"});
    EXPECT_EQ(add.calls, 7u);
    EXPECT_EQ(add.errors, 0u);
    EXPECT_EQ(add.in_flight, 0);
    EXPECT_EQ(add.latency_count, 7u);
    auto& fail = by.at({side, "fail"});
    EXPECT_EQ(fail.calls, 3u);
    EXPECT_EQ(fail.errors, 3u);
    EXPECT_EQ(fail.errors_by_code.at(StatusCode::kInternal), 3u);
    EXPECT_GT(fail.p50, 0.0);
  }
  // Bytes: whole frames. add(i, 1) with i < 7: a request of the 24-byte
  // header, metadata {service, method} and the msgpack body [i, 1] (3 bytes);
  // a response of the header and one msgpack fixint. Plus the `traceparent`
  // attachment every call carries by default (docs/tracing.md): 2 + 11 + 2 + 55 bytes.
  const std::uint64_t request = 24 + (2 + 7 + 2 + svc.size()) + (2 + 6 + 2 + 3) + 3 + (2 + 11 + 2 + 55);
  const std::uint64_t response = 24 + 1;
  auto& p_add = by.at({Side::kProvider, "add"});
  auto& c_add = by.at({Side::kConsumer, "add"});
  EXPECT_EQ(p_add.bytes_in, 7 * request);
  EXPECT_EQ(p_add.bytes_out, 7 * response);
  EXPECT_EQ(c_add.bytes_out, 7 * request);
  EXPECT_EQ(c_add.bytes_in, 7 * response);
  // Errors carry their message as the body: "boom" came back in each response.
  auto& p_fail = by.at({Side::kProvider, "fail"});
  auto& c_fail = by.at({Side::kConsumer, "fail"});
  EXPECT_EQ(p_fail.bytes_out, c_fail.bytes_in);
  EXPECT_GE(c_fail.bytes_in, 3 * (24 + 4));
  EXPECT_EQ(p_fail.bytes_in, c_fail.bytes_out);
  server.shutdown(milliseconds(0));
}

}  // namespace
}  // namespace tern::monitor
