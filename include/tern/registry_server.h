// tern/registry_server.h - the embedded registry center (`tern registry`):
// the zero-setup default registry of DESIGN §6, itself a Tern service.
//
//   tern::RegistryServer registry({.listen = "0.0.0.0:9090"});
//   registry.start();                  // providers register at tern://host:9090
//   registry.wait();
//
// It keeps provider URLs per service, pushes the full list of a service to
// every subscriber on each change, and removes a provider when its connection
// closes or after 3 heartbeat intervals without a renewal. State lives in
// memory only: after a restart, providers re-register and consumers
// re-subscribe by themselves.
//
// Time: renewals and the expiry sweep (every heartbeat_interval) read the
// steady clock. Tests put the server on a fake clock through an internal
// seam (src/registry/embedded/registry_server_test_access.h).
//
// Thread safety: start()/shutdown()/wait()/providers() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tern/result.h"
#include "tern/tls.h"
#include "tern/url.h"

namespace tern {

struct RegistryServerOptions {
  // Listen address. Default "0.0.0.0:9090"; port 0 picks a free one.
  std::string listen = "0.0.0.0:9090";
  // Providers renew every heartbeat_interval; after 3 missed renewals they
  // are removed. Must match the providers' RegistryOptions::heartbeat_interval
  // (or exceed it). Default 10 s.
  std::chrono::milliseconds heartbeat_interval{10000};
  // IO threads. Default 1.
  std::size_t io_threads = 1;
  // Called on every change (service, new provider list), e.g. to print it.
  std::function<void(const std::string& service, const std::vector<std::string>& providers)> on_change;
  // TLS for providers' and consumers' connections to the registry when
  // tls.enabled (tern/tls.h; as ServerOptions::tls). Providers and consumers
  // then need RegistryOptions::tls. Default off.
  TlsOptions tls{};
};

class RegistryServer {
 public:
  explicit RegistryServer(RegistryServerOptions options = {});
  ~RegistryServer();
  // Listens. As Server::start(): UNAVAILABLE when the address cannot be
  // bound, INVALID_ARGUMENT for a bad address or TLS file.
  Status start();
  std::uint16_t port() const noexcept;
  void shutdown();
  void wait();
  // Current providers of `service` (URL strings, sorted).
  std::vector<std::string> providers(const std::string& service) const;

  struct Impl;

 private:
  friend struct RegistryServerTestAccess;  // tests: the fake clock seam
  std::shared_ptr<Impl> impl_;
};

}  // namespace tern
