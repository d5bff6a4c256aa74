// src/server/server_test_access.h - test seam into a started Server
// (internal; tests only): serve a connection over any transport, e.g. one
// end of an in-memory pipe (src/net/memory_transport.h), exactly as an
// accepted TCP connection is served (Server::Impl::open_session).
//
// Server names it a friend (tern/server.h) and keeps its Impl private
// otherwise.
#pragma once

#include <memory>

#include "net/transport.h"
#include "server/server_impl.h"
#include "tern/server.h"

namespace tern {
struct ServerTestAccess {
  static Server::Impl& impl(Server& server) { return *server.impl_; }
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
