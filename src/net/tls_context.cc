// TlsContext: TlsOptions loaded into an OpenSSL SSL_CTX. See tern/net/tls_context.h.
#include "tern/net/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

namespace tern::net {
namespace {

Status invalid(std::string message) { return Status(StatusCode::kInvalidArgument, std::move(message)); }

// A file OpenSSL will read: say plainly when it does not exist or is not
// readable (OpenSSL's own message for that is "system lib").
Status check_readable(const std::string& what, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return invalid("TLS " + what + " '" + path + "': " + std::strerror(errno));
  std::fclose(f);
  return Status();
}

// ALPN on a provider: "h2" when the client offers it (gRPC clients require
// it), else "tern"; a client that offers neither (or no ALPN at all, as Tern
// consumers) continues without a protocol. Either way the listener tells the
// wires apart by the first decrypted bytes (shared/DESIGN.md §12).
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
                void*) {
  for (std::string_view want : {std::string_view("h2"), std::string_view("tern")}) {
    for (unsigned int i = 0; i < inlen;) {
      unsigned int len = in[i];
      if (i + 1 + len > inlen) break;  // malformed list: ignore the rest
      if (std::string_view(reinterpret_cast<const char*>(in + i + 1), len) == want) {
        *out = in + i + 1;
        *outlen = static_cast<unsigned char>(len);
        return SSL_TLSEXT_ERR_OK;
      }
      i += 1 + len;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

std::string tls_error_text(const char* fallback) {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* reason = ERR_reason_error_string(e);
    std::string text;
    if (reason != nullptr) {
      text = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      text = buf;
    }
    if (out.find(text) != std::string::npos) continue;
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? std::string(fallback) : out;
}

Result<std::shared_ptr<TlsContext>> TlsContext::create(const TlsOptions& options, Role role) {
  bool server = role == Role::kServer;
  int min_version = 0;
  if (options.min_version == "1.2" || options.min_version.empty()) {
    min_version = TLS1_2_VERSION;
  } else if (options.min_version == "1.3") {
    min_version = TLS1_3_VERSION;
  } else {
    return invalid("TLS min_version '" + options.min_version + "': expected \"1.2\" or \"1.3\"");
  }
  if (options.cert_file.empty() != options.key_file.empty()) {
    return invalid("TLS needs both cert_file and key_file (only one is set)");
  }
  if (server && options.cert_file.empty()) {
    return invalid("TLS on a server needs cert_file and key_file");
  }
  if (server && options.require_client_cert && options.ca_file.empty()) {
    return invalid("TLS require_client_cert needs ca_file (the CA that signs client certificates)");
  }
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return invalid("TLS context: " + tls_error_text());
  std::shared_ptr<TlsContext> out(new TlsContext(ctx, role, server ? std::string() : options.server_name));

  SSL_CTX_set_min_proto_version(ctx, min_version);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // Idle connections give their record buffers back (many idle consumers).
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);

  if (!options.cert_file.empty()) {
    if (Status s = check_readable("certificate file", options.cert_file); !s.is_ok()) return s;
    if (Status s = check_readable("private key file", options.key_file); !s.is_ok()) return s;
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1) {
      return invalid("TLS certificate file '" + options.cert_file + "': " + tls_error_text());
    }
    // Loading a key that is not the certificate's fails here ("key values
    // mismatch"), or in the check below for some key types.
    bool loaded = SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) == 1;
    std::string why = loaded ? std::string() : tls_error_text();
    if (loaded && SSL_CTX_check_private_key(ctx) != 1) why = tls_error_text("key values mismatch");
    if (why.find("mismatch") != std::string::npos) {
      return invalid("TLS private key file '" + options.key_file + "' does not match certificate file '" +
                     options.cert_file + "': " + why);
    }
    if (!why.empty()) return invalid("TLS private key file '" + options.key_file + "': " + why);
  }
  if (!options.ca_file.empty()) {
    if (Status s = check_readable("CA file", options.ca_file); !s.is_ok()) return s;
    if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1) {
      return invalid("TLS CA file '" + options.ca_file + "': " + tls_error_text());
    }
  } else if (!server) {
    SSL_CTX_set_default_verify_paths(ctx);  // system trust store
  }

  if (server) {
    SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
    if (!options.ca_file.empty()) {
      // Tell clients which CAs we accept, so they pick the right certificate.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(options.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(ctx, names);
      }
      int mode = SSL_VERIFY_PEER;
      if (options.require_client_cert) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
      SSL_CTX_set_verify(ctx, mode, nullptr);
      // Required for session resumption when client certificates are verified.
      static const unsigned char kSessionContext[] = "tern";
      SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
    } else {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  ERR_clear_error();
  return out;
}

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

}  // namespace tern::net
