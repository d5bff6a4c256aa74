// Reflection (tern/reflection.h): type descriptions built from C++ types, and
// the built-in tern.Reflection service answering them over the wire in JSON
// (generic invocation) and MessagePack.
#include "tern/reflection.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"
#include "tern/task.h"

using namespace std::chrono_literals;
using nlohmann::json;

namespace refl {
enum class Color : std::uint8_t { kRed = 1, kBlue = 2 };
struct Inner {
  std::int64_t id = 0;
  Color color = Color::kRed;
};
struct Outer {
  std::string name;
  std::vector<std::uint8_t> blob;
  std::map<std::string, std::vector<Inner>> groups;
  Inner first;
  bool flag = false;
  float ratio = 0;
  std::vector<std::uint16_t> small;
};
// Recursive: described once, referred to by name.
struct Node {
  int value = 0;
  std::vector<Node> children;
};

struct Shapes {
  virtual ~Shapes() = default;
  virtual Outer build(std::string name, std::vector<Inner> items) = 0;
  virtual tern::Result<std::uint32_t> count(const Outer& o) = 0;
  virtual tern::Task<std::string> slow(double seconds) = 0;
  virtual void reset() = 0;
};
struct ShapesImpl : Shapes {
  Outer build(std::string name, std::vector<Inner> items) override {
    Outer o;
    o.name = name;
    if (!items.empty()) o.first = items.front();
    return o;
  }
  tern::Result<std::uint32_t> count(const Outer& o) override { return static_cast<std::uint32_t>(o.groups.size()); }
  tern::Task<std::string> slow(double) override { co_return "done"; }
  void reset() override {}
};
}  // namespace refl

TERN_STRUCT(refl::Inner, id, color)
TERN_STRUCT(refl::Outer, name, blob, groups, first, flag, ratio, small)
TERN_STRUCT(refl::Node, value, children)
TERN_SERVICE_NAMED(refl::Shapes, "refl.Shapes", build, count, slow, reset)

namespace {

TEST(TypeDescription, Scalars) {
  json types = json::object();
  EXPECT_EQ(tern::reflection::describe_type<int>(types), json({{"type", "int32"}}));
  EXPECT_EQ(tern::reflection::describe_type<std::int64_t>(types), json({{"type", "int64"}}));
  EXPECT_EQ(tern::reflection::describe_type<unsigned short>(types), json({{"type", "uint16"}}));
  EXPECT_EQ(tern::reflection::describe_type<const double&>(types), json({{"type", "double"}}));
  EXPECT_EQ(tern::reflection::describe_type<float>(types), json({{"type", "float"}}));
  EXPECT_EQ(tern::reflection::describe_type<bool>(types), json({{"type", "bool"}}));
  EXPECT_EQ(tern::reflection::describe_type<std::string>(types), json({{"type", "string"}}));
  EXPECT_EQ(tern::reflection::describe_type<std::vector<char>>(types), json({{"type", "bytes"}}));
  EXPECT_EQ(tern::reflection::describe_type<void>(types), json({{"type", "void"}}));
  EXPECT_EQ(types, json::object());  // no named type involved
}

TEST(TypeDescription, ContainersEnumsAndNestedStructs) {
  json types = json::object();
  json t = tern::reflection::describe_type<refl::Outer>(types);
  EXPECT_EQ(t, json({{"type", "struct"}, {"name", "refl::Outer"}}));
  EXPECT_EQ(types["refl::Outer"], json::parse(R"({"kind":"struct","fields":[
      {"name":"name","type":{"type":"string"}},
      {"name":"blob","type":{"type":"bytes"}},
      {"name":"groups","type":{"type":"map","key":{"type":"string"},
                               "value":{"type":"array","items":{"type":"struct","name":"refl::Inner"}}}},
      {"name":"first","type":{"type":"struct","name":"refl::Inner"}},
      {"name":"flag","type":{"type":"bool"}},
      {"name":"ratio","type":{"type":"float"}},
      {"name":"small","type":{"type":"array","items":{"type":"uint16"}}}]})"));
  EXPECT_EQ(types["refl::Inner"], json::parse(R"({"kind":"struct","fields":[
      {"name":"id","type":{"type":"int64"}},
      {"name":"color","type":{"type":"enum","name":"refl::Color"}}]})"));
  EXPECT_EQ(types["refl::Color"], json::parse(R"({"kind":"enum","underlying":{"type":"uint8"}})"));
  EXPECT_EQ(types.size(), 3u);
  EXPECT_EQ(tern::reflection::describe_type<std::optional<refl::Color>>(types),
            json::parse(R"({"type":"optional","value":{"type":"enum","name":"refl::Color"}})"));
  auto tuple = tern::reflection::describe_type<std::pair<int, std::string>>(types);
  EXPECT_EQ(tuple, json::parse(R"({"type":"tuple","items":[{"type":"int32"},{"type":"string"}]})"));
}

TEST(TypeDescription, RecursiveStructIsDescribedOnce) {
  json types = json::object();
  json t = tern::reflection::describe_type<std::optional<refl::Node>>(types);
  EXPECT_EQ(t, json::parse(R"({"type":"optional","value":{"type":"struct","name":"refl::Node"}})"));
  EXPECT_EQ(types, json::parse(R"({"refl::Node":{"kind":"struct","fields":[
      {"name":"value","type":{"type":"int32"}},
      {"name":"children","type":{"type":"array","items":{"type":"struct","name":"refl::Node"}}}]}})"));
}

TEST(TypeDescription, InterfaceUnwrapsResultAndTask) {
  json d = tern::reflection::describe_interface<refl::Shapes>();
  ASSERT_EQ(d["methods"].size(), 4u);
  EXPECT_EQ(d["methods"][0], json::parse(R"({"name":"build","args":[{"type":"string"},
      {"type":"array","items":{"type":"struct","name":"refl::Inner"}}],"result":{"type":"struct","name":"refl::Outer"}})"));
  EXPECT_EQ(d["methods"][1], json::parse(R"({"name":"count","args":[{"type":"struct","name":"refl::Outer"}],
      "result":{"type":"uint32"}})"));
  EXPECT_EQ(d["methods"][2], json::parse(R"({"name":"slow","args":[{"type":"double"}],"result":{"type":"string"}})"));
  EXPECT_EQ(d["methods"][3], json::parse(R"({"name":"reset","args":[],"result":{"type":"void"}})"));
  EXPECT_TRUE(d["types"].contains("refl::Outer"));
  EXPECT_TRUE(d["types"].contains("refl::Inner"));
  EXPECT_TRUE(d["types"].contains("refl::Color"));
}

struct ReflectionFixture : testutil::LoopbackFixture {
  void start(bool reflection = true) {
    tern::ServerOptions so;
    so.reflection = reflection;
    LoopbackFixture::start(so, [](tern::Server& s) {
      ASSERT_TRUE(s.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
      ASSERT_TRUE(s.expose<refl::Shapes>(std::make_shared<refl::ShapesImpl>()).is_ok());
      ASSERT_TRUE(s.add_method("raw.Echo", "echo", [](tern::ServerCall& call) {
                     auto b = call.start_response();
                     b.append_body(call.body());
                     call.respond(std::move(b));
                   }).is_ok());
    });
  }
  std::shared_ptr<tern::Reference> reflection(const std::string& serialization = "json") {
    tern::ReferenceOptions o;
    o.serialization = serialization;
    o.cluster = "failfast";
    return client->reference(std::string(tern::kReflectionService), url, o).value();
  }
};

TEST_F(ReflectionFixture, ListDescribesEveryExposedServiceWithTypes) {
  start();
  auto r = tern::call_json(*reflection(), "list", "[]");
  ASSERT_TRUE(r.has_value()) << r.status();
  json doc = json::parse(*r);
  ASSERT_EQ(doc["services"].size(), 4u);
  // Sorted by name; the reflection service describes itself too.
  EXPECT_EQ(doc["services"][0]["name"], "raw.Echo");
  EXPECT_EQ(doc["services"][1]["name"], "refl.Shapes");
  EXPECT_EQ(doc["services"][2]["name"], "tern.Reflection");
  EXPECT_EQ(doc["services"][3]["name"], "testsvc::Calculator");
  // A generic add_method() service has names but no types.
  EXPECT_EQ(doc["services"][0]["methods"], json::parse(R"([{"name":"echo","args":null,"result":null}])"));
  const json& calc = doc["services"][3];
  EXPECT_EQ(calc["version"], "");
  EXPECT_EQ(calc["group"], "");
  ASSERT_EQ(calc["methods"].size(), 8u);
  EXPECT_EQ(calc["methods"][0],
            json::parse(R"({"name":"add","args":[{"type":"int32"},{"type":"int32"}],"result":{"type":"int32"}})"));
  EXPECT_EQ(calc["methods"][2], json::parse(R"({"name":"midpoint","args":[{"type":"struct","name":"testsvc::Point"},
      {"type":"struct","name":"testsvc::Point"}],"result":{"type":"struct","name":"testsvc::Point"}})"));
  EXPECT_EQ(calc["methods"][6], json::parse(R"({"name":"total","args":[],"result":{"type":"int64"}})"));
  EXPECT_EQ(calc["methods"][7], json::parse(R"({"name":"histogram","args":[{"type":"array","items":{"type":"string"}}],
      "result":{"type":"map","key":{"type":"string"},"value":{"type":"int32"}}})"));
  EXPECT_EQ(calc["types"], json::parse(R"({"testsvc::Point":{"kind":"struct","fields":[
      {"name":"x","type":{"type":"double"}},{"name":"y","type":{"type":"double"}},
      {"name":"label","type":{"type":"string"}},{"name":"tags","type":{"type":"array","items":{"type":"int32"}}},
      {"name":"z","type":{"type":"optional","value":{"type":"int32"}}}]}})"));
}

TEST_F(ReflectionFixture, DescribeAnswersOneServiceOrUnimplemented) {
  start();
  auto ref = reflection();
  auto r = tern::call_json(*ref, "describe", R"(["refl.Shapes"])");
  ASSERT_TRUE(r.has_value()) << r.status();
  json d = json::parse(*r);
  EXPECT_EQ(d["name"], "refl.Shapes");
  EXPECT_EQ(d["methods"][1]["result"], json({{"type", "uint32"}}));
  EXPECT_EQ(d["types"]["refl::Color"], json::parse(R"({"kind":"enum","underlying":{"type":"uint8"}})"));
  auto missing = tern::call_json(*ref, "describe", R"(["Nope"])");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().code(), tern::StatusCode::kUnimplemented);
  EXPECT_EQ(missing.status().message(), "unknown service 'Nope'");
  auto bad = tern::call_json(*ref, "describe", "[1]");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), tern::StatusCode::kInvalidArgument);
}

TEST_F(ReflectionFixture, MessagePackCarriesTheSameDocumentAndProtobufIsRefused) {
  start();
  auto json_answer = tern::call_json(*reflection(), "list", "[]").value();
  auto ref = reflection("msgpack");
  auto b = ref->new_request("list", false);
  tern::serialization::MsgpackCodec::encode_args(b);
  std::atomic<int> done{0};
  tern::CallResult result;
  ref->invoke("list", b.finish(), 0ms, [&](tern::CallResult&& r) {
    result = std::move(r);
    done = 1;
    done.notify_one();
  });
  done.wait(0);
  ASSERT_TRUE(result.status.is_ok()) << result.status;
  EXPECT_EQ(result.frame.header.serialization, tern::serialization::MsgpackCodec::kId);
  EXPECT_EQ(json::from_msgpack(result.body()), json::parse(json_answer));

  auto pref = reflection("protobuf");
  auto pb = pref->new_request("list", false);
  std::atomic<int> pdone{0};
  tern::CallResult presult;
  pref->invoke("list", pb.finish(), 0ms, [&](tern::CallResult&& r) {
    presult = std::move(r);
    pdone = 1;
    pdone.notify_one();
  });
  pdone.wait(0);
  EXPECT_EQ(presult.status.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(presult.status.message(), "tern.Reflection answers in the json or msgpack serialization, not protobuf");
}

TEST_F(ReflectionFixture, NeverAnnouncedInTheRegistry) {
  start();
  auto urls = server->provider_urls();
  ASSERT_EQ(urls.size(), 3u);
  for (auto& u : urls) EXPECT_NE(u.path(), "tern.Reflection") << u.to_string();
}

TEST_F(ReflectionFixture, DisabledByTheOption) {
  start(/*reflection=*/false);
  auto r = tern::call_json(*reflection(), "list", "[]");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kUnimplemented);
  EXPECT_EQ(r.status().message(), "unknown service 'tern.Reflection'");
}

TEST(ReflectionServer, SetDescriptionNeedsAnExposedServiceAndComesBeforeStart) {
  tern::ServerOptions so;
  so.listen = "127.0.0.1:0";
  so.io_threads = 1;
  tern::Server server(so);
  EXPECT_EQ(server.set_description("nope", json::object()).code(), tern::StatusCode::kNotFound);
  ASSERT_TRUE(server.add_method("raw.Echo", "echo", [](tern::ServerCall&) {}).is_ok());
  EXPECT_TRUE(server.set_description("raw.Echo", json::parse(R"({"methods":[{"name":"echo","args":[{"type":"bytes"}],
      "result":{"type":"bytes"}}],"types":{}})")).is_ok());
  ASSERT_TRUE(server.start().is_ok());
  EXPECT_EQ(server.set_description("raw.Echo", json::object()).code(), tern::StatusCode::kFailedPrecondition);
  tern::Client client(tern::ClientOptions{.io_threads = 1});
  tern::ReferenceOptions o;
  o.serialization = "json";
  auto ref = client.reference("tern.Reflection", testutil::direct(server), o).value();
  auto d = json::parse(tern::call_json(*ref, "describe", R"(["raw.Echo"])").value());
  EXPECT_EQ(d["methods"][0]["args"], json::parse(R"([{"type":"bytes"}])"));
  server.shutdown(100ms);
}

}  // namespace
