// A provider and a consumer written against tern/client.h, tern/server.h and
// tern/provider.h alone compile no Asio and no google/protobuf header
// (docs/architecture.md, "Public headers"; the #error lines below fail the
// build otherwise), and still call in every serialization a reference can
// choose at run time: msgpack (the default) and json work, protobuf is
// refused up front for a method whose types are not protobuf messages.
#include "tern/client.h"
#include "tern/provider.h"
#include "tern/server.h"

#ifdef ASIO_VERSION
#error "tern/client.h, tern/server.h or tern/provider.h included an Asio header"
#endif
#ifdef GOOGLE_PROTOBUF_VERSION
#error "tern/client.h, tern/server.h or tern/provider.h included a google/protobuf header"
#endif

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>

namespace lighthdr {
struct Greeter {
  virtual ~Greeter() = default;
  virtual std::string hello(std::string name) = 0;
};
struct GreeterImpl : Greeter {
  std::string hello(std::string name) override { return "hello " + name; }
};
}  // namespace lighthdr
TERN_SERVICE(lighthdr::Greeter, hello)

namespace {

struct LightHeaders : ::testing::Test {
  void SetUp() override {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    server = std::make_unique<tern::Server>(std::move(so));
    ASSERT_TRUE(server->expose<lighthdr::Greeter>(std::make_shared<lighthdr::GreeterImpl>()).is_ok());
    ASSERT_TRUE(server->start().is_ok());
    url = "direct://127.0.0.1:" + std::to_string(server->port());
    tern::ClientOptions co;
    co.io_threads = 1;
    client = std::make_unique<tern::Client>(std::move(co));
  }
  void TearDown() override {
    client.reset();
    if (server) server->shutdown(std::chrono::milliseconds(100));
  }
  tern::Result<std::string> hello_in(const std::string& serialization) {
    tern::ReferenceOptions ro;
    ro.serialization = serialization;
    auto p = client->refer<lighthdr::Greeter>(url, ro);
    if (!p) return p.status();
    return p->call<&lighthdr::Greeter::hello>("world");
  }

  std::unique_ptr<tern::Server> server;
  std::unique_ptr<tern::Client> client;
  std::string url;
};

TEST_F(LightHeaders, MsgpackAndJsonCallFromATranslationUnitWithoutCodecHeaders) {
  auto m = hello_in("msgpack");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(*m, "hello world");
  auto j = hello_in("json");
  ASSERT_TRUE(j.has_value()) << j.status();
  EXPECT_EQ(*j, "hello world");
}

TEST_F(LightHeaders, ProtobufForAMethodWithoutMessagesIsAClearError) {
  auto r = hello_in("protobuf");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("does not take protobuf messages"), std::string::npos) << r.status();
}

}  // namespace
