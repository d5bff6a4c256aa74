// tern/protocol/stream_frames.h - the Tern protocol's stream frames
// (docs/protocol.md §12.4): the six stream call events as frames 9..14.
//
//   event       frame                request id  byte 4   byte 5   timeout   metadata       body
//   open        kStreamOpen (9)      stream id   serial.  0        deadline  service,method  first message
//                                                                            + attachments  (optional)
//   message     kStreamMessage (10)  stream id   serial.  0        0         -              the message
//   half_close  kStreamHalfClose(11) stream id   0        0        0         -              -
//   cancel      kStreamCancel (12)   stream id   0        status   0         -              status message
//   window      kStreamWindow (13)   stream id   0        0        0         -              u32 messages, u32 bytes (BE)
//   finish      kStreamFinish (14)   stream id   0        status   0         trailers       status message
//
// This header turns values into frames and frames into values, like frame.h:
// no sockets, no threads, no session state. The stream rules (which event is
// legal when) are the stream core's (src/stream/stream_core.h); a codec
// adapter feeds it what decode_stream_frame() returns.
//
// Thread safety: the functions are pure; call them from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/protocol/frame.h"
#include "tern/result.h"
#include "tern/status.h"

namespace tern::protocol {

// One decoded stream event. Which fields are set depends on `type`:
//   open:    service, method, serialization, timeout, metadata, and `message`
//            when the open carried a first message;
//   message: message;           cancel, finish: status (and trailers for finish);
//   window:  window_messages, window_bytes;   half_close: nothing.
struct StreamEvent {
  FrameType type = FrameType::kStreamOpen;
  std::uint64_t stream_id = 0;
  std::string service;
  std::string method;
  std::uint8_t serialization = 0;
  std::chrono::milliseconds timeout{0};  // 0 = no deadline
  std::vector<std::pair<std::string, std::string>> metadata;  // open: attachments; finish: trailers
  std::optional<std::string> message;
  Status status;
  std::uint32_t window_messages = 0;
  std::uint32_t window_bytes = 0;
};

// Decodes one stream frame (is_stream_frame(frame.header.type) must hold).
// INVALID_ARGUMENT "protocol error: ..." when the frame cannot be a stream
// event: stream id 0, malformed metadata, a window body that is not 8 bytes,
// flags set on a frame that has none, a body on a half-close, an open without
// service or method, or a finish/cancel whose status byte is above 16. The
// receiver closes the connection on such an error (the framing is suspect),
// as the decoder's errors do (docs/protocol.md §9).
Status decode_stream_frame(const Frame& frame, StreamEvent* out);

// Encoders: each returns one complete frame. Metadata that does not fit a
// frame (over 64 KiB - 1, or a key or value over 65535 bytes) is
// INVALID_ARGUMENT, naming the entry; nothing else fails.
Result<std::string> encode_stream_open(std::uint64_t id, std::string_view service, std::string_view method,
                                       std::uint8_t serialization, std::chrono::milliseconds timeout,
                                       const std::vector<std::pair<std::string, std::string>>& metadata,
                                       std::string_view first_message = {});
std::string encode_stream_message(std::uint64_t id, std::uint8_t serialization, std::string_view message);
std::string encode_stream_half_close(std::uint64_t id);
// A status code above 16 is sent as UNKNOWN; an OK status as CANCELLED (a
// cancel always fails the stream).
std::string encode_stream_cancel(std::uint64_t id, const Status& status);
std::string encode_stream_window(std::uint64_t id, std::uint32_t messages, std::uint32_t bytes);
// A status code above 16 is sent as UNKNOWN with its message kept.
Result<std::string> encode_stream_finish(std::uint64_t id, const Status& status,
                                         const std::vector<std::pair<std::string, std::string>>& trailers);

}  // namespace tern::protocol
