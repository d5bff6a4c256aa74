// tern::Channel on a FakeClock (issue #21), over an in-memory pipe to a
// scripted provider: the reconnect backoff after a failed connection lasts
// exactly ChannelOptions::reconnect_backoff on the channel's clock (and a
// successful connect ends it early), a call waiting for its host name's
// resolution expires on that clock and hands the session the time left on
// it, a call's deadline counts from the start its caller read from that
// clock, and ClientCore gives its clock to the channels of its pool. Nothing
// sleeps: time moves only when the test advances the clock.
#include "tern/channel.h"

#include <gtest/gtest.h>

#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/resolve_hook.h"
#include "fake_clock.h"
#include "net/memory_transport.h"
#include "net/transport.h"
#include "pipe_peer.h"
#include "proxy/client_core.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using tern::testing::FakeClock;
using tern::testing::LoopThread;
using tern::testing::PipePeer;
using tern::testing::request_frame;
using tern::testing::response_frame;
using tern::testing::wait_until;

constexpr auto kBackoff = 1000ms;
// Real time allowed for an asynchronous event (never slept through).
constexpr auto kPatience = 10s;

// The outcome of one call, set once on the thread that completes it. The
// completion shares the promise, so a call that completes after a failed
// test's Outcome is gone (at the channel's shutdown) touches nothing freed.
class Outcome {
 public:
  CallCompletion completion() {
    return [promise = promise_](CallResult&& r) { promise->set_value(std::move(r)); };
  }
  // Waits (real time, at most kPatience) for the call to complete.
  std::optional<CallResult> get() {
    if (future_.wait_for(kPatience) != std::future_status::ready) return std::nullopt;
    return future_.get();
  }

 private:
  std::shared_ptr<std::promise<CallResult>> promise_ = std::make_shared<std::promise<CallResult>>();
  std::future<CallResult> future_ = promise_->get_future();
};

class ChannelClock : public ::testing::Test {
 protected:
  void SetUp() override {
    net::set_dial_hook_for_test([this](asio::io_context& loop, const asio::ip::tcp::endpoint&)
                                    -> std::unique_ptr<net::Transport> {
      std::lock_guard lock(mu_);
      ++dials_;
      auto [consumer, provider] = net::make_memory_pipe(loop, loop, "pipe:consumer", "pipe:provider");
      if (connect_error_) consumer->set_connect_error(connect_error_);
      peers_.push_back(std::make_unique<PipePeer>(std::move(provider)));
      return std::move(consumer);
    });
  }
  void TearDown() override {
    if (channel_) channel_->shutdown(Status(StatusCode::kCancelled, "test over"));
    net::set_dial_hook_for_test(nullptr);
    rpc::set_resolve_hook_for_test(nullptr);
    std::lock_guard lock(mu_);
    for (auto& p : peers_) EXPECT_TRUE(p->wait_closed());
  }

  static ChannelOptions options() {
    ChannelOptions o;
    o.heartbeat_interval = 0ms;  // the heartbeat compares with the connection's steady last-read time
    o.reconnect_backoff = kBackoff;
    return o;
  }
  void make_channel(std::string host = "127.0.0.1") {
    channel_ = std::make_shared<Channel>(io_.loop(), HostPort{std::move(host), 20880}, options(), nullptr, nullptr,
                                         &clock_);
  }

  // The provider end of the n-th connection dialled.
  PipePeer& peer(std::size_t n) {
    EXPECT_TRUE(wait_until([&] {
      std::lock_guard lock(mu_);
      return peers_.size() > n;
    }, kPatience));
    std::lock_guard lock(mu_);
    return *peers_.at(n);
  }
  int dials() {
    std::lock_guard lock(mu_);
    return dials_;
  }
  void refuse_connects(bool refuse) {
    std::lock_guard lock(mu_);
    connect_error_ = refuse ? std::error_code(asio::error::connection_refused) : std::error_code();
  }
  static std::string request(std::string_view body) { return request_frame(0, "calc.Calculator", "add", body); }

  // Calls once on `ch` over the n-th connection and answers it: the call succeeds.
  void call_and_answer(Channel& ch, std::size_t n, const std::string& body) {
    Outcome ok;
    ch.call(request(body), 5s, ok.completion());
    ASSERT_TRUE(peer(n).wait_frames(1, kPatience));
    peer(n).write(response_frame(peer(n).frames().back().header.request_id, StatusCode::kOk, body));
    auto r = ok.get();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(r->status.is_ok()) << r->status.message();
    EXPECT_EQ(r->body(), body);
  }

  FakeClock clock_;
  LoopThread io_;
  std::shared_ptr<Channel> channel_;
  std::mutex mu_;
  std::vector<std::unique_ptr<PipePeer>> peers_;
  int dials_ = 0;
  std::error_code connect_error_;
};

TEST_F(ChannelClock, ReconnectBackoffLastsUntilTheChannelsClockPassesIt) {
  make_channel();
  EXPECT_TRUE(channel_->available());  // before the first connect
  call_and_answer(*channel_, 0, "one");
  EXPECT_TRUE(channel_->available());
  // The provider breaks the connection under a pending call.
  Outcome broken;
  channel_->call(request("two"), 5s, broken.completion());
  ASSERT_TRUE(peer(0).wait_frames(2, kPatience));
  peer(0).close();
  auto r = broken.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(r->status.message(), "connection closed by peer pipe:provider");
  EXPECT_TRUE(r->status.may_have_executed());
  // Marked before the failed call completed: unavailable for exactly
  // kBackoff on the fake clock, which alone moves time here.
  EXPECT_FALSE(channel_->available());
  clock_.advance(kBackoff - 1ms);
  EXPECT_FALSE(channel_->available());
  clock_.advance(1ms);
  EXPECT_TRUE(channel_->available());
  // Past the backoff the next call dials a new connection and succeeds.
  EXPECT_EQ(dials(), 1);
  call_and_answer(*channel_, 1, "three");
  EXPECT_EQ(dials(), 2);
  EXPECT_EQ(channel_->stats().connects, 2u);
  EXPECT_TRUE(channel_->connected());
  EXPECT_TRUE(channel_->available());
}

TEST_F(ChannelClock, ACallWithinTheBackoffDialsAtOnceAndItsConnectEndsTheBackoff) {
  make_channel();
  refuse_connects(true);
  Outcome refused;
  channel_->call(request("a"), 5s, refused.completion());
  auto r = refused.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(r->status.may_have_executed());
  EXPECT_FALSE(channel_->available());
  clock_.advance(kBackoff / 2);
  EXPECT_FALSE(channel_->available());
  // ChannelOptions::reconnect_backoff: a call made anyway dials at once
  // (the backoff steers load balancers, it does not refuse calls), and a
  // connect that succeeds ends the backoff although the clock has not
  // reached its end.
  refuse_connects(false);
  call_and_answer(*channel_, 1, "b");
  EXPECT_EQ(dials(), 2);
  EXPECT_EQ(channel_->stats().connects, 1u);
  EXPECT_TRUE(channel_->available());
}

// A resolver the test releases: blocks the channel's resolution (on the
// hook's own thread) until release(), then answers 127.0.0.1. The hook
// shares its state, so a resolution still returning may outlive this object.
class HeldResolver {
 public:
  HeldResolver() {
    rpc::set_resolve_hook_for_test([state = state_](const HostPort& hp) -> Result<asio::ip::tcp::endpoint> {
      {
        std::lock_guard lock(state->mu);
        if (!state->entered) {
          state->entered = true;
          state->entered_promise.set_value();
        }
      }
      state->released.wait_for(kPatience);
      return asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), hp.port);
    });
  }
  ~HeldResolver() { release(); }
  // Waits (real time, at most kPatience) until the channel asked for a resolution.
  bool await_entered() { return state_->entered_future.wait_for(kPatience) == std::future_status::ready; }
  // Lets the resolution answer; idempotent.
  void release() {
    std::lock_guard lock(state_->mu);
    if (state_->release_sent) return;
    state_->release_sent = true;
    state_->release_promise.set_value();
  }

 private:
  struct State {
    std::mutex mu;
    bool entered = false;       // guarded by mu
    bool release_sent = false;  // guarded by mu
    std::promise<void> entered_promise;
    std::future<void> entered_future = entered_promise.get_future();
    std::promise<void> release_promise;
    std::shared_future<void> released = release_promise.get_future().share();
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

TEST_F(ChannelClock, ACallWaitingForResolutionExpiresOnTheChannelsClock) {
  HeldResolver resolver;
  make_channel("provider.test");
  Outcome waiting;
  channel_->call(request("a"), 60s, waiting.completion());
  ASSERT_TRUE(resolver.await_entered());
  // 60 s pass on the channel's clock (not in real time: the waiter's timer
  // is 60 s of real time away) while the name resolves.
  clock_.advance(60s);
  resolver.release();
  auto r = waiting.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r->status.message(), "deadline exceeded while resolving provider.test");
  EXPECT_FALSE(r->status.may_have_executed());
  EXPECT_EQ(channel_->stats().pending, 0u);
}

TEST_F(ChannelClock, TheTimeLeftAfterResolutionIsMeasuredOnTheChannelsClock) {
  HeldResolver resolver;
  make_channel("provider.test");
  Outcome waiting;
  channel_->call(request("a"), 60s, waiting.completion());
  ASSERT_TRUE(resolver.await_entered());
  clock_.advance(20s);
  resolver.release();
  // The request goes out with the 40 s left on the fake clock as its timeout.
  ASSERT_TRUE(peer(0).wait_frames(1, kPatience));
  EXPECT_EQ(peer(0).frames()[0].header.timeout_ms, 40000u);
  peer(0).write(response_frame(peer(0).frames()[0].header.request_id, StatusCode::kOk, "done"));
  auto r = waiting.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->status.is_ok()) << r->status.message();
  EXPECT_EQ(r->body(), "done");
}

TEST_F(ChannelClock, ACallsDeadlineCountsFromTheStartItsCallerPasses) {
  make_channel();
  // The caller (a reference's attempt) read the channel's clock when the
  // call started; 10 ms of its 60 s timeout are left when it reaches call().
  const auto started = clock_.now();
  clock_.advance(60s - 10ms);
  Outcome late;
  channel_->call(request("a"), 60s, late.completion(), nullptr, started);
  ASSERT_TRUE(peer(0).wait_frames(1, kPatience));
  EXPECT_EQ(peer(0).frames()[0].header.timeout_ms, 60000u);  // the wire carries the timeout as given
  // Measured from `started`, the deadline is 10 ms away; from now it would
  // be 60 s away (and the call would still be pending after kPatience).
  clock_.advance(10ms);
  auto r = late.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(r->status.message(), "call timed out (no response within its deadline)");
  // The provider is told to stop: a cancel frame for the request id.
  ASSERT_TRUE(peer(0).wait_frames(2, kPatience));
  EXPECT_EQ(peer(0).frames()[1].header.type, protocol::FrameType::kCancel);
  EXPECT_EQ(peer(0).frames()[1].header.request_id, peer(0).frames()[0].header.request_id);
  EXPECT_EQ(channel_->stats().pending, 0u);
}

TEST_F(ChannelClock, ClientCoreGivesItsClockToTheChannelsOfItsPool) {
  ClientOptions o;
  o.io_threads = 1;
  o.tracing = false;
  o.channel = options();
  ClientCore core(std::move(o), clock_);
  auto ch = core.channels.get(HostPort{"127.0.0.1", 20880});
  refuse_connects(true);
  Outcome refused;
  ch->call(request("a"), 5s, refused.completion());
  auto r = refused.get();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status.code(), StatusCode::kUnavailable);
  EXPECT_FALSE(ch->available());
  clock_.advance(kBackoff - 1ms);
  EXPECT_FALSE(ch->available());
  clock_.advance(1ms);
  EXPECT_TRUE(ch->available());
  core.channels.shutdown();
}

}  // namespace
}  // namespace tern
