// tern/protocol/compression.h - body compression of protocol v1 (zstd, lz4).
//
// A consumer compresses request bodies with the algorithm of
// ReferenceOptions::compression once they reach its threshold, and tells the
// provider (metadata `accept-compression`) that it can read responses
// compressed the same way; the provider answers large responses compressed.
// Byte 5 names a compressed body: request flags 0x01 (zstd) / 0x02 (lz4),
// response bits 0x40 (zstd) / 0x80 (lz4) next to the status (frame.h flags,
// docs/protocol.md §5).
//
// Compressed body formats:
//   zstd  exactly one zstd frame whose header records the content size
//         (ZSTD_compress writes it); nothing after the frame
//   lz4   the decompressed size as a u32 big-endian, then one LZ4 block
//         (LZ4_compress_default)
// Either way the receiver knows the decompressed size before decompressing,
// and refuses a size above its limit (the frame body limit) BEFORE
// allocating anything: a compression bomb costs the receiver nothing.
//
// Thread safety: stateless functions; call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tern/result.h"

namespace tern::protocol {

enum class Compression : std::uint8_t { kNone = 0, kZstd = 1, kLz4 = 2 };

// "none", "zstd", "lz4".
std::string_view compression_name(Compression c) noexcept;
// The algorithm called `name` ("none", "zstd", "lz4"); INVALID_ARGUMENT
// "unknown compression 'X' (none, zstd or lz4)" otherwise.
Result<Compression> parse_compression(std::string_view name);

// Compresses `body` in the format above. Never fails (zstd level 1, lz4 default).
std::string compress(Compression c, std::string_view body);

// Decompresses `body` (format above). Statuses, all INVALID_ARGUMENT with a
// message (the receiver answers or completes only this call with it):
//   "zstd body of N bytes over the limit of M bytes"   declared size > max_size
//   "zstd body does not declare its size"              zstd frame without content size
//   "corrupt zstd body: <reason>"                      bad frame, trailing bytes, size mismatch
//   the same for "lz4"
// `max_size` bounds the allocation: nothing is allocated for a refused body.
Result<std::string> decompress(Compression c, std::string_view body, std::uint32_t max_size);

// The compression named by byte 5 of a request (flags) or a response (top
// bits); kNone when not compressed. `*both` (optional) is set when a request
// names both algorithms, which is invalid.
Compression request_compression(std::uint8_t flags, bool* both = nullptr) noexcept;
Compression response_compression(std::uint8_t status_byte) noexcept;

// Compresses the body of a complete encoded frame (FrameBuilder::finish())
// in place when it has at least `threshold` bytes and compression makes it
// smaller, and sets byte 5's bit for it: the request flag on request and
// oneway frames, the response bit on response frames. True when it did.
// `threshold` 0 compresses every non-empty body.
bool compress_frame(std::string& frame, Compression c, std::size_t threshold);

}  // namespace tern::protocol
