// gRPC wire compatibility, consumer side: a Tern consumer with a grpc://
// reference calls a gRPC C++ server (grpc::ServerBuilder, an implementation no
// one here wrote) over h2c: unary calls with attachments and trailers, error
// statuses, deadlines and their expiry, cancellation, server, client and
// bidirectional streams, and failover between two servers.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>

#include "greeter.grpc.pb.h"
#include "greeter.pb.h"
#include "loopback.h"
#include "tern/client.h"
#include "tern/stream.h"
#include "wait_until.h"

using namespace std::chrono_literals;
using tern::ClientStream;
using tern::Status;
using tern::StatusCode;

namespace {

class GreeterImpl final : public terngrpc::Greeter::Service {
 public:
  std::atomic<int> hello_calls{0};
  std::atomic<bool> hang_cancelled{false};
  std::string name;

  grpc::Status Hello(grpc::ServerContext* ctx, const terngrpc::HelloRequest* req,
                     terngrpc::HelloReply* reply) override {
    ++hello_calls;
    if (req->delay_ms() > 0) {
      auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(req->delay_ms());
      while (std::chrono::steady_clock::now() < until && !ctx->IsCancelled()) std::this_thread::sleep_for(1ms);
    }
    reply->set_text(name + "hello, " + req->name());
    auto md = ctx->client_metadata();
    if (auto it = md.find("x-user"); it != md.end()) reply->set_user(std::string(it->second.data(), it->second.size()));
    if (auto it = md.find("x-token-bin"); it != md.end()) {
      reply->set_token(std::string(it->second.data(), it->second.size()));
    }
    auto deadline = ctx->deadline();
    reply->set_remaining_ms(deadline == std::chrono::system_clock::time_point::max()
                                ? -1
                                : std::chrono::duration_cast<std::chrono::milliseconds>(
                                      deadline - std::chrono::system_clock::now())
                                      .count());
    ctx->AddTrailingMetadata("x-served-by", "grpc");
    ctx->AddTrailingMetadata("x-raw-bin", std::string("\x00\x01\xff", 3));
    return grpc::Status::OK;
  }
  grpc::Status Fail(grpc::ServerContext*, const terngrpc::HelloRequest* req, terngrpc::HelloReply*) override {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no entry for " + req->name() + " (100%)");
  }
  grpc::Status Count(grpc::ServerContext*, const terngrpc::CountRequest* req,
                     grpc::ServerWriter<terngrpc::Num>* writer) override {
    for (int i = 1; i <= req->n(); ++i) {
      terngrpc::Num n;
      n.set_value(i);
      if (!writer->Write(n)) return grpc::Status(grpc::StatusCode::CANCELLED, "reader gone");
    }
    return grpc::Status::OK;
  }
  grpc::Status Sum(grpc::ServerContext*, grpc::ServerReader<terngrpc::Num>* reader,
                   terngrpc::SumReply* reply) override {
    terngrpc::Num n;
    while (reader->Read(&n)) {
      reply->set_total(reply->total() + n.value());
      reply->set_count(reply->count() + 1);
    }
    return grpc::Status::OK;
  }
  grpc::Status Chat(grpc::ServerContext*, grpc::ServerReaderWriter<terngrpc::Num, terngrpc::Num>* rw) override {
    terngrpc::Num n;
    while (rw->Read(&n)) {
      terngrpc::Num out;
      out.set_value(n.value() * 2);
      rw->Write(out);
    }
    return grpc::Status::OK;
  }
  grpc::Status Hang(grpc::ServerContext* ctx, grpc::ServerReaderWriter<terngrpc::Num, terngrpc::Num>* rw) override {
    terngrpc::Num n;
    while (rw->Read(&n)) {
    }
    if (ctx->IsCancelled()) hang_cancelled = true;
    return grpc::Status::OK;
  }
};

struct GrpcServer {
  explicit GrpcServer(std::string tag = "") {
    impl.name = std::move(tag);
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    b.RegisterService(&impl);
    server = b.BuildAndStart();
  }
  ~GrpcServer() { server->Shutdown(std::chrono::system_clock::now() + 1s); }
  GreeterImpl impl;
  int port = 0;
  std::unique_ptr<grpc::Server> server;
};

// One unary call through a Reference: protobuf in, protobuf out.
template <typename Req, typename Resp>
Status call(tern::Reference& ref, std::string_view method, const Req& req, Resp* resp,
            const tern::CallOptions* options = nullptr, tern::StreamMetadata* response_md = nullptr,
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
  if (response_md) {
    (void)tern::protocol::for_each_meta(r.frame.meta(), [&](std::string_view k, std::string_view v) {
      response_md->emplace_back(std::string(k), std::string(v));
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

struct GrpcConsumer : ::testing::Test {
  void SetUp() override {
    client = std::make_unique<tern::Client>(testutil::one_io());
    tern::ReferenceOptions ro;
    ro.serialization = "protobuf";
    ro.timeout = 5000ms;
    ref = client->reference("terngrpc.Greeter", "grpc://127.0.0.1:" + std::to_string(server.port), ro).value();
    ASSERT_TRUE(ref->wait_for_providers(2s));
  }
  GrpcServer server;
  std::unique_ptr<tern::Client> client;
  std::shared_ptr<tern::Reference> ref;
};

TEST_F(GrpcConsumer, UnaryWithAttachmentsTrailersAndDeadline) {
  tern::CallOptions co;
  co.attachments = {{"x-user", "alice"}, {"x-token-bin", std::string("\x00\x7f\x80", 3)}};
  co.timeout = 2000ms;
  terngrpc::HelloRequest req;
  req.set_name("tern");
  terngrpc::HelloReply reply;
  tern::StreamMetadata trailers;
  Status st = call(*ref, "Hello", req, &reply, &co, &trailers, 2000ms);
  ASSERT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(reply.text(), "hello, tern");
  EXPECT_EQ(reply.user(), "alice");
  EXPECT_EQ(reply.token(), std::string("\x00\x7f\x80", 3));
  EXPECT_GT(reply.remaining_ms(), 0);
  EXPECT_LE(reply.remaining_ms(), 2000);
  EXPECT_EQ(find(trailers, "x-served-by"), "grpc");
  EXPECT_EQ(find(trailers, "x-raw-bin"), std::string("\x00\x01\xff", 3));
}

TEST_F(GrpcConsumer, ManyCallsInParallelOnOneConnection) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        terngrpc::HelloRequest req;
        req.set_name(std::to_string(t * 100 + i));
        terngrpc::HelloReply reply;
        if (call(*ref, "Hello", req, &reply).is_ok() && reply.text() == "hello, " + std::to_string(t * 100 + i)) ++ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), 400);
}

TEST_F(GrpcConsumer, ErrorStatusAndMessage) {
  terngrpc::HelloRequest req;
  req.set_name("mallory");
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Fail", req, &reply);
  EXPECT_EQ(st.code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(), "no entry for mallory (100%)");
}

TEST_F(GrpcConsumer, UnknownMethodIsUnimplemented) {
  terngrpc::HelloRequest req;
  terngrpc::HelloReply reply;
  Status st = call(*ref, "Nope", req, &reply);
  EXPECT_EQ(st.code(), StatusCode::kUnimplemented) << st.to_string();
}

TEST_F(GrpcConsumer, DeadlineExpiresAndTheServerSeesTheCancel) {
  terngrpc::HelloRequest req;
  req.set_name("slow");
  req.set_delay_ms(3000);
  terngrpc::HelloReply reply;
  auto t0 = std::chrono::steady_clock::now();
  Status st = call(*ref, "Hello", req, &reply, nullptr, nullptr, 150ms);
  EXPECT_EQ(st.code(), StatusCode::kDeadlineExceeded) << st.to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2000ms);
}

TEST_F(GrpcConsumer, ServerStreaming) {
  auto s = ClientStream<terngrpc::CountRequest, terngrpc::Num>::open(*ref, "Count").value();
  terngrpc::CountRequest req;
  req.set_n(1000);
  ASSERT_TRUE(s.write_sync(req).is_ok());
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  std::int64_t expect = 1;
  while (auto n = s.read_sync()) {
    ASSERT_EQ(n->value(), expect);
    ++expect;
  }
  EXPECT_TRUE(s.status().is_ok()) << s.status().to_string();
  EXPECT_EQ(expect, 1001);
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(GrpcConsumer, ClientStreaming) {
  auto s = ClientStream<terngrpc::Num, terngrpc::SumReply>::open(*ref, "Sum").value();
  for (int i = 1; i <= 200; ++i) {
    terngrpc::Num n;
    n.set_value(i);
    ASSERT_TRUE(s.write_sync(n).is_ok());
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  auto r = s.read_sync();
  ASSERT_TRUE(r.has_value()) << s.status().to_string();
  EXPECT_EQ(r->total(), 20100);
  EXPECT_EQ(r->count(), 200);
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(GrpcConsumer, BidirectionalInterleaved) {
  auto s = ClientStream<terngrpc::Num, terngrpc::Num>::open(*ref, "Chat").value();
  for (int i = 1; i <= 100; ++i) {
    terngrpc::Num n;
    n.set_value(i);
    ASSERT_TRUE(s.write_sync(n).is_ok());
    auto back = s.read_sync();
    ASSERT_TRUE(back.has_value()) << s.status().to_string();
    EXPECT_EQ(back->value(), 2 * i);
  }
  ASSERT_TRUE(s.writes_done_sync().is_ok());
  EXPECT_FALSE(s.read_sync().has_value());
  EXPECT_TRUE(s.finish_sync().is_ok());
}

TEST_F(GrpcConsumer, CancelReachesTheGrpcServer) {
  auto s = ClientStream<terngrpc::Num, terngrpc::Num>::open(*ref, "Hang").value();
  terngrpc::Num n;
  n.set_value(1);
  ASSERT_TRUE(s.write_sync(n).is_ok());
  s.cancel();
  EXPECT_EQ(s.finish_sync().code(), StatusCode::kCancelled);
  EXPECT_TRUE(testutil::wait_until([&] { return server.impl.hang_cancelled.load(); }, 5s));
}

TEST(GrpcConsumerCluster, FailoverSkipsADeadServer) {
  GrpcServer a("a:");
  int dead_port = 0;
  {
    GrpcServer gone;  // its port is closed once it is gone
    dead_port = gone.port;
  }
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.serialization = "protobuf";
  ro.load_balance = "round_robin";
  ro.retries = 2;
  auto ref = client.reference("terngrpc.Greeter",
                              "grpc://127.0.0.1:" + std::to_string(dead_port) + ",127.0.0.1:" + std::to_string(a.port),
                              ro)
                 .value();
  ASSERT_TRUE(ref->wait_for_providers(2s));
  for (int i = 0; i < 6; ++i) {
    terngrpc::HelloRequest req;
    req.set_name("x");
    terngrpc::HelloReply reply;
    Status st = call(*ref, "Hello", req, &reply);
    ASSERT_TRUE(st.is_ok()) << i << ": " << st.to_string();
    EXPECT_EQ(reply.text(), "a:hello, x");
  }
  EXPECT_EQ(a.impl.hello_calls.load(), 6);
}

}  // namespace
