// Listen addresses for servers; see listen_address.h.
#include "net/listen_address.h"

#include <asio/io_context.hpp>

#include <string>
#include <system_error>
#include <utility>

namespace tern::net {

Result<ListenAddress> parse_listen_address(std::string_view listen, HostNames names) {
  auto hp = parse_host_port(listen);
  if (!hp) return hp.status();
  // "127.0.0.1" alone would bind a random port that nobody can find: the
  // port must be written, ":0" being the way to ask for a free one.
  auto bracket = listen.rfind(']');
  if (listen.find(':', bracket == std::string_view::npos ? 0 : bracket) == std::string_view::npos) {
    return Status(StatusCode::kInvalidArgument, "listen address '" + std::string(listen) +
                                                    "' has no port (write '" + std::string(listen) +
                                                    ":0' to listen on a free port)");
  }
  asio::ip::tcp::endpoint endpoint;
  std::error_code ec;
  auto addr = asio::ip::make_address(hp->host, ec);
  if (!ec) {
    endpoint = asio::ip::tcp::endpoint(addr, hp->port);
  } else if (names == HostNames::kReject) {
    return Status(StatusCode::kInvalidArgument, "listen address '" + std::string(listen) + "': " + ec.message());
  } else {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    auto results = resolver.resolve(hp->host, std::to_string(hp->port), ec);
    if (ec || results.empty()) {
      return Status(StatusCode::kInvalidArgument, "cannot resolve '" + hp->host + "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  }
  return ListenAddress{std::move(*hp), endpoint};
}

}  // namespace tern::net
