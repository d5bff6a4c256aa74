// Reliability contracts of issue #18 (docs/protocol.md §7-§9,
// docs/reliability.md "Contracts under hostile and careless peers"):
// request ids reused while in flight, responses too large for either side,
// work for callers that are gone, protocol-error logging, and the
// correctness bugs (sync call on a client IO thread, a ServerCall dropped
// unanswered, Future::get() twice). Raw-socket tests where a Tern consumer
// cannot produce the input.
#include <gtest/gtest.h>

#include <asio.hpp>
#include <poll.h>

#include <atomic>
#include <deque>
#include <future>
#include <optional>
#include <stdexcept>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "client/resolve_hook.h"
#include "loopback.h"
#include "rpc/protocol_log.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/log.h"
#include "tern/protocol/decoder.h"
#include "tern/protocol/frame.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {
// Provider B: a slow method that waits until its caller is gone.
struct SlowB {
  virtual ~SlowB() = default;
  virtual std::string wait(int seconds) = 0;
};
// Provider A: a coroutine handler that awaits B.
struct RelayA {
  virtual ~RelayA() = default;
  virtual tern::Task<std::string> relay(int seconds) = 0;
};
// A Task method that throws before it has a task to return.
struct ThrowsEarly {
  virtual ~ThrowsEarly() = default;
  virtual tern::Task<int> get(int x) = 0;
};
struct ThrowsEarlyImpl : ThrowsEarly {
  tern::Task<int> get(int) override { throw std::runtime_error("no task today"); }
};
}  // namespace

TERN_SERVICE(SlowB, wait)
TERN_SERVICE(RelayA, relay)
TERN_SERVICE(ThrowsEarly, get)

namespace {

// A consumer that speaks the wire format by hand over a blocking socket.
struct RawConn {
  explicit RawConn(std::uint16_t port) : sock(io) {
    sock.connect({asio::ip::make_address("127.0.0.1"), port});
  }
  void send(const std::string& bytes) { asio::write(sock, asio::buffer(bytes)); }
  // The same for input the provider may refuse half-way (reset, broken pipe).
  void send_hostile(const std::string& bytes) {
    std::error_code ignored;
    asio::write(sock, asio::buffer(bytes), ignored);
  }
  // The next frame, or nullopt after `timeout` without one (or on EOF).
  std::optional<tern::protocol::Frame> next(std::chrono::milliseconds timeout = 5s) {
    auto until = std::chrono::steady_clock::now() + timeout;
    while (got.empty()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{sock.native_handle(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[65536];
      std::error_code ec;
      std::size_t n = sock.read_some(asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      EXPECT_TRUE(dec.feed(std::string_view(buf, n), [&](tern::protocol::Frame&& f) { got.push_back(std::move(f)); })
                      .is_ok());
    }
    auto f = std::move(got.front());
    got.pop_front();
    return f;
  }
  asio::io_context io;
  asio::ip::tcp::socket sock;
  tern::protocol::FrameDecoder dec;
  std::deque<tern::protocol::Frame> got;
};

// `request` (from Proxy::encode) with its id and timeout written in.
std::string with_id(std::string request, std::uint64_t id, std::uint32_t timeout_ms = 5000) {
  for (int i = 0; i < 8; ++i) request[8 + i] = static_cast<char>(id >> (56 - 8 * i));
  for (int i = 0; i < 4; ++i) request[20 + i] = static_cast<char>(timeout_ms >> (24 - 8 * i));
  return request;
}

// A generic service "Big" whose method "get" answers a body of N bytes
// (N = the request body's length in decimal, raw serialization).
void expose_big(tern::Server& s, std::atomic<int>* runs = nullptr) {
  ASSERT_TRUE(s.add_method("Big", "get",
                           [runs](tern::ServerCall& c) {
                             if (runs) runs->fetch_add(1);
                             std::size_t n = std::stoul(std::string(c.body()));
                             auto b = c.start_response();
                             b.append_body(std::string(n, 'x'));
                             c.respond(std::move(b));
                           })
                  .is_ok());
}

// Calls Big.get for `n` bytes through `ref` and waits for the outcome.
tern::CallResult get_big(tern::Reference& ref, std::size_t n) {
  auto b = ref.new_request("get", false);
  b.append_body(std::to_string(n));
  std::promise<tern::CallResult> p;
  auto f = p.get_future();
  ref.invoke("get", b.finish(), 5s, [&p](tern::CallResult&& r) { p.set_value(std::move(r)); });
  return f.get();
}

// --- 1. Request ids reused while in flight --------------------------------

TEST(RequestIds, ReusedIdInFlightIsRefusedAndTheFirstCallKeepsItsAnswer) {
  auto server = testutil::start_server();
  tern::Client client(testutil::one_io());
  auto calc = client.refer<Calculator>(testutil::direct(*server)).value();
  std::string slow, add;
  ASSERT_TRUE(calc.encode<&Calculator::sleep_ms>(false, slow, 300).is_ok());
  ASSERT_TRUE(calc.encode<&Calculator::add>(false, add, 1, 2).is_ok());

  RawConn raw(server->port());
  raw.send(with_id(slow, 7) + with_id(add, 7));
  // The duplicate is answered first (at once, unrun) ...
  auto dup = raw.next();
  ASSERT_TRUE(dup.has_value());
  EXPECT_EQ(dup->header.request_id, 7u);
  EXPECT_EQ(dup->header.status(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(dup->body(), "request id 7 is already in flight on this connection");
  // ... and the first call completes with its own result.
  auto first = raw.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->header.request_id, 7u);
  EXPECT_EQ(first->header.status(), tern::StatusCode::kOk);
  auto v = calc.decode<&Calculator::sleep_ms>(tern::CallResult{tern::Status(), std::move(*first)});
  ASSERT_TRUE(v.has_value()) << v.status();
  EXPECT_EQ(*v, "slept 300");
  EXPECT_FALSE(raw.next(100ms).has_value());  // exactly two responses
  EXPECT_EQ(server->stats().duplicate_ids, 1u);

  // Once answered, the id is free again.
  raw.send(with_id(add, 7));
  auto again = raw.next();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->header.status(), tern::StatusCode::kOk);
  auto sum = calc.decode<&Calculator::add>(tern::CallResult{tern::Status(), std::move(*again)});
  ASSERT_TRUE(sum.has_value());
  EXPECT_EQ(*sum, 3);
}

TEST(RequestIds, CancelForAReusedIdAppliesToTheFirstCallOnly) {
  // The first call polls cancelled(); the duplicate never runs, so a cancel
  // for the id reaches the first call and no one else.
  std::atomic<int> runs{0};
  std::atomic<bool> saw_cancel{false};
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server
                  .add_method("Wait", "until_cancelled",
                              [&](tern::ServerCall& c) {
                                runs.fetch_add(1);
                                testutil::wait_until([&] { return c.context().cancelled(); }, 5s, 1ms);
                                saw_cancel = c.context().cancelled();
                                auto b = c.start_response();
                                c.respond(std::move(b));
                              })
                  .is_ok());
  ASSERT_TRUE(server.start().is_ok());
  tern::protocol::FrameBuilder b(tern::protocol::FrameType::kRequest, 9);
  b.add_meta("service", "Wait");
  b.add_meta("method", "until_cancelled");
  b.begin_body();
  std::string req = b.finish();
  RawConn raw(server.port());
  raw.send(req + req);
  auto dup = raw.next();
  ASSERT_TRUE(dup.has_value());
  EXPECT_EQ(dup->header.status(), tern::StatusCode::kInvalidArgument);
  raw.send(tern::protocol::encode_control_frame(tern::protocol::FrameType::kCancel, 9));
  auto first = raw.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->header.request_id, 9u);
  EXPECT_EQ(first->header.status(), tern::StatusCode::kOk);
  EXPECT_TRUE(saw_cancel.load());
  EXPECT_EQ(runs.load(), 1);
  server.shutdown(100ms);
}

// --- 2. Response size, provider side ---------------------------------------

TEST(ResponseSize, ResultOverTheProvidersMaxBodyIsDroppedForASmallError) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.limits.max_body = 1024;
  tern::Server server(so);
  std::atomic<int> runs{0};
  expose_big(server, &runs);
  ASSERT_TRUE(server.start().is_ok());
  tern::Client client(testutil::one_io());
  auto ref = client.reference("Big", testutil::direct(server), testutil::failfast()).value();
  auto r = get_big(*ref, 4096);
  EXPECT_EQ(r.status.code(), tern::StatusCode::kResourceExhausted) << r.status;
  EXPECT_NE(r.status.message().find("response of 4096 bytes exceeds the provider's limit of 1024 bytes"),
            std::string::npos)
      << r.status;
  EXPECT_TRUE(r.status.may_have_executed());  // the handler ran: failover must not rerun it
  EXPECT_LT(r.frame.payload.size(), 1024u);    // a small error, not the result
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(server.stats().oversize_responses, 1u);
  // The connection keeps serving.
  auto ok = get_big(*ref, 100);
  ASSERT_TRUE(ok.status.is_ok()) << ok.status;
  EXPECT_EQ(ok.body().size(), 100u);
  server.shutdown(100ms);
}

TEST(ResponseSize, ResultOverTheWriteQueueLimitFailsItsCallWithTheReason) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.max_write_queue_bytes = 64 * 1024;
  tern::Server server(so);
  expose_big(server);
  ASSERT_TRUE(server.start().is_ok());
  std::vector<std::string> lines;
  std::mutex mu;
  tern::set_log_sink([&](tern::LogLevel, std::string_view m) {
    std::lock_guard lock(mu);
    lines.emplace_back(m);
  });
  tern::Client client(testutil::one_io());
  auto ref = client.reference("Big", testutil::direct(server), testutil::failfast()).value();
  auto r = get_big(*ref, 100 * 1024);
  tern::set_log_sink({});
  EXPECT_EQ(r.status.code(), tern::StatusCode::kResourceExhausted) << r.status;
  EXPECT_NE(r.status.message().find("write queue limit of 65536 bytes"), std::string::npos) << r.status;
  EXPECT_TRUE(r.status.may_have_executed());
  {
    std::lock_guard lock(mu);
    bool logged = false;
    for (auto& l : lines) logged = logged || l.find("RESOURCE_EXHAUSTED") != std::string::npos;
    EXPECT_TRUE(logged);
  }
  auto ok = get_big(*ref, 1000);
  ASSERT_TRUE(ok.status.is_ok()) << ok.status;
  EXPECT_EQ(ok.body().size(), 1000u);
  server.shutdown(100ms);
}

// --- 3. Response size, consumer side ----------------------------------------

TEST(ResponseSize, ResponseOverTheConsumersLimitFailsOnlyThatCall) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  expose_big(server);
  ASSERT_TRUE(server.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  auto co = testutil::one_io();
  co.channel.limits.max_body = 4096;
  tern::Client client(co);
  auto ref = client.reference("Big", testutil::direct(server), testutil::failfast()).value();
  auto calc = client.refer<Calculator>(testutil::direct(server), testutil::failfast()).value();
  ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);  // connected
  auto slow = calc.async_call<&Calculator::sleep_ms>(300);  // in flight meanwhile
  auto r = get_big(*ref, 100000);
  EXPECT_EQ(r.status.code(), tern::StatusCode::kResourceExhausted) << r.status;
  EXPECT_NE(r.status.message().find("response of 100000 bytes exceeds the consumer's limit of 4096 bytes"),
            std::string::npos)
      << r.status;
  EXPECT_TRUE(r.status.may_have_executed());
  // The other call in flight on the connection succeeds, and the connection goes on.
  auto s = slow.get();
  ASSERT_TRUE(s.has_value()) << s.status();
  EXPECT_EQ(*s, "slept 300");
  auto ok = get_big(*ref, 4000);
  ASSERT_TRUE(ok.status.is_ok()) << ok.status;
  EXPECT_EQ(ok.body().size(), 4000u);
  auto ch = client.channels().get(tern::HostPort{"127.0.0.1", server.port()});
  EXPECT_EQ(ch->stats().connects, 1u);  // never reconnected
  server.shutdown(100ms);
}

// --- 4. Work for callers that are gone --------------------------------------

TEST(GoneCallers, RunningHandlerSeesCancelledWhenItsConnectionCloses) {
  std::atomic<bool> started{false}, saw_cancel{false}, finished{false};
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server
                  .add_method("Wait", "until_cancelled",
                              [&](tern::ServerCall& c) {
                                started = true;
                                saw_cancel = testutil::wait_until([&] { return c.context().cancelled(); }, 10s, 1ms);
                                c.respond(c.start_response());
                                finished = true;
                              })
                  .is_ok());
  ASSERT_TRUE(server.start().is_ok());
  {
    tern::protocol::FrameBuilder b(tern::protocol::FrameType::kRequest, 1);
    b.add_meta("service", "Wait");
    b.add_meta("method", "until_cancelled");
    b.begin_body();
    RawConn raw(server.port());
    raw.send(b.finish());  // no deadline, never cancelled: only the close can end it
    ASSERT_TRUE(testutil::wait_until([&] { return started.load(); }));
  }  // the consumer goes away
  ASSERT_TRUE(testutil::wait_until([&] { return finished.load(); }, 5s));
  EXPECT_TRUE(saw_cancel.load());
  server.shutdown(100ms);
}

// B's handler holds its thread until its ServerContext says cancelled.
class SlowBImpl : public SlowB {
 public:
  std::atomic<bool> started{false};
  std::atomic<bool> saw_cancel{false};
  std::atomic<bool> finished{false};
  std::string wait(int seconds) override {
    started = true;
    auto* ctx = tern::ServerContext::current();
    saw_cancel = testutil::wait_until([&] { return ctx->cancelled(); }, std::chrono::seconds(seconds), 1ms);
    finished = true;
    return saw_cancel ? "cancelled" : "waited";
  }
};

// A's coroutine handler awaits B and records how that call ended.
class RelayAImpl : public RelayA {
 public:
  explicit RelayAImpl(tern::Proxy<SlowB> b) : b_(std::move(b)) {}
  std::promise<tern::Status> nested;  // the status A's handler resumed with
  tern::Task<std::string> relay(int seconds) override {
    auto r = co_await b_.co_call<&SlowB::wait>(seconds);
    nested.set_value(r.has_value() ? tern::Status() : r.status());
    co_return r.has_value() ? *r : std::string("failed");
  }

 private:
  tern::Proxy<SlowB> b_;
};

struct NestedChain {
  std::shared_ptr<SlowBImpl> b_impl = std::make_shared<SlowBImpl>();
  std::unique_ptr<tern::Server> b, a;
  std::unique_ptr<tern::Client> a_client;  // A's client to B
  std::shared_ptr<RelayAImpl> a_impl;
  NestedChain() {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    b = std::make_unique<tern::Server>(so);
    EXPECT_TRUE(b->expose<SlowB>(b_impl).is_ok());
    EXPECT_TRUE(b->start().is_ok());
    a_client = std::make_unique<tern::Client>(testutil::one_io());
    auto opts = testutil::failfast();
    opts.timeout = 30s;  // only the cancellation can end the nested call early
    a_impl = std::make_shared<RelayAImpl>(a_client->refer<SlowB>(testutil::direct(*b), opts).value());
    a = std::make_unique<tern::Server>(so);
    EXPECT_TRUE(a->expose<RelayA>(a_impl).is_ok());
    EXPECT_TRUE(a->start().is_ok());
  }
  ~NestedChain() {
    a->shutdown(100ms);
    b->shutdown(100ms);
  }
  // After the consumer of A gave up: B sees its call cancelled and A's
  // handler resumes with CANCELLED, both within `bound`.
  void expect_cancelled_downstream(std::chrono::steady_clock::time_point gave_up, std::chrono::milliseconds bound) {
    auto f = a_impl->nested.get_future();
    ASSERT_EQ(f.wait_for(bound), std::future_status::ready) << "A's handler still awaits B";
    auto resumed = std::chrono::steady_clock::now() - gave_up;
    tern::Status st = f.get();
    EXPECT_EQ(st.code(), tern::StatusCode::kCancelled) << st;
    EXPECT_LT(resumed, bound);
    ASSERT_TRUE(testutil::wait_until([&] { return b_impl->finished.load(); }, bound));
    auto b_done = std::chrono::steady_clock::now() - gave_up;
    EXPECT_TRUE(b_impl->saw_cancel.load()) << "B's call was not cancelled on the wire";
    EXPECT_LT(b_done, bound);
  }
};

TEST(GoneCallers, CoroutineHandlersAwaitedCallIsCancelledWhenItsConsumerCancels) {
  NestedChain chain;
  tern::Client consumer(testutil::one_io());
  auto opts = testutil::failfast();
  opts.timeout = 30s;
  auto relay = consumer.refer<RelayA>(testutil::direct(*chain.a), opts).value();
  auto f = relay.async_call<&RelayA::relay>(20);
  ASSERT_TRUE(testutil::wait_until([&] { return chain.b_impl->started.load(); }));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(f.cancel());  // a cancel frame to A
  chain.expect_cancelled_downstream(t0, 2s);
}

TEST(GoneCallers, CoroutineHandlersAwaitedCallIsCancelledWhenItsConsumerCloses) {
  NestedChain chain;
  std::chrono::steady_clock::time_point t0;
  {
    tern::Client consumer(testutil::one_io());
    auto opts = testutil::failfast();
    opts.timeout = 30s;
    auto relay = consumer.refer<RelayA>(testutil::direct(*chain.a), opts).value();
    relay.callback<&RelayA::relay>([](tern::Result<std::string>) {}, 20);
    ASSERT_TRUE(testutil::wait_until([&] { return chain.b_impl->started.load(); }));
    t0 = std::chrono::steady_clock::now();
  }  // the consumer's connection to A closes
  chain.expect_cancelled_downstream(t0, 2s);
}

TEST(GoneCallers, QueuedRequestsOfAClosedConnectionAreShedUnrun) {
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server
                  .add_method("Wait", "block",
                              [&](tern::ServerCall& c) {
                                runs.fetch_add(1);
                                testutil::wait_until([&] { return release.load(); }, 10s, 1ms);
                                c.respond(c.start_response());
                              })
                  .is_ok());
  ASSERT_TRUE(server.start().is_ok());
  {
    RawConn raw(server.port());
    std::string all;
    for (std::uint64_t id = 1; id <= 6; ++id) {
      tern::protocol::FrameBuilder b(tern::protocol::FrameType::kRequest, id);
      b.add_meta("service", "Wait");
      b.add_meta("method", "block");
      b.begin_body();
      all += b.finish();
    }
    for (int i = 0; i < 2; ++i) {  // oneways: their consumer asked for the work, not for an answer
      tern::protocol::FrameBuilder b(tern::protocol::FrameType::kOneway, 0);
      b.add_meta("service", "Wait");
      b.add_meta("method", "block");
      b.begin_body();
      all += b.finish();
    }
    raw.send(all);  // one runs, five requests and two oneways wait for the only worker
    ASSERT_TRUE(testutil::wait_until([&] { return runs.load() == 1 && server.stats().requests == 8; }));
  }  // the consumer goes away
  ASSERT_TRUE(testutil::wait_until([&] { return server.stats().connections == 0; }));
  release = true;
  ASSERT_TRUE(testutil::wait_until([&] { return server.stats().shed == 5 && runs.load() == 3; }))
      << server.stats().shed << " shed, " << runs.load() << " ran";
  EXPECT_EQ(runs.load(), 3);  // the first request and both oneways
  EXPECT_EQ(server.stats().shed, 5u);
  server.shutdown(100ms);
}

TEST(GoneCallers, RequestWhoseDeadlinePassedInTheQueueIsShed) {
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server
                  .add_method("Wait", "block",
                              [&](tern::ServerCall& c) {
                                runs.fetch_add(1);
                                testutil::wait_until([&] { return release.load(); }, 10s, 1ms);
                                c.respond(c.start_response());
                              })
                  .is_ok());
  ASSERT_TRUE(server.start().is_ok());
  RawConn raw(server.port());
  auto req = [](std::uint64_t id, std::uint32_t timeout_ms) {
    tern::protocol::FrameBuilder b(tern::protocol::FrameType::kRequest, id);
    b.add_meta("service", "Wait");
    b.add_meta("method", "block");
    b.begin_body();
    return with_id(b.finish(), id, timeout_ms);
  };
  raw.send(req(1, 0) + req(2, 50));
  ASSERT_TRUE(testutil::wait_until([&] { return runs.load() == 1 && server.stats().requests == 2; }));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(testutil::wait_until([&] { return std::chrono::steady_clock::now() - t0 > 60ms; }));
  release = true;
  auto a = raw.next();
  auto b = raw.next();
  ASSERT_TRUE(a && b);
  if (a->header.request_id != 1) std::swap(a, b);
  EXPECT_EQ(a->header.status(), tern::StatusCode::kOk);
  EXPECT_EQ(b->header.status(), tern::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(server.stats().shed, 1u);
  server.shutdown(100ms);
}

// --- 5. Logging under attack ---------------------------------------------------

struct LogCapture {
  LogCapture() {
    tern::set_log_sink([this](tern::LogLevel, std::string_view m) {
      std::lock_guard lock(mu);
      lines.emplace_back(m);
    });
  }
  ~LogCapture() { tern::set_log_sink({}); }
  std::size_t count(std::string_view needle) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (auto& l : lines) n += l.find(needle) != std::string::npos;
    return n;
  }
  std::mutex mu;
  std::vector<std::string> lines;
};

std::string oversize_header() {
  return std::string("\x7e\x4e\x01\x01\x03\x00\x00\x00", 8) + std::string(8, '\0') +
         std::string("\xff\xff\xff\xff", 4) + std::string(4, '\0');
}

TEST(ProtocolErrorLog, OneOversizeFrameIsLoggedOncePerConnection) {
  auto server = testutil::start_server();
  LogCapture logs;
  for (int i = 0; i < 3; ++i) {
    RawConn raw(server->port());
    // The bad header and more bytes behind it, in several reads.
    raw.send_hostile(oversize_header() + std::string(100000, 'z'));
    EXPECT_FALSE(raw.next(5s).has_value());  // closed, nothing answered
  }
  ASSERT_TRUE(testutil::wait_until([&] { return logs.count("exceeds the limit") >= 3; }));
  EXPECT_EQ(logs.count("exceeds the limit"), 3u);  // one per connection
  server->shutdown(100ms);
}

TEST(ProtocolErrorLog, GarbageFromManyConnectionsIsRateLimitedProcessWide) {
  auto server = testutil::start_server();
  LogCapture logs;
  auto suppressed0 = tern::rpc::protocol_errors_suppressed();
  auto t0 = std::chrono::steady_clock::now();
  constexpr int kConnections = 200;
  for (int i = 0; i < kConnections; ++i) {
    RawConn raw(server->port());
    raw.send_hostile("GET / HTTP/1.1\r\n\r\n");
    EXPECT_FALSE(raw.next(5s).has_value());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(testutil::wait_until(
      [&] { return logs.count("bad magic") + (tern::rpc::protocol_errors_suppressed() - suppressed0) >= kConnections; }));
  std::size_t written = logs.count("bad magic");
  EXPECT_LE(written, static_cast<std::size_t>(tern::rpc::kProtocolLogBurst + tern::rpc::kProtocolLogPerSecond * (secs + 1)));
  EXPECT_LT(written, static_cast<std::size_t>(kConnections));
  EXPECT_GE(tern::rpc::protocol_errors_suppressed() - suppressed0, kConnections - written);
  server->shutdown(100ms);
}

// --- 6. Correctness bugs ---------------------------------------------------------

TEST(Bugs, SyncCallOnAClientIoThreadFailsAtOnceWithFailedPrecondition) {
  auto server = testutil::start_server();
  tern::Client client(testutil::one_io());  // dispatcher "execution": callbacks on the IO thread
  auto calc = client.refer<Calculator>(testutil::direct(*server), testutil::failfast()).value();
  std::promise<tern::Status> inner;
  auto f = inner.get_future();
  auto t0 = std::chrono::steady_clock::now();
  calc.callback<&Calculator::add>(
      [&](tern::Result<int> r) {
        EXPECT_TRUE(r.has_value());
        auto nested = calc.call<&Calculator::add>(2, 3);
        inner.set_value(nested.has_value() ? tern::Status() : nested.status());
      },
      1, 2);
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  tern::Status s = f.get();
  EXPECT_EQ(s.code(), tern::StatusCode::kFailedPrecondition) << s;
  EXPECT_FALSE(s.may_have_executed());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // Off the IO threads the sync call works as always.
  EXPECT_EQ(calc.call<&Calculator::add>(2, 3).value(), 5);
  server->shutdown(100ms);
}

TEST(Bugs, ServerCallDroppedAfterItsHandlerStartedAnswersInternalLoggedAndCounted) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  std::atomic<int> runs{0};
  ASSERT_TRUE(server
                  .add_method("Drop", "it",
                              [&](tern::ServerCall& c) {
                                runs.fetch_add(1);
                                // Owned elsewhere and lost: a bug in the handler.
                                auto owned = std::make_shared<tern::ServerCall>(std::move(c));
                              })
                  .is_ok());
  ASSERT_TRUE(server.start().is_ok());
  std::vector<std::string> errors;
  std::mutex mu;
  tern::set_log_sink([&](tern::LogLevel level, std::string_view m) {
    if (level != tern::LogLevel::kError) return;
    std::lock_guard lock(mu);
    errors.emplace_back(m);
  });
  tern::Client client(testutil::one_io());
  auto ref = client.reference("Drop", testutil::direct(server), testutil::failfast()).value();
  std::promise<tern::CallResult> p;
  auto f = p.get_future();
  ref->invoke("it", ref->new_request("it", false).finish(), 5s, [&p](tern::CallResult&& r) { p.set_value(std::move(r)); });
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);  // not left to the consumer's deadline
  auto r = f.get();
  tern::set_log_sink({});
  EXPECT_EQ(r.status.code(), tern::StatusCode::kInternal) << r.status;
  EXPECT_EQ(r.status.message(), "the call was destroyed without a response");
  EXPECT_TRUE(r.status.may_have_executed()) << r.status;  // its handler ran: failover must not rerun it
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(server.stats().unanswered_calls, 1u);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_NE(errors[0].find("Drop.it"), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("destroyed without a response"), std::string::npos) << errors[0];
  }
  server.shutdown(100ms);
}

TEST(Bugs, TaskMethodThatThrowsBeforeReturningItsTaskAnswersTheException) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server.expose<ThrowsEarly>(std::make_shared<ThrowsEarlyImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  tern::Client client(testutil::one_io());
  auto te = client.refer<ThrowsEarly>(testutil::direct(server), testutil::failfast()).value();
  auto r = te.call<&ThrowsEarly::get>(1);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal) << r.status();
  EXPECT_EQ(r.status().message(), "no task today");
  EXPECT_TRUE(r.status().may_have_executed());
  // Counted by the server's handler wrapper after the answer left (the
  // consumer can see the answer first): wait for the count.
  EXPECT_TRUE(testutil::wait_until([&] { return server.stats().handler_errors == 1u; }, 3s));
  EXPECT_EQ(server.stats().unanswered_calls, 0u);  // answered from the exception, not by a destroyed call
  server.shutdown(100ms);
}
// tern/server_call.h: the server answers a refused call itself; the
// destructor's answer is only for handlers that lose their call.
TEST(Bugs, PoolRefusalAnswersResourceExhaustedWithTheRequestIdNotThroughTheDestructor) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 1;
  so.worker_queue = 1;
  so.dispatcher = "message";  // requests on the pool, connection events on the IO thread
  tern::Server server(so);
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  ASSERT_TRUE(server
                  .add_method("Wait", "block",
                              [&](tern::ServerCall& c) {
                                if (runs.fetch_add(1) == 0) testutil::wait_until([&] { return release.load(); }, 10s, 1ms);
                                c.respond(c.start_response());
                              })
                  .is_ok());
  ASSERT_TRUE(server.start().is_ok());
  RawConn raw(server.port());
  auto req = [](std::uint64_t id) {
    tern::protocol::FrameBuilder b(tern::protocol::FrameType::kRequest, id);
    b.add_meta("service", "Wait");
    b.add_meta("method", "block");
    b.begin_body();
    return with_id(b.finish(), id);
  };
  raw.send(req(11));  // takes the only business thread
  ASSERT_TRUE(testutil::wait_until([&] { return runs.load() == 1; }));
  raw.send(req(21) + req(22) + req(23));  // 21 fits in the queue; 22 and 23 do not
  for (std::uint64_t id : {22u, 23u}) {
    auto f = raw.next();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->header.type, tern::protocol::FrameType::kResponse);
    EXPECT_EQ(f->header.request_id, id);
    EXPECT_EQ(f->header.status_or_flags, static_cast<std::uint8_t>(tern::StatusCode::kResourceExhausted));
    EXPECT_EQ(f->body(), "provider overloaded: business pool queue is full");
    EXPECT_EQ(tern::protocol::find_meta(f->meta(), tern::protocol::meta_keys::kExecuted).data(), nullptr);
  }
  release = true;
  for (std::uint64_t id : {11u, 21u}) {
    auto f = raw.next();
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->header.request_id, id);
    EXPECT_EQ(f->header.status_or_flags, 0);
  }
  EXPECT_EQ(runs.load(), 2);
  auto stats = server.stats();
  EXPECT_EQ(stats.rejected_overload, 2u);
  EXPECT_EQ(stats.unanswered_calls, 0u);  // answered explicitly, not by a destroyed ServerCall
  server.shutdown(100ms);
}

TEST(Bugs, HostNameIsResolvedWithoutHoldingTheChannelLock) {
  std::atomic<bool> entered{false}, release{false};
  tern::rpc::set_resolve_hook_for_test(
      [&](const tern::HostPort& hp) -> tern::Result<asio::ip::tcp::endpoint> {
        entered = true;  // a slow DNS answer
        testutil::wait_until([&] { return release.load(); }, 10s, 1ms);
        return asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), hp.port);
      });
  auto server = testutil::start_server();
  tern::Client client(testutil::one_io());
  std::string host = "slow-dns.test";
  auto calc =
      client.refer<Calculator>("direct://" + host + ":" + std::to_string(server->port()), testutil::failfast()).value();
  tern::Result<int> result = tern::Status(tern::StatusCode::kInternal, "unset");
  std::thread caller([&] { result = calc.call<&Calculator::add>(1, 2); });
  ASSERT_TRUE(testutil::wait_until([&] { return entered.load(); }));
  // While the name resolves, the channel answers (it used to wait on its lock).
  auto ch = client.channels().get(tern::HostPort{host, server->port()});
  auto t0 = std::chrono::steady_clock::now();
  bool connected = ch->connected();
  auto stats = ch->stats();
  auto took = std::chrono::steady_clock::now() - t0;
  release = true;
  caller.join();
  tern::rpc::set_resolve_hook_for_test(nullptr);
  EXPECT_LT(took, 1s);
  EXPECT_FALSE(connected);
  EXPECT_EQ(stats.pending, 0u);
  ASSERT_TRUE(result.has_value()) << result.status();
  EXPECT_EQ(*result, 3);
  server->shutdown(100ms);
}

// A hook that holds every host-name resolution until released (a DNS server
// that does not answer), counting the resolutions it saw.
struct SlowDns {
  std::atomic<int> entered{0};
  std::atomic<bool> release{false};
  SlowDns() {
    tern::rpc::set_resolve_hook_for_test([this](const tern::HostPort& hp) -> tern::Result<asio::ip::tcp::endpoint> {
      entered.fetch_add(1);
      testutil::wait_until([&] { return release.load(); }, 20s, 1ms);
      return asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), hp.port);
    });
  }
  ~SlowDns() {
    release = true;
    tern::rpc::set_resolve_hook_for_test(nullptr);
  }
};

TEST(Bugs, HostNameIsNotResolvedOnTheIoThreadOfARetryFromACompletion) {
  auto server = testutil::start_server();
  SlowDns dns;
  tern::Client client(testutil::one_io());  // dispatcher "execution": callbacks on the one IO thread
  auto by_ip = client.refer<Calculator>(testutil::direct(*server), testutil::failfast()).value();
  auto by_name = client
                     .refer<Calculator>("direct://slow-dns.test:" + std::to_string(server->port()),
                                        testutil::failfast())
                     .value();
  std::promise<tern::Result<int>> named;
  auto named_f = named.get_future();
  std::promise<std::chrono::steady_clock::duration> callback_took;
  // A completion (on the IO thread) starts a call to a host name, as a retry does.
  by_ip.callback<&Calculator::add>(
      [&](tern::Result<int> r) {
        EXPECT_TRUE(r.has_value());
        auto t0 = std::chrono::steady_clock::now();
        by_name.callback<&Calculator::add>([&](tern::Result<int> n) { named.set_value(std::move(n)); }, 20, 22);
        callback_took.set_value(std::chrono::steady_clock::now() - t0);
      },
      1, 2);
  ASSERT_TRUE(testutil::wait_until([&] { return dns.entered.load() > 0; }));
  // While the name resolves, the IO thread serves other calls.
  auto t0 = std::chrono::steady_clock::now();
  auto other = by_ip.call<&Calculator::add>(3, 4);
  auto other_took = std::chrono::steady_clock::now() - t0;
  ASSERT_TRUE(other.has_value()) << other.status();
  EXPECT_EQ(*other, 7);
  EXPECT_LT(other_took, 1s);
  auto cf = callback_took.get_future();
  ASSERT_EQ(cf.wait_for(5s), std::future_status::ready);
  EXPECT_LT(cf.get(), 100ms) << "the callback waited for DNS";
  EXPECT_EQ(named_f.wait_for(0s), std::future_status::timeout) << "no answer before the name resolves";
  dns.release = true;
  ASSERT_EQ(named_f.wait_for(5s), std::future_status::ready);
  auto n = named_f.get();
  ASSERT_TRUE(n.has_value()) << n.status();
  EXPECT_EQ(*n, 42);
  EXPECT_EQ(dns.entered.load(), 1);
  server->shutdown(100ms);
}

TEST(Bugs, CallsWaitingForDnsKeepTheirDeadlineAndShareOneResolution) {
  auto server = testutil::start_server();
  SlowDns dns;
  tern::Client client(testutil::one_io());
  auto opts = testutil::failfast();
  opts.timeout = 300ms;
  auto calc = client.refer<Calculator>("direct://slow-dns.test:" + std::to_string(server->port()), opts).value();
  std::vector<std::thread> callers;
  std::vector<tern::Result<int>> results(4, tern::Status(tern::StatusCode::kInternal, "unset"));
  std::vector<std::chrono::steady_clock::duration> took(4);
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&, i] {
      auto t0 = std::chrono::steady_clock::now();
      results[i] = calc.call<&Calculator::add>(i, 1);
      took[i] = std::chrono::steady_clock::now() - t0;
    });
  }
  for (auto& t : callers) t.join();  // DNS is still held
  for (int i = 0; i < 4; ++i) {
    ASSERT_FALSE(results[i].has_value());
    EXPECT_EQ(results[i].status().code(), tern::StatusCode::kDeadlineExceeded) << results[i].status();
    EXPECT_FALSE(results[i].status().may_have_executed()) << "never sent";
    EXPECT_LT(took[i], 2s);
  }
  EXPECT_EQ(dns.entered.load(), 1) << "callers waiting for one name share its resolution";
  dns.release = true;
  // Once resolved, calls go through on the dialled connection.
  tern::Result<int> ok = tern::Status(tern::StatusCode::kInternal, "unset");
  ASSERT_TRUE(testutil::wait_until([&] {
    ok = calc.call<&Calculator::add>(2, 3);
    return ok.has_value();
  }, 5s));
  EXPECT_EQ(*ok, 5);
  server->shutdown(100ms);
}

TEST(Bugs, FutureGetTwiceReturnsFailedPreconditionNotAMovedFromValue) {
  tern::Promise<std::string> p;
  auto f = p.future();
  p.set(std::string("value"));
  auto first = f.get();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, "value");
  auto second = f.get();
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.status().code(), tern::StatusCode::kFailedPrecondition);
}

}  // namespace
