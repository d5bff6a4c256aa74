// tern::Channel over an in-memory pipe to a scripted provider (no socket;
// net::set_dial_hook_for_test hands the channel's dial a pipe): responses
// complete the call with their request id in any order, a response for no
// pending call is dropped and counted, a closed pipe fails every pending
// call UNAVAILABLE, a malformed frame closes the connection with the
// decoder's reason, and a failed connect fails calls as not executed.
#include "tern/channel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "net/memory_transport.h"
#include "tern/future.h"
#include "net/transport.h"
#include "pipe_peer.h"

namespace tern {
namespace {

using namespace std::chrono_literals;
using protocol::FrameType;
using tern::testing::LoopThread;
using tern::testing::PipePeer;
using tern::testing::request_frame;
using tern::testing::response_frame;
using tern::testing::wait_until;

// The outcome of one call, filled on the IO thread.
struct Outcome {
  std::mutex mu;
  std::optional<CallResult> result;
  int completions = 0;
  bool done() {
    std::lock_guard lock(mu);
    return result.has_value();
  }
  CallCompletion completion() {
    return [this](CallResult&& r) {
      std::lock_guard lock(mu);
      ++completions;
      result = std::move(r);
    };
  }
};

class ChannelPipe : public ::testing::Test {
 protected:
  void SetUp() override {
    net::set_dial_hook_for_test([this](asio::io_context& loop, const asio::ip::tcp::endpoint& ep)
                                    -> std::unique_ptr<net::Transport> {
      std::lock_guard lock(mu_);
      ++dials_;
      dialled_ = ep;
      auto [consumer, provider] = net::make_memory_pipe(loop, loop, "pipe:consumer", "pipe:provider");
      if (connect_error_) consumer->set_connect_error(connect_error_);
      peers_.push_back(std::make_unique<PipePeer>(std::move(provider)));
      return std::move(consumer);
    });
    ChannelOptions o;
    o.heartbeat_interval = 0ms;
    o.reconnect_backoff = 0ms;
    channel_ = std::make_shared<Channel>(io_.loop(), HostPort{"127.0.0.1", 20880}, o);
  }
  void TearDown() override {
    channel_->shutdown(Status(StatusCode::kCancelled, "test over"));
    net::set_dial_hook_for_test(nullptr);
    // Every connection closed on the loop (its session released) before
    // the loop goes.
    std::lock_guard lock(mu_);
    for (auto& p : peers_) EXPECT_TRUE(p->wait_closed());
  }

  // The provider end of the n-th connection the channel dialled.
  PipePeer& peer(std::size_t n = 0) {
    EXPECT_TRUE(wait_until([&] {
      std::lock_guard lock(mu_);
      return peers_.size() > n;
    }));
    std::lock_guard lock(mu_);
    return *peers_.at(n);
  }
  std::string request(std::string_view body) { return request_frame(0, "calc.Calculator", "add", body); }
  // Sends a goaway on the first connection, then calls (each into `calls`)
  // until one makes the channel dial a second connection: calls made before
  // the loop saw the goaway went on the first one and drain there.
  bool goaway_then_redial(std::deque<Outcome>& calls) {
    peer(0).write(protocol::encode_control_frame(FrameType::kGoaway, 0));
    return wait_until([&] {
      channel_->call(request("b"), 5s, calls.emplace_back().completion());
      std::lock_guard lock(mu_);
      return dials_ == 2;
    });
  }

  // Makes one call (the channel's `id`-th request) and has the provider
  // answer it OK; returns once it completed.
  void call_answered(std::uint64_t id, std::chrono::milliseconds timeout) {
    Outcome o;
    channel_->call(request("x"), timeout, o.completion());
    ASSERT_TRUE(peer().wait_frames(static_cast<std::size_t>(id)));
    peer().write(response_frame(id, StatusCode::kOk, "y"));
    ASSERT_TRUE(wait_until([&] { return o.done(); })) << "call " << id;
    ASSERT_TRUE(o.result->status.is_ok()) << "call " << id;
  }

  LoopThread io_;
  std::shared_ptr<Channel> channel_;
  std::mutex mu_;
  std::vector<std::unique_ptr<PipePeer>> peers_;
  int dials_ = 0;
  asio::ip::tcp::endpoint dialled_;
  std::error_code connect_error_;
};

TEST_F(ChannelPipe, FinishedCallsLeaveTheDeadlineTimerAtOnce) {
  // 200 calls one after another, each answered: the timer holds no entry of
  // a finished call (it used to keep every call of the last timeout period,
  // 3 s of calls at 64 in flight being over a million entries, popped by one
  // sweep under the session's lock).
  for (std::uint64_t id = 1; id <= 200; ++id) {
    ASSERT_NO_FATAL_FAILURE(call_answered(id, 3s));
    auto st = channel_->stats();
    ASSERT_EQ(st.pending, 0u);
    ASSERT_EQ(st.deadline_entries, 0u) << "after call " << id;
  }
  // Out of order: a later call's entry waits behind the older live one.
  Outcome one, two, three;
  channel_->call(request("1"), 3s, one.completion());
  channel_->call(request("2"), 3s, two.completion());
  channel_->call(request("3"), 3s, three.completion());
  ASSERT_TRUE(peer().wait_frames(203));
  peer().write(response_frame(202, StatusCode::kOk, "two"));
  ASSERT_TRUE(wait_until([&] { return two.done(); }));
  EXPECT_EQ(channel_->stats().pending, 2u);
  EXPECT_EQ(channel_->stats().deadline_entries, 3u);
  peer().write(response_frame(201, StatusCode::kOk, "one"));
  ASSERT_TRUE(wait_until([&] { return one.done(); }));
  EXPECT_EQ(channel_->stats().deadline_entries, 1u);  // 1 and 2 popped; 3 is live
  peer().write(response_frame(203, StatusCode::kOk, "three"));
  ASSERT_TRUE(wait_until([&] { return three.done(); }));
  EXPECT_EQ(channel_->stats().deadline_entries, 0u);
  // A cancelled call leaves too.
  auto control = std::make_shared<CallControl>();
  Outcome cancelled;
  channel_->call(request("c"), 3s, cancelled.completion(), control);
  ASSERT_TRUE(peer().wait_frames(204));
  EXPECT_EQ(channel_->stats().deadline_entries, 1u);
  EXPECT_TRUE(control->cancel());
  ASSERT_TRUE(cancelled.done());
  EXPECT_EQ(cancelled.result->status.code(), StatusCode::kCancelled);
  EXPECT_EQ(channel_->stats().deadline_entries, 0u);
}

TEST_F(ChannelPipe, EntriesBehindACallThatGetsNoAnswerAreCompacted) {
  // Call 1 gets no answer; 500 calls of the same timeout after it do. Their
  // entries sit behind call 1's until it ends, unless compacted: the timer's
  // FIFO stays within 2 x pending + 64 (it would reach 501), and call 1's
  // entry stays (it is live: it can still time out or be cancelled).
  auto control = std::make_shared<CallControl>();
  Outcome stuck;
  channel_->call(request("stuck"), 60s, stuck.completion(), control);
  std::size_t most = 0;
  for (std::uint64_t id = 2; id <= 501; ++id) {
    ASSERT_NO_FATAL_FAILURE(call_answered(id, 60s));
    auto st = channel_->stats();
    ASSERT_EQ(st.pending, 1u);
    ASSERT_LE(st.deadline_entries, 2 * 1 + 64u) << "after call " << id;
    ASSERT_GE(st.deadline_entries, 1u) << "the live call's entry was dropped, after call " << id;
    most = std::max(most, st.deadline_entries);
  }
  EXPECT_EQ(most, 2 * 1 + 64u);  // it did pile up to the bound, then compacted
  EXPECT_FALSE(stuck.done());
  EXPECT_TRUE(control->cancel());
  EXPECT_EQ(stuck.result->status.code(), StatusCode::kCancelled);
  EXPECT_EQ(channel_->stats().deadline_entries, 0u);
}

TEST_F(ChannelPipe, ResponsesCompleteTheirCallsByRequestIdInAnyOrder) {
  Outcome one, two, three;
  channel_->call(request("1"), 5s, one.completion());
  channel_->call(request("2"), 5s, two.completion());
  channel_->call(request("3"), 5s, three.completion());
  ASSERT_TRUE(peer().wait_frames(3));
  auto& reqs = peer().frames();
  // Ids are the channel's, from 1, in call order; the body is the caller's.
  for (std::uint64_t i = 0; i < 3; ++i) {
    EXPECT_EQ(reqs[i].header.type, FrameType::kRequest);
    EXPECT_EQ(reqs[i].header.request_id, i + 1);
    EXPECT_EQ(reqs[i].body(), std::to_string(i + 1));
    EXPECT_EQ(reqs[i].header.timeout_ms, 5000u);
    EXPECT_EQ(protocol::find_meta(reqs[i].meta(), protocol::meta_keys::kMethod), "add");
  }
  EXPECT_EQ(dialled_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 20880));
  peer().write(response_frame(3, StatusCode::kOk, "three"));
  peer().write(response_frame(1, StatusCode::kNotFound, "no such thing"));
  peer().write(response_frame(2, StatusCode::kOk, "two"));
  ASSERT_TRUE(wait_until([&] { return one.done() && two.done() && three.done(); }));
  EXPECT_TRUE(one.result->status.code() == StatusCode::kNotFound);
  EXPECT_EQ(one.result->status.message(), "no such thing");
  EXPECT_TRUE(one.result->status.may_have_executed());
  EXPECT_TRUE(two.result->status.is_ok());
  EXPECT_EQ(two.result->body(), "two");
  EXPECT_EQ(two.result->frame.header.request_id, 2u);
  EXPECT_TRUE(three.result->status.is_ok());
  EXPECT_EQ(three.result->body(), "three");
  EXPECT_EQ(one.completions + two.completions + three.completions, 3);
  auto st = channel_->stats();
  EXPECT_EQ(st.pending, 0u);
  EXPECT_EQ(st.late_responses, 0u);
  EXPECT_EQ(st.connects, 1u);
  EXPECT_TRUE(channel_->connected());
  EXPECT_EQ(dials_, 1);
}

// A call whose CallControl was cancelled before it reached the connection
// completes CANCELLED at once, and its request is never written: the
// provider would otherwise run it after the cancel (which names an id it
// has not seen) and the consumer would drop the answer.
TEST_F(ChannelPipe, ACallCancelledBeforeItStartsIsNeverSent) {
  auto control = std::make_shared<CallControl>();
  EXPECT_TRUE(control->cancel());
  Outcome cancelled, next;
  channel_->call(request("cancelled"), 5s, cancelled.completion(), control);
  ASSERT_TRUE(cancelled.done());  // inline, on this thread
  EXPECT_EQ(cancelled.result->status.code(), StatusCode::kCancelled);
  EXPECT_EQ(cancelled.completions, 1);
  channel_->call(request("next"), 5s, next.completion());
  std::uint64_t next_id = 0;
  ASSERT_TRUE(wait_until([&] {
    peer().pump();
    for (auto& f : peer().frames()) {
      if (f.header.type == FrameType::kRequest && f.body() == "next") next_id = f.header.request_id;
    }
    return next_id != 0;
  }));
  for (auto& f : peer().frames()) {
    EXPECT_FALSE(f.header.type == FrameType::kRequest && f.body() == "cancelled") << "id " << f.header.request_id;
  }
  EXPECT_EQ(channel_->stats().pending, 1u);  // "next" only
  peer().write(response_frame(next_id, StatusCode::kOk, "done"));
  ASSERT_TRUE(wait_until([&] { return next.done(); }));
  EXPECT_EQ(next.result->body(), "done");
}

TEST_F(ChannelPipe, AResponseForNoPendingCallIsDroppedAndCounted) {
  Outcome call;
  channel_->call(request("x"), 5s, call.completion());
  ASSERT_TRUE(peer().wait_frames(1));
  peer().write(response_frame(99, StatusCode::kOk, "stray"));
  ASSERT_TRUE(wait_until([&] { return channel_->stats().late_responses == 1; }));
  EXPECT_FALSE(call.done());
  EXPECT_EQ(channel_->stats().pending, 1u);
  EXPECT_TRUE(channel_->connected());  // not a reason to close
  peer().write(response_frame(1, StatusCode::kOk, "mine"));
  ASSERT_TRUE(wait_until([&] { return call.done(); }));
  EXPECT_TRUE(call.result->status.is_ok());
  EXPECT_EQ(call.result->body(), "mine");
  // A second response for the same id is late too.
  peer().write(response_frame(1, StatusCode::kOk, "again"));
  ASSERT_TRUE(wait_until([&] { return channel_->stats().late_responses == 2; }));
  EXPECT_EQ(call.completions, 1);
}

TEST_F(ChannelPipe, AClosedPipeFailsEveryPendingCallUnavailable) {
  Outcome a, b;
  channel_->call(request("a"), 5s, a.completion());
  channel_->call(request("b"), 5s, b.completion());
  ASSERT_TRUE(peer().wait_frames(2));
  peer().close();
  ASSERT_TRUE(wait_until([&] { return a.done() && b.done(); }));
  for (Outcome* o : {&a, &b}) {
    EXPECT_EQ(o->result->status.code(), StatusCode::kUnavailable);
    EXPECT_EQ(o->result->status.message(), "connection closed by peer pipe:provider");
    EXPECT_TRUE(o->result->status.may_have_executed());  // it was sent
    EXPECT_EQ(o->completions, 1);
  }
  EXPECT_FALSE(channel_->connected());
  EXPECT_EQ(channel_->stats().pending, 0u);
  // The next call dials a new connection.
  Outcome c;
  channel_->call(request("c"), 5s, c.completion());
  ASSERT_TRUE(peer(1).wait_frames(1));
  EXPECT_EQ(peer(1).frames()[0].header.request_id, 1u);  // ids are per connection
  peer(1).write(response_frame(1, StatusCode::kOk, "back"));
  ASSERT_TRUE(wait_until([&] { return c.done(); }));
  EXPECT_EQ(c.result->body(), "back");
  EXPECT_EQ(dials_, 2);
}

TEST_F(ChannelPipe, AMalformedFrameClosesTheConnectionWithTheDecodersReason) {
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());
  ASSERT_TRUE(peer().wait_frames(1));
  std::string bad = response_frame(1, StatusCode::kOk, "x");
  bad[2] = 9;  // version
  peer().write(bad);
  ASSERT_TRUE(wait_until([&] { return a.done(); }));
  EXPECT_EQ(a.result->status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(a.result->status.message(), "protocol error: unsupported version 9");
  EXPECT_TRUE(a.result->status.may_have_executed());
  EXPECT_TRUE(peer().wait_closed());
  EXPECT_FALSE(channel_->connected());
}

TEST_F(ChannelPipe, ABadMagicFromTheProviderClosesTheConnection) {
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());
  ASSERT_TRUE(peer().wait_frames(1));
  peer().write(std::string(24, 'X'));
  ASSERT_TRUE(wait_until([&] { return a.done(); }));
  EXPECT_EQ(a.result->status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(a.result->status.message(), "protocol error: bad magic 0x5858");
  EXPECT_TRUE(peer().wait_closed());
}

TEST_F(ChannelPipe, ARefusedConnectFailsTheCallAsNotExecuted) {
  connect_error_ = asio::error::connection_refused;
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());
  ASSERT_TRUE(wait_until([&] { return a.done(); }));
  EXPECT_EQ(a.result->status.code(), StatusCode::kUnavailable);
  EXPECT_EQ(a.result->status.message(),
            "cannot connect to pipe:provider: " + std::error_code(asio::error::connection_refused).message());
  EXPECT_FALSE(a.result->status.may_have_executed());
  EXPECT_EQ(channel_->stats().connects, 0u);
}

TEST_F(ChannelPipe, PushFramesReachThePushHandler) {
  std::mutex mu;
  std::vector<std::string> pushed;
  channel_->set_push_handler([&](const protocol::Frame& f) {
    std::lock_guard lock(mu);
    pushed.emplace_back(f.body());
  });
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());  // connects
  ASSERT_TRUE(peer().wait_frames(1));
  protocol::FrameBuilder b(FrameType::kPush, 0);
  b.begin_body();
  b.append_body("news");
  peer().write(b.finish());
  peer().write(response_frame(1, StatusCode::kOk, "ok"));
  ASSERT_TRUE(wait_until([&] { return a.done(); }));
  std::lock_guard lock(mu);
  ASSERT_EQ(pushed.size(), 1u);
  EXPECT_EQ(pushed[0], "news");
}

TEST_F(ChannelPipe, ShutdownFailsPendingCallsCancelled) {
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());
  ASSERT_TRUE(peer().wait_frames(1));
  channel_->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  ASSERT_TRUE(wait_until([&] { return a.done(); }));
  EXPECT_EQ(a.result->status.code(), StatusCode::kCancelled);
  EXPECT_EQ(a.result->status.message(), "consumer shut down");
  EXPECT_TRUE(peer().wait_closed());
}

// A connection draining after the provider's goaway (its calls finish there,
// new calls go on a new connection) is closed by the channel's shutdown too:
// its pending call completes CANCELLED, not left on a connection nobody
// closes (a stream left there kept the whole consumer alive).
TEST_F(ChannelPipe, ShutdownAlsoClosesAConnectionDrainingAfterAGoaway) {
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());
  ASSERT_TRUE(peer(0).wait_frames(1));
  std::deque<Outcome> calls;
  ASSERT_TRUE(goaway_then_redial(calls));
  ASSERT_TRUE(peer(1).wait_frames(1));
  EXPECT_FALSE(a.done());  // still draining on the first connection
  channel_->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  ASSERT_TRUE(wait_until([&] { return a.done(); }));
  EXPECT_EQ(a.result->status.code(), StatusCode::kCancelled) << a.result->status;
  EXPECT_EQ(a.result->status.message(), "consumer shut down");
  for (auto& c : calls) {
    ASSERT_TRUE(wait_until([&] { return c.done(); }));
    EXPECT_EQ(c.result->status.code(), StatusCode::kCancelled) << c.result->status;
  }
  EXPECT_TRUE(peer(0).wait_closed());
  EXPECT_TRUE(peer(1).wait_closed());
}

// The same after the goaway when the next connection fails at once and a
// third one is dialled: the draining first connection is still closed by the
// shutdown (the failed one passes it on).
TEST_F(ChannelPipe, ShutdownClosesADrainingConnectionAlsoAfterAFailedReconnect) {
  Outcome a;
  channel_->call(request("a"), 5s, a.completion());
  ASSERT_TRUE(peer(0).wait_frames(1));
  {
    std::lock_guard lock(mu_);
    connect_error_ = asio::error::connection_refused;  // the second connection fails
  }
  std::deque<Outcome> calls;
  ASSERT_TRUE(goaway_then_redial(calls));
  ASSERT_TRUE(wait_until([&] { return calls.back().done(); }));
  EXPECT_EQ(calls.back().result->status.code(), StatusCode::kUnavailable);  // refused
  {
    std::lock_guard lock(mu_);
    connect_error_ = {};
  }
  Outcome c;
  channel_->call(request("c"), 5s, c.completion());
  ASSERT_TRUE(peer(2).wait_frames(1));
  EXPECT_FALSE(a.done());  // still draining on the first connection
  channel_->shutdown(Status(StatusCode::kCancelled, "consumer shut down"));
  ASSERT_TRUE(wait_until([&] { return a.done() && c.done(); }));
  EXPECT_EQ(a.result->status.code(), StatusCode::kCancelled) << a.result->status;
  EXPECT_EQ(c.result->status.code(), StatusCode::kCancelled) << c.result->status;
  EXPECT_TRUE(peer(0).wait_closed());
}

}  // namespace
}  // namespace tern
