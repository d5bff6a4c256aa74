// tern/protocol/frame.h - wire protocol v1: frame header, metadata, encoder.
//
// Every message on a Tern connection is one frame (spec: docs/protocol.md):
//
//   0      2     3     4       5              6         8            16        20         24
//   +------+-----+-----+-------+--------------+---------+------------+---------+----------+
//   |magic | ver | type| serial| status|flags | meta len| request id | body len| timeout  |
//   +------+-----+-----+-------+--------------+---------+------------+---------+----------+
//   then `meta len` bytes of metadata, then `body len` bytes of body. Big-endian.
//
// Metadata is a sequence of entries, each: u16 key length, key bytes, u16
// value length, value bytes. Reserved keys (service, method, version, group)
// name the call; every other key is a user attachment.
//
// This header knows nothing of sockets or threads (DESIGN §2): it turns
// values into bytes and back.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "tern/buffer_pool.h"
#include "tern/status.h"

namespace tern::protocol {

inline constexpr std::uint16_t kMagic = 0x7E4E;  // "~N"
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::size_t kHeaderSize = 24;

// Defaults of the receiver's limits (Limits below).
inline constexpr std::uint32_t kDefaultMaxBody = 64u << 20;   // 64 MiB
inline constexpr std::uint32_t kDefaultMaxMeta = 0xFFFF;      // 64 KiB - 1 (u16 field)

enum class FrameType : std::uint8_t {
  kRequest = 1,   // expects a kResponse with the same request id
  kResponse = 2,  // status byte = StatusCode; body = result or error message
  kOneway = 3,    // request that gets no response
  kPing = 4,      // heartbeat; answered by kPong with the same request id
  kPong = 5,
  kPush = 6,      // server-initiated message (registry notifications)
  kCancel = 7,    // consumer gave up on request id; provider may stop work
  kGoaway = 8,    // sender is shutting down: send no new requests here
  // Stream frames (docs/protocol.md §12.4): the request id is the stream id.
  kStreamOpen = 9,        // consumer opens a stream: metadata names the method
  kStreamMessage = 10,    // one message of a stream, either direction
  kStreamHalfClose = 11,  // consumer sends no more messages
  kStreamCancel = 12,     // either side abandons the stream; byte 5 = status
  kStreamWindow = 13,     // flow-control credit: u32 messages, u32 bytes
  kStreamFinish = 14,     // provider's final status (byte 5), trailers as metadata
};
inline constexpr std::uint8_t kMaxFrameType = 14;

// True for the stream frame types 9..14.
constexpr bool is_stream_frame(FrameType t) noexcept {
  return t >= FrameType::kStreamOpen && t <= FrameType::kStreamFinish;
}

// "request", "response", ... for logs.
std::string_view frame_type_name(FrameType t) noexcept;

// Serialization ids of byte 4.
enum class SerializationId : std::uint8_t { kRaw = 0, kProtobuf = 1, kJson = 2, kMsgpack = 3 };

// Byte 5 (docs/protocol.md §5). Requests and oneways: flag bits. Responses:
// the status code in the low 6 bits, the body's compression in the top two.
namespace flags {
inline constexpr std::uint8_t kCompressedZstd = 0x01;  // request body is zstd-compressed
inline constexpr std::uint8_t kCompressedLz4 = 0x02;   // request body is lz4-compressed
inline constexpr std::uint8_t kKnownMask = 0x03;       // every request flag defined
inline constexpr std::uint8_t kResponseZstd = 0x40;    // response body is zstd-compressed
inline constexpr std::uint8_t kResponseLz4 = 0x80;     // response body is lz4-compressed
inline constexpr std::uint8_t kStatusMask = 0x3F;      // response status code bits
}  // namespace flags

// Reserved metadata keys.
namespace meta_keys {
inline constexpr std::string_view kService = "service";
inline constexpr std::string_view kMethod = "method";
inline constexpr std::string_view kVersion = "version";
inline constexpr std::string_view kGroup = "group";
// Sent by consumers that can decompress responses: "zstd" or "lz4" (§5).
inline constexpr std::string_view kAcceptCompression = "accept-compression";
// On an error response: "1" when the handler ran (or may have) although the
// status is one the consumer otherwise counts as not executed
// (RESOURCE_EXHAUSTED, UNIMPLEMENTED, UNAVAILABLE): failover must not rerun it.
inline constexpr std::string_view kExecuted = "tern-executed";
}  // namespace meta_keys

struct FrameHeader {
  FrameType type = FrameType::kRequest;
  std::uint8_t serialization = 0;
  std::uint8_t status_or_flags = 0;  // StatusCode on responses, flags on requests
  std::uint16_t meta_len = 0;        // bytes of metadata
  std::uint64_t request_id = 0;
  std::uint32_t body_len = 0;        // bytes of body
  std::uint32_t timeout_ms = 0;      // requests: remaining deadline, 0 = none

  // Responses: the status code (byte 5 without its compression bits).
  StatusCode status() const noexcept { return static_cast<StatusCode>(status_or_flags & flags::kStatusMask); }
};

// Writes the 24-byte header to `out`.
void encode_header(const FrameHeader& h, char* out) noexcept;
// Reads a 24-byte header without validating it.
FrameHeader decode_header_unchecked(const char* in) noexcept;

// A decoded frame: header plus one buffer holding metadata then body.
//
// The payload's buffer goes back to the buffer pool when the frame is
// destroyed or assigned over (BufferPool::recycle, tern/buffer_pool.h): a
// large one to the shared pool, so the next large frame reuses its pages, a
// small one to the destroying thread's cache for the next frame built or
// decoded there.
struct Frame {
  FrameHeader header;
  std::string payload;  // meta_len bytes of metadata, then body_len bytes of body

  Frame() = default;
  Frame(const Frame&) = default;
  Frame(Frame&&) noexcept = default;
  Frame& operator=(const Frame&) = default;
  Frame& operator=(Frame&& o) noexcept {
    if (this != &o) {
      if (payload.capacity() >= BufferPool::kMinLocal) release_payload();
      header = o.header;
      payload = std::move(o.payload);
    }
    return *this;
  }
  ~Frame() {
    if (payload.capacity() >= BufferPool::kMinLocal) release_payload();
  }

  std::string_view meta() const noexcept { return std::string_view(payload).substr(0, header.meta_len); }
  std::string_view body() const noexcept { return std::string_view(payload).substr(header.meta_len); }

 private:
  void release_payload() noexcept;
};

// Builds one encoded frame in a single std::string (header, metadata, body),
// so the body can be serialized in place with no extra copy:
//
//   FrameBuilder b(FrameType::kRequest, id);
//   b.add_meta("service", "Calculator"); b.add_meta("method", "add");
//   b.begin_body(); msgpack::pack(b, args);   // b has write(const char*, size_t)
//   std::string bytes = b.finish();
//
// The buffer starts as one of the calling thread's recycled small buffers
// when one fits (BufferPool::take_local).
//
// Errors: add_meta() returns false (and adds nothing) when the entry would
// push metadata past 64 KiB - 1 or a key/value is longer than 65535 bytes.
// Not thread-safe; one builder per frame.
class FrameBuilder {
 public:
  FrameBuilder(FrameType type, std::uint64_t request_id, std::size_t reserve = 128);

  FrameHeader& header() noexcept { return header_; }
  bool add_meta(std::string_view key, std::string_view value);
  // Ends the metadata; everything written afterwards is body.
  void begin_body();
  // Appends body bytes (msgpack's packer calls this). Growing past 64 KiB
  // takes a buffer from the pool (tern/buffer_pool.h) instead of
  // allocating fresh pages.
  void write(const char* data, std::size_t n) {
    if (buf_.capacity() - buf_.size() < n && buf_.size() + n >= BufferPool::kMinPooled) grow(n);
    buf_.append(data, n);
  }
  void append_body(std::string_view data) { write(data.data(), data.size()); }
  std::string& buffer() noexcept { return buf_; }
  // Fills in the lengths and header; the builder is empty afterwards.
  std::string finish();

 private:
  void grow(std::size_t n);

  FrameHeader header_;
  std::string buf_;
  bool in_body_ = false;
};

// Calls `fn(key, value)` for each metadata entry of `meta`, in order.
// INVALID_ARGUMENT when an entry runs past the end (truncated or forged
// lengths); entries before the bad one have been visited.
template <typename Fn>
Status for_each_meta(std::string_view meta, Fn&& fn) {
  std::size_t i = 0;
  auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<unsigned char>(meta[at]) << 8) | static_cast<unsigned char>(meta[at + 1]));
  };
  while (i < meta.size()) {
    if (meta.size() - i < 2) return Status(StatusCode::kInvalidArgument, "metadata truncated in key length");
    std::size_t klen = u16(i);
    i += 2;
    if (meta.size() - i < klen + 2) return Status(StatusCode::kInvalidArgument, "metadata key runs past its end");
    std::string_view key = meta.substr(i, klen);
    i += klen;
    std::size_t vlen = u16(i);
    i += 2;
    if (meta.size() - i < vlen) return Status(StatusCode::kInvalidArgument, "metadata value runs past its end");
    fn(key, meta.substr(i, vlen));
    i += vlen;
  }
  return Status();
}

// The value of `key` in `meta`, or empty when absent or malformed.
std::string_view find_meta(std::string_view meta, std::string_view key) noexcept;

// A complete frame without metadata or body (ping, pong, cancel, goaway).
std::string encode_control_frame(FrameType type, std::uint64_t request_id);

}  // namespace tern::protocol
