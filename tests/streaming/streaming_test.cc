// Streams end to end over loopback TCP (tern/stream.h): server, client and
// bidirectional streams in the coroutine, callback and blocking forms, flow
// control that bounds a writer to the reader's window, deadlines,
// cancellation from either side, and the errors a consumer sees for a method
// that is not there.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "loopback.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"
#include "tern/stream.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using tern::ClientStream;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

// Variadic: the template arguments of add_stream_method<A, B> hold commas.
#define ADD_OK(...) ASSERT_TRUE((__VA_ARGS__).is_ok())

namespace {

// Provider state the tests look at from outside.
struct Observed {
  std::atomic<int> writes_done_ok{0};  // provider writes completed
  std::atomic<int> max_unread{0};      // provider writes completed minus consumer reads, at most
  std::atomic<int> consumer_reads{0};
  std::promise<Status> provider_end;   // how the provider's reads ended
  std::atomic<bool> provider_end_set{false};
  void end(Status st) {
    if (!provider_end_set.exchange(true)) provider_end.set_value(std::move(st));
  }
};

struct StreamFixture : ::testing::Test {
  void start(const std::string& dispatcher = "all", const std::function<void(tern::Server&)>& extra = {}) {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.dispatcher = dispatcher;
    server = std::make_unique<tern::Server>(so);
    auto obs = observed;
    // Server streaming: one request (a count), that many replies, trailers.
    ADD_OK(server
                    ->add_stream_method<int, std::string>(
                        "Chat", "countdown", tern::StreamKind::kServer,
                        [](ServerStream<int, std::string>& s) -> Task<Status> {
                          auto n = co_await s.read();
                          if (!n) co_return Status(StatusCode::kInvalidArgument, "no count");
                          for (int i = *n; i > 0; --i) {
                            Status w = co_await s.write("tick " + std::to_string(i));
                            if (!w.is_ok()) co_return w;
                          }
                          s.raw()->finish(Status(), {{"ticks", std::to_string(*n)}});
                          co_return Status();
                        }));
    // Client streaming: sums what arrives, answers once.
    ADD_OK(server
                    ->add_stream_method<int, long>("Chat", "sum", tern::StreamKind::kClient,
                                                    [](ServerStream<int, long>& s) -> Task<Status> {
                                                      long total = 0;
                                                      while (auto v = co_await s.read()) total += *v;
                                                      if (!s.status().is_ok()) co_return s.status();
                                                      co_return co_await s.write(total);
                                                    }));
    // Bidirectional, coroutine: echoes each message, attachments visible.
    ADD_OK(server
                    ->add_stream_method<std::string, std::string>(
                        "Chat", "echo", tern::StreamKind::kBidi,
                        [](ServerStream<std::string, std::string>& s) -> Task<Status> {
                          std::string prefix(s.attachment("prefix"));
                          while (auto m = co_await s.read()) {
                            Status w = co_await s.write(prefix + *m);
                            if (!w.is_ok()) co_return w;
                          }
                          co_return s.status();
                        }));
    // Bidirectional, blocking style on the business pool.
    ADD_OK(server
                    ->add_blocking_stream_method<std::string, std::string>(
                        "Chat", "shout",
                        [](ServerStream<std::string, std::string>& s) -> Status {
                          while (auto m = s.read_sync()) {
                            std::string up = *m;
                            for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
                            if (Status w = s.write_sync(up); !w.is_ok()) return w;
                          }
                          return s.status();
                        }));
    // A flood of 64 KiB messages, as fast as credit allows.
    ADD_OK(server
                    ->add_stream_method<int, std::string>(
                        "Chat", "flood",
                        [obs](ServerStream<int, std::string>& s) -> Task<Status> {
                          auto n = co_await s.read();
                          std::string block(64 * 1024, 'x');
                          for (int i = 0; i < *n; ++i) {
                            Status w = co_await s.write(block);
                            if (!w.is_ok()) co_return w;
                            int done = ++obs->writes_done_ok;
                            int unread = done - obs->consumer_reads.load();
                            int prev = obs->max_unread.load();
                            while (unread > prev && !obs->max_unread.compare_exchange_weak(prev, unread)) {
                            }
                          }
                          co_return Status();
                        }));
    // Reads until the stream ends, reports how.
    ADD_OK(server
                    ->add_stream_method<int, int>("Chat", "wait",
                                                  [obs](ServerStream<int, int>& s) -> Task<Status> {
                                                    while (co_await s.read()) {
                                                    }
                                                    obs->end(s.status());
                                                    co_return s.status();
                                                  }));
    if (extra) extra(*server);
    auto st = server->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    client = std::make_unique<tern::Client>(testutil::one_io());
    tern::ReferenceOptions ro;
    ro.timeout = 5000ms;
    auto r = client->reference("Chat", testutil::direct(*server), ro);
    ASSERT_TRUE(r.has_value()) << r.status().to_string();
    ref = *r;
    ASSERT_TRUE(ref->wait_for_providers(2s));
  }
  void TearDown() override {
    client.reset();
    if (server) server->shutdown(1000ms);
  }

  std::shared_ptr<Observed> observed = std::make_shared<Observed>();
  std::unique_ptr<tern::Server> server;
  std::unique_ptr<tern::Client> client;
  std::shared_ptr<tern::Reference> ref;
};

TEST_F(StreamFixture, ServerStreamingDeliversEveryMessageInOrderThenStatusAndTrailers) {
  start();
  auto run = [&]() -> Task<std::vector<std::string>> {
    auto s = ClientStream<int, std::string>::open(*ref, "countdown").value();
    EXPECT_TRUE((co_await s.write(5)).is_ok());
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    std::vector<std::string> got;
    while (auto m = co_await s.read()) got.push_back(*m);
    EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
    Status fin = co_await s.finish();
    EXPECT_TRUE(fin.is_ok()) << fin.to_string();
    auto trailers = s.trailers();
    EXPECT_EQ(trailers.size(), 1u);
    if (!trailers.empty()) {
      EXPECT_EQ(trailers[0], (std::pair<std::string, std::string>{"ticks", "5"}));
    }
    co_return got;
  };
  auto got = tern::sync_wait(run());
  ASSERT_TRUE(got.has_value()) << got.status().to_string();
  EXPECT_EQ(*got, (std::vector<std::string>{"tick 5", "tick 4", "tick 3", "tick 2", "tick 1"}));
}

TEST_F(StreamFixture, ClientStreamingSumsEveryMessage) {
  start();
  auto run = [&]() -> Task<long> {
    auto s = ClientStream<int, long>::open(*ref, "sum").value();
    for (int i = 1; i <= 100; ++i) EXPECT_TRUE((co_await s.write(i)).is_ok());
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    auto total = co_await s.read();
    EXPECT_TRUE(total.has_value());
    auto more = co_await s.read();
    EXPECT_FALSE(more.has_value());
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return total.value_or(-1);
  };
  auto total = tern::sync_wait(run());
  ASSERT_TRUE(total.has_value());
  EXPECT_EQ(*total, 5050);
}

TEST_F(StreamFixture, BidirectionalEchoInterleavesAndCarriesAttachments) {
  start("direct");
  tern::CallOptions co;
  co.attachments = {{"prefix", "> "}};
  auto run = [&]() -> Task<std::vector<std::string>> {
    auto s = ClientStream<std::string, std::string>::open(*ref, "echo", &co).value();
    std::vector<std::string> got;
    for (std::string w : {"a", "bb", "ccc"}) {
      EXPECT_TRUE((co_await s.write(w)).is_ok());
      auto r = co_await s.read();  // each reply before the next write: truly interleaved
      got.push_back(r.value_or("<none>"));
    }
    EXPECT_TRUE((co_await s.writes_done()).is_ok());
    EXPECT_FALSE((co_await s.read()).has_value());
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return got;
  };
  auto got = tern::sync_wait(run());
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, (std::vector<std::string>{"> a", "> bb", "> ccc"}));
}

TEST_F(StreamFixture, BlockingFormsOnBothSides) {
  start();
  auto s = ClientStream<std::string, std::string>::open(*ref, "shout").value();
  EXPECT_TRUE(s.write_sync("hello").is_ok());
  EXPECT_EQ(s.read_sync().value_or("<none>"), "HELLO");
  EXPECT_TRUE(s.write_sync("tern").is_ok());
  EXPECT_EQ(s.read_sync().value_or("<none>"), "TERN");
  EXPECT_TRUE(s.writes_done_sync().is_ok());
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(StreamFixture, CallbackFormOnTheRawHandle) {
  start();
  auto raw = tern::open_stream(*ref, "echo").value();
  tern::detail::StringWriter w;
  tern::serialization::MsgpackCodec::encode_value(w, std::string("raw"));
  std::promise<std::pair<std::optional<std::string>, Status>> read;
  std::promise<Status> wrote;
  raw->write(w.out, [&](Status st) { wrote.set_value(st); });
  EXPECT_TRUE(wrote.get_future().get().is_ok());
  raw->read([&](std::optional<std::string> m, Status st) { read.set_value({std::move(m), std::move(st)}); });
  auto [msg, st] = read.get_future().get();
  ASSERT_TRUE(msg.has_value()) << st.to_string();
  EXPECT_EQ(tern::serialization::MsgpackCodec::decode_value<std::string>(*msg).value(), "raw");
  raw->cancel();
  std::promise<Status> fin;
  raw->await_status([&](Status s) { fin.set_value(s); });
  EXPECT_EQ(fin.get_future().get().code(), StatusCode::kCancelled);
}

// The provider floods 64 KiB messages; the consumer starts reading only once
// 16 are written. With a 1 MiB window the writer stops at 16 unread (credit
// comes back in batches of half the window as the consumer reads), so it is
// never more than one window ahead, and every message still arrives.
TEST_F(StreamFixture, FlowControlBoundsTheWriterToTheReadersWindow) {
  start("direct");
  auto obs = observed;
  constexpr int kMessages = 80;
  auto s = ClientStream<int, std::string>::open(*ref, "flood").value();
  ASSERT_TRUE(s.write_sync(kMessages).is_ok());
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  // Before any read the provider runs ahead as far as the window lets it.
  ASSERT_TRUE(testutil::wait_until([&] { return obs->writes_done_ok.load() >= 16; }, 5s, 1ms))
      << "provider wrote " << obs->writes_done_ok.load();
  int reads = 0;
  while (auto m = s.read_sync()) {
    EXPECT_EQ(m->size(), 64u * 1024);
    obs->consumer_reads = ++reads;
  }
  EXPECT_EQ(reads, kMessages);
  EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
  // 1 MiB of credit = 16 messages of 64 KiB; a broken window lets it run to 80.
  EXPECT_LE(obs->max_unread.load(), 17);
  EXPECT_GE(obs->max_unread.load(), 16);
}

TEST_F(StreamFixture, UnknownStreamMethodFinishesUnimplemented) {
  start();
  auto s = ClientStream<int, int>::open(*ref, "nope").value();
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.status().message().find("unknown stream method 'Chat.nope'"), std::string::npos) << s.status().message();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kUnimplemented);
}

TEST_F(StreamFixture, UnaryCallOfAStreamMethodIsUnimplemented) {
  start();
  std::promise<tern::CallResult> p;
  auto req = ref->new_request("echo", false);
  ref->invoke("echo", req.finish(), 2000ms, [&](tern::CallResult r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  EXPECT_EQ(r.status.code(), StatusCode::kUnimplemented);
  EXPECT_NE(r.status.message().find("is a stream method"), std::string::npos) << r.status.message();
}

TEST_F(StreamFixture, DeadlineEndsTheStreamOnBothSides) {
  start();
  tern::CallOptions co;
  co.timeout = 200ms;
  auto s = ClientStream<int, int>::open(*ref, "wait", &co).value();
  ASSERT_TRUE(s.write_sync(1).is_ok());
  Status fin = s.finish_sync();
  EXPECT_EQ(fin.code(), StatusCode::kDeadlineExceeded) << fin.to_string();
  auto provider = observed->provider_end.get_future();
  ASSERT_EQ(provider.wait_for(5s), std::future_status::ready);
  Status seen = provider.get();
  // The provider's own deadline timer or the consumer's cancel, whichever came first.
  EXPECT_TRUE(seen.code() == StatusCode::kDeadlineExceeded || seen.code() == StatusCode::kCancelled)
      << seen.to_string();
}

TEST_F(StreamFixture, ConsumerCancelReachesTheProvider) {
  start();
  auto s = ClientStream<int, int>::open(*ref, "wait").value();
  ASSERT_TRUE(s.write_sync(1).is_ok());
  s.cancel(Status(StatusCode::kCancelled, "user gave up"));
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kCancelled);
  auto provider = observed->provider_end.get_future();
  ASSERT_EQ(provider.wait_for(5s), std::future_status::ready);
  Status seen = provider.get();
  EXPECT_EQ(seen.code(), StatusCode::kCancelled);
  EXPECT_NE(seen.message().find("user gave up"), std::string::npos) << seen.message();
}

TEST_F(StreamFixture, ManyStreamsAtOnceOnOneConnection) {
  start();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto s = ClientStream<int, long>::open(*ref, "sum").value();
      bool sent = true;
      for (int i = 0; i < 50; ++i) sent = s.write_sync(t).is_ok() && sent;
      sent = s.writes_done_sync().is_ok() && sent;
      auto total = s.read_sync();
      if (sent && total && *total == 50L * t && s.finish_sync().is_ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 8);
}

// tern.Reflection shows which methods stream, and how; the typed forms
// publish their message types. Without a kind a stream method is "bidi".
TEST_F(StreamFixture, ReflectionDescribesStreamMethodsWithTheirKind) {
  start("all", [](tern::Server& s) {
    // A raw handler publishes its kind but no types; unary methods have no "stream".
    ADD_OK(s.add_stream_method("Raw", "pipe", tern::StreamKind::kServer,
                               [](std::shared_ptr<tern::RawStream>) -> Task<Status> { co_return Status(); }));
    ADD_OK(s.add_method("Raw", "ping", [](tern::ServerCall& call) { call.respond(Status()); }));
  });
  tern::ReferenceOptions ro;
  ro.serialization = "json";
  auto reflection = client->reference(std::string(tern::kReflectionService), testutil::direct(*server), ro).value();
  auto r = tern::call_json(*reflection, "describe", R"(["Chat"])");
  ASSERT_TRUE(r.has_value()) << r.status().to_string();
  auto d = nlohmann::json::parse(*r);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& m : d["methods"]) by_name[m["name"].get<std::string>()] = m;
  ASSERT_EQ(by_name.size(), 6u) << d.dump();
  EXPECT_EQ(by_name["countdown"], nlohmann::json::parse(
                                      R"({"name":"countdown","args":[{"type":"int32"}],"result":{"type":"string"},"stream":"server"})"));
  EXPECT_EQ(by_name["sum"], nlohmann::json::parse(
                                R"({"name":"sum","args":[{"type":"int32"}],"result":{"type":"int64"},"stream":"client"})"));
  EXPECT_EQ(by_name["echo"]["stream"], "bidi");
  EXPECT_EQ(by_name["shout"]["stream"], "bidi");  // blocking, registered without a kind
  EXPECT_EQ(by_name["wait"]["stream"], "bidi");
  EXPECT_EQ(by_name["flood"]["args"], nlohmann::json::parse(R"([{"type":"int32"}])"));
  auto raw = nlohmann::json::parse(tern::call_json(*reflection, "describe", R"(["Raw"])").value());
  ASSERT_EQ(raw["methods"].size(), 2u);
  EXPECT_EQ(raw["methods"][0], nlohmann::json::parse(R"({"name":"pipe","args":null,"result":null,"stream":"server"})"));
  EXPECT_EQ(raw["methods"][1], nlohmann::json::parse(R"({"name":"ping","args":null,"result":null})"));
}

TEST(StreamNoProvider, OpenWithAnEmptyDirectoryFailsUnavailable) {
  tern::Client client(testutil::one_io());
  auto ref = client.reference("Chat", "direct://127.0.0.1:1", {}).value();
  // The provider is unreachable: the open succeeds locally, the stream ends UNAVAILABLE.
  auto s = ClientStream<int, int>::open(*ref, "sum").value();
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable) << s.status().to_string();
}

}  // namespace
