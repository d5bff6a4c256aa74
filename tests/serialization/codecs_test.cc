// Codec-level tests of the three typed serializations (msgpack, json,
// protobuf): round trips of arguments and results, golden bytes, malformed
// and hostile payloads (INVALID_ARGUMENT, never a crash), and with_codec's
// choice of codec.
#include "tern/serialization/codecs.h"

#include <google/protobuf/empty.pb.h>
#include <google/protobuf/timestamp.pb.h>
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace sertest {

enum class Color : std::int32_t { kRed = 1, kGreen = 2, kBlue = -3 };

struct Inner {
  int id = 0;
  std::string name;
  bool operator==(const Inner&) const = default;
};

struct Outer {
  Inner inner;
  std::vector<Inner> items;
  std::map<std::string, int> counts;
  std::optional<double> ratio;
  std::optional<Inner> maybe;
  Color color = Color::kRed;
  bool flag = false;
  std::int64_t big = 0;
  std::vector<std::string> words;
  bool operator==(const Outer&) const = default;
};

// The struct of the golden-bytes tests.
struct Golden {
  int id = 0;
  std::string name;
  std::optional<int> z;
  Color c = Color::kRed;
  std::vector<int> v;
};

}  // namespace sertest

TERN_STRUCT(sertest::Inner, id, name)
TERN_STRUCT(sertest::Outer, inner, items, counts, ratio, maybe, color, flag, big, words)
TERN_STRUCT(sertest::Golden, id, name, z, c, v)

namespace tern::serialization {
namespace {

using sertest::Color;
using sertest::Inner;
using sertest::Outer;

struct Sink {
  std::string data;
  void write(const char* p, std::size_t n) { data.append(p, n); }
};

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

Outer sample() {
  Outer o;
  o.inner = {7, "seven"};
  o.items = {{1, "one"}, {2, "two"}, {-3, ""}};
  o.counts = {{"a", 1}, {"b", -2}};
  o.ratio = 0.25;
  o.maybe = Inner{9, "nine"};
  o.color = Color::kBlue;
  o.flag = true;
  o.big = 1LL << 53;
  o.words = {"x", "é ü", ""};
  return o;
}

template <typename Codec, typename... A>
Result<std::tuple<A...>> round_trip_args(const A&... a) {
  Sink s;
  Codec::encode_args(s, a...);
  return Codec::template decode_args<A...>(s.data);
}

template <typename Codec, typename T>
Result<T> round_trip_value(const T& v) {
  Sink s;
  Codec::encode_value(s, v);
  return Codec::template decode_value<T>(s.data);
}

// --- the same values through msgpack and json ------------------------------

template <typename Codec>
class TypedCodecTest : public ::testing::Test {};
using TypedCodecs = ::testing::Types<MsgpackCodec, JsonCodec>;
TYPED_TEST_SUITE(TypedCodecTest, TypedCodecs);

TYPED_TEST(TypedCodecTest, ScalarsAndContainersRoundTrip) {
  using C = TypeParam;
  auto r = round_trip_args<C>(1, std::string("two"), 3.5, true, std::int64_t{-(1LL << 40)}, std::uint64_t{1ULL << 63},
                              std::vector<int>{1, 2, 3}, std::map<std::string, std::vector<int>>{{"k", {4}}},
                              std::optional<int>{}, std::optional<std::string>{"s"}, Color::kGreen);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(std::get<0>(*r), 1);
  EXPECT_EQ(std::get<1>(*r), "two");
  EXPECT_EQ(std::get<2>(*r), 3.5);
  EXPECT_EQ(std::get<3>(*r), true);
  EXPECT_EQ(std::get<4>(*r), -(1LL << 40));
  EXPECT_EQ(std::get<5>(*r), 1ULL << 63);
  EXPECT_EQ(std::get<6>(*r), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(std::get<7>(*r).at("k"), std::vector<int>{4});
  EXPECT_FALSE(std::get<8>(*r).has_value());
  EXPECT_EQ(std::get<9>(*r), "s");
  EXPECT_EQ(std::get<10>(*r), Color::kGreen);
}

TYPED_TEST(TypedCodecTest, NestedStructRoundTrip) {
  using C = TypeParam;
  Outer o = sample();
  auto r = round_trip_args<C>(o, Inner{1, "x"});
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(std::get<0>(*r), o);
  EXPECT_EQ(std::get<1>(*r), (Inner{1, "x"}));
  auto v = round_trip_value<C>(o);
  ASSERT_TRUE(v.has_value()) << v.status();
  EXPECT_EQ(*v, o);
  auto vec = round_trip_value<C>(std::vector<Outer>{o, Outer{}});
  ASSERT_TRUE(vec.has_value()) << vec.status();
  EXPECT_EQ(vec->size(), 2u);
  EXPECT_EQ((*vec)[0], o);
  EXPECT_EQ((*vec)[1], Outer{});
}

TYPED_TEST(TypedCodecTest, NoArgumentsAndVoid) {
  using C = TypeParam;
  auto r = round_trip_args<C>();
  ASSERT_TRUE(r.has_value()) << r.status();
  Sink s;
  C::encode_void(s);
  EXPECT_FALSE(s.data.empty());
}

TYPED_TEST(TypedCodecTest, ProtobufMessagesAsArgumentsAndResults) {
  using C = TypeParam;
  google::protobuf::StringValue sv;
  sv.set_value("hello");
  google::protobuf::Timestamp ts;
  ts.set_seconds(1700000000);
  ts.set_nanos(5000);
  auto r = round_trip_args<C>(sv, ts, 3);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(std::get<0>(*r).value(), "hello");
  EXPECT_EQ(std::get<1>(*r).seconds(), 1700000000);
  EXPECT_EQ(std::get<1>(*r).nanos(), 5000);
  EXPECT_EQ(std::get<2>(*r), 3);
  auto v = round_trip_value<C>(ts);
  ASSERT_TRUE(v.has_value()) << v.status();
  EXPECT_EQ(v->seconds(), 1700000000);
}

TYPED_TEST(TypedCodecTest, WrongArityIsInvalidArgument) {
  using C = TypeParam;
  Sink s;
  C::encode_args(s, 1, 2);
  auto r = C::template decode_args<int, int, int>(s.data);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("expected 3 arguments, got 2"), std::string::npos) << r.status();
}

TYPED_TEST(TypedCodecTest, WrongTypeNamesTheArgument) {
  using C = TypeParam;
  Sink s;
  C::encode_args(s, 1, std::string("not a number"));
  auto r = C::template decode_args<int, int>(s.data);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("argument 2 of 2: ", 0), 0u) << r.status();
}

TYPED_TEST(TypedCodecTest, TruncatedPayloadsNeverDecode) {
  using C = TypeParam;
  Sink s;
  C::encode_args(s, sample(), std::string("tail"));
  for (std::size_t n = 0; n < s.data.size(); ++n) {
    auto r = C::template decode_args<Outer, std::string>(std::string_view(s.data).substr(0, n));
    ASSERT_FALSE(r.has_value()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  Sink v;
  C::encode_value(v, sample());
  for (std::size_t n = 0; n < v.data.size(); ++n) {
    auto r = C::template decode_value<Outer>(std::string_view(v.data).substr(0, n));
    ASSERT_FALSE(r.has_value()) << "prefix of " << n << " bytes decoded";
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
}

// --- the same call in all three serializations ------------------------------

TEST(AllCodecs, SameMessageCallGivesEqualResults) {
  google::protobuf::StringValue a;
  a.set_value("abc");
  google::protobuf::Int64Value b;
  b.set_value(-42);
  std::vector<std::string> results;
  auto run = [&]<typename Codec>() -> Status {
    auto args = round_trip_args<Codec>(a, b);
    if (!args.has_value()) return args.status();
    google::protobuf::StringValue reply;
    reply.set_value(std::get<0>(*args).value() + std::to_string(std::get<1>(*args).value()));
    auto out = round_trip_value<Codec>(reply);
    if (!out.has_value()) return out.status();
    results.push_back(out->value());
    return Status();
  };
  for (std::uint8_t id : {MsgpackCodec::kId, JsonCodec::kId, ProtobufCodec::kId}) {
    Status s = with_method_codec<google::protobuf::StringValue,
                                 std::tuple<google::protobuf::StringValue, google::protobuf::Int64Value>>(id, "Concat",
                                                                                                          run);
    EXPECT_TRUE(s.is_ok()) << int(id) << ": " << s;
  }
  EXPECT_EQ(results, (std::vector<std::string>{"abc-42", "abc-42", "abc-42"}));
}

TEST(AllCodecs, StructCallInMsgpackAndJsonGivesEqualResults) {
  std::vector<Outer> results;
  auto run = [&]<typename Codec>() -> Status {
    auto args = round_trip_args<Codec>(sample(), 5);
    if (!args.has_value()) return args.status();
    Outer o = std::get<0>(*args);
    o.inner.id += std::get<1>(*args);
    auto out = round_trip_value<Codec>(o);
    if (!out.has_value()) return out.status();
    results.push_back(*out);
    return Status();
  };
  for (std::uint8_t id : {MsgpackCodec::kId, JsonCodec::kId}) {
    Status s = with_method_codec<Outer, std::tuple<Outer, int>>(id, "bump", run);
    EXPECT_TRUE(s.is_ok()) << s;
  }
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0].inner.id, 12);
  // Protobuf is refused for a method of non-message types, before it runs.
  Status s = with_method_codec<Outer, std::tuple<Outer, int>>(ProtobufCodec::kId, "bump", run);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "method bump does not take protobuf messages");
  EXPECT_EQ(results.size(), 2u);
}

TEST(AllCodecs, WithCodecCompilesForEveryTypeAndFailsAtRunTimeForProtobuf) {
  // Generic code (proxies) instantiates every codec: non-message types must
  // compile with id 1 and fail at run time.
  Status decoded;
  Status s = with_codec(ProtobufCodec::kId, [&]<typename Codec>() -> Status {
    Sink sink;
    Codec::encode_args(sink, 1, std::string("x"));
    Codec::encode_value(sink, 3);
    decoded = Codec::template decode_value<int>("").status();
    return Codec::template decode_args<int, std::string>("").status();
  });
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(decoded.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(with_codec(9, []<typename>() { return Status(); }).code(), StatusCode::kInvalidArgument);
  // void results and no arguments are protobuf-compatible.
  EXPECT_TRUE((protobuf_method_v<void, std::tuple<>>));
  EXPECT_TRUE((protobuf_method_v<google::protobuf::Empty, std::tuple<google::protobuf::StringValue>>));
  EXPECT_FALSE((protobuf_method_v<int, std::tuple<google::protobuf::StringValue>>));
  EXPECT_FALSE((protobuf_method_v<void, std::tuple<google::protobuf::StringValue, int>>));
}

TEST(AllCodecs, NamesAndIds) {
  std::uint8_t id = 0;
  ASSERT_TRUE(serialization_id("protobuf", &id));
  EXPECT_EQ(id, ProtobufCodec::kId);
  ASSERT_TRUE(serialization_id("json", &id));
  EXPECT_EQ(id, JsonCodec::kId);
  ASSERT_TRUE(serialization_id("msgpack", &id));
  EXPECT_EQ(id, MsgpackCodec::kId);
  EXPECT_EQ(serialization_name(1), ProtobufCodec::kName);
  EXPECT_EQ(serialization_name(2), JsonCodec::kName);
  EXPECT_EQ(serialization_name(3), MsgpackCodec::kName);
}

// --- golden bytes -----------------------------------------------------------

TEST(Golden, MsgpackStruct) {
  sertest::Golden g{7, "ab", std::nullopt, Color::kGreen, {1, 2}};
  Sink s;
  MsgpackCodec::encode_args(s, g);
  // [ {"id":7, "name":"ab", "z":nil, "c":2, "v":[1,2]} ]: fields in declaration order.
  EXPECT_EQ(hex(s.data),
            "91"            // array of 1
            "85"            // map of 5
            "a26964" "07"   // "id": 7
            "a46e616d65" "a26162"  // "name": "ab"
            "a17a" "c0"     // "z": nil
            "a163" "02"     // "c": 2
            "a176" "920102" // "v": [1, 2]
  );
  Sink v;
  MsgpackCodec::encode_value(v, 300);
  EXPECT_EQ(hex(v.data), "cd012c");
  Sink n;
  MsgpackCodec::encode_void(n);
  EXPECT_EQ(hex(n.data), "c0");
}

// Floating-point values are written as float64/float32 even when whole
// (msgpack-cxx's packer writes 6.0 as the integer 6), at every depth.
TEST(Golden, MsgpackFloatsStayFloats) {
  Sink d;
  MsgpackCodec::encode_value(d, 6.0);
  EXPECT_EQ(hex(d.data), "cb4018000000000000");
  Sink f;
  MsgpackCodec::encode_value(f, 1.5f);
  EXPECT_EQ(hex(f.data), "ca3fc00000");
  Sink nested;
  MsgpackCodec::encode_args(nested, std::vector<double>{2.0}, std::optional<double>(-1.0),
                            std::map<std::string, float>{{"k", 0.0f}});
  EXPECT_EQ(hex(nested.data),
            "93"                           // array of 3 arguments
            "91" "cb4000000000000000"      // [2.0]
            "cbbff0000000000000"           // -1.0
            "81" "a16b" "ca00000000");     // {"k": 0.0f}
  Outer o;
  o.ratio = 3.0;
  Sink s;
  MsgpackCodec::encode_value(s, o);
  EXPECT_NE(hex(s.data).find("a5726174696f" "cb4008000000000000"), std::string::npos) << hex(s.data);  // "ratio": 3.0
}

// MessagePack decoding is strict (msgpack_codec.h): the payload's type
// decides, integers convert only where they fit, floats never become integers,
// and the message names the argument, the path, the expected and the received
// type.
TEST(Msgpack, StrictNumbersNameExpectedAndReceivedTypes) {
  auto args = [](auto... v) {
    Sink s;
    MsgpackCodec::encode_args(s, v...);
    return s.data;
  };
  auto value = [](auto v) {
    Sink s;
    MsgpackCodec::encode_value(s, v);
    return s.data;
  };
  // A provider's double where the consumer declared int: every value fails,
  // whole or not (6.0 used to pass as 6, 6.5 failed with std::bad_cast).
  for (double d : {6.0, 6.5, -2.0, 0.0}) {
    auto r = MsgpackCodec::decode_value<int>(value(d));
    ASSERT_FALSE(r.has_value()) << d;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(MsgpackCodec::decode_value<int>(value(6.5)).status().message(),
            "result: expected int32, received float64 6.5");
  EXPECT_EQ(MsgpackCodec::decode_value<int>(value(6.0)).status().message(),
            "result: expected int32, received float64 6");
  EXPECT_EQ(MsgpackCodec::decode_value<std::int64_t>(value(0.1f)).status().message(),
            "result: expected int64, received float32 0.1");
  EXPECT_EQ((MsgpackCodec::decode_args<int, int>(args(1, 6.5)).status().message()),
            "argument 2 of 2: expected int32, received float64 6.5");

  struct Case {
    std::string payload;
    const char* message;  // nullptr: decodes
  };
  for (const Case& c : {
           Case{args(1, 2), nullptr},
           Case{args(1, 3000000000LL), "argument 2 of 2: expected int32, received integer 3000000000 (out of range)"},
           Case{args(1, -2147483649LL), "argument 2 of 2: expected int32, received integer -2147483649 (out of range)"},
           Case{args(1, std::string("2")), "argument 2 of 2: expected int32, received string"},
           Case{args(1, std::optional<int>()), "argument 2 of 2: expected int32, received nil"},
           Case{args(1, true), "argument 2 of 2: expected int32, received bool true"},
       }) {
    auto r = MsgpackCodec::decode_args<int, int>(c.payload);
    if (c.message == nullptr) {
      ASSERT_TRUE(r.has_value()) << r.status();
      EXPECT_EQ(std::get<1>(*r), 2);
      continue;
    }
    ASSERT_FALSE(r.has_value()) << c.message;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), c.message);
  }

  // Integer widths: what fits converts; negative into unsigned never does.
  auto u8 = MsgpackCodec::decode_value<std::uint8_t>(value(255));
  ASSERT_TRUE(u8.has_value()) << u8.status();
  EXPECT_EQ(*u8, 255);
  EXPECT_EQ(MsgpackCodec::decode_value<std::uint8_t>(value(256)).status().message(),
            "result: expected uint8, received integer 256 (out of range)");
  EXPECT_EQ(MsgpackCodec::decode_value<std::uint32_t>(value(-1)).status().message(),
            "result: expected uint32, received integer -1 (out of range)");
  EXPECT_EQ(MsgpackCodec::decode_value<std::uint64_t>(value(std::int64_t{-5})).status().message(),
            "result: expected uint64, received integer -5 (out of range)");
  auto i8 = MsgpackCodec::decode_value<std::int8_t>(value(-128));
  ASSERT_TRUE(i8.has_value());
  EXPECT_EQ(*i8, -128);
  auto big = MsgpackCodec::decode_value<std::uint64_t>(value(std::numeric_limits<std::uint64_t>::max()));
  ASSERT_TRUE(big.has_value());
  EXPECT_EQ(*big, std::numeric_limits<std::uint64_t>::max());
  auto neg = MsgpackCodec::decode_value<std::int64_t>(value(std::numeric_limits<std::int64_t>::min()));
  ASSERT_TRUE(neg.has_value());
  EXPECT_EQ(*neg, std::numeric_limits<std::int64_t>::min());

  // Integers into floating point: when exact (peers that write whole numbers
  // as integers, as msgpack-cxx and older Tern do).
  auto d = MsgpackCodec::decode_value<double>(value(6));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(*d, 6.0);
  auto dn = MsgpackCodec::decode_value<double>(value(-9007199254740992LL));
  ASSERT_TRUE(dn.has_value());
  EXPECT_EQ(*dn, -9007199254740992.0);
  EXPECT_EQ(MsgpackCodec::decode_value<double>(value(9007199254740993ULL)).status().message(),
            "result: expected float64, received integer 9007199254740993 (not exact)");
  auto f = MsgpackCodec::decode_value<float>(value(16777216));
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(*f, 16777216.0f);
  EXPECT_EQ(MsgpackCodec::decode_value<float>(value(16777217)).status().message(),
            "result: expected float32, received integer 16777217 (not exact)");
  // float64 into float: within float's range (NaN and infinities pass).
  auto fr = MsgpackCodec::decode_value<float>(value(0.5));
  ASSERT_TRUE(fr.has_value());
  EXPECT_EQ(*fr, 0.5f);
  EXPECT_EQ(MsgpackCodec::decode_value<float>(value(1e300)).status().message(),
            "result: expected float32, received float64 1e+300 (out of range)");
  EXPECT_TRUE(std::isinf(MsgpackCodec::decode_value<float>(value(-std::numeric_limits<double>::infinity())).value()));
  EXPECT_EQ(MsgpackCodec::decode_value<double>(value(std::string("6"))).status().message(),
            "result: expected float64, received string");

  // Enums take their underlying integer, strictly.
  EXPECT_EQ(MsgpackCodec::decode_value<Color>(value(2.0)).status().message(),
            "result: expected enum (int32), received float64 2");
  EXPECT_EQ(MsgpackCodec::decode_value<Color>(value(-3)).value(), Color::kBlue);
  EXPECT_EQ(MsgpackCodec::decode_value<bool>(value(1)).status().message(), "result: expected bool, received integer 1");
}

TEST(Msgpack, ErrorsNameThePathInsideTheArgument) {
  // An Outer whose second item's id is a float, as a provider with
  // `double id` would send it.
  Sink s;
  msgpack::packer<Sink> pk(s);
  pk.pack_array(2);
  pk.pack(1);
  pk.pack_map(1);
  pk.pack(std::string("items"));
  pk.pack_array(2);
  pk.pack_map(1);
  pk.pack(std::string("id"));
  pk.pack(1);
  pk.pack_map(1);
  pk.pack(std::string("id"));
  s.write("\xcb\x40\x00\x00\x00\x00\x00\x00\x00", 9);  // float64 2.0
  auto r = MsgpackCodec::decode_args<int, Outer>(s.data);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "argument 2 of 2: .items[1].id: expected int32, received float64 2");

  Sink m;
  MsgpackCodec::encode_value(m, std::map<std::string, double>{{"a", 1.0}, {"b", 2.5}});
  EXPECT_EQ((MsgpackCodec::decode_value<std::map<std::string, int>>(m.data).status().message()),
            "result: .a: expected int32, received float64 1");
  Sink v;
  MsgpackCodec::encode_value(v, std::vector<std::optional<std::int64_t>>{1, std::nullopt, -4});
  EXPECT_EQ((MsgpackCodec::decode_value<std::vector<std::optional<std::uint16_t>>>(v.data).status().message()),
            "result: [2]: expected uint16, received integer -4 (out of range)");
  auto ok = MsgpackCodec::decode_value<std::vector<std::optional<std::int16_t>>>(v.data);
  ASSERT_TRUE(ok.has_value()) << ok.status();
  EXPECT_EQ(*ok, (std::vector<std::optional<std::int16_t>>{1, std::nullopt, -4}));
  Sink t;
  MsgpackCodec::encode_value(t, std::make_tuple(1, 2.5, std::string("x")));
  auto tuple = MsgpackCodec::decode_value<std::tuple<int, double, std::string>>(t.data);
  ASSERT_TRUE(tuple.has_value()) << tuple.status();
  EXPECT_EQ(*tuple, std::make_tuple(1, 2.5, std::string("x")));
  EXPECT_EQ((MsgpackCodec::decode_value<std::tuple<int, int, std::string>>(t.data).status().message()),
            "result: [1]: expected int32, received float64 2.5");
  EXPECT_EQ((MsgpackCodec::decode_value<std::tuple<int, double>>(t.data).status().message()),
            "result: expected array of 2, received array of 3");
}

TEST(Golden, JsonStruct) {
  sertest::Golden g{7, "ab", std::nullopt, Color::kGreen, {1, 2}};
  Sink s;
  JsonCodec::encode_args(s, g, std::string("q\"\n"), -1.5, Color::kBlue);
  // Object keys come out sorted (nlohmann's std::map).
  EXPECT_EQ(s.data, R"([{"c":2,"id":7,"name":"ab","v":[1,2],"z":null},"q\"\n",-1.5,-3])");
  Sink v;
  JsonCodec::encode_value(v, std::map<std::string, std::optional<int>>{{"a", 1}, {"b", std::nullopt}});
  EXPECT_EQ(v.data, R"({"a":1,"b":null})");
  Sink n;
  JsonCodec::encode_void(n);
  EXPECT_EQ(n.data, "null");
}

TEST(Golden, ProtobufOneAndSeveralArguments) {
  google::protobuf::StringValue a;
  a.set_value("hi");
  google::protobuf::Int32Value b;
  b.set_value(5);
  Sink one;
  ProtobufCodec::encode_args(one, a);
  EXPECT_EQ(hex(one.data), "0a026869");  // the message's bytes, nothing else
  Sink two;
  ProtobufCodec::encode_args(two, a, b);
  EXPECT_EQ(hex(two.data), "04" "0a026869" "02" "0805");  // varint size + bytes, per argument
  Sink none;
  ProtobufCodec::encode_args(none);
  EXPECT_TRUE(none.data.empty());
  Sink value;
  ProtobufCodec::encode_value(value, b);
  EXPECT_EQ(hex(value.data), "0805");
}

TEST(Golden, JsonProtobufMessageUsesProtobufMapping) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(0);
  ts.set_nanos(1000000);
  Sink s;
  JsonCodec::encode_args(s, ts);
  EXPECT_EQ(s.data, R"(["1970-01-01T00:00:00.001Z"])");
}

// --- JSON specifics -----------------------------------------------------------

TEST(Json, SingleParameterAcceptsItsObjectUnwrapped) {
  auto r = JsonCodec::decode_args<Inner>(R"({"id":3,"name":"x","unknown":[1]})");
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(std::get<0>(*r), (Inner{3, "x"}));
  auto p = JsonCodec::decode_args<google::protobuf::StringValue>(R"("unwrapped-wrapper")");
  EXPECT_FALSE(p.has_value());  // only objects are taken unwrapped
}

TEST(Json, NamedArguments) {
  auto r = JsonCodec::decode_named_args<int, std::string, std::optional<int>>(R"({"b":"x","a":1,"extra":0})",
                                                                              {"a", "b", "c"});
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_EQ(std::get<0>(*r), 1);
  EXPECT_EQ(std::get<1>(*r), "x");
  EXPECT_FALSE(std::get<2>(*r).has_value());
  auto missing = JsonCodec::decode_named_args<int, int>(R"({"a":1})", {"a", "b"});
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.status().message(), "argument 2 of 2: missing \"b\"");
  auto positional = JsonCodec::decode_named_args<int, int>("[1,2]", {"a", "b"});
  ASSERT_TRUE(positional.has_value()) << positional.status();
  EXPECT_EQ(std::get<1>(*positional), 2);
}

TEST(Json, StrictNumbers) {
  struct Case {
    const char* payload;
    const char* message;
  };
  for (const Case& c : {
           Case{"[1, 2.5]", "argument 2 of 2: expected an integer, got number"},
           Case{"[1, 3000000000]", "argument 2 of 2: integer 3000000000 out of range"},
           Case{"[-1, 2]", nullptr},
           Case{"[1, \"2\"]", "argument 2 of 2: expected an integer, got string"},
           Case{"[1, null]", "argument 2 of 2: expected an integer, got null"},
       }) {
    auto r = JsonCodec::decode_args<int, int>(c.payload);
    if (c.message == nullptr) {
      EXPECT_TRUE(r.has_value()) << c.payload;
      continue;
    }
    ASSERT_FALSE(r.has_value()) << c.payload;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(r.status().message(), c.message);
  }
  auto u = JsonCodec::decode_args<std::uint8_t>("[-1]");
  EXPECT_FALSE(u.has_value());
}

// Caught by fuzz_json_args' round-trip check: 1e300 for a float became infinity, which
// re-encodes as null and no longer decodes. Out of range, as for integers.
TEST(Json, FloatOutOfRangeIsRefusedNotInfinity) {
  auto r = JsonCodec::decode_args<float, double>("[1e300, 1e300]");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "argument 1 of 2: number 1e+300 out of range");
  auto max = JsonCodec::decode_args<float, double>("[3.4028234663852886e38, -1e300]");
  ASSERT_TRUE(max.has_value()) << max.status();
  EXPECT_EQ(std::get<0>(*max), std::numeric_limits<float>::max());
  EXPECT_EQ(std::get<1>(*max), -1e300);
  auto nested = JsonCodec::decode_value<std::vector<float>>("[0.5, -1e39]");
  ASSERT_FALSE(nested.has_value());
  EXPECT_EQ(nested.status().message(), "result: [1]: number -1e+39 out of range");
}

// JSON numbers cannot carry NaN or infinity (nlohmann prints them as null,
// which then fails to decode as a number): they travel as protobuf's JSON
// mapping spells them, at any depth, and decode back.
TEST(Json, NonFiniteFloatsTravelAsNamedStrings) {
  const double inf = std::numeric_limits<double>::infinity();
  Sink s;
  JsonCodec::encode_args(s, std::numeric_limits<double>::quiet_NaN(), inf, -std::numeric_limits<float>::infinity(), 1.5);
  EXPECT_EQ(s.data, R"(["NaN","Infinity","-Infinity",1.5])");
  auto r = JsonCodec::decode_args<double, double, float, double>(s.data);
  ASSERT_TRUE(r.has_value()) << r.status();
  EXPECT_TRUE(std::isnan(std::get<0>(*r)));
  EXPECT_EQ(std::get<1>(*r), inf);
  EXPECT_EQ(std::get<2>(*r), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(std::get<3>(*r), 1.5);

  sertest::Outer o;
  o.ratio = -inf;
  Sink nested;
  JsonCodec::encode_value(nested, std::vector<sertest::Outer>{o});
  EXPECT_NE(nested.data.find(R"("ratio":"-Infinity")"), std::string::npos) << nested.data;
  auto back = JsonCodec::decode_value<std::vector<sertest::Outer>>(nested.data);
  ASSERT_TRUE(back.has_value()) << back.status();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].ratio, std::optional<double>(-inf));

  auto wrong = JsonCodec::decode_args<double>(R"(["nan"])");
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.status().message(), "argument 1 of 1: expected a number, got string");
}

// A proto3 string field with invalid UTF-8 fails the call with
// INVALID_ARGUMENT; protobuf's own ERROR line for it is not written (else a
// peer could make a provider log once per request).
int g_protobuf_log_lines = 0;
void count_protobuf_log(google::protobuf::LogLevel, const char*, int, const std::string&) { ++g_protobuf_log_lines; }

TEST(Protobuf, InvalidUtf8IsRefusedWithoutProtobufLogging) {
  auto* previous = google::protobuf::SetLogHandler(&count_protobuf_log);
  g_protobuf_log_lines = 0;
  const std::string body("\x0a\x02\xff\xfe", 4);  // StringValue.value = FF FE
  auto r = ProtobufCodec::decode_args<google::protobuf::StringValue>(body);
  auto v = ProtobufCodec::decode_value<google::protobuf::StringValue>(body);
  google::protobuf::SetLogHandler(previous);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "argument 1 of 1: malformed protobuf google.protobuf.StringValue");
  EXPECT_FALSE(v.has_value());
  EXPECT_EQ(g_protobuf_log_lines, 0);
  // The handler itself works: protobuf's logging is back once parsing is over.
  previous = google::protobuf::SetLogHandler(&count_protobuf_log);
  GOOGLE_LOG(WARNING) << "outside a parse";
  google::protobuf::SetLogHandler(previous);
  EXPECT_EQ(g_protobuf_log_lines, 1);
}

TEST(Json, ErrorsNameThePathInsideTheArgument) {
  auto r = JsonCodec::decode_args<int, Outer>(R"([1, {"items":[{"id":1},{"id":"two"}]}])");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().message(), "argument 2 of 2: .items[1].id: expected an integer, got string");
  auto m = JsonCodec::decode_args<google::protobuf::Timestamp>(R"(["not a time"])");
  ASSERT_FALSE(m.has_value());
  EXPECT_EQ(m.status().message().rfind("argument 1 of 1: protobuf google.protobuf.Timestamp: ", 0), 0u) << m.status();
}

TEST(Json, InvalidUtf8IsReplacedOnEncodeAndRefusedOnDecode) {
  Sink s;
  JsonCodec::encode_args(s, std::string("a\xff" "b"));
  EXPECT_EQ(s.data, "[\"a\xEF\xBF\xBD" "b\"]");
  auto r = JsonCodec::decode_args<std::string>("[\"a\xff\"]");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

// --- malformed and hostile payloads ------------------------------------------

void expect_invalid(const Status& s, std::string_view what) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << what << ": " << s;
}

TEST(Malformed, Msgpack) {
  using C = MsgpackCodec;
  expect_invalid(C::decode_args<int>("").status(), "empty");
  expect_invalid(C::decode_args<int>("\x01").status(), "not an array");
  // array32 claiming 4 billion elements, 1 present
  expect_invalid(C::decode_args<int>(std::string("\xdd\xff\xff\xff\xff\x01", 6)).status(), "huge array");
  // str32 claiming 2 GiB, 3 bytes present
  expect_invalid(C::decode_args<std::string>(std::string("\x91\xdb\x7f\xff\xff\xff" "abc", 9)).status(), "huge string");
  // bin32 claiming 4 GiB
  expect_invalid(C::decode_args<std::string>(std::string("\x91\xc6\xff\xff\xff\xff", 6)).status(), "huge bin");
  // map32 claiming 4 billion pairs inside an argument
  expect_invalid(C::decode_args<Inner>(std::string("\x91\xdf\xff\xff\xff\xff", 6)).status(), "huge map");
  // a struct argument that is a string
  Sink s;
  C::encode_args(s, std::string("x"));
  auto r = C::decode_args<Inner>(s.data);
  expect_invalid(r.status(), "struct as string");
  EXPECT_EQ(r.status().message(), "argument 1 of 1: expected map, received string");
  // trailing garbage
  Sink t;
  C::encode_args(t, 1);
  t.data += "\x01";
  expect_invalid(C::decode_args<int>(t.data).status(), "trailing");
  // nesting deeper than 64
  std::string deep(100, '\x91');
  deep += '\x01';
  expect_invalid(C::decode_value<int>(deep).status(), "deep");
  // reserved byte 0xc1
  expect_invalid(C::decode_value<int>("\xc1").status(), "reserved");
  // protobuf message field that is not a bin / not a message
  expect_invalid(C::decode_args<google::protobuf::StringValue>("\x91\x01").status(), "message as int");
  expect_invalid(C::decode_args<google::protobuf::StringValue>(std::string("\x91\xc4\x02\xff\xff", 5)).status(),
                 "garbage message");
}

TEST(Malformed, Json) {
  using C = JsonCodec;
  for (std::string_view p : {"", "[", "[1,", "[1 2]", "{", "[\"abc", "nul", "[1]]", "[1] x", "\xff", "[01]",
                             "[\"\\u12\"]", "[1e999999]"}) {
    expect_invalid(C::decode_args<int>(p).status(), p);
  }
  expect_invalid(C::decode_args<int, int>("{\"a\":1}").status(), "object for 2 arguments");
  expect_invalid(C::decode_args<std::vector<int>>("[{\"a\":1}]").status(), "object for vector");
  expect_invalid(C::decode_args<std::map<std::string, int>>("[[1]]").status(), "array for map");
  expect_invalid(C::decode_args<Inner>("[[1]]").status(), "array for struct");
  expect_invalid(C::decode_args<Color>("[\"kRed\"]").status(), "enum as name");
  expect_invalid(C::decode_value<Inner>("[]").status(), "result array for struct");
  // Deep nesting is refused before parsing (no recursion, no big allocation).
  std::string deep(200000, '[');
  expect_invalid(C::decode_args<int>(deep).status(), "deep");
  std::string deep_obj;
  for (int i = 0; i < 70; ++i) deep_obj += "{\"a\":";
  expect_invalid(C::decode_value<std::map<std::string, int>>(deep_obj).status(), "deep object");
  // Brackets inside strings do not count.
  std::string brackets = "[\"" + std::string(1000, '[') + "\"]";
  EXPECT_TRUE(C::decode_args<std::string>(brackets).has_value());
  // A protobuf message argument with a wrong field type.
  auto m = C::decode_args<google::protobuf::Timestamp>(R"({"seconds":"x"})");
  expect_invalid(m.status(), "bad message json");
}

TEST(Malformed, Protobuf) {
  using C = ProtobufCodec;
  using SV = google::protobuf::StringValue;
  using I32 = google::protobuf::Int32Value;
  // A length-delimited field claiming 4 GiB.
  expect_invalid(C::decode_args<SV>(std::string("\x0a\xff\xff\xff\xff\x0f" "ab", 8)).status(), "huge field");
  // Invalid wire type 7, truncated varint, truncated field.
  expect_invalid(C::decode_args<SV>("\x0f").status(), "wire type 7");
  expect_invalid(C::decode_args<I32>("\x08\xff").status(), "truncated varint");
  expect_invalid(C::decode_args<SV>("\x0a\x05" "ab").status(), "truncated field");
  // Invalid UTF-8 in a proto3 string field.
  expect_invalid(C::decode_args<SV>("\x0a\x01\xff").status(), "invalid utf-8");
  // Several arguments: prefix beyond the payload, truncated prefix, missing argument, trailing bytes.
  auto huge = C::decode_args<SV, I32>(std::string("\xff\xff\xff\xff\x0f\x0a", 6));
  expect_invalid(huge.status(), "huge prefix");
  EXPECT_EQ(huge.status().message(), "argument 1 of 2: truncated or oversized length prefix");
  expect_invalid(C::decode_args<SV, I32>("\x80").status(), "truncated prefix");
  expect_invalid(C::decode_args<SV, I32>(std::string("\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11)).status(),
                 "11-byte varint");
  auto missing = C::decode_args<SV, I32>(std::string("\x04\x0a\x02hi", 5));
  EXPECT_EQ(missing.status().message(), "argument 2 of 2: truncated or oversized length prefix");
  expect_invalid(C::decode_args<SV, I32>(std::string("\x00\x00\x01", 3)).status(), "trailing");
  auto bad2 = C::decode_args<SV, I32>(std::string("\x00\x01\x0f", 3));
  EXPECT_EQ(bad2.status().message(), "argument 2 of 2: malformed protobuf google.protobuf.Int32Value");
  expect_invalid(C::decode_args<>("x").status(), "body for no arguments");
  expect_invalid(C::decode_value<SV>("\x0f").status(), "bad result");
  // Every prefix of a valid two-argument body either decodes or fails cleanly.
  SV a;
  a.set_value("hello");
  I32 b;
  b.set_value(1 << 20);
  Sink s;
  C::encode_args(s, a, b);
  for (std::size_t n = 0; n < s.data.size(); ++n) {
    auto r = C::decode_args<SV, I32>(std::string_view(s.data).substr(0, n));
    EXPECT_FALSE(r.has_value()) << n;
  }
  auto full = C::decode_args<SV, I32>(s.data);
  ASSERT_TRUE(full.has_value()) << full.status();
  EXPECT_EQ(std::get<1>(*full).value(), 1 << 20);
}

// What one codec made of the garbage it was given (Malformed.RandomBytes...).
struct Tally {
  int values = 0;  // decoded into a value
  int errors = 0;  // refused with INVALID_ARGUMENT and a message
};

// One decode of garbage has a definite outcome: either a value, which
// re-encodes to bytes that decode and re-encode to the very same bytes (a
// fixed point: the codec accepted something it can stand behind), or
// INVALID_ARGUMENT with a message saying why. `decode` returns a Result,
// `encode` appends a decoded value to a Sink.
template <typename Decode, typename Encode>
void expect_definite(std::string_view what, int input, std::string_view bytes, Decode decode, Encode encode,
                     Tally& tally) {
  auto r = decode(bytes);
  if (!r.has_value()) {
    ++tally.errors;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << what << " input " << input << ": " << r.status();
    EXPECT_FALSE(r.status().message().empty()) << what << " input " << input;
    return;
  }
  ++tally.values;
  Sink once;
  encode(once, *r);
  auto again = decode(once.data);
  ASSERT_TRUE(again.has_value()) << what << " input " << input << ": accepted " << hex(bytes)
                                 << ", but not its re-encoding " << hex(once.data) << ": " << again.status();
  Sink twice;
  encode(twice, *again);
  EXPECT_EQ(hex(twice.data), hex(once.data)) << what << " input " << input << " (from " << hex(bytes) << ")";
}

// Deterministic garbage (fixed seed) through every codec: every input gets a
// definite outcome (expect_definite), both outcomes occur, and the codecs
// keep no state from garbage: after each input the good payloads still
// decode to exactly what was encoded (msgpack parses into a per-thread zone
// that every decode reuses).
TEST(Malformed, RandomBytesGetAValueOrInvalidArgument) {
  std::uint64_t x = 0x9E3779B97F4A7C15ULL;
  auto next = [&] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  using PbArgs = std::tuple<google::protobuf::StringValue, google::protobuf::Timestamp>;
  auto mp_args = [](std::string_view b) { return MsgpackCodec::decode_args<Outer, int>(b); };
  auto js_args = [](std::string_view b) { return JsonCodec::decode_args<Outer, int>(b); };
  auto pb_args = [](std::string_view b) {
    return ProtobufCodec::decode_args<google::protobuf::StringValue, google::protobuf::Timestamp>(b);
  };
  auto pb_one = [](std::string_view b) { return ProtobufCodec::decode_args<google::protobuf::Timestamp>(b); };
  auto mp_value = [](std::string_view b) { return MsgpackCodec::decode_value<Outer>(b); };
  auto js_value = [](std::string_view b) { return JsonCodec::decode_value<Outer>(b); };
  auto enc_mp_args = [](Sink& s, const std::tuple<Outer, int>& a) { MsgpackCodec::encode_args(s, std::get<0>(a), std::get<1>(a)); };
  auto enc_js_args = [](Sink& s, const std::tuple<Outer, int>& a) { JsonCodec::encode_args(s, std::get<0>(a), std::get<1>(a)); };
  auto enc_pb_args = [](Sink& s, const PbArgs& a) { ProtobufCodec::encode_args(s, std::get<0>(a), std::get<1>(a)); };
  auto enc_pb_one = [](Sink& s, const std::tuple<google::protobuf::Timestamp>& a) {
    ProtobufCodec::encode_args(s, std::get<0>(a));
  };
  auto enc_mp_value = [](Sink& s, const Outer& v) { MsgpackCodec::encode_value(s, v); };
  auto enc_js_value = [](Sink& s, const Outer& v) { JsonCodec::encode_value(s, v); };

  Sink seed_mp, seed_json;
  MsgpackCodec::encode_args(seed_mp, sample(), 1);
  JsonCodec::encode_args(seed_json, sample(), 1);
  Tally mutated_mp, mutated_js, raw_pb_args, raw_pb_one, raw_mp_value, raw_js_value;
  for (int i = 0; i < 3000; ++i) {
    std::string mp = seed_mp.data, js = seed_json.data;
    for (int k = 0; k < 3; ++k) {
      mp[next() % mp.size()] = static_cast<char>(next());
      js[next() % js.size()] = static_cast<char>(next());
    }
    expect_definite("msgpack args", i, mp, mp_args, enc_mp_args, mutated_mp);
    expect_definite("json args", i, js, js_args, enc_js_args, mutated_js);
    std::string raw(next() % 24, '\0');
    for (auto& c : raw) c = static_cast<char>(next());
    expect_definite("protobuf args", i, raw, pb_args, enc_pb_args, raw_pb_args);
    expect_definite("protobuf arg", i, raw, pb_one, enc_pb_one, raw_pb_one);
    expect_definite("msgpack value", i, raw, mp_value, enc_mp_value, raw_mp_value);
    expect_definite("json value", i, raw, js_value, enc_js_value, raw_js_value);
    // Nothing of the garbage stays behind: the good payloads still decode.
    auto good_mp = mp_args(seed_mp.data);
    ASSERT_TRUE(good_mp.has_value()) << "after input " << i << ": " << good_mp.status();
    ASSERT_EQ(std::get<0>(*good_mp), sample()) << "after input " << i;
    ASSERT_EQ(std::get<1>(*good_mp), 1) << "after input " << i;
    auto good_js = js_args(seed_json.data);
    ASSERT_TRUE(good_js.has_value()) << "after input " << i << ": " << good_js.status();
    ASSERT_EQ(std::get<0>(*good_js), sample()) << "after input " << i;
    if (HasFatalFailure()) return;
  }
  // The fixed seed exercises both outcomes where both are possible: three
  // changed bytes of a valid payload are often still valid (inside a string,
  // a number), often not.
  for (auto [name, t] : {std::pair{"msgpack args", mutated_mp}, std::pair{"json args", mutated_js}}) {
    EXPECT_GT(t.values, 0) << name;
    EXPECT_GT(t.errors, 0) << name;
  }
  // Up to 23 random bytes are mostly not a MessagePack or JSON struct; some
  // are valid protobuf (every message accepts the empty input).
  for (auto [name, t] : {std::pair{"protobuf args", raw_pb_args}, std::pair{"protobuf arg", raw_pb_one},
                         std::pair{"msgpack value", raw_mp_value}, std::pair{"json value", raw_js_value}}) {
    EXPECT_GT(t.errors, 0) << name;
  }
  EXPECT_GT(raw_pb_one.values, 0);
  std::printf("measured: of 3000 inputs each, decoded to a value / INVALID_ARGUMENT: msgpack args %d/%d, json args "
              "%d/%d, protobuf args %d/%d, protobuf arg %d/%d, msgpack value %d/%d, json value %d/%d\n",
              mutated_mp.values, mutated_mp.errors, mutated_js.values, mutated_js.errors, raw_pb_args.values,
              raw_pb_args.errors, raw_pb_one.values, raw_pb_one.errors, raw_mp_value.values, raw_mp_value.errors,
              raw_js_value.values, raw_js_value.errors);
}

// A std::string_view decodes without a copy: it points into the payload, for
// a str and for a bin; anything else is the usual typed error.
TEST(Msgpack, StringViewBorrowsFromThePayload) {
  static_assert(MsgpackCodec::kBorrowsStrings);
  Sink s;
  std::string big(70000, 'x');
  big[0] = '\0';
  big.back() = '\xff';
  MsgpackCodec::encode_args(s, std::string_view("hi"), 7, std::string_view(big));
  auto r = MsgpackCodec::decode_args<std::string_view, int, std::string_view>(s.data);
  ASSERT_TRUE(r.has_value()) << r.status();
  const auto& [a, n, b] = *r;
  EXPECT_EQ(a, "hi");
  EXPECT_EQ(n, 7);
  EXPECT_EQ(b, big);
  auto inside = [&](std::string_view v) {
    return v.data() >= s.data.data() && v.data() + v.size() <= s.data.data() + s.data.size();
  };
  EXPECT_TRUE(inside(a));
  EXPECT_TRUE(inside(b));

  std::vector<unsigned char> bin = {0, 1, 2, 254, 255};
  Sink sb;
  MsgpackCodec::encode_args(sb, bin);
  auto rb = MsgpackCodec::decode_args<std::string_view>(sb.data);
  ASSERT_TRUE(rb.has_value()) << rb.status();
  EXPECT_EQ(std::get<0>(*rb), std::string_view("\0\1\2\xfe\xff", 5));

  Sink si;
  MsgpackCodec::encode_args(si, 5);
  auto ri = MsgpackCodec::decode_args<std::string_view>(si.data);
  ASSERT_FALSE(ri.has_value());
  EXPECT_EQ(ri.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ri.status().message(), "argument 1 of 1: expected string, received integer 5");
}

// A std::string_view encodes as the string it views, in both codecs, so a
// consumer declaring std::string reads what a provider's view answered.
TEST(AllCodecs, StringViewEncodesAsAString) {
  std::string text = "say \"hi\"\n";
  Sink m;
  MsgpackCodec::encode_value(m, std::string_view(text));
  auto rm = MsgpackCodec::decode_value<std::string>(m.data);
  ASSERT_TRUE(rm.has_value()) << rm.status();
  EXPECT_EQ(*rm, text);
  Sink j;
  JsonCodec::encode_value(j, std::string_view(text));
  EXPECT_EQ(j.data, R"("say \"hi\"\n")");
  auto rj = JsonCodec::decode_value<std::string>(j.data);
  ASSERT_TRUE(rj.has_value()) << rj.status();
  EXPECT_EQ(*rj, text);
}

}  // namespace
}  // namespace tern::serialization
