// gRPC framing (grpc_framing.h). gzip through zlib, base64 through OpenSSL.
#include "protocol/http2/grpc_framing.h"

#include <openssl/evp.h>
#include <zlib.h>

#include <cctype>

namespace tern::protocol::http2 {

Status MessageReader::feed(std::string_view bytes) {
  if (off_ > 0 && off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  }
  buf_.append(bytes);
  return Status();
}

Status MessageReader::next(std::optional<std::pair<std::string, std::size_t>>* out) {
  out->reset();
  if (buf_.size() - off_ < 5) return Status();
  const auto* p = reinterpret_cast<const unsigned char*>(buf_.data() + off_);
  const unsigned flag = p[0];
  const std::uint32_t len = (std::uint32_t{p[1]} << 24) | (std::uint32_t{p[2]} << 16) | (std::uint32_t{p[3]} << 8) | p[4];
  if (flag > 1) return Status(StatusCode::kInternal, "message prefix has an unknown flag " + std::to_string(flag));
  if (len > max_) {
    return Status(StatusCode::kResourceExhausted, "received message larger than max (" + std::to_string(len) +
                                                      " vs. " + std::to_string(max_) + ")");
  }
  if (buf_.size() - off_ - 5 < len) return Status();
  std::string_view body(buf_.data() + off_ + 5, len);
  std::string message;
  if (flag == 1) {
    if (!gzip_) return Status(StatusCode::kInternal, "compressed message without grpc-encoding");
    auto plain = gunzip(body, max_);
    if (!plain.has_value()) return plain.status();
    message = std::move(*plain);
  } else {
    message.assign(body);
  }
  off_ += 5 + len;
  if (off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > (1u << 20) && off_ * 2 > buf_.size()) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  out->emplace(std::move(message), 5 + std::size_t{len});
  return Status();
}

std::string frame_message(std::string_view message) {
  std::string out;
  out.reserve(5 + message.size());
  const auto len = static_cast<std::uint32_t>(message.size());
  out.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((len >> shift) & 0xFF));
  out.append(message);
  return out;
}

Result<std::string> gunzip(std::string_view data, std::size_t max) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return Status(StatusCode::kInternal, "gzip: cannot initialise");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char chunk[16384];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof(chunk);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return Status(StatusCode::kInternal, "gzip: corrupt compressed message");
    }
    out.append(chunk, sizeof(chunk) - zs.avail_out);
    if (out.size() > max) {
      inflateEnd(&zs);
      return Status(StatusCode::kResourceExhausted,
                    "decompressed message larger than max (more than " + std::to_string(max) + " bytes)");
    }
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
      inflateEnd(&zs);
      return Status(StatusCode::kInternal, "gzip: truncated compressed message");
    }
  }
  inflateEnd(&zs);
  return out;
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

bool parse_path(std::string_view path, std::string* service, std::string* method) {
  if (path.size() < 4 || path[0] != '/') return false;
  auto slash = path.find('/', 1);
  if (slash == std::string_view::npos || slash == 1 || slash + 1 == path.size()) return false;
  if (path.find('/', slash + 1) != std::string_view::npos) return false;
  *service = std::string(path.substr(1, slash - 1));
  *method = std::string(path.substr(slash + 1));
  return true;
}

std::optional<std::chrono::milliseconds> parse_grpc_timeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  std::uint64_t n = 0;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  auto up = [](std::uint64_t x, std::uint64_t d) { return (x + d - 1) / d; };
  std::uint64_t ms;
  switch (v.back()) {
    case 'H': ms = n * 3600000; break;
    case 'M': ms = n * 60000; break;
    case 'S': ms = n * 1000; break;
    case 'm': ms = n; break;
    case 'u': ms = up(n, 1000); break;
    case 'n': ms = up(n, 1000000); break;
    default: return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(ms));
}

std::string format_grpc_timeout(std::chrono::milliseconds timeout) {
  auto ms = std::max<std::int64_t>(1, timeout.count());
  if (ms < 100000000) return std::to_string(ms) + "m";
  return std::to_string(std::min<std::int64_t>(99999999, (ms + 999) / 1000)) + "S";
}

std::string percent_encode(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (c < 0x20 || c > 0x7E || c == '%') {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string percent_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() + 0 && i + 2 <= text.size() - 1 + 0) {
      int hi = hex(text[i + 1]), lo = hex(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

bool is_reserved_header(std::string_view name) {
  return name == "content-type" || name == "te" || name == "user-agent" || name == "content-length" ||
         name == "host" || name == "connection" || name == "accept-encoding" || name.rfind("grpc-", 0) == 0;
}

namespace {
bool ends_with_bin(std::string_view k) { return k.size() > 4 && k.substr(k.size() - 4) == "-bin"; }

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();  // gRPC sends it unpadded
  return out;
}

std::optional<std::string> unbase64(std::string_view in) {
  std::string padded(in);
  while (padded.size() % 4 != 0) padded.push_back('=');
  for (char c : padded) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=')) return std::nullopt;
  }
  std::string out(padded.size() / 4 * 3 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(padded.data()), static_cast<int>(padded.size()));
  if (n < 0) return std::nullopt;
  std::size_t pads = 0;
  for (std::size_t i = padded.size(); i > 0 && padded[i - 1] == '='; --i) ++pads;
  out.resize(static_cast<std::size_t>(n) - std::min<std::size_t>(pads, static_cast<std::size_t>(n)));
  return out;
}

bool valid_header_name(std::string_view k) {
  if (k.empty()) return false;
  for (char c : k) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}
}  // namespace

Result<Headers> headers_to_metadata(const Headers& headers) {
  Headers out;
  out.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    if (ends_with_bin(k)) {
      // A -bin header may carry several values joined by commas.
      std::string joined;
      std::size_t start = 0;
      while (start <= v.size()) {
        auto comma = v.find(',', start);
        std::string_view part = std::string_view(v).substr(start, comma == std::string::npos ? std::string::npos
                                                                                              : comma - start);
        auto bytes = unbase64(part);
        if (!bytes) return Status(StatusCode::kInternal, "malformed binary metadata '" + k + "'");
        joined += *bytes;
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      out.emplace_back(k, std::move(joined));
    } else {
      out.emplace_back(k, v);
    }
  }
  return out;
}

Headers metadata_to_headers(const Headers& metadata) {
  Headers out;
  for (const auto& [k, v] : metadata) {
    std::string key;
    for (char c : k) key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (!valid_header_name(key) || is_reserved_header(key) || key[0] == '^') continue;
    out.emplace_back(key, ends_with_bin(key) ? base64(v) : v);
  }
  return out;
}

}  // namespace tern::protocol::http2
