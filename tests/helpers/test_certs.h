// Test certificates made at test time with the openssl CLI, once per test
// binary, in a temporary directory removed at exit: a CA, a server
// certificate for 127.0.0.1 and localhost, a client certificate, a second
// (untrusted) CA, an expired server certificate and a file that is not PEM.
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace testcerts {

namespace fs = std::filesystem;

// Certificates for the whole binary, made once.
struct Pki {
  fs::path dir;
  std::string ca, other_ca;              // CA certificates (PEM)
  std::string server_cert, server_key;   // SAN IP:127.0.0.1, DNS:localhost; signed by ca
  std::string client_cert, client_key;   // signed by ca
  std::string expired_cert;              // server key, signed by ca, notAfter in the past
  std::string garbage;                   // not PEM

  std::string path(const std::string& name) const { return (dir / name).string(); }
};

inline int sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

inline const Pki& pki() {
  static const Pki p = [] {
    Pki k;
    char tmpl[] = "/tmp/tern-tls-XXXXXX";
    k.dir = ::mkdtemp(tmpl);
    auto d = k.dir.string();
    std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
    std::ofstream(k.dir / "server.ext") << "subjectAltName=IP:127.0.0.1,DNS:localhost\n";
    bool ok =
        sh("cd " + d + " && openssl req -x509" + ec + "-keyout ca.key -out ca.pem -days 30 -subj '/CN=Tern Test CA'") ==
            0 &&
        sh("cd " + d + " && openssl req -x509" + ec +
           "-keyout other_ca.key -out other_ca.pem -days 30 -subj '/CN=Some Other CA'") == 0 &&
        sh("cd " + d + " && openssl req" + ec + "-keyout server.key -out server.csr -subj '/CN=localhost'") == 0 &&
        sh("cd " + d +
           " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30"
           " -extfile server.ext -out server.pem") == 0 &&
        sh("cd " + d +
           " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days -1"
           " -extfile server.ext -out expired.pem") == 0 &&
        sh("cd " + d + " && openssl req" + ec + "-keyout client.key -out client.csr -subj '/CN=tern-consumer'") == 0 &&
        sh("cd " + d +
           " && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30"
           " -out client.pem") == 0;
    if (!ok) ADD_FAILURE() << "openssl could not make the test certificates in " << d;
    std::ofstream(k.dir / "garbage.pem") << "this is not a certificate\n";
    k.ca = k.path("ca.pem");
    k.other_ca = k.path("other_ca.pem");
    k.server_cert = k.path("server.pem");
    k.server_key = k.path("server.key");
    k.client_cert = k.path("client.pem");
    k.client_key = k.path("client.key");
    k.expired_cert = k.path("expired.pem");
    k.garbage = k.path("garbage.pem");
    return k;
  }();
  static const struct Cleanup {
    ~Cleanup() {
      std::error_code ec;
      fs::remove_all(p.dir, ec);
    }
  } cleanup;
  return p;
}

}  // namespace testcerts
