// The call modes (sync, future, callback, coroutine, oneway) over one async
// core: every terminal state completes exactly once; deadlines propagate;
// cancellation, attachments and filters.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {

struct HopReport {
  std::vector<long long> remaining_ms;
  std::vector<std::string> traces;
};

struct Hop {
  virtual ~Hop() = default;
  virtual tern::Task<HopReport> chain(int depth) = 0;
};

// Coroutine methods that answer with their own error, as a plain method
// returning tern::Result<T> does.
struct Halver {
  virtual ~Halver() = default;
  virtual tern::Task<tern::Result<int>> half(int n) = 0;
  virtual tern::Task<tern::Result<void>> require_even(int n) = 0;
  virtual tern::Result<void> require_positive(int n) = 0;  // not a coroutine
};

}  // namespace

TERN_STRUCT(HopReport, remaining_ms, traces)
TERN_SERVICE(Hop, chain)
TERN_SERVICE(Halver, half, require_even, require_positive)

// A consumer sees the value type, as for Result<T> and Task<T>.
static_assert(std::is_same_v<tern::method_result_t<&Halver::half>, int>);
static_assert(std::is_same_v<tern::method_result_t<&Halver::require_even>, void>);

namespace {

using testutil::direct;
using testutil::one_io;
using testutil::start_server;
using testutil::wait_until;
using Announcing = testsvc::AnnouncingCalculator;

TEST(CallModes, FutureGetWaitReadyThenChain) {
  auto server = start_server();
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  auto f = calc.async_call<&Calculator::add>(20, 22);
  ASSERT_TRUE(f.wait_for(2s));
  EXPECT_TRUE(f.ready());
  EXPECT_EQ(f.get().value(), 42);

  auto chained = calc.async_call<&Calculator::add>(1, 2)
                     .then([](tern::Result<int> r) { return r.value() * 10; })
                     .then([](tern::Result<int> r) { return std::to_string(r.value()); });
  EXPECT_EQ(chained.get().value(), "30");

  auto slow = calc.async_call<&Calculator::sleep_ms>(200);
  EXPECT_FALSE(slow.ready());
  EXPECT_FALSE(slow.wait_for(10ms));
  EXPECT_EQ(slow.get().value(), "slept 200");

  auto err = calc.async_call<&Calculator::fail>("nope").then([](tern::Result<int> r) {
    return r.has_value() ? std::string("value") : r.status().message();
  });
  EXPECT_EQ(err.get().value(), "nope");
  server->shutdown(100ms);
}

TEST(CallModes, CallbackRunsExactlyOnceInEveryTerminalState) {
  auto impl = std::make_shared<Announcing>();
  auto server = start_server(impl);
  auto client = std::make_unique<tern::Client>(one_io());
  tern::ReferenceOptions ro;
  ro.timeout = 150ms;
  auto calc = client->refer<Calculator>(direct(*server), ro).value();

  struct Probe {
    std::atomic<int> runs{0};
    std::atomic<int> code{-1};
  };
  // The first run; a second (wrong) one is looked for once nothing more can
  // come: after the late responses arrived, and after the client is gone.
  auto wait_runs = [](Probe& p) { EXPECT_TRUE(wait_until([&] { return p.runs.load() > 0; }, 3s)); };
  auto cb = [](Probe& p) {
    return [&p](auto r) {
      p.runs.fetch_add(1);
      p.code.store(static_cast<int>(r.status().code()));
    };
  };

  Probe value, remote, timeout, lost, shutdown, cancelled;
  auto ch = client->channels().get(tern::HostPort{"127.0.0.1", server->port()});
  calc.callback<&Calculator::add>(cb(value), 1, 2);
  calc.callback<&Calculator::fail>(cb(remote), "x");
  // The handler's 400 ms sleep is the behaviour under test: longer than the
  // 150 ms timeout, so the call times out and the answer comes late.
  calc.callback<&Calculator::sleep_ms>(cb(timeout), 400);
  wait_runs(value);
  wait_runs(remote);
  wait_runs(timeout);
  // The late answer arrived and was dropped: it did not run the callback again.
  ASSERT_TRUE(wait_until([&] { return ch->stats().late_responses == 1; }, 3s)) << ch->stats().late_responses;
  EXPECT_EQ(ch->stats().timeouts, 1u);
  EXPECT_EQ(value.runs.load(), 1);
  EXPECT_EQ(value.code.load(), 0);
  EXPECT_EQ(remote.runs.load(), 1);
  EXPECT_EQ(remote.code.load(), static_cast<int>(tern::StatusCode::kInternal));
  EXPECT_EQ(timeout.runs.load(), 1);
  EXPECT_EQ(timeout.code.load(), static_cast<int>(tern::StatusCode::kDeadlineExceeded));

  // Cancelled (future form).
  auto f = calc.async_call<&Calculator::sleep_ms>(300);
  std::atomic<int> then_runs{0};
  auto g = f.then([&](tern::Result<std::string> r) {
    then_runs.fetch_add(1);
    return r.status().code();
  });
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(g.get().value(), tern::StatusCode::kCancelled);
  // The handler (which ignores the cancel) answers after its 300 ms: that
  // answer arrives late and is dropped, and the continuation ran only once.
  ASSERT_TRUE(wait_until([&] { return ch->stats().late_responses == 2; }, 3s)) << ch->stats().late_responses;
  EXPECT_EQ(then_runs.load(), 1);
  EXPECT_EQ(ch->stats().pending, 0u);

  // Connection lost: the provider goes away mid-call.
  tern::ReferenceOptions long_ro;
  long_ro.timeout = 5s;
  auto impl2 = std::make_shared<Announcing>();
  auto server2 = start_server(impl2);
  auto calc2 = client->refer<Calculator>(direct(*server2), long_ro).value();
  calc2.callback<&Calculator::sleep_ms>(cb(lost), 1000);
  ASSERT_TRUE(wait_until([&] { return impl2->started.load() == 1; }, 3s));  // in the handler
  server2->shutdown(0ms);
  wait_runs(lost);
  EXPECT_EQ(lost.runs.load(), 1);
  EXPECT_EQ(lost.code.load(), static_cast<int>(tern::StatusCode::kUnavailable));

  // Consumer shutdown with the call pending.
  auto calc3 = client->refer<Calculator>(direct(*server), long_ro).value();
  const int started_before = impl->started.load();
  calc3.callback<&Calculator::sleep_ms>(cb(shutdown), 300);
  ASSERT_TRUE(wait_until([&] { return impl->started.load() == started_before + 1; }, 3s));  // in the handler
  client.reset();
  EXPECT_EQ(shutdown.runs.load(), 1);
  EXPECT_EQ(shutdown.code.load(), static_cast<int>(tern::StatusCode::kCancelled));
  // The client is gone: nothing can run a callback any more. Each ran once.
  for (Probe* p : {&value, &remote, &timeout, &lost, &shutdown}) EXPECT_EQ(p->runs.load(), 1);
  EXPECT_EQ(then_runs.load(), 1);
  server->shutdown(1s);
}

TEST(CallModes, CancelFreesPendingAndTellsTheProvider) {
  std::atomic<bool> saw_cancel{false};
  struct Slow : testsvc::CalculatorImpl {
    std::atomic<bool>* flag;
    std::atomic<bool> started{false};
    std::string sleep_ms(int ms) override {
      started = true;
      auto* ctx = tern::ServerContext::current();
      auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
      while (std::chrono::steady_clock::now() < end) {
        if (ctx->cancelled()) {
          flag->store(true);
          return "cancelled";
        }
        std::this_thread::sleep_for(5ms);  // the handler's polling of cancelled(): the behaviour under test
      }
      return "done";
    }
  };
  auto impl = std::make_shared<Slow>();
  impl->flag = &saw_cancel;
  auto server = start_server(impl);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  auto f = calc.async_call<&Calculator::sleep_ms>(2000);
  ASSERT_TRUE(wait_until([&] { return impl->started.load(); }, 3s));  // the provider runs it
  auto ch = client.channels().get(tern::HostPort{"127.0.0.1", server->port()});
  EXPECT_EQ(ch->stats().pending, 1u);
  EXPECT_TRUE(f.cancel());
  EXPECT_EQ(ch->stats().pending, 0u);  // freed at once
  EXPECT_EQ(f.get().status().code(), tern::StatusCode::kCancelled);
  EXPECT_TRUE(wait_until([&] { return saw_cancel.load(); }, 1s));
  EXPECT_FALSE(f.cancel());  // already complete
  server->shutdown(500ms);
}

TEST(CallModes, CoroutineCall) {
  auto server = start_server();
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  auto task = [](tern::Proxy<Calculator> c) -> tern::Task<int> {
    auto a = co_await c.co_call<&Calculator::add>(1, 2);
    auto b = co_await c.co_call<&Calculator::add>(a.value(), 10);
    auto e = co_await c.co_call<&Calculator::fail>("co-error");
    co_return b.value() + (e.status().message() == "co-error" ? 1000 : 0);
  };
  EXPECT_EQ(tern::sync_wait(task(calc)).value(), 1013);
  server->shutdown(100ms);
}

namespace {
struct HalverImpl : Halver {
  tern::Task<tern::Result<int>> half(int n) override {
    if (n % 2 != 0) co_return tern::Status(tern::StatusCode::kInvalidArgument, std::to_string(n) + " is odd");
    co_return n / 2;
  }
  tern::Task<tern::Result<void>> require_even(int n) override {
    if (n % 2 != 0) co_return tern::Status(tern::StatusCode::kFailedPrecondition, "odd");
    co_return tern::Result<void>();
  }
  tern::Result<void> require_positive(int n) override {
    if (n <= 0) return tern::Status(tern::StatusCode::kOutOfRange, "not positive");
    return {};
  }
};
}  // namespace

TEST(CallModes, MethodsReturningAResultAnswerWithTheirValueOrTheirError) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  auto server = std::make_unique<tern::Server>(so);
  ASSERT_TRUE(server->expose<Halver>(std::make_shared<HalverImpl>()).is_ok());
  ASSERT_TRUE(server->start().is_ok());
  tern::Client client(one_io());
  for (const char* serialization : {"msgpack", "json"}) {
    SCOPED_TRACE(serialization);
    tern::ReferenceOptions ro;
    ro.serialization = serialization;
    auto halver = client.refer<Halver>(direct(*server), ro).value();
    tern::Result<int> four = halver.call<&Halver::half>(8);
    ASSERT_TRUE(four.has_value()) << four.status().to_string();
    EXPECT_EQ(*four, 4);
    tern::Result<int> odd = halver.call<&Halver::half>(7);
    ASSERT_FALSE(odd.has_value());
    EXPECT_EQ(odd.status().code(), tern::StatusCode::kInvalidArgument);
    EXPECT_EQ(odd.status().message(), "7 is odd");
    EXPECT_TRUE(halver.call<&Halver::require_even>(2).has_value());
    tern::Result<void> refused = halver.call<&Halver::require_even>(3);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.status().code(), tern::StatusCode::kFailedPrecondition);
    EXPECT_EQ(refused.status().message(), "odd");
    EXPECT_TRUE(halver.call<&Halver::require_positive>(1).has_value());
    tern::Result<void> negative = halver.call<&Halver::require_positive>(-1);
    ASSERT_FALSE(negative.has_value());
    EXPECT_EQ(negative.status().code(), tern::StatusCode::kOutOfRange);
    EXPECT_EQ(negative.status().message(), "not positive");
  }
  server->shutdown(100ms);
}

// A -> B -> C, each hop a coroutine handler making the next call without
// holding a thread; each hop reports its remaining deadline and the
// propagated trace id.
class HopImpl : public Hop {
 public:
  HopImpl() = default;  // the last hop (not HopImpl(std::nullopt): GCC 12 -O1 with
                        // -fsanitize warns -Wmaybe-uninitialized moving an empty optional)
  explicit HopImpl(tern::Proxy<Hop> next) : next_(std::move(next)) {}
  tern::Task<HopReport> chain(int depth) override {
    auto* ctx = tern::ServerContext::current();
    long long mine = ctx->remaining().count();
    std::string trace(ctx->attachment("trace-id"));
    HopReport report;
    if (next_ && depth > 1) {
      std::this_thread::sleep_for(30ms);  // spend some of the budget
      auto r = co_await next_->co_call<&Hop::chain>(depth - 1);
      report = r.value();
    }
    report.remaining_ms.insert(report.remaining_ms.begin(), mine);
    report.traces.insert(report.traces.begin(), trace);
    co_return report;
  }

 private:
  std::optional<tern::Proxy<Hop>> next_;
};

TEST(CallModes, NestedCoroutineChainShrinksTheDeadlineHopByHop) {
  tern::Client client(one_io());
  auto make = [](std::shared_ptr<Hop> impl) {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.worker_threads = 1;  // coroutine handlers hold no thread while awaiting
    auto s = std::make_unique<tern::Server>(so);
    EXPECT_TRUE(s->expose<Hop>(std::move(impl)).is_ok());
    EXPECT_TRUE(s->start().is_ok());
    return s;
  };
  auto c = make(std::make_shared<HopImpl>());
  auto b = make(std::make_shared<HopImpl>(client.refer<Hop>(direct(*c)).value()));
  auto a = make(std::make_shared<HopImpl>(client.refer<Hop>(direct(*b)).value()));
  tern::ReferenceOptions ro;
  ro.timeout = 2000ms;
  tern::CallOptions co;
  co.propagated.emplace_back("trace-id", "t-123");
  auto hop = client.refer<Hop>(direct(*a), ro).value().with(co);
  auto report = hop.call<&Hop::chain>(3).value();
  ASSERT_EQ(report.remaining_ms.size(), 3u);
  EXPECT_LE(report.remaining_ms[0], 2000);
  EXPECT_GT(report.remaining_ms[0], 1500);
  EXPECT_LT(report.remaining_ms[1], report.remaining_ms[0]);
  EXPECT_LT(report.remaining_ms[2], report.remaining_ms[1]);
  EXPECT_EQ(report.traces, (std::vector<std::string>{"t-123", "t-123", "t-123"}));
  a->shutdown(100ms);
  b->shutdown(100ms);
  c->shutdown(100ms);
}

TEST(CallModes, ExpiredDeadlineIsAnsweredWithoutRunningTheHandler) {
  auto impl = std::make_shared<Announcing>();
  tern::ServerOptions so;
  so.worker_threads = 1;
  auto server = start_server(impl, so);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  // Occupies the only worker; its 300 ms sleep outlasts the next call's deadline.
  auto blocker = calc.async_call<&Calculator::sleep_ms>(300);
  ASSERT_TRUE(wait_until([&] { return impl->started.load() == 1; }, 3s));
  tern::CallOptions co;
  co.timeout = 50ms;
  auto r = calc.with(co).call<&Calculator::count>(7);  // queued behind the blocker
  EXPECT_EQ(r.status().code(), tern::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(blocker.get().value(), "slept 300");
  // The worker, free again, takes the queued call and sheds it (counted).
  EXPECT_TRUE(wait_until([&] { return server->stats().shed == 1; }, 3s)) << server->stats().shed;
  EXPECT_EQ(impl->total_.load(), 0);  // count() never ran
  EXPECT_EQ(calc.call<&Calculator::total>().value(), 0);
  server->shutdown(100ms);
}

struct TokenFilter : tern::ServerFilter {
  std::atomic<int> responses{0};
  std::atomic<int> last_code{-1};
  tern::Status on_request(tern::ServerContext& ctx) override {
    if (ctx.attachment("token") != "s3cret") return {tern::StatusCode::kUnauthenticated, "bad token"};
    ctx.set_response_attachment("served-by", "filtered");
    return {};
  }
  void on_response(tern::ServerContext&, const tern::Status& s, std::chrono::nanoseconds) override {
    responses.fetch_add(1);
    last_code = static_cast<int>(s.code());
  }
};

struct AddToken : tern::ClientFilter {
  std::atomic<int> seen{0};
  tern::Status on_request(tern::ClientInvocation& inv) override {
    inv.attachments->emplace_back("token", "s3cret");
    return {};
  }
  void on_response(std::string_view, std::string_view method, const tern::Status& s,
                   std::chrono::nanoseconds latency, const tern::CallBytes&) override {
    if (method == "add" && s.is_ok() && latency.count() > 0) seen.fetch_add(1);
  }
};

TEST(CallModes, FiltersAndAttachments) {
  auto filter = std::make_shared<TokenFilter>();
  tern::ServerOptions so;
  so.filters.push_back(filter);
  auto server = start_server(so);

  tern::Client plain(one_io());
  auto r = plain.refer<Calculator>(direct(*server)).value().call<&Calculator::add>(1, 2);
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "bad token");

  auto add_token = std::make_shared<AddToken>();
  auto co = one_io();
  co.filters.push_back(add_token);
  tern::Client with_token(co);
  std::vector<std::pair<std::string, std::string>> response_meta;
  tern::CallOptions opts;
  opts.response_attachments = &response_meta;
  auto calc = with_token.refer<Calculator>(direct(*server)).value().with(opts);
  EXPECT_EQ(calc.call<&Calculator::add>(2, 3).value(), 5);
  EXPECT_EQ(add_token->seen.load(), 1);
  ASSERT_EQ(response_meta.size(), 1u);
  EXPECT_EQ(response_meta[0].first, "served-by");
  EXPECT_EQ(response_meta[0].second, "filtered");
  // The provider runs on_response just after queueing the response, so it
  // may still be running when the consumer has its result.
  EXPECT_TRUE(wait_until([&] { return filter->responses.load() >= 2; }, 2s));
  EXPECT_EQ(filter->responses.load(), 2);
  EXPECT_EQ(filter->last_code.load(), 0);
  server->shutdown(100ms);
}

TEST(CallModes, HundredThousandMixedCallsLeaveNothingPending) {
  auto server = start_server();
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  std::mt19937 rng(42);
  std::atomic<int> completed{0}, ok{0};
  constexpr int kCalls = 100000;
  constexpr int kWindow = 256;
  std::atomic<int> in_flight{0};
  for (int i = 0; i < kCalls; ++i) {
    while (in_flight.load() >= kWindow) std::this_thread::yield();
    in_flight.fetch_add(1);
    tern::CallOptions co;
    co.timeout = std::chrono::milliseconds(1 + rng() % 50);
    auto p = calc.with(co);
    auto done = [&](auto r) {
      if (r.has_value()) ok.fetch_add(1);
      completed.fetch_add(1);
      in_flight.fetch_sub(1);
    };
    switch (i % 4) {
      case 0: p.callback<&Calculator::add>(done, i, 1); break;
      case 1: {
        auto f = p.async_call<&Calculator::add>(i, 2);
        (void)f.then(done);
        break;
      }
      case 2: {
        auto f = p.async_call<&Calculator::add>(i, 3);
        if (i % 8 == 2) f.cancel();
        (void)f.then(done);
        break;
      }
      default: {
        if (i % 100 == 3) {
          done(p.call<&Calculator::add>(i, 4));
        } else {
          EXPECT_TRUE(p.oneway<&Calculator::count>(1).is_ok());
          completed.fetch_add(1);
          ok.fetch_add(1);
          in_flight.fetch_sub(1);
        }
      }
    }
  }
  EXPECT_TRUE(wait_until([&] { return completed.load() >= kCalls; }, 10s));
  EXPECT_EQ(completed.load(), kCalls);
  EXPECT_GT(ok.load(), kCalls / 2);
  auto ch = client.channels().get(tern::HostPort{"127.0.0.1", server->port()});
  EXPECT_TRUE(wait_until([&] { return ch->stats().pending == 0; }, 1s));
  EXPECT_EQ(ch->stats().pending, 0u);
  server->shutdown(1s);
}

}  // namespace
