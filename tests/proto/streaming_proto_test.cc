// Streaming rpcs through protoc-gen-tern: tests/proto/chat.proto's server,
// client and bidirectional streams, generated as ServerStream handlers on the
// provider's base class and ClientStream-opening methods on the stub, served
// and called over loopback in protobuf and JSON; a service of streams only;
// proto3 `optional` fields; tern.Reflection's stream kinds.
#include "chat.tern.h"

#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "loopback.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using terntest::chat::Chat;
using terntest::chat::ChatStub;
using terntest::chat::Line;
using terntest::chat::Number;
using terntest::chat::Ticker;
using terntest::chat::TickerStub;
using terntest::chat::Total;

namespace {

class ChatImpl : public Chat {
 public:
  tern::Result<Total> Add(const Number& request) override {
    Total t;
    t.set_sum(request.value() + 1);
    t.set_count(1);
    if (request.has_note()) t.set_notes(request.note());
    return t;
  }
  tern::Task<tern::Status> Countdown(tern::ServerStream<Number, Number>& stream) override {
    auto first = co_await stream.read();
    if (!first) co_return tern::Status(tern::StatusCode::kInvalidArgument, "no count");
    if (first->value() < 0) co_return tern::Status(tern::StatusCode::kInvalidArgument, "negative count");
    for (std::int64_t i = first->value(); i > 0; --i) {
      Number n;
      n.set_value(i);
      if (i == 1) n.set_note("liftoff");
      if (tern::Status w = co_await stream.write(n); !w.is_ok()) co_return w;
    }
    co_return tern::Status();
  }
  tern::Task<tern::Status> Sum(tern::ServerStream<Number, Total>& stream) override {
    Total t;
    std::string notes;
    bool any_note = false;
    while (auto n = co_await stream.read()) {
      t.set_sum(t.sum() + n->value());
      t.set_count(t.count() + 1);
      if (n->has_note()) {
        notes += (any_note ? "," : "") + n->note();
        any_note = true;
      }
    }
    if (!stream.status().is_ok()) co_return stream.status();
    if (any_note) t.set_notes(notes);
    co_return co_await stream.write(t);
  }
  tern::Task<tern::Status> Shout(tern::ServerStream<Line, Line>& stream) override {
    while (auto line = co_await stream.read()) {
      Line out;
      std::string text = line->text();
      std::transform(text.begin(), text.end(), text.begin(),
                     [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      out.set_text(text);
      if (line->has_seq()) out.set_seq(line->seq() + 1);
      if (tern::Status w = co_await stream.write(out); !w.is_ok()) co_return w;
    }
    co_return stream.status();
  }
};

class TickerImpl : public Ticker {
 public:
  tern::Task<tern::Status> Ticks(tern::ServerStream<Number, Line>& stream) override {
    auto n = co_await stream.read();
    if (!n) co_return tern::Status(tern::StatusCode::kInvalidArgument, "no count");
    for (std::int64_t i = 0; i < n->value(); ++i) {
      Line l;
      l.set_text("tick");
      l.set_seq(static_cast<std::int32_t>(i));
      if (tern::Status w = co_await stream.write(l); !w.is_ok()) co_return w;
    }
    co_return tern::Status();
  }
};

// The generated shapes: unary stays a Result method listed in TERN_SERVICE,
// streams are ServerStream handlers on the provider and open methods on the stub.
static_assert(std::is_same_v<decltype(&Chat::Countdown),
                             tern::Task<tern::Status> (Chat::*)(tern::ServerStream<Number, Number>&)>);
static_assert(std::is_same_v<decltype(&Chat::Sum), tern::Task<tern::Status> (Chat::*)(tern::ServerStream<Number, Total>&)>);
static_assert(std::is_same_v<decltype(&Chat::Shout), tern::Task<tern::Status> (Chat::*)(tern::ServerStream<Line, Line>&)>);
static_assert(std::is_same_v<decltype(std::declval<ChatStub&>().Countdown()),
                             tern::Result<tern::ClientStream<Number, Number>>>);
static_assert(std::is_same_v<decltype(std::declval<ChatStub&>().Sum()), tern::Result<tern::ClientStream<Number, Total>>>);
static_assert(std::is_same_v<decltype(std::declval<ChatStub&>().Shout()), tern::Result<tern::ClientStream<Line, Line>>>);
static_assert(std::is_base_of_v<tern::Proxy<Chat>, ChatStub>);
static_assert(std::tuple_size_v<decltype(tern::ServiceTraits<Chat>::methods())> == 1);  // Add only
static_assert(std::tuple_size_v<decltype(tern::ServiceTraits<Ticker>::methods())> == 0);

struct ChatFixture : testutil::LoopbackFixture, ::testing::WithParamInterface<const char*> {
  void SetUp() override {
    start({}, [&](tern::Server& s) {
      ASSERT_TRUE(s.expose<Chat>(std::make_shared<ChatImpl>()).is_ok());
      ASSERT_TRUE(s.expose<Ticker>(std::make_shared<TickerImpl>()).is_ok());
    });
  }
  template <typename I>
  tern::Proxy<I> proxy(const std::string& serialization) {
    tern::ReferenceOptions o;
    o.serialization = serialization;
    o.timeout = 5000ms;
    return client->refer<I>(url, o).value();
  }
};

TEST_P(ChatFixture, UnaryRpcBesideStreamsWorksAsBefore) {
  ChatStub stub = proxy<Chat>(GetParam());
  Number n;
  n.set_value(41);
  auto r = stub.call<&Chat::Add>(n);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(r->sum(), 42);
  EXPECT_FALSE(r->has_notes());  // proto3 optional: absent stays absent
  n.set_note("");                // present but empty
  r = stub.call<&Chat::Add>(n);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_TRUE(r->has_notes());
  EXPECT_EQ(r->notes(), "");
}

TEST_P(ChatFixture, ServerStreamingCountsDownInOrder) {
  ChatStub stub = proxy<Chat>(GetParam());
  auto run = [&]() -> tern::Task<std::vector<std::pair<std::int64_t, std::string>>> {
    auto s = stub.Countdown().value();
    Number n;
    n.set_value(4);
    EXPECT_TRUE((co_await s.write(n)).is_ok());
    (void)co_await s.writes_done();  // the provider may have finished already: finish() says how
    std::vector<std::pair<std::int64_t, std::string>> got;
    while (auto m = co_await s.read()) got.emplace_back(m->value(), m->has_note() ? m->note() : "<none>");
    EXPECT_TRUE(s.status().is_ok()) << s.status();
    EXPECT_TRUE((co_await s.finish()).is_ok());
    co_return got;
  };
  auto got = tern::sync_wait(run());
  ASSERT_TRUE(got.has_value()) << got.status();
  EXPECT_EQ(*got, (std::vector<std::pair<std::int64_t, std::string>>{
                      {4, "<none>"}, {3, "<none>"}, {2, "<none>"}, {1, "liftoff"}}));
}

TEST_P(ChatFixture, ServerStreamingHandlerStatusReachesTheConsumer) {
  ChatStub stub = proxy<Chat>(GetParam());
  auto s = stub.Countdown().value();
  Number n;
  n.set_value(-1);
  ASSERT_TRUE(s.write_sync(n).is_ok());
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_EQ(s.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(), "negative count");
}

TEST_P(ChatFixture, ClientStreamingSumsWithOptionalNotes) {
  ChatStub stub = proxy<Chat>(GetParam());
  auto s = stub.Sum().value();
  for (int i = 1; i <= 100; ++i) {
    Number n;
    n.set_value(i);
    if (i % 50 == 0) n.set_note("n" + std::to_string(i));
    ASSERT_TRUE(s.write_sync(n).is_ok());
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  auto total = s.read_sync();
  ASSERT_TRUE(total.has_value()) << s.status();
  EXPECT_EQ(total->sum(), 5050);
  EXPECT_EQ(total->count(), 100);
  ASSERT_TRUE(total->has_notes());
  EXPECT_EQ(total->notes(), "n50,n100");
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());

  // No notes at all: the optional field stays absent.
  auto empty = stub.Sum().value();
  ASSERT_TRUE(empty.writes_done_sync().is_ok());
  auto zero = empty.read_sync();
  ASSERT_TRUE(zero.has_value()) << empty.status();
  EXPECT_EQ(zero->count(), 0);
  EXPECT_FALSE(zero->has_notes());
}

TEST_P(ChatFixture, BidirectionalShoutInterleavesWithCallOptions) {
  ChatStub stub = proxy<Chat>(GetParam());
  tern::CallOptions co;
  co.timeout = 3000ms;
  auto s = stub.Shout(co).value();
  std::vector<std::string> got;
  for (int i = 0; i < 3; ++i) {
    Line l;
    l.set_text("hi " + std::to_string(i));
    if (i != 1) l.set_seq(i * 10);
    ASSERT_TRUE(s.write_sync(l).is_ok());
    auto r = s.read_sync();  // each answer before the next line: interleaved
    ASSERT_TRUE(r.has_value()) << s.status();
    got.push_back(r->text() + "/" + (r->has_seq() ? std::to_string(r->seq()) : "-"));
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());
  EXPECT_EQ(got, (std::vector<std::string>{"HI 0/1", "HI 1/-", "HI 2/21"}));
}

TEST_P(ChatFixture, AServiceOfStreamsOnly) {
  TickerStub stub = proxy<Ticker>(GetParam());
  auto s = stub.Ticks().value();
  Number n;
  n.set_value(3);
  ASSERT_TRUE(s.write_sync(n).is_ok());
  (void)s.writes_done_sync();  // the provider may have finished already
  std::vector<int> seqs;
  while (auto l = s.read_sync()) {
    EXPECT_EQ(l->text(), "tick");
    seqs.push_back(l->seq());
  }
  EXPECT_TRUE(s.status().is_ok()) << s.status();
  EXPECT_EQ(seqs, (std::vector<int>{0, 1, 2}));
}

INSTANTIATE_TEST_SUITE_P(Serializations, ChatFixture, ::testing::Values("protobuf", "json"));

TEST(GeneratedStreamStub, WithoutAReferenceIsFailedPrecondition) {
  ChatStub stub;
  auto s = stub.Shout();
  ASSERT_FALSE(s.has_value());
  EXPECT_EQ(s.status().code(), tern::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.status().message(), "ChatStub has no reference");
}

// protoc with the plugin on a .proto written here: exit status and stderr.
struct Protoc {
  int exit_code = -1;
  std::string err;
  std::string header;  // the generated .tern.h, when there is one
};
Protoc run_protoc(const std::string& name, const std::string& proto) {
  const std::string dir = std::string(TERN_BINARY_DIR) + "/streaming_proto_test_" + std::to_string(::getpid());
  std::filesystem::create_directories(dir + "/out");
  std::ofstream(dir + "/" + name + ".proto") << proto;
  std::string cmd = std::string(TERN_PROTOC) + " -I" + dir + " --plugin=protoc-gen-tern=" TERN_BINARY_DIR
                    "/bin/protoc-gen-tern --tern_out=" + dir + "/out " + dir + "/" + name + ".proto 2>" + dir +
                    "/err.txt";
  Protoc r;
  int st = std::system(cmd.c_str());
  r.exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::ifstream e(dir + "/err.txt");
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::ifstream h(dir + "/out/" + name + ".tern.h");
  r.header.assign(std::istreambuf_iterator<char>(h), std::istreambuf_iterator<char>());
  std::filesystem::remove_all(dir);
  return r;
}

TEST(ProtocGenTern, AcceptsProto3OptionalFields) {
  auto r = run_protoc("opt", "syntax = \"proto3\";\npackage t;\nmessage M { optional int32 x = 1; }\n"
                             "service S { rpc F(M) returns (M); }\n");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.header.find("TERN_SERVICE_NAMED(t::S, \"t.S\", F)"), std::string::npos) << r.header;
}

TEST(ProtocGenTern, RefusesStreamNamesThatWouldHideProxyMembers) {
  auto r = run_protoc("clash", "syntax = \"proto3\";\npackage t;\nmessage M {}\n"
                               "service S { rpc call(stream M) returns (M); }\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("stream method t.S.call has the name of a tern::Proxy member"), std::string::npos) << r.err;
  r = run_protoc("empty", "syntax = \"proto3\";\npackage t;\nservice S {}\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("service t.S has no methods"), std::string::npos) << r.err;
}

struct ChatReflection : ChatFixture {};

TEST_F(ChatReflection, StreamRpcsAreDescribedWithTheirKindAndMessages) {
  tern::ReferenceOptions o;
  o.serialization = "json";
  auto ref = client->reference(std::string(tern::kReflectionService), url, o).value();
  auto d = nlohmann::json::parse(tern::call_json(*ref, "describe", R"(["terntest.chat.Chat"])").value());
  ASSERT_EQ(d["methods"].size(), 4u) << d.dump();
  EXPECT_EQ(d["methods"][0], nlohmann::json::parse(R"({"name":"Add",
      "args":[{"type":"message","name":"terntest.chat.Number"}],
      "result":{"type":"message","name":"terntest.chat.Total"}})"));
  EXPECT_EQ(d["methods"][1], nlohmann::json::parse(R"({"name":"Countdown",
      "args":[{"type":"message","name":"terntest.chat.Number"}],
      "result":{"type":"message","name":"terntest.chat.Number"},"stream":"server"})"));
  EXPECT_EQ(d["methods"][2]["name"], "Sum");
  EXPECT_EQ(d["methods"][2]["stream"], "client");
  EXPECT_EQ(d["methods"][3]["name"], "Shout");
  EXPECT_EQ(d["methods"][3]["stream"], "bidi");
  EXPECT_EQ(d["methods"][3]["args"], nlohmann::json::parse(R"([{"type":"message","name":"terntest.chat.Line"}])"));
  // proto3 optional fields are described as optional.
  EXPECT_EQ(d["types"]["terntest.chat.Number"], nlohmann::json::parse(R"({"kind":"message","fields":[
      {"name":"value","number":1,"type":{"type":"int64"}},
      {"name":"note","number":2,"type":{"type":"optional","value":{"type":"string"}}}]})"));
  EXPECT_TRUE(d["types"].contains("terntest.chat.Line"));
  auto t = nlohmann::json::parse(tern::call_json(*ref, "describe", R"(["terntest.chat.Ticker"])").value());
  ASSERT_EQ(t["methods"].size(), 1u);
  EXPECT_EQ(t["methods"][0]["stream"], "server");
}

}  // namespace
