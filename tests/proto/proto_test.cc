// The IDL front end end to end: tests/proto/calc.proto compiled by
// tern_generate_proto (protoc --cpp_out --tern_out), its generated contract
// served and its stub called over loopback in protobuf, JSON and MessagePack;
// generic JSON invocation (tern::call_json) of interface-bound and protobuf
// methods; malformed requests answered INVALID_ARGUMENT on a connection that
// keeps working.
#include "calc.tern.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>

#include "loopback.h"
#include "test_services.h"
#include "tern/client.h"
#include "tern/json_call.h"
#include "tern/server.h"

using namespace std::chrono_literals;
using terntest::calc::Calc;
using terntest::calc::ComputeReply;
using terntest::calc::ComputeRequest;

namespace {

class CalcImpl : public Calc {
 public:
  tern::Result<ComputeReply> Compute(const ComputeRequest& request) override {
    ComputeReply reply;
    std::int64_t acc = request.op() == terntest::calc::OP_MUL ? 1 : 0;
    for (auto v : request.values()) acc = request.op() == terntest::calc::OP_MUL ? acc * v : acc + v;
    if (request.options().negate()) acc = -acc;
    reply.set_result(acc);
    reply.set_label(request.label() + "!");
    int sum = 0;
    for (const auto& [k, w] : request.weights()) sum += w;
    reply.set_weight_sum(sum);
    if (request.has_scale()) {
      reply.set_result(reply.result() * request.scale());
      reply.set_note("scaled by " + std::to_string(request.scale()));
    }
    return reply;
  }
  tern::Result<ComputeReply> Strict(const ComputeRequest& request) override {
    if (request.op() == terntest::calc::OP_UNSPECIFIED) {
      return tern::Status(tern::StatusCode::kFailedPrecondition, "op is unspecified");
    }
    return Compute(request);
  }
};

// A hand-written contract with two message arguments: the protobuf
// serialization's length-prefixed several-argument form, over the wire.
struct Joiner {
  virtual ~Joiner() = default;
  virtual ComputeReply join(ComputeRequest a, ComputeRequest b) = 0;
  virtual void touch(ComputeRequest a) = 0;
};
struct JoinerImpl : Joiner {
  ComputeReply join(ComputeRequest a, ComputeRequest b) override {
    ComputeReply r;
    r.set_label(a.label() + "+" + b.label());
    r.set_result(a.values_size() + b.values_size());
    return r;
  }
  void touch(ComputeRequest a) override { touched += a.values_size(); }
  std::atomic<int> touched{0};
};

}  // namespace

TERN_SERVICE_NAMED(Joiner, "terntest.Joiner", join, touch)

namespace {

ComputeRequest sample_request() {
  ComputeRequest r;
  r.set_op(terntest::calc::OP_MUL);
  r.add_values(2);
  r.add_values(3);
  r.add_values(7);
  r.set_label("p");
  (*r.mutable_weights())["a"] = 4;
  (*r.mutable_weights())["b"] = 5;
  r.mutable_options()->set_negate(true);
  return r;
}

struct ProtoFixture : testutil::LoopbackFixture {
  void SetUp() override {
    start({}, [&](tern::Server& s) {
      ASSERT_TRUE(s.expose<Calc>(std::make_shared<CalcImpl>()).is_ok());
      ASSERT_TRUE(s.expose<Joiner>(joiner).is_ok());
      ASSERT_TRUE(s.expose<testsvc::Calculator>(std::make_shared<testsvc::CalculatorImpl>()).is_ok());
    });
  }
  template <typename I>
  tern::Proxy<I> stub(const std::string& serialization) {
    tern::ReferenceOptions o;
    o.serialization = serialization;
    return client->refer<I>(url, o).value();
  }
  std::shared_ptr<tern::Reference> reference(const std::string& service, const std::string& serialization = "json") {
    tern::ReferenceOptions o;
    o.serialization = serialization;
    o.cluster = "failfast";
    return client->reference(service, url, o).value();
  }

  std::shared_ptr<JoinerImpl> joiner = std::make_shared<JoinerImpl>();
};

TEST(GeneratedContract, NamesComeFromTheProto) {
  EXPECT_EQ(tern::ServiceTraits<Calc>::name, "terntest.calc.Calc");
  EXPECT_EQ(tern::MethodTraits<&Calc::Compute>::name, "Compute");
  EXPECT_EQ(tern::MethodTraits<&Calc::Strict>::name, "Strict");
  static_assert(std::is_same_v<terntest::calc::CalcStub, tern::Proxy<Calc>>);
  static_assert(std::is_same_v<tern::method_result_t<&Calc::Compute>, ComputeReply>);
}

TEST_F(ProtoFixture, GeneratedStubServesEverySerializationWithEqualResults) {
  std::vector<std::string> replies;
  for (const char* serialization : {"protobuf", "json", "msgpack"}) {
    auto calc = stub<Calc>(serialization);
    auto r = calc.call<&Calc::Compute>(sample_request());
    ASSERT_TRUE(r.has_value()) << serialization << ": " << r.status();
    EXPECT_EQ(r->result(), -42) << serialization;
    EXPECT_EQ(r->label(), "p!") << serialization;
    EXPECT_EQ(r->weight_sum(), 9) << serialization;
    replies.push_back(r->SerializeAsString());

    auto f = calc.async_call<&Calc::Compute>(sample_request()).get();
    ASSERT_TRUE(f.has_value()) << serialization << ": " << f.status();
    EXPECT_EQ(f->result(), -42);

    auto e = calc.call<&Calc::Strict>(ComputeRequest());
    ASSERT_FALSE(e.has_value()) << serialization;
    EXPECT_EQ(e.status().code(), tern::StatusCode::kFailedPrecondition);
    EXPECT_EQ(e.status().message(), "op is unspecified");
  }
  EXPECT_EQ(replies[0], replies[1]);
  EXPECT_EQ(replies[0], replies[2]);
}

// proto3 `optional` fields (protoc-gen-tern declares FEATURE_PROTO3_OPTIONAL):
// presence survives a unary call in every serialization, so an explicit 0
// differs from an absent field, both ways.
TEST_F(ProtoFixture, Proto3OptionalFieldsKeepPresenceInEverySerialization) {
  for (const char* serialization : {"protobuf", "json", "msgpack"}) {
    auto calc = stub<Calc>(serialization);
    ComputeRequest absent = sample_request();
    auto a = calc.call<&Calc::Compute>(absent);
    ASSERT_TRUE(a.has_value()) << serialization << ": " << a.status();
    EXPECT_EQ(a->result(), -42) << serialization;
    EXPECT_FALSE(a->has_note()) << serialization;

    ComputeRequest zero = sample_request();
    zero.set_scale(0);
    auto z = calc.call<&Calc::Compute>(zero);
    ASSERT_TRUE(z.has_value()) << serialization << ": " << z.status();
    EXPECT_EQ(z->result(), 0) << serialization;
    ASSERT_TRUE(z->has_note()) << serialization;
    EXPECT_EQ(z->note(), "scaled by 0") << serialization;

    ComputeRequest two = sample_request();
    two.set_scale(2);
    auto t = calc.call<&Calc::Compute>(two);
    ASSERT_TRUE(t.has_value()) << serialization << ": " << t.status();
    EXPECT_EQ(t->result(), -84) << serialization;
    EXPECT_EQ(t->note(), "scaled by 2") << serialization;
  }
}

TEST_F(ProtoFixture, SeveralMessageArgumentsAndVoidOverProtobuf) {
  auto j = stub<Joiner>("protobuf");
  ComputeRequest a = sample_request(), b;
  b.set_label("q");
  b.add_values(1);
  auto r = j.call<&Joiner::join>(a, b);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(r->label(), "p+q");
  EXPECT_EQ(r->result(), 4);
  auto t = j.call<&Joiner::touch>(a);
  ASSERT_TRUE(t.has_value()) << t.status();
  EXPECT_EQ(joiner->touched.load(), 3);
}

TEST_F(ProtoFixture, ProtobufForANonMessageMethodIsInvalidArgument) {
  auto calc = stub<testsvc::Calculator>("protobuf");
  const std::string expected =
      "method add does not take protobuf messages (its arguments and result must be protobuf messages); use the "
      "msgpack or json serialization";
  auto before = server->stats().requests;
  auto r = calc.call<&testsvc::Calculator::add>(1, 2);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), expected);
  // Every call mode fails the same way, locally: nothing reaches the provider.
  auto f = calc.async_call<&testsvc::Calculator::add>(1, 2).get();
  ASSERT_FALSE(f.has_value());
  EXPECT_EQ(f.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.status().message(), expected);
  tern::Status cb_status;
  calc.callback<&testsvc::Calculator::add>([&](tern::Result<int> x) { cb_status = x.status(); }, 1, 2);
  EXPECT_EQ(cb_status.code(), tern::StatusCode::kInvalidArgument);  // completed inline
  auto o = calc.oneway<&testsvc::Calculator::count>(5);
  EXPECT_EQ(o.code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(o.message(), "method count does not take protobuf messages (its arguments and result must be protobuf "
                         "messages); use the msgpack or json serialization");
  auto p = calc.call<&testsvc::Calculator::midpoint>(testsvc::Point{}, testsvc::Point{});
  EXPECT_EQ(p.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(server->stats().requests, before);
  // The same reference keeps working for other serializations' references.
  EXPECT_EQ(stub<testsvc::Calculator>("msgpack").call<&testsvc::Calculator::add>(1, 2).value(), 3);
}

TEST_F(ProtoFixture, GenericJsonInvocationOfInterfaceBoundMethods) {
  auto ref = reference("testsvc::Calculator");
  auto r = tern::call_json(*ref, "add", "[1,2]");
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(*r, "3");
  EXPECT_EQ(tern::call_json(*ref, "greet", R"(["json"])").value(), R"("hello, json")");
  auto m = tern::call_json(*ref, "midpoint",
                           R"([{"x":0,"y":0,"label":"a","tags":[1],"z":4},{"x":2,"y":4,"label":"b","tags":[2],"z":8}])");
  ASSERT_TRUE(m.has_value()) << m.status();
  EXPECT_EQ(*m, R"({"label":"a|b","tags":[1,2],"x":1.0,"y":2.0,"z":6})");
  EXPECT_EQ(tern::call_json(*ref, "count", "[5]").value(), "null");
  EXPECT_EQ(tern::call_json(*ref, "histogram", R"([["a","b","a"]])").value(), R"({"a":2,"b":1})");

  // The raw path the helper wraps: new_request + append_body + invoke.
  auto b = ref->new_request("add", false);
  EXPECT_EQ(b.header().serialization, tern::serialization::JsonCodec::kId);
  b.append_body("[40,2]");
  std::promise<tern::CallResult> done;
  ref->invoke("add", b.finish(), 0ms, [&](tern::CallResult&& cr) { done.set_value(std::move(cr)); });
  auto cr = done.get_future().get();
  ASSERT_TRUE(cr.status.is_ok()) << cr.status;
  EXPECT_EQ(cr.body(), "42");
}

TEST_F(ProtoFixture, GenericJsonInvocationOfAProtobufMethod) {
  auto ref = reference("terntest.calc.Calc", "protobuf");  // call_json sends JSON whatever the reference says
  auto r = tern::call_json(*ref, "Compute",
                           R"({"op":"OP_ADD","values":["1",2,3],"label":"j","weights":{"x":1},"options":{"negate":false}})");
  ASSERT_TRUE(r.has_value()) << r.status();
  auto reply = nlohmann::json::parse(*r);
  EXPECT_EQ(reply["result"], "6");  // protobuf's JSON mapping: int64 as a string
  EXPECT_EQ(reply["label"], "j!");
  EXPECT_EQ(reply["weightSum"], 1);
  // The positional form works too.
  EXPECT_EQ(nlohmann::json::parse(tern::call_json(*ref, "Compute", R"([{"values":[5]}])").value())["result"], "5");
}

TEST_F(ProtoFixture, MalformedJsonIsInvalidArgumentAndTheConnectionKeepsWorking) {
  auto ref = reference("testsvc::Calculator");
  struct Case {
    const char* body;
    const char* message_prefix;
  };
  for (const Case& c : {Case{"[1,", "malformed JSON"}, Case{"[1,\"2\"]", "argument 2 of 2: expected an integer"},
                        Case{"[1]", "expected 2 arguments, got 1"}, Case{"", "empty JSON payload"},
                        Case{"{\"a\":1}", "arguments are not a JSON array"}}) {
    auto r = tern::call_json(*ref, "add", c.body);
    ASSERT_FALSE(r.has_value()) << c.body;
    EXPECT_EQ(r.status().code(), tern::StatusCode::kInvalidArgument) << c.body << ": " << r.status();
    EXPECT_EQ(r.status().message().rfind(c.message_prefix, 0), 0u) << c.body << ": " << r.status();
    EXPECT_EQ(tern::call_json(*ref, "add", "[2,3]").value(), "5");
  }
  std::string deep(10000, '[');
  EXPECT_EQ(tern::call_json(*ref, "add", deep).status().code(), tern::StatusCode::kInvalidArgument);
  auto pref = reference("terntest.calc.Calc");
  auto bad = tern::call_json(*pref, "Compute", R"({"values":"x"})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.status().code(), tern::StatusCode::kInvalidArgument);
  EXPECT_EQ(tern::call_json(*ref, "add", "[2,3]").value(), "5");
  auto unknown = tern::call_json(*ref, "nope", "[]");
  EXPECT_EQ(unknown.status().code(), tern::StatusCode::kUnimplemented);
  EXPECT_EQ(server->stats().connections, 1u);  // every call above shared one connection
}

TEST_F(ProtoFixture, MalformedProtobufIsInvalidArgument) {
  auto ref = reference("terntest.calc.Calc", "protobuf");
  auto b = ref->new_request("Compute", false);
  b.append_body(std::string("\x12\xff\xff\xff\xff\x0f", 6));  // values: a field claiming 4 GiB
  std::promise<tern::CallResult> done;
  ref->invoke("Compute", b.finish(), 0ms, [&](tern::CallResult&& cr) { done.set_value(std::move(cr)); });
  auto cr = done.get_future().get();
  EXPECT_EQ(cr.status.code(), tern::StatusCode::kInvalidArgument) << cr.status;
  EXPECT_EQ(stub<Calc>("protobuf").call<&Calc::Compute>(sample_request()).value().result(), -42);
}

}  // namespace

namespace {

// tern.Reflection describes a generated service from the protobuf descriptors.
TEST_F(ProtoFixture, ReflectionDescribesMessagesFromTheirDescriptors) {
  auto ref = reference(std::string(tern::kReflectionService));
  auto r = tern::call_json(*ref, "describe", R"(["terntest.calc.Calc"])");
  ASSERT_TRUE(r.has_value()) << r.status();
  auto d = nlohmann::json::parse(*r);
  ASSERT_EQ(d["methods"].size(), 2u);
  EXPECT_EQ(d["methods"][0], nlohmann::json::parse(R"({"name":"Compute",
      "args":[{"type":"message","name":"terntest.calc.ComputeRequest"}],
      "result":{"type":"message","name":"terntest.calc.ComputeReply"}})"));
  EXPECT_EQ(d["methods"][1]["name"], "Strict");
  EXPECT_EQ(d["types"]["terntest.calc.ComputeRequest"], nlohmann::json::parse(R"({"kind":"message","fields":[
      {"name":"op","number":1,"type":{"type":"enum","name":"terntest.calc.Op"}},
      {"name":"values","number":2,"type":{"type":"array","items":{"type":"int64"}}},
      {"name":"label","number":3,"type":{"type":"string"}},
      {"name":"weights","number":4,"type":{"type":"map","key":{"type":"string"},"value":{"type":"int32"}}},
      {"name":"options","number":5,"type":{"type":"message","name":"terntest.calc.ComputeRequest.Options"}},
      {"name":"scale","number":6,"type":{"type":"optional","value":{"type":"int32"}}}]})"));
  EXPECT_EQ(d["types"]["terntest.calc.ComputeRequest.Options"], nlohmann::json::parse(R"({"kind":"message",
      "fields":[{"name":"negate","number":1,"type":{"type":"bool"}}]})"));
  EXPECT_EQ(d["types"]["terntest.calc.Op"], nlohmann::json::parse(R"({"kind":"enum","values":[
      {"name":"OP_UNSPECIFIED","number":0},{"name":"OP_ADD","number":1},{"name":"OP_MUL","number":2}]})"));
  EXPECT_EQ(d["types"]["terntest.calc.ComputeReply"]["fields"].size(), 4u);
  EXPECT_EQ(d["types"].size(), 4u);  // the map entry message is not listed

  // A hand-written contract mixing messages in a service: same descriptors.
  auto j = nlohmann::json::parse(tern::call_json(*ref, "describe", R"(["terntest.Joiner"])").value());
  EXPECT_EQ(j["methods"][0]["args"].size(), 2u);
  EXPECT_EQ(j["methods"][1]["result"], nlohmann::json({{"type", "void"}}));
}

}  // namespace
