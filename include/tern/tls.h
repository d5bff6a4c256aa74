// tern/tls.h - TLS settings for provider, consumer and registry connections.
//
// One struct serves both ends; each field says which end reads it. TLS is
// off unless `enabled` is true. With TLS on, every byte after the TCP
// connect is a TLS record (OpenSSL, TLS 1.2 or newer): there is no plain
// fallback, so a plain consumer cannot talk to a TLS provider and the other
// way round (the connection is closed with a logged reason).
//
//   provider (ServerOptions::tls, RegistryServerOptions::tls, `tern registry --tls-*`):
//     tls.enabled = true; tls.cert_file = "server.pem"; tls.key_file = "server.key";
//     mutual TLS: tls.ca_file = "ca.pem"; tls.require_client_cert = true;
//   consumer (ChannelOptions::tls, i.e. ClientOptions::channel.tls; RegistryOptions::tls):
//     tls.enabled = true; tls.ca_file = "ca.pem"; tls.server_name = "localhost";
//     mutual TLS: tls.cert_file = "client.pem"; tls.key_file = "client.key";
//
// ALPN (provider): a client that offers "h2" gets it (gRPC clients require
// it; the connection then speaks gRPC, docs/grpc.md), one that offers "tern"
// gets "tern", and one that offers neither or sends no ALPN (Tern consumers)
// continues without a protocol. The provider tells the wires apart by the
// first decrypted bytes either way.
//
// Files are read once, when the server starts or the client is created;
// a missing or malformed file is reported there as INVALID_ARGUMENT naming
// the file and OpenSSL's reason (see docs/security.md). Replacing the files
// later needs a restart.
#pragma once

#include <chrono>
#include <string>

namespace tern {

struct TlsOptions {
  // Turns TLS on for every connection of the server / client. Default off.
  bool enabled = false;

  // PEM certificate chain (leaf first, then intermediates) and its PEM
  // private key (unencrypted). Required on a provider; on a consumer only for
  // mutual TLS (the client certificate). Default none.
  std::string cert_file;
  std::string key_file;

  // PEM file of the CA certificates trusted to sign the peer's certificate.
  // Consumer: verifies the provider's chain; empty = the system's default
  // trust store (e.g. /etc/ssl/certs). Provider: verifies client
  // certificates; required when require_client_cert is set; when set
  // without require_client_cert, a client certificate is asked for and
  // verified if sent, but not required. Default none.
  std::string ca_file;

  // Provider only: mutual TLS. A consumer that presents no certificate, or
  // one not signed by ca_file, fails the handshake. Default false.
  bool require_client_cert = false;

  // Consumer only: the name the provider's certificate must carry (a DNS name
  // in its subjectAltName, or an IP address such as "127.0.0.1"); also sent
  // as SNI when it is a DNS name. Empty (the default) = the chain is verified
  // against ca_file but no name is checked, which trusts any certificate the
  // CA signed: set it when the CA signs for more than your providers.
  std::string server_name;

  // Lowest protocol version accepted: "1.2" (default) or "1.3". Older
  // versions (SSL 3, TLS 1.0, 1.1) are never accepted.
  std::string min_version = "1.2";

  // Provider only: time an accepted connection has to finish its handshake;
  // a peer silent for longer is closed. (On a consumer the connect timeout,
  // ChannelOptions::connect_timeout, bounds TCP connect plus handshake.)
  // Default 3 s.
  std::chrono::milliseconds handshake_timeout{3000};
};

}  // namespace tern
