// Frame header encoding, metadata and the frame builder (DESIGN §3).
#include "tern/protocol/frame.h"

#include <fmt/format.h>

#include <array>

#include "tern/buffer_pool.h"
#include "tern/protocol/decoder.h"

namespace tern::protocol {
namespace {

inline void put16(char* p, std::uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
}
inline void put32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (24 - 8 * i));
}
inline void put64(char* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>(v >> (56 - 8 * i));
}
inline std::uint16_t get16(const char* p) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
}
inline std::uint32_t get32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}
inline std::uint64_t get64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

// Names what a non-Tern peer probably is, for the log line on a bad magic.
std::string_view guess_peer(const char* raw) {
  std::string_view s(raw, 8);
  for (std::string_view verb : {"GET ", "POST", "PUT ", "HEAD", "DELE", "OPTI", "PATC", "CONN"}) {
    if (s.substr(0, verb.size()) == verb) return " (looks like an HTTP request)";
  }
  if (s.substr(0, 8) == "PRI * HT") return " (looks like an HTTP/2 preface)";
  if (static_cast<unsigned char>(raw[0]) == 0x16 && static_cast<unsigned char>(raw[1]) == 0x03)
    return " (looks like a TLS ClientHello)";
  return "";
}

}  // namespace

std::string_view frame_type_name(FrameType t) noexcept {
  static constexpr std::array<std::string_view, 15> kNames = {
      "?",           "request",       "response",          "oneway",        "ping",
      "pong",        "push",          "cancel",            "goaway",        "stream_open",
      "stream_message", "stream_half_close", "stream_cancel", "stream_window", "stream_finish"};
  auto i = static_cast<std::size_t>(t);
  return i < kNames.size() ? kNames[i] : "?";
}

void encode_header(const FrameHeader& h, char* out) noexcept {
  put16(out, kMagic);
  out[2] = static_cast<char>(kVersion);
  out[3] = static_cast<char>(h.type);
  out[4] = static_cast<char>(h.serialization);
  out[5] = static_cast<char>(h.status_or_flags);
  put16(out + 6, h.meta_len);
  put64(out + 8, h.request_id);
  put32(out + 16, h.body_len);
  put32(out + 20, h.timeout_ms);
}

FrameHeader decode_header_unchecked(const char* in) noexcept {
  FrameHeader h;
  h.type = static_cast<FrameType>(static_cast<unsigned char>(in[3]));
  h.serialization = static_cast<unsigned char>(in[4]);
  h.status_or_flags = static_cast<unsigned char>(in[5]);
  h.meta_len = get16(in + 6);
  h.request_id = get64(in + 8);
  h.body_len = get32(in + 16);
  h.timeout_ms = get32(in + 20);
  return h;
}

Status validate_header(const char* raw, const Limits& limits, FrameHeader* out) {
  std::uint16_t magic = get16(raw);
  if (magic != kMagic) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("protocol error: bad magic 0x{:04X}{}", magic, guess_peer(raw)));
  }
  auto version = static_cast<unsigned char>(raw[2]);
  if (version != kVersion) {
    return Status(StatusCode::kInvalidArgument, fmt::format("protocol error: unsupported version {}", version));
  }
  *out = decode_header_unchecked(raw);
  auto type = static_cast<std::uint8_t>(out->type);
  if (type == 0 || type > kMaxFrameType) {
    return Status(StatusCode::kInvalidArgument, fmt::format("protocol error: unknown frame type {}", type));
  }
  if ((out->type == FrameType::kRequest || out->type == FrameType::kOneway) &&
      (out->status_or_flags & ~flags::kKnownMask) != 0) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("protocol error: unknown request flags 0x{:02X}", out->status_or_flags));
  }
  if (out->meta_len > limits.max_meta) {
    return Status(StatusCode::kInvalidArgument,
                  fmt::format("protocol error: metadata of {} bytes exceeds the limit of {}", out->meta_len,
                              limits.max_meta));
  }
  if (out->body_len > limits.max_body) {
    return Status(StatusCode::kResourceExhausted,
                  fmt::format("protocol error: body of {} bytes exceeds the limit of {}", out->body_len,
                              limits.max_body));
  }
  return Status();
}

FrameBuilder::FrameBuilder(FrameType type, std::uint64_t request_id, std::size_t reserve) {
  header_.type = type;
  header_.request_id = request_id;
  buf_ = BufferPool::take_local(kHeaderSize + reserve);
  buf_.reserve(kHeaderSize + reserve);
  buf_.resize(kHeaderSize);
}

void Frame::release_payload() noexcept { BufferPool::recycle(std::move(payload)); }

void FrameBuilder::grow(std::size_t n) {
  // Doubling, as std::string would, but from the pool when it has a fit.
  std::size_t want = std::max(buf_.size() + n, 2 * buf_.capacity());
  std::string bigger = BufferPool::take(want);
  if (bigger.capacity() < want) bigger.reserve(want);
  bigger.append(buf_);
  buf_.swap(bigger);
  BufferPool::recycle(std::move(bigger));
}

bool FrameBuilder::add_meta(std::string_view key, std::string_view value) {
  if (in_body_ || key.size() > 0xFFFF || value.size() > 0xFFFF) return false;
  std::size_t meta_now = buf_.size() - kHeaderSize;
  if (meta_now + 4 + key.size() + value.size() > kDefaultMaxMeta) return false;
  char len[2];
  put16(len, static_cast<std::uint16_t>(key.size()));
  buf_.append(len, 2);
  buf_.append(key);
  put16(len, static_cast<std::uint16_t>(value.size()));
  buf_.append(len, 2);
  buf_.append(value);
  return true;
}

void FrameBuilder::begin_body() {
  if (in_body_) return;
  header_.meta_len = static_cast<std::uint16_t>(buf_.size() - kHeaderSize);
  in_body_ = true;
}

std::string FrameBuilder::finish() {
  begin_body();
  header_.body_len = static_cast<std::uint32_t>(buf_.size() - kHeaderSize - header_.meta_len);
  encode_header(header_, buf_.data());
  in_body_ = false;
  return std::move(buf_);
}

std::string_view find_meta(std::string_view meta, std::string_view key) noexcept {
  std::string_view found;
  (void)for_each_meta(meta, [&](std::string_view k, std::string_view v) {
    if (found.data() == nullptr && k == key) found = v;
  });
  return found;
}

std::string encode_control_frame(FrameType type, std::uint64_t request_id) {
  std::string out(kHeaderSize, '\0');
  FrameHeader h;
  h.type = type;
  h.request_id = request_id;
  encode_header(h, out.data());
  return out;
}

}  // namespace tern::protocol
