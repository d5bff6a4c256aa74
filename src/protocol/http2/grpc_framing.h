// gRPC's framing over HTTP/2 (PROTOCOL-HTTP2.md), independent of nghttp2:
// the 5-byte message prefix, grpc-timeout, grpc-message's percent-encoding,
// the method path, and custom metadata (`-bin` values in base64). Used by the
// gRPC codecs (grpc_server_codec.h) on both sides.
//
// Thread safety: free functions are pure; a MessageReader belongs to one stream.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tern/result.h"
#include "tern/status.h"

namespace tern::protocol::http2 {

using Headers = std::vector<std::pair<std::string, std::string>>;

// Reassembles length-prefixed gRPC messages from DATA chunks.
class MessageReader {
 public:
  explicit MessageReader(std::uint32_t max_message_bytes = 4u << 20) : max_(max_message_bytes) {}
  // Messages with the compressed flag are gzip (grpc-encoding: gzip);
  // without it, a compressed message is an INTERNAL error.
  void set_gzip(bool gzip) noexcept { gzip_ = gzip; }
  Status feed(std::string_view bytes);
  // The next complete message (decompressed) and its size on the wire
  // (prefix included), or nullopt when none is complete yet.
  // RESOURCE_EXHAUSTED for a message over the limit (compressed or not),
  // INTERNAL for a compressed message without an encoding or a corrupt one.
  Status next(std::optional<std::pair<std::string, std::size_t>>* out);
  // True when no partial message is buffered.
  bool empty() const noexcept { return buf_.size() == off_; }

 private:
  std::uint32_t max_;
  bool gzip_ = false;
  std::string buf_;
  std::size_t off_ = 0;
};

// `message` with its 5-byte prefix (not compressed).
std::string frame_message(std::string_view message);

// gzip inflate, at most `max` bytes out; RESOURCE_EXHAUSTED past it, INTERNAL when corrupt.
Result<std::string> gunzip(std::string_view data, std::size_t max);
std::string gzip(std::string_view data);

// "/pkg.Service/Method" -> service, method. False when malformed.
bool parse_path(std::string_view path, std::string* service, std::string* method);

// gRPC's grpc-timeout ("100m", "5S": at most 8 digits and one of H M S m u n)
// in milliseconds, rounded up; nullopt when malformed.
std::optional<std::chrono::milliseconds> parse_grpc_timeout(std::string_view value);
// The grpc-timeout value for `timeout` (milliseconds, or seconds when large).
std::string format_grpc_timeout(std::chrono::milliseconds timeout);

// grpc-message's percent-encoding: bytes outside 0x20..0x7E and '%' as %XX.
std::string percent_encode(std::string_view text);
// The reverse; a malformed escape is kept as it is (as gRPC does).
std::string percent_decode(std::string_view text);

// Headers gRPC reserves (not metadata): content-type, te, grpc-*, user-agent...
bool is_reserved_header(std::string_view name);

// Received custom headers -> metadata: `-bin` values are base64-decoded
// (padded or not); INTERNAL "malformed binary metadata" when they do not decode.
Result<Headers> headers_to_metadata(const Headers& headers);
// Metadata -> headers to send: keys lower-cased, `-bin` values base64-encoded;
// keys that are not valid header names or are reserved are dropped.
Headers metadata_to_headers(const Headers& metadata);

}  // namespace tern::protocol::http2
