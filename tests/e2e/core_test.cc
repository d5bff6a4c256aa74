// End-to-end tests of the core: provider and consumer over real TCP on loopback.
#include <gtest/gtest.h>

#include <asio.hpp>

#include <atomic>
#include <thread>

#include "loopback.h"
#include "subprocess.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {

struct Fixture : testutil::LoopbackFixture {
  void SetUp() override {
    impl = std::make_shared<testsvc::CalculatorImpl>();
    start({}, [&](tern::Server& s) { ASSERT_TRUE(s.expose<Calculator>(impl).is_ok()); });
  }
  tern::Proxy<Calculator> proxy(tern::ReferenceOptions o = {}) { return client->refer<Calculator>(url, o).value(); }

  std::shared_ptr<testsvc::CalculatorImpl> impl;
};

TEST_F(Fixture, SyncCallsReturnValues) {
  auto calc = proxy();
  EXPECT_EQ(calc.call<&Calculator::add>(1, 2).value(), 3);
  EXPECT_EQ(calc.call<&Calculator::greet>("tern").value(), "hello, tern");
  auto h = calc.call<&Calculator::histogram>(std::vector<std::string>{"a", "b", "a"}).value();
  EXPECT_EQ(h.at("a"), 2);
  EXPECT_EQ(h.at("b"), 1);
}

TEST_F(Fixture, StructsRoundTrip) {
  auto calc = proxy();
  testsvc::Point a{0, 0, "a", {1}, 4}, b{2, 4, "b", {2, 3}, 8};
  auto m = calc.call<&Calculator::midpoint>(a, b).value();
  EXPECT_DOUBLE_EQ(m.x, 1);
  EXPECT_DOUBLE_EQ(m.y, 2);
  EXPECT_EQ(m.label, "a|b");
  EXPECT_EQ(m.tags, (std::vector<int>{1, 2, 3}));
  ASSERT_TRUE(m.z.has_value());
  EXPECT_EQ(*m.z, 6);
}

TEST_F(Fixture, TenThousandCallsFromEightThreadsOverOneConnection) {
  auto calc = proxy();
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1250; ++i) {
        auto r = calc.call<&Calculator::add>(t * 100000, i);
        if (!r || *r != t * 100000 + i) wrong.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong.load(), 0);
  auto ch = client->channels().get(tern::HostPort{"127.0.0.1", server->port()});
  EXPECT_EQ(ch->stats().connects, 1u);
  EXPECT_EQ(ch->stats().pending, 0u);
  EXPECT_GE(server->stats().requests, 10000u);
}

TEST_F(Fixture, HandlerExceptionBecomesInternalAndConnectionStaysUsable) {
  auto calc = proxy();
  auto r = calc.call<&Calculator::fail>("boom: disk full");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInternal);
  EXPECT_EQ(r.status().message(), "boom: disk full");
  EXPECT_THROW((void)calc.call<&Calculator::fail>("x").value(), tern::RpcError);
  try {
    (void)calc.call<&Calculator::fail>("thrown").value();
  } catch (const tern::RpcError& e) {
    EXPECT_EQ(e.code(), tern::StatusCode::kInternal);
  }
  EXPECT_EQ(calc.call<&Calculator::add>(2, 2).value(), 4);
  EXPECT_EQ(server->stats().handler_errors, 3u);
}

TEST_F(Fixture, UnknownServiceAndMethodAreUnimplemented) {
  auto ref = client->reference("NoSuchService", url).value();
  std::atomic<int> done{0};
  tern::Status got;
  ref->invoke("add", ref->new_request("add", false).finish(), 1000ms, [&](tern::CallResult&& r) {
    got = r.status;
    done = 1;
    done.notify_one();
  });
  done.wait(0);
  EXPECT_EQ(got.code(), tern::StatusCode::kUnimplemented);
  EXPECT_NE(got.message().find("NoSuchService"), std::string::npos);

  auto calc_ref = client->reference("testsvc::Calculator", url).value();
  done = 0;
  calc_ref->invoke("nope", calc_ref->new_request("nope", false).finish(), 1000ms, [&](tern::CallResult&& r) {
    got = r.status;
    done = 1;
    done.notify_one();
  });
  done.wait(0);
  EXPECT_EQ(got.code(), tern::StatusCode::kUnimplemented);
  EXPECT_NE(got.message().find("nope"), std::string::npos);

  // A typo gets the nearest name; a name far from every method gets none.
  auto ask = [&](tern::Reference& r, std::string_view method) {
    done = 0;
    r.invoke(method, r.new_request(method, false).finish(), 1000ms, [&](tern::CallResult&& res) {
      got = res.status;
      done = 1;
      done.notify_one();
    });
    done.wait(0);
    return got.message();
  };
  EXPECT_EQ(ask(*calc_ref, "ad"), "unknown method 'testsvc::Calculator.ad' (did you mean 'add'?)");
  EXPECT_EQ(ask(*calc_ref, "ADD"), "unknown method 'testsvc::Calculator.ADD' (did you mean 'add'?)");
  EXPECT_EQ(ask(*calc_ref, "nope"), "unknown method 'testsvc::Calculator.nope'");
  auto typo = client->reference("testsvc::Calculater", url).value();
  EXPECT_EQ(ask(*typo, "add"), "unknown service 'testsvc::Calculater' (did you mean 'testsvc::Calculator'?)");
}

TEST_F(Fixture, UndecodableArgumentsAreInvalidArgument) {
  auto ref = client->reference("testsvc::Calculator", url).value();
  auto b = ref->new_request("add", false);
  b.append_body("\xc1\xc1garbage");
  std::atomic<int> done{0};
  tern::Status got;
  ref->invoke("add", b.finish(), 1000ms, [&](tern::CallResult&& r) {
    got = r.status;
    done = 1;
    done.notify_one();
  });
  done.wait(0);
  EXPECT_EQ(got.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(proxy().call<&Calculator::add>(1, 1).value(), 2);
}

TEST_F(Fixture, TimeoutGivesDeadlineExceededAndLateResponseIsDroppedAndCounted) {
  tern::ReferenceOptions o;
  o.timeout = 100ms;
  auto calc = proxy(o);
  auto t0 = std::chrono::steady_clock::now();
  auto r = calc.call<&Calculator::sleep_ms>(400);
  auto took = std::chrono::steady_clock::now() - t0;
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kDeadlineExceeded);
  EXPECT_LT(took, 350ms);
  EXPECT_GE(took, 95ms);
  // The handler's answer arrives ~300 ms later: dropped, counted, never
  // delivered to the next call.
  auto ch = client->channels().get(tern::HostPort{"127.0.0.1", server->port()});
  EXPECT_TRUE(testutil::wait_until([&] { return ch->stats().late_responses != 0; }, 2s));
  EXPECT_EQ(ch->stats().late_responses, 1u);
  EXPECT_EQ(ch->stats().timeouts, 1u);
  EXPECT_EQ(calc.call<&Calculator::greet>("after").value(), "hello, after");
}

TEST_F(Fixture, OnewayCallsArrive) {
  auto calc = proxy();
  for (int i = 1; i <= 100; ++i) ASSERT_TRUE(calc.oneway<&Calculator::count>(i).is_ok());
  EXPECT_TRUE(testutil::wait_until([&] { return impl->total_.load() >= 5050; }, 2s));
  EXPECT_EQ(impl->total_.load(), 5050);
  // A oneway leaves no pending state and does not desynchronize responses.
  EXPECT_EQ(calc.call<&Calculator::total>().value(), 5050);
  auto ch = client->channels().get(tern::HostPort{"127.0.0.1", server->port()});
  EXPECT_EQ(ch->stats().pending, 0u);
  EXPECT_EQ(ch->stats().late_responses, 0u);
}

TEST_F(Fixture, GarbageClosesOnlyThatConnection) {
  auto calc = proxy();
  EXPECT_EQ(calc.call<&Calculator::add>(1, 2).value(), 3);
  const std::string inputs[] = {
      "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(200, 'A'),
      std::string("\x7e\x4e\x01\x01\x03\x00\x00\x00", 8) + std::string(8, '\0') + std::string("\xff\xff\xff\xff", 4) +
          std::string(4, '\0'),  // body of 4 GiB: over the limit
  };
  for (const auto& junk : inputs) {
    asio::io_context io;
    asio::ip::tcp::socket s(io);
    s.connect({asio::ip::make_address("127.0.0.1"), server->port()});
    asio::write(s, asio::buffer(junk));
    char buf[256];
    std::error_code ec;
    std::size_t n = 0;
    // The server closes the connection: read ends with EOF (or reset), having got no data.
    n = s.read_some(asio::buffer(buf), ec);
    EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
    EXPECT_EQ(n, 0u);
  }
  EXPECT_EQ(calc.call<&Calculator::add>(40, 2).value(), 42);
}

TEST(Core, Ipv6Loopback) {
  tern::ServerOptions so;
  so.listen = "[::1]:0";
  so.io_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server.expose<Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
  auto st = server.start();
  ASSERT_TRUE(st.is_ok()) << st;
  tern::Client client({.io_threads = 1});
  auto calc = client.refer<Calculator>("direct://[::1]:" + std::to_string(server.port())).value();
  EXPECT_EQ(calc.call<&Calculator::add>(20, 22).value(), 42);
  server.shutdown(100ms);
}

TEST(Core, NoProviderIsUnavailableAtOnce) {
  // Reserve a port, then close it: nothing listens there.
  asio::io_context io;
  asio::ip::tcp::acceptor a(io, {asio::ip::make_address("127.0.0.1"), 0});
  auto port = a.local_endpoint().port();
  a.close();
  tern::Client client({.io_threads = 1});
  auto calc = client.refer<Calculator>(testutil::direct({port})).value();
  auto t0 = std::chrono::steady_clock::now();
  auto r = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_FALSE(r.status().may_have_executed());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 1s);
}

TEST(Core, ProviderKilledMidCallFailsPromptlyWithUnavailable) {
  // --announce: the provider prints "SLEEP <ms>" as sleep_ms enters its handler.
  testutil::Subprocess child({std::string(TERN_BINARY_DIR) + "/bin/tern_test_provider", "--announce", "1"});
  int port = child.wait_for_port();
  ASSERT_GT(port, 0);
  tern::Client client({.io_threads = 1});
  tern::ReferenceOptions o;
  o.timeout = 10s;
  auto calc = client.refer<Calculator>(testutil::direct({port}), o).value();
  ASSERT_EQ(calc.call<&Calculator::add>(1, 2).value(), 3);
  std::string announced;
  std::thread killer([&] {
    announced = child.read_line(5s);  // the call is in the provider's handler
    child.kill(SIGKILL);
  });
  auto t0 = std::chrono::steady_clock::now();
  auto r = calc.call<&Calculator::sleep_ms>(5000);
  auto took = std::chrono::steady_clock::now() - t0;
  killer.join();
  EXPECT_EQ(announced, "SLEEP 5000");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable);
  EXPECT_TRUE(r.status().may_have_executed());
  EXPECT_LT(took, 2s);
}

TEST(Core, ClientDestroyedWithPendingCallsCompletesThemCancelled) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  auto impl = std::make_shared<testsvc::AnnouncingCalculator>();
  ASSERT_TRUE(server.expose<Calculator>(impl).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  std::atomic<int> completions{0};
  tern::Status got;
  {
    tern::Client client({.io_threads = 1});
    auto ref = client.reference("testsvc::Calculator", testutil::direct(server)).value();
    auto calc = tern::Proxy<Calculator>(ref);
    std::string req;
    ASSERT_TRUE(calc.encode<&Calculator::sleep_ms>(false, req, 1000).is_ok());
    ref->invoke("sleep_ms", std::move(req), 5000ms, [&](tern::CallResult&& r) {
      got = r.status;
      completions.fetch_add(1);
    });
    ASSERT_TRUE(testutil::wait_until([&] { return impl->started.load() == 1; }, 3s));  // in the handler
    EXPECT_EQ(completions.load(), 0);
  }
  EXPECT_EQ(completions.load(), 1);
  EXPECT_EQ(got.code(), tern::StatusCode::kCancelled);
  server.shutdown(2000ms);
}

}  // namespace
