// src/server/server_test_access.h - test seam into a started Server
// (internal; tests only): serve a connection over any transport, e.g. one
// end of an in-memory pipe (src/net/memory_transport.h), exactly as an
// accepted TCP connection is served (Server::Impl::open_session).
//
// Server keeps its Impl private and names no test friend (a friend
// declaration in tern/server.h would rebuild every file that includes it);
// the pointer to the member is taken through an explicit instantiation,
// where the standard does not check access ([temp.spec.general]/6).
#pragma once

#include <memory>

#include "net/transport.h"
#include "server/server_impl.h"
#include "tern/server.h"

namespace tern {
namespace server_test_detail {

using ImplMember = std::shared_ptr<Server::Impl> Server::*;
ImplMember impl_member();

template <ImplMember M>
struct ImplMemberOf {
  friend ImplMember impl_member() { return M; }
};
template struct ImplMemberOf<&Server::impl_>;

}  // namespace server_test_detail

struct ServerTestAccess {
  static Server::Impl& impl(Server& server) { return *(server.*server_test_detail::impl_member()); }
  // Makes `clock` the time of the server's request deadlines
  // (Server::Impl::clock). Before start(); `clock` must outlive the server.
  static void set_clock(Server& server, const Clock& clock) { impl(server).clock = &clock; }
  // One of the server's IO loops, for the transport (after start()).
  static asio::io_context& loop(Server& server) { return impl(server).io->next(); }
  // Serves `transport` as an accepted connection (after start()).
  static void adopt(Server& server, std::unique_ptr<net::Transport> transport) {
    impl(server).open_session(std::move(transport));
  }
};

}  // namespace tern
