// tern/provider.h - a Server announced in a registry: the provider role of
// DESIGN §1 in one object.
//
//   tern::Provider provider({.server = {.listen = "0.0.0.0:0"}, .registry = "tern://127.0.0.1:9090"});
//   provider.expose<Calculator>(std::make_shared<CalculatorImpl>(), {.weight = 200});
//   provider.start();          // listen, then register one URL per service
//   ...
//   provider.shutdown();       // unregister first, then drain and close (graceful)
//
// Dynamic configuration (docs/governance.md): a provider watches the
// document of each service it registers and applies its `limits` key (the
// per-method overload limits, tern/governance.h) through
// Server::set_limits(); without the key, or when the document is removed,
// the service's own ServiceOptions limits are in force. A document that does
// not parse, or names a method the service does not have, is rejected with a
// warning naming the service and revision, and the last good one stays in
// force. Registries without configuration storage (direct://) skip this.
//
// Thread safety: expose() before start(); the rest from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
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
  // The revision of `service`'s dynamic configuration whose limits are in
  // force (0 = the service's own limits, or no document). Thread-safe.
  std::uint64_t config_revision(std::string_view service) const;

 private:
  ProviderOptions options_;
  Server server_;
  std::shared_ptr<Registry> registry_;
  std::vector<Url> urls_;
  bool stopped_ = false;
  struct ConfigWatch;  // src/proxy/provider_config.cc
  std::shared_ptr<ConfigWatch> config_;
};

// create_registry() plus the embedded `tern://` backend, which lives above
// the server and client modules. Use this rather than create_registry() when
// the address may be an embedded registry.
Result<std::shared_ptr<Registry>> create_registry_any(const Url& address, const RegistryOptions& options = {});

}  // namespace tern
