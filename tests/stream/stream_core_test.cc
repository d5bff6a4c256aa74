// StreamSession (src/stream/stream_core.h): the stream rules of
// docs/protocol.md §12, wire-independent. Two sessions are wired back to back
// through an in-memory queue of events (what a codec pair would carry), or
// one session is fed events directly, as a hostile peer would send them.
#include "stream/stream_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace tern::stream {
namespace {

// Records everything a session sends and tells, as readable lines, and can
// forward what it sends to a peer session through `wire`.
struct Endpoint : Sink, Listener {
  Endpoint(Role role, StreamOptions options) : session(role, options, *this, *this) {}

  // Sink
  Status send_open(StreamId id, const OpenInfo& info) override {
    sent.push_back("open " + std::to_string(id) + " " + info.service + "." + info.method);
    forward([id, info](StreamSession& p) { p.on_open(id, info); });
    return Status();
  }
  void send_message(StreamId id, const std::string& bytes) override {
    sent.push_back("message " + std::to_string(id) + " " + bytes);
    forward([id, bytes](StreamSession& p) { p.on_message(id, bytes); });
  }
  void send_half_close(StreamId id) override {
    sent.push_back("half_close " + std::to_string(id));
    forward([id](StreamSession& p) { p.on_half_close(id); });
  }
  void send_cancel(StreamId id, const Status& status) override {
    sent.push_back("cancel " + std::to_string(id) + " " + status.to_string());
    forward([id, status](StreamSession& p) { p.on_cancel(id, status); });
  }
  void send_window(StreamId id, Credit credit) override {
    sent.push_back("window " + std::to_string(id) + " " + std::to_string(credit.messages) + "/" +
                   std::to_string(credit.bytes));
    forward([id, credit](StreamSession& p) { p.on_window(id, credit); });
  }
  void send_finish(StreamId id, const Status& status, const Metadata& trailers) override {
    sent.push_back("finish " + std::to_string(id) + " " + status.to_string());
    forward([id, status, trailers](StreamSession& p) { p.on_finish(id, status, trailers); });
  }
  void close_connection(const Status& status) override { closed_with.push_back(status); }

  // Listener
  void on_stream_opened(StreamId id, const OpenInfo& info) override {
    opened.push_back(id);
    opened_info[id] = info;
  }
  void on_readable(StreamId id) override { ++readable[id]; }
  void on_writable(StreamId id) override { ++writable[id]; }
  void on_closed(StreamId id, const Status& status) override { closes[id].push_back(status); }

  void forward(std::function<void(StreamSession&)> event) {
    if (peer != nullptr) wire->push_back([this, event] { event(peer->session); });
  }

  StreamSession session;
  Endpoint* peer = nullptr;
  std::deque<std::function<void()>>* wire = nullptr;
  std::vector<std::string> sent;
  std::vector<Status> closed_with;
  std::vector<StreamId> opened;
  std::map<StreamId, OpenInfo> opened_info;
  std::map<StreamId, int> readable;
  std::map<StreamId, int> writable;
  std::map<StreamId, std::vector<Status>> closes;
};

// A consumer and a provider joined by an in-memory wire, delivered in order.
struct Pair {
  explicit Pair(StreamOptions options = {}) : client(Role::kClient, options), server(Role::kServer, options) {
    client.peer = &server;
    server.peer = &client;
    client.wire = &wire;
    server.wire = &wire;
  }
  void pump() {
    while (!wire.empty()) {
      auto e = std::move(wire.front());
      wire.pop_front();
      e();
    }
  }
  StreamId open(const std::string& method = "talk") {
    auto id = client.session.open({"Chat", method, 3, std::chrono::milliseconds(500), {{"user", "ann"}}});
    EXPECT_TRUE(id.ok()) << id.status().to_string();
    pump();
    return id.ok() ? *id : 0;
  }
  std::deque<std::function<void()>> wire;
  Endpoint client;
  Endpoint server;
};

OpenInfo info(const std::string& method = "talk") { return {"Chat", method, 3, std::chrono::milliseconds(0), {}}; }

TEST(StreamSession, OptionsAreValidated) {
  EXPECT_TRUE(validate(StreamOptions{}).is_ok());
  StreamOptions o;
  o.initial_window.messages = 0;
  EXPECT_EQ(validate(o).code(), StatusCode::kInvalidArgument);
  o = {};
  o.initial_window.bytes = 0x80000000u;
  EXPECT_EQ(validate(o).code(), StatusCode::kInvalidArgument);
  o = {};
  o.max_concurrent_streams = 0;
  EXPECT_EQ(validate(o).code(), StatusCode::kInvalidArgument);
}

TEST(StreamSession, BidiRoundTripWithTrailers) {
  Pair p;
  StreamId id = p.open();
  ASSERT_EQ(id, 1u);
  ASSERT_EQ(p.server.opened, std::vector<StreamId>{1});
  EXPECT_EQ(p.server.opened_info[1].method, "talk");
  EXPECT_EQ(p.server.opened_info[1].timeout, std::chrono::milliseconds(500));
  EXPECT_EQ(p.server.opened_info[1].metadata, (Metadata{{"user", "ann"}}));

  ASSERT_TRUE(p.client.session.write(id, "hi").is_ok());
  ASSERT_TRUE(p.client.session.writes_done(id).is_ok());
  EXPECT_EQ(p.client.session.state(id), State::kHalfClosedLocal);
  p.pump();
  EXPECT_EQ(p.server.session.state(id), State::kHalfClosedRemote);
  EXPECT_EQ(p.server.session.read(id), "hi");
  EXPECT_TRUE(p.server.session.ended(id));
  EXPECT_EQ(p.server.readable[id], 2) << "one message, one half-close";

  ASSERT_TRUE(p.server.session.write(id, "a").is_ok());
  ASSERT_TRUE(p.server.session.write(id, "b").is_ok());
  ASSERT_TRUE(p.server.session.finish(id, Status::ok(), {{"count", "2"}}).is_ok());
  p.pump();
  ASSERT_EQ(p.client.closes[id].size(), 1u);
  EXPECT_TRUE(p.client.closes[id][0].is_ok());
  // Messages that arrived before the end stay readable after it.
  EXPECT_FALSE(p.client.session.ended(id));
  EXPECT_EQ(p.client.session.read(id), "a");
  EXPECT_EQ(p.client.session.read(id), "b");
  EXPECT_EQ(p.client.session.read(id), std::nullopt);
  EXPECT_TRUE(p.client.session.ended(id));
  ASSERT_NE(p.client.session.trailers(id), nullptr);
  EXPECT_EQ(*p.client.session.trailers(id), (Metadata{{"count", "2"}}));
  EXPECT_EQ(p.client.session.open_streams(), 0u);
  EXPECT_EQ(p.server.session.open_streams(), 0u);
  p.client.session.release(id);
  EXPECT_EQ(p.client.session.trailers(id), nullptr);
  EXPECT_TRUE(p.client.closed_with.empty());
  EXPECT_TRUE(p.server.closed_with.empty());
}

TEST(StreamSession, ASlowReaderBoundsTheWriter) {
  StreamOptions o;
  o.initial_window = {4, 1 << 20};
  Pair p(o);
  StreamId id = p.open();
  int sent = 0;
  while (p.server.session.writable(id)) {
    ASSERT_TRUE(p.server.session.write(id, "m" + std::to_string(sent++)).is_ok());
  }
  EXPECT_EQ(sent, 4);
  // One more may wait; a second waiting write is refused.
  ASSERT_TRUE(p.server.session.write(id, "m4").is_ok());
  Status second = p.server.session.write(id, "m5");
  EXPECT_EQ(second.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(second.message().find("already waiting for flow-control credit"), std::string::npos);
  p.pump();
  EXPECT_EQ(p.client.session.inbox_size(id), 4u);

  // Reading half the window grants it back: the waiting message goes out.
  EXPECT_EQ(p.client.session.read(id), "m0");
  p.pump();
  EXPECT_EQ(p.server.writable[id], 0) << "one message read is below the batch of half the window";
  EXPECT_EQ(p.client.session.read(id), "m1");
  p.pump();
  EXPECT_EQ(p.server.writable[id], 1);
  EXPECT_EQ(p.client.session.inbox_size(id), 3u);
  EXPECT_TRUE(p.server.session.writable(id));
}

TEST(StreamSession, InboxNeverExceedsTheWindowUnderLoad) {
  StreamOptions o;
  o.initial_window = {8, 64};
  Pair p(o);
  StreamId id = p.open();
  std::size_t max_inbox = 0, max_bytes = 0;
  int written = 0, read = 0;
  for (int round = 0; round < 3000; ++round) {
    if (p.server.session.writable(id)) {
      ASSERT_TRUE(p.server.session.write(id, std::string(1 + written % 20, 'x')).is_ok());
      ++written;
    }
    p.pump();
    max_inbox = std::max(max_inbox, p.client.session.inbox_size(id));
    max_bytes = std::max(max_bytes, p.client.session.inbox_bytes(id));
    if (round % 3 == 0 && p.client.session.read(id)) ++read;  // a reader three times slower
    p.pump();
  }
  EXPECT_LE(max_inbox, 8u);
  EXPECT_LE(max_bytes, 64u + 20u) << "the window plus one overdrawn message";
  EXPECT_GT(written, 900) << "credit keeps coming back while the reader reads";
  EXPECT_GE(read, written - 8);
}

TEST(StreamSession, AMessageWithoutCreditResetsOnlyThatStream) {
  StreamOptions o;
  o.initial_window = {2, 1000};
  Endpoint server(Role::kServer, o);
  server.session.on_open(1, info());
  server.session.on_open(3, info());
  server.session.on_message(1, "a");
  server.session.on_message(1, "b");
  server.session.on_message(1, "c");  // a third message with credit for two
  ASSERT_EQ(server.closes[1].size(), 1u);
  EXPECT_EQ(server.closes[1][0].code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(server.closes[1][0].message(), "stream 1: message sent without flow-control credit");
  ASSERT_FALSE(server.sent.empty());
  EXPECT_EQ(server.sent.back().rfind("cancel 1 RESOURCE_EXHAUSTED", 0), 0u) << server.sent.back();
  EXPECT_TRUE(server.closed_with.empty()) << "the connection stays";
  server.session.on_message(1, "d");  // late: ignored
  EXPECT_EQ(server.closes[1].size(), 1u);
  server.session.on_message(3, "x");
  EXPECT_EQ(server.session.read(3), "x");
  EXPECT_EQ(server.session.state(3), State::kOpen);
}

TEST(StreamSession, AnOversizeMessageResetsTheStream) {
  StreamOptions o;
  o.max_message_bytes = 8;
  Endpoint server(Role::kServer, o);
  server.session.on_open(1, info());
  server.session.on_message(1, "123456789");
  ASSERT_EQ(server.closes[1].size(), 1u);
  EXPECT_EQ(server.closes[1][0].code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(server.closes[1][0].message(), "stream 1: message of 9 bytes exceeds the limit of 8");
  EXPECT_EQ(server.session.inbox_size(1), 0u);
}

TEST(StreamSession, AStreamIdInUseClosesTheConnection) {
  Endpoint server(Role::kServer, {});
  server.session.on_open(1, info());
  server.session.on_open(1, info());
  ASSERT_EQ(server.closed_with.size(), 1u);
  EXPECT_EQ(server.closed_with[0].code(), StatusCode::kInternal);
  EXPECT_NE(server.closed_with[0].message().find("stream 1: open for a stream id already in use"), std::string::npos)
      << server.closed_with[0].message();
  ASSERT_EQ(server.closes[1].size(), 1u);
  EXPECT_EQ(server.closes[1][0].code(), StatusCode::kUnavailable);
  EXPECT_TRUE(server.closes[1][0].may_have_executed());
  EXPECT_TRUE(server.session.dead());
  server.session.on_open(5, info());
  EXPECT_EQ(server.opened, std::vector<StreamId>{1}) << "a dead session accepts nothing";
}

TEST(StreamSession, AnOldStreamIdClosesTheConnection) {
  Endpoint server(Role::kServer, {});
  server.session.on_open(5, info());
  server.session.on_open(3, info());
  ASSERT_EQ(server.closed_with.size(), 1u);
  EXPECT_NE(server.closed_with[0].message().find("stream 3: stream id reused"), std::string::npos);
}

TEST(StreamSession, EventsForStreamsNeverOpenedCloseTheConnection) {
  Endpoint server(Role::kServer, {});
  server.session.on_message(7, "x");
  ASSERT_EQ(server.closed_with.size(), 1u);
  EXPECT_NE(server.closed_with[0].message().find("never opened"), std::string::npos);

  Endpoint client(Role::kClient, {});
  client.session.on_open(2, info());
  ASSERT_EQ(client.closed_with.size(), 1u);
  EXPECT_NE(client.closed_with[0].message().find("a server does not open streams"), std::string::npos);

  Endpoint zero(Role::kServer, {});
  zero.session.on_open(0, info());
  ASSERT_EQ(zero.closed_with.size(), 1u);
  EXPECT_NE(zero.closed_with[0].message().find("stream id 0"), std::string::npos);
}

TEST(StreamSession, AMessageAfterHalfCloseResetsTheStream) {
  Endpoint server(Role::kServer, {});
  server.session.on_open(1, info());
  server.session.on_half_close(1);
  server.session.on_message(1, "late");
  ASSERT_EQ(server.closes[1].size(), 1u);
  EXPECT_EQ(server.closes[1][0].code(), StatusCode::kInternal);
  EXPECT_EQ(server.closes[1][0].message(), "stream 1: message after half-close");
  EXPECT_TRUE(server.closed_with.empty());
}

TEST(StreamSession, TheConcurrencyLimitRefusesWithResourceExhausted) {
  StreamOptions o;
  o.max_concurrent_streams = 2;
  Endpoint server(Role::kServer, o);
  server.session.on_open(1, info());
  server.session.on_open(3, info());
  server.session.on_open(5, info());
  EXPECT_EQ(server.opened, (std::vector<StreamId>{1, 3}));
  ASSERT_FALSE(server.sent.empty());
  EXPECT_EQ(server.sent.back().rfind("cancel 5 RESOURCE_EXHAUSTED", 0), 0u) << server.sent.back();
  EXPECT_TRUE(server.closed_with.empty());
  server.session.on_message(5, "x");  // crossed the refusal: ignored, not fatal
  EXPECT_TRUE(server.closed_with.empty());
  ASSERT_TRUE(server.session.finish(1, Status::ok()).is_ok());
  server.session.on_open(7, info());
  EXPECT_EQ(server.opened, (std::vector<StreamId>{1, 3, 7}));

  Endpoint client(Role::kClient, o);
  ASSERT_TRUE(client.session.open(info()).ok());
  ASSERT_TRUE(client.session.open(info()).ok());
  auto third = client.session.open(info());
  EXPECT_EQ(third.status().code(), StatusCode::kResourceExhausted);
}

TEST(StreamSession, ACancelEndsTheStreamOnceOnBothSides) {
  Pair p;
  StreamId id = p.open();
  ASSERT_TRUE(p.client.session.write(id, "x").is_ok());
  ASSERT_TRUE(p.client.session.cancel(id).is_ok());
  ASSERT_EQ(p.client.closes[id].size(), 1u);
  EXPECT_EQ(p.client.closes[id][0].code(), StatusCode::kCancelled);
  p.pump();
  ASSERT_EQ(p.server.closes[id].size(), 1u);
  EXPECT_EQ(p.server.closes[id][0].code(), StatusCode::kCancelled);
  EXPECT_EQ(p.server.closes[id][0].message(), "cancelled by the peer: cancelled");
  Status late = p.server.session.write(id, "reply");
  EXPECT_EQ(late.code(), StatusCode::kCancelled) << late.message();
  EXPECT_EQ(p.server.session.finish(id, Status::ok()).code(), StatusCode::kFailedPrecondition);
  EXPECT_TRUE(p.client.session.cancel(id).is_ok()) << "cancel is idempotent";
  p.pump();
  EXPECT_EQ(p.client.closes[id].size(), 1u);
  EXPECT_EQ(p.server.closes[id].size(), 1u);
}

TEST(StreamSession, ALostConnectionEndsEveryStreamOnce) {
  Pair p;
  StreamId a = p.open(), b = p.open(), c = p.open();
  ASSERT_TRUE(p.server.session.finish(c, Status::ok()).is_ok());
  p.pump();
  p.client.session.on_connection_lost(Status(StatusCode::kUnavailable, "connection reset", true));
  p.client.session.on_connection_lost(Status(StatusCode::kUnavailable, "again", true));
  for (StreamId id : {a, b}) {
    ASSERT_EQ(p.client.closes[id].size(), 1u);
    EXPECT_EQ(p.client.closes[id][0].message(), "connection reset");
  }
  ASSERT_EQ(p.client.closes[c].size(), 1u);
  EXPECT_TRUE(p.client.closes[c][0].is_ok()) << "an ended stream keeps its status";
  EXPECT_EQ(p.client.session.open(info()).status().code(), StatusCode::kUnavailable);
}

TEST(StreamSession, MisuseOfTheApiIsRefusedLocally) {
  Pair p;
  StreamId id = p.open();
  ASSERT_TRUE(p.client.session.writes_done(id).is_ok());
  Status w = p.client.session.write(id, "x");
  EXPECT_EQ(w.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(w.message(), "stream 1: write after writes_done");
  EXPECT_EQ(p.client.session.writes_done(id).message(), "stream 1: writes_done called twice");
  EXPECT_EQ(p.client.session.finish(id, Status::ok()).message(), "stream 1: only a server finishes a stream");
  EXPECT_EQ(p.server.session.writes_done(id).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.server.session.open(info()).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.server.session.write(99, "x").message(), "stream 99: unknown stream");
  StreamOptions small;
  small.max_message_bytes = 2;
  Endpoint client(Role::kClient, small);
  StreamId s = *client.session.open(info());
  EXPECT_EQ(client.session.write(s, "abc").code(), StatusCode::kResourceExhausted);
  p.pump();
  EXPECT_TRUE(p.client.closed_with.empty());
  EXPECT_TRUE(p.server.closed_with.empty());
}

TEST(StreamSession, WritesDoneWaitsBehindAWaitingMessage) {
  StreamOptions o;
  o.initial_window = {1, 100};
  Pair p(o);
  StreamId id = p.open();
  ASSERT_TRUE(p.client.session.write(id, "one").is_ok());
  ASSERT_TRUE(p.client.session.write(id, "two").is_ok());  // waits for credit
  ASSERT_TRUE(p.client.session.writes_done(id).is_ok());
  EXPECT_EQ(p.client.session.state(id), State::kOpen) << "the half-close follows the waiting message";
  p.pump();
  EXPECT_EQ(p.server.session.read(id), "one");  // grants credit back
  p.pump();
  EXPECT_EQ(p.server.session.read(id), "two");
  EXPECT_TRUE(p.server.session.ended(id));
  EXPECT_EQ(p.client.session.state(id), State::kHalfClosedLocal);
  auto it = std::find(p.client.sent.begin(), p.client.sent.end(), "message 1 two");
  ASSERT_NE(it, p.client.sent.end());
  ASSERT_NE(it + 1, p.client.sent.end());
  EXPECT_EQ(*(it + 1), "half_close 1");
}

TEST(StreamSession, FinishingWithAMessageTheReaderHasNoCreditForSaysSo) {
  StreamOptions o;
  o.initial_window = {1, 100};
  Pair p(o);
  StreamId id = p.open();
  ASSERT_TRUE(p.server.session.write(id, "first").is_ok());
  ASSERT_TRUE(p.server.session.write(id, "second").is_ok());  // waits
  ASSERT_TRUE(p.server.session.finish(id, Status::ok()).is_ok());
  p.pump();
  ASSERT_EQ(p.client.closes[id].size(), 1u);
  EXPECT_EQ(p.client.closes[id][0].code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(p.client.session.read(id), "first");
  EXPECT_EQ(p.client.session.read(id), std::nullopt);
}

TEST(StreamSession, AWindowGrantPastTheMaximumResetsTheStream) {
  Endpoint client(Role::kClient, {});
  StreamId id = *client.session.open(info());
  client.session.on_window(id, {0, 0x7FFFFFFFu});
  ASSERT_EQ(client.closes[id].size(), 1u);
  EXPECT_EQ(client.closes[id][0].message(), "stream 1: window grant overflows 2^31-1");
  EXPECT_TRUE(client.closed_with.empty());
}

}  // namespace
}  // namespace tern::stream
