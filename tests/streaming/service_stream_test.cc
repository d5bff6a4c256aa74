// Stream methods in a TERN_SERVICE interface (tern/service_stream.h, issue
// #15): one interface with a unary method and server, client and bidi stream
// methods (coroutine and blocking handlers), exposed with expose<>(), called
// through refer<>() with Proxy::stream<&I::m>(), and described by
// tern.Reflection with their kinds and message types.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "loopback.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"
#include "tern/service_stream.h"
#include "tern/stream.h"

using namespace std::chrono_literals;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

namespace svc {

// The contract: one unary method, one of each stream kind, and a blocking
// stream handler.
struct Chat {
  virtual ~Chat() = default;
  virtual int add(int a, int b) = 0;
  // Server streaming: one count, then "tick N" .. "tick 1".
  virtual Task<Status> countdown(ServerStream<int, std::string>& stream) = 0;
  // Client streaming: the sum of every number, answered once.
  virtual Task<Status> sum(ServerStream<int, long>& stream) = 0;
  // Bidirectional (the default kind): each message answered as it comes.
  virtual Task<Status> chat(ServerStream<std::string, std::string>& stream) = 0;
  // Bidirectional, blocking style (a business-pool thread per stream).
  virtual Status shout(ServerStream<std::string, std::string>& stream) = 0;
};

}  // namespace svc

TERN_SERVICE_NAMED(svc::Chat, "svc.Chat", add, countdown, sum, chat, shout)
TERN_STREAM_KIND(svc::Chat, countdown, kServer)
TERN_STREAM_KIND(svc::Chat, sum, kClient)
TERN_STREAM_KIND(svc::Chat, shout, kBidi)

namespace {

using svc::Chat;

// The traits the header publishes.
static_assert(!tern::is_stream_method_v<&Chat::add>);
static_assert(tern::is_stream_method_v<&Chat::countdown> && tern::is_stream_method_v<&Chat::shout>);
static_assert(tern::MethodStreamKind<&Chat::countdown>::value == tern::StreamKind::kServer);
static_assert(tern::MethodStreamKind<&Chat::sum>::value == tern::StreamKind::kClient);
static_assert(tern::MethodStreamKind<&Chat::chat>::value == tern::StreamKind::kBidi);  // undeclared: bidi
static_assert(std::is_same_v<tern::stream_request_t<&Chat::sum>, int>);
static_assert(std::is_same_v<tern::stream_response_t<&Chat::sum>, long>);
static_assert(std::is_same_v<decltype(std::declval<tern::Proxy<Chat>&>().stream<&Chat::countdown>()),
                             tern::Result<tern::ClientStream<int, std::string>>>);
static_assert(std::is_same_v<decltype(std::declval<tern::Proxy<Chat>&>().stream<&Chat::sum>(tern::CallOptions{})),
                             tern::Result<tern::ClientStream<int, long>>>);

struct ChatImpl : Chat {
  int add(int a, int b) override { return a + b; }
  Task<Status> countdown(ServerStream<int, std::string>& s) override {
    auto n = co_await s.read();
    if (!n) co_return Status(StatusCode::kInvalidArgument, "no count");
    if (*n < 0) co_return Status(StatusCode::kOutOfRange, "negative count " + std::to_string(*n));
    for (int i = *n; i > 0; --i) {
      if (Status w = co_await s.write("tick " + std::to_string(i)); !w.is_ok()) co_return w;
    }
    s.raw()->finish(Status(), {{"ticks", std::to_string(*n)}});
    co_return Status();
  }
  Task<Status> sum(ServerStream<int, long>& s) override {
    long total = 0;
    while (auto v = co_await s.read()) total += *v;
    if (!s.status().is_ok()) co_return s.status();
    co_return co_await s.write(total);
  }
  Task<Status> chat(ServerStream<std::string, std::string>& s) override {
    std::string prefix(s.attachment("prefix"));
    while (auto m = co_await s.read()) {
      if (Status w = co_await s.write(prefix + *m); !w.is_ok()) co_return w;
    }
    co_return s.status();
  }
  Status shout(ServerStream<std::string, std::string>& s) override {
    while (auto m = s.read_sync()) {
      std::string up = *m;
      for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (Status w = s.write_sync(up); !w.is_ok()) return w;
    }
    return s.status();
  }
};

struct ServiceStreamFixture : ::testing::Test {
  void SetUp() override {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.worker_threads = 4;
    server = std::make_unique<tern::Server>(so);
    Status st = server->expose<Chat>(std::make_shared<ChatImpl>());
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    st = server->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    client = std::make_unique<tern::Client>(testutil::one_io());
    tern::ReferenceOptions ro;
    ro.timeout = 5000ms;
    auto p = client->refer<Chat>(testutil::direct(*server), ro);
    ASSERT_TRUE(p.has_value()) << p.status().to_string();
    chat = *p;
    ASSERT_TRUE(chat.reference()->wait_for_providers(2s));
  }
  void TearDown() override {
    client.reset();
    if (server) server->shutdown(1000ms);
  }

  std::unique_ptr<tern::Server> server;
  std::unique_ptr<tern::Client> client;
  tern::Proxy<Chat> chat;
};

TEST_F(ServiceStreamFixture, UnaryMethodBesideStreamMethodsCallsAsBefore) {
  EXPECT_EQ(chat.call<&Chat::add>(2, 40).value(), 42);
  auto r = tern::sync_wait([&]() -> Task<int> {
    auto v = co_await chat.co_call<&Chat::add>(20, 3);
    co_return v.value_or(-1);
  }());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(*r, 23);
}

TEST_F(ServiceStreamFixture, ServerStreamingThroughTheProxyDeliversEveryTickThenStatusAndTrailers) {
  auto run = [&]() -> Task<std::vector<std::string>> {
    auto s = chat.stream<&Chat::countdown>().value();
    EXPECT_TRUE((co_await s.write(4)).is_ok());
    (void)co_await s.writes_done();  // the provider may have finished already
    std::vector<std::string> got;
    while (auto m = co_await s.read()) got.push_back(*m);
    EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
    Status fin = co_await s.finish();
    EXPECT_TRUE(fin.is_ok()) << fin.to_string();
    EXPECT_EQ(s.trailers(), (tern::StreamMetadata{{"ticks", "4"}}));
    co_return got;
  };
  auto got = tern::sync_wait(run());
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  EXPECT_EQ(*got, (std::vector<std::string>{"tick 4", "tick 3", "tick 2", "tick 1"}));
}

TEST_F(ServiceStreamFixture, TheHandlersStatusIsTheStreamsFinalStatus) {
  auto s = chat.stream<&Chat::countdown>().value();
  ASSERT_TRUE(s.write_sync(-3).is_ok());
  (void)s.writes_done_sync();
  EXPECT_FALSE(s.read_sync(2000ms).has_value());
  Status fin = s.finish_sync();
  EXPECT_EQ(fin.code(), StatusCode::kOutOfRange) << fin.to_string();
  EXPECT_EQ(fin.message(), "negative count -3");
}

TEST_F(ServiceStreamFixture, ClientStreamingThroughTheProxySumsEveryMessage) {
  auto run = [&]() -> Task<long> {
    auto s = chat.stream<&Chat::sum>().value();
    for (int i = 1; i <= 100; ++i) EXPECT_TRUE((co_await s.write(i)).is_ok());
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    auto total = co_await s.read();
    EXPECT_TRUE(total.has_value());
    EXPECT_FALSE((co_await s.read()).has_value());  // exactly one reply
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return total.value_or(-1);
  };
  auto total = tern::sync_wait(run());
  ASSERT_TRUE(total.has_value());
  EXPECT_EQ(*total, 5050);
}

TEST_F(ServiceStreamFixture, BidiThroughTheProxyInterleavesAndCarriesTheCallOptions) {
  tern::CallOptions co;
  co.attachments = {{"prefix", "> "}};
  co.timeout = 3000ms;
  auto run = [&](tern::ClientStream<std::string, std::string> s) -> Task<std::vector<std::string>> {
    std::vector<std::string> got;
    for (std::string w : {"a", "bb", "ccc"}) {
      EXPECT_TRUE((co_await s.write(w)).is_ok());
      got.push_back((co_await s.read()).value_or("<none>"));  // each reply before the next write
    }
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    EXPECT_FALSE((co_await s.read()).has_value());
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return got;
  };
  const std::vector<std::string> want{"> a", "> bb", "> ccc"};
  // Options given to stream() ...
  auto got = tern::sync_wait(run(chat.stream<&Chat::chat>(co).value()));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, want);
  // ... or to with(), as for the unary call forms.
  got = tern::sync_wait(run(chat.with(co).stream<&Chat::chat>().value()));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, want);
  // Without options: no attachment, no prefix.
  got = tern::sync_wait(run(chat.stream<&Chat::chat>().value()));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, (std::vector<std::string>{"a", "bb", "ccc"}));
}

TEST_F(ServiceStreamFixture, BlockingHandlerWithTheBlockingClientForms) {
  auto s = chat.stream<&Chat::shout>().value();
  std::vector<std::string> got;
  for (std::string w : {"hello", "tern"}) {
    ASSERT_TRUE(s.write_sync(w, 2000ms).is_ok());
    got.push_back(s.read_sync(2000ms).value_or("<none>"));
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  EXPECT_FALSE(s.read_sync(2000ms).has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());
  EXPECT_EQ(got, (std::vector<std::string>{"HELLO", "TERN"}));
}

// A unary request for a stream method (here from generic JSON invocation) is refused clearly.
TEST_F(ServiceStreamFixture, UnaryRequestForAStreamMethodIsUnimplemented) {
  tern::ReferenceOptions ro;
  ro.serialization = "json";
  auto ref = client->reference("svc.Chat", testutil::direct(*server), ro).value();
  auto r = tern::call_json(*ref, "sum", "[1]");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("'svc.Chat.sum' is a stream method"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(tern::call_json(*ref, "add", "[1,2]").value(), "3");
}

TEST_F(ServiceStreamFixture, ReflectionShowsEachMethodWithItsKindAndTypes) {
  tern::ReferenceOptions ro;
  ro.serialization = "json";
  auto reflection = client->reference(std::string(tern::kReflectionService), testutil::direct(*server), ro).value();
  auto r = tern::call_json(*reflection, "describe", R"(["svc.Chat"])");
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  auto d = nlohmann::json::parse(*r);
  ASSERT_EQ(d["methods"].size(), 5u) << d.dump();
  std::vector<std::string> order;
  for (const auto& m : d["methods"]) order.push_back(m["name"].get<std::string>());
  EXPECT_EQ(order, (std::vector<std::string>{"add", "countdown", "sum", "chat", "shout"}));  // TERN_SERVICE's order
  EXPECT_EQ(d["methods"][0],
            nlohmann::json::parse(R"({"name":"add","args":[{"type":"int32"},{"type":"int32"}],"result":{"type":"int32"}})"));
  EXPECT_EQ(d["methods"][1], nlohmann::json::parse(
                                 R"({"name":"countdown","args":[{"type":"int32"}],"result":{"type":"string"},"stream":"server"})"));
  EXPECT_EQ(d["methods"][2], nlohmann::json::parse(
                                 R"({"name":"sum","args":[{"type":"int32"}],"result":{"type":"int64"},"stream":"client"})"));
  EXPECT_EQ(d["methods"][3], nlohmann::json::parse(
                                 R"({"name":"chat","args":[{"type":"string"}],"result":{"type":"string"},"stream":"bidi"})"));
  EXPECT_EQ(d["methods"][4]["stream"], "bidi");
  // The provider URL lists every method, stream ones included.
  auto urls = server->provider_urls();
  ASSERT_EQ(urls.size(), 1u);
  EXPECT_EQ(urls[0].param("methods"), "add,countdown,sum,chat,shout") << urls[0].to_string();
}

TEST(ServiceStreamNoReference, StreamOnAProxyWithoutAReferenceFailsFailedPrecondition) {
  tern::Proxy<Chat> none;
  auto s = none.stream<&Chat::sum>();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
}

// A second stream method under the name of one a service exposes already
// fails expose() with that registration's error.
struct Other {
  virtual ~Other() = default;
  virtual Task<Status> sum(ServerStream<int, long>& stream) = 0;
};

}  // namespace

TERN_SERVICE_NAMED(Other, "svc.Chat", sum)

namespace {

struct OtherImpl : Other {
  Task<Status> sum(ServerStream<int, long>&) override { co_return Status(); }
};

TEST(ServiceStreamExpose, ANameInUseFailsAlreadyExists) {
  tern::Server server;
  ASSERT_TRUE(server.expose<Chat>(std::make_shared<ChatImpl>()).is_ok());
  Status st = server.expose<Other>(std::make_shared<OtherImpl>());
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists) << st.to_string();
}

}  // namespace
