// src/net/connection_tls.h - net::Connection's TLS state (internal; the code
// is in connection_tls.cc). TLS runs over any Transport: OpenSSL works on two
// memory BIOs and never touches the transport, so the same code serves TCP
// and the in-memory pipe of the tests.
#pragma once

#include <memory>
#include <string>

#include "tern/net/connection.h"

struct ssl_st;  // OpenSSL's SSL
struct bio_st;  // OpenSSL's BIO

namespace tern::net {

// One SSL object over two memory BIOs. IO thread only.
struct Connection::Tls {
  std::shared_ptr<TlsContext> context;
  ssl_st* ssl = nullptr;
  bio_st* in = nullptr;   // ciphertext read from the transport (owned by ssl)
  bio_st* out = nullptr;  // ciphertext to write to the transport (owned by ssl)
  bool handshake_done = false;
  // Dialled TLS 1.3: the server said something after our handshake finished
  // (a session ticket or data), so it accepted us; before that a fatal alert
  // means it refused the handshake (e.g. our client certificate).
  bool peer_confirmed = false;
  bool writing = false;           // an async_write of `sending` is in progress
  std::string sending;            // ciphertext being written
  ~Tls();
  // Moves the ciphertext OpenSSL produced to the end of `to`.
  void drain(std::string& to);
};

}  // namespace tern::net
