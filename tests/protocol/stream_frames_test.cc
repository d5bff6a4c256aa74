// Stream frames 9..14 (tern/protocol/stream_frames.h) and the codec that joins
// them to the stream core (src/protocol/tern_stream_codec.h). Every frame here
// goes through the real FrameDecoder, as it would off a socket.
#include "tern/protocol/stream_frames.h"

#include <gtest/gtest.h>

#include <deque>
#include <string>
#include <vector>

#include "protocol/tern_stream_codec.h"
#include "tern/protocol/decoder.h"

namespace tern::protocol {
namespace {

// Decodes exactly one frame from `bytes`.
Frame one_frame(const std::string& bytes) {
  FrameDecoder decoder;
  std::vector<Frame> frames;
  Status st = decoder.feed(bytes, [&](Frame&& f) { frames.push_back(std::move(f)); });
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  EXPECT_EQ(frames.size(), 1u);
  return frames.empty() ? Frame{} : std::move(frames[0]);
}

StreamEvent decoded(const std::string& bytes) {
  StreamEvent e;
  Status st = decode_stream_frame(one_frame(bytes), &e);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return e;
}

TEST(StreamFrames, OpenCarriesMethodDeadlineAttachmentsAndAFirstMessage) {
  auto bytes = encode_stream_open(7, "Chat", "talk", 3, std::chrono::milliseconds(1500),
                                  {{"user", "ann"}, {"trace", "t1"}}, "hello");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(static_cast<unsigned char>((*bytes)[3]), 9) << "frame type 9";
  StreamEvent e = decoded(*bytes);
  EXPECT_EQ(e.type, FrameType::kStreamOpen);
  EXPECT_EQ(e.stream_id, 7u);
  EXPECT_EQ(e.service, "Chat");
  EXPECT_EQ(e.method, "talk");
  EXPECT_EQ(e.serialization, 3);
  EXPECT_EQ(e.timeout, std::chrono::milliseconds(1500));
  ASSERT_EQ(e.metadata.size(), 2u);
  EXPECT_EQ(e.metadata[0], (std::pair<std::string, std::string>{"user", "ann"}));
  EXPECT_EQ(e.metadata[1], (std::pair<std::string, std::string>{"trace", "t1"}));
  ASSERT_TRUE(e.message.has_value());
  EXPECT_EQ(*e.message, "hello");

  StreamEvent bare = decoded(*encode_stream_open(9, "S", "m", 0, std::chrono::milliseconds(0), {}));
  EXPECT_FALSE(bare.message.has_value()) << "an open without a body has no first message";
  EXPECT_EQ(bare.timeout, std::chrono::milliseconds(0));
}

TEST(StreamFrames, EveryOtherEventRoundTrips) {
  StreamEvent m = decoded(encode_stream_message(3, 1, std::string("\0\1\2", 3)));
  EXPECT_EQ(m.type, FrameType::kStreamMessage);
  EXPECT_EQ(m.serialization, 1);
  EXPECT_EQ(*m.message, std::string("\0\1\2", 3));

  StreamEvent h = decoded(encode_stream_half_close(3));
  EXPECT_EQ(h.type, FrameType::kStreamHalfClose);
  EXPECT_EQ(h.stream_id, 3u);

  StreamEvent w = decoded(encode_stream_window(3, 32, 0x7fffffff));
  EXPECT_EQ(w.type, FrameType::kStreamWindow);
  EXPECT_EQ(w.window_messages, 32u);
  EXPECT_EQ(w.window_bytes, 0x7fffffffu);

  StreamEvent c = decoded(encode_stream_cancel(3, Status(StatusCode::kDeadlineExceeded, "too slow")));
  EXPECT_EQ(c.status.code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(c.status.message(), "too slow");
  EXPECT_TRUE(c.status.may_have_executed());
  EXPECT_EQ(decoded(encode_stream_cancel(3, Status())).status.code(), StatusCode::kCancelled)
      << "a cancel is never OK";

  auto fin = encode_stream_finish(3, Status(StatusCode::kNotFound, "no such room"), {{"count", "2"}});
  ASSERT_TRUE(fin.ok());
  StreamEvent f = decoded(*fin);
  EXPECT_EQ(f.status.code(), StatusCode::kNotFound);
  EXPECT_EQ(f.status.message(), "no such room");
  ASSERT_EQ(f.metadata.size(), 1u);
  EXPECT_EQ(f.metadata[0].second, "2");
  StreamEvent ok = decoded(*encode_stream_finish(3, Status(), {}));
  EXPECT_TRUE(ok.status.is_ok());
  EXPECT_EQ(decoded(*encode_stream_finish(3, Status(static_cast<StatusCode>(40), "odd"), {})).status.code(),
            StatusCode::kUnknown);
}

TEST(StreamFrames, MetadataThatCannotFitIsRefusedByTheEncoder) {
  auto open = encode_stream_open(1, "S", "m", 0, std::chrono::milliseconds(0), {{"big", std::string(70000, 'x')}});
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(open.status().message().find("'big'"), std::string::npos) << open.status().message();
}

// A frame built by hand, as a hostile peer would send it.
std::string forged(FrameType type, std::uint64_t id, std::uint8_t byte5, std::string_view meta,
                   std::string_view body) {
  FrameBuilder b(type, id);
  b.header().status_or_flags = byte5;
  if (!meta.empty()) b.add_meta(meta, "v");
  b.begin_body();
  b.append_body(body);
  return b.finish();
}

TEST(StreamFrames, MalformedStreamFramesAreProtocolErrors) {
  struct Case {
    std::string bytes;
    std::string expect;
  } cases[] = {
      {forged(FrameType::kStreamMessage, 0, 0, "", "x"), "stream_message with stream id 0"},
      {forged(FrameType::kStreamWindow, 1, 0, "", "1234567"), "stream_window body of 7 bytes"},
      {forged(FrameType::kStreamMessage, 1, 0x01, "", "x"), "unknown flags 0x01 on stream_message"},
      {forged(FrameType::kStreamHalfClose, 1, 0, "", "x"), "body on stream_half_close"},
      {forged(FrameType::kStreamMessage, 1, 0, "k", "x"), "metadata on stream_message"},
      {forged(FrameType::kStreamOpen, 1, 0, "service", ""), "open names no service or method"},
      {forged(FrameType::kStreamCancel, 1, 0, "", ""), "stream_cancel with status OK"},
      {forged(FrameType::kStreamFinish, 1, 17, "", ""), "stream_finish with status byte 0x11"},
      {forged(FrameType::kStreamFinish, 1, 0x45, "", ""), "stream_finish with status byte 0x45"},
  };
  for (const Case& c : cases) {
    StreamEvent e;
    Status st = decode_stream_frame(one_frame(c.bytes), &e);
    EXPECT_EQ(st.code(), StatusCode::kInvalidArgument) << c.expect;
    EXPECT_NE(st.message().find(c.expect), std::string::npos) << st.message();
    EXPECT_EQ(st.message().rfind("protocol error: stream ", 0), 0u) << st.message();
  }
}

// One end of a connection: a session, its codec, and the decoder its bytes
// arrive through.
struct End : stream::Listener {
  explicit End(stream::Role role, stream::StreamOptions options = {})
      : codec([this](std::string f) { out.push_back(std::move(f)); },
              [this](const Status& why) { closed_with.push_back(why); }),
        session(role, options, codec, *this) {
    codec.bind(session);
  }
  // Feeds `bytes` through this end's decoder into the codec.
  void receive(const std::string& bytes) {
    Status st = decoder.feed(bytes, [&](Frame&& f) { codec.feed(f); });
    EXPECT_TRUE(st.is_ok()) << st.to_string();
  }
  void on_stream_opened(stream::StreamId id, const stream::OpenInfo& info) override {
    opened.push_back(std::to_string(id) + " " + info.service + "." + info.method);
  }
  void on_readable(stream::StreamId) override {}
  void on_writable(stream::StreamId) override {}
  void on_closed(stream::StreamId, const Status& status) override { closes.push_back(status); }

  TernStreamCodec codec;
  stream::StreamSession session;
  FrameDecoder decoder;
  std::deque<std::string> out;  // frames to the peer
  std::vector<Status> closed_with;
  std::vector<std::string> opened;
  std::vector<Status> closes;
};

// Moves every queued frame both ways, concatenated as a socket would.
void pump(End& a, End& b) {
  while (!a.out.empty() || !b.out.empty()) {
    std::string ab, ba;
    for (auto& f : a.out) ab += f;
    for (auto& f : b.out) ba += f;
    a.out.clear();
    b.out.clear();
    if (!ab.empty()) b.receive(ab);
    if (!ba.empty()) a.receive(ba);
  }
}

TEST(TernStreamCodec, ABidirectionalStreamRunsOverRealFrames) {
  stream::StreamOptions small;
  small.initial_window = {2, 1024};
  End client(stream::Role::kClient, small), server(stream::Role::kServer, small);
  auto id = client.session.open({"Chat", "talk", 3, std::chrono::milliseconds(800), {{"user", "ann"}}});
  ASSERT_TRUE(id.ok());
  pump(client, server);
  ASSERT_EQ(server.opened, std::vector<std::string>{"1 Chat.talk"});

  // Six messages through a two-message window: the writer only gets on as
  // the reader reads and its codec sends WINDOW frames back.
  int sent = 0;
  std::vector<std::string> got;
  while (got.size() < 6) {
    while (sent < 6 && client.session.writable(*id)) {
      ASSERT_TRUE(client.session.write(*id, "m" + std::to_string(sent++)).is_ok());
    }
    pump(client, server);
    EXPECT_LE(server.session.inbox_size(*id), 2u) << "the window bounds the reader's inbox";
    while (auto m = server.session.read(*id)) got.push_back(*m);
    pump(client, server);
  }
  EXPECT_EQ(got, (std::vector<std::string>{"m0", "m1", "m2", "m3", "m4", "m5"}));
  ASSERT_TRUE(client.session.writes_done(*id).is_ok());
  ASSERT_TRUE(server.session.write(*id, "bye").is_ok());
  ASSERT_TRUE(server.session.finish(*id, Status(), {{"count", "6"}}).is_ok());
  pump(client, server);
  EXPECT_EQ(client.session.read(*id), std::optional<std::string>("bye"));
  ASSERT_EQ(client.closes.size(), 1u);
  EXPECT_TRUE(client.closes[0].is_ok()) << client.closes[0].to_string();
  ASSERT_NE(client.session.trailers(*id), nullptr);
  EXPECT_EQ(*client.session.trailers(*id), (stream::Metadata{{"count", "6"}}));
  EXPECT_TRUE(client.closed_with.empty());
  EXPECT_TRUE(server.closed_with.empty());
}

TEST(TernStreamCodec, ACancelCrossesTheWireWithItsStatus) {
  End client(stream::Role::kClient), server(stream::Role::kServer);
  auto id = client.session.open({"Chat", "talk", 3, std::chrono::milliseconds(0), {}});
  ASSERT_TRUE(id.ok());
  pump(client, server);
  ASSERT_TRUE(server.session.cancel(*id, Status(StatusCode::kPermissionDenied, "not your room")).is_ok());
  pump(client, server);
  ASSERT_EQ(client.closes.size(), 1u);
  EXPECT_EQ(client.closes[0].code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(client.closes[0].message(), "cancelled by the peer: not your room");
}

TEST(TernStreamCodec, AMalformedFrameClosesTheConnectionOnce) {
  End server(stream::Role::kServer);
  server.receive(forged(FrameType::kStreamWindow, 1, 0, "", "short"));
  server.receive(forged(FrameType::kStreamWindow, 1, 0, "", "short"));
  ASSERT_EQ(server.closed_with.size(), 1u);
  EXPECT_EQ(server.closed_with[0].code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(server.codec.closed());
}

TEST(TernStreamCodec, AStreamRuleBrokenOverTheWireClosesTheConnection) {
  End server(stream::Role::kServer);
  server.receive(encode_stream_message(5, 0, "for a stream never opened"));
  ASSERT_EQ(server.closed_with.size(), 1u);
  EXPECT_EQ(server.closed_with[0].code(), StatusCode::kInternal);
  EXPECT_NE(server.closed_with[0].message().find("never opened"), std::string::npos)
      << server.closed_with[0].message();
}

TEST(TernStreamCodec, AnOpenWhoseMetadataCannotBeSentFailsAndSendsNothing) {
  End client(stream::Role::kClient);
  auto id = client.session.open({"Chat", "talk", 3, std::chrono::milliseconds(0), {{"k", std::string(70000, 'v')}}});
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(client.out.empty());
  EXPECT_EQ(client.session.open_streams(), 0u);
  auto next = client.session.open({"Chat", "talk", 3, std::chrono::milliseconds(0), {}});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 2u) << "the failed open's id stays used, so ids still only increase";
}

}  // namespace
}  // namespace tern::protocol
