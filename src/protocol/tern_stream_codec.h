// TernStreamCodec: joins the stream core (src/stream/stream_core.h) to the
// Tern protocol's stream frames (tern/protocol/stream_frames.h). It is the
// session's Sink, turning what the session sends into frames handed to
// `write`, and feed() turns received stream frames into the session's on_*
// events (shared/DESIGN.md §12: one codec seam, the same events on every wire).
//
//   FrameDecoder ──Frame──> TernStreamCodec::feed ──on_*──> StreamSession
//   connection <──write──── TernStreamCodec (Sink) <──send_*── StreamSession
//
// Errors: a stream frame that cannot be decoded (stream_frames.h) or a
// session that breaks a connection rule ends in `close(status)` with
// INTERNAL/INVALID_ARGUMENT and the reason; the owner closes the connection.
// `close` is called at most once; feed() does nothing after it.
//
// Thread safety: none; the codec, like the session, belongs to its
// connection's IO thread. `write` and `close` run inline from session calls
// and from feed().
//
// Ownership: the codec must outlive the session bound to it (bind()).
#pragma once

#include <functional>
#include <string>

#include "stream/stream_core.h"
#include "tern/protocol/frame.h"
#include "tern/status.h"

namespace tern::protocol {

class TernStreamCodec final : public stream::Sink {
 public:
  using Write = std::function<void(std::string frame)>;
  using Close = std::function<void(const Status& why)>;

  TernStreamCodec(Write write, Close close) : write_(std::move(write)), close_(std::move(close)) {}

  // The session whose events feed() delivers. Must be set before feed().
  void bind(stream::StreamSession& session) noexcept { session_ = &session; }

  // Delivers one received stream frame to the session.
  void feed(const Frame& frame);

  bool closed() const noexcept { return closed_; }

  // stream::Sink
  Status send_open(stream::StreamId id, const stream::OpenInfo& info) override;
  void send_message(stream::StreamId id, const std::string& bytes) override;
  void send_half_close(stream::StreamId id) override;
  void send_cancel(stream::StreamId id, const Status& status) override;
  void send_window(stream::StreamId id, stream::Credit credit) override;
  void send_finish(stream::StreamId id, const Status& status, const stream::Metadata& trailers) override;
  void close_connection(const Status& status) override;

 private:
  Write write_;
  Close close_;
  stream::StreamSession* session_ = nullptr;
  std::uint8_t serialization_ = 0;  // of the last open: messages echo it
  bool closed_ = false;
};

}  // namespace tern::protocol
