// Writes the fuzzers' seed corpus: real frames, metadata, argument bodies and
// URLs produced by the library's own encoders, one file per input, into
// <dir>/<target>/ (tests/fuzz/corpus/ holds the checked-in output; rerun
// `build/fuzz/fuzz/fuzz_make_corpus tests/fuzz/corpus` after a wire change).
#include <google/protobuf/struct.pb.h>
#include <nghttp2/nghttp2.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <algorithm>
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


// --- grpc_server: what a gRPC client sends after the preface, made by an
// nghttp2 client session (an HTTP/2 stack of its own, as a real client's).
class H2Client {
 public:
  H2Client() {
    nghttp2_session_callbacks* cb = nullptr;
    nghttp2_session_callbacks_new(&cb);
    nghttp2_session_callbacks_set_send_callback(
        cb, [](nghttp2_session*, const std::uint8_t* data, std::size_t len, int, void* user) -> ssize_t {
          static_cast<H2Client*>(user)->out_.append(reinterpret_cast<const char*>(data), len);
          return static_cast<ssize_t>(len);
        });
    nghttp2_session_client_new(&h2_, cb, this);
    nghttp2_session_callbacks_del(cb);
    nghttp2_settings_entry window{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20};
    nghttp2_submit_settings(h2_, NGHTTP2_FLAG_NONE, &window, 1);
  }
  ~H2Client() { nghttp2_session_del(h2_); }

  // A gRPC request on path `path`; `messages` are gRPC-framed into one DATA
  // payload; `end` half-closes. Returns the stream id.
  std::int32_t request(const std::string& path, const std::vector<std::string>& messages, bool end,
                       std::vector<std::pair<std::string, std::string>> extra = {}) {
    std::vector<std::pair<std::string, std::string>> h = {
        {":method", "POST"}, {":scheme", "http"}, {":path", path}, {":authority", "localhost"},
        {"content-type", "application/grpc"}, {"te", "trailers"}};
    for (auto& e : extra) h.push_back(std::move(e));
    std::vector<nghttp2_nv> nv;
    for (auto& [k, v] : h) {
      nv.push_back({reinterpret_cast<std::uint8_t*>(k.data()), reinterpret_cast<std::uint8_t*>(v.data()), k.size(),
                    v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    body_.clear();
    for (const auto& m : messages) {
      std::uint32_t n = static_cast<std::uint32_t>(m.size());
      body_ += '\0';
      for (int shift = 24; shift >= 0; shift -= 8) body_ += static_cast<char>((n >> shift) & 0xff);
      body_ += m;
    }
    body_at_ = 0;
    end_ = end;
    nghttp2_data_provider provider{};
    provider.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* buf, std::size_t length,
                                std::uint32_t* flags, nghttp2_data_source*, void* user) -> ssize_t {
      auto* self = static_cast<H2Client*>(user);
      std::size_t n = std::min(length, self->body_.size() - self->body_at_);
      std::copy_n(self->body_.data() + self->body_at_, n, buf);
      self->body_at_ += n;
      if (self->body_at_ == self->body_.size()) {
        if (self->end_) {
          *flags |= NGHTTP2_DATA_FLAG_EOF;
        } else {
          return n == 0 ? NGHTTP2_ERR_DEFERRED : static_cast<ssize_t>(n);
        }
      }
      return static_cast<ssize_t>(n);
    };
    std::int32_t id = nghttp2_submit_request(h2_, nullptr, nv.data(), nv.size(), &provider, nullptr);
    nghttp2_session_send(h2_);
    return id;
  }
  void reset(std::int32_t id) {
    nghttp2_submit_rst_stream(h2_, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    nghttp2_session_send(h2_);
  }
  void ping_and_window() {
    nghttp2_submit_ping(h2_, NGHTTP2_FLAG_NONE, nullptr);
    nghttp2_submit_window_update(h2_, NGHTTP2_FLAG_NONE, 0, 1 << 16);
    nghttp2_session_send(h2_);
  }
  void goaway() {
    nghttp2_submit_goaway(h2_, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
    nghttp2_session_send(h2_);
  }
  // The bytes after the client preface (the fuzz target sends that itself).
  std::string bytes() const { return out_.substr(std::min(out_.size(), std::size_t{NGHTTP2_CLIENT_MAGIC_LEN})); }

 private:
  nghttp2_session* h2_ = nullptr;
  std::string out_;
  std::string body_;
  std::size_t body_at_ = 0;
  bool end_ = true;
};

void grpc_server_seeds() {
  {
    H2Client c;
    c.request("/terngrpc.Greeter/Hello", {std::string("\x0a\x04grpc", 6)}, true,
              {{"grpc-timeout", "5S"}, {"x-user", "bob"}, {"x-token-bin", "AQD+"}});
    put("grpc_server", "unary", c.bytes());
  }
  {
    H2Client c;
    c.request("/terngrpc.Greeter/Sum", {"\x08\x01", "\x08\x02", "\x08\x03"}, true);
    put("grpc_server", "client_stream", c.bytes());
  }
  {
    H2Client c;
    std::int32_t id = c.request("/terngrpc.Greeter/Stream", {"abc"}, false);
    c.request("/terngrpc.Greeter/Hello", {"x"}, true, {{"grpc-encoding", "gzip"}});
    c.ping_and_window();
    c.reset(id);
    c.goaway();
    put("grpc_server", "mixed_reset_goaway", c.bytes());
  }
  {
    H2Client c;
    c.request("/terngrpc.Greeter/Hello", {std::string(2000, 'z')}, true);  // over the target's 1 KiB limit
    c.request("/bad-path", {}, true);
    put("grpc_server", "oversize_and_bad_path", c.bytes());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_corpus <corpus dir>\n";
    return 2;
  }
  g_root = argv[1];
  grpc_server_seeds();

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
