// The URL model (tern/url.h): parsing, canonical printing and percent-coding.
//
// Registries use Url::to_string() as a provider's identity (ZooKeeper node
// names, etcd keys), so printing must be canonical and parsing must accept
// exactly what printing produces (plus the hand-written forms people type).
// Parsing never throws: every malformed input is an INVALID_ARGUMENT naming
// the problem and the offending text.
#include "tern/url.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tern {
namespace {

constexpr char kHex[] = "0123456789ABCDEF";

bool is_unreserved(unsigned char c) noexcept {
  return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_' || c == '~';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Status invalid(std::string what, std::string_view text) {
  what += " in \"";
  what += text;
  what += '"';
  return Status(StatusCode::kInvalidArgument, std::move(what));
}

// Encodes like url_encode() but keeps the bytes in `keep` literal too.
std::string encode_keeping(std::string_view raw, std::string_view keep) {
  std::string out;
  out.reserve(raw.size());
  for (char ch : raw) {
    auto c = static_cast<unsigned char>(ch);
    if (is_unreserved(c) || keep.find(ch) != std::string_view::npos) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0x0F];
    }
  }
  return out;
}

bool valid_scheme(std::string_view s) noexcept {
  if (s.empty() || std::isalpha(static_cast<unsigned char>(s.front())) == 0) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || c == '+' || c == '-' || c == '.';
  });
}

bool valid_host_name(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return std::isalnum(c) != 0 || c == '-' || c == '.' || c == '_';
  });
}

// Inside the brackets: hex digits, ':' and '.' (for "::ffff:1.2.3.4"), and at
// least one ':'. Zone ids ("%eth0") are not supported.
bool valid_ipv6(std::string_view s) noexcept {
  if (s.find(':') == std::string_view::npos) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    return std::isxdigit(static_cast<unsigned char>(ch)) != 0 || ch == ':' || ch == '.';
  });
}

Result<std::uint16_t> parse_port(std::string_view digits, std::string_view whole) {
  if (digits.empty()) return invalid("empty port", whole);
  if (digits.size() > 5) return invalid("port out of range", whole);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || end != digits.data() + digits.size()) return invalid("bad port", whole);
  if (value > 65535) return invalid("port out of range", whole);
  return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string HostPort::to_string() const {
  std::string out;
  if (is_ipv6()) {
    out.reserve(host.size() + 8);
    out += '[';
    out += host;
    out += ']';
  } else {
    out = host;
  }
  if (port != 0) {
    out += ':';
    out += std::to_string(port);
  }
  return out;
}

Result<HostPort> parse_host_port(std::string_view text) {
  HostPort hp;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return invalid("unbalanced '[' in host", text);
    std::string_view inner = text.substr(1, close - 1);
    if (!valid_ipv6(inner)) return invalid("bad IPv6 address", text);
    hp.host = std::string(inner);
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return invalid("unexpected text after ']'", text);
  } else {
    auto colon = text.find(':');
    std::string_view name = text.substr(0, colon);
    if (name.empty()) return invalid("empty host", text);
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      return invalid("IPv6 address must be in brackets", text);
    }
    if (!valid_host_name(name)) return invalid("bad character in host", text);
    hp.host = std::string(name);
    if (colon != std::string_view::npos) rest = text.substr(colon);
  }
  if (!rest.empty()) {  // rest starts with ':'
    auto port = parse_port(rest.substr(1), text);
    if (!port) return port.status();
    hp.port = *port;
  }
  return hp;
}

Result<Url> Url::parse(std::string_view text) {
  auto sep = text.find("://");
  if (sep == std::string_view::npos) return invalid("missing \"://\"", text);
  std::string_view scheme = text.substr(0, sep);
  if (!valid_scheme(scheme)) return invalid("bad scheme", text);
  if (text.find('#') != std::string_view::npos) return invalid("raw '#' (fragments are not supported; encode it as %23)", text);

  Url url;
  url.scheme_.reserve(scheme.size());
  for (char ch : scheme) url.scheme_ += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));

  std::string_view rest = text.substr(sep + 3);
  auto authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view{} : rest.substr(authority_end);

  if (!authority.empty()) {
    if (authority.find('@') != std::string_view::npos) return invalid("user info is not supported", text);
    std::size_t start = 0;
    while (true) {
      auto comma = authority.find(',', start);
      auto hp = parse_host_port(authority.substr(start, comma == std::string_view::npos ? comma : comma - start));
      if (!hp) return invalid(hp.status().message(), text);
      url.hosts_.push_back(std::move(*hp));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
  }

  if (!rest.empty() && rest.front() == '/') {
    auto q = rest.find('?');
    auto path = url_decode(rest.substr(1, q == std::string_view::npos ? q : q - 1));
    if (!path) return invalid(path.status().message() + " (path)", text);
    url.path_ = std::move(*path);
    rest = q == std::string_view::npos ? std::string_view{} : rest.substr(q);
  }

  if (!rest.empty()) {  // rest starts with '?'
    std::string_view query = rest.substr(1);
    std::size_t start = 0;
    while (start <= query.size()) {
      auto amp = query.find('&', start);
      std::string_view pair = query.substr(start, amp == std::string_view::npos ? amp : amp - start);
      start = amp == std::string_view::npos ? query.size() + 1 : amp + 1;
      if (pair.empty()) continue;  // tolerate "?&a=1" and "a=1&&b=2"
      auto eq = pair.find('=');
      auto key = url_decode(pair.substr(0, eq));
      if (!key) return invalid(key.status().message() + " (parameter key)", text);
      if (key->empty()) return invalid("empty parameter key", text);
      std::string value;
      if (eq != std::string_view::npos) {
        auto v = url_decode(pair.substr(eq + 1));
        if (!v) return invalid(v.status().message() + " (parameter value)", text);
        value = std::move(*v);
      }
      url.params_[std::move(*key)] = std::move(value);  // a repeated key: the last one wins
    }
  }
  return url;
}

std::string Url::to_string() const {
  std::string out = scheme_;
  out += "://";
  for (std::size_t i = 0; i < hosts_.size(); ++i) {
    if (i != 0) out += ',';
    out += hosts_[i].to_string();
  }
  if (!path_.empty()) {
    out += '/';
    out += encode_keeping(path_, "/");  // "a/b" stays readable; decoding is the same
  }
  char sep = '?';
  for (const auto& [key, value] : params_) {
    out += sep;
    sep = '&';
    out += url_encode(key);
    out += '=';
    out += url_encode(value);
  }
  return out;
}

std::string Url::param(std::string_view key, std::string_view fallback) const {
  auto it = params_.find(std::string(key));
  return it == params_.end() ? std::string(fallback) : it->second;
}

std::int64_t Url::int_param(std::string_view key, std::int64_t fallback) const {
  auto it = params_.find(std::string(key));
  if (it == params_.end()) return fallback;
  const std::string& s = it->second;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return fallback;
  return value;
}

bool Url::bool_param(std::string_view key, bool fallback) const {
  auto it = params_.find(std::string(key));
  if (it == params_.end()) return fallback;
  std::string v = it->second;
  for (char& ch : v) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return fallback;
}

std::string url_encode(std::string_view raw) { return encode_keeping(raw, {}); }

Result<std::string> url_decode(std::string_view encoded) {
  std::string out;
  out.reserve(encoded.size());
  for (std::size_t i = 0; i < encoded.size(); ++i) {
    if (encoded[i] != '%') {
      out += encoded[i];
      continue;
    }
    if (i + 2 >= encoded.size()) {
      return invalid("truncated %XX escape", encoded);
    }
    int hi = hex_value(encoded[i + 1]);
    int lo = hex_value(encoded[i + 2]);
    if (hi < 0 || lo < 0) return invalid("bad %XX escape", encoded);
    out += static_cast<char>((hi << 4) | lo);
    i += 2;
  }
  return out;
}

}  // namespace tern
