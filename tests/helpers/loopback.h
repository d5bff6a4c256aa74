// Provider and consumer in one test process over loopback TCP (header-only
// test helper): a testsvc::Calculator server on a port of its own, the
// direct:// URL that names servers on this host, the option sets the
// end-to-end tests share, and a fixture holding a started server and a
// client for it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <utility>

#include "test_services.h"
#include "tern/client.h"
#include "tern/server.h"

namespace testutil {

// "direct://127.0.0.1:<p1>,127.0.0.1:<p2>,...": providers on this host, in order.
inline std::string direct(std::initializer_list<int> ports) {
  std::string out = "direct://";
  bool first = true;
  for (int p : ports) {
    if (!first) out += ",";
    out += "127.0.0.1:" + std::to_string(p);
    first = false;
  }
  return out;
}
inline std::string direct(const tern::Server& server) { return direct({server.port()}); }

// Client options with one IO thread (a test's consumer needs no more).
inline tern::ClientOptions one_io() {
  tern::ClientOptions o;
  o.io_threads = 1;
  return o;
}

// Reference options of the failfast cluster: one attempt, its error as it is
// (the default timeout, 3 s).
inline tern::ReferenceOptions failfast() {
  tern::ReferenceOptions o;
  o.cluster = "failfast";
  return o;
}

// Starts a server with one IO thread exposing `impl` as testsvc::Calculator,
// listening on `so.listen` when the caller set it, else on 127.0.0.1 and a
// free port (read it back with port()). Failing to expose or to start is a
// test failure; the server is returned either way.
inline std::unique_ptr<tern::Server> start_server(std::shared_ptr<testsvc::Calculator> impl,
                                                  tern::ServerOptions so = {}) {
  if (so.listen.empty() || so.listen == tern::ServerOptions{}.listen) so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  auto server = std::make_unique<tern::Server>(std::move(so));
  EXPECT_TRUE(server->expose<testsvc::Calculator>(std::move(impl)).is_ok());
  auto st = server->start();
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return server;
}

// The same with a fresh testsvc::CalculatorImpl.
inline std::unique_ptr<tern::Server> start_server(tern::ServerOptions so = {}) {
  return start_server(std::make_shared<testsvc::CalculatorImpl>(), std::move(so));
}

// A fixture with a server and a client (one IO thread each): start() brings
// them up, TearDown() closes the client and then shuts the server down.
struct LoopbackFixture : ::testing::Test {
  // Creates `server` from `so` (listening on 127.0.0.1, a free port, one IO
  // thread), lets `expose` expose the services on it, starts it, and sets
  // `url` and `client`. Stops at the first fatal failure.
  void start(tern::ServerOptions so, const std::function<void(tern::Server&)>& expose) {
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    server = std::make_unique<tern::Server>(std::move(so));
    expose(*server);
    if (HasFatalFailure()) return;
    ASSERT_TRUE(server->start().is_ok());
    url = direct(*server);
    client = std::make_unique<tern::Client>(one_io());
  }
  void TearDown() override {
    client.reset();
    if (server) server->shutdown(std::chrono::milliseconds(100));
  }

  std::unique_ptr<tern::Server> server;
  std::unique_ptr<tern::Client> client;
  std::string url;  // direct:// URL of `server`
};

}  // namespace testutil
