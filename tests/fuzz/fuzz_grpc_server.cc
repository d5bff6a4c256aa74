// Fuzz target: the provider's side of the gRPC wire, GrpcServerCodec
// (src/protocol/http2, nghttp2 below it) bound to a stream::StreamSession, as
// src/server/grpc_session.cc wires them.
//
// The input is what a client sends after the HTTP/2 client preface (which the
// target sends first): frames of any kind, valid or not. It is fed in chunks
// whose size the input's last byte picks, so frames are also cut at every
// boundary. Between chunks a small application runs, as the provider would:
// unary requests are answered (OK with a message, or an error status), and
// every stream method reads what arrived, echoes it back, and finishes once
// the client half-closed. Stream methods are those whose method name starts
// with 'S' (Hooks::is_stream).
//
// Invariants:
//   - the codec never crashes, leaks or trips a sanitizer, whatever the bytes;
//   - a unary request handed over carries no message over the limit;
//   - Hooks::close runs at most once, and nothing is written after it;
//   - the stream session has no more open streams than SETTINGS allowed.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "protocol/http2/grpc_server_codec.h"
#include "stream/stream_core.h"

namespace {

using tern::Status;
using tern::StatusCode;
using namespace tern::stream;
using tern::protocol::http2::GrpcCodecOptions;
using tern::protocol::http2::GrpcServerCodec;
using tern::protocol::http2::GrpcUnaryRequest;

constexpr std::uint32_t kMaxMessage = 1024;
constexpr std::uint32_t kMaxStreams = 8;

// The stream methods' application: records what the session tells it; the
// reactions run between chunks (never inside the codec's callbacks).
struct App : Listener {
  void on_stream_opened(StreamId id, const OpenInfo&) override { live.insert(id); }
  void on_readable(StreamId) override {}
  void on_writable(StreamId) override {}
  void on_closed(StreamId id, const Status&) override { closed.insert(id); }

  std::set<StreamId> live;
  std::set<StreamId> closed;
};

struct Wire {
  std::size_t written = 0;
  int closes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Wire wire;
  std::deque<GrpcUnaryRequest> unary;
  GrpcServerCodec::Hooks hooks;
  hooks.write = [&wire](std::string bytes) {
    FUZZ_CHECK(wire.closes == 0, "bytes written after the connection closed");
    wire.written += bytes.size();
  };
  hooks.close = [&wire](const Status&) {
    FUZZ_CHECK(wire.closes == 0, "the connection closed twice");
    ++wire.closes;
  };
  hooks.is_stream = [](std::string_view, std::string_view method) { return !method.empty() && method[0] == 'S'; };
  hooks.on_unary = [&unary](GrpcUnaryRequest r) {
    FUZZ_CHECK(r.message.size() <= kMaxMessage, "a unary request over the message limit");
    unary.push_back(std::move(r));
  };
  hooks.on_unary_cancel = [](std::int32_t) {};

  GrpcCodecOptions co;
  co.max_message_bytes = kMaxMessage;
  co.max_concurrent_streams = kMaxStreams;
  co.initial_window = Credit{4, 4096};
  StreamOptions so;
  so.max_message_bytes = kMaxMessage;
  so.max_concurrent_streams = kMaxStreams;
  so.initial_window = co.initial_window;

  App app;
  // The codec is the session's Sink and feeds it: the session is declared
  // after the codec, so it goes first, as in the StreamHub (which owns both).
  auto codec = std::make_shared<GrpcServerCodec>(std::move(hooks), co);
  StreamSession session(Role::kServer, so, *codec, app);
  codec->bind(session);

  auto run_app = [&] {
    int n = 0;
    while (!unary.empty()) {
      GrpcUnaryRequest r = std::move(unary.front());
      unary.pop_front();
      if (++n % 3 == 0) {
        codec->respond_unary(r.stream_id, Status(StatusCode::kNotFound, "no such thing: 100%"), {}, {{"x-k", "v"}});
      } else {
        codec->respond_unary(r.stream_id, Status(), r.message, {{"x-bin", std::string("\0\1", 2)}});
      }
    }
    for (StreamId id : app.live) {
      while (auto m = session.read(id)) {
        if (session.writable(id)) (void)session.write(id, std::move(*m));
      }
      if (session.ended(id)) (void)session.finish(id, Status(), {{"x-done", "1"}});
    }
    for (StreamId id : app.closed) {
      session.release(id);
      app.live.erase(id);
    }
    app.closed.clear();
    FUZZ_CHECK(session.open_streams() <= kMaxStreams, "more open streams than SETTINGS allow");
  };

  codec->feed(tern::protocol::http2::kClientPreface);
  const std::size_t chunk = size == 0 ? 1 : 1 + data[size - 1] % 97;
  for (std::size_t at = 0; at < size; at += chunk) {
    codec->feed(std::string_view(reinterpret_cast<const char*>(data) + at, std::min(chunk, size - at)));
    run_app();
  }
  codec->goaway();
  run_app();
  session.on_connection_lost(Status(StatusCode::kUnavailable, "fuzz input ended", true));
  return 0;
}
