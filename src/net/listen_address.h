// src/net/listen_address.h - the address a server listens on, from its text
// form ("host:port", "[v6]:port"): one parser for the RPC server
// (src/server/server.cc) and the admin HTTP server (src/monitor/http_server.cc).
#pragma once

#include <asio/ip/tcp.hpp>

#include <string_view>

#include "tern/result.h"
#include "tern/url.h"

namespace tern::net {

// What parse_listen_address() does with a host that is not an IP address.
enum class HostNames {
  kReject,   // INVALID_ARGUMENT "listen address '<listen>': <reason>"
  kResolve,  // resolved, blocking, to its first address;
             // INVALID_ARGUMENT "cannot resolve '<host>': <reason>" when it does not
};

struct ListenAddress {
  HostPort host_port;                // as written (host without brackets)
  asio::ip::tcp::endpoint endpoint;  // what to bind
};

// Parses `listen`. INVALID_ARGUMENT for malformed text (parse_host_port()'s
// status) and for a host name as `names` says. Thread-safe.
Result<ListenAddress> parse_listen_address(std::string_view listen, HostNames names);

}  // namespace tern::net
