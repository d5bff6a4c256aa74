// Body compression with libzstd and liblz4 (tern/protocol/compression.h,
// docs/protocol.md §5). Decompression learns the size first and checks it
// against the caller's limit before allocating.
#include "tern/protocol/compression.h"

#include <fmt/format.h>
#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <limits>

#include "tern/protocol/frame.h"

namespace tern::protocol {

namespace {
constexpr int kZstdLevel = 1;  // fast; RPC bodies are compressed on the call path
constexpr std::size_t kLz4SizePrefix = 4;

Status too_big(std::string_view alg, unsigned long long size, std::uint32_t max) {
  return Status(StatusCode::kInvalidArgument,
                fmt::format("{} body of {} bytes over the limit of {} bytes", alg, size, max));
}
Status corrupt(std::string_view alg, std::string_view why) {
  return Status(StatusCode::kInvalidArgument, fmt::format("corrupt {} body: {}", alg, why));
}

Result<std::string> zstd_decompress(std::string_view body, std::uint32_t max_size) {
  unsigned long long size = ZSTD_getFrameContentSize(body.data(), body.size());
  if (size == ZSTD_CONTENTSIZE_ERROR) return corrupt("zstd", "not a zstd frame");
  if (size == ZSTD_CONTENTSIZE_UNKNOWN) {
    return Status(StatusCode::kInvalidArgument, "zstd body does not declare its size");
  }
  if (size > max_size) return too_big("zstd", size, max_size);
  std::size_t frame_size = ZSTD_findFrameCompressedSize(body.data(), body.size());
  if (ZSTD_isError(frame_size)) return corrupt("zstd", ZSTD_getErrorName(frame_size));
  if (frame_size != body.size()) return corrupt("zstd", "bytes after the frame");
  std::string out(static_cast<std::size_t>(size), '\0');
  std::size_t got = ZSTD_decompress(out.data(), out.size(), body.data(), body.size());
  if (ZSTD_isError(got)) return corrupt("zstd", ZSTD_getErrorName(got));
  if (got != size) return corrupt("zstd", fmt::format("{} bytes decompressed, {} declared", got, size));
  return out;
}

Result<std::string> lz4_decompress(std::string_view body, std::uint32_t max_size) {
  if (body.size() < kLz4SizePrefix) return corrupt("lz4", "shorter than its size prefix");
  std::uint32_t size = 0;
  for (std::size_t i = 0; i < kLz4SizePrefix; ++i) size = (size << 8) | static_cast<unsigned char>(body[i]);
  if (size > max_size) return too_big("lz4", size, max_size);
  if (size > static_cast<std::uint32_t>(LZ4_MAX_INPUT_SIZE)) return too_big("lz4", size, LZ4_MAX_INPUT_SIZE);
  std::string_view block = body.substr(kLz4SizePrefix);
  if (block.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) return corrupt("lz4", "block too large");
  std::string out(size, '\0');
  int got = LZ4_decompress_safe(block.data(), out.data(), static_cast<int>(block.size()), static_cast<int>(size));
  if (got < 0) return corrupt("lz4", "malformed block");
  if (static_cast<std::uint32_t>(got) != size) {
    return corrupt("lz4", fmt::format("{} bytes decompressed, {} declared", got, size));
  }
  return out;
}
}  // namespace

std::string_view compression_name(Compression c) noexcept {
  switch (c) {
    case Compression::kZstd:
      return "zstd";
    case Compression::kLz4:
      return "lz4";
    default:
      return "none";
  }
}

Result<Compression> parse_compression(std::string_view name) {
  if (name == "none" || name.empty()) return Compression::kNone;
  if (name == "zstd") return Compression::kZstd;
  if (name == "lz4") return Compression::kLz4;
  return Status(StatusCode::kInvalidArgument, fmt::format("unknown compression '{}' (none, zstd or lz4)", name));
}

std::string compress(Compression c, std::string_view body) {
  std::string out;
  if (c == Compression::kZstd) {
    out.resize(ZSTD_compressBound(body.size()));
    std::size_t n = ZSTD_compress(out.data(), out.size(), body.data(), body.size(), kZstdLevel);
    out.resize(ZSTD_isError(n) ? 0 : n);  // cannot fail with a bound-sized buffer
  } else if (c == Compression::kLz4) {
    // Bodies are at most 4 GiB - 1 (u32 body length); LZ4 takes up to ~2 GiB.
    int src = static_cast<int>(std::min<std::size_t>(body.size(), LZ4_MAX_INPUT_SIZE));
    out.resize(kLz4SizePrefix + static_cast<std::size_t>(LZ4_compressBound(src)));
    auto size = static_cast<std::uint32_t>(src);
    for (std::size_t i = 0; i < kLz4SizePrefix; ++i) out[i] = static_cast<char>(size >> (24 - 8 * i));
    int n = LZ4_compress_default(body.data(), out.data() + kLz4SizePrefix, src,
                                 static_cast<int>(out.size() - kLz4SizePrefix));
    out.resize(kLz4SizePrefix + static_cast<std::size_t>(std::max(n, 0)));
  } else {
    out.assign(body);
  }
  return out;
}

Result<std::string> decompress(Compression c, std::string_view body, std::uint32_t max_size) {
  switch (c) {
    case Compression::kZstd:
      return zstd_decompress(body, max_size);
    case Compression::kLz4:
      return lz4_decompress(body, max_size);
    default:
      if (body.size() > max_size) return too_big("uncompressed", body.size(), max_size);
      return std::string(body);
  }
}

Compression request_compression(std::uint8_t f, bool* both) noexcept {
  bool zstd = (f & flags::kCompressedZstd) != 0;
  bool lz4 = (f & flags::kCompressedLz4) != 0;
  if (both) *both = zstd && lz4;
  return zstd ? Compression::kZstd : lz4 ? Compression::kLz4 : Compression::kNone;
}

Compression response_compression(std::uint8_t status_byte) noexcept {
  if (status_byte & flags::kResponseZstd) return Compression::kZstd;
  if (status_byte & flags::kResponseLz4) return Compression::kLz4;
  return Compression::kNone;
}

bool compress_frame(std::string& frame, Compression c, std::size_t threshold) {
  if (c == Compression::kNone || frame.size() < kHeaderSize) return false;
  FrameHeader h = decode_header_unchecked(frame.data());
  std::size_t body_at = kHeaderSize + h.meta_len;
  if (h.body_len == 0 || h.body_len < threshold || body_at + h.body_len != frame.size()) return false;
  if (h.body_len > static_cast<std::uint32_t>(LZ4_MAX_INPUT_SIZE) && c == Compression::kLz4) return false;
  std::string packed = compress(c, std::string_view(frame).substr(body_at));
  if (packed.empty() || packed.size() >= h.body_len) return false;  // incompressible: send it as it is
  frame.resize(body_at);
  frame.append(packed);
  h.body_len = static_cast<std::uint32_t>(packed.size());
  if (h.type == FrameType::kResponse) {
    h.status_or_flags = static_cast<std::uint8_t>((h.status_or_flags & flags::kStatusMask) |
                                                  (c == Compression::kZstd ? flags::kResponseZstd : flags::kResponseLz4));
  } else {
    h.status_or_flags = static_cast<std::uint8_t>((h.status_or_flags & ~flags::kKnownMask) |
                                                  (c == Compression::kZstd ? flags::kCompressedZstd : flags::kCompressedLz4));
  }
  encode_header(h, frame.data());
  return true;
}

}  // namespace tern::protocol
