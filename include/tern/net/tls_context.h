// tern/net/tls_context.h - the loaded form of TlsOptions: one OpenSSL
// SSL_CTX (certificates, key, trust store, verification mode), shared by
// every connection of a server or a client.
//
// Created once, when a server starts or a client is built; the files are read
// there, so errors surface at creation, never on a connection. Connections
// hold it by shared_ptr (net::Connection::Options::tls).
//
// Thread safety: immutable after create(); any thread may use it.
#pragma once

#include <memory>
#include <string>

#include "tern/result.h"
#include "tern/tls.h"

struct ssl_ctx_st;  // OpenSSL's SSL_CTX

namespace tern::net {

class TlsContext {
 public:
  enum class Role { kServer, kClient };

  // Loads `options` for `role`. INVALID_ARGUMENT when a file is missing,
  // unreadable or malformed (the message names the file and gives OpenSSL's
  // reason), when the key does not match the certificate, when a server has
  // no cert_file/key_file, when require_client_cert has no ca_file, when only
  // one of cert_file/key_file is set, or for an unknown min_version.
  // `options.enabled` is not consulted (the caller decides to use TLS).
  static Result<std::shared_ptr<TlsContext>> create(const TlsOptions& options, Role role);

  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  Role role() const noexcept { return role_; }
  // Client: the name checked in the server's certificate (empty = none).
  const std::string& server_name() const noexcept { return server_name_; }
  // The OpenSSL context (for net::Connection).
  ssl_ctx_st* native() const noexcept { return ctx_; }

 private:
  TlsContext(ssl_ctx_st* ctx, Role role, std::string server_name)
      : ctx_(ctx), role_(role), server_name_(std::move(server_name)) {}
  ssl_ctx_st* ctx_;
  Role role_;
  std::string server_name_;
};

// The last OpenSSL errors of this thread as one line ("reason; reason"),
// clearing them; `fallback` when there are none. For logs and statuses.
std::string tls_error_text(const char* fallback = "unknown TLS error");

}  // namespace tern::net
