// Stream frames 9..14 (tern/protocol/stream_frames.h, docs/protocol.md §12.4).
#include "tern/protocol/stream_frames.h"

#include <fmt/format.h>

#include <limits>

namespace tern::protocol {
namespace {

constexpr std::uint8_t kMaxWireStatus = 16;  // UNAUTHENTICATED, the last canonical code

Status bad(std::uint64_t id, std::string_view what) {
  return Status(StatusCode::kInvalidArgument, fmt::format("protocol error: stream {}: {}", id, what));
}

std::uint8_t wire_status(const Status& status, StatusCode if_ok) {
  if (status.is_ok()) return static_cast<std::uint8_t>(if_ok);
  auto code = static_cast<std::uint8_t>(status.code());
  return code > kMaxWireStatus ? static_cast<std::uint8_t>(StatusCode::kUnknown) : code;
}

// Adds `entries` to `b`; INVALID_ARGUMENT naming the first that does not fit.
Status add_entries(FrameBuilder& b, std::uint64_t id,
                   const std::vector<std::pair<std::string, std::string>>& entries) {
  for (const auto& [k, v] : entries) {
    if (!b.add_meta(k, v)) {
      return Status(StatusCode::kInvalidArgument,
                    fmt::format("stream {}: metadata entry '{}' ({} bytes) does not fit in a frame", id,
                                k.substr(0, 64), k.size() + v.size()));
    }
  }
  return Status();
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
}

std::uint32_t get_u32(std::string_view in) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}

std::string simple_frame(FrameType type, std::uint64_t id, std::uint8_t serialization, std::uint8_t byte5,
                         std::string_view body) {
  FrameBuilder b(type, id, body.size());
  b.header().serialization = serialization;
  b.header().status_or_flags = byte5;
  b.begin_body();
  b.append_body(body);
  return b.finish();
}

}  // namespace

Status decode_stream_frame(const Frame& frame, StreamEvent* out) {
  const FrameHeader& h = frame.header;
  const std::uint64_t id = h.request_id;
  *out = StreamEvent{};
  out->type = h.type;
  out->stream_id = id;
  if (!is_stream_frame(h.type)) return bad(id, "not a stream frame");
  if (id == 0) return bad(id, fmt::format("{} with stream id 0", frame_type_name(h.type)));
  const bool has_status = h.type == FrameType::kStreamCancel || h.type == FrameType::kStreamFinish;
  if (has_status) {
    if ((h.status_or_flags & flags::kStatusMask) > kMaxWireStatus || (h.status_or_flags & ~flags::kStatusMask) != 0) {
      return bad(id, fmt::format("{} with status byte 0x{:02X}", frame_type_name(h.type), h.status_or_flags));
    }
  } else if (h.status_or_flags != 0) {
    return bad(id, fmt::format("unknown flags 0x{:02X} on {}", h.status_or_flags, frame_type_name(h.type)));
  }
  if (h.type != FrameType::kStreamOpen && h.type != FrameType::kStreamFinish && h.meta_len != 0) {
    return bad(id, fmt::format("metadata on {}", frame_type_name(h.type)));
  }
  const std::string_view body = frame.body();
  switch (h.type) {
    case FrameType::kStreamOpen: {
      Status st = for_each_meta(frame.meta(), [&](std::string_view k, std::string_view v) {
        if (k == meta_keys::kService && out->service.empty()) {
          out->service = v;
        } else if (k == meta_keys::kMethod && out->method.empty()) {
          out->method = v;
        } else {
          out->metadata.emplace_back(k, v);
        }
      });
      if (!st.is_ok()) return bad(id, st.message());
      if (out->service.empty() || out->method.empty()) return bad(id, "open names no service or method");
      out->serialization = h.serialization;
      out->timeout = std::chrono::milliseconds(h.timeout_ms);
      if (!body.empty()) out->message = std::string(body);
      return Status();
    }
    case FrameType::kStreamMessage:
      out->serialization = h.serialization;
      out->message = std::string(body);
      return Status();
    case FrameType::kStreamHalfClose:
      if (!body.empty()) return bad(id, "body on stream_half_close");
      return Status();
    case FrameType::kStreamWindow:
      if (body.size() != 8) return bad(id, fmt::format("stream_window body of {} bytes (8 expected)", body.size()));
      out->window_messages = get_u32(body);
      out->window_bytes = get_u32(body.substr(4));
      return Status();
    case FrameType::kStreamCancel:
    case FrameType::kStreamFinish: {
      const auto code = static_cast<StatusCode>(h.status_or_flags & flags::kStatusMask);
      if (h.type == FrameType::kStreamCancel && code == StatusCode::kOk) return bad(id, "stream_cancel with status OK");
      if (h.type == FrameType::kStreamFinish) {
        Status st = for_each_meta(frame.meta(), [&](std::string_view k, std::string_view v) {
          out->metadata.emplace_back(k, v);
        });
        if (!st.is_ok()) return bad(id, st.message());
      }
      // Whatever the provider says, a stream that ends in error may have run.
      out->status = code == StatusCode::kOk ? Status() : Status(code, std::string(body), true);
      return Status();
    }
    default:
      return bad(id, "not a stream frame");
  }
}

Result<std::string> encode_stream_open(std::uint64_t id, std::string_view service, std::string_view method,
                                       std::uint8_t serialization, std::chrono::milliseconds timeout,
                                       const std::vector<std::pair<std::string, std::string>>& metadata,
                                       std::string_view first_message) {
  FrameBuilder b(FrameType::kStreamOpen, id, 128 + first_message.size());
  b.header().serialization = serialization;
  const auto ms = timeout.count() <= 0 ? 0 : timeout.count();
  b.header().timeout_ms = static_cast<std::uint32_t>(
      std::min<std::int64_t>(ms, std::numeric_limits<std::uint32_t>::max()));
  if (!b.add_meta(meta_keys::kService, service) || !b.add_meta(meta_keys::kMethod, method)) {
    return Status(StatusCode::kInvalidArgument, fmt::format("stream {}: service or method name too long", id));
  }
  if (Status st = add_entries(b, id, metadata); !st.is_ok()) return st;
  b.begin_body();
  b.append_body(first_message);
  return b.finish();
}

std::string encode_stream_message(std::uint64_t id, std::uint8_t serialization, std::string_view message) {
  return simple_frame(FrameType::kStreamMessage, id, serialization, 0, message);
}

std::string encode_stream_half_close(std::uint64_t id) {
  return simple_frame(FrameType::kStreamHalfClose, id, 0, 0, {});
}

std::string encode_stream_cancel(std::uint64_t id, const Status& status) {
  return simple_frame(FrameType::kStreamCancel, id, 0, wire_status(status, StatusCode::kCancelled),
                      status.message());
}

std::string encode_stream_window(std::uint64_t id, std::uint32_t messages, std::uint32_t bytes) {
  std::string body;
  put_u32(body, messages);
  put_u32(body, bytes);
  return simple_frame(FrameType::kStreamWindow, id, 0, 0, body);
}

Result<std::string> encode_stream_finish(std::uint64_t id, const Status& status,
                                         const std::vector<std::pair<std::string, std::string>>& trailers) {
  FrameBuilder b(FrameType::kStreamFinish, id, 64 + status.message().size());
  b.header().status_or_flags = wire_status(status, StatusCode::kOk);
  if (Status st = add_entries(b, id, trailers); !st.is_ok()) return st;
  b.begin_body();
  if (!status.is_ok()) b.append_body(status.message());
  return b.finish();
}

}  // namespace tern::protocol
