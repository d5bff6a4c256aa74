// TernStreamCodec (tern_stream_codec.h).
#include "protocol/tern_stream_codec.h"

#include "tern/protocol/stream_frames.h"

namespace tern::protocol {

void TernStreamCodec::feed(const Frame& frame) {
  if (closed_ || session_ == nullptr) return;
  StreamEvent e;
  if (Status st = decode_stream_frame(frame, &e); !st.is_ok()) {
    close_connection(st);
    return;
  }
  stream::StreamSession& s = *session_;
  switch (e.type) {
    case FrameType::kStreamOpen: {
      serialization_ = e.serialization;
      stream::OpenInfo info{std::move(e.service), std::move(e.method), e.serialization, e.timeout,
                            std::move(e.metadata)};
      s.on_open(e.stream_id, std::move(info));
      if (e.message && !closed_) s.on_message(e.stream_id, std::move(*e.message));
      break;
    }
    case FrameType::kStreamMessage: s.on_message(e.stream_id, std::move(*e.message)); break;
    case FrameType::kStreamHalfClose: s.on_half_close(e.stream_id); break;
    case FrameType::kStreamCancel: s.on_cancel(e.stream_id, std::move(e.status)); break;
    case FrameType::kStreamWindow: s.on_window(e.stream_id, {e.window_messages, e.window_bytes}); break;
    case FrameType::kStreamFinish: s.on_finish(e.stream_id, std::move(e.status), std::move(e.metadata)); break;
    default: break;  // decode_stream_frame admits only stream frames
  }
}

Status TernStreamCodec::send_open(stream::StreamId id, const stream::OpenInfo& info) {
  Result<std::string> frame =
      encode_stream_open(id, info.service, info.method, info.serialization, info.timeout, info.metadata);
  if (!frame.ok()) return frame.status();  // metadata too large: open() fails, nothing is sent
  serialization_ = info.serialization;
  write_(std::move(*frame));
  return Status();
}

void TernStreamCodec::send_message(stream::StreamId id, const std::string& bytes) {
  write_(encode_stream_message(id, serialization_, bytes));
}

void TernStreamCodec::send_half_close(stream::StreamId id) { write_(encode_stream_half_close(id)); }

void TernStreamCodec::send_cancel(stream::StreamId id, const Status& status) {
  write_(encode_stream_cancel(id, status));
}

void TernStreamCodec::send_window(stream::StreamId id, stream::Credit credit) {
  write_(encode_stream_window(id, credit.messages, credit.bytes));
}

void TernStreamCodec::send_finish(stream::StreamId id, const Status& status, const stream::Metadata& trailers) {
  Result<std::string> frame = encode_stream_finish(id, status, trailers);
  if (!frame.ok()) {
    // Trailers too large: finish with the reason instead, so the consumer
    // still learns how the stream ended.
    frame = encode_stream_finish(id, Status(StatusCode::kInternal, frame.status().message()), {});
  }
  write_(std::move(*frame));
}

void TernStreamCodec::close_connection(const Status& status) {
  if (closed_) return;
  closed_ = true;
  close_(status);
}

}  // namespace tern::protocol
