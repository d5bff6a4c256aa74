// The provider's default dispatcher, `adaptive` (tern/dispatcher.h): where
// each request of a method ran, observed over real calls, as the method
// proves short, blocks, and proves short again.
#include <gtest/gtest.h>

#include <cstdint>
#include <ctime>
#include <mutex>
#include <string>
#include <vector>

#include "loopback.h"
#include "test_services.h"
#include "wait_until.h"
#include "tern/client.h"
#include "tern/log.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using testsvc::Calculator;
using testutil::direct;
using testutil::one_io;
using testutil::start_server;
using testutil::wait_until;

namespace {

// A coroutine method: its synchronous part spins for `us` microseconds, then
// it returns. The handler moves its ServerCall into the coroutine.
struct Spinner {
  virtual ~Spinner() = default;
  virtual tern::Task<int> spin(int us) = 0;
};

}  // namespace

TERN_SERVICE(Spinner, spin)

namespace {

struct SpinnerImpl : Spinner {
  // Spins `us` microseconds of this thread's CPU time, not wall time: on a
  // busy machine (tests run two at a time) a wall-time spin is partly spent
  // preempted, which the adaptive dispatcher rightly does not count as
  // holding the IO thread, so the demotion below depended on the load.
  tern::Task<int> spin(int us) override {
    auto cpu_ns = [] {
      timespec ts{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
      return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
    };
    const std::int64_t end = cpu_ns() + std::int64_t{us} * 1000;
    while (cpu_ns() < end) {
    }
    co_return us;
  }
};

// Where each request ran, in order: 'i' = an IO thread, 'p' = the pool.
struct Places {
  std::mutex mu;
  std::string seq;
  tern::DispatchObserver observer() {
    return [this](tern::DispatchEvent e, bool io) {
      if (e != tern::DispatchEvent::kRequest) return;
      std::lock_guard lock(mu);
      seq += io ? 'i' : 'p';
    };
  }
  std::string take() {
    std::lock_guard lock(mu);
    return std::exchange(seq, std::string());
  }
};

// Generous bounds: the test checks the decisions, not the machine's speed.
tern::ServerOptions adaptive_options(Places& places, std::uint32_t promote_after) {
  tern::ServerOptions so;  // the default dispatcher
  so.adaptive.promote_after = promote_after;
  so.adaptive.promote_below = 10ms;
  so.adaptive.demote_above = 20ms;
  so.adaptive.demote_mean_above = 20ms;
  so.adaptive.max_demotions = 2;
  so.event_observer = places.observer();
  return so;
}

TEST(AdaptiveDispatch, IsTheDefaultAndMovesAShortMethodToTheIoThreadAfterItsRuns) {
  Places places;
  auto server = start_server(adaptive_options(places, 8));
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  for (int i = 0; i < 8; ++i) ASSERT_EQ(calc.call<&Calculator::add>(i, 1).value(), i + 1);
  EXPECT_EQ(places.take(), std::string(8, 'p'));
  // The worker records a run after the handler answered: wait for the 8th.
  ASSERT_TRUE(wait_until([&] { return server->stats().adaptive_promotions == 1; }, 3s));
  for (int i = 0; i < 12; ++i) ASSERT_EQ(calc.call<&Calculator::add>(i, 1).value(), i + 1);
  EXPECT_EQ(places.take(), std::string(12, 'i'));
  // Each method is placed on its own: greet starts on the pool.
  ASSERT_EQ(calc.call<&Calculator::greet>("x").value(), "hello, x");
  EXPECT_EQ(places.take(), "p");
  auto st = server->stats();
  EXPECT_EQ(st.adaptive_promotions, 1u);
  EXPECT_EQ(st.adaptive_demotions, 0u);
  server->shutdown(100ms);
}

TEST(AdaptiveDispatch, AMethodThatHoldsTheIoThreadGoesBackToThePoolAndStaysAfterMaxDemotions) {
  Places places;
  auto server = start_server(adaptive_options(places, 4));
  std::vector<std::string> warnings;
  std::mutex mu;
  tern::set_log_sink([&](tern::LogLevel level, std::string_view m) {
    std::lock_guard lock(mu);
    if (level == tern::LogLevel::kWarn && m.find("adaptive dispatcher") != std::string_view::npos) {
      warnings.emplace_back(m);
    }
  });
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server)).value();
  auto quick = [&](int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(calc.call<&Calculator::sleep_ms>(0).value(), "slept 0");
  };
  auto promoted = [&](std::uint64_t n) {
    // The worker records a run after the handler answered: wait for it.
    return wait_until([&] { return server->stats().adaptive_promotions == n; }, 3s);
  };
  quick(4);
  EXPECT_EQ(places.take(), "pppp");
  ASSERT_TRUE(promoted(1));
  quick(1);
  EXPECT_EQ(places.take(), "i");
  ASSERT_EQ(calc.call<&Calculator::sleep_ms>(40).value(), "slept 40");  // on the IO thread, too long
  EXPECT_EQ(places.take(), "i");
  // Counted after the answer left: wait for the count.
  EXPECT_TRUE(wait_until([&] { return server->stats().adaptive_demotions == 1; }, 3s));
  quick(32);  // the next promotion needs 4 x 8 runs
  EXPECT_EQ(places.take(), std::string(32, 'p'));
  ASSERT_TRUE(promoted(2));
  quick(1);
  EXPECT_EQ(places.take(), "i");
  ASSERT_EQ(calc.call<&Calculator::sleep_ms>(40).value(), "slept 40");
  EXPECT_EQ(places.take(), "i");
  quick(300);  // max_demotions (2) reached: never promoted again
  EXPECT_EQ(places.take(), std::string(300, 'p'));
  tern::set_log_sink(nullptr);
  auto st = server->stats();
  EXPECT_EQ(st.adaptive_promotions, 2u);
  EXPECT_EQ(st.adaptive_demotions, 2u);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("testsvc::Calculator.sleep_ms held an IO thread"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[0].find("until 32 runs in a row are short"), std::string::npos) << warnings[0];
  EXPECT_NE(warnings[1].find("from now on"), std::string::npos) << warnings[1];
  server->shutdown(100ms);
}

TEST(AdaptiveDispatch, AServiceWithItsOwnDispatcherIsNotAdaptive) {
  Places places;
  tern::ServerOptions so = adaptive_options(places, 1);
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  tern::ServiceOptions svc;
  svc.dispatcher = "all";
  ASSERT_TRUE(server.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>(), svc).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(server)).value();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(calc.call<&Calculator::add>(i, i).value(), 2 * i);
  EXPECT_EQ(places.take(), "ppppp");
  EXPECT_EQ(server.stats().adaptive_promotions, 0u);
  server.shutdown(100ms);
}

// Found by a hostile trial: the names in the promotion/demotion and
// blocked-IO log lines were read from a ServerCall the coroutine handler had
// moved away (std::terminate). They come from the service table now.
TEST(AdaptiveDispatch, CoroutineHandlersArePromotedAndDemotedWithTheirNamesLogged) {
  Places places;
  tern::ServerOptions so = adaptive_options(places, 4);
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.adaptive.demote_above = 20ms;
  so.io_block_threshold = 1ms;
  tern::Server server(so);
  ASSERT_TRUE(server.expose<Spinner>(std::make_shared<SpinnerImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  std::vector<std::string> lines;
  std::mutex mu;
  tern::set_log_level(tern::LogLevel::kDebug);
  tern::set_log_sink([&](tern::LogLevel, std::string_view m) {
    std::lock_guard lock(mu);
    if (m.find("adaptive dispatcher") != std::string_view::npos || m.find("blocked an IO") != std::string_view::npos) {
      lines.emplace_back(m);
    }
  });
  tern::Client client(one_io());
  auto proxy = client.refer<Spinner>(direct(server)).value();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(proxy.call<&Spinner::spin>(0).value(), 0);
  ASSERT_TRUE(wait_until([&] { return server.stats().adaptive_promotions == 1; }, 3s));
  ASSERT_EQ(proxy.call<&Spinner::spin>(30000).value(), 30000);  // its synchronous part, on the IO thread
  // Recorded and logged after the answer left: wait for the third line.
  EXPECT_TRUE(wait_until([&] {
    std::lock_guard lock(mu);
    return lines.size() >= 3;
  }, 3s));
  tern::set_log_sink(nullptr);
  tern::set_log_level(tern::LogLevel::kInfo);
  EXPECT_EQ(places.take(), "ppppi");
  auto st = server.stats();
  EXPECT_EQ(st.adaptive_demotions, 1u);
  EXPECT_EQ(st.blocked_io_handlers, 1u);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("Spinner.spin ran 4 times in a row"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("Spinner.spin held an IO thread"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("handler Spinner.spin blocked an IO thread"), std::string::npos) << lines[2];
  server.shutdown(100ms);
}

TEST(AdaptiveDispatch, ContradictoryOptionsAreRefusedAtStart) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.adaptive.promote_below = 5000us;
  so.adaptive.demote_above = 10us;
  tern::Server server(so);
  auto s = server.start();
  EXPECT_EQ(s.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("promote_below (5000 us) must be > 0 and at most demote_above (10 us)"),
            std::string::npos) << s;
}

}  // namespace
