// A program built by a fresh downstream project against the staged install
// (tests/packaging/staged_install.cmake): its CMakeLists.txt is one of the
// docs' CMake snippets as written, with no C++ standard set, so this file
// compiles only if Tern::tern carries C++20 (and coroutines) itself.
// With tern_generate_proto(... FILES echo.proto) it also serves and calls the
// generated stub, whose request has a proto3 `optional` field.
#include <iostream>
#include <memory>
#include <string>

#include "tern/client.h"
#include "tern/server.h"
#include "tern/task.h"
#if __has_include("echo.tern.h")
#include "echo.tern.h"
#define DOWNSTREAM_PROTO 1
#endif

static_assert(__cplusplus >= 202002L, "Tern::tern did not bring C++20");

struct Greeter {
  virtual ~Greeter() = default;
  virtual std::string greet(std::string name) = 0;
};
TERN_SERVICE(Greeter, greet)

struct GreeterImpl : Greeter {
  std::string greet(std::string name) override { return "hello " + name; }
};

#ifdef DOWNSTREAM_PROTO
struct EchoImpl : downstream::Echo {
  tern::Result<downstream::EchoReply> Say(const downstream::EchoRequest& request) override {
    downstream::EchoReply reply;
    int n = request.has_repeat() ? request.repeat() : 1;
    for (int i = 0; i < n; ++i) reply.mutable_text()->append(request.text());
    return reply;
  }
};
#endif

int main() {
  tern::Server server({.listen = "127.0.0.1:0", .io_threads = 1});
  if (!server.expose<Greeter>(std::make_shared<GreeterImpl>()).is_ok()) return 1;
#ifdef DOWNSTREAM_PROTO
  if (!server.expose<downstream::Echo>(std::make_shared<EchoImpl>()).is_ok()) return 1;
#endif
  if (auto s = server.start(); !s.is_ok()) {
    std::cerr << "start: " << s << "\n";
    return 1;
  }
  const std::string url = "direct://127.0.0.1:" + std::to_string(server.port());
  tern::Client client;
  auto greeter = client.refer<Greeter>(url).value();
  // A coroutine: needs <coroutine>, which needs C++20 coroutines enabled.
  auto task = [](tern::Proxy<Greeter> g) -> tern::Task<std::string> {
    auto r = co_await g.co_call<&Greeter::greet>(std::string("downstream"));
    co_return r.value();
  };
  std::cout << "coroutine greet: " << tern::sync_wait(task(greeter)).value() << "\n";
#ifdef DOWNSTREAM_PROTO
  tern::ReferenceOptions options;
  options.serialization = "protobuf";
  auto echo = client.refer<downstream::Echo>(url, options).value();
  downstream::EchoRequest absent;
  absent.set_text("ab");
  downstream::EchoRequest zero = absent;
  zero.set_repeat(0);
  std::cout << "optional absent: \"" << echo.call<&downstream::Echo::Say>(absent).value().text() << "\"\n";
  std::cout << "optional zero: \"" << echo.call<&downstream::Echo::Say>(zero).value().text() << "\"\n";
#endif
  server.shutdown(std::chrono::milliseconds(500));
  return 0;
}
