// The Tracer's bounded queue and batching, the OTLP JSON encoding, the /rpcz
// store and the `tracing` config keys (tern/trace/tracer.h, otlp.h, rpcz.h).
#include "tern/trace/tracer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

#include "tern/config.h"
#include "tern/trace/otlp.h"
#include "wait_until.h"

using namespace tern::trace;
using namespace std::chrono_literals;
using json = nlohmann::json;

namespace {

SpanData span(std::uint64_t id, std::uint64_t duration_ns = 1000) {
  SpanData s;
  s.context = SpanContext{TraceId{0x1111, 0x2222}, SpanId{id}, kSampledFlag};
  s.kind = SpanKind::kClient;
  s.service = "Calc";
  s.method = "add";
  s.start_unix_nano = 1'700'000'000'000'000'000ULL;
  s.end_unix_nano = s.start_unix_nano + duration_ns;
  return s;
}

// A sender that blocks until released, recording what it got.
struct GateSender {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int entered = 0;
  std::vector<std::size_t> batch_sizes;
  tern::Status send(const std::string& body) {
    std::unique_lock lock(mu);
    ++entered;
    batch_sizes.push_back(json::parse(body)["resourceSpans"][0]["scopeSpans"][0]["spans"].size());
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    return {};
  }
  void release() {
    std::lock_guard lock(mu);
    open = true;
    cv.notify_all();
  }
  int entered_count() {
    std::lock_guard lock(mu);
    return entered;
  }
};

}  // namespace

TEST(Tracer, DefaultTracerRecordsNothing) {
  Tracer t;
  EXPECT_FALSE(t.recording());
  EXPECT_EQ(t.rpcz(), nullptr);
  t.record(span(1));
  EXPECT_TRUE(t.flush(10ms));
  EXPECT_EQ(t.stats().recorded, 1u);
  EXPECT_EQ(t.stats().exported, 0u);
  EXPECT_EQ(t.stats().dropped, 0u);
}

TEST(Tracer, QueueFullDropsAndCounts) {
  auto gate = std::make_shared<GateSender>();
  TracerOptions o;
  o.otlp_endpoint = "http://127.0.0.1:9";  // never contacted: the sender is replaced
  o.queue_capacity = 4;
  o.max_batch = 1;
  o.max_delay = 1ms;
  o.sender = [gate](const std::string&, const std::string& body) { return gate->send(body); };
  Tracer t(o);
  EXPECT_TRUE(t.recording());
  t.record(span(1));
  // The exporter takes span 1 and blocks in the sender: the queue is empty again.
  ASSERT_TRUE(testutil::wait_until([&] { return gate->entered_count() == 1; }));
  for (std::uint64_t i = 2; i <= 8; ++i) t.record(span(i));  // 4 fit, 3 are dropped
  auto s = t.stats();
  EXPECT_EQ(s.recorded, 8u);
  EXPECT_EQ(s.queued, 4u);
  EXPECT_EQ(s.dropped, 3u);
  gate->release();
  EXPECT_TRUE(t.flush(5s));
  s = t.stats();
  EXPECT_EQ(s.exported, 5u);
  EXPECT_EQ(s.dropped, 3u);
  EXPECT_EQ(s.queued, 0u);
}

TEST(Tracer, BatchesUpToMaxBatch) {
  auto gate = std::make_shared<GateSender>();
  gate->open = true;
  TracerOptions o;
  o.otlp_endpoint = "http://127.0.0.1:9";
  o.max_batch = 3;
  o.max_delay = 10s;  // only a full batch or the flush sends
  o.sender = [gate](const std::string&, const std::string& body) { return gate->send(body); };
  Tracer t(o);
  for (std::uint64_t i = 1; i <= 7; ++i) t.record(span(i));
  EXPECT_TRUE(t.flush(5s));
  std::lock_guard lock(gate->mu);
  std::size_t total = 0;
  for (auto n : gate->batch_sizes) {
    EXPECT_LE(n, 3u);
    total += n;
  }
  EXPECT_EQ(total, 7u);
  EXPECT_EQ(t.stats().exported, 7u);
}

TEST(Tracer, ShutdownIsBoundedWhenTheCollectorHangs) {
  auto gate = std::make_shared<GateSender>();  // never released before shutdown
  TracerOptions o;
  o.otlp_endpoint = "http://127.0.0.1:9";
  o.max_batch = 1;
  o.max_delay = 1ms;
  o.shutdown_timeout = 50ms;
  o.sender = [gate](const std::string&, const std::string& body) { return gate->send(body); };
  auto t = std::make_unique<Tracer>(o);
  t->record(span(1));
  ASSERT_TRUE(testutil::wait_until([&] { return gate->entered_count() == 1; }));
  t->record(span(2));
  std::thread releaser([gate] { gate->release(); });  // the POST in progress ends
  t->shutdown();
  releaser.join();
  auto s = t->stats();
  EXPECT_EQ(s.exported + s.dropped, 2u);
  t->record(span(3));  // after shutdown: dropped, not queued
  EXPECT_EQ(t->stats().queued, 0u);
}

TEST(Tracer, FailedExportIsCounted) {
  TracerOptions o;
  o.otlp_endpoint = "http://127.0.0.1:9";
  o.sender = [](const std::string&, const std::string&) { return tern::Status(tern::StatusCode::kUnavailable, "down"); };
  Tracer t(o);
  t.record(span(1));
  t.record(span(2));
  EXPECT_TRUE(t.flush(5s));
  EXPECT_EQ(t.stats().export_failures, 2u);
  EXPECT_EQ(t.stats().exported, 0u);
}

TEST(Otlp, JsonFieldNamesAndEncodings) {
  SpanData s = span(0xabc, 2500);
  s.parent = SpanId{0x42};
  s.peer = "10.0.0.5:20880";
  s.code = tern::StatusCode::kNotFound;
  s.message = "no such key";
  s.request_bytes = 60;
  s.response_bytes = 0;
  s.trace_state = "vendor=x";
  s.events.push_back(SpanEvent{s.start_unix_nano + 5, "retry", "10.0.0.6:20880"});
  json j = json::parse(to_otlp_json({s}, "svc"));
  const json& rs = j["resourceSpans"][0];
  EXPECT_EQ(rs["resource"]["attributes"][0]["key"], "service.name");
  EXPECT_EQ(rs["resource"]["attributes"][0]["value"]["stringValue"], "svc");
  EXPECT_EQ(rs["scopeSpans"][0]["scope"]["name"], "tern");
  const json& sp = rs["scopeSpans"][0]["spans"][0];
  EXPECT_EQ(sp["traceId"], "00000000000011110000000000002222");
  EXPECT_EQ(sp["spanId"], "0000000000000abc");
  EXPECT_EQ(sp["parentSpanId"], "0000000000000042");
  EXPECT_EQ(sp["name"], "Calc/add");
  EXPECT_EQ(sp["kind"], 3);
  EXPECT_EQ(sp["startTimeUnixNano"], "1700000000000000000");
  EXPECT_EQ(sp["endTimeUnixNano"], "1700000000000002500");
  EXPECT_EQ(sp["traceState"], "vendor=x");
  EXPECT_EQ(sp["status"]["code"], 2);  // a client span with a non-OK code is an error
  EXPECT_EQ(sp["status"]["message"], "no such key");
  std::map<std::string, json> attrs;
  for (const auto& a : sp["attributes"]) attrs[a["key"]] = a["value"];
  EXPECT_EQ(attrs["rpc.system"]["stringValue"], "tern");
  EXPECT_EQ(attrs["rpc.service"]["stringValue"], "Calc");
  EXPECT_EQ(attrs["rpc.method"]["stringValue"], "add");
  EXPECT_EQ(attrs["rpc.grpc.status_code"]["intValue"], "5");
  EXPECT_EQ(attrs["network.peer.address"]["stringValue"], "10.0.0.5");
  EXPECT_EQ(attrs["network.peer.port"]["intValue"], "20880");
  EXPECT_EQ(attrs["server.address"]["stringValue"], "10.0.0.5");
  EXPECT_EQ(attrs["server.port"]["intValue"], "20880");
  EXPECT_EQ(attrs["tern.request.size"]["intValue"], "60");
  EXPECT_EQ(attrs["tern.response.size"]["intValue"], "0");
  ASSERT_EQ(sp["events"].size(), 1u);
  EXPECT_EQ(sp["events"][0]["name"], "retry");
  EXPECT_EQ(sp["events"][0]["timeUnixNano"], "1700000000000000005");
  EXPECT_EQ(sp["events"][0]["attributes"][0]["value"]["stringValue"], "10.0.0.6:20880");

  // A server span answering NOT_FOUND is not an error (the caller's mistake);
  // INTERNAL is.
  s.kind = SpanKind::kServer;
  EXPECT_EQ(json::parse(to_otlp_json({s}, "svc"))["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"]["code"], 0);
  s.code = tern::StatusCode::kInternal;
  EXPECT_EQ(json::parse(to_otlp_json({s}, "svc"))["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"]["code"], 2);
  // IPv6 peers lose their brackets.
  s.peer = "[::1]:9";
  json v6 = json::parse(to_otlp_json({s}, "svc"))["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
  for (const auto& a : v6["attributes"]) {
    if (a["key"] == "network.peer.address") {
      EXPECT_EQ(a["value"]["stringValue"], "::1");
    }
  }
}

TEST(Otlp, TracesUrl) {
  EXPECT_EQ(otlp_traces_url("http://c:4318"), "http://c:4318/v1/traces");
  EXPECT_EQ(otlp_traces_url("http://c:4318/"), "http://c:4318/v1/traces");
  EXPECT_EQ(otlp_traces_url("http://c:4318/v1/traces"), "http://c:4318/v1/traces");
}

TEST(Rpcz, KeepsRecentAndSlowestWithinCapacity) {
  RpczStore store(3, 2);
  std::uint64_t durations[] = {50, 10, 900, 20, 30, 700, 40};
  for (std::uint64_t i = 0; i < 7; ++i) store.add(span(i + 1, durations[i]));
  auto snap = store.snapshot();
  EXPECT_EQ(snap.total, 7u);
  ASSERT_EQ(snap.recent.size(), 3u);
  EXPECT_EQ(snap.recent[0].context.span_id.value, 7u);  // newest first
  EXPECT_EQ(snap.recent[1].context.span_id.value, 6u);
  EXPECT_EQ(snap.recent[2].context.span_id.value, 5u);
  ASSERT_EQ(snap.slow.size(), 2u);
  EXPECT_EQ(snap.slow[0].duration_nanos(), 900u);
  EXPECT_EQ(snap.slow[1].duration_nanos(), 700u);
  json j = json::parse(render_rpcz_json(snap, true));
  EXPECT_EQ(j["recent"].size(), 3u);
  EXPECT_EQ(j["slowest"][0]["span_id"], "0000000000000003");
  EXPECT_NE(render_rpcz_text(snap, true).find("Calc/add"), std::string::npos);
  EXPECT_NE(render_rpcz_text(snap, false).find("rpcz is off"), std::string::npos);
  EXPECT_EQ(json::parse(render_rpcz_json(snap, true, "ffffffffffffffffffffffffffffffff"))["recent"].size(), 0u);
}

TEST(TracingConfig, YamlSection) {
  auto c = tern::Config::parse(R"(
tracing:
  service_name: checkout
  sampler: ratio
  ratio: 0.25
  parent_based: false
  otlp_endpoint: "http://127.0.0.1:4318"
  queue_capacity: 100
  max_batch: 10
  max_delay: 200ms
  export_timeout: 2s
  shutdown_timeout: 1s
  rpcz: true
  rpcz_recent: 10
  rpcz_slow: 5
  enabled: false
)");
  ASSERT_TRUE(c.has_value()) << c.status().to_string();
  const TracerOptions& t = c->tracing_options();
  EXPECT_EQ(t.service_name, "checkout");
  EXPECT_EQ(t.sampler.kind, SamplerKind::kRatio);
  EXPECT_DOUBLE_EQ(t.sampler.ratio, 0.25);
  EXPECT_FALSE(t.sampler.parent_based);
  EXPECT_EQ(t.otlp_endpoint, "http://127.0.0.1:4318");
  EXPECT_EQ(t.queue_capacity, 100u);
  EXPECT_EQ(t.max_batch, 10u);
  EXPECT_EQ(t.max_delay, 200ms);
  EXPECT_EQ(t.export_timeout, 2s);
  EXPECT_EQ(t.shutdown_timeout, 1s);
  EXPECT_TRUE(t.rpcz);
  EXPECT_EQ(t.rpcz_recent, 10u);
  EXPECT_EQ(t.rpcz_slow, 5u);
  EXPECT_FALSE(c->server_options().tracing);
  EXPECT_FALSE(c->client_options().tracing);

  auto bad = tern::Config::parse("tracing: {ratio: 2}\n", "t.yaml");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("t.yaml:1"), std::string::npos) << bad.status().message();
  EXPECT_FALSE(tern::Config::parse("tracing: {sampler: sometimes}\n").has_value());
  EXPECT_FALSE(tern::Config::parse("tracing: {otlp_endpoint: ftp://x}\n").has_value());
  EXPECT_FALSE(tern::Config::parse("tracing: {colour: blue}\n").has_value());
  // Absent: defaults, tracing on.
  auto none = tern::Config::parse("server: {listen: 127.0.0.1:0}\n");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->server_options().tracing);
  EXPECT_TRUE(none->tracing_options().otlp_endpoint.empty());
}
