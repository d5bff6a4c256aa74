// direct_registry.h - the `direct://h1:p1,h2:p2` backend: a fixed provider
// list and no registry at all (DESIGN §6), for tests, local development and
// setups where a load balancer or DNS already knows the providers.
//
// Every service is served by every address of the URL: lookup("Calculator")
// on direct://10.0.0.5:20880,10.0.0.6:20880 returns
//   tern://10.0.0.5:20880/Calculator   tern://10.0.0.6:20880/Calculator
// in the order given; the address's parameters are copied onto each provider
// URL (direct://h:1?serialization=json gives tern://h:1/S?serialization=json).
// subscribe() pushes that list exactly once; register_provider() validates
// the URL and is otherwise ignored (nobody could discover it).
//
// Thread safety: every method may be called from any thread concurrently;
// listeners run on this object's dispatcher thread, one at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "registry/listener_dispatcher.h"
#include "tern/registry.h"

namespace tern {

class DirectRegistry final : public Registry {
 public:
  // INVALID_ARGUMENT when `address` has no host or a host without a port.
  static Result<std::shared_ptr<Registry>> create(const Url& address, const RegistryOptions& options);

  Status register_provider(const Url& provider) override;
  Status unregister_provider(const Url& provider) override;
  Result<SubscriptionId> subscribe(const std::string& service, RegistryListener listener) override;
  void unsubscribe(SubscriptionId id) override;
  Result<std::vector<Url>> lookup(const std::string& service) override;
  // UNIMPLEMENTED: a fixed list serves any service name.
  Result<std::vector<std::string>> list_services() override;

 private:
  explicit DirectRegistry(Url address) : address_(std::move(address)) {}
  std::vector<Url> providers_of(const std::string& service) const;

  const Url address_;
  ListenerDispatcher dispatcher_;
};

}  // namespace tern
