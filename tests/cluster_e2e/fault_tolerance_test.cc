// Fault tolerance end to end (DESIGN §7): failover / failfast / failsafe /
// forking / broadcast, idempotent retries, hedged requests and outlier
// ejection, against real servers on port 0 (and a provider process killed with
// SIGKILL). Every test also checks that least_active's in-flight counter
// returns to zero on every path (value, error, cancel, lost connection).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "subprocess.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using testsvc::Calculator;
using Clock = std::chrono::steady_clock;

namespace {

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
      std::this_thread::sleep_for(2ms);
    }
    return name;
  }
};

std::unique_ptr<tern::Server> start_server(std::shared_ptr<Calculator> impl, tern::ServerOptions so = {}) {
  if (so.listen.empty() || so.listen == tern::ServerOptions{}.listen) so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  auto s = std::make_unique<tern::Server>(so);
  EXPECT_TRUE(s->expose<Calculator>(std::move(impl)).is_ok());
  EXPECT_TRUE(s->start().is_ok());
  return s;
}

std::string addr(int port) { return "127.0.0.1:" + std::to_string(port); }

std::string direct(std::initializer_list<int> ports) {
  std::string out = "direct://";
  for (int p : ports) out += (out.size() > 9 ? "," : "") + addr(p);
  return out;
}

// A port nothing listens on (a server bound it, then went away).
int dead_port() {
  auto s = start_server(std::make_shared<testsvc::CalculatorImpl>());
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
  for (int i = 0; i < 400 && busy(); ++i) std::this_thread::sleep_for(5ms);
  for (auto& s : p.reference()->provider_stats()) EXPECT_EQ(s.active, 0) << s.url.address();
}

double ms_f(Clock::duration d) { return std::chrono::duration_cast<std::chrono::microseconds>(d).count() / 1000.0; }

template <typename F>
bool eventually(F f, std::chrono::milliseconds limit = 2s) {
  auto end = Clock::now() + limit;
  while (!f()) {
    if (Clock::now() > end) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

tern::ClientOptions one_io() {
  tern::ClientOptions o;
  o.io_threads = 1;
  return o;
}

tern::ReferenceOptions rr(std::string cluster = "failover") {
  tern::ReferenceOptions o;
  o.cluster = std::move(cluster);
  o.load_balance = "round_robin";
  return o;
}

// A provider whose fixed pool admits nothing (worker_queue = 0): every request
// is answered RESOURCE_EXHAUSTED before its handler runs.
std::unique_ptr<tern::Server> exhausted_server(std::shared_ptr<Calculator> impl) {
  tern::ServerOptions so;
  so.worker_threads = 1;
  so.worker_queue = 0;
  return start_server(std::move(impl), so);
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
  auto a_impl = std::make_shared<Named>("A");
  auto b_impl = std::make_shared<Named>("B");
  auto a = exhausted_server(a_impl);
  auto b = start_server(b_impl);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({a->port(), b->port()}), rr()).value();
  for (int i = 0; i < 10; ++i) {
    auto r = calc.call<&Calculator::add>(i, 1);
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, i + 1);
  }
  EXPECT_EQ(b_impl->adds.load(), 10);
  EXPECT_EQ(a_impl->adds.load(), 0);  // rejected before the handler
  EXPECT_GE(a->stats().rejected_overload, 1u);
  EXPECT_EQ(stats_of(calc, a->port()).attempts, a->stats().rejected_overload);
  EXPECT_EQ(total_attempts(calc), 10 + a->stats().rejected_overload);
  expect_idle(calc);
}

TEST(Failover, AnAddressNothingListensOnIsRetriedElsewhere) {
  int dead = dead_port();
  auto b_impl = std::make_shared<Named>("B");
  auto b = start_server(b_impl);
  tern::Client client(one_io());
  auto o = rr();
  o.eject_after = 0;  // keep trying the dead one: this test is about the retry
  auto calc = client.refer<Calculator>(direct({dead, b->port()}), o).value();
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
  auto a_impl = std::make_shared<Named>("A");
  auto b_impl = std::make_shared<Named>("B");
  auto a = exhausted_server(a_impl);
  auto b = start_server(b_impl);
  tern::Client client(one_io());
  auto o = rr();
  o.retries = 0;
  auto calc = client.refer<Calculator>(direct({a->port(), b->port()}), o).value();
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
  EXPECT_EQ(ok, b_impl->adds.load());
  EXPECT_EQ(static_cast<std::uint64_t>(exhausted), a->stats().rejected_overload);
  EXPECT_EQ(ok, 5);  // round robin over two providers
  expect_idle(calc);
}

// A call that reached a provider process which then died: retried only when
// the method is declared idempotent.
static void kill_mid_call(bool idempotent) {
  testutil::Subprocess child({std::string(TERN_BINARY_DIR) + "/bin/tern_test_provider"});
  int port = child.wait_for_port();
  ASSERT_GT(port, 0);
  auto b_impl = std::make_shared<Named>("B", /*sleep=*/0);
  auto b = start_server(b_impl);
  tern::Client client(one_io());
  auto o = rr();
  o.timeout = 10s;
  if (idempotent) o.idempotent_methods = {"sleep_ms"};
  auto calc = client.refer<Calculator>(direct({port, b->port()}), o).value();
  // Round robin alternates: after an answer from B the next call goes to the child.
  bool b_last = false;
  for (int i = 0; i < 4 && !b_last; ++i) b_last = calc.call<&Calculator::greet>("x").value() == "B";
  ASSERT_TRUE(b_last);
  auto before = stats_of(calc, port).attempts;
  auto f = calc.async_call<&Calculator::sleep_ms>(5000);
  std::this_thread::sleep_for(300ms);
  auto t0 = Clock::now();
  child.kill(SIGKILL);
  auto r = f.get();
  EXPECT_LT(Clock::now() - t0, 2s);
  std::printf("measured: %s call completed %.1f ms after SIGKILL\n", idempotent ? "idempotent" : "non-idempotent",
              ms_f(Clock::now() - t0));
  if (idempotent) {
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, "B");
    EXPECT_EQ(b_impl->sleeps.load(), 1);
  } else {
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
    EXPECT_TRUE(r.status().may_have_executed());
    EXPECT_EQ(b_impl->sleeps.load(), 0);
  }
  EXPECT_EQ(stats_of(calc, port).attempts, before + 1);  // never tried there twice
  expect_idle(calc);
}

TEST(Failover, NonIdempotentCallLostMidCallIsNotRetried) { kill_mid_call(false); }
TEST(Failover, IdempotentCallLostMidCallIsRetriedAndSucceeds) { kill_mid_call(true); }

TEST(Failover, DeadlineExceededIsNotRetriedEvenWhenIdempotent) {
  auto a_impl = std::make_shared<Named>("A", 1000);
  auto b_impl = std::make_shared<Named>("B", 1000);
  auto a = start_server(a_impl);
  auto b = start_server(b_impl);
  tern::Client client(one_io());
  auto o = rr();
  o.timeout = 150ms;
  o.idempotent_methods = {"sleep_ms"};
  auto calc = client.refer<Calculator>(direct({a->port(), b->port()}), o).value();
  auto r = calc.call<&Calculator::sleep_ms>(0);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(total_attempts(calc), 1u);
  expect_idle(calc);
}

TEST(Failfast, OneAttemptTheErrorAsItIs) {
  int dead = dead_port();
  auto b = start_server(std::make_shared<Named>("B"));
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({dead, b->port()}), rr("failfast")).value();
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
  auto a = start_server(std::make_shared<Named>("A"));
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({a->port()}), rr("failsafe")).value();
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
  auto slow = std::make_shared<Named>("slow", 2000);
  auto fast = std::make_shared<Named>("fast", 20);
  auto s1 = start_server(slow);
  auto s2 = start_server(fast);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({s1->port(), s2->port()}), rr("forking")).value();
  auto t0 = Clock::now();
  auto r = calc.call<&Calculator::sleep_ms>(0);
  auto took = Clock::now() - t0;
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, "fast");
  EXPECT_LT(took, 1s);
  auto t1 = Clock::now();
  EXPECT_TRUE(eventually([&] { return slow->saw_cancel.load(); }));
  std::printf("measured: forking call %.1f ms (fast provider sleeps 20 ms, slow 2000 ms); slow one saw the "
              "cancel %.1f ms later\n", ms_f(took), ms_f(Clock::now() - t1));
  EXPECT_EQ(slow->sleeps.load(), 1);
  EXPECT_EQ(fast->sleeps.load(), 1);
  EXPECT_TRUE(eventually([&] { return slow->saw_cancel.load(); }));
  expect_idle(calc);
}

TEST(Forking, CallerCancelCancelsEveryFork) {
  auto s1i = std::make_shared<Named>("one", 2000);
  auto s2i = std::make_shared<Named>("two", 2000);
  auto s1 = start_server(s1i);
  auto s2 = start_server(s2i);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct({s1->port(), s2->port()}), rr("forking")).value();
  auto f = calc.async_call<&Calculator::sleep_ms>(0);
  ASSERT_TRUE(eventually([&] { return s1i->sleeps.load() == 1 && s2i->sleeps.load() == 1; }));
  EXPECT_TRUE(f.cancel());
  auto r = f.get();
  EXPECT_EQ(r.status().code(), tern::StatusCode::kCancelled);
  EXPECT_TRUE(eventually([&] { return s1i->saw_cancel.load() && s2i->saw_cancel.load(); }));
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
  auto slow = std::make_shared<Named>("slow", 500);
  auto fast = std::make_shared<Named>("fast", 0);
  auto s1 = start_server(slow);
  auto s2 = start_server(fast);
  tern::Client client(one_io());
  auto o = rr();
  o.backup_request = 50ms;
  o.idempotent_methods = {"sleep_ms"};
  auto calc = client.refer<Calculator>(direct({s1->port(), s2->port()}), o).value();
  std::string figures;
  for (int i = 0; i < 4; ++i) {
    auto t0 = Clock::now();
    auto r = calc.call<&Calculator::sleep_ms>(0);
    auto took = Clock::now() - t0;
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_EQ(*r, "fast");
    EXPECT_LT(took, 250ms);
    figures += " " + std::to_string(ms_f(took)).substr(0, 5);
  }
  std::printf("measured: hedged call latencies (ms):%s\n", figures.c_str());
  EXPECT_GE(slow->sleeps.load(), 1);  // round robin: some calls started on the slow one
  EXPECT_TRUE(eventually([&] { return slow->saw_cancel.load(); }));
  expect_idle(calc);

  // The same method not declared idempotent is never hedged.
  auto o2 = rr();
  o2.backup_request = 50ms;
  auto plain = client.refer<Calculator>(direct({s1->port(), s2->port()}), o2).value();
  auto slowest = Clock::duration::zero();
  for (int i = 0; i < 2; ++i) {
    auto t0 = Clock::now();
    (void)plain.call<&Calculator::sleep_ms>(0).value();
    slowest = std::max(slowest, Clock::now() - t0);
  }
  std::printf("measured: unhedged (not idempotent) slowest of 2 calls: %.1f ms\n", ms_f(slowest));
  EXPECT_GE(slowest, 450ms);
  EXPECT_EQ(total_attempts(plain), 2u);
}

TEST(OutlierEjection, DeadAddressIsSkippedAfterThreeFailuresAndProbedAfterTheBackoff) {
  int dead = dead_port();
  auto b_impl = std::make_shared<Named>("B");
  auto b = start_server(b_impl);
  tern::Client client(one_io());
  auto o = rr();
  o.eject_backoff = 300ms;
  auto calc = client.refer<Calculator>(direct({dead, b->port()}), o).value();
  auto attempts = [&] { return stats_of(calc, dead).attempts; };

  for (int i = 0; i < 20 && attempts() < 3; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  EXPECT_EQ(attempts(), 3u);
  EXPECT_TRUE(stats_of(calc, dead).ejected);
  EXPECT_EQ(stats_of(calc, dead).consecutive_failures, 3);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  EXPECT_EQ(attempts(), 3u);  // skipped while ejected

  std::this_thread::sleep_for(350ms);  // backoff over: one probe, which fails
  for (int i = 0; i < 4; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  EXPECT_EQ(attempts(), 4u);
  EXPECT_TRUE(stats_of(calc, dead).ejected);  // again, now for 600 ms
  std::this_thread::sleep_for(350ms);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  EXPECT_EQ(attempts(), 4u);  // the doubled backoff is not over yet

  // The provider comes back: the next probe succeeds and restores it.
  auto revived_impl = std::make_shared<Named>("revived");
  tern::ServerOptions so;
  so.listen = addr(dead);
  auto revived = start_server(revived_impl, so);
  ASSERT_EQ(revived->port(), dead);
  std::this_thread::sleep_for(300ms);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(calc.call<&Calculator::add>(1, 1).value(), 2);
  auto d = stats_of(calc, dead);
  EXPECT_FALSE(d.ejected);
  EXPECT_EQ(d.consecutive_failures, 0);
  EXPECT_GE(revived_impl->adds.load(), 4);  // back in the rotation
  expect_idle(calc);
}
