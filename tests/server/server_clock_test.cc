// A provider's request deadlines on a FakeClock (issue #21), over an
// in-memory pipe (src/server/server_test_access.h): a request's deadline is
// its timeout from when the server admitted it, on the server's clock; a
// request whose deadline passes while it waits for a business thread is
// answered DEADLINE_EXCEEDED without running its handler, and a handler's
// ServerContext::remaining() is the time left on that clock. Nothing
// sleeps: time moves only when the test advances the clock; the one
// business thread is held by a handler the test releases.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>

#include "fake_clock.h"
#include "net/memory_transport.h"
#include "pipe_peer.h"
#include "server/server_test_access.h"
#include "tern/server.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using protocol::FrameType;
using tern::testing::FakeClock;
using tern::testing::PipePeer;
using tern::testing::wait_until;

// Real time allowed for an asynchronous event (never slept through).
constexpr auto kPatience = 10s;

// A request for service.method with `timeout_ms` (0: no deadline).
std::string request(std::uint64_t id, std::string_view service, std::string_view method, std::uint32_t timeout_ms) {
  protocol::FrameBuilder b(FrameType::kRequest, id);
  b.header().timeout_ms = timeout_ms;
  b.add_meta(protocol::meta_keys::kService, service);
  b.add_meta(protocol::meta_keys::kMethod, method);
  b.begin_body();
  b.append_body(std::to_string(id));
  return b.finish();
}

class ServerClock : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions so;
    so.listen = "127.0.0.1:0";
    so.io_threads = 1;
    so.heartbeat_interval = 0ms;
    so.dispatcher = "all";  // every request waits for the business pool...
    so.worker_threads = 1;  // ...of one thread, which `hold` keeps busy
    server_ = std::make_unique<Server>(so);
    ServerTestAccess::set_clock(*server_, clock_);
    ASSERT_TRUE(server_
                    ->add_method("gate.Gate", "hold",
                                 [this](ServerCall& call) {
                                   held_promise_.set_value();  // called once per test
                                   released_.wait_for(kPatience);
                                   auto b = call.start_response();
                                   b.append_body("held");
                                   call.respond(std::move(b));
                                 })
                    .is_ok());
    ASSERT_TRUE(server_
                    ->add_method("calc.Calculator", "left",
                                 [this](ServerCall& call) {
                                   {
                                     std::lock_guard lock(mu_);
                                     remaining_[call.request_id()] = call.context().remaining();
                                   }
                                   auto b = call.start_response();
                                   b.append_body("ran");
                                   call.respond(std::move(b));
                                 })
                    .is_ok());
    ASSERT_TRUE(server_->start().is_ok());
  }
  void TearDown() override {
    release();
    if (server_) server_->shutdown(100ms);
  }
  std::unique_ptr<PipePeer> connect() {
    asio::io_context& loop = ServerTestAccess::loop(*server_);
    auto [consumer, provider] = net::make_memory_pipe(loop, loop, "pipe:consumer", "pipe:provider");
    ServerTestAccess::adopt(*server_, std::move(provider));
    return std::make_unique<PipePeer>(std::move(consumer));
  }
  // Lets `hold` answer; idempotent.
  void release() {
    std::lock_guard lock(mu_);
    if (release_sent_) return;
    release_sent_ = true;
    release_.set_value();
  }
  // The responses read by `peer`, by request id.
  static std::map<std::uint64_t, const protocol::Frame*> by_id(PipePeer& peer) {
    std::map<std::uint64_t, const protocol::Frame*> m;
    for (const auto& f : peer.frames()) m[f.header.request_id] = &f;
    return m;
  }

  FakeClock clock_;
  std::unique_ptr<Server> server_;
  std::promise<void> held_promise_;
  std::shared_future<void> held_ = held_promise_.get_future().share();
  std::promise<void> release_;
  std::shared_future<void> released_ = release_.get_future().share();
  std::mutex mu_;
  bool release_sent_ = false;                                        // guarded by mu_
  std::map<std::uint64_t, std::chrono::milliseconds> remaining_;    // by request id; guarded by mu_

};

TEST_F(ServerClock, ARequestWhoseDeadlinePassedWhileQueuedIsAnsweredDeadlineExceededUnrun) {
  auto peer = connect();
  peer->write(request(1, "gate.Gate", "hold", 0));
  ASSERT_EQ(held_.wait_for(kPatience), std::future_status::ready);  // the one business thread is busy
  // Three requests admitted at the same instant of the fake clock, queued
  // behind `hold`: deadlines 60 s and 90 s away, and none.
  std::string three = request(2, "calc.Calculator", "left", 60000) + request(3, "calc.Calculator", "left", 90000) +
                      request(4, "calc.Calculator", "left", 0);
  peer->write(three);
  ASSERT_TRUE(wait_until([&] { return server_->stats().pool_queued == 3; }, kPatience));
  // Exactly 60 s pass on the server's clock before a thread takes them.
  clock_.advance(60s);
  release();
  ASSERT_TRUE(peer->wait_frames(4, kPatience));
  auto r = by_id(*peer);
  ASSERT_EQ(r.size(), 4u);
  EXPECT_EQ(r[1]->header.status(), StatusCode::kOk);
  EXPECT_EQ(r[1]->body(), "held");
  // Request 2's deadline is reached: refused before its handler ran.
  EXPECT_EQ(r[2]->header.status(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r[2]->body(), "deadline passed before the handler ran");
  // Request 3 ran with the 30 s left on the server's clock; request 4 has no
  // deadline (remaining() is 24 h then).
  EXPECT_EQ(r[3]->header.status(), StatusCode::kOk);
  EXPECT_EQ(r[3]->body(), "ran");
  EXPECT_EQ(r[4]->header.status(), StatusCode::kOk);
  {
    std::lock_guard lock(mu_);
    EXPECT_EQ(remaining_.count(2), 0u);  // its handler never ran
    ASSERT_EQ(remaining_.count(3), 1u);
    EXPECT_EQ(remaining_[3], 30000ms);
    ASSERT_EQ(remaining_.count(4), 1u);
    EXPECT_EQ(remaining_[4], std::chrono::milliseconds(24h));
  }
  EXPECT_EQ(server_->stats().shed, 1u);
}

TEST_F(ServerClock, RemainingIsTheTimeoutWhileTheServersClockStandsStill) {
  auto peer = connect();
  release();  // `hold` is not used: requests run as soon as they arrive
  peer->write(request(7, "calc.Calculator", "left", 5000));
  ASSERT_TRUE(peer->wait_frames(1, kPatience));
  EXPECT_EQ(peer->frames()[0].header.status(), StatusCode::kOk);
  std::lock_guard lock(mu_);
  ASSERT_EQ(remaining_.count(7), 1u);
  EXPECT_EQ(remaining_[7], 5000ms);  // real time passed, none on the fake clock
  EXPECT_EQ(server_->stats().shed, 0u);
}

}  // namespace
}  // namespace tern
