// gRPC wire compatibility against grpc-go, the Go implementation of gRPC
// (Debian golang-google-grpc-dev): an HTTP/2 and gRPC stack independent of
// nghttp2 and of gRPC C++. tests/grpc/go/greeter/main.go is a grpc-go server
// and client for terngrpc.Greeter; the first test to need it builds it with
// `go build` offline in GOPATH mode into the build tree (once per build tree:
// it is rebuilt only when main.go is newer). A failed build fails the tests
// with go's output; nothing is skipped.
//
//   GoClientToTernProvider.*  the Go client calls a Tern provider (one case
//                             per test; the client prints what it observed,
//                             the test asserts it)
//   TernConsumerToGoServer.*  a Tern consumer with a grpc:// reference calls
//                             the Go server (one process for the suite; it
//                             prints "EVENT ..." lines when a handler ends on
//                             a cancel or a deadline)
//
// Both suites run the same cases; `make interop` (scripts/interop.sh) prints
// them as a matrix beside gRPC C++'s (grpc_interop_test.cc, grpc_consumer_test.cc).
#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "greeter.pb.h"
#include "loopback.h"
#include "subprocess.h"
#include "tern/client.h"
#include "tern/server.h"
#include "tern/server_context.h"
#include "tern/stream.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using tern::ClientStream;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

namespace {

// ---- the Go program -------------------------------------------------------

struct GoBuild {
  std::string binary;  // empty when the build failed
  std::string error;   // why, with go's output
};

GoBuild build_go_greeter() {
  namespace fs = std::filesystem;
  GoBuild b;
  const fs::path src = fs::path(TERN_SOURCE_DIR) / "tests/grpc/go/greeter/main.go";
  const fs::path dir = fs::path(TERN_BINARY_DIR) / "tests/grpc_go";
  const fs::path bin = dir / "greeter";
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (fs::exists(bin, ec) && fs::last_write_time(bin, ec) >= fs::last_write_time(src, ec)) {
    b.binary = bin.string();
    return b;
  }
  // Offline, in GOPATH mode, from Debian's packaged sources; go's own cache
  // lives in the build tree too. A temporary name and rename(): CTest may
  // run several test processes at once.
  const fs::path tmp = dir / ("greeter.tmp." + std::to_string(getpid()));
  auto t0 = std::chrono::steady_clock::now();
  auto r = testutil::run_command({"/usr/bin/env", "GO111MODULE=off", "GOPATH=/usr/share/gocode:" + (dir / "gopath").string(),
                                  "GOFLAGS=", "GOCACHE=" + (dir / "cache").string(), "GOPROXY=off", "GOENV=off", "go",
                                  "build", "-o", tmp.string(), src.string()},
                                 600s);
  auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  if (r.exit_code != 0) {
    fs::remove(tmp, ec);
    b.error = "go build of " + src.string() + " failed (exit " + std::to_string(r.exit_code) +
              "; needs golang-go and golang-google-grpc-dev, scripts/deps.sh):\n" + r.out + r.err;
    return b;
  }
  fs::rename(tmp, bin, ec);
  if (ec) {
    b.error = "cannot rename " + tmp.string() + ": " + ec.message();
    return b;
  }
  std::fprintf(stderr, "built %s in %lld ms\n", bin.c_str(), static_cast<long long>(took.count()));
  b.binary = bin.string();
  return b;
}

const GoBuild& go_greeter() {
  static const GoBuild b = build_go_greeter();
  return b;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string hex(std::string_view s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += d[c >> 4];
    out += d[c & 15];
  }
  return out;
}

// One line of the Go client: "<case> key=value..." (values percent-encoded).
using Observed = std::map<std::string, std::string>;

// ---- Go client -> Tern provider -------------------------------------------

template <typename Req, typename Resp, typename F>
tern::MethodHandler protobuf_handler(F f) {
  return [f](tern::ServerCall& call) {
    Req req;
    if (!req.ParseFromArray(call.body().data(), static_cast<int>(call.body().size()))) {
      call.respond(Status(StatusCode::kInvalidArgument, "request does not parse"));
      return;
    }
    Resp resp;
    Status st = f(req, resp, call.context());
    if (!st.is_ok()) {
      call.respond(st);
      return;
    }
    auto b = call.start_response();
    b.append_body(resp.SerializeAsString());
    call.respond(std::move(b));
  };
}

// What the provider's handlers saw end.
struct Ends {
  std::mutex mu;
  std::map<std::int64_t, Status> hang;      // by the first Num's value
  std::map<std::string, Status> slow_hello;  // Hello calls that ended before their delay
  std::optional<Status> hang_status(std::int64_t first) {
    std::lock_guard<std::mutex> l(mu);
    auto it = hang.find(first);
    if (it == hang.end()) return std::nullopt;
    return it->second;
  }
};

class GoClientToTernProvider : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(go_greeter().binary.empty()) << go_greeter().error;
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    server = std::make_unique<tern::Server>(so);
    auto add = [&](Status s) { ASSERT_TRUE(s.is_ok()) << s.to_string(); };
    auto ends = ends_;
    add(server->add_method(
        "terngrpc.Greeter", "Hello",
        protobuf_handler<terngrpc::HelloRequest, terngrpc::HelloReply>(
            [ends](const terngrpc::HelloRequest& req, terngrpc::HelloReply& resp, tern::ServerContext& ctx) {
              auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(req.delay_ms());
              while (std::chrono::steady_clock::now() < until) {
                if (ctx.cancelled() || (ctx.has_deadline() && ctx.remaining() <= 0ms)) {
                  Status st = ctx.cancelled() ? Status(StatusCode::kCancelled, "cancelled")
                                              : Status(StatusCode::kDeadlineExceeded, "deadline");
                  std::lock_guard<std::mutex> l(ends->mu);
                  ends->slow_hello[req.name()] = st;
                  return st;
                }
                std::this_thread::sleep_for(1ms);
              }
              resp.set_text("hello, " + req.name());
              resp.set_remaining_ms(ctx.has_deadline() ? ctx.remaining().count() : -1);
              resp.set_user(std::string(ctx.attachment("x-user")));
              resp.set_token(req.payload().empty() ? std::string(ctx.attachment("x-token-bin")) : req.payload());
              ctx.set_response_attachment("x-served-by", "tern");
              ctx.set_response_attachment("x-raw-bin", std::string("\x00\xff\x10", 3));
              return Status();
            })));
    add(server->add_method("terngrpc.Greeter", "Fail",
                           protobuf_handler<terngrpc::HelloRequest, terngrpc::HelloReply>(
                               [](const terngrpc::HelloRequest& req, terngrpc::HelloReply&, tern::ServerContext&) {
                                 return Status(StatusCode::kPermissionDenied, "no entry for " + req.name() + " (100%)");
                               })));
    add(server->add_stream_method<terngrpc::CountRequest, terngrpc::Num>(
        "terngrpc.Greeter", "Count", [](ServerStream<terngrpc::CountRequest, terngrpc::Num>& s) -> Task<Status> {
          auto req = co_await s.read();
          if (!req) co_return Status(StatusCode::kInvalidArgument, "no request");
          for (int i = 1; i <= req->n(); ++i) {
            terngrpc::Num n;
            n.set_value(i);
            Status w = co_await s.write(n);
            if (!w.is_ok()) co_return w;
          }
          co_return Status();
        }));
    add(server->add_stream_method<terngrpc::Num, terngrpc::SumReply>(
        "terngrpc.Greeter", "Sum", [](ServerStream<terngrpc::Num, terngrpc::SumReply>& s) -> Task<Status> {
          terngrpc::SumReply r;
          while (auto n = co_await s.read()) {
            r.set_total(r.total() + n->value());
            r.set_count(r.count() + 1);
          }
          if (!s.status().is_ok()) co_return s.status();
          co_return co_await s.write(r);
        }));
    add(server->add_stream_method<terngrpc::Num, terngrpc::Num>(
        "terngrpc.Greeter", "Chat", [](ServerStream<terngrpc::Num, terngrpc::Num>& s) -> Task<Status> {
          while (auto n = co_await s.read()) {
            terngrpc::Num out;
            out.set_value(n->value() * 2);
            Status w = co_await s.write(out);
            if (!w.is_ok()) co_return w;
          }
          co_return s.status();
        }));
    // Hang acknowledges each Num (echo) and ends only by a cancel or the deadline.
    add(server->add_stream_method<terngrpc::Num, terngrpc::Num>(
        "terngrpc.Greeter", "Hang", [ends](ServerStream<terngrpc::Num, terngrpc::Num>& s) -> Task<Status> {
          std::optional<std::int64_t> first;
          while (auto n = co_await s.read()) {
            if (!first) first = n->value();
            Status w = co_await s.write(*n);
            if (!w.is_ok()) break;
          }
          Status end = s.status();
          {
            std::lock_guard<std::mutex> l(ends->mu);
            ends->hang[first.value_or(0)] = end;
          }
          co_return end;
        }));
    auto st = server->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void TearDown() override {
    if (server) server->shutdown(1000ms);
  }

  // Runs the Go client's case `name` against the provider; what it observed.
  Observed go_client(const std::string& name) {
    auto r = testutil::run_command(
        {go_greeter().binary, "client", "127.0.0.1:" + std::to_string(server->port()), name}, 60s);
    Observed o;
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string line = r.out.substr(0, r.out.find('\n'));
    std::size_t at = 0;
    bool first = true;
    while (at <= line.size()) {
      std::size_t sp = line.find(' ', at);
      if (sp == std::string::npos) sp = line.size();
      std::string tok = line.substr(at, sp - at);
      if (first) {
        EXPECT_EQ(tok, name) << r.out << r.err;
        first = false;
      } else if (auto eq = tok.find('='); eq != std::string::npos) {
        o[tok.substr(0, eq)] = percent_decode(tok.substr(eq + 1));
      }
      at = sp + 1;
    }
    return o;
  }

  std::shared_ptr<Ends> ends_ = std::make_shared<Ends>();
  std::unique_ptr<tern::Server> server;
};

TEST_F(GoClientToTernProvider, Unary) {
  auto o = go_client("unary");
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["text"], "hello, go");
  EXPECT_EQ(o["remaining_ms"], "-1");  // no grpc-timeout, no deadline
}

TEST_F(GoClientToTernProvider, Metadata) {
  auto o = go_client("metadata");
  ASSERT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["text"], "hello, md");
  EXPECT_EQ(o["user"], "gopher");
  EXPECT_EQ(o["token_hex"], "0100fe");  // x-token-bin, base64 on the wire
  // grpc-timeout (5 s) became the handler's deadline.
  auto remaining = std::stoll(o["remaining_ms"]);
  EXPECT_GT(remaining, 0);
  EXPECT_LE(remaining, 5000);
  EXPECT_EQ(o["trailer_x_served_by"], "tern");
  EXPECT_EQ(o["trailer_x_raw_bin_hex"], "00ff10");
}

TEST_F(GoClientToTernProvider, ErrorStatus) {
  auto o = go_client("error");
  EXPECT_EQ(o["code"], "PermissionDenied");
  EXPECT_EQ(o["msg"], "no entry for zoë (100%)");  // percent-encoded grpc-message, UTF-8
}

TEST_F(GoClientToTernProvider, Unimplemented) {
  auto o = go_client("unimplemented");
  EXPECT_EQ(o["code"], "Unimplemented") << o["msg"];
}

TEST_F(GoClientToTernProvider, DeadlineExpiry) {
  auto o = go_client("deadline");  // 200 ms deadline, a 3 s handler
  EXPECT_EQ(o["code"], "DeadlineExceeded") << o["msg"];
  EXPECT_LT(std::stoll(o["elapsed_ms"]), 2000);
  // The handler saw its deadline pass (or the client's RST_STREAM) and stopped early.
  EXPECT_TRUE(testutil::wait_until([&] {
    std::lock_guard<std::mutex> l(ends_->mu);
    return ends_->slow_hello.count("slow") == 1;
  }));
}

TEST_F(GoClientToTernProvider, ServerStreaming) {
  auto o = go_client("server_stream");
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["received"], "2000");
  EXPECT_EQ(o["in_order"], "true");
}

TEST_F(GoClientToTernProvider, ClientStreaming) {
  auto o = go_client("client_stream");
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["total"], "5050");
  EXPECT_EQ(o["count"], "100");
}

TEST_F(GoClientToTernProvider, Bidi) {
  auto o = go_client("bidi");
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["doubled"], "50");
}

TEST_F(GoClientToTernProvider, Cancellation) {
  auto o = go_client("cancel");
  EXPECT_EQ(o["ack"], "7");
  EXPECT_EQ(o["code"], "Canceled") << o["msg"];
  EXPECT_EQ(o["after"], "OK:hello, after");  // the connection serves on
  // The client's RST_STREAM(CANCEL) reached the stream handler.
  ASSERT_TRUE(testutil::wait_until([&] { return ends_->hang_status(7).has_value(); }));
  EXPECT_EQ(ends_->hang_status(7)->code(), StatusCode::kCancelled) << ends_->hang_status(7)->to_string();
}

TEST_F(GoClientToTernProvider, StreamDeadline) {
  auto o = go_client("stream_deadline");  // 300 ms on a stream that never ends
  EXPECT_EQ(o["ack"], "8");
  EXPECT_EQ(o["code"], "DeadlineExceeded") << o["msg"];
  EXPECT_LT(std::stoll(o["elapsed_ms"]), 2000);
  EXPECT_EQ(o["after"], "OK:hello, after");
  ASSERT_TRUE(testutil::wait_until([&] { return ends_->hang_status(8).has_value(); }));
  auto code = ends_->hang_status(8)->code();
  EXPECT_TRUE(code == StatusCode::kDeadlineExceeded || code == StatusCode::kCancelled)
      << ends_->hang_status(8)->to_string();
}

TEST_F(GoClientToTernProvider, Gzip) {
  auto o = go_client("gzip");  // a gzip-compressed request (grpc-encoding: gzip)
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["text_ok"], "true");
}

TEST_F(GoClientToTernProvider, EmptyMessages) {
  auto o = go_client("empty");  // zero-length messages: an empty HelloRequest, CountRequest{n: 0}
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["text"], "hello, ");
  EXPECT_EQ(o["reply_len"], "20");  // text (9) + remaining_ms -1 (11)
  EXPECT_EQ(o["count_code"], "OK");
  EXPECT_EQ(o["count_received"], "0");
}

TEST_F(GoClientToTernProvider, ConcurrentStreams) {
  auto o = go_client("concurrent");  // 100 bidi streams at once on one connection
  EXPECT_EQ(o["ok_streams"], "100") << o["codes"];
  EXPECT_EQ(o["codes"], "OK:100");
}

TEST_F(GoClientToTernProvider, BigStreamMessages) {
  // Four 2 MiB messages through Hang's echo, written while read: past the
  // HTTP/2 windows and the stream core's 1 MiB byte window, both ways.
  auto o = go_client("big_stream");
  EXPECT_EQ(o["send"], "OK");
  EXPECT_EQ(o["echoed"], "4");
  EXPECT_EQ(o["after"], "OK:hello, after");
  ASSERT_TRUE(testutil::wait_until([&] { return ends_->hang_status(1).has_value(); }));
  EXPECT_EQ(ends_->hang_status(1)->code(), StatusCode::kCancelled) << ends_->hang_status(1)->to_string();
}

TEST_F(GoClientToTernProvider, StalledStreamDoesNotBlockTheConnection) {
  auto o = go_client("stalled_stream");
  EXPECT_EQ(o["open"], "OK");
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["text"], "hello, beside");
  EXPECT_EQ(o["after"], "OK:hello, after");
}

TEST_F(GoClientToTernProvider, FourMiBMessage) {
  auto o = go_client("large");  // 4 MiB payload, echoed back in the reply's token
  EXPECT_EQ(o["code"], "OK") << o["msg"];
  EXPECT_EQ(o["text"], "hello, big");
  EXPECT_EQ(o["token_len"], std::to_string(4u << 20));
  EXPECT_EQ(o["token_equal"], "true");
}

// ---- Tern consumer -> Go server -------------------------------------------

// One unary call through a Reference: protobuf in, protobuf out, trailers.
template <typename Req, typename Resp>
Status call(tern::Reference& ref, std::string_view method, const Req& req, Resp* resp,
            const tern::CallOptions* options = nullptr, tern::StreamMetadata* trailers = nullptr,
            std::chrono::milliseconds timeout = 0ms) {
  tern::protocol::FrameBuilder b(tern::protocol::FrameType::kRequest, 0);
  Status st = ref.new_request(method, false, options, &b);
  if (!st.is_ok()) return st;
  b.begin_body();
  b.append_body(req.SerializeAsString());
  std::promise<tern::CallResult> p;
  ref.invoke(method, b.finish(), timeout, [&](tern::CallResult r) { p.set_value(std::move(r)); });
  tern::CallResult r = p.get_future().get();
  if (!r.status.is_ok()) return r.status;
  if (!resp->ParseFromArray(r.body().data(), static_cast<int>(r.body().size()))) {
    return Status(StatusCode::kInternal, "reply does not parse");
  }
  if (trailers) {
    (void)tern::protocol::for_each_meta(r.frame.meta(), [&](std::string_view k, std::string_view v) {
      trailers->emplace_back(std::string(k), std::string(v));
    });
  }
  return Status();
}

std::string find(const tern::StreamMetadata& md, std::string_view key) {
  for (const auto& [k, v] : md) {
    if (k == key) return v;
  }
  return "<absent>";
}

class TernConsumerToGoServer : public ::testing::Test {
 protected:
  // One Go server for the suite.
  static void SetUpTestSuite() {
    if (go_greeter().binary.empty()) return;
    go_ = new testutil::Subprocess({go_greeter().binary, "serve"}, testutil::Inherit::kNothing);
    port_ = go_->wait_for_port(30s);
  }
  static void TearDownTestSuite() {
    if (go_) go_->close_stdin_and_wait();
    delete go_;
    go_ = nullptr;
  }
  void SetUp() override {
    ASSERT_FALSE(go_greeter().binary.empty()) << go_greeter().error;
    ASSERT_GT(port_, 0) << "the Go server did not print its port";
    client = std::make_unique<tern::Client>(testutil::one_io());
    tern::ReferenceOptions ro;
    ro.serialization = "protobuf";
    ro.timeout = 5000ms;
    ref = client->reference("terngrpc.Greeter", "grpc://127.0.0.1:" + std::to_string(port_), ro).value();
    ASSERT_TRUE(ref->wait_for_providers(2s));
  }
  // Reads the Go server's stdout until a line starting with `prefix`; that
  // line, or "" after `timeout`.
  static std::string wait_event(const std::string& prefix, std::chrono::milliseconds timeout = 5s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      auto line = go_->read_line(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()));
      if (line.rfind(prefix, 0) == 0) return line;
    }
    return "";
  }

  static inline testutil::Subprocess* go_ = nullptr;
  static inline int port_ = 0;
  std::unique_ptr<tern::Client> client;
  std::shared_ptr<tern::Reference> ref;
};

TEST_F(TernConsumerToGoServer, Unary) {
  terngrpc::HelloRequest req;
  req.set_name("tern");
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Hello", req, &reply);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.text(), "hello, tern");
  // The reference's 5 s timeout went out as grpc-timeout.
  EXPECT_GT(reply.remaining_ms(), 0);
  EXPECT_LE(reply.remaining_ms(), 5000);
}

TEST_F(TernConsumerToGoServer, Metadata) {
  tern::CallOptions co;
  co.attachments = {{"x-user", "alice"}, {"x-token-bin", std::string("\x00\x7f\x80", 3)}};
  terngrpc::HelloRequest req;
  req.set_name("md");
  terngrpc::HelloReply reply;
  tern::StreamMetadata trailers;
  Status st = call(*ref, "Hello", req, &reply, &co, &trailers, 2000ms);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.user(), "alice");
  EXPECT_EQ(hex(reply.token()), "007f80");
  EXPECT_GT(reply.remaining_ms(), 0);
  EXPECT_LE(reply.remaining_ms(), 2000);
  EXPECT_EQ(find(trailers, "x-served-by"), "grpc-go");
  EXPECT_EQ(hex(find(trailers, "x-raw-bin")), "0001ff");
}

TEST_F(TernConsumerToGoServer, ErrorStatus) {
  terngrpc::HelloRequest req;
  req.set_name("zoë");
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Fail", req, &reply);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied) << st.to_string();
  EXPECT_EQ(st.message(), "no entry for zoë (100%)");
}

TEST_F(TernConsumerToGoServer, Unimplemented) {
  terngrpc::HelloRequest req;
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Nope", req, &reply);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << st.to_string();
}

TEST_F(TernConsumerToGoServer, DeadlineExpiry) {
  terngrpc::HelloRequest req;
  req.set_name("slow-consumer");
  req.set_delay_ms(3000);
  terngrpc::HelloReply reply;
  auto t0 = std::chrono::steady_clock::now();
  Status st = call(*ref, "Hello", req, &reply, nullptr, nullptr, 150ms);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
  // grpc-go's handler saw its context end (its own deadline or our RST_STREAM).
  auto ev = wait_event("EVENT hello-ended name=slow-consumer ");
  EXPECT_TRUE(ev.ends_with("err=DeadlineExceeded") || ev.ends_with("err=Canceled")) << ev;
}

TEST_F(TernConsumerToGoServer, ServerStreaming) {
  auto s = ClientStream<terngrpc::CountRequest, terngrpc::Num>::open(*ref, "Count").value();
  terngrpc::CountRequest req;
  req.set_n(2000);
  ASSERT_TRUE(s.write_sync(req).is_ok());
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  std::int64_t expect = 1;
  while (auto n = s.read_sync()) {
    ASSERT_EQ(n->value(), expect);
    ++expect;
  }
  EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
  EXPECT_EQ(expect, 2001);
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(TernConsumerToGoServer, ClientStreaming) {
  auto s = ClientStream<terngrpc::Num, terngrpc::SumReply>::open(*ref, "Sum").value();
  for (int i = 1; i <= 100; ++i) {
    terngrpc::Num n;
    n.set_value(i);
    ASSERT_TRUE(s.write_sync(n).is_ok());
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  auto r = s.read_sync();
  ASSERT_TRUE(r.has_value()) << s.status().to_string();
  EXPECT_EQ(r->total(), 5050);
  EXPECT_EQ(r->count(), 100);
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(TernConsumerToGoServer, Bidi) {
  auto s = ClientStream<terngrpc::Num, terngrpc::Num>::open(*ref, "Chat").value();
  for (int i = 1; i <= 50; ++i) {
    terngrpc::Num n;
    n.set_value(i);
    ASSERT_TRUE(s.write_sync(n).is_ok());
    auto back = s.read_sync();
    ASSERT_TRUE(back.has_value()) << s.status().to_string();
    EXPECT_EQ(back->value(), 2 * i);
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(TernConsumerToGoServer, Cancellation) {
  auto s = ClientStream<terngrpc::Num, terngrpc::Num>::open(*ref, "Hang").value();
  terngrpc::Num n;
  n.set_value(11);
  ASSERT_TRUE(s.write_sync(n).is_ok());
  auto ack = s.read_sync();  // the handler runs: cancel it now
  ASSERT_TRUE(ack.has_value()) << s.status().to_string();
  EXPECT_EQ(ack->value(), 11);
  s.cancel();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kCancelled);
  EXPECT_EQ(wait_event("EVENT hang-ended first=11 "), "EVENT hang-ended first=11 code=Canceled");
}

TEST_F(TernConsumerToGoServer, StreamDeadline) {
  tern::CallOptions co;
  co.timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto s = ClientStream<terngrpc::Num, terngrpc::Num>::open(*ref, "Hang", &co).value();
  terngrpc::Num n;
  n.set_value(12);
  ASSERT_TRUE(s.write_sync(n).is_ok());
  auto ack = s.read_sync();
  ASSERT_TRUE(ack.has_value()) << s.status().to_string();
  EXPECT_EQ(ack->value(), 12);
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_EQ(s.status().code(), StatusCode::kDeadlineExceeded) << s.status().to_string();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
  auto ev = wait_event("EVENT hang-ended first=12 ");
  EXPECT_TRUE(ev.ends_with("code=DeadlineExceeded") || ev.ends_with("code=Canceled")) << ev;
}

TEST_F(TernConsumerToGoServer, Gzip) {
  // A second Go server that gzip-compresses every response message.
  testutil::Subprocess gz({go_greeter().binary, "serve", "gzip"}, testutil::Inherit::kNothing);
  int port = gz.wait_for_port(30s);
  ASSERT_GT(port, 0);
  tern::ReferenceOptions ro;
  ro.serialization = "protobuf";
  auto gref = client->reference("terngrpc.Greeter", "grpc://127.0.0.1:" + std::to_string(port), ro).value();
  ASSERT_TRUE(gref->wait_for_providers(2s));
  terngrpc::HelloRequest req;
  req.set_name(std::string(10000, 'z'));
  terngrpc::HelloReply reply;
  Status st = call(*gref, "Hello", req, &reply);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.text(), "hello, " + std::string(10000, 'z'));
  auto s = ClientStream<terngrpc::CountRequest, terngrpc::Num>::open(*gref, "Count").value();
  terngrpc::CountRequest creq;
  creq.set_n(100);
  ASSERT_TRUE(s.write_sync(creq).is_ok());
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  std::int64_t expect = 1;
  while (auto n = s.read_sync()) {
    ASSERT_EQ(n->value(), expect);
    ++expect;
  }
  EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
  EXPECT_EQ(expect, 101);
}

TEST_F(TernConsumerToGoServer, EmptyMessages) {
  terngrpc::HelloRequest req;  // serializes to zero bytes
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Hello", req, &reply);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.text(), "hello, ");
  auto s = ClientStream<terngrpc::CountRequest, terngrpc::Num>::open(*ref, "Count").value();
  ASSERT_TRUE(s.write_sync(terngrpc::CountRequest()).is_ok());
  // No writes_done: grpc-go's Count ends the stream (OK) as soon as it has
  // its request, and the stream core answers a half-close after an ended
  // stream with FAILED_PRECONDITION "the stream has ended" (stream_hub.cc).
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(TernConsumerToGoServer, ConcurrentStreams) {
  // 100 bidi streams open at once on the reference's one connection, 10
  // round trips each, interleaved across the streams.
  std::vector<ClientStream<terngrpc::Num, terngrpc::Num>> streams;
  for (int i = 0; i < 100; ++i) streams.push_back(ClientStream<terngrpc::Num, terngrpc::Num>::open(*ref, "Chat").value());
  for (int k = 1; k <= 10; ++k) {
    for (int i = 0; i < 100; ++i) {
      terngrpc::Num n;
      n.set_value(i * 1000 + k);
      ASSERT_TRUE(streams[i].write_sync(n).is_ok()) << i;
    }
    for (int i = 0; i < 100; ++i) {
      auto back = streams[i].read_sync();
      ASSERT_TRUE(back.has_value()) << i << ": " << streams[i].status().to_string();
      ASSERT_EQ(back->value(), 2 * (i * 1000 + k));
    }
  }
  for (auto& s : streams) {
    ASSERT_TRUE(s.writes_done_sync().is_ok());
    EXPECT_FALSE(s.read_sync().has_value());
    EXPECT_TRUE(s.finish_sync().is_ok());
  }
}

TEST_F(TernConsumerToGoServer, BigStreamMessages) {
  // Four 2 MiB messages through Hang's echo (grpc-go echoes the bytes as they
  // came), written while another thread reads the echoes.
  auto s = ClientStream<terngrpc::HelloRequest, terngrpc::HelloRequest>::open(*ref, "Hang").value();
  auto msg = [](int i) {
    terngrpc::HelloRequest m;
    m.set_payload(std::string(2u << 20, static_cast<char>('a' + i)));
    return m;
  };
  std::promise<int> echoed;
  std::thread reader([&] {
    int good = 0;
    for (int i = 1; i <= 4; ++i) {
      auto m = s.read_sync();
      if (!m) break;
      if (m->payload() == msg(i).payload()) ++good;
    }
    echoed.set_value(good);
  });
  for (int i = 1; i <= 4; ++i) EXPECT_TRUE(s.write_sync(msg(i)).is_ok()) << i;
  auto good = echoed.get_future();
  EXPECT_EQ(good.wait_for(30s), std::future_status::ready);
  reader.join();
  EXPECT_EQ(good.get(), 4);
  s.cancel();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kCancelled);
  EXPECT_EQ(wait_event("EVENT hang-ended first=0 "), "EVENT hang-ended first=0 code=Canceled");
}

TEST_F(TernConsumerToGoServer, StalledStreamDoesNotBlockTheConnection) {
  // Count streams a million Nums that nobody reads: flow control stops the
  // Go server's writer, and a unary call on the same connection still works.
  tern::CallOptions co;
  co.timeout = 60s;  // filling the windows with tiny messages takes seconds
  auto s = ClientStream<terngrpc::CountRequest, terngrpc::Num>::open(*ref, "Count", &co).value();
  terngrpc::CountRequest req;
  req.set_n(1000000);
  ASSERT_TRUE(s.write_sync(req).is_ok());
  EXPECT_EQ(wait_event("EVENT count-blocked ", 10s), "EVENT count-blocked n=1000000");
  terngrpc::HelloRequest hreq;
  hreq.set_name("beside");
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Hello", hreq, &reply, nullptr, nullptr, 3000ms);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.text(), "hello, beside");
  s.cancel();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kCancelled);
}

TEST_F(TernConsumerToGoServer, FourMiBMessage) {
  std::string payload(4u << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  terngrpc::HelloRequest req;
  req.set_name("big");
  req.set_payload(payload);
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Hello", req, &reply);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.text(), "hello, big");
  EXPECT_EQ(reply.token().size(), payload.size());
  EXPECT_TRUE(reply.token() == payload);
}

}  // namespace
