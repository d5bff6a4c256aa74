// Writes the fuzzers' seed corpus: real frames, metadata, argument bodies and
// URLs produced by the library's own encoders, one file per input, into
// <dir>/<target>/ (tests/fuzz/corpus/ holds the checked-in output; rerun
// `build/fuzz/fuzz/fuzz_make_corpus tests/fuzz/corpus` after a wire change).
#include <google/protobuf/struct.pb.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "fuzz_services.h"
#include "tern/protocol/frame.h"
#include "tern/serialization/codecs.h"
#include "tern/url.h"

namespace {

namespace fs = std::filesystem;
using namespace tern::protocol;
using tern::serialization::JsonCodec;
using tern::serialization::MsgpackCodec;
using tern::serialization::ProtobufCodec;

fs::path g_root;

void put(const std::string& target, const std::string& name, const std::string& bytes) {
  fs::path dir = g_root / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

struct Writer {
  std::string s;
  void write(const char* p, std::size_t n) { s.append(p, n); }
};

template <typename Codec, typename... A>
std::string args(const A&... a) {
  Writer w;
  Codec::encode_args(w, a...);
  return w.s;
}
template <typename Codec, typename T>
std::string value(const T& v) {
  Writer w;
  Codec::encode_value(w, v);
  return w.s;
}

fuzzsvc::Record sample_record() {
  fuzzsvc::Record r;
  r.flag = true;
  r.i8 = -7;
  r.u16 = 65535;
  r.i32 = -123456;
  r.u64 = 18446744073709551615ULL;
  r.i64 = -9000000000LL;
  r.f = 1.5f;
  r.d = -0.25;
  r.text = "caf\xc3\xa9";
  r.kind = fuzzsvc::Kind::kLarge;
  r.note = "n";
  r.inners = {fuzzsvc::Inner{"a", {0, 1, 255}, {{"w", 0.5}}}, fuzzsvc::Inner{}};
  r.index = {{"k", {1, -2, 3}}};
  r.extra = fuzzsvc::Inner{"x", {}, {}};
  return r;
}

google::protobuf::Struct sample_struct() {
  google::protobuf::Struct s;
  (*s.mutable_fields())["name"].set_string_value("tern");
  (*s.mutable_fields())["n"].set_number_value(42);
  auto* list = (*s.mutable_fields())["list"].mutable_list_value();
  list->add_values()->set_bool_value(true);
  list->add_values()->mutable_struct_value();
  return s;
}

google::protobuf::FileDescriptorProto sample_file() {
  google::protobuf::FileDescriptorProto f;
  f.set_name("calc.proto");
  f.set_package("demo");
  auto* m = f.add_message_type();
  m->set_name("AddRequest");
  auto* field = m->add_field();
  field->set_name("a");
  field->set_number(1);
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT32);
  return f;
}

template <typename Codec>
void bodies(const std::string& target) {
  fuzzsvc::Record r = sample_record();
  put(target, "scalars", args<Codec>(true, std::int8_t{-1}, std::uint16_t{8080}, std::int32_t{-5},
                                     std::uint64_t{1} << 40, std::int64_t{-1}, 0.5f, 3.25));
  put(target, "text", args<Codec>(std::string("hello"), std::optional<std::string>("w")));
  put(target, "text_nullopt", args<Codec>(std::string(""), std::optional<std::string>()));
  put(target, "record", args<Codec>(r));
  put(target, "record_default", args<Codec>(fuzzsvc::Record{}));
  put(target, "records", args<Codec>(std::vector<fuzzsvc::Record>{r, {}}, std::map<std::string, fuzzsvc::Record>{{"r", r}}));
  put(target, "kinds", args<Codec>(fuzzsvc::Kind::kSmall, std::optional<std::int64_t>(-3)));
  put(target, "none", args<Codec>());
  put(target, "result_record", value<Codec>(r));
  put(target, "proto_one", args<Codec>(sample_struct()));
  google::protobuf::Timestamp t;
  t.set_seconds(1700000000);
  t.set_nanos(5);
  put(target, "proto_two", args<Codec>(sample_file(), t));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus <corpus dir>\n";
    return 2;
  }
  g_root = argv[1];

  // --- metadata and frames
  FrameBuilder req(FrameType::kRequest, 7);
  req.header().serialization = MsgpackCodec::kId;
  req.header().timeout_ms = 3000;
  req.add_meta(meta_keys::kService, "Calculator");
  req.add_meta(meta_keys::kMethod, "add");
  req.add_meta(meta_keys::kVersion, "1.0");
  req.add_meta("trace-id", "abc123");
  req.begin_body();
  std::string body = args<MsgpackCodec>(1, 2);
  req.append_body(body);
  std::string request = req.finish();
  put("metadata", "request", request.substr(kHeaderSize, request.size() - kHeaderSize - body.size()));
  put("metadata", "empty_value", std::string("\0\x01k\0\0", 5));

  FrameBuilder resp(FrameType::kResponse, 7);
  resp.header().serialization = MsgpackCodec::kId;
  resp.begin_body();
  resp.append_body(value<MsgpackCodec>(3));
  std::string response = resp.finish();
  FrameBuilder err(FrameType::kResponse, 8);
  err.header().status_or_flags = static_cast<std::uint8_t>(tern::StatusCode::kInvalidArgument);
  err.begin_body();
  err.append_body("argument 1 of 2: type mismatch");
  std::string error = err.finish();
  FrameBuilder oneway(FrameType::kOneway, 9);
  oneway.header().serialization = JsonCodec::kId;
  oneway.add_meta(meta_keys::kService, "Calculator");
  oneway.add_meta(meta_keys::kMethod, "count");
  oneway.begin_body();
  oneway.append_body("[5]");
  std::string ow = oneway.finish();

  put("frame_decoder", "request", request);
  put("frame_decoder", "response", response);
  put("frame_decoder", "ping", encode_control_frame(FrameType::kPing, 1));
  put("frame_decoder", "stream", request + encode_control_frame(FrameType::kPong, 2) + ow + response + error +
                                     encode_control_frame(FrameType::kGoaway, 0));
  put("frame_decoder", "http_get", "GET / HTTP/1.1\r\nHost: x\r\n\r\n");

  // --- argument bodies
  bodies<MsgpackCodec>("msgpack_args");
  bodies<JsonCodec>("json_args");
  put("json_args", "record_object", "{\"flag\":true,\"text\":\"t\",\"inners\":[{\"name\":\"n\",\"bytes\":[1]}]}");
  put("json_args", "named", "{\"s\":\"x\",\"o\":null}");
  put("protobuf_args", "proto_one", args<ProtobufCodec>(sample_struct()));
  google::protobuf::Timestamp t;
  t.set_seconds(1700000000);
  put("protobuf_args", "proto_two", args<ProtobufCodec>(sample_file(), t));
  put("protobuf_args", "result_timestamp", value<ProtobufCodec>(t));

  // --- URLs
  const char* urls[] = {
      "tern://10.0.0.5:20880/Calculator?version=1.0&weight=200&methods=add,midpoint",
      "tern://[::1]:20880/Calculator?group=blue",
      "zookeeper://h1:2181,h2:2181",
      "direct://127.0.0.1:20880,127.0.0.1:20881",
      "etcd://localhost:2379/tern?timeout=3000",
      "file:///var/cache/tern/providers.json",
      "tern://host/a%2Fb/c%20d?k%26=v%3D1&flag&empty=",
      "TERN://Host.example_1:1?z=1&a=2&a=3",
      "tern://[::ffff:1.2.3.4]:80/S?serialization=msgpack,json",
  };
  int i = 0;
  for (const char* u : urls) put("url", "url" + std::to_string(i++), u);
  return 0;
}
