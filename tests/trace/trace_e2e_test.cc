// Tracing end to end over loopback TCP: a consumer calls provider A, whose
// handler calls provider B (consumer -> A -> B). Each role has its own
// Tracer exporting OTLP/HTTP JSON to a test receiver (a real HTTP server in
// this process); the test parses what arrived and checks one trace id across
// the four spans, the parent links, kinds, names, attributes and statuses.
// Also: /rpcz on the admin server, retries as span events, the gRPC wire,
// and propagation with nothing recorded.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <nlohmann/json.hpp>

#include "loopback.h"
#include "otlp_receiver_util.h"
#include "tern/monitor/admin_server.h"
#include "tern/service_stream.h"
#include "tern/stream.h"
#include "tern/trace/trace_filter.h"
#include "tern/trace/tracer.h"
#include "wait_until.h"

namespace tracetest {
struct Front {
  virtual ~Front() = default;
  virtual int relay_add(int a, int b) = 0;           // B.add(a, b)
  virtual int relay_fail(std::string message) = 0;   // B.fail(message): fails
  virtual std::string traceparent() = 0;             // the traceparent this call arrived with
  virtual std::string server_span() = 0;             // "<this server span's traceparent> <its parent span id>"
};
}  // namespace tracetest
TERN_SERVICE_NAMED(tracetest::Front, "tracetest.Front", relay_add, relay_fail, traceparent, server_span)

namespace tracetest {
struct Ticker {
  virtual ~Ticker() = default;
  // Server streaming: reads a count n, writes "tick n" .. "tick 1".
  virtual tern::Task<tern::Status> countdown(tern::ServerStream<int, std::string>& stream) = 0;
};
struct TickerImpl : Ticker {
  tern::Task<tern::Status> countdown(tern::ServerStream<int, std::string>& s) override {
    auto n = co_await s.read();
    if (!n) co_return tern::Status(tern::StatusCode::kInvalidArgument, "no count");
    for (int i = *n; i > 0; --i) {
      if (tern::Status w = co_await s.write("tick " + std::to_string(i)); !w.is_ok()) co_return w;
    }
    co_return tern::Status();
  }
};
}  // namespace tracetest
TERN_SERVICE_NAMED(tracetest::Ticker, "tracetest.Ticker", countdown)
TERN_STREAM_KIND(tracetest::Ticker, countdown, kServer)

namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using testsvc::Calculator;
using tracetest::Front;

class FrontImpl : public Front {
 public:
  explicit FrontImpl(tern::Proxy<Calculator> b) : b_(std::move(b)) {}
  int relay_add(int a, int b) override { return b_.call<&Calculator::add>(a, b).value(); }
  int relay_fail(std::string message) override {
    auto r = b_.call<&Calculator::fail>(message);
    if (!r) throw std::runtime_error("B said: " + r.status().message());
    return *r;
  }
  std::string traceparent() override {
    return std::string(tern::ServerContext::current()->attachment("traceparent"));
  }
  std::string server_span() override {
    auto* ctx = tern::ServerContext::current();
    return tern::trace::format_traceparent(ctx->trace_context()) + " " + ctx->trace_parent().hex();
  }

 private:
  tern::Proxy<Calculator> b_;
};

std::shared_ptr<tern::trace::Tracer> tracer_for(const std::string& service, const std::string& endpoint,
                                                bool rpcz = false) {
  tern::trace::TracerOptions o;
  o.service_name = service;
  o.otlp_endpoint = endpoint;
  o.max_delay = 20ms;
  o.rpcz = rpcz;
  return std::make_shared<tern::trace::Tracer>(o);
}

// One exported span with the service.name of its resource.
struct Span {
  std::string service_name;
  json j;
  std::map<std::string, json> attrs;
  std::string attr_str(const std::string& k) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? "" : it->second.value("stringValue", "");
  }
  std::string attr_int(const std::string& k) const {
    auto it = attrs.find(k);
    return it == attrs.end() ? "" : it->second.value("intValue", "");
  }
};

std::vector<Span> spans_received(const testutil::OtlpReceiver& rx) {
  std::vector<Span> out;
  for (const auto& req : rx.requests()) {
    json body = json::parse(req.body);
    for (const auto& rs : body["resourceSpans"]) {
      std::string name;
      for (const auto& a : rs["resource"]["attributes"]) {
        if (a["key"] == "service.name") name = a["value"]["stringValue"];
      }
      for (const auto& ss : rs["scopeSpans"]) {
        for (const auto& sp : ss["spans"]) {
          Span s{name, sp, {}};
          for (const auto& a : sp["attributes"]) s.attrs[a["key"]] = a["value"];
          out.push_back(std::move(s));
        }
      }
    }
  }
  return out;
}

const Span* find(const std::vector<Span>& spans, const std::string& service_name, int kind, const std::string& name) {
  for (const auto& s : spans) {
    if (s.service_name == service_name && s.j["kind"] == kind && s.j["name"] == name) return &s;
  }
  return nullptr;
}

// One call's two spans: flushes `tc` and `tb` until `rx` holds exactly two
// spans, then checks they are a client span of "consumer" and a server span
// of "provider-b" named `name`, in one trace, the server's parent being the
// client. Returns {client, server}; empty (with a test failure) otherwise.
std::optional<std::pair<Span, Span>> client_server_pair(const testutil::OtlpReceiver& rx, tern::trace::Tracer& tc,
                                                       tern::trace::Tracer& tb, const std::string& name) {
  std::vector<Span> spans;
  bool two = testutil::wait_until([&] {
    tc.flush(std::chrono::seconds(1)), tb.flush(std::chrono::seconds(1));
    spans = spans_received(rx);
    return spans.size() == 2u;
  });
  EXPECT_TRUE(two) << spans.size() << " spans";
  const Span* c = find(spans, "consumer", 3, name);
  const Span* p = find(spans, "provider-b", 2, name);
  EXPECT_TRUE(c && p);
  if (!two || !c || !p) return std::nullopt;
  EXPECT_EQ(p->j["traceId"], c->j["traceId"]);
  EXPECT_EQ(p->j["parentSpanId"], c->j["spanId"]);
  return std::make_pair(*c, *p);
}

// consumer -> A -> B, each with its own tracer exporting to one receiver.
struct Chain {
  testutil::OtlpReceiver rx;
  std::shared_ptr<tern::trace::Tracer> tc, ta, tb;
  std::unique_ptr<tern::Server> b, a;
  std::unique_ptr<tern::Client> a_client, client;
  std::unique_ptr<tern::Proxy<Front>> front;

  Chain() {
    tc = tracer_for("consumer", rx.endpoint());
    ta = tracer_for("provider-a", rx.endpoint(), /*rpcz=*/true);
    tb = tracer_for("provider-b", rx.endpoint());
    tern::ServerOptions sb;
    sb.tracer = tb;
    b = testutil::start_server(sb);
    tern::ClientOptions ac = testutil::one_io();
    ac.tracer = ta;
    a_client = std::make_unique<tern::Client>(ac);
    auto to_b = a_client->refer<Calculator>(testutil::direct(*b), testutil::failfast()).value();
    tern::ServerOptions sa;
    sa.tracer = ta;
    sa.listen = "127.0.0.1:0";
    sa.io_threads = 1;
    a = std::make_unique<tern::Server>(sa);
    EXPECT_TRUE(a->expose<Front>(std::make_shared<FrontImpl>(to_b)).is_ok());
    EXPECT_TRUE(a->start().is_ok());
    tern::ClientOptions cc = testutil::one_io();
    cc.tracer = tc;
    client = std::make_unique<tern::Client>(cc);
    front = std::make_unique<tern::Proxy<Front>>(client->refer<Front>(testutil::direct(*a), testutil::failfast()).value());
  }
  ~Chain() {
    client.reset();
    a->shutdown(100ms);
    a_client.reset();
    b->shutdown(100ms);
  }
  // Polls until `n` spans arrived (server spans are recorded after their
  // response is sent, so they may trail the consumer's result).
  std::vector<Span> await_spans(std::size_t n) {
    std::vector<Span> spans;
    testutil::wait_until(
        [&] {
          tc->flush(1s), ta->flush(1s), tb->flush(1s);
          spans = spans_received(rx);
          return spans.size() >= n;
        },
        10s);
    return spans;
  }
};

TEST(TraceE2E, NestedChainIsOneTraceWithExactParentLinks) {
  Chain chain;
  ASSERT_EQ(chain.front->call<&Front::relay_add>(20, 22).value(), 42);
  auto spans = chain.await_spans(4);
  ASSERT_EQ(spans.size(), 4u);
  for (const auto& req : chain.rx.requests()) {
    EXPECT_EQ(req.method, "POST");
    EXPECT_EQ(req.target, "/v1/traces");
    EXPECT_EQ(req.content_type, "application/json");
  }
  const Span* c_client = find(spans, "consumer", 3, "tracetest.Front/relay_add");
  const Span* a_server = find(spans, "provider-a", 2, "tracetest.Front/relay_add");
  const Span* a_client = find(spans, "provider-a", 3, "testsvc::Calculator/add");
  const Span* b_server = find(spans, "provider-b", 2, "testsvc::Calculator/add");
  ASSERT_TRUE(c_client && a_server && a_client && b_server);
  // One trace.
  std::string trace = c_client->j["traceId"];
  EXPECT_EQ(trace.size(), 32u);
  for (const Span* s : {a_server, a_client, b_server}) EXPECT_EQ(s->j["traceId"], trace);
  // Exact parent links: C client (root) <- A server <- A client <- B server.
  EXPECT_FALSE(c_client->j.contains("parentSpanId"));
  EXPECT_EQ(a_server->j["parentSpanId"], c_client->j["spanId"]);
  EXPECT_EQ(a_client->j["parentSpanId"], a_server->j["spanId"]);
  EXPECT_EQ(b_server->j["parentSpanId"], a_client->j["spanId"]);
  std::set<std::string> ids;
  for (const auto& s : spans) ids.insert(s.j["spanId"].get<std::string>());
  EXPECT_EQ(ids.size(), 4u);
  // Attributes per the RPC semantic conventions.
  EXPECT_EQ(c_client->attr_str("rpc.system"), "tern");
  EXPECT_EQ(c_client->attr_str("rpc.service"), "tracetest.Front");
  EXPECT_EQ(c_client->attr_str("rpc.method"), "relay_add");
  EXPECT_EQ(c_client->attr_int("rpc.grpc.status_code"), "0");
  EXPECT_EQ(c_client->attr_str("server.address"), "127.0.0.1");
  EXPECT_EQ(c_client->attr_int("server.port"), std::to_string(chain.a->port()));
  EXPECT_EQ(c_client->attr_str("network.peer.address"), "127.0.0.1");
  EXPECT_EQ(a_client->attr_int("network.peer.port"), std::to_string(chain.b->port()));
  EXPECT_EQ(b_server->attr_str("rpc.service"), "testsvc::Calculator");
  EXPECT_EQ(b_server->attr_str("rpc.method"), "add");
  EXPECT_EQ(b_server->attr_str("network.peer.address"), "127.0.0.1");
  EXPECT_FALSE(b_server->attrs.count("server.address"));
  for (const auto& s : spans) {
    EXPECT_EQ(s.j["status"]["code"], 0);
    EXPECT_NE(s.attr_int("tern.request.size"), "0");
    EXPECT_NE(s.attr_int("tern.response.size"), "0");
    EXPECT_EQ(s.j["flags"], 1);
    std::uint64_t start = std::stoull(s.j["startTimeUnixNano"].get<std::string>());
    std::uint64_t end = std::stoull(s.j["endTimeUnixNano"].get<std::string>());
    EXPECT_GT(start, 1'600'000'000'000'000'000ULL);
    EXPECT_GE(end, start);
  }
  // Sizes agree across the wire: what the client sent is what the server read.
  EXPECT_EQ(a_client->attr_int("tern.request.size"), b_server->attr_int("tern.request.size"));
  EXPECT_EQ(a_client->attr_int("tern.response.size"), b_server->attr_int("tern.response.size"));
  // A server span starts after its client span (one host clock). Its end is
  // taken after the response is sent, so it may trail the client's end.
  auto t = [](const Span* s, const char* k) { return std::stoull(s->j[k].get<std::string>()); };
  EXPECT_LE(t(c_client, "startTimeUnixNano"), t(a_server, "startTimeUnixNano"));
  std::cout << "exported OTLP JSON (one POST per tracer):\n";
  for (const auto& req : chain.rx.requests()) std::cout << req.body << "\n";
}

TEST(TraceE2E, FailingCallHasErrorStatusOnEverySpan) {
  Chain chain;
  auto r = chain.front->call<&Front::relay_fail>("boom");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal);
  auto spans = chain.await_spans(4);
  ASSERT_EQ(spans.size(), 4u);
  const Span* c_client = find(spans, "consumer", 3, "tracetest.Front/relay_fail");
  const Span* a_server = find(spans, "provider-a", 2, "tracetest.Front/relay_fail");
  const Span* a_client = find(spans, "provider-a", 3, "testsvc::Calculator/fail");
  const Span* b_server = find(spans, "provider-b", 2, "testsvc::Calculator/fail");
  ASSERT_TRUE(c_client && a_server && a_client && b_server);
  const std::string internal = std::to_string(static_cast<int>(tern::StatusCode::kInternal));
  for (const Span* s : {c_client, a_server, a_client, b_server}) {
    EXPECT_EQ(s->attr_int("rpc.grpc.status_code"), internal) << s->j.dump();
    EXPECT_EQ(s->j["status"]["code"], 2) << s->j.dump();
    EXPECT_EQ(s->j["traceId"], c_client->j["traceId"]);
  }
  EXPECT_EQ(b_server->j["status"]["message"], "boom");
  EXPECT_EQ(c_client->j["status"]["message"], "B said: boom");
  EXPECT_EQ(b_server->j["parentSpanId"], a_client->j["spanId"]);
}

TEST(TraceE2E, RpczShowsTheCalls) {
  Chain chain;
  ASSERT_EQ(chain.front->call<&Front::relay_add>(1, 2).value(), 3);
  ASSERT_FALSE(chain.front->call<&Front::relay_fail>("nope").has_value());
  auto admin = std::make_shared<tern::monitor::AdminServer>(std::make_shared<tern::monitor::MetricsRegistry>());
  admin->set_tracer(chain.ta);
  ASSERT_TRUE(admin->start().is_ok());
  // A's tracer holds 4 spans (server + client, twice) once the server spans ended.
  json page;
  ASSERT_TRUE(testutil::wait_until([&] {
    auto r = tern::monitor::http_get(admin->address(), "/rpcz?format=json");
    if (!r || r->status != 200) return false;
    page = json::parse(r->body);
    return page["recent"].size() == 4u;
  }));
  EXPECT_TRUE(page["enabled"].get<bool>());
  EXPECT_EQ(page["total"], 4);
  std::map<std::string, int> by_name;
  for (const auto& s : page["recent"]) by_name[s["kind"].get<std::string>() + " " + s["service"].get<std::string>() + "/" + s["method"].get<std::string>()]++;
  EXPECT_EQ(by_name["server tracetest.Front/relay_add"], 1);
  EXPECT_EQ(by_name["client testsvc::Calculator/add"], 1);
  EXPECT_EQ(by_name["server tracetest.Front/relay_fail"], 1);
  EXPECT_EQ(by_name["client testsvc::Calculator/fail"], 1);
  for (const auto& s : page["recent"]) {
    EXPECT_EQ(s["trace_id"].get<std::string>().size(), 32u);
    EXPECT_FALSE(s["parent_span_id"].get<std::string>().empty());
    EXPECT_EQ(s["status"], s["method"].get<std::string>().find("fail") != std::string::npos ? "INTERNAL" : "OK");
  }
  EXPECT_EQ(page["slowest"].size(), 4u);
  auto html = tern::monitor::http_get(admin->address(), "/rpcz");
  ASSERT_TRUE(html.has_value());
  EXPECT_EQ(html->status, 200);
  EXPECT_NE(html->body.find("tracetest.Front/relay_add"), std::string::npos);
  EXPECT_NE(html->body.find("Slowest"), std::string::npos);
  auto text = tern::monitor::http_get(admin->address(), "/rpcz?format=text");
  ASSERT_TRUE(text.has_value());
  EXPECT_NE(text->body.find("testsvc::Calculator/fail"), std::string::npos);
  EXPECT_NE(text->body.find("status=INTERNAL"), std::string::npos);
  // One trace only.
  std::string one = page["recent"][0]["trace_id"];
  auto filtered = tern::monitor::http_get(admin->address(), "/rpcz?format=json&trace=" + one);
  ASSERT_TRUE(filtered.has_value());
  EXPECT_EQ(json::parse(filtered->body)["recent"].size(), 2u);
  admin->shutdown();
}

TEST(TraceE2E, RetryIsASpanEvent) {
  testutil::OtlpReceiver rx;
  auto tc = tracer_for("consumer", rx.endpoint());
  auto server = testutil::start_server();
  int dead_port = 0;
  {
    auto gone = testutil::start_server();
    dead_port = gone->port();
    gone->shutdown(0ms);
  }
  tern::ClientOptions co = testutil::one_io();
  co.tracer = tc;
  tern::Client client(co);
  tern::ReferenceOptions ro;
  ro.load_balance = "round_robin";
  ro.retries = 1;
  auto calc = client.refer<Calculator>(testutil::direct({dead_port, server->port()}), ro).value();
  ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  ASSERT_EQ(calc.call<&Calculator::add>(2, 2).value(), 4);
  std::vector<Span> spans;
  ASSERT_TRUE(testutil::wait_until([&] {
    tc->flush(1s);
    spans = spans_received(rx);
    return spans.size() == 2u;
  }));
  // Round robin sends exactly one of the two calls to the dead provider first.
  int retries = 0;
  for (const auto& s : spans) {
    for (const auto& e : s.j["events"]) {
      EXPECT_EQ(e["name"], "retry");
      EXPECT_EQ(e["attributes"][0]["value"]["stringValue"], "127.0.0.1:" + std::to_string(server->port()));
      ++retries;
    }
    EXPECT_EQ(s.attr_int("server.port"), std::to_string(server->port()));  // the attempt that answered
    EXPECT_EQ(s.j["status"]["code"], 0);
  }
  EXPECT_EQ(retries, 1);
  server->shutdown(100ms);
}

TEST(TraceE2E, IncomingTraceparentIsHonouredAndInvalidOnesStartANewTrace) {
  // No recording anywhere: propagation alone (the default tracer).
  auto b = testutil::start_server();
  tern::Client a_client(testutil::one_io());
  auto to_b = a_client.refer<Calculator>(testutil::direct(*b)).value();
  tern::ServerOptions sa;
  sa.listen = "127.0.0.1:0";
  sa.io_threads = 1;
  tern::Server a(sa);
  ASSERT_TRUE(a.expose<Front>(std::make_shared<FrontImpl>(to_b)).is_ok());
  ASSERT_TRUE(a.start().is_ok());
  // A consumer without tracing: the caller's own traceparent reaches A as is.
  tern::ClientOptions raw = testutil::one_io();
  raw.tracing = false;
  tern::Client client(raw);
  auto front = client.refer<Front>(testutil::direct(a)).value();
  tern::CallOptions with;
  with.attachments.emplace_back("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(front.with(with).call<&Front::traceparent>().value(),
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  // A valid one: A's server span joins that trace as the child of the sender's span.
  std::string joined = front.with(with).call<&Front::server_span>().value();
  auto joined_tp = tern::trace::parse_traceparent(joined.substr(0, tern::trace::kTraceparentSize));
  ASSERT_TRUE(joined_tp.has_value()) << joined;
  EXPECT_EQ(joined_tp->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_NE(joined_tp->span_id.hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(joined_tp->sampled());
  EXPECT_EQ(joined.substr(tern::trace::kTraceparentSize + 1), "00f067aa0ba902b7");
  // Not sampled upstream: parent-based keeps it unsampled.
  tern::CallOptions unsampled;
  unsampled.attachments.emplace_back("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  auto u = tern::trace::parse_traceparent(front.with(unsampled).call<&Front::server_span>().value().substr(0, 55));
  ASSERT_TRUE(u.has_value());
  EXPECT_FALSE(u->sampled());
  // Invalid ones (uppercase, zero ids, version ff, garbage): ignored, a new trace starts with no parent.
  for (const char* bad : {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "garbage"}) {
    tern::CallOptions o;
    o.attachments.emplace_back("traceparent", bad);
    std::string got = front.with(o).call<&Front::server_span>().value();
    auto tp = tern::trace::parse_traceparent(got.substr(0, tern::trace::kTraceparentSize));
    ASSERT_TRUE(tp.has_value()) << bad << " -> " << got;
    EXPECT_NE(tp->trace_id.hex(), "4bf92f3577b34da6a3ce929d0e0e4736") << bad;
    EXPECT_NE(tp->trace_id.hex(), "00000000000000000000000000000000") << bad;
    EXPECT_EQ(got.substr(tern::trace::kTraceparentSize + 1), "0000000000000000") << bad;  // a root span
  }
  // A traced consumer sends a valid one of its own.
  tern::Client traced(testutil::one_io());
  auto front2 = traced.refer<Front>(testutil::direct(a)).value();
  auto tp = tern::trace::parse_traceparent(front2.call<&Front::traceparent>().value());
  ASSERT_TRUE(tp.has_value());
  EXPECT_TRUE(tp->sampled());  // the default sampler: always, parent-based
  a.shutdown(100ms);
  b->shutdown(100ms);
}

TEST(TraceE2E, CallOverTheGrpcWireCarriesTraceparent) {
  testutil::OtlpReceiver rx;
  auto tc = tracer_for("consumer", rx.endpoint());
  auto tb = tracer_for("provider-b", rx.endpoint());
  tern::ServerOptions sb;
  sb.tracer = tb;
  auto b = testutil::start_server(sb);
  tern::ClientOptions co = testutil::one_io();
  co.tracer = tc;
  tern::Client client(co);
  tern::ReferenceOptions ro = testutil::failfast();
  ro.serialization = "json";  // application/grpc+json: Calculator's methods take no protobuf messages
  auto calc = client.refer<Calculator>("grpc://127.0.0.1:" + std::to_string(b->port()), ro);
  ASSERT_TRUE(calc.has_value()) << calc.status().to_string();
  auto r = calc->call<&Calculator::add>(5, 6);
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  EXPECT_EQ(*r, 11);
  ASSERT_TRUE(client_server_pair(rx, *tc, *tb, "testsvc::Calculator/add").has_value());
  b->shutdown(100ms);
}

}  // namespace

namespace {

TEST(TraceE2E, AStreamGetsAClientSpanAndAServerSpan) {
  testutil::OtlpReceiver rx;
  auto tc = tracer_for("consumer", rx.endpoint());
  auto tb = tracer_for("provider-b", rx.endpoint());
  tern::ServerOptions sb;
  sb.tracer = tb;
  sb.listen = "127.0.0.1:0";
  sb.io_threads = 1;
  tern::Server server(sb);
  ASSERT_TRUE(server.expose<tracetest::Ticker>(std::make_shared<tracetest::TickerImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  tern::ClientOptions co = testutil::one_io();
  co.tracer = tc;
  tern::Client client(co);
  auto ticker = client.refer<tracetest::Ticker>(testutil::direct(server)).value();
  {
    auto s = ticker.stream<&tracetest::Ticker::countdown>().value();
    ASSERT_TRUE(s.write_sync(3).is_ok());
    (void)s.writes_done_sync();
    int got = 0;
    while (s.read_sync(2000ms).has_value()) ++got;
    EXPECT_EQ(got, 3);
    EXPECT_TRUE(s.finish_sync().is_ok());
  }
  auto pair = client_server_pair(rx, *tc, *tb, "tracetest.Ticker/countdown");
  ASSERT_TRUE(pair.has_value());
  const Span* c = &pair->first;
  const Span* p = &pair->second;
  EXPECT_TRUE(c->attrs.at("tern.stream").value("boolValue", false));
  EXPECT_TRUE(p->attrs.at("tern.stream").value("boolValue", false));
  EXPECT_EQ(c->attr_int("tern.stream.messages_sent"), "1");
  EXPECT_EQ(c->attr_int("tern.stream.messages_received"), "3");
  EXPECT_EQ(p->attr_int("tern.stream.messages_received"), "1");
  EXPECT_EQ(p->attr_int("tern.stream.messages_sent"), "3");
  EXPECT_EQ(c->attr_int("server.port"), std::to_string(server.port()));
  EXPECT_EQ(c->j["status"]["code"], 0);
  server.shutdown(100ms);
}

}  // namespace
