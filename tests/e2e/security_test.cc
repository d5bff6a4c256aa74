// Limits and token authentication on the provider (issue "reliability and
// security"): max_connections, max_in_flight_per_connection, and the token
// filters of tern/auth.h, over real TCP on loopback.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "loopback.h"
#include "test_services.h"
#include "tern/auth.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using testsvc::Calculator;

namespace {

using testutil::direct;
using testutil::failfast;
using testutil::one_io;
using testutil::start_server;
using testutil::wait_until;

TEST(Limits, InFlightPerConnectionIsBoundedAndTheExtraCallIsRefusedUnrun) {
  tern::ServerOptions so;
  so.worker_threads = 4;
  so.max_in_flight_per_connection = 2;
  auto server = start_server(so);
  tern::Client client(one_io());
  auto calc = client.refer<Calculator>(direct(*server), failfast()).value();
  auto slow1 = calc.async_call<&Calculator::sleep_ms>(300);
  auto slow2 = calc.async_call<&Calculator::sleep_ms>(300);
  ASSERT_TRUE(wait_until([&] { return server->stats().requests == 2; }));
  auto third = calc.call<&Calculator::add>(1, 2);
  ASSERT_FALSE(third.has_value());
  EXPECT_EQ(third.status().code(), tern::StatusCode::kResourceExhausted);
  EXPECT_FALSE(third.status().may_have_executed());
  EXPECT_NE(third.status().message().find("max_in_flight_per_connection"), std::string::npos)
      << third.status().to_string();
  EXPECT_EQ(server->stats().rejected_in_flight, 1u);
  EXPECT_EQ(slow1.get().value(), "slept 300");
  EXPECT_EQ(slow2.get().value(), "slept 300");
  // The slots were given back: the connection serves again.
  EXPECT_EQ(calc.call<&Calculator::add>(1, 2).value(), 3);
  // Oneways hold a slot only while they run, and give it back: after ten of
  // them (one at a time), two slow calls are still both admitted.
  for (int i = 1; i <= 10; ++i) {
    ASSERT_TRUE(calc.oneway<&Calculator::count>(1).is_ok());
    ASSERT_TRUE(wait_until([&] { return calc.call<&Calculator::total>().value() == i; }));
  }
  // The last oneway's slot is given back when its call is destroyed, just
  // after its handler returned (and after `total` could see its effect): a
  // pool thread counts as active until the task holding the call is gone.
  ASSERT_TRUE(wait_until([&] { return server->stats().pool_active == 0; })) << server->stats().pool_active;
  auto again1 = calc.async_call<&Calculator::sleep_ms>(50);
  auto again2 = calc.async_call<&Calculator::sleep_ms>(50);
  EXPECT_EQ(again1.get().value(), "slept 50");
  EXPECT_EQ(again2.get().value(), "slept 50");
  EXPECT_EQ(server->stats().rejected_in_flight, 1u);
  server->shutdown(0ms);
}

TEST(Limits, InFlightLimitIsPerConnection) {
  tern::ServerOptions so;
  so.worker_threads = 4;
  so.max_in_flight_per_connection = 1;
  auto server = start_server(so);
  tern::Client a(one_io()), b(one_io());
  auto ca = a.refer<Calculator>(direct(*server), failfast()).value();
  auto cb = b.refer<Calculator>(direct(*server), failfast()).value();
  auto slow = ca.async_call<&Calculator::sleep_ms>(200);
  ASSERT_TRUE(wait_until([&] { return server->stats().requests == 1; }));
  EXPECT_EQ(cb.call<&Calculator::add>(20, 1).value(), 21);  // another connection: not limited by a's call
  EXPECT_EQ(ca.call<&Calculator::add>(1, 1).status().code(), tern::StatusCode::kResourceExhausted);
  EXPECT_EQ(slow.get().value(), "slept 200");
  EXPECT_EQ(server->stats().rejected_in_flight, 1u);
  server->shutdown(0ms);
}

TEST(Limits, ConnectionsBeyondMaxConnectionsAreClosedAtAccept) {
  tern::ServerOptions so;
  so.max_connections = 1;
  auto server = start_server(so);
  auto first = std::make_unique<tern::Client>(one_io());
  auto c1 = first->refer<Calculator>(direct(*server), failfast()).value();
  ASSERT_EQ(c1.call<&Calculator::add>(1, 1).value(), 2);

  {
    tern::Client second(one_io());
    auto c2 = second.refer<Calculator>(direct(*server), failfast()).value();
    auto r = c2.call<&Calculator::add>(2, 2);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.status().code(), tern::StatusCode::kUnavailable) << r.status().to_string();
    EXPECT_GE(server->stats().rejected_connections, 1u);
    EXPECT_EQ(server->stats().connections, 1u);
  }
  // The first connection is unaffected; once it closes, a new one is accepted.
  EXPECT_EQ(c1.call<&Calculator::add>(3, 3).value(), 6);
  first.reset();
  ASSERT_TRUE(wait_until([&] { return server->stats().connections == 0; }));
  tern::Client third(one_io());
  auto c3 = third.refer<Calculator>(direct(*server), failfast()).value();
  EXPECT_EQ(c3.call<&Calculator::add>(4, 4).value(), 8);
  server->shutdown(0ms);
}

TEST(TokenAuth, ConstantTimeEquals) {
  EXPECT_TRUE(tern::constant_time_equals("s3cret", "s3cret"));
  EXPECT_TRUE(tern::constant_time_equals("", ""));
  EXPECT_FALSE(tern::constant_time_equals("s3cret", "s3creT"));
  EXPECT_FALSE(tern::constant_time_equals("s3cre", "s3cret"));
  EXPECT_FALSE(tern::constant_time_equals("s3crets", "s3cret"));
  EXPECT_FALSE(tern::constant_time_equals("", "x"));
  EXPECT_FALSE(tern::constant_time_equals("x", ""));
  EXPECT_FALSE(tern::constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(TokenAuth, RejectsEmptyConfiguration) {
  EXPECT_THROW(tern::TokenAuthServerFilter({}), std::invalid_argument);
  EXPECT_THROW(tern::TokenAuthServerFilter({"ok", ""}), std::invalid_argument);
}

TEST(TokenAuth, ProviderRefusesMissingAndInvalidTokensWithoutRunningTheHandler) {
  tern::ServerOptions so;
  so.filters.push_back(std::make_shared<tern::TokenAuthServerFilter>(std::vector<std::string>{"old-token", "new-token"}));
  auto impl = std::make_shared<testsvc::CalculatorImpl>();
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  ASSERT_TRUE(server.expose<Calculator>(impl).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  const std::string url = direct(server);

  tern::Client none(one_io());
  auto r = none.refer<Calculator>(url).value().call<&Calculator::add>(1, 2);
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "missing token");

  auto wrong_options = one_io();
  wrong_options.filters.push_back(std::make_shared<tern::TokenAuthClientFilter>("new-tokeN"));
  tern::Client wrong(wrong_options);
  auto wrong_calc = wrong.refer<Calculator>(url).value();
  r = wrong_calc.call<&Calculator::add>(1, 2);
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "invalid token");
  ASSERT_TRUE(wrong_calc.oneway<&Calculator::count>(5).is_ok());  // refused too: never counted

  for (const char* token : {"old-token", "new-token"}) {
    auto ok_options = one_io();
    ok_options.filters.push_back(std::make_shared<tern::TokenAuthClientFilter>(token));
    tern::Client good(ok_options);
    auto calc = good.refer<Calculator>(url).value();
    EXPECT_EQ(calc.call<&Calculator::add>(20, 22).value(), 42) << token;
    // A token the caller set itself is replaced by the filter's.
    tern::CallOptions co;
    co.attachments.emplace_back("token", "forged");
    EXPECT_EQ(calc.with(co).call<&Calculator::add>(1, 1).value(), 2) << token;
    ASSERT_TRUE(calc.oneway<&Calculator::count>(1).is_ok());
  }
  tern::ClientOptions ko = one_io();
  ko.filters.push_back(std::make_shared<tern::TokenAuthClientFilter>("new-token"));
  tern::Client check(ko);
  auto calc = check.refer<Calculator>(url).value();
  ASSERT_TRUE(wait_until([&] { return calc.call<&Calculator::total>().value() == 2; }));
  EXPECT_EQ(impl->total_.load(), 2);  // the refused oneway of 5 never ran
  server.shutdown(0ms);
}

TEST(TokenAuth, OpenServicesNeedNoToken) {
  tern::ServerOptions so;
  const std::string svc(tern::ServiceTraits<Calculator>::name);
  so.filters.push_back(std::make_shared<tern::TokenAuthServerFilter>(std::vector<std::string>{"t"},
                                                                     std::set<std::string, std::less<>>{svc}));
  auto server = start_server(so);
  tern::Client client(one_io());
  EXPECT_EQ(client.refer<Calculator>(direct(*server)).value().call<&Calculator::add>(1, 2).value(), 3);
  server->shutdown(0ms);
}

// Generic JSON calls (tern::call_json, what `tern call` uses) run the client
// filters too: the token filter's attachment goes with them.
TEST(TokenAuth, CallJsonSendsTheClientFiltersToken) {
  tern::ServerOptions so;
  so.filters.push_back(std::make_shared<tern::TokenAuthServerFilter>(std::vector<std::string>{"t0k"}));
  auto server = start_server(so);
  const std::string svc(tern::ServiceTraits<Calculator>::name);
  tern::ReferenceOptions ro;
  ro.serialization = "json";

  tern::Client none(one_io());
  auto r = tern::call_json(*none.reference(svc, direct(*server), ro).value(), "add", "[1,2]");
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(), "missing token");

  auto with_token = one_io();
  with_token.filters.push_back(std::make_shared<tern::TokenAuthClientFilter>("t0k"));
  tern::Client good(with_token);
  r = tern::call_json(*good.reference(svc, direct(*server), ro).value(), "add", "[20,22]");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "42");

  // A filter that refuses: its status, nothing sent.
  struct Refuse : tern::ClientFilter {
    tern::Status on_request(tern::ClientInvocation&) override {
      return tern::Status(tern::StatusCode::kPermissionDenied, "not from here");
    }
  };
  auto refusing = one_io();
  refusing.filters.push_back(std::make_shared<Refuse>());
  tern::Client refused(refusing);
  r = tern::call_json(*refused.reference(svc, direct(*server), ro).value(), "add", "[1,2]");
  EXPECT_EQ(r.status().code(), tern::StatusCode::kPermissionDenied);
  EXPECT_EQ(r.status().message(), "not from here");
  server->shutdown(0ms);
}

}  // namespace
