// Fault tolerance end to end (DESIGN §7): failover / failfast / failsafe /
// forking / broadcast, idempotent retries, hedged requests and outlier
// ejection, against real servers on port 0 (and a provider process killed with
// SIGKILL). Every test also checks that least_active's in-flight counter
// returns to zero on every path (value, error, cancel, lost connection).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>
#include <utility>

#include "loopback.h"
#include "subprocess.h"
#include "tcp_proxy.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;
using Clock = std::chrono::steady_clock;

namespace {

using testutil::direct;
using testutil::one_io;
using testutil::start_server;
using testutil::wait_until;

// A provider that says who it is and counts what reached it.
struct Named : testsvc::CalculatorImpl {
  explicit Named(std::string n, int sleep = -1) : name(std::move(n)), fixed_sleep_ms(sleep) {}
  std::string name;
  int fixed_sleep_ms;  // sleep_ms sleeps this long (-1: the argument)
  std::atomic<int> adds{0};
  std::atomic<int> sleeps{0};
  std::atomic<bool> fail_add{false};
  std::atomic<bool> saw_cancel{false};

  int add(int a, int b) override {
    adds.fetch_add(1);
    if (fail_add.load()) throw std::runtime_error(name + " fails");
    return a + b;
  }
  std::string greet(std::string) override { return name; }
  // Sleeps (fixed or the argument), watching for the consumer's cancel.
  std::string sleep_ms(int ms) override {
    sleeps.fetch_add(1);
    auto* ctx = tern::ServerContext::current();
    auto end = Clock::now() + std::chrono::milliseconds(fixed_sleep_ms >= 0 ? fixed_sleep_ms : ms);
    while (Clock::now() < end) {
      if (ctx->cancelled()) {
        saw_cancel.store(true);
        return "cancelled";
      }
      std::this_thread::sleep_for(2ms);  // polling cancelled(): the behaviour under test
    }
    return name;
  }
};

std::string addr(int port) { return "127.0.0.1:" + std::to_string(port); }

// A port nothing listens on (a server bound it, then went away).
int dead_port() {
  auto s = start_server();
  int port = s->port();
  s->shutdown(10ms);
  return port;
}

tern::ProviderStats stats_of(const tern::Proxy<Calculator>& p, int port) {
  for (auto& s : p.reference()->provider_stats()) {
    if (s.url.address() == addr(port)) return s;
  }
  ADD_FAILURE() << "no provider " << addr(port);
  return {};
}

std::uint64_t total_attempts(const tern::Proxy<Calculator>& p) {
  std::uint64_t n = 0;
  for (auto& s : p.reference()->provider_stats()) n += s.attempts;
  return n;
}

// least_active's counter must come back to zero on every completion path.
void expect_idle(const tern::Proxy<Calculator>& p) {
  auto busy = [&] {
    for (auto& s : p.reference()->provider_stats()) {
      if (s.active != 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(wait_until([&] { return !busy(); }, 2s));
  for (auto& s : p.reference()->provider_stats()) EXPECT_EQ(s.active, 0) << s.url.address();
}

// A consumer whose channels re-dial a failed provider at once
// (reconnect_backoff 0), for tests of the retry and ejection paths alone.
tern::ClientOptions no_reconnect_backoff() {
  auto co = one_io();
  co.channel.reconnect_backoff = 0ms;
  return co;
}

double ms_f(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0; }

tern::ReferenceOptions rr(std::string cluster = "failover") {
  tern::ReferenceOptions o;
  o.cluster = std::move(cluster);
  o.load_balance = "round_robin";
  return o;
}

// A Named provider on a port of its own (127.0.0.1), started.
struct Provider {
  explicit Provider(std::string name, int sleep = -1, tern::ServerOptions so = {})
      : impl(std::make_shared<Named>(std::move(name), sleep)), server(start_server(impl, std::move(so))) {}
  int port() const { return server->port(); }

  std::shared_ptr<Named> impl;
  std::unique_ptr<tern::Server> server;
};

// A provider whose fixed pool admits nothing (worker_queue = 0): every request
// is answered RESOURCE_EXHAUSTED before its handler runs.
Provider exhausted_provider(std::string name) {
  tern::ServerOptions so;
  so.worker_threads = 1;
  so.worker_queue = 0;
  return Provider(std::move(name), -1, std::move(so));
}

// Runs `call`; its result and how long it took.
template <typename F>
auto timed(F&& call) {
  auto t0 = Clock::now();
  auto result = call();
  return std::pair{std::move(result), Clock::now() - t0};
}

}  // namespace

TEST(ClusterOptions, UnknownStrategyAndBadNumbersAreInvalidArgument) {
  tern::Client client(one_io());
  tern::ReferenceOptions o;
  o.cluster = "retry-harder";
  auto r = client.reference("Calculator", "direct://127.0.0.1:1", o);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  o.cluster = "forking";
  o.forks = 0;
  EXPECT_EQ(client.reference("Calculator", "direct://127.0.0.1:1", o).status().code(),
            tern::StatusCode::kInvalidArgument);
  for (auto name : {"failover", "failfast", "failsafe", "forking", "broadcast"}) {
    tern::ReferenceOptions ok;
    ok.cluster = name;
    EXPECT_TRUE(client.reference("Calculator", "direct://127.0.0.1:1", ok).has_value()) << name;
  }
}

TEST(Failover, ResourceExhaustedIsRetriedOnAnotherProvider) {
  auto a = exhausted_provider("A");
  Provider b("B");
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({a.port(), b.port()}), rr()).value();
  for (int i = 0; i < 10; ++i) {
    auto r = calc.call<&Calculator::add>(i, 1);
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, i + 1);
  }
  EXPECT_EQ(b.impl->adds.load(), 10);
  EXPECT_EQ(a.impl->adds.load(), 0);  // rejected before the handler
  EXPECT_GE(a.server->stats().rejected_overload, 1u);
  EXPECT_EQ(stats_of(calc, a.port()).attempts, a.server->stats().rejected_overload);
  EXPECT_EQ(total_attempts(calc), 10 + a.server->stats().rejected_overload);
  expect_idle(calc);
}

TEST(Failover, AnAddressNothingListensOnIsRetriedElsewhere) {
  int dead = dead_port();
  Provider b("B");
  tern::Client client(no_reconnect_backoff());
  auto o = rr();
  o.eject_after = 0;  // keep trying the dead one: this test is about the retry
  auto calc = client.refer<Calculator>(direct({dead, b.port()}), o).value();
  auto t0 = Clock::now();
  for (int i = 0; i < 6; ++i) EXPECT_EQ(calc.call<&Calculator::greet>("x").value(), "B");
  std::printf("measured: 6 failover calls, %d via the refused address first: %.2f ms total\n",
              static_cast<int>(stats_of(calc, dead).attempts), ms_f(Clock::now() - t0));
  auto d = stats_of(calc, dead);
  EXPECT_GE(d.attempts, 2u);
  EXPECT_EQ(d.consecutive_failures, static_cast<int>(d.attempts));
  expect_idle(calc);
}

TEST(Failover, RetriesZeroMakesExactlyOneAttempt) {
  auto a = exhausted_provider("A");
  Provider b("B");
  tern::Client client(one_io());
  auto o = rr();
  o.retries = 0;
  auto calc = client.refer<Calculator>(direct({a.port(), b.port()}), o).value();
  int ok = 0, exhausted = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = calc.call<&Calculator::add>(1, 1);
    if (r) {
      ++ok;
    } else {
      EXPECT_EQ(r.status().code(), tern::StatusCode::kResourceExhausted);
      EXPECT_FALSE(r.status().may_have_executed());
      ++exhausted;
    }
  }
  EXPECT_EQ(total_attempts(calc), 10u);  // exactly one attempt per call
  EXPECT_EQ(ok, b.impl->adds.load());
  EXPECT_EQ(static_cast<std::uint64_t>(exhausted), a.server->stats().rejected_overload);
  EXPECT_EQ(ok, 5);  // round robin over two providers
  expect_idle(calc);
}

// A call that reached a provider process which then died: retried only when
// the method is declared idempotent.
static void kill_mid_call(bool idempotent) {
  // --announce: the child prints "SLEEP <ms>" as sleep_ms enters its handler.
  testutil::Subprocess child({std::string(TERN_BINARY_DIR) + "/bin/tern_test_provider", "--announce", "1"});
  int port = child.wait_for_port();
  ASSERT_GT(port, 0);
  Provider b("B", /*sleep=*/0);
  tern::Client client(one_io());
  auto o = rr();
  o.timeout = 10s;
  if (idempotent) o.idempotent_methods = {"sleep_ms"};
  auto calc = client.refer<Calculator>(direct({port, b.port()}), o).value();
  // Round robin alternates: after an answer from B the next call goes to the child.
  bool b_last = false;
  for (int i = 0; i < 4 && !b_last; ++i) b_last = calc.call<&Calculator::greet>("x").value() == "B";
  ASSERT_TRUE(b_last);
  auto before = stats_of(calc, port).attempts;
  auto f = calc.async_call<&Calculator::sleep_ms>(5000);
  EXPECT_EQ(child.read_line(5s), "SLEEP 5000");  // the call is in the child's handler
  auto t0 = Clock::now();
  child.kill(SIGKILL);
  auto r = f.get();
  EXPECT_LT(Clock::now() - t0, 2s);
  std::printf("measured: %s call completed %.1f ms after SIGKILL\n", idempotent ? "idempotent" : "non-idempotent",
              ms_f(Clock::now() - t0));
  if (idempotent) {
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, "B");
    EXPECT_EQ(b.impl->sleeps.load(), 1);
  } else {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
    EXPECT_TRUE(r.status().may_have_executed());
    EXPECT_EQ(b.impl->sleeps.load(), 0);
  }
  EXPECT_EQ(stats_of(calc, port).attempts, before + 1);  // never tried there twice
  expect_idle(calc);
}

TEST(Failover, NonIdempotentCallLostMidCallIsNotRetried) { kill_mid_call(false); }
TEST(Failover, IdempotentCallLostMidCallIsRetriedAndSucceeds) { kill_mid_call(true); }

TEST(Failover, DeadlineExceededIsNotRetriedEvenWhenIdempotent) {
  Provider a("A", 1000), b("B", 1000);
  tern::Client client(one_io());
  auto o = rr();
  o.timeout = 150ms;
  o.idempotent_methods = {"sleep_ms"};
  auto calc = client.refer<Calculator>(direct({a.port(), b.port()}), o).value();
  auto r = calc.call<&Calculator::sleep_ms>(0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(total_attempts(calc), 1u);
  expect_idle(calc);
}

TEST(Failfast, OneAttemptTheErrorAsItIs) {
  int dead = dead_port();
  Provider b("B");
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({dead, b.port()}), rr("failfast")).value();
  int unavailable = 0;
  for (int i = 0; i < 4; ++i) {
    auto r = calc.call<&Calculator::greet>("x");
    if (!r) {
      EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
      ++unavailable;
    }
  }
  EXPECT_EQ(total_attempts(calc), 4u);
  EXPECT_GE(unavailable, 1);
  expect_idle(calc);
}

TEST(Failsafe, ErrorsBecomeAnEmptyDefaultValue) {
  Provider a("A");
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({a.port()}), rr("failsafe")).value();
  auto failed = calc.call<&Calculator::fail>("boom");  // the handler throws
  ASSERT_TRUE(failed.has_value()) << failed.status();
  EXPECT_EQ(*failed, 0);
  EXPECT_EQ(calc.call<&Calculator::add>(2, 3).value(), 5);  // successes are untouched

  int dead = dead_port();
  auto gone = client.refer<Calculator>(direct({dead}), rr("failsafe")).value();
  auto s = gone.call<&Calculator::greet>("x");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(*s, "");
  auto p = gone.async_call<&Calculator::midpoint>(testsvc::Point{}, testsvc::Point{}).get();
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->label, "");
  EXPECT_TRUE(p->tags.empty());
  EXPECT_EQ(total_attempts(gone), 2u);  // no retries
  expect_idle(calc);
  expect_idle(gone);
}

TEST(Forking, FirstSuccessWinsAndTheSlowCallIsCancelled) {
  Provider slow("slow", 2000), fast("fast", 20);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({slow.port(), fast.port()}), rr("forking")).value();
  auto [r, took] = timed([&] { return calc.call<&Calculator::sleep_ms>(0); });
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, "fast");
  EXPECT_LT(took, 1s);
  auto t1 = Clock::now();
  EXPECT_TRUE(wait_until([&] { return slow.impl->saw_cancel.load(); }, 2s));
  std::printf("measured: forking call %.1f ms (fast provider sleeps 20 ms, slow 2000 ms); slow one saw the "
              "cancel %.1f ms later\n", ms_f(took), ms_f(Clock::now() - t1));
  EXPECT_EQ(slow.impl->sleeps.load(), 1);
  EXPECT_EQ(fast.impl->sleeps.load(), 1);
  EXPECT_TRUE(wait_until([&] { return slow.impl->saw_cancel.load(); }, 2s));
  expect_idle(calc);
}

TEST(Forking, CallerCancelCancelsEveryFork) {
  Provider one("one", 2000), two("two", 2000);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({one.port(), two.port()}), rr("forking")).value();
  auto f = calc.async_call<&Calculator::sleep_ms>(0);
  ASSERT_TRUE(wait_until([&] { return one.impl->sleeps.load() == 1 && two.impl->sleeps.load() == 1; }, 2s));
  EXPECT_TRUE(f.cancel());
  auto r = f.get();
  EXPECT_EQ(r.status().code(), tern::StatusCode::kCancelled);
  EXPECT_TRUE(wait_until([&] { return one.impl->saw_cancel.load() && two.impl->saw_cancel.load(); }, 2s));
  expect_idle(calc);
}

TEST(Forking, AllForksFailingReportsTheError) {
  int d1 = dead_port(), d2 = dead_port();
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({d1, d2}), rr("forking")).value();
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_EQ(total_attempts(calc), 2u);
  expect_idle(calc);
}

TEST(Broadcast, ReachesEveryProviderAndFailsIfOneFails) {
  std::vector<std::shared_ptr<Named>> impls{std::make_shared<Named>("A"), std::make_shared<Named>("B"),
                                            std::make_shared<Named>("C")};
  auto a = start_server(impls[0]);
  auto b = start_server(impls[1]);
  auto c = start_server(impls[2]);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({a->port(), b->port(), c->port()}), rr("broadcast")).value();
  EXPECT_EQ(calc.call<&Calculator::add>(1, 2).value(), 3);
  for (auto& i : impls) EXPECT_EQ(i->adds.load(), 1) << i->name;

  impls[1]->fail_add = true;
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "B fails");
  for (auto& i : impls) EXPECT_EQ(i->adds.load(), 2) << i->name;  // the others were still called

  c->shutdown(10ms);  // a provider that is gone fails the broadcast too
  impls[1]->fail_add = false;
  auto gone = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(gone.has_value());
  EXPECT_EQ(gone.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_EQ(impls[0]->adds.load(), 3);
  expect_idle(calc);
}

TEST(Hedging, BackupRequestAnswersWellBeforeTheSlowProvider) {
  Provider slow("slow", 500), fast("fast", 0);
  tern::Client client(one_io());
  auto o = rr();
  o.backup_request = 50ms;
  o.idempotent_methods = {"sleep_ms"};
  auto calc = client.refer<Calculator>(direct({slow.port(), fast.port()}), o).value();
  std::string figures;
  for (int i = 0; i < 4; ++i) {
    auto [r, took] = timed([&] { return calc.call<&Calculator::sleep_ms>(0); });
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, "fast");
    EXPECT_LT(took, 250ms);
    figures += " " + std::to_string(ms_f(took)).substr(0, 5);
  }
  std::printf("measured: hedged call latencies (ms):%s\n", figures.c_str());
  EXPECT_GE(slow.impl->sleeps.load(), 1);  // round robin: some calls started on the slow one
  EXPECT_TRUE(wait_until([&] { return slow.impl->saw_cancel.load(); }, 2s));
  expect_idle(calc);

  // The same method not declared idempotent is never hedged.
  auto o2 = rr();
  o2.backup_request = 50ms;
  auto plain = client.refer<Calculator>(direct({slow.port(), fast.port()}), o2).value();
  auto slowest = Clock::duration::zero();
  for (int i = 0; i < 2; ++i) {
    slowest = std::max(slowest, timed([&] { return plain.call<&Calculator::sleep_ms>(0).value(); }).second);
  }
  std::printf("measured: unhedged (not idempotent) slowest of 2 calls: %.1f ms\n", ms_f(slowest));
  EXPECT_GE(slowest, 450ms);
  EXPECT_EQ(total_attempts(plain), 2u);
}

TEST(OutlierEjection, DeadAddressIsSkippedAfterThreeFailuresAndProbedAfterTheBackoff) {
  int dead = dead_port();
  Provider b("B");
  tern::Client client(no_reconnect_backoff());  // the ejector alone decides
  auto o = rr();
  o.eject_backoff = 300ms;
  auto calc = client.refer<Calculator>(direct({dead, b.port()}), o).value();
  auto attempts = [&] { return stats_of(calc, dead).attempts; };

  for (int i = 0; i < 20 && attempts() < 3; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  auto ejected_at = Clock::now();  // just after the ejection (the third failure)
  EXPECT_EQ(attempts(), 3u);
  EXPECT_TRUE(stats_of(calc, dead).ejected);
  EXPECT_EQ(stats_of(calc, dead).consecutive_failures, 3);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  EXPECT_EQ(attempts(), 3u);  // skipped while ejected

  // Calls (one every 5 ms) until the backoff is over and one of them probes
  // the address (a probe that fails fails over to B): every call before the
  // probe skipped it. When the probing call started.
  auto probe_after = [&](std::uint64_t attempts_before) {
    auto started = Clock::now();
    EXPECT_TRUE(wait_until([&] {
      started = Clock::now();
      EXPECT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
      return attempts() > attempts_before;
    }, 5s)) << "no probe";
    EXPECT_EQ(attempts(), attempts_before + 1);  // one probe
    return started;
  };
  // The backoff runs from the failure, a little before ejected_at (the call
  // failed over to B before returning): hence the margin.
  auto first = probe_after(3) - ejected_at;
  EXPECT_GE(first, 250ms) << ms_f(first) << " ms: probed before the 300 ms backoff was over";
  EXPECT_TRUE(stats_of(calc, dead).ejected);  // the probe failed: ejected again, now for 600 ms
  auto reejected_at = Clock::now();

  // The provider comes back while ejected: skipped until the doubled
  // backoff is over, then the probe succeeds and restores it.
  tern::ServerOptions so;
  so.listen = addr(dead);
  Provider revived("revived", -1, so);
  ASSERT_EQ(revived.port(), dead);
  auto second = probe_after(4) - reejected_at;
  EXPECT_GE(second, 550ms) << ms_f(second) << " ms: probed before the doubled (600 ms) backoff was over";
  auto d = stats_of(calc, dead);
  EXPECT_FALSE(d.ejected);
  EXPECT_EQ(d.consecutive_failures, 0);
  EXPECT_EQ(revived.impl->adds.load(), 1);  // the probe
  for (int i = 0; i < 10; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  EXPECT_GE(revived.impl->adds.load(), 5);  // back in the rotation
  expect_idle(calc);
}

// A provider whose connection broke is skipped for the channel's
// reconnect_backoff, even while it still accepts connections (a killed
// process does, for a moment, as it dies; here a proxy that accepts and
// closes): the calls after the lost one go to the other provider instead of
// failing there again.
TEST(ReconnectBackoff, AProviderWhoseConnectionBrokeIsSkippedThenTriedAgain) {
  Provider a("A");
  Provider b("B");
  testutil::TcpProxy proxy(static_cast<std::uint16_t>(a.port()));
  auto co = one_io();
  co.channel.reconnect_backoff = 1500ms;
  tern::Client client(co);
  auto o = rr();
  o.eject_after = 0;  // the channel's backoff alone
  o.timeout = 5s;
  int via_proxy = proxy.port();
  auto calc = client.refer<Calculator>(direct({via_proxy, b.port()}), o).value();
  // Round robin alternates: after an answer from B the next call goes to A.
  bool b_last = false;
  for (int i = 0; i < 4 && !b_last; ++i) b_last = calc.call<&Calculator::greet>("x").value() == "B";
  ASSERT_TRUE(b_last);
  auto f = calc.async_call<&Calculator::sleep_ms>(1000);
  ASSERT_TRUE(wait_until([&] { return a.impl->sleeps.load() == 1; }, 2s));
  proxy.set_blocked(true);  // cuts the connection; new ones are accepted, then closed
  auto lost = f.get();
  auto lost_at = Clock::now();  // just after the channel saw the connection break
  ASSERT_FALSE(lost.has_value());
  EXPECT_EQ(lost.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_TRUE(lost.status().may_have_executed());
  auto attempts_a = stats_of(calc, via_proxy).attempts;

  // At once: every call goes to B (without the backoff every other one would
  // be sent into the accepting-then-closing port and fail, not retriable).
  for (int i = 0; i < 10; ++i) {
    auto r = calc.call<&Calculator::greet>("x");
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, "B");
  }
  EXPECT_EQ(stats_of(calc, via_proxy).attempts, attempts_a);  // not tried during the backoff

  // Back: calls (one every 5 ms) go to B until the backoff is over; then a
  // call dials A again and A is in the rotation.
  proxy.set_blocked(false);
  auto a_again = lost_at;
  EXPECT_TRUE(wait_until([&] {
    a_again = Clock::now();
    auto r = calc.call<&Calculator::greet>("x");
    EXPECT_TRUE(r.has_value()) << r.status();
    return r.has_value() && *r == "A";
  }, 5s)) << "A never came back";
  // The backoff runs from the break, a little before lost_at: hence the margin.
  EXPECT_GE(a_again - lost_at, 1400ms) << ms_f(a_again - lost_at) << " ms: A dialled again during the 1500 ms backoff";
  int from_a = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = calc.call<&Calculator::greet>("x");
    ASSERT_TRUE(r.has_value()) << r.status();
    from_a += *r == "A";
  }
  EXPECT_EQ(from_a, 3);
  EXPECT_GT(stats_of(calc, via_proxy).attempts, attempts_a);
  expect_idle(calc);
}

// reconnect_backoff = 0: the broken provider stays in the rotation (the
// calls sent into the closing port fail or fail over, by their own status).
TEST(ReconnectBackoff, ZeroKeepsTheProviderInTheRotation) {
  int dead = dead_port();
  Provider b("B");
  auto co = one_io();
  co.channel.reconnect_backoff = 60s;  // far longer than the test, however slow the machine
  tern::Client with_backoff(co);
  tern::Client without(no_reconnect_backoff());
  auto o = rr();
  o.eject_after = 0;
  auto calc1 = with_backoff.refer<Calculator>(direct({dead, b.port()}), o).value();
  auto calc0 = without.refer<Calculator>(direct({dead, b.port()}), o).value();
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(calc1.call<&Calculator::greet>("x").value(), "B");  // refused connects fail over
    EXPECT_EQ(calc0.call<&Calculator::greet>("x").value(), "B");
  }
  EXPECT_EQ(stats_of(calc1, dead).attempts, 1u);  // once, then skipped
  EXPECT_GE(stats_of(calc0, dead).attempts, 4u);  // every other call tries it first
}
