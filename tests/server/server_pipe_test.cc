// A provider's session over an in-memory pipe (src/server/server_test_access.h
// serves one end as an accepted connection; the test scripts the consumer
// on the other): requests are answered by id with the handler's result or
// the exact error status, pings get pongs, garbage closes the connection.
// The server listens on 127.0.0.1:0 because start() binds, but no byte of
// these tests goes through a socket.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <string>

#include "net/memory_transport.h"
#include "pipe_peer.h"
#include "server/server_test_access.h"
#include "tern/server.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using protocol::FrameType;
using tern::testing::PipePeer;
using tern::testing::request_frame;
using tern::testing::wait_until;

class ServerPipe : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.heartbeat_interval = 0ms;
    server_ = std::make_unique<Server>(so);
    ASSERT_TRUE(server_
                    ->add_method("calc.Calculator", "echo",
                                 [this](ServerCall& call) {
                                   ++calls_;
                                   auto b = call.start_response();
                                   b.append_body("echo:");
                                   b.append_body(call.body());
                                   call.respond(std::move(b));
                                 })
                    .is_ok());
    ASSERT_TRUE(server_->start().is_ok());
  }
  void TearDown() override {
    if (server_) server_->shutdown(100ms);
  }
  // A consumer on a new pipe; the server's end reads `read_size` bytes at a time (0: all).
  std::unique_ptr<PipePeer> connect(std::size_t read_size = 0) {
    asio::io_context& loop = ServerTestAccess::loop(*server_);
    auto [consumer, provider] = net::make_memory_pipe(loop, loop, "pipe:consumer", "pipe:provider");
    if (read_size > 0) provider->set_read_sizes([read_size] { return read_size; });
    ServerTestAccess::adopt(*server_, std::move(provider));
    return std::make_unique<PipePeer>(std::move(consumer));
  }

  std::unique_ptr<Server> server_;
  std::atomic<int> calls_{0};
};

TEST_F(ServerPipe, ARequestSplitIntoSingleBytesIsAnswered) {
  auto peer = connect(1);
  peer->write(request_frame(7, "calc.Calculator", "echo", "hello"));
  ASSERT_TRUE(peer->wait_frames(1));
  const auto& r = peer->frames()[0];
  EXPECT_EQ(r.header.type, FrameType::kResponse);
  EXPECT_EQ(r.header.request_id, 7u);
  EXPECT_EQ(r.header.status(), StatusCode::kOk);
  EXPECT_EQ(r.body(), "echo:hello");
  EXPECT_EQ(calls_.load(), 1);
  EXPECT_EQ(server_->stats().requests, 1u);
}

TEST_F(ServerPipe, PipelinedRequestsAreAnsweredByTheirIds) {
  auto peer = connect(3);
  std::string all;
  for (std::uint64_t id = 100; id < 110; ++id) all += request_frame(id, "calc.Calculator", "echo", std::to_string(id));
  peer->write(all);
  ASSERT_TRUE(peer->wait_frames(10));
  std::set<std::uint64_t> seen;
  for (const auto& r : peer->frames()) {
    EXPECT_EQ(r.header.status(), StatusCode::kOk);
    EXPECT_EQ(r.body(), "echo:" + std::to_string(r.header.request_id));
    seen.insert(r.header.request_id);
  }
  EXPECT_EQ(seen.size(), 10u);
  EXPECT_EQ(*seen.begin(), 100u);
  EXPECT_EQ(*seen.rbegin(), 109u);
}

TEST_F(ServerPipe, AnUnknownServiceIsUnimplemented) {
  auto peer = connect();
  peer->write(request_frame(8, "nope.Nothing", "echo", ""));
  ASSERT_TRUE(peer->wait_frames(1));
  const auto& r = peer->frames()[0];
  EXPECT_EQ(r.header.request_id, 8u);
  EXPECT_EQ(r.header.status(), StatusCode::kUnimplemented);
  EXPECT_EQ(r.body(), "unknown service 'nope.Nothing'");
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerPipe, AnUnknownMethodIsUnimplementedWithASuggestion) {
  auto peer = connect();
  peer->write(request_frame(9, "calc.Calculator", "ecko", ""));
  ASSERT_TRUE(peer->wait_frames(1));
  const auto& r = peer->frames()[0];
  EXPECT_EQ(r.header.request_id, 9u);
  EXPECT_EQ(r.header.status(), StatusCode::kUnimplemented);
  EXPECT_EQ(r.body(), "unknown method 'calc.Calculator.ecko' (did you mean 'echo'?)");
}

TEST_F(ServerPipe, ARequestNamingNoMethodIsInvalid) {
  auto peer = connect();
  protocol::FrameBuilder b(FrameType::kRequest, 10);
  b.add_meta(protocol::meta_keys::kService, "calc.Calculator");
  b.begin_body();
  peer->write(b.finish());
  ASSERT_TRUE(peer->wait_frames(1));
  const auto& r = peer->frames()[0];
  EXPECT_EQ(r.header.request_id, 10u);
  EXPECT_EQ(r.header.status(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.body(), "request names no service or method");
}

TEST_F(ServerPipe, APingGetsAPongWithItsId) {
  auto peer = connect(2);
  peer->write(protocol::encode_control_frame(FrameType::kPing, 4242));
  ASSERT_TRUE(peer->wait_frames(1));
  EXPECT_EQ(peer->frames()[0].header.type, FrameType::kPong);
  EXPECT_EQ(peer->frames()[0].header.request_id, 4242u);
}

TEST_F(ServerPipe, GarbageClosesTheConnectionWithoutAnAnswer) {
  auto peer = connect();
  peer->write(std::string(24, '\x01'));
  EXPECT_TRUE(peer->wait_closed());
  EXPECT_TRUE(peer->frames().empty());
  EXPECT_EQ(calls_.load(), 0);
  // The server goes on: a new connection is served.
  auto next = connect();
  next->write(request_frame(1, "calc.Calculator", "echo", "still here"));
  ASSERT_TRUE(next->wait_frames(1));
  EXPECT_EQ(next->frames()[0].body(), "echo:still here");
}

// A protocol error closes the connection at once: a response still being
// produced for an earlier request on it is dropped (the consumer sees the
// connection lost), so the good request is answered before the bad one goes.
TEST_F(ServerPipe, AGoodRequestIsAnsweredThenAnUnknownFlagCloses) {
  auto peer = connect(5);
  peer->write(request_frame(1, "calc.Calculator", "echo", "first"));
  ASSERT_TRUE(peer->wait_frames(1));
  std::string bad = request_frame(2, "calc.Calculator", "echo", "second");
  bad[5] = static_cast<char>(0x80);  // an unknown request flag
  peer->write(bad);
  EXPECT_TRUE(peer->wait_closed());
  ASSERT_EQ(peer->frames().size(), 1u);
  EXPECT_EQ(peer->frames()[0].header.request_id, 1u);
  EXPECT_EQ(peer->frames()[0].body(), "echo:first");
  EXPECT_EQ(calls_.load(), 1);
}

}  // namespace
}  // namespace tern
