// tern/provider.h - a Server announced in a registry: the provider role of
// DESIGN §1 in one object.
//
//   tern::Provider provider({.server = {.listen = "0.0.0.0:0"}, .registry = "tern://127.0.0.1:9090"});
//   provider.expose<Calculator>(std::make_shared<CalculatorImpl>(), {.weight = 200});
//   provider.start();          // listen, then register one URL per service
//   ...
//   provider.shutdown();       // unregister first, then drain and close (graceful)
//
// Thread safety: expose() before start(); the rest from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "tern/registry.h"
#include "tern/server.h"

namespace tern {

struct ProviderOptions {
  ServerOptions server;
  // Registry address (tern://, zookeeper://, etcd://). Empty = not announced.
  std::string registry;
  RegistryOptions registry_options;
};

class Provider {
 public:
  explicit Provider(ProviderOptions options);
  ~Provider();  // shutdown(0)

  template <typename Interface>
  Status expose(std::shared_ptr<Interface> impl, ServiceOptions options = {}) {
    return server_.expose<Interface>(std::move(impl), std::move(options));
  }

  // Starts the server, then registers every exposed service. Errors from
  // Server::start(); INVALID_ARGUMENT for a bad registry URL. A registry that
  // is unreachable now is not an error: the registration happens once it is.
  Status start();
  // Unregisters, then Server::shutdown(grace). Idempotent.
  void shutdown(std::chrono::milliseconds grace = std::chrono::milliseconds(5000));
  void wait() { server_.wait(); }

  Server& server() noexcept { return server_; }
  std::uint16_t port() const noexcept { return server_.port(); }
  // The URLs registered (empty before start()).
  const std::vector<Url>& urls() const noexcept { return urls_; }

 private:
  ProviderOptions options_;
  Server server_;
  std::shared_ptr<Registry> registry_;
  std::vector<Url> urls_;
  bool stopped_ = false;
};

// create_registry() plus the embedded `tern://` backend, which lives above
// the server and client modules. Use this rather than create_registry() when
// the address may be an embedded registry.
Result<std::shared_ptr<Registry>> create_registry_any(const Url& address, const RegistryOptions& options = {});

}  // namespace tern
