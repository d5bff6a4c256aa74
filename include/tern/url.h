// tern/url.h - the URL model: one provider (or consumer, or registry address)
// is one URL, Dubbo style (DESIGN §6):
//
//   tern://10.0.0.5:20880/Calculator?version=1.0&weight=200&methods=add,midpoint
//   tern://[::1]:20880/Calculator?group=blue
//   zookeeper://h1:2181,h2:2181          (several host:port in the authority)
//   direct://127.0.0.1:20880,127.0.0.1:20881
//
// Grammar: scheme "://" [hosts] ["/" path] ["?" key=value ("&" key=value)*]
//   hosts = host_port ("," host_port)*,  host_port = (name | ipv4 | "[" ipv6 "]") [":" port]
// Path and parameter keys/values are percent-encoded on output (RFC 3986
// unreserved characters stay literal; everything else, including non-ASCII
// UTF-8 bytes, becomes %XX) and decoded on input, so any byte string
// round-trips: parse(u.to_string()) == u. Parameters are kept sorted by key, so
// to_string() is canonical (two equal URLs print identically, which the
// registries use as the node identity).
//
// Parsing details: the scheme is lower-cased; '/' stays literal in the path
// (decoding is the same either way); '+' is a literal plus, not a space; a
// parameter without '=' has an empty value; a repeated key keeps the last
// value; empty "&&" pieces are skipped; a raw '#' (fragment) and user info
// ("user@host") are rejected. A URL may have no hosts ("file:///x").
//
// Thread safety: a value type; const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tern/result.h"

namespace tern {

// One endpoint. `host` is stored without brackets ("::1"); is_ipv6() tells.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;  // 0 = not given

  bool is_ipv6() const noexcept { return host.find(':') != std::string::npos; }
  // "127.0.0.1:20880", "[::1]:20880", or without ":port" when port is 0.
  std::string to_string() const;
  friend bool operator==(const HostPort&, const HostPort&) = default;
  friend auto operator<=>(const HostPort&, const HostPort&) = default;
};

// Parses "host:port", "[v6]:port", "host" (port 0). INVALID_ARGUMENT on
// malformed input (empty host, bad port, unbalanced brackets).
Result<HostPort> parse_host_port(std::string_view text);

class Url {
 public:
  Url() = default;
  Url(std::string scheme, std::vector<HostPort> hosts, std::string path = {})
      : scheme_(std::move(scheme)), hosts_(std::move(hosts)), path_(std::move(path)) {}

  // Parses a URL. INVALID_ARGUMENT with a message naming the problem on
  // malformed input (missing "://", bad port, bad %XX escape, ...). Never throws.
  static Result<Url> parse(std::string_view text);

  // Canonical text form (see the header comment); parse(to_string()) == *this.
  std::string to_string() const;

  const std::string& scheme() const noexcept { return scheme_; }
  void set_scheme(std::string s) { scheme_ = std::move(s); }

  const std::vector<HostPort>& hosts() const noexcept { return hosts_; }
  void set_hosts(std::vector<HostPort> h) { hosts_ = std::move(h); }
  // First host, or an empty HostPort.
  HostPort host_port() const { return hosts_.empty() ? HostPort{} : hosts_.front(); }
  // "host:port" of the first host (stable identity of a provider endpoint).
  std::string address() const { return host_port().to_string(); }

  // The path without its leading '/', decoded (for providers: the service name).
  const std::string& path() const noexcept { return path_; }
  void set_path(std::string p) { path_ = std::move(p); }

  const std::map<std::string, std::string>& params() const noexcept { return params_; }
  bool has_param(std::string_view key) const { return params_.find(std::string(key)) != params_.end(); }
  // The parameter's value, or `fallback` when absent.
  std::string param(std::string_view key, std::string_view fallback = {}) const;
  // Integer parameter; `fallback` when absent or not a valid integer.
  std::int64_t int_param(std::string_view key, std::int64_t fallback) const;
  // "true"/"1"/"yes" are true, "false"/"0"/"no" false; else `fallback`.
  bool bool_param(std::string_view key, bool fallback) const;
  void set_param(std::string key, std::string value) { params_[std::move(key)] = std::move(value); }
  void remove_param(std::string_view key) { params_.erase(std::string(key)); }

  friend bool operator==(const Url&, const Url&) = default;

 private:
  std::string scheme_;
  std::vector<HostPort> hosts_;
  std::string path_;
  std::map<std::string, std::string> params_;
};

// Percent-encoding of RFC 3986: unreserved (A-Z a-z 0-9 - . _ ~) stay, every
// other byte becomes %XX (upper-case hex).
std::string url_encode(std::string_view raw);
// Inverse of url_encode. INVALID_ARGUMENT on a truncated or non-hex escape.
Result<std::string> url_decode(std::string_view encoded);

}  // namespace tern
