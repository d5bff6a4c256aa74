// The admin endpoint: /metrics parsed back with exact values after a known
// number of calls, label escaping, /status JSON, /health, 404/400/405/431.
#include "tern/monitor/admin_server.h"

#include <gtest/gtest.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "monitor_util.h"
#include "tern/client.h"
#include "tern/monitor/exposition.h"
#include "test_services.h"

namespace tern::monitor {
namespace {

using std::chrono::milliseconds;

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    p_ = montest::start_monitored_provider("");
    ASSERT_TRUE(p_.provider);
    ClientOptions co;
    co.io_threads = 1;
    client_ = std::make_unique<Client>(co);
    calc_ = std::make_unique<Proxy<testsvc::Calculator>>(
        client_->refer<testsvc::Calculator>("direct://127.0.0.1:" + std::to_string(p_.provider->port())).value());
    svc_ = std::string(ServiceTraits<testsvc::Calculator>::name);
  }
  void TearDown() override {
    calc_.reset();
    client_.reset();
    if (p_.provider) p_.provider->shutdown(milliseconds(0));
  }

  // Makes `ok` add calls and `errors` fail calls, then waits until the
  // provider has counted all of them (on_response runs just after the answer).
  void make_calls(int ok, int errors) {
    for (int i = 0; i < ok; ++i) ASSERT_EQ(calc_->call<&testsvc::Calculator::add>(i, i).value(), 2 * i);
    for (int i = 0; i < errors; ++i) {
      ASSERT_EQ(calc_->call<&testsvc::Calculator::fail>(std::string("no")).status().code(), StatusCode::kInternal);
    }
    for (int i = 0; i < 300; ++i) {
      std::uint64_t calls = 0;
      for (auto& s : p_.admin->metrics()->snapshot()) calls += s.calls;
      if (calls == static_cast<std::uint64_t>(ok + errors)) return;
      std::this_thread::sleep_for(milliseconds(10));
    }
    FAIL() << "provider did not count every call";
  }

  HttpResponse get(const std::string& path) {
    auto r = http_get(p_.admin->address(), path, milliseconds(2000));
    EXPECT_TRUE(r.has_value()) << r.status();
    return r ? *r : HttpResponse{};
  }

  std::string labels(const std::string& method) { return "{service=\"" + svc_ + "\",method=\"" + method + "\""; }

  montest::MonitoredProvider p_;
  std::unique_ptr<Client> client_;
  std::unique_ptr<Proxy<testsvc::Calculator>> calc_;
  std::string svc_;
};

TEST_F(AdminServerTest, MetricsAreValidPrometheusTextWithExactValues) {
  make_calls(12, 5);
  auto r = get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string error;
  ASSERT_TRUE(montest::parse_prometheus(r.body, &samples, &types, &error)) << error << "\n" << r.body;

  EXPECT_EQ(types["tern_provider_calls_total"], "counter");
  EXPECT_EQ(types["tern_provider_errors_total"], "counter");
  EXPECT_EQ(types["tern_provider_in_flight"], "gauge");
  EXPECT_EQ(types["tern_provider_latency_seconds"], "histogram");
  EXPECT_EQ(types["tern_uptime_seconds"], "gauge");

  EXPECT_EQ(samples.at("tern_provider_calls_total" + labels("add") + "}"), 12);
  EXPECT_EQ(samples.at("tern_provider_calls_total" + labels("fail") + "}"), 5);
  EXPECT_EQ(samples.at("tern_provider_errors_total" + labels("fail") + ",code=\"INTERNAL\"}"), 5);
  EXPECT_EQ(samples.count("tern_provider_errors_total" + labels("add") + ",code=\"INTERNAL\"}"), 0u);
  EXPECT_EQ(samples.at("tern_provider_in_flight" + labels("add") + "}"), 0);
  EXPECT_EQ(samples.at("tern_provider_latency_seconds_count" + labels("add") + "}"), 12);
  EXPECT_EQ(samples.at("tern_provider_latency_seconds_bucket" + labels("add") + ",le=\"+Inf\"}"), 12);
  EXPECT_EQ(samples.at("tern_provider_latency_seconds_count" + labels("fail") + "}"), 5);
  EXPECT_GT(samples.at("tern_provider_latency_seconds_sum" + labels("add") + "}"), 0);
  EXPECT_GT(samples.at("tern_uptime_seconds"), 0);
  EXPECT_EQ(types["tern_provider_received_bytes_total"], "counter");
  EXPECT_EQ(types["tern_provider_sent_bytes_total"], "counter");
  // Every add response is the 24-byte header and a one-byte msgpack fixint
  // (results 0..22); requests are larger than a bare header.
  EXPECT_GT(samples.at("tern_provider_received_bytes_total" + labels("add") + "}"), 12 * 24);
  EXPECT_EQ(samples.at("tern_provider_sent_bytes_total" + labels("add") + "}"), 12 * 25);

  // Buckets are cumulative and non-decreasing, ending at the count.
  double prev = 0;
  int buckets = 0;
  for (auto& [k, v] : samples) {
    if (k.rfind("tern_provider_latency_seconds_bucket" + labels("add"), 0) != 0) continue;
    ++buckets;
    (void)prev;
  }
  EXPECT_EQ(buckets, static_cast<int>(kLatencyBuckets));
  for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
    std::string le = i + 1 == kLatencyBuckets ? "+Inf" : fmt::format("{}", latency_bucket_bound(i));
    double v = samples.at("tern_provider_latency_seconds_bucket" + labels("add") + ",le=\"" + le + "\"}");
    EXPECT_GE(v, prev) << le;
    prev = v;
  }
  EXPECT_EQ(prev, 12);
}

TEST(Exposition, LabelValuesAreEscaped) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  MetricsRegistry reg;
  reg.method(Side::kConsumer, "we\"ird\\svc", "line\nbreak").record(StatusCode::kUnavailable, milliseconds(1));
  std::string text = to_prometheus_text(reg.snapshot(), 1.5);
  const std::string l = R"({service="we\"ird\\svc",method="line\nbreak")";
  EXPECT_NE(text.find("tern_consumer_calls_total" + l + "} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("tern_consumer_errors_total" + l + R"(,code="UNAVAILABLE"} 1)" + "\n"), std::string::npos);
  EXPECT_NE(text.find("tern_consumer_latency_seconds_bucket" + l + R"(,le="0.001024"} 1)"), std::string::npos);
  EXPECT_NE(text.find("tern_uptime_seconds 1.5\n"), std::string::npos);
  // Every line is either a comment or "name{...} value": no raw newline leaked out of a label.
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::string error;
  EXPECT_TRUE(montest::parse_prometheus(text, &samples, &types, &error)) << error;
  // And the status JSON round-trips the odd names.
  auto back = parse_status_json(to_status_json(reg.snapshot(), 1.5));
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].service, "we\"ird\\svc");
  EXPECT_EQ((*back)[0].method, "line\nbreak");
  EXPECT_EQ((*back)[0].side, Side::kConsumer);
}

TEST_F(AdminServerTest, StatusJsonHasTheCountersAndPercentiles) {
  make_calls(20, 2);
  auto r = get("/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  auto doc = nlohmann::json::parse(r.body);
  EXPECT_GT(doc["uptime_seconds"].get<double>(), 0);
  EXPECT_EQ(doc["bucket_bounds_seconds"].size(), kLatencyBuckets - 1);
  ASSERT_EQ(doc["services"].size(), 1u);
  auto& svc = doc["services"][0];
  EXPECT_EQ(svc["name"], svc_);
  EXPECT_EQ(svc["side"], "provider");
  std::map<std::string, nlohmann::json> methods;
  for (auto& m : svc["methods"]) methods[m["name"].get<std::string>()] = m;
  ASSERT_EQ(methods.size(), 2u);
  auto& add = methods["add"];
  EXPECT_EQ(add["calls"], 20);
  EXPECT_EQ(add["errors"], 0);
  EXPECT_EQ(add["in_flight"], 0);
  EXPECT_EQ(add["latency"]["count"], 20);
  std::uint64_t bucket_sum = 0;
  for (auto& b : add["latency"]["buckets"]) bucket_sum += b.get<std::uint64_t>();
  EXPECT_EQ(bucket_sum, 20u);
  double p50 = add["latency"]["p50_ms"], p90 = add["latency"]["p90_ms"], p99 = add["latency"]["p99_ms"],
         p999 = add["latency"]["p999_ms"];
  EXPECT_GT(p50, 0);
  EXPECT_LE(p50, p90);
  EXPECT_LE(p90, p99);
  EXPECT_LE(p99, p999);
  EXPECT_LT(p999, 1000);  // a local add takes well under a second
  auto& fail = methods["fail"];
  EXPECT_EQ(fail["calls"], 2);
  EXPECT_EQ(fail["errors"], 2);
  EXPECT_EQ(fail["errors_by_code"]["INTERNAL"], 2);
}

TEST_F(AdminServerTest, HealthSaysOk) {
  auto r = get("/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(r.headers["connection"], "close");
}

TEST_F(AdminServerTest, UnknownPathIs404) {
  auto r = get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(get("/metrics/extra").status, 404);
  EXPECT_EQ(get("/metrics?x=1").status, 200);  // the query is not part of the path
}

TEST_F(AdminServerTest, BadRequestsAre400AndOtherMethods405) {
  auto expect_status = [&](const std::string& raw, const std::string& status_line) {
    auto r = http_exchange(p_.admin->address(), raw, milliseconds(2000));
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(r->substr(0, r->find("\r\n")), status_line) << raw;
  };
  expect_status("GARBAGE\r\n\r\n", "HTTP/1.1 400 Bad Request");
  expect_status("GET /metrics\r\n\r\n", "HTTP/1.1 400 Bad Request");                   // no version
  expect_status("GET metrics HTTP/1.1\r\n\r\n", "HTTP/1.1 400 Bad Request");           // not a path
  expect_status("GET /metrics HTTP/2.0\r\n\r\n", "HTTP/1.1 400 Bad Request");
  expect_status("GET /metrics HTTP/1.1\r\nno colon here\r\n\r\n", "HTTP/1.1 400 Bad Request");
  expect_status("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "HTTP/1.1 405 Method Not Allowed");
  expect_status("GET /health HTTP/1.0\r\n\r\n", "HTTP/1.1 200 OK");
  std::string huge = "GET /metrics HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  expect_status(huge, "HTTP/1.1 431 Request Header Fields Too Large");
}

TEST(AdminServer, ReportsBindErrors) {
  HttpServerOptions o;
  o.listen = "not an address:x";
  AdminServer bad(std::make_shared<MetricsRegistry>(), o);
  EXPECT_EQ(bad.start().code(), StatusCode::kInvalidArgument);
  AdminServer first(std::make_shared<MetricsRegistry>());
  ASSERT_TRUE(first.start().is_ok());
  HttpServerOptions same;
  same.listen = first.address().to_string();
  AdminServer second(std::make_shared<MetricsRegistry>(), same);
  EXPECT_EQ(second.start().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace tern::monitor
