// Compiles the C++ snippets of docs/call-modes.md, docs/configuration.md,
// docs/streaming.md, docs/grpc.md, docs/getting-started.md and docs/serialization.md (extracted by doc_snippets.cmake) and runs
// the call-mode, streaming and gRPC ones against real providers, checking what they print.
#include <gtest/gtest.h>

#include <pthread.h>

#include <cctype>
#include <csignal>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "chat.tern.h"  // tests/proto/chat.proto, for docs/streaming.md's protoc section
#include "tern/client.h"
#include "tern/config.h"
#include "tern/provider.h"
#include "tern/server.h"
#include "tern/stream.h"

struct Calculator;  // defined by the first snippet of docs/call-modes.md

struct DocSnippet {
  const char* doc;
  int index;
  bool run;
  int (*fn)(tern::Proxy<Calculator> calc, tern::Client& client, const std::shared_ptr<Calculator>& impl);
};

#include "call_modes_snippets.inc"
#include "configuration_snippets.inc"
#include "streaming_snippets.inc"
#include "grpc_snippets.inc"
#include "getting_started_snippets.inc"
#include "serialization_snippets.inc"

namespace {

using std::chrono::milliseconds;

struct CalculatorImpl : Calculator {
  int add(int a, int b) override { return a + b; }
  int slow_add(int a, int b) override {
    std::this_thread::sleep_for(milliseconds(300));
    return a + b;
  }
};

class DocSnippets : public ::testing::Test {
 protected:
  void SetUp() override {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.worker_threads = 4;
    server_ = std::make_unique<tern::Server>(so);
    ASSERT_TRUE(server_->expose<Calculator>(impl_).is_ok());
    ASSERT_TRUE(server_->start().is_ok());
    tern::ClientOptions co;
    co.io_threads = 1;
    client_ = std::make_unique<tern::Client>(co);
    calc_ = client_->refer<Calculator>("direct://127.0.0.1:" + std::to_string(server_->port())).value();
  }
  void TearDown() override {
    client_.reset();
    server_->shutdown(milliseconds(500));
  }
  std::shared_ptr<Calculator> impl_ = std::make_shared<CalculatorImpl>();
  std::unique_ptr<tern::Server> server_;
  std::unique_ptr<tern::Client> client_;
  tern::Proxy<Calculator> calc_;
};

TEST_F(DocSnippets, CallModesPrintWhatThePageSays) {
  ASSERT_EQ(call_modes_snippets().size(), 7u);  // the first (refer through a registry) is compiled only
  EXPECT_FALSE(call_modes_snippets()[0].run);
  testing::internal::CaptureStdout();
  for (const DocSnippet& s : call_modes_snippets()) {
    if (!s.run) continue;
    EXPECT_EQ(s.fn(calc_, *client_, impl_), 0) << "call-modes snippet " << s.index;
  }
  std::string out = testing::internal::GetCapturedStdout();
  for (const char* line : {"sync: 3\n", "timeout: DEADLINE_EXCEEDED: call timed out (no response within its deadline)\n",
                           "may have executed: 1\n", "future: 5\n", "then: 50\n", "cancel: CANCELLED", "callback: 7\n",
                           "oneway: OK\n", "coroutine: 111\n", "with: 13\n"}) {
    EXPECT_NE(out.find(line), std::string::npos) << "missing \"" << line << "\" in:\n" << out;
  }
}

// The coroutine provider of docs/call-modes.md: a Task handler awaiting Calculator.
TEST_F(DocSnippets, CoroutineProviderAnswers) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 1;
  tern::Server front(so);
  ASSERT_TRUE(front.expose<Doubler>(std::make_shared<DoublerImpl>(calc_)).is_ok());
  ASSERT_TRUE(front.start().is_ok());
  auto doubler = client_->refer<Doubler>("direct://127.0.0.1:" + std::to_string(front.port())).value();
  EXPECT_EQ(doubler.call<&Doubler::add_twice>(1, 2).value(), 5);
  EXPECT_EQ(doubler.call<&Doubler::add_twice>(10, 20).value(), 50);
  front.shutdown(milliseconds(200));
}

// docs/configuration.md's snippets are compiled (above); they need files and
// ports of their own, so they are not run here (tests/config covers the API).
TEST(DocSnippetsCompiled, ConfigurationPage) {
  ASSERT_EQ(configuration_snippets().size(), 3u);
  for (const DocSnippet& s : configuration_snippets()) EXPECT_FALSE(s.run) << s.index;
}

// docs/streaming.md: the provider of the page, then every consumer snippet
// (three kinds in each of the coroutine, callback and blocking forms, the
// TERN_SERVICE interface with stream methods, and the protoc-generated stub)
// against it, checking what they print.
TEST(DocSnippetsStreaming, EveryFrontEndPrintsWhatThePageSays) {
  ASSERT_EQ(streaming_snippets().size(), 1u);  // the callback waiting example, compiled only
  EXPECT_FALSE(streaming_snippets()[0].run);
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  so.worker_threads = 2;
  tern::Server server(so);
  ASSERT_TRUE(add_chat_methods(server).is_ok());
  ASSERT_TRUE(server.expose<terntest::chat::Chat>(std::make_shared<ChatService>()).is_ok());
  ASSERT_TRUE(server.expose<Talk>(std::make_shared<TalkImpl>()).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  tern::ClientOptions co;
  co.io_threads = 1;
  tern::Client client(co);
  const std::string url = "direct://127.0.0.1:" + std::to_string(server.port());
  auto ref = client.reference("Chat", url).value();
  tern::ReferenceOptions json;
  json.serialization = "json";
  auto json_ref = client.reference("Chat", url, json).value();
  tern::ReferenceOptions protobuf;
  protobuf.serialization = "protobuf";
  terntest::chat::ChatStub stub = client.refer<terntest::chat::Chat>(url, protobuf).value();
  tern::Proxy<Talk> talk = client.refer<Talk>(url).value();

  testing::internal::CaptureStdout();
  for (auto* coroutine : {&countdown, &sum, &chat}) {
    auto r = tern::sync_wait(coroutine(*ref));
    ASSERT_TRUE(r.has_value()) << r.status();
    EXPECT_TRUE(r->is_ok()) << *r;
  }
  for (auto* callbacks : {&countdown_callbacks, &sum_callbacks, &chat_callbacks}) {
    const char* method = callbacks == &countdown_callbacks ? "countdown" : callbacks == &sum_callbacks ? "sum" : "chat";
    auto s = tern::open_stream(*json_ref, method).value();
    std::promise<tern::Status> finished;
    callbacks(s, [&finished](tern::Status st) { finished.set_value(st); });
    auto f = finished.get_future();
    ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready) << method;
    tern::Status st = f.get();
    EXPECT_TRUE(st.is_ok()) << method << ": " << st;
  }
  for (auto* blocking : {&countdown_blocking, &sum_blocking, &shout_blocking}) {
    tern::Status st = blocking(*ref);
    EXPECT_TRUE(st.is_ok()) << st;
  }
  tern::Status st = use_talk(talk);
  EXPECT_TRUE(st.is_ok()) << st;
  st = proto_countdown(stub);
  EXPECT_TRUE(st.is_ok()) << st;
  std::string out = testing::internal::GetCapturedStdout();
  EXPECT_EQ(out,
            "countdown: tick 3\n"
            "countdown: tick 2\n"
            "countdown: tick 1\n"
            "sum: 5050\n"
            "chat: > hi\n"
            "chat: > bye\n"
            "callback countdown: \"tick 2\"\n"
            "callback countdown: \"tick 1\"\n"
            "callback sum: 42\n"
            "callback chat: \"> ping\"\n"
            "callback chat: \"> pong\"\n"
            "blocking countdown: tick 2\n"
            "blocking countdown: tick 1\n"
            "blocking sum: 42\n"
            "blocking shout: HELLO\n"
            "blocking shout: TERN\n"
            "talk add: 3\n"
            "talk countdown: tick 2\n"
            "talk countdown: tick 1\n"
            "talk total: 42\n"
            "talk echo: echo hi\n"
            "proto countdown: 2\n"
            "proto countdown: 1\n");
  server.shutdown(milliseconds(500));
}

// docs/grpc.md: the provider and options snippets run (a server on a free
// port, started and shut down); the TLS one needs certificate files; the
// consumer one needs a gRPC server (tests/grpc).
TEST_F(DocSnippets, GrpcPage) {
  ASSERT_EQ(grpc_snippets().size(), 4u);
  EXPECT_TRUE(grpc_snippets()[0].run);
  EXPECT_TRUE(grpc_snippets()[1].run);
  EXPECT_FALSE(grpc_snippets()[2].run);
  EXPECT_FALSE(grpc_snippets()[3].run);  // the grpc:// consumer: tests/grpc runs it against real servers
  for (const DocSnippet& s : grpc_snippets()) {
    if (s.run) {
      EXPECT_EQ(s.fn(calc_, *client_, impl_), 0) << "grpc snippet " << s.index;
    }
  }
}

// docs/getting-started.md: the status-code test runs (its EXPECTs are this
// test's); the signal example is compiled only (it would wait for a signal).
TEST_F(DocSnippets, GettingStartedStatusCodeTestRunsAndSignalExampleCompiles) {
  ASSERT_EQ(getting_started_snippets().size(), 2u);
  EXPECT_TRUE(getting_started_snippets()[0].run);
  EXPECT_FALSE(getting_started_snippets()[1].run);
  EXPECT_EQ(getting_started_snippets()[0].fn(calc_, *client_, impl_), 0);
}

// docs/serialization.md: the std::string_view provider and its consumer run
// (1 MiB echoed from the request, a borrowed blob kept by copy).
TEST_F(DocSnippets, SerializationBorrowingExampleRuns) {
  ASSERT_EQ(serialization_snippets().size(), 1u);
  EXPECT_TRUE(serialization_snippets()[0].run);
  EXPECT_EQ(serialization_snippets()[0].fn(calc_, *client_, impl_), 0);
}

}  // namespace
