// gRPC wire compatibility, provider side: a Tern server exposes
// terngrpc.Greeter (tests/grpc/greeter.proto) through Tern's generic and
// stream APIs, and gRPC C++ (libgrpc++, an implementation no one here wrote)
// calls it over h2c on the same port that also serves Tern consumers:
// unary calls with metadata both ways, status codes and percent-encoded
// messages, deadlines from grpc-timeout, gzip requests, size limits, server,
// client and bidirectional streams, cancellation by RST_STREAM.
#include <grpcpp/generic/generic_stub.h>
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
#include "tern/server.h"
#include "tern/server_context.h"
#include "tern/stream.h"

using namespace std::chrono_literals;
using tern::ServerStream;
using tern::Status;
using tern::StatusCode;
using tern::Task;

namespace {

// Provider-side observations.
struct Seen {
  std::promise<Status> hang_end;
  std::atomic<bool> hang_set{false};
};

// Unary handlers at the generic level: protobuf in, protobuf out.
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

class GrpcInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    tern::ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.limits.max_body = 1u << 20;  // 1 MiB: the size test goes past it
    server = std::make_unique<tern::Server>(so);
    ASSERT_TRUE(server
                    ->add_method("terngrpc.Greeter", "Hello",
                                 protobuf_handler<terngrpc::HelloRequest, terngrpc::HelloReply>(
                                     [](const terngrpc::HelloRequest& req, terngrpc::HelloReply& resp,
                                        tern::ServerContext& ctx) {
                                       if (req.delay_ms() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(req.delay_ms()));
                                       resp.set_text("hello, " + req.name());
                                       auto rem = ctx.remaining();
                                       resp.set_remaining_ms(ctx.deadline() == std::chrono::steady_clock::time_point::max()
                                                                 ? -1
                                                                 : rem.count());
                                       resp.set_user(std::string(ctx.attachment("x-user")));
                                       resp.set_token(std::string(ctx.attachment("x-token-bin")));
                                       ctx.set_response_attachment("x-served-by", "tern");
                                       ctx.set_response_attachment("x-raw-bin", std::string("\x00\xff\x10", 3));
                                       return Status();
                                     }))
                    .is_ok());
    ASSERT_TRUE(server
                    ->add_method("terngrpc.Greeter", "Fail",
                                 protobuf_handler<terngrpc::HelloRequest, terngrpc::HelloReply>(
                                     [](const terngrpc::HelloRequest& req, terngrpc::HelloReply&, tern::ServerContext&) {
                                       return Status(StatusCode::kNotFound, "no user '" + req.name() + "' (100% sure)");
                                     }))
                    .is_ok());
    auto add = [&](tern::Status s) { ASSERT_TRUE(s.is_ok()) << s.to_string(); };
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
    auto seen = seen_;
    add(server->add_stream_method<terngrpc::Num, terngrpc::Num>(
        "terngrpc.Greeter", "Hang", [seen](ServerStream<terngrpc::Num, terngrpc::Num>& s) -> Task<Status> {
          while (co_await s.read()) {
          }
          if (!seen->hang_set.exchange(true)) seen->hang_end.set_value(s.status());
          co_return s.status();
        }));
    auto st = server->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    target = "127.0.0.1:" + std::to_string(server->port());
    channel = grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
    stub = terngrpc::Greeter::NewStub(channel);
  }
  void TearDown() override {
    stub.reset();
    channel.reset();
    if (server) server->shutdown(1000ms);
  }

  std::shared_ptr<Seen> seen_ = std::make_shared<Seen>();
  std::unique_ptr<tern::Server> server;
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<terngrpc::Greeter::Stub> stub;
};

TEST_F(GrpcInterop, UnaryCallWithMetadataBothWays) {
  grpc::ClientContext ctx;
  ctx.AddMetadata("x-user", "bob");
  ctx.AddMetadata("x-token-bin", std::string("\x01\x00\xfe", 3));
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  terngrpc::HelloRequest req;
  req.set_name("grpc");
  terngrpc::HelloReply reply;
  grpc::Status st = stub->Hello(&ctx, req, &reply);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(reply.text(), "hello, grpc");
  EXPECT_EQ(reply.user(), "bob");
  EXPECT_EQ(reply.token(), std::string("\x01\x00\xfe", 3));
  // grpc-timeout became the call's deadline on the provider. gRPC C++ rounds
  // the timeout it sends up to a coarser unit (10 ms steps around 5 s: 5000.1 ms
  // goes out as "501" tens of ms), so the provider may see a little over 5 s.
  EXPECT_GT(reply.remaining_ms(), 0);
  EXPECT_LE(reply.remaining_ms(), 5100);
  const auto& trailers = ctx.GetServerTrailingMetadata();
  auto by = trailers.find("x-served-by");
  ASSERT_NE(by, trailers.end());
  EXPECT_EQ(std::string(by->second.data(), by->second.size()), "tern");
  auto raw = trailers.find("x-raw-bin");
  ASSERT_NE(raw, trailers.end());
  EXPECT_EQ(std::string(raw->second.data(), raw->second.size()), std::string("\x00\xff\x10", 3));
}

TEST_F(GrpcInterop, ManyUnaryCallsOnOneConnection) {
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    terngrpc::HelloRequest req;
    req.set_name(std::to_string(i));
    terngrpc::HelloReply reply;
    grpc::Status st = stub->Hello(&ctx, req, &reply);
    ASSERT_TRUE(st.ok()) << i << ": " << st.error_message();
    ASSERT_EQ(reply.text(), "hello, " + std::to_string(i));
    EXPECT_EQ(reply.remaining_ms(), -1);  // no deadline sent
  }
}

TEST_F(GrpcInterop, ErrorStatusAndPercentEncodedMessage) {
  grpc::ClientContext ctx;
  terngrpc::HelloRequest req;
  req.set_name("zoë");
  terngrpc::HelloReply reply;
  grpc::Status st = stub->Fail(&ctx, req, &reply);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(), "no user 'zoë' (100% sure)");
}

TEST_F(GrpcInterop, UnknownMethodAndServiceAreUnimplemented) {
  // A generic call to a path the provider does not serve.
  grpc::GenericStub generic(channel);
  for (const char* path : {"/terngrpc.Greeter/Nope", "/no.Such/Method"}) {
    grpc::ClientContext ctx;
    grpc::Slice empty(std::string("\x0a\x01x"));  // a HelloRequest with name "x"
    grpc::ByteBuffer req(&empty, 1), resp;
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, path, grpc::StubOptions(), &req, &resp,
                      [&](grpc::Status s) { done.set_value(std::move(s)); });
    grpc::Status st = done.get_future().get();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << path << ": " << st.error_message();
  }
}

TEST_F(GrpcInterop, DeadlineExceededWhenTheHandlerIsSlow) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 100ms);
  terngrpc::HelloRequest req;
  req.set_name("slow");
  req.set_delay_ms(400);
  terngrpc::HelloReply reply;
  grpc::Status st = stub->Hello(&ctx, req, &reply);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

TEST_F(GrpcInterop, GzipCompressedRequest) {
  grpc::ClientContext ctx;
  ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  terngrpc::HelloRequest req;
  req.set_name(std::string(10000, 'z'));  // compressible, above gRPC's threshold
  terngrpc::HelloReply reply;
  grpc::Status st = stub->Hello(&ctx, req, &reply);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(reply.text(), "hello, " + std::string(10000, 'z'));
}

TEST_F(GrpcInterop, MessageOverTheProvidersLimitIsResourceExhausted) {
  grpc::ClientContext ctx;
  terngrpc::HelloRequest req;
  req.set_payload(std::string(2u << 20, 'p'));  // 2 MiB, the provider takes 1 MiB
  terngrpc::HelloReply reply;
  grpc::Status st = stub->Hello(&ctx, req, &reply);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  // The connection keeps serving.
  grpc::ClientContext ctx2;
  terngrpc::HelloRequest ok;
  ok.set_name("after");
  ASSERT_TRUE(stub->Hello(&ctx2, ok, &reply).ok());
  EXPECT_EQ(reply.text(), "hello, after");
}

TEST_F(GrpcInterop, ServerStreamingInOrder) {
  grpc::ClientContext ctx;
  terngrpc::CountRequest req;
  req.set_n(2000);
  auto reader = stub->Count(&ctx, req);
  terngrpc::Num n;
  std::int64_t expect = 1;
  while (reader->Read(&n)) {
    ASSERT_EQ(n.value(), expect);
    ++expect;
  }
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(expect, 2001);
}

TEST_F(GrpcInterop, ClientStreamingSums) {
  grpc::ClientContext ctx;
  terngrpc::SumReply reply;
  auto writer = stub->Sum(&ctx, &reply);
  for (int i = 1; i <= 100; ++i) {
    terngrpc::Num n;
    n.set_value(i);
    ASSERT_TRUE(writer->Write(n));
  }
  ASSERT_TRUE(writer->WritesDone());
  grpc::Status st = writer->Finish();
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(reply.total(), 5050);
  EXPECT_EQ(reply.count(), 100);
}

TEST_F(GrpcInterop, BidirectionalInterleaved) {
  grpc::ClientContext ctx;
  auto rw = stub->Chat(&ctx);
  for (int i = 1; i <= 50; ++i) {
    terngrpc::Num n;
    n.set_value(i);
    ASSERT_TRUE(rw->Write(n));
    terngrpc::Num back;
    ASSERT_TRUE(rw->Read(&back));
    EXPECT_EQ(back.value(), 2 * i);
  }
  ASSERT_TRUE(rw->WritesDone());
  terngrpc::Num extra;
  EXPECT_FALSE(rw->Read(&extra));
  grpc::Status st = rw->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(GrpcInterop, ClientCancelReachesTheStreamHandler) {
  grpc::ClientContext ctx;
  auto rw = stub->Hang(&ctx);
  terngrpc::Num n;
  n.set_value(1);
  ASSERT_TRUE(rw->Write(n));
  ctx.TryCancel();
  grpc::Status st = rw->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::CANCELLED);
  auto end = seen_->hang_end.get_future();
  ASSERT_EQ(end.wait_for(5s), std::future_status::ready);
  Status seen = end.get();
  EXPECT_EQ(seen.code(), StatusCode::kCancelled) << seen.to_string();
}

TEST_F(GrpcInterop, StreamDeadlineFromGrpcTimeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 200ms);
  auto rw = stub->Hang(&ctx);
  terngrpc::Num n;
  n.set_value(1);
  ASSERT_TRUE(rw->Write(n));
  grpc::Status st = rw->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  auto end = seen_->hang_end.get_future();
  ASSERT_EQ(end.wait_for(5s), std::future_status::ready);
  Status seen = end.get();
  EXPECT_TRUE(seen.code() == StatusCode::kDeadlineExceeded || seen.code() == StatusCode::kCancelled)
      << seen.to_string();
}

TEST_F(GrpcInterop, TernConsumersShareThePort) {
  // The same port still speaks the Tern protocol.
  tern::Client client(testutil::one_io());
  tern::ReferenceOptions ro;
  ro.serialization = "protobuf";
  auto pref = client.reference("terngrpc.Greeter", testutil::direct(*server), ro).value();
  ASSERT_TRUE(pref->wait_for_providers(2s));
  auto chat = tern::ClientStream<terngrpc::Num, terngrpc::Num>::open(*pref, "Chat").value();
  terngrpc::Num n;
  n.set_value(21);
  ASSERT_TRUE(chat.write_sync(n).is_ok());
  auto back = chat.read_sync();
  ASSERT_TRUE(back.has_value()) << chat.status().to_string();
  EXPECT_EQ(back->value(), 42);
  ASSERT_TRUE(chat.writes_done_sync().is_ok());
  EXPECT_TRUE(chat.finish_sync().is_ok());
  // ...while a gRPC client uses it too.
  grpc::ClientContext ctx;
  terngrpc::HelloRequest req;
  req.set_name("both");
  terngrpc::HelloReply reply;
  ASSERT_TRUE(stub->Hello(&ctx, req, &reply).ok());
  EXPECT_EQ(reply.text(), "hello, both");
}

}  // namespace
